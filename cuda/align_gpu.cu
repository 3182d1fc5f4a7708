// The cuFFT backend of scene alignment (SPEC §3), in the caller's process
// and the context's CUDA context: one device, no worker processes.
//
// Per plan (made once, reused by every call):
//  - two non-blocking streams, `copy` (host-to-device) and `compute`;
//  - cuFFT plans, one batched R2C and one C2R per batch size (planes x
//    frames in the batch), made without a work area of their own: each
//    call hands them one it counted against the budget;
//  - the reference's plane spectra and energies, computed by
//    set_reference and kept on the device;
//  - pinned staging for two frames and pinned result buffers.
//
// A call on M frames is cut into batches of f frames, f fixed by the
// geometry (about 8 M image pixels per batch: a 24 MP Bayer frame's image is
// a quarter of the sensor, 3 X-Trans frames of 24 MP a ninth each) and lowered to
// what the device memory budget holds (below), but never to M: the call
// runs floor(M / f) batches of f, then its last frames one per batch, so
// the cuFFT plans of a geometry are made for f frames and for one,
// whatever the frame counts of later calls. The frames'
// raw bytes flow through a ring of three device frame slots: the host
// copies frame i into pinned staging while the copy engine uploads frame
// i-1, and the compute stream turns each uploaded frame into its luminance
// image (luma_kernels.cuh; the planes that take part come from the luma
// backend, through set_luma_planes) and that into a mean-subtracted float plane
// of the batch buffer. When a batch is complete the compute stream runs, over
// all its frames at once: R2C, the tracking passes (each a fused window, cross
// power and partial whitening kernel, a C2R and a peak search), the segmented
// arg-max with the wrap to signed shifts, the upsampled DFT when asked, and
// the results' copy to pinned memory. The host meanwhile stages the next
// batch's frames, so the copy engine uploads them while the compute stream
// transforms this batch (with large frames, one per batch, every upload
// but the first overlaps the previous frame's transforms), and reports a
// batch (progress callback per frame) once the next one is enqueued, so
// uploads never wait on the host reading results.
//
// Device memory of one call (B = plane spectrum bytes = P * rows_fft *
// pitch * 4, about 4 bytes per sensor pixel; F = one frame's raw bytes):
//   resident  = B (reference) + 3 F (frame slots) + upsampling scratch
//               (g planes at once, g <= 64 and its scratch <= budget / 8:
//               region * (cols + 2 rows + region) * 8 bytes each) + small
//               + one image (4 bytes per image pixel)
//               and its row sums and maxima (40 bytes per image row)
//   per frame = B (x 2 with upsampling: the cross-power copy the refinement
//               reads after C2R overwrote its input) + cuFFT work per frame
//               + small per-plane arrays
//   f = min(the geometry's batch, (budget - resident) / per frame); the
//   plans' actual work size is checked and f lowered until it fits. A call
//   with fewer than f frames holds buffers for one. A 60 MP Bayer frame is ~240 MB of spectra
//   per buffer, so a 16 GB card (budget ~7.5 GB) takes about 10 frames per
//   batch, and any card that holds ~1.5 GB takes a 60 MP scene, one frame
//   per batch.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "align/align_backend.hpp"
#include "align/coarse/align_luma.hpp"
#include "align_cufft.cuh"
#include "align_kernels.cuh"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "cpu/parallel_copy.hpp"
#include "cuda_support.cuh"
#include "device_guard.cuh"
#include "luma_kernels.cuh"
#include "math/phase_math.hpp"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {
namespace {

using align::Dims;

constexpr int kRawSlots = 3;     // device frame slots in flight
constexpr int kPinnedSlots = 2;  // host staging buffers
constexpr int64_t kMaxFramesPerBatch = 4096;
// Sensor pixels per batch: enough frames that small frames still fill the
// device in one batched transform, few enough that large frames go one per
// batch, so that the uploads of the next frames overlap the transforms of
// this one (a 24 MP frame is its own batch).
constexpr int64_t kBatchSensorPixels = int64_t{8} << 20;
constexpr size_t kMaxCachedPlanSizes = 8;
constexpr uint64_t kSlackBytes = uint64_t{4} << 20;  // CUB temporaries, alignment

uint64_t to_u64(int64_t v) {
  return static_cast<uint64_t>(v);
}

std::string mib(uint64_t bytes) {
  return std::to_string(bytes) + " bytes (" + std::to_string(bytes >> 20) + " MiB)";
}

struct FftPlans {
  cufft::Plan forward;  // every plane of the batch
  cufft::Plan inverse;  // one cross-power spectrum per frame
  size_t work_bytes() const { return std::max(forward.work_bytes(), inverse.work_bytes()); }
  void set_work_area(void* work) const {
    forward.set_work_area(work);
    inverse.set_work_area(work);
  }
};

// Everything that lives on the device or is tied to it; destroyed with the
// device current.
struct State {
  Stream compute;
  Stream copy;
  Event uploaded[kRawSlots];
  Event raw_free[kRawSlots];
  Event pinned_free[kPinnedSlots];
  Event batch_done[2];
  std::map<int64_t, FftPlans> plans;  // by frames per batch
  std::optional<DeviceBuffer> row_window;
  std::optional<DeviceBuffer> col_window;
  std::optional<DeviceBuffer> reference;         // P half spectra
  std::optional<DeviceBuffer> reference_energy;  // P doubles
  std::optional<DeviceBuffer> luma_planes;       // a flag per plane of the raw frames
  std::optional<DeviceBuffer> luma_axes;         // luma::axes_table
  PinnedBuffer staging[kPinnedSlots];
  bool staging_ready = false;
  PinnedBuffer results_host[2];
  size_t results_host_bytes = 0;
};

// Waits for both streams when a scope ends, so that no buffer of an
// interrupted call is released while a copy or kernel still uses it.
class Drain {
 public:
  explicit Drain(const State& s) : s_(s) {}
  ~Drain() {
    cudaStreamSynchronize(s_.copy.get());
    cudaStreamSynchronize(s_.compute.get());
  }
  Drain(const Drain&) = delete;
  Drain& operator=(const Drain&) = delete;

