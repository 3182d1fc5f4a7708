#include "align/align_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"
#include "align/assess/assess.hpp"
#include "align/coarse/align_luma.hpp"
#include "align/fine/fine_stage.hpp"
#include "align/frame_outcome.hpp"
#include "align/prepare/isolated_sites.hpp"
#include "align/prepare/pattern_family.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "core/headroom.hpp"
#include "core/thread_pool.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "cpu/parallel_copy.hpp"
#include "cpu/vector_lanes.hpp"

namespace ptychopatch::impl {
namespace {

// 2^127: the smallest float32 magnitude alignment refuses.
constexpr float kLargestAlignable = 1.7014118346046923e38f;

// Whether every |x[k]| < 2^127: exponent field below 254 (254: |x| >= 2^127, 255: inf, NaN),
// eight values a step.
PTP_ROW_KERNEL_CLONES
bool all_alignable(const float* __restrict x, int64_t n) {
  cpu::Ints8 bad = {};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    cpu::Ints8 bits;
    cpu::load_lanes(bits, x + k);
    bad |= (bits & 0x7f000000) == 0x7f000000;
  }
  int32_t any = 0;
  for (int l = 0; l < 8; ++l) any |= bad[l];
  for (; k < n; ++k) {
    uint32_t bits;
    std::memcpy(&bits, x + k, sizeof bits);
    any |= (bits & 0x7f000000u) == 0x7f000000u;
  }
  return any == 0;
}

// Throws PTP_ERROR_NON_FINITE naming the first NaN or infinity of a float32 frame
// (every element, trimmed or not), and PTP_ERROR_INVALID_ARGUMENT for the first finite
// value of magnitude 2^127 or more (x - mean could leave float32's range).
void require_finite_frame(const AlignGeometry& g, const float* frame, const std::string& name,
                          int32_t num_threads) {
  const int64_t n = g.frame_elements();
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  // Each chunk's first bad element (n: none); the smallest is the first.
  std::vector<int64_t> firsts(static_cast<size_t>(chunks), n);
  parallel_for_each(num_threads, 0, chunks, 1, [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk;
    const int64_t end = std::min(n, begin + kChunk);
    if (all_alignable(frame + begin, end - begin)) return;
    for (int64_t k = begin; k < end; ++k)
      if (!(std::fabs(frame[k]) < kLargestAlignable)) {
        firsts[static_cast<size_t>(chunk)] = k;
        return;
      }
  });
  const int64_t first = firsts.empty() ? n : *std::min_element(firsts.begin(), firsts.end());
  if (first == n) return;
  const int64_t plane = g.height * g.width;
  const bool finite = std::isfinite(frame[first]);
  char where[240];
  std::snprintf(where, sizeof where, " %s (%g) at row %lld, column %lld",
                finite ? "is too large" : "is not finite", static_cast<double>(frame[first]),
                static_cast<long long>((first % plane) / g.width),
                static_cast<long long>(first % g.width));
  std::string message = name + where;
  if (g.channels > 1) message += " of channel " + std::to_string(first / plane);
  if (!finite) fail(PTP_ERROR_NON_FINITE, message);
  fail(PTP_ERROR_INVALID_ARGUMENT,
       message +
           ": frame values must be below 2^127 (1.7e38) in magnitude, where a value minus "
           "the plane's mean stays within float32's range; scale the frames down");
}

void require_finite(const ptp_align_plan& plan, const void* frame, const std::string& name) {
  if (plan.geometry.frame_dtype == PTP_DTYPE_FLOAT32)
    require_finite_frame(plan.geometry, static_cast<const float*>(frame), name,
                         plan.context->num_threads);
}

}  // namespace

