// Header-only C++17 wrapper over the C ABI of libptychopatch: RAII handles
// and typed plans. Failures become ptychopatch::Error exceptions here, on
// the caller's side of the ABI; the library itself never throws.
#ifndef PTYCHOPATCH_HPP
#define PTYCHOPATCH_HPP

#include <complex>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ptychopatch.h"

namespace ptychopatch {

class Error : public std::runtime_error {
 public:
  Error(ptp_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  ptp_status status() const noexcept { return status_; }

 private:
  ptp_status status_;
};

// Throws Error with the library's message unless status is PTP_SUCCESS.
inline void check(ptp_status status) {
  if (status != PTP_SUCCESS)
    throw Error(status, std::string(ptp_status_name(status)) + ": " + ptp_last_error_message());
}

// The ptp_dtype of a C++ element type.
template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr ptp_dtype value = PTP_DTYPE_FLOAT32;
};
template <>
struct dtype_of<double> {
  static constexpr ptp_dtype value = PTP_DTYPE_FLOAT64;
};
template <>
struct dtype_of<std::complex<float>> {
  static constexpr ptp_dtype value = PTP_DTYPE_COMPLEX64;
};

inline std::string version() {
  return ptp_version_string();
}

inline int32_t cuda_device_count() {
  int32_t count = 0;
  check(ptp_cuda_device_count(&count));
  return count;
}

// Context options with the library's defaults already filled in.
struct ContextOptions : ptp_context_options {
  ContextOptions() { check(ptp_context_options_init(this, sizeof(ptp_context_options))); }
};

// Why a context runs where it does (ptp_context_get_backend_reason).
struct BackendReason {
  ptp_backend_reason reason;
  std::string message;
};

class Context {
 public:
  explicit Context(ptp_backend backend = PTP_BACKEND_AUTO, int32_t num_threads = 0) {
    ContextOptions options;
    options.backend = backend;
    options.num_threads = num_threads;
    create(options);
  }
  explicit Context(const ptp_context_options& options) { create(options); }

  ptp_backend backend() const {
    int32_t b = PTP_BACKEND_CPU;
    check(ptp_context_get_backend(handle_.get(), &b));
    return static_cast<ptp_backend>(b);
  }
  // E.g. {PTP_BACKEND_REASON_GPU_UNUSABLE, "CUDA device 0 (...) cannot run
  // this build's kernels: ..."} for an AUTO context that fell back to the CPU.
  BackendReason backend_reason() const {
    int32_t reason = PTP_BACKEND_REASON_CPU_REQUESTED;
    const char* message = nullptr;
    check(ptp_context_get_backend_reason(handle_.get(), &reason, &message));
    return {static_cast<ptp_backend_reason>(reason), message};
  }
  int32_t num_threads() const {
    int32_t n = 0;
    check(ptp_context_get_num_threads(handle_.get(), &n));
    return n;
  }
  ptp_context* get() const noexcept { return handle_.get(); }

 private:
  struct Destroy {
    void operator()(ptp_context* c) const noexcept { ptp_context_destroy(c); }
  };
  void create(const ptp_context_options& options) {
    ptp_context* raw = nullptr;
    check(ptp_context_create(&options, &raw));
    handle_.reset(raw);
  }
  std::unique_ptr<ptp_context, Destroy> handle_;
};

// A reusable extraction plan for objects of Element (std::complex<float> or
// float) and offsets of Offset (double or float). The context must outlive
// the plan. Offsets are (x, y) pairs; see ptp_extract_execute. The same
// plan runs the adjoint, reassemble() (ptp_reassemble_execute).
template <class Element, class Offset = double>
class ExtractPlan {
 public:
  ExtractPlan(const Context& context, int64_t height, int64_t width, int64_t patch_size,
              int64_t group_size = 1, ptp_layout layout = PTP_LAYOUT_CHANNEL) {
    check(ptp_extract_desc_init(&desc_, sizeof desc_));
    desc_.height = height;
    desc_.width = width;
    desc_.patch_size = patch_size;
    desc_.group_size = group_size;
    desc_.object_dtype = dtype_of<Element>::value;
    desc_.offset_dtype = dtype_of<Offset>::value;
    desc_.layout = layout;
    ptp_extract_plan* raw = nullptr;
    check(ptp_extract_plan_create(context.get(), &desc_, &raw));
    handle_.reset(raw);
  }

  // Elements of the patch array for num_patches patches.
  size_t output_size(int64_t num_patches) const {
    size_t bytes = 0;
    check(ptp_extract_output_bytes(&desc_, num_patches, &bytes));
    return bytes / sizeof(Element);
  }