 private:
  const State& s_;
};

const double* window(const std::optional<DeviceBuffer>& table) {
  return table ? table->as<double>() : nullptr;
}

class CufftAlignBackend final : public AlignBackend {
 public:
  // The backend aligns the frames' luminance images (a g.luma geometry), which it
  // makes from the raw frames (luma_kernels.cuh); dims_ are the images'
  // (luma_image_geometry), as if the images were the frames.
  CufftAlignBackend(const ptp_context& context, const AlignGeometry& geometry)
      : context_(&context),
        geometry_(geometry),
        dims_(align::make_dims(luma_image_geometry(geometry))),
        image_dims_(luma::make_image_dims(geometry)) {
    if (!geometry.luma)
      fail(PTP_ERROR_INTERNAL, "the GPU alignment backend made for another estimator's geometry");
    const ScopedDevice scoped(context.device);
    check_cuda(scoped.status(), "cudaSetDevice");
    align::check_supported(dims_);
    cufft::api();  // UNSUPPORTED (the plan then runs on the CPU) without cuFFT
    state_ = std::make_unique<State>();
    try {
      if (!trivial()) {
        upload_window(state_->row_window, dims_.rows);
        upload_window(state_->col_window, dims_.cols);
      }
      std::vector<double> axes(to_u64(luma::axes_count(image_dims_)));
      luma::axes_table(image_dims_, axes.data());
      upload_table(state_->luma_axes, axes);
    } catch (...) {
      state_.reset();  // with the device still current
      throw;
    }
  }

  ~CufftAlignBackend() override {
    const ScopedDevice scoped(context_->device);
    state_.reset();
  }

  CufftAlignBackend(const CufftAlignBackend&) = delete;
  CufftAlignBackend& operator=(const CufftAlignBackend&) = delete;