double median_plane_shift(std::vector<double>& values) {
  const size_t n = values.size();
  if (n == 0) return 0.0;
  std::sort(values.begin(), values.end());
  if (n % 2 == 1) return values[n / 2];
  return 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double snap_shift(double value, int64_t block) {
  const double b = static_cast<double>(block);
  return std::floor(value / b + 1e-9) * b + 0.0;  // + 0.0: no negative zero
}

std::unique_ptr<ptp_align_plan> create_align_plan(const ptp_context& context,
                                                  const ptp_align_desc* desc) {
  const AlignGeometry geometry = validate_align_desc(desc);
  auto plan = std::make_unique<ptp_align_plan>();
  plan->context = &context;
  plan->geometry = geometry;
  if (geometry.method == PTP_ALIGN_METHOD_RAWNIND) {
    if (context.backend == PTP_BACKEND_GPU)
      plan->fallback_reason =
          "PTP_ALIGN_METHOD_RAWNIND runs on the CPU backend only (a compatibility mode)";
    plan->backend = make_rawnind_align_backend(geometry, context.num_threads);
    return plan;
  }
  // The luma backend (align_luma.hpp) wraps the backend: the GPU backend is made for
  // the plan's geometry (it makes the images), the CPU backend for the images' (the
  // luma backend makes them on the host).
  if (context.backend == PTP_BACKEND_GPU) {
    try {
      plan->backend = gpu::make_align_backend(context, geometry);
      plan->runs_on = PTP_BACKEND_GPU;
    } catch (const Error& e) {
      // UNSUPPORTED (no cuFFT, a frame past its limits): the plan runs on the CPU, the
      // same up to FFT rounding, and says why (ptp_align_plan_get_backend). Else: thrown.
      if (e.status() != PTP_ERROR_UNSUPPORTED) throw;
      plan->fallback_reason = e.what();
    }
  }
  if (!plan->backend)
    plan->backend = make_cpu_align_backend(luma_image_geometry(geometry), context.num_threads);
  plan->backend = make_luma_align_backend(geometry, std::move(plan->backend), context.num_threads);
  // Colour mosaics: the reference and the frames lose the isolated sites they share.
  if (suppresses_isolated_sites(geometry))
    plan->sites = std::make_shared<SharedIsolatedSites>(geometry, context.num_threads);
  if (geometry.verify != PTP_ALIGN_VERIFY_NONE)
    plan->fits = std::make_unique<FineFits>(geometry, context.num_threads);
  return plan;
}

void require_not_executing(const ptp_align_plan& plan, const char* function) {
  if (plan.executing)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         std::string(function) +
             " was called on a plan whose ptp_align_execute is running (from its progress "
             "callback): the call would change the plan under the frames being aligned; "
             "return from the callback first");
}

void align_set_reference(ptp_align_plan& plan, const void* frame) {
  require_not_executing(plan, "ptp_align_set_reference");
  require_non_null(frame, "frame");
  require_finite(plan, frame, "argument 'frame': the reference frame");
  // Everything that can fail first, into locals: a failure leaves the plan as it was.
  std::string doubt = pattern_family_doubt(plan.geometry, frame, plan.context->num_threads);
  std::vector<int64_t> sites;
  if (plan.sites) sites = plan.sites->isolated(frame);
  plan.reference.resize(plan.geometry.frame_bytes());  // the same size after the first
  // Nothing below throws. Backend and fine fits take it at the next execute (apply_reference).
  cpu::parallel_copy(plan.reference.data(), frame, plan.reference.size(),
                     plan.context->num_threads);
  if (plan.sites) plan.sites->set_reference_sites(std::move(sites));
  plan.pattern_doubt.swap(doubt);
  plan.reference_applied = false;
  plan.has_reference = true;
}