  void execute(const Element* object, const Offset* offsets_xy, int64_t num_patches,
               Element* patches, size_t patches_capacity) {
    check(ptp_extract_execute(handle_.get(), object, offsets_xy, num_patches, patches,
                              patches_capacity * sizeof(Element)));
  }

  // offsets_xy holds num_patches (x, y) pairs.
  std::vector<Element> execute(const Element* object, const std::vector<Offset>& offsets_xy) {
    const auto num_patches = static_cast<int64_t>(offsets_xy.size() / 2);
    std::vector<Element> patches(output_size(num_patches));
    execute(object, offsets_xy.data(), num_patches, patches.data(), patches.size());
    return patches;
  }

  void execute_legacy(const Element* object, const Offset* global_offsets,
                      const Offset* local_offsets, int64_t num_groups, Element* patches,
                      size_t patches_capacity) {
    check(ptp_extract_execute_legacy(handle_.get(), object, global_offsets, local_offsets,
                                     num_groups, patches, patches_capacity * sizeof(Element)));
  }

  // Elements of the H x W canvas of reassemble().
  size_t canvas_size() const noexcept {
    return static_cast<size_t>(desc_.height) * static_cast<size_t>(desc_.width);
  }

  // Reassembly, the adjoint of execute() (see ptp_reassemble_execute): the
  // num_patches patches (in the plan's layout, as execute() writes them) are
  // scattered back with their bilinear weights at the offsets_xy (x, y)
  // pairs and summed into `canvas`, H x W elements of which it needs
  // (capacities count elements, not bytes). `weights` (H x W floats, or
  // nullptr) receives the summed weight of every pixel, so canvas / weights
  // where weights > 0 averages overlapping patches. Both are overwritten;
  // nothing is written when the call throws.
  void reassemble(const Element* patches, const Offset* offsets_xy, int64_t num_patches,
                  Element* canvas, size_t canvas_capacity, float* weights = nullptr,
                  size_t weights_capacity = 0) {
    check(ptp_reassemble_execute(handle_.get(), patches, offsets_xy, num_patches, canvas,
                                 canvas_capacity * sizeof(Element), weights,
                                 weights_capacity * sizeof(float)));
  }

  // The canvas and (when with_weights) the weights of a reassembly, each
  // H x W, row-major.
  struct Reassembly {
    std::vector<Element> canvas;
    std::vector<float> weights;  // empty unless requested
  };

  // offsets_xy holds one (x, y) pair per patch; `patches` holds that many
  // patches in the plan's layout.
  Reassembly reassemble(const Element* patches, const std::vector<Offset>& offsets_xy,
                        bool with_weights = true) {
    const auto num_patches = static_cast<int64_t>(offsets_xy.size() / 2);
    Reassembly result;
    result.canvas.resize(canvas_size());
    if (with_weights) result.weights.resize(canvas_size());
    reassemble(patches, offsets_xy.data(), num_patches, result.canvas.data(), result.canvas.size(),
               with_weights ? result.weights.data() : nullptr, result.weights.size());
    return result;
  }

  const ptp_extract_desc& desc() const noexcept { return desc_; }
  ptp_extract_plan* get() const noexcept { return handle_.get(); }