  void set_reference(const void* frame) override {
    // Calls through one context are serialised (docs/api.md): the plans of a
    // context share its workspace lock with extraction and reassembly, so
    // two plans never budget the same free memory at once.
    Workspace& ws = workspace_of(*context_);
    const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
    const ScopedDevice scoped(context_->device);
    check_cuda(scoped.status(), "cudaSetDevice");
    if (trivial()) return;
    State& s = *state_;
    const FftPlans& plans = plans_for(1, 1, 1);
    const uint64_t budget = memory_budget(*context_);
    const uint64_t needed = spectrum_bytes() + raw_bytes() + image_bytes() + plans.work_bytes() +
                            align::frame_partials_bytes(dims_) + kSlackBytes;
    if (needed > budget)
      fail(PTP_ERROR_OUT_OF_MEMORY,
           "the device memory budget of " + mib(budget) + " cannot hold the " + mib(needed) +
               " that transforming the reference frame needs; raise "
               "ptp_context_options.device_memory_budget or free device memory");
    if (!s.reference_energy) {
      s.reference.emplace(spectrum_bytes());
      s.reference_energy.emplace(to_u64(dims_.planes) * sizeof(double));
    }
    if (!s.luma_planes)
      fail(PTP_ERROR_INTERNAL, "GPU luminance images before their planes were set");
    const ScratchLease buffers(
        ws, {raw_bytes(), align::frame_partials_bytes(dims_), plans.work_bytes(), image_bytes()});
    void* const raw = buffers.get<void>(0);
    const Drain drain(s);

    upload(frame, raw, 0);
    const cudaStream_t compute = s.compute.get();
    check_cuda(cudaStreamWaitEvent(compute, s.uploaded[0].get(), 0), "cudaStreamWaitEvent");
    const float* const plane_source = frame_to_planes_input(raw, buffers.get<void>(3), compute);
    align::center_frame(plane_source, dims_, window(s.row_window), window(s.col_window),
                        align::carve_frame_partials(dims_, buffers.get<void>(1)),
                        s.reference->as<float>(), s.reference_energy->as<double>(), compute);
    check_cuda(cudaEventRecord(s.raw_free[0].get(), compute), "cudaEventRecord");
    plans.set_work_area(buffers.get<void>(2));
    plans.forward.forward(s.reference->as<float>());
    check_cuda(cudaStreamSynchronize(compute), "transforming the reference frame");
  }

  bool makes_luma_images() const override { return true; }

  void set_luma_planes(const std::vector<char>& planes) override {
    if (static_cast<int64_t>(planes.size()) != geometry_.planes)
      fail(PTP_ERROR_INTERNAL, "luminance planes for a GPU plan that does not take them");
    Workspace& ws = workspace_of(*context_);
    const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
    const ScopedDevice scoped(context_->device);
    check_cuda(scoped.status(), "cudaSetDevice");
    State& s = *state_;
    if (!s.luma_planes) s.luma_planes.emplace(planes.size());
    // On the compute stream (as upload_window), waited for: the kernels of
    // the calls that follow read the flags.
    const cudaStream_t compute = s.compute.get();
    check_cuda(cudaMemcpyAsync(s.luma_planes->as<void>(), planes.data(), planes.size(),
                               cudaMemcpyHostToDevice, compute),
               "copying the luminance planes to the device");
    check_cuda(cudaStreamSynchronize(compute), "copying the luminance planes to the device");
  }

  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    if (num_frames <= 0) return 0;
    Workspace& ws = workspace_of(*context_);
    const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
    const ScopedDevice scoped(context_->device);
    check_cuda(scoped.status(), "cudaSetDevice");
    if (trivial()) return align_trivial(num_frames, results, keep_going);
    State& s = *state_;
    if (!s.reference_energy) fail(PTP_ERROR_INTERNAL, "GPU alignment before its reference was set");
    const int64_t P = dims_.planes;