namespace {

// Validates one frame: where it cannot be aligned, sets the outcome's status and message.
void check_frame(const ptp_align_plan& plan, const void* frame, int64_t index,
                 FrameOutcome& outcome) {
  const std::string name = "frames[" + std::to_string(index) + "]";
  if (frame == nullptr) {
    outcome.status = PTP_ERROR_INVALID_ARGUMENT;
    outcome.message = name + " is NULL";
    return;
  }
  try {
    require_finite(plan, frame, name);
  } catch (const Error& e) {
    outcome.status = e.status();
    outcome.message = e.what();
  }
}

// Aligns the frames [begin, end) whose outcome is PTP_SUCCESS (the others are skipped),
// fills their outcomes and, when plane_shifts is not null, their plane shifts (NaN rows
// for the others). `arrived(i)` is called on the calling thread as frame i's estimate
// arrives, in frame order; false stops the call: the range's frames not reached are
// then PTP_ERROR_CANCELLED, and run_frames returns false.
bool run_frames(ptp_align_plan& plan, const void* const* frames, int64_t begin, int64_t end,
                std::vector<FrameOutcome>& outcomes, double* plane_shifts,
                const std::function<bool(int64_t)>& arrived) {
  const AlignGeometry& g = plan.geometry;
  const int64_t planes = g.planes;
  std::vector<const void*> valid;
  std::vector<int64_t> origin;
  for (int64_t i = begin; i < end; ++i)
    if (outcomes[i].status == PTP_SUCCESS) {
      valid.push_back(frames[i]);
      origin.push_back(i);
    }
  const int64_t count = static_cast<int64_t>(valid.size());
  const int64_t per_frame = g.results_per_frame();
  std::vector<PlaneShift> results(static_cast<size_t>(count * per_frame));
  bool cancelled = false;
  const std::function<bool(int64_t)> keep_going = [&](int64_t done) {
    if (arrived(origin[done - 1])) return true;
    cancelled = true;
    return false;
  };
  const int64_t done =
      count == 0 ? 0 : plan.backend->align(valid.data(), count, results.data(), keep_going);

  // Plane shift rows of frames with a result or a status of their own: NaN unless set.
  const auto clear_plane_shifts = [&](int64_t i) {
    if (plane_shifts != nullptr)
      std::fill(plane_shifts + 2 * i * planes, plane_shifts + 2 * (i + 1) * planes, kNoShift);
  };
  for (int64_t i = begin; i < end; ++i)
    if (outcomes[i].status != PTP_SUCCESS) clear_plane_shifts(i);
  // Plane pixels to sensor pixels, then the combination per axis.
  const double period = static_cast<double>(g.shift_unit());
  const int64_t block = g.cfa == PTP_CFA_BAYER ? 2 : 3;
  std::vector<double> ys, xs;
  for (int64_t k = 0; k < count; ++k) {
    FrameOutcome& out = outcomes[origin[k]];
    if (k >= done) {
      set_cancelled(origin[k], out);
      continue;
    }
    clear_plane_shifts(origin[k]);
    double dy = kNoShift, dx = kNoShift;
    if (g.luma) {
      // One result per frame; no plane shifts.
      const PlaneShift& r = results[k];
      out.planes_used = r.planes_used;
      if (r.planes_used > 0) {
        dy = r.dy * period;
        dx = r.dx * period;
        out.confidence = r.confidence;
      }
    } else {
      // RawNIND's method: every plane votes, the median, truncated toward zero, then
      // floored to CFA blocks (the method's crop too).
      double confidence_sum = 0.0;
      ys.clear();
      xs.clear();
      for (int64_t p = 0; p < planes; ++p) {
        const PlaneShift& r = results[k * planes + p];
        out.planes_used += r.planes_used;
        ys.push_back(r.dy * period);
        xs.push_back(r.dx * period);
        confidence_sum += r.confidence;
        if (plane_shifts != nullptr) {
          plane_shifts[2 * (origin[k] * planes + p)] = r.dy * period;
          plane_shifts[2 * (origin[k] * planes + p) + 1] = r.dx * period;
        }
      }
      out.confidence = confidence_sum / static_cast<double>(planes);
      // Every plane constant: no shift, as for every estimator (RawNIND would return the
      // lag its flat correlations happen to peak at).
      if (out.planes_used > 0) {
        out.shift[0] = out.unsnapped[0] = snap_shift(std::trunc(median_plane_shift(ys)), block);
        out.shift[1] = out.unsnapped[1] = snap_shift(std::trunc(median_plane_shift(xs)), block);
        continue;
      }
    }
    if (std::isnan(dy)) {
      out.status = PTP_ERROR_NO_INFORMATION;
      out.planes_used = 0;
      out.message = "frames[" + std::to_string(origin[k]) + "] has no shift: " +
                    (g.luma ? "its luminance image or the reference's is flat once the "
                              "quadratic trend is removed, or every plane is constant (flat, "
                              "clipped or dead) in it or in the reference"
                            : "every plane is constant (flat, clipped or dead) in it or in the "
                              "reference, so none carries information");
      continue;
    }
    set_frame_shift(g, dy, dx, out);
    if (at_shift_bound(g, dy, dx)) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_AT_SHIFT_BOUND,
                   "frames[" + std::to_string(origin[k]) +
                       "]: the peak lies at max_shift's bound, where the search stopped: the "
                       "shift may lie beyond it (confidence 0)");
    }
  }
  return !cancelled;
}