 private:
  struct Destroy {
    void operator()(ptp_extract_plan* p) const noexcept { ptp_extract_plan_destroy(p); }
  };
  ptp_extract_desc desc_{};
  std::unique_ptr<ptp_extract_plan, Destroy> handle_;
};

// ---------------------------------------------------- neighbour grouping

// A grouping descriptor with the library's defaults (K = 4, C = 4, seed 0,
// random seeds, no oversampling); set num_samples, then what differs.
struct GroupDesc : ptp_group_desc {
  GroupDesc() { check(ptp_group_desc_init(this, sizeof(ptp_group_desc))); }
  GroupDesc(int64_t samples, int32_t neighbors, int32_t gridsize, uint64_t random_seed = 0)
      : GroupDesc() {
    num_samples = samples;
    num_neighbors = neighbors;
    group_size = gridsize * gridsize;
    seed = random_seed;
  }
};

// The groups of ptp_group_neighbors, row-major, B = num_samples groups of C:
struct Groups {
  std::vector<int64_t> nn_indices;      // B x C member indices
  std::vector<double> coords_nn;        // B x 2 x C: [b][0][k] = x, [b][1][k] = y
  std::vector<double> coords_offsets;   // B x 2: the member mean (x, y)
  std::vector<double> coords_relative;  // B x 2 x C: -(member - mean)
  void resize(const ptp_group_desc& desc) {
    // Invalid sizes give empty arrays; the library then reports them.
    const auto b = static_cast<size_t>(desc.num_samples > 0 ? desc.num_samples : 0);
    const auto c = static_cast<size_t>(desc.group_size > 0 ? desc.group_size : 0);
    nn_indices.resize(b * c);
    coords_nn.resize(b * 2 * c);
    coords_offsets.resize(b * 2);
    coords_relative.resize(b * 2 * c);
  }
};

// Groups num_points scan positions (x[i], y[i]) as PtychoPINN's
// sample-then-group (see ptp_group_neighbors). context may be nullptr (the
// library's shared default context).
inline Groups group_neighbors(const ptp_group_desc& desc, const double* x, const double* y,
                              int64_t num_points, const Context* context = nullptr) {
  Groups groups;
  groups.resize(desc);
  check(ptp_group_neighbors(context != nullptr ? context->get() : nullptr, &desc, x, y, num_points,
                            groups.nn_indices.data(), groups.coords_nn.data(),
                            groups.coords_offsets.data(), groups.coords_relative.data()));
  return groups;
}

// Groups and their patches in one call (ptp_grouped_patches).
template <class Element>
struct GroupedPatches {
  Groups groups;
  std::vector<Element> patches;  // B x N x N x C (channel) or B*C x N x N (flat)
};

// `extract` describes the H x W object of Element and the patches (its
// group_size must equal desc.group_size; its offset dtype is float64);
// every group's members are cut from `object` as ptp_extract_execute_legacy
// with coords_offsets and coords_relative would cut them.
template <class Element>
GroupedPatches<Element> grouped_patches(const ptp_group_desc& desc, const ptp_extract_desc& extract,
                                        const Element* object, const double* x, const double* y,
                                        int64_t num_points, const Context* context = nullptr) {
  if (extract.object_dtype != dtype_of<Element>::value)
    throw Error(PTP_ERROR_INVALID_ARGUMENT,
                "PTP_ERROR_INVALID_ARGUMENT: the object's element type does not match "
                "extract.object_dtype");
  GroupedPatches<Element> result;
  result.groups.resize(desc);
  size_t bytes = 0;
  check(ptp_extract_output_bytes(&extract, static_cast<int64_t>(result.groups.nn_indices.size()),
                                 &bytes));
  result.patches.resize(bytes / sizeof(Element));
  check(ptp_grouped_patches(context != nullptr ? context->get() : nullptr, &desc, &extract, object,
                            x, y, num_points, result.groups.nn_indices.data(),
                            result.groups.coords_nn.data(), result.groups.coords_offsets.data(),
                            result.groups.coords_relative.data(), result.patches.data(), bytes));
  return result;
}

// ------------------------------------------------------ scene alignment

template <>
struct dtype_of<uint16_t> {
  static constexpr ptp_dtype value = PTP_DTYPE_UINT16;
};

// An alignment descriptor with the library's defaults filled in (uint16
// frames, no CFA, RGGB pattern, integer shifts, phase normalisation, no
// window, median, no snap); set height and width, then what differs.
struct AlignDesc : ptp_align_desc {
  AlignDesc() { check(ptp_align_desc_init(this, sizeof(ptp_align_desc))); }
};

// What AlignPlan::execute returns for n frames of P planes (row-major).
struct AlignResult {
  std::vector<double> shifts;        // n x 2: combined (dy, dx) in sensor pixels
  std::vector<double> plane_shifts;  // n x P x 2: each plane's (dy, dx) in sensor pixels
  std::vector<double> confidence;    // n: mean normalised peak height, [0, 1]
};

// A scene alignment plan (ptp_align_*): set a reference (GT) frame, then
// align moving frames against it; set another reference for the next scene.
// Frames are host arrays of H x W (x channels) elements of the descriptor's
// frame_dtype (uint16_t or float); the typed overloads check the type. The
// context must outlive the plan.
class AlignPlan {
 public:
  // Called after each frame with (frames_done, frames_total), on the calling
  // thread; return false to stop the call (execute then throws Error with
  // PTP_ERROR_CANCELLED). An exception thrown by it also stops the call and
  // is rethrown by execute.
  using Progress = std::function<bool(int64_t frames_done, int64_t frames_total)>;

  AlignPlan(const Context& context, const ptp_align_desc& desc) : desc_(desc) {
    ptp_align_plan* raw = nullptr;
    check(ptp_align_plan_create(context.get(), &desc_, &raw));
    handle_.reset(raw);
    check(ptp_align_plan_num_planes(raw, &planes_));
  }