    // ---- batch size under the budget
    const uint64_t budget = memory_budget(*context_);
    const int64_t group = upsample_group(budget, num_frames);
    const uint64_t resident = resident_bytes(group);
    const uint64_t per_frame = per_frame_bytes();
    const uint64_t work_one = plans_for(1, 1, 1).work_bytes();
    if (resident > budget || budget - resident < per_frame + work_one)
      fail(PTP_ERROR_OUT_OF_MEMORY,
           "the device memory budget of " + mib(budget) + " cannot hold " + mib(resident) +
               " resident (reference spectra, frame slots, refinement scratch) plus " +
               mib(per_frame + work_one) + " for one frame of " + std::to_string(geometry_.height) +
               " x " + std::to_string(geometry_.width) +
               "; raise ptp_context_options.device_memory_budget or free device memory");
    // Frames per batch: the geometry's batch size (kBatchSensorPixels),
    // lowered to what the budget holds, but not to the number of frames of
    // this call: cuFFT plans are made for f frames and for one, and a call
    // aligns full batches of f, then its last frames one by one, so calls
    // with any number of frames reuse the same two plan sizes (making a
    // plan costs milliseconds to seconds).
    const int64_t frame_pixels = std::max<int64_t>(1, dims_.height * dims_.width);
    int64_t f = std::min<int64_t>(kMaxFramesPerBatch,
                                  std::max<int64_t>(1, kBatchSensorPixels / frame_pixels));
    // With the refinement group any call of this geometry may use, not the
    // one capped by this call's frames, so that f does not depend on the
    // frame count (a budget too tight for that gives f = 1).
    const uint64_t resident_any =
        std::max(resident, resident_bytes(upsample_group(budget, kMaxFramesPerBatch)));
    f = budget > resident_any ? static_cast<int64_t>(std::min<uint64_t>(
                                    to_u64(f), (budget - resident_any) / (per_frame + work_one)))
                              : 1;
    f = std::max<int64_t>(f, 1);
    size_t work_bytes = 0;
    for (;;) {
      work_bytes = std::max(plans_for(f, f, 1).work_bytes(), work_one);
      if (f == 1 || resident_any + to_u64(f) * per_frame + work_bytes <= budget) break;
      f -= 1;
    }
    const int64_t full_batches = num_frames / f;
    const int64_t batches = full_batches + (num_frames - full_batches * f);
    const FftPlans& full = plans_for(f, f, 1);
    const FftPlans& single = plans_for(1, f, 1);
    // Frames the buffers hold: a batch of f, or one where every batch of
    // this call is a single frame.
    const int64_t held = full_batches > 0 ? f : 1;
    if (held == 1) work_bytes = work_one;

    // ---- buffers of this call
    const align::PeakSearch search = align::make_peak_search(dims_, held * P);
    std::vector<int> offsets(to_u64(search.planes_per_call * search.segments_per_plane + 1));
    align::peak_offsets(dims_, search, offsets.data());
    const size_t plane_bytes = to_u64(dims_.plane_floats) * sizeof(float);
    const bool refine = dims_.upsample > 1;
    static_assert(kRawSlots == 3, "the lease below lists one buffer per raw slot");
    const ScratchLease buffers(
        ws, {raw_bytes(), raw_bytes(), raw_bytes(), align::frame_partials_bytes(dims_),
             to_u64(held * P) * plane_bytes, refine ? to_u64(held * P) * plane_bytes : 0,
             to_u64(held * P) * sizeof(double),
             to_u64(held * P * search.segments_per_plane) * align::peak_partial_bytes(),
             offsets.size() * sizeof(int), search.temp_bytes,
             to_u64(held * P) * sizeof(align::Peak), to_u64(held * P) * sizeof(PlaneShift),
             work_bytes, refine ? align::upsample_scratch_bytes(dims_, group) : 0,
             to_u64(held) * plane_bytes, to_u64(held * P) * align::kBoundBlocks * sizeof(double),
             to_u64(held) * 2 * sizeof(double), image_bytes()});
    void* const raw[kRawSlots] = {buffers.get<void>(0), buffers.get<void>(1), buffers.get<void>(2)};
    const align::FramePartials partials = align::carve_frame_partials(dims_, buffers.get<void>(3));
    float* const plane_data = buffers.get<float>(4);
    float* const copies = buffers.get<float>(5);
    double* const energy = buffers.get<double>(6);
    void* const pairs = buffers.get<void>(7);
    int* const d_offsets = buffers.get<int>(8);
    void* const temp = buffers.get<void>(9);
    auto* const peaks = buffers.get<align::Peak>(10);
    auto* const d_results = buffers.get<PlaneShift>(11);
    void* const work = buffers.get<void>(12);
    const align::UpsampleScratch scratch =
        refine ? align::carve_upsample_scratch(dims_, group, buffers.get<void>(13))
               : align::UpsampleScratch{};
    float* const joint_data = buffers.get<float>(14);
    double* const bound_partials = buffers.get<double>(15);
    double* const frame_used = buffers.get<double>(16);
    double* const frame_bound = frame_used + held;
    void* const image = buffers.get<void>(17);
    if (!s.luma_planes)
      fail(PTP_ERROR_INTERNAL, "GPU luminance images before their planes were set");
    check_cuda(cudaMemcpyAsync(d_offsets, offsets.data(), offsets.size() * sizeof(int),
                               cudaMemcpyHostToDevice, s.compute.get()),
               "copying the peak-search offsets");
    const size_t batch_results_bytes = to_u64(held * P) * sizeof(PlaneShift);
    if (s.results_host_bytes < batch_results_bytes) {
      s.results_host_bytes = 0;
      for (PinnedBuffer& b : s.results_host) b.reset(batch_results_bytes);
      s.results_host_bytes = batch_results_bytes;
    }
    if (full_batches > 0) full.set_work_area(work);
    single.set_work_area(work);
    const Drain drain(s);  // destroyed before the buffers above