// Sets the backend's and the fine fits' reference: the plan's, without `sites`
// (only where they hold another, or none since ptp_align_set_reference).
void apply_reference(ptp_align_plan& plan, const std::vector<int64_t>& sites) {
  if (plan.reference_applied && sites == plan.sites_applied) return;
  // Unapplied first: should anything below throw, the next call sets both again.
  plan.reference_applied = false;
  const void* reference = plan.reference.data();
  if (!sites.empty()) {
    plan.cleaned_reference.resize(plan.reference.size());
    plan.sites->clean(reference, sites, plan.cleaned_reference.data());
    reference = plan.cleaned_reference.data();
  }
  plan.backend->set_reference(reference);
  if (plan.fits) plan.fits->set_reference(reference);
  plan.sites_applied = sites;
  plan.reference_applied = true;
}

// The call's frames (outcomes say which are valid) as the backend and the fine stage see
// them: without the isolated sites the reference shares with at least half of them (it loses
// them too: apply_reference). Returns the frames to use; `copies` holds those that changed.
std::vector<const void*> without_shared_isolated_sites(
    ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
    const std::vector<FrameOutcome>& outcomes, std::vector<std::vector<unsigned char>>& copies) {
  std::vector<const void*> out(frames, frames + num_frames);
  std::vector<const void*> valid;
  for (int64_t i = 0; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) valid.push_back(frames[i]);
  if (valid.empty()) return out;
  const std::vector<int64_t> shared =
      plan.sites ? plan.sites->shared(valid) : std::vector<int64_t>();
  apply_reference(plan, shared);
  if (shared.empty()) return out;
  require_headroom(valid.size() * plan.sites->frame_bytes(),
                   std::to_string(valid.size()) + " frames without their isolated sites");
  copies.resize(static_cast<size_t>(num_frames));
  for (int64_t i = 0; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) {
      copies[i].resize(plan.sites->frame_bytes());
      plan.sites->clean(frames[i], shared, copies[i].data());
      out[i] = copies[i].data();
    }
  return out;
}

// Frames per round of run_and_verify: about 2^25 sensor pixels (a GPU's batches and
// every thread kept busy), at least one per thread. Progress counts frames through both
// stages, so a stop (callback or Ctrl-C) waits for one round at most, not the scene.
int64_t frames_per_round(const ptp_align_plan& plan) {
  const AlignGeometry& g = plan.geometry;
  // In double: the sides' product may pass 2^63 before any memory check.
  const double pixels = static_cast<double>(g.height) * static_cast<double>(g.width) *
                        static_cast<double>(g.channels);
  const double fit = std::floor(static_cast<double>(int64_t{1} << 25) / pixels);
  return std::max<int64_t>(
      {int64_t{1}, int64_t{plan.context->num_threads}, static_cast<int64_t>(std::min(fit, 1e9))});
}