  int64_t num_planes() const noexcept { return planes_; }
  // PTP_BACKEND_GPU or PTP_BACKEND_CPU; `why` (if given) receives the
  // reason a GPU context's plan runs on the CPU, empty otherwise.
  ptp_backend backend(std::string* why = nullptr) const {
    int32_t backend = PTP_BACKEND_CPU;
    const char* message = nullptr;
    check(ptp_align_plan_get_backend(handle_.get(), &backend, &message));
    if (why != nullptr) *why = message;
    return static_cast<ptp_backend>(backend);
  }
  const ptp_align_desc& desc() const noexcept { return desc_; }
  ptp_align_plan* get() const noexcept { return handle_.get(); }

  // Installs the progress callback (an empty function removes it).
  void set_progress(Progress progress) {
    if (!progress) {
      check(ptp_align_set_progress(handle_.get(), nullptr, nullptr));
      progress_.reset();
      return;
    }
    auto state = std::make_unique<ProgressState>();
    state->fn = std::move(progress);
    check(ptp_align_set_progress(handle_.get(), &ProgressState::call, state.get()));
    progress_ = std::move(state);
  }

  void set_reference(const void* frame) { check(ptp_align_set_reference(handle_.get(), frame)); }
  template <class T>
  void set_reference(const T* frame) {
    require_dtype<T>();
    set_reference(static_cast<const void*>(frame));
  }

  // The C call as is: outputs sized for num_frames (see ptp_align_execute);
  // after a cancellation the finished frames' results are in them.
  void execute(const void* const* frames, int64_t num_frames, double* shifts,
               double* plane_shifts = nullptr, double* confidence = nullptr) {
    if (progress_) progress_->error = nullptr;
    const ptp_status status =
        ptp_align_execute(handle_.get(), frames, num_frames, shifts, plane_shifts, confidence);
    if (progress_ && progress_->error) std::rethrow_exception(progress_->error);
    check(status);
  }

  AlignResult execute(const std::vector<const void*>& frames) {
    const auto n = static_cast<int64_t>(frames.size());
    AlignResult result;
    result.shifts.resize(static_cast<size_t>(2 * n));
    result.plane_shifts.resize(static_cast<size_t>(2 * n * planes_));
    result.confidence.resize(static_cast<size_t>(n));
    execute(frames.data(), n, result.shifts.data(), result.plane_shifts.data(),
            result.confidence.data());
    return result;
  }
  template <class T>
  AlignResult execute(const std::vector<const T*>& frames) {
    require_dtype<T>();
    return execute(std::vector<const void*>(frames.begin(), frames.end()));
  }

  // ptp_align_execute_frames: one ptp_align_result per frame (status,
  // message, shift, crop, confidence); a frame that cannot be aligned does
  // not throw, only the call's own errors (and a cancellation) do.
  std::vector<ptp_align_result> execute_frames(const std::vector<const void*>& frames) {
    std::vector<ptp_align_result> results(frames.size());
    if (progress_) progress_->error = nullptr;
    const ptp_status status = ptp_align_execute_frames(
        handle_.get(), frames.data(), static_cast<int64_t>(frames.size()), results.data(), nullptr);
    if (progress_ && progress_->error) std::rethrow_exception(progress_->error);
    check(status);
    return results;
  }
  template <class T>
  std::vector<ptp_align_result> execute_frames(const std::vector<const T*>& frames) {
    require_dtype<T>();
    return execute_frames(std::vector<const void*>(frames.begin(), frames.end()));
  }

 private:
  struct ProgressState {
    Progress fn;
    std::exception_ptr error;
    static int32_t call(int64_t done, int64_t total, void* user) noexcept {
      auto* self = static_cast<ProgressState*>(user);
      try {
        return self->fn(done, total) ? 0 : 1;
      } catch (...) {
        self->error = std::current_exception();
        return 1;
      }
    }
  };
  template <class T>
  void require_dtype() const {
    static_assert(std::is_same<T, uint16_t>::value || std::is_same<T, float>::value,
                  "alignment frames are uint16_t or float");
    if (desc_.frame_dtype != dtype_of<T>::value)
      throw Error(PTP_ERROR_INVALID_ARGUMENT,
                  "PTP_ERROR_INVALID_ARGUMENT: the frames' element type does not match the "
                  "plan's frame_dtype");
  }
  struct Destroy {
    void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
  };
  ptp_align_desc desc_{};
  int64_t planes_ = 0;
  std::unique_ptr<ptp_align_plan, Destroy> handle_;
  std::unique_ptr<ProgressState> progress_;
};

}  // namespace ptychopatch

#endif  // PTYCHOPATCH_HPP