    const cudaStream_t compute = s.compute.get();

    // Uploads frame i and turns it into the planes of batch slot j.
    auto issue_frame = [&](int64_t i, int64_t j) {
      const int slot = static_cast<int>(i % kRawSlots);
      upload(frames[i], raw[slot], slot);
      check_cuda(cudaStreamWaitEvent(compute, s.uploaded[slot].get(), 0), "cudaStreamWaitEvent");
      // Unwindowed: each tracking pass windows the spectra (tracked_joint).
      const float* const plane_source = frame_to_planes_input(raw[slot], image, compute);
      align::center_frame(plane_source, dims_, nullptr, nullptr, partials,
                          plane_data + j * P * dims_.plane_floats, energy + j * P, compute);
      check_cuda(cudaEventRecord(s.raw_free[slot].get(), compute), "cudaEventRecord");
    };

    // Enqueues the transforms, peak search and refinement of a batch of `count` frames,
    // and the copy of its results to pinned buffer `parity`. The tracking window
    // (math::tracking_window_index): plane_data keeps the unwindowed spectra; each pass
    // (tracked_joint, one fused kernel) windows them (the first with the plain window,
    // each next one with the window moved by the last pass's integer peak) and forms
    // the cross power into joint_data; the last pass's peak, refined, is the result.
    auto run_batch = [&](int64_t count, const FftPlans& plans, int parity) {
      const double* reference_energy = s.reference_energy->as<double>();
      plans.forward.forward(plane_data);
      // Every pass for every frame: for a frame whose peak stopped moving the next
      // pass repeats the last exactly (the CPU backend skips it).
      const int passes = geometry_.tracking_passes;
      for (int pass = 1; pass < passes; ++pass) {
        align::tracked_joint(plane_data, s.reference->as<float>(), pass == 1 ? nullptr : peaks,
                             energy, reference_energy, count, dims_, joint_data, nullptr,
                             frame_used, compute);
        plans.inverse.inverse(joint_data);
        align::find_peaks(joint_data, count, dims_, search, d_offsets, pairs, temp, frame_used,
                          frame_used, nullptr, peaks, compute);
      }
      align::tracked_joint(plane_data, s.reference->as<float>(), passes == 1 ? nullptr : peaks,
                           energy, reference_energy, count, dims_, joint_data,
                           refine ? copies : nullptr, frame_used, compute);
      align::spectrum_bounds(joint_data, count, dims_, bound_partials, frame_bound, compute);
      plans.inverse.inverse(joint_data);
      align::find_peaks(joint_data, count, dims_, search, d_offsets, pairs, temp, frame_used,
                        frame_used, frame_bound, peaks, compute);
      if (refine) {
        for (int64_t b0 = 0; b0 < count; b0 += group)
          align::upsampled_results(copies + b0 * dims_.plane_floats, peaks + b0,
                                   std::min(group, count - b0), dims_, scratch, d_results + b0,
                                   compute);
      } else {
        align::integer_results(peaks, count, dims_, d_results, compute);
      }
      check_cuda(
          cudaMemcpyAsync(s.results_host[parity].as<void>(), d_results,
                          to_u64(count) * sizeof(PlaneShift), cudaMemcpyDeviceToHost, compute),
          "copying results to the host");
      check_cuda(cudaEventRecord(s.batch_done[parity].get(), compute), "cudaEventRecord");
    };

    int64_t done = 0;
    // Waits for a batch and hands its frames over one by one; false when the
    // progress callback asked to stop.
    auto report = [&](int64_t first, int64_t count, int parity) {
      check_cuda(cudaEventSynchronize(s.batch_done[parity].get()), "aligning a batch of frames");
      const auto* host = s.results_host[parity].as<PlaneShift>();
      const int64_t per = geometry_.results_per_frame();
      for (int64_t j = 0; j < count; ++j) {
        std::memcpy(results + (first + j) * per, host + j * per, to_u64(per) * sizeof(PlaneShift));
        done = first + j + 1;
        if (!keep_going(done)) return false;
      }
      return true;
    };