// run_frames, then the fine stage, in rounds of frames_per_round frames (one without a closed
// loop). The progress callback gets (index + 1, num_frames) as each frame finishes.
// plane_shifts is run_and_verify's scratch copy. Returns false when the callback stopped it.
bool run_and_verify_frames(ptp_align_plan& plan, const void* const* given, int64_t num_frames,
                           std::vector<FrameOutcome>& outcomes, double* plane_shifts) {
  std::vector<std::vector<unsigned char>> copies;
  const std::vector<const void*> seen =
      without_shared_isolated_sites(plan, given, num_frames, outcomes, copies);
  const void* const* frames = seen.data();
  struct Executing {
    bool& flag;
    explicit Executing(bool& f) : flag(f) { flag = true; }
    ~Executing() { flag = false; }
  } executing(plan.executing);
  const std::function<bool(int64_t)> report = [&](int64_t index) {
    return plan.progress == nullptr ||
           plan.progress(index + 1, num_frames, plan.progress_user_data) == 0;
  };
  if (!plan.fits) return run_frames(plan, frames, 0, num_frames, outcomes, plane_shifts, report);

  const int64_t round = plan.frames_per_round > 0 ? plan.frames_per_round : frames_per_round(plan);
  bool finished = true;
  int64_t begin = 0;
  for (; begin < num_frames && finished; begin += round) {
    const int64_t end = std::min(num_frames, begin + round);
    std::vector<int64_t> arrived;  // the frames whose estimates run_frames gave
    run_frames(plan, frames, begin, end, outcomes, plane_shifts, [&](int64_t i) {
      arrived.push_back(i);
      return true;
    });
    finished = run_fine_stage(plan, frames, outcomes, arrived, report);
  }
  // The rounds a stop kept from running.
  for (int64_t i = begin; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) set_cancelled(i, outcomes[i]);
  return finished;
}

// run_and_verify_frames, then the reference's pattern doubt (pattern_family.hpp) on
// every frame with a result. A step can fail after plane shifts were found, so they go
// to a copy written back last, which cannot fail: a failed call leaves every output
// untouched. The caller writes the other outputs from `outcomes` after this returns.
bool run_and_verify(ptp_align_plan& plan, const void* const* given, int64_t num_frames,
                    std::vector<FrameOutcome>& outcomes, double* plane_shifts) {
  const int64_t row = plan.geometry.planes * 2;
  std::vector<double> staged;
  if (plane_shifts != nullptr)
    staged.assign(plane_shifts, plane_shifts + static_cast<size_t>(num_frames * row));
  const bool finished = run_and_verify_frames(plan, given, num_frames, outcomes,
                                              plane_shifts != nullptr ? staged.data() : nullptr);
  if (!plan.pattern_doubt.empty())
    for (int64_t i = 0; i < num_frames; ++i) {
      FrameOutcome& out = outcomes[i];
      if (out.status != PTP_SUCCESS) continue;
      out.confidence = 0.0;
      out.flags |= PTP_ALIGN_FLAG_PATTERN_DOUBT;
      // First: the other notes matter less where the pattern is wrong.
      const std::string note = "frames[" + std::to_string(i) + "]: " + plan.pattern_doubt;
      out.message = out.message.empty() ? note : note + "; " + out.message;
    }
  // Rows of frames the call did not finish stay the caller's.
  if (plane_shifts != nullptr)
    for (int64_t i = 0; i < num_frames; ++i)
      if (outcomes[i].status != PTP_ERROR_CANCELLED)
        std::copy(staged.begin() + i * row, staged.begin() + (i + 1) * row, plane_shifts + i * row);
  return finished;
}

void require_execute_arguments(const ptp_align_plan& plan, const char* function,
                               const void* const* frames, int64_t num_frames) {
  require_not_executing(plan, function);
  if (num_frames < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "argument 'num_frames' is " + std::to_string(num_frames) + ", must be >= 0");
  if (!plan.has_reference)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "the plan has no reference frame: call ptp_align_set_reference first");
  if (num_frames == 0) return;
  require_non_null(frames, "frames");
  checked_mul(checked_mul(num_frames, plan.geometry.planes, "num_frames * planes"), 16,
              "the plane_shifts byte size");
}

void fail_cancelled(int64_t done, int64_t num_frames) {
  fail(PTP_ERROR_CANCELLED, "the progress callback stopped the call after " + std::to_string(done) +
                                " of " + std::to_string(num_frames) +
                                " frames; their results are written");
}

}  // namespace