    int64_t pending_first = -1;
    int64_t pending_count = 0;
    int pending_parity = 0;
    for (int64_t b = 0; b < batches; ++b) {
      // Full batches of f frames, then the rest one frame per batch.
      const int64_t first = b < full_batches ? b * f : full_batches * f + (b - full_batches);
      const int64_t count = b < full_batches ? f : 1;
      for (int64_t j = 0; j < count; ++j) issue_frame(first + j, j);
      run_batch(count, count == f ? full : single, static_cast<int>(b % 2));
      if (pending_first >= 0 && !report(pending_first, pending_count, pending_parity)) return done;
      pending_first = first;
      pending_count = count;
      pending_parity = static_cast<int>(b % 2);
    }
    report(pending_first, pending_count, pending_parity);
    return done;
  }

 private:
  // Planes of a single pixel: every plane is constant, so every result is
  // (0, 0) with confidence 0, and there is nothing to transform.
  bool trivial() const { return dims_.rows == 1 && dims_.cols == 1; }

  int64_t align_trivial(int64_t num_frames, PlaneShift* results,
                        const std::function<bool(int64_t)>& keep_going) const {
    const int64_t per = geometry_.results_per_frame();
    for (int64_t i = 0; i < num_frames; ++i) {
      for (int64_t q = 0; q < per; ++q) results[i * per + q] = PlaneShift{0, 0, 0, 0};
      if (!keep_going(i + 1)) return i + 1;
    }
    return num_frames;
  }

  // A raw frame as uploaded (the sensor frame, not its image).
  uint64_t raw_bytes() const {
    const uint64_t element = geometry_.frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4;
    return to_u64(geometry_.frame_elements()) * element;
  }
  // One frame's image and the scratch of making it (one at a time, on the compute
  // stream).
  // The image itself, rounded up so that the scratch after it is aligned.
  uint64_t image_floats_bytes() const {
    return align_up(to_u64(dims_.frame_elements) * sizeof(float));
  }
  uint64_t image_bytes() const { return image_floats_bytes() + luma::scratch_bytes(image_dims_); }
  // What center_frame reads for the raw frame `raw` (device): its image, made into
  // `image_buffer` (an image_bytes() lease) on `stream`. The raw frame is free once
  // this returns' enqueued work has run.
  const float* frame_to_planes_input(const void* raw, void* image_buffer, cudaStream_t stream) {
    auto* image = static_cast<float*>(image_buffer);
    void* const scratch = static_cast<unsigned char*>(image_buffer) + image_floats_bytes();
    luma::make_image(raw, image_dims_, state_->luma_planes->as<unsigned char>(),
                     state_->luma_axes->as<double>(), scratch, image, stream);
    return image;
  }
  uint64_t spectrum_bytes() const {
    return to_u64(checked_mul(dims_.planes, dims_.plane_floats, "the spectrum size")) *
           sizeof(float);
  }
  // Per-frame arrays other than the spectra: energy partials, peak-search
  // pairs and offsets, peaks, results.
  uint64_t small_per_frame_bytes() const {
    const int64_t segments = align::peak_segments_per_plane(dims_);
    const uint64_t per_plane = sizeof(double) +
                               to_u64(segments) * (align::peak_partial_bytes() + sizeof(int)) +
                               sizeof(align::Peak) + sizeof(PlaneShift);
    return to_u64(dims_.planes) * per_plane;
  }
  // Planes refined at once: up to kUpsampleGroup, fewer where their scratch
  // would take more than an eighth of the budget.
  int64_t upsample_group(uint64_t budget, int64_t num_frames) const {
    if (dims_.upsample == 1) return 1;
    const uint64_t per_plane = align::upsample_scratch_bytes(dims_, 1);
    const int64_t fitting = static_cast<int64_t>(std::max<uint64_t>(1, budget / 8 / per_plane));
    return std::max<int64_t>(1,
                             std::min({align::kUpsampleGroup, fitting, num_frames * dims_.planes}));
  }

  uint64_t resident_bytes(int64_t group) const {
    uint64_t bytes = spectrum_bytes() + to_u64(dims_.planes) * sizeof(double) +
                     kRawSlots * raw_bytes() + image_bytes() + align::frame_partials_bytes(dims_) +
                     kSlackBytes;
    if (dims_.upsample > 1) bytes += align::upsample_scratch_bytes(dims_, group);
    return bytes;
  }
  uint64_t per_frame_bytes() const {
    uint64_t bytes = spectrum_bytes() * (dims_.upsample > 1 ? 2 : 1) + small_per_frame_bytes();
    bytes += to_u64(dims_.planes) * align::kBoundBlocks * sizeof(double);
    bytes += to_u64(dims_.plane_floats) * sizeof(float) + 2 * sizeof(double);
    return bytes;
  }

  // The cached plans for batches of `frames` frames; may drop cached sizes
  // other than 1, keep_a and keep_b (references to those stay valid).
  const FftPlans& plans_for(int64_t frames, int64_t keep_a, int64_t keep_b) {
    auto& cache = state_->plans;
    const auto found = cache.find(frames);
    if (found != cache.end()) return found->second;
    if (cache.size() >= kMaxCachedPlanSizes) {
      for (auto it = cache.begin(); it != cache.end();) {
        const int64_t k = it->first;
        it = (k == 1 || k == keep_a || k == keep_b) ? std::next(it) : cache.erase(it);
      }
    }
    const int64_t batch = frames * dims_.planes;
    const cudaStream_t stream = state_->compute.get();
    FftPlans plans{cufft::Plan(CUFFT_R2C, dims_.fft_rows, dims_.fft_cols, batch, stream),
                   cufft::Plan(CUFFT_C2R, dims_.fft_rows, dims_.fft_cols, frames, stream)};
    return cache.emplace(frames, std::move(plans)).first->second;
  }

  // Tables (the window, the trend's basis) go to the device on the plan's
  // compute stream, not with cudaMemcpy on the legacy default stream, which
  // would wait for the caller's unrelated work.
  void upload_window(std::optional<DeviceBuffer>& buffer, int64_t n) {
    std::vector<double> table(to_u64(n));
    align::window_table(n, table.data());
    upload_table(buffer, table);
  }
  void upload_table(std::optional<DeviceBuffer>& buffer, const std::vector<double>& table) {
    buffer.emplace(std::max<size_t>(1, table.size()) * sizeof(double));
    const cudaStream_t compute = state_->compute.get();
    check_cuda(cudaMemcpyAsync(buffer->as<void>(), table.data(), table.size() * sizeof(double),
                               cudaMemcpyHostToDevice, compute),
               "copying a table to the device");
    check_cuda(cudaStreamSynchronize(compute), "copying a table to the device");
  }

  // Copies a host frame to device slot `slot` on the copy stream, through
  // pinned staging unless the frame is pinned already; records
  // uploaded[slot]. Waits first until the slot's previous frame was
  // consumed, and (host side) until the staging buffer is free.
  void upload(const void* frame, void* device_slot, int slot) {
    State& s = *state_;
    const void* source = frame;
    int staged = -1;
    if (!is_pinned_host(frame)) {
      if (!s.staging_ready) {
        for (PinnedBuffer& b : s.staging) b.reset(raw_bytes());
        s.staging_ready = true;
      }
      staged = static_cast<int>(staged_count_++ % kPinnedSlots);
      check_cuda(cudaEventSynchronize(s.pinned_free[staged].get()), "uploading a frame");
      cpu::parallel_copy(s.staging[staged].as<void>(), frame, raw_bytes(), context_->num_threads);
      source = s.staging[staged].as<void>();
    }
    const cudaStream_t copy = s.copy.get();
    check_cuda(cudaStreamWaitEvent(copy, s.raw_free[slot].get(), 0), "cudaStreamWaitEvent");
    check_cuda(cudaMemcpyAsync(device_slot, source, raw_bytes(), cudaMemcpyHostToDevice, copy),
               "copying a frame to the device");
    check_cuda(cudaEventRecord(s.uploaded[slot].get(), copy), "cudaEventRecord");
    if (staged >= 0)
      check_cuda(cudaEventRecord(s.pinned_free[staged].get(), copy), "cudaEventRecord");
  }

  const ptp_context* context_;
  AlignGeometry geometry_;
  Dims dims_;
  luma::ImageDims image_dims_;
  std::unique_ptr<State> state_;
  uint64_t staged_count_ = 0;
};

}  // namespace

std::unique_ptr<AlignBackend> make_align_backend(const ptp_context& context,
                                                 const AlignGeometry& geometry) {
  return std::make_unique<CufftAlignBackend>(context, geometry);
}

}  // namespace ptychopatch::impl::gpu