void crop_shift(const AlignGeometry& g, double dy, double dx, int64_t* crop_y, int64_t* crop_x) {
  const int64_t period = g.period;
  bool have = false;
  double best_distance = 0.0;
  int64_t best_y = 0, best_x = 0;
  const auto better = [&](int64_t y, int64_t x, double distance) {
    if (!have) return true;
    if (distance != best_distance) return distance < best_distance;
    const int64_t size = std::llabs(y) + std::llabs(x);
    const int64_t best_size = std::llabs(best_y) + std::llabs(best_x);
    if (size != best_size) return size < best_size;
    return y != best_y ? y < best_y : x < best_x;
  };
  for (const auto& [oy, ox] : g.crop_offsets) {
    // The two lattice values of this offset around dy (and dx).
    const double ky = std::floor((dy - static_cast<double>(oy)) / static_cast<double>(period));
    const double kx = std::floor((dx - static_cast<double>(ox)) / static_cast<double>(period));
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        const int64_t y = oy + period * (static_cast<int64_t>(ky) + a);
        const int64_t x = ox + period * (static_cast<int64_t>(kx) + b);
        const double ey = static_cast<double>(y) - dy;
        const double ex = static_cast<double>(x) - dx;
        const double distance = ey * ey + ex * ex;
        if (better(y, x, distance)) {
          have = true;
          best_distance = distance;
          best_y = y;
          best_x = x;
        }
      }
  }
  *crop_y = best_y;
  *crop_x = best_x;
}

void align_execute(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                   double* shifts, double* plane_shifts, double* confidence) {
  require_execute_arguments(plan, "ptp_align_execute", frames, num_frames);
  if (num_frames == 0) return;
  require_non_null(shifts, "shifts");
  for (int64_t i = 0; i < num_frames; ++i)
    if (frames[i] == nullptr)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "argument 'frames': frames[" + std::to_string(i) + "] is NULL");
  for (int64_t i = 0; i < num_frames; ++i)
    require_finite(plan, frames[i], "argument 'frames': frames[" + std::to_string(i) + "]");

  std::vector<FrameOutcome> outcomes(static_cast<size_t>(num_frames));
  const bool finished = run_and_verify(plan, frames, num_frames, outcomes, plane_shifts);
  int64_t done = 0;
  for (int64_t f = 0; f < num_frames; ++f) {
    if (outcomes[f].status == PTP_ERROR_CANCELLED) break;
    ++done;
    shifts[2 * f] = outcomes[f].shift[0];
    shifts[2 * f + 1] = outcomes[f].shift[1];
    if (confidence != nullptr) confidence[f] = outcomes[f].confidence;
  }
  if (!finished) fail_cancelled(done, num_frames);
}

void align_execute_frames(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                          ptp_align_result* results, double* plane_shifts, uint32_t* flags) {
  require_execute_arguments(plan, "ptp_align_execute_frames", frames, num_frames);
  if (num_frames == 0) return;
  require_non_null(results, "results");
  std::vector<FrameOutcome> outcomes(static_cast<size_t>(num_frames));
  for (int64_t i = 0; i < num_frames; ++i) check_frame(plan, frames[i], i, outcomes[i]);
  const bool finished = run_and_verify(plan, frames, num_frames, outcomes, plane_shifts);
  int64_t done = 0;
  for (int64_t f = 0; f < num_frames; ++f) {
    const FrameOutcome& out = outcomes[f];
    ptp_align_result r{};
    r.status = out.status;
    r.planes_used = out.planes_used;
    r.shift[0] = out.shift[0];
    r.shift[1] = out.shift[1];
    if (out.status == PTP_SUCCESS) {
      r.confidence = out.confidence;
      crop_shift(plan.geometry, out.unsnapped[0], out.unsnapped[1], &r.crop[0], &r.crop[1]);
    } else {
      r.shift[0] = r.shift[1] = kNoShift;
    }
    std::snprintf(r.message, sizeof r.message, "%s", out.message.c_str());
    results[f] = r;
    if (flags != nullptr) flags[f] = out.status == PTP_SUCCESS ? out.flags : 0;
    if (out.status != PTP_ERROR_CANCELLED) done = f + 1;
  }
  if (!finished) fail_cancelled(done, num_frames);
}

}  // namespace ptychopatch::impl
