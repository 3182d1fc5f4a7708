// Header-only C++17 wrapper over the C ABI of libptychopatch: RAII handles
// and typed plans. Failures become ptychopatch::Error exceptions here, on
// the caller's side of the ABI; the library itself never throws.
//
// Lifetimes: a plan shares ownership of the context it was made on, so the
// context lives as long as its last plan (a plan made on a temporary
// Context is valid). Context and the plans are move-only; a moved-from
// object may be destroyed or assigned to, and any other use of it throws
// Error(PTP_ERROR_INVALID_ARGUMENT).
//
// Sizes: the overloads taking View<T> (below) know every array's size and
// check it against the plan's geometry before the library is called, so a
// wrong size throws Error (PTP_ERROR_INVALID_SIZE for an input,
// PTP_ERROR_BUFFER_TOO_SMALL for an output) and nothing is read or
// written. The raw-pointer overloads cannot check what they are not told:
// those mirror the C calls and only the sizes passed with them are checked.
#ifndef PTYCHOPATCH_HPP
#define PTYCHOPATCH_HPP

#include <complex>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ptychopatch.h"

namespace ptychopatch {

// A failed call: status() is the ptp_status (PTP_ERROR_*), what() is
// "PTP_ERROR_...: " followed by the library's (or this wrapper's) message.
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

template <class T>
class View;

namespace detail {

// Throws Error(status) for a failure found by the wrapper itself.
[[noreturn]] inline void fail(ptp_status status, const std::string& message) {
  throw Error(status, std::string(ptp_status_name(status)) + ": " + message);
}

[[noreturn]] inline void moved_from(const char* what) {
  fail(PTP_ERROR_INVALID_ARGUMENT,
       std::string("this ptychopatch::") + what + " was moved from (it holds no handle)");
}

template <class T>
struct is_view : std::false_type {};
template <class T>
struct is_view<View<T>> : std::true_type {};

template <class T>
using remove_cvref_t = std::remove_cv_t<std::remove_reference_t<T>>;

// Whether C (a container type, maybe a reference) has data() returning a
// pointer to elements that View<T> may refer to, and size().
template <class C, class T, class = void>
struct is_contiguous_of : std::false_type {};
template <class C, class T>
struct is_contiguous_of<
    C, T, std::void_t<decltype(std::declval<C&>().data()), decltype(std::declval<C&>().size())>>
    : std::integral_constant<
          bool,
          std::is_pointer<decltype(std::declval<C&>().data())>::value &&
              std::is_convertible<std::remove_pointer_t<decltype(std::declval<C&>().data())> (*)[],
                                  T (*)[]>::value> {};

// Enables the pointer-taking overloads for pointers only, not for C arrays
// (which go to the checked View overloads instead).
template <class P, class Element>
using enable_if_pointer_to_t =
    std::enable_if_t<std::is_pointer<std::remove_reference_t<P>>::value &&
                     std::is_convertible<std::remove_reference_t<P>, const Element*>::value>;

// The element type of a C array or contiguous container (std::data).
template <class C>
using element_of_t =
    std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C&>()))>>;

inline std::string count(size_t n) {
  return std::to_string(n);
}

}  // namespace detail

// A non-owning view of `size()` contiguous elements of T: the part of
// C++20's std::span that this C++17 header needs. It converts implicitly
// from a std::vector, a std::array, a C array and any contiguous container
// with data() and size(), and explicitly from (pointer, size). View<const T>
// also binds temporaries (a View argument lives until the call returns);
// View<T> (an output) binds only lvalues. It must not outlive its elements.
template <class T>
class View {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;

  constexpr View() noexcept = default;
  constexpr View(T* data, size_t size) noexcept : data_(data), size_(size) {}
  template <size_t N>
  constexpr View(T (&array)[N]) noexcept : data_(array), size_(N) {}
  template <class Container,
            class = std::enable_if_t<!detail::is_view<detail::remove_cvref_t<Container>>::value &&
                                     detail::is_contiguous_of<Container, T>::value &&
                                     (std::is_const<T>::value ||
                                      std::is_lvalue_reference<Container>::value)>>
  constexpr View(Container&& container) noexcept(
      noexcept(container.data()) && noexcept(container.size()))
      : data_(container.data()), size_(static_cast<size_t>(container.size())) {}
  // View<T> to View<const T>.
  template <class U, class = std::enable_if_t<!std::is_same<U, T>::value &&
                                              std::is_convertible<U (*)[], T (*)[]>::value>>
  constexpr View(const View<U>& other) noexcept : data_(other.data()), size_(other.size()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T& operator[](size_t i) const noexcept { return data_[i]; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

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

namespace detail {
struct ContextAccess;
}

// A context (ptp_context). Move-only; the C handle is shared with the plans
// made on it and destroyed with the last of them, so a plan may outlive the
// Context object it was made from (e.g. ExtractPlan<float> plan(Context{},
// ...)). Moving a Context moves its handle; a moved-from Context throws
// Error(PTP_ERROR_INVALID_ARGUMENT) when used, and get() is then nullptr.
class Context {
 public:
  explicit Context(ptp_backend backend = PTP_BACKEND_AUTO, int32_t num_threads = 0) {
    ContextOptions options;
    options.backend = backend;
    options.num_threads = num_threads;
    create(options);
  }
  explicit Context(const ptp_context_options& options) { create(options); }
  Context(Context&&) noexcept = default;
  Context& operator=(Context&&) noexcept = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  ptp_backend backend() const {
    int32_t b = PTP_BACKEND_CPU;
    check(ptp_context_get_backend(handle(), &b));
    return static_cast<ptp_backend>(b);
  }
  // E.g. {PTP_BACKEND_REASON_GPU_UNUSABLE, "CUDA device 0 (...) cannot run
  // this build's kernels: ..."} for an AUTO context that fell back to the CPU.
  BackendReason backend_reason() const {
    int32_t reason = PTP_BACKEND_REASON_CPU_REQUESTED;
    const char* message = nullptr;
    check(ptp_context_get_backend_reason(handle(), &reason, &message));
    return {static_cast<ptp_backend_reason>(reason), message};
  }
  int32_t num_threads() const {
    int32_t n = 0;
    check(ptp_context_get_num_threads(handle(), &n));
    return n;
  }
  // ptp_context_synchronize: waits for the context's stream; throws Error
  // (PTP_ERROR_NON_FINITE) if a device-array call since the last one found
  // a non-finite offset and so wrote nothing.
  void synchronize() const { check(ptp_context_synchronize(handle())); }
  // The C handle for direct ptp_* calls (nullptr once moved from). A C plan
  // made on it directly does not keep it alive: destroy that plan first.
  ptp_context* get() const noexcept { return handle_.get(); }
  // Whether this Context holds a handle (false once moved from).
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  friend struct detail::ContextAccess;

  struct Destroy {
    void operator()(ptp_context* c) const noexcept { ptp_context_destroy(c); }
  };
  void create(const ptp_context_options& options) {
    ptp_context* raw = nullptr;
    check(ptp_context_create(&options, &raw));
    handle_ = std::shared_ptr<ptp_context>(raw, Destroy{});  // destroys raw if this throws
  }
  ptp_context* handle() const {
    if (!handle_) detail::moved_from("Context");
    return handle_.get();
  }
  std::shared_ptr<ptp_context> handle_;
};

namespace detail {
struct ContextAccess {
  // The ownership a plan keeps (a moved-from Context throws).
  static const std::shared_ptr<ptp_context>& shared(const Context& context) {
    context.handle();
    return context.handle_;
  }
  // The C handle of an optional context for the one-shot calls: nullptr
  // (the library's shared default context) when context is nullptr; a
  // moved-from Context throws rather than silently meaning the default.
  static ptp_context* optional(const Context* context) {
    return context != nullptr ? context->handle() : nullptr;
  }
};

// A plan's progress callback behind the C ptp_progress_fn: the
// std::function returns false to stop; an exception it throws is kept (it
// must not cross the C library), stops the call, and is rethrown by the
// plan once the call returns (rethrow_after).
using ProgressFunction = std::function<bool(int64_t done, int64_t total)>;
struct ProgressState {
  ProgressFunction fn;
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
  // Runs one C call: the callback's exception first, else the status.
  template <class Call>
  static void run(ProgressState* state, Call&& call) {
    if (state != nullptr) state->error = nullptr;
    const ptp_status status = call();
    if (state != nullptr && state->error) std::rethrow_exception(state->error);
    check(status);
  }
};
}  // namespace detail

// A reusable extraction plan for objects of Element (std::complex<float> or
// float) and offsets of Offset (double or float). Offsets are (x, y) pairs;
// see ptp_extract_execute. The same plan runs the adjoint, reassemble()
// (ptp_reassemble_execute). The plan keeps its context alive. Move-only.
//
// Checked overloads (View arguments; a std::vector, std::array or C array
// converts to a View): the object holds exactly H x W elements, offsets an
// even number of values (num_patches = size / 2 pairs), input patches
// exactly output_size(num_patches) elements; outputs at least what is
// written. Otherwise Error (PTP_ERROR_INVALID_SIZE for inputs,
// PTP_ERROR_BUFFER_TOO_SMALL for outputs) is thrown before the library is
// called, and no output is written.
template <class Element, class Offset = double>
class ExtractPlan {
 public:
  ExtractPlan(const Context& context, int64_t height, int64_t width, int64_t patch_size,
              int64_t group_size = 1, ptp_layout layout = PTP_LAYOUT_CHANNEL) {
    const std::shared_ptr<ptp_context>& owner = detail::ContextAccess::shared(context);
    check(ptp_extract_desc_init(&desc_, sizeof desc_));
    desc_.height = height;
    desc_.width = width;
    desc_.patch_size = patch_size;
    desc_.group_size = group_size;
    desc_.object_dtype = dtype_of<Element>::value;
    desc_.offset_dtype = dtype_of<Offset>::value;
    desc_.layout = layout;
    ptp_extract_plan* raw = nullptr;
    check(ptp_extract_plan_create(owner.get(), &desc_, &raw));
    handle_ = Handle(raw, Destroy{owner});
  }

  // Called by execute(), execute_legacy() and reassemble() with (patches
  // done, patches total), on the calling thread (see
  // ptp_extract_set_progress); return false to stop the call (it then throws
  // Error with PTP_ERROR_CANCELLED; the output is unspecified). An exception
  // thrown by it also stops the call and is rethrown.
  using Progress = detail::ProgressFunction;

  // Installs the progress callback (an empty function removes it).
  void set_progress(Progress progress) {
    if (!progress) {
      check(ptp_extract_set_progress(handle(), nullptr, nullptr));
      progress_.reset();
      return;
    }
    auto state = std::make_unique<detail::ProgressState>();
    state->fn = std::move(progress);
    check(ptp_extract_set_progress(handle(), &detail::ProgressState::call, state.get()));
    progress_ = std::move(state);
  }

  // Elements of the patch array for num_patches patches.
  size_t output_size(int64_t num_patches) const {
    size_t bytes = 0;
    check(ptp_extract_output_bytes(&desc_, num_patches, &bytes));
    return bytes / sizeof(Element);
  }

  // Elements of the H x W object (and of reassemble()'s canvas).
  size_t object_size() const noexcept {
    return static_cast<size_t>(desc_.height) * static_cast<size_t>(desc_.width);
  }

  // ------------------------------------------------------------ extraction

  // Checked: num_patches = offsets_xy.size() / 2 patches of `object` into
  // `patches` (at least output_size(num_patches) elements).
  void execute(View<const Element> object, View<const Offset> offsets_xy, View<Element> patches) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    require_object(object, "object");
    require_output(patches.size(), output_size(num_patches), "patches");
    execute(object.data(), offsets_xy.data(), num_patches, patches.data(), patches.size());
  }

  // Checked: the patches of the offsets_xy (x, y) pairs, in a new vector.
  std::vector<Element> execute(View<const Element> object, View<const Offset> offsets_xy) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    require_object(object, "object");
    std::vector<Element> patches(output_size(num_patches));
    execute(object.data(), offsets_xy.data(), num_patches, patches.data(), patches.size());
    return patches;
  }

  // As above with the object as a pointer to H x W elements (its size is
  // not checked); offsets_xy is checked (an odd count throws).
  template <class Pointer, class = detail::enable_if_pointer_to_t<Pointer, Element>>
  std::vector<Element> execute(Pointer&& object, View<const Offset> offsets_xy) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    std::vector<Element> patches(output_size(num_patches));
    execute(static_cast<const Element*>(object), offsets_xy.data(), num_patches, patches.data(),
            patches.size());
    return patches;
  }

  // The C call: object unchecked (H x W elements), offsets_xy num_patches
  // pairs, patches_capacity elements (checked by the library).
  void execute(const Element* object, const Offset* offsets_xy, int64_t num_patches,
               Element* patches, size_t patches_capacity) {
    ptp_extract_plan* plan = handle();
    detail::ProgressState::run(progress_.get(), [&] {
      return ptp_extract_execute(plan, object, offsets_xy, num_patches, patches,
                                 patches_capacity * sizeof(Element));
    });
  }

  // Checked legacy form (ptp_extract_execute_legacy): global_offsets holds
  // num_groups (x, y) pairs, local_offsets num_groups x 2 x group_size
  // values; num_groups x group_size patches into `patches`.
  void execute_legacy(View<const Element> object, View<const Offset> global_offsets,
                      View<const Offset> local_offsets, View<Element> patches) {
    const int64_t num_groups = legacy_groups(global_offsets, local_offsets);
    require_object(object, "object");
    require_output(patches.size(), output_size(num_groups * desc_.group_size), "patches");
    execute_legacy(object.data(), global_offsets.data(), local_offsets.data(), num_groups,
                   patches.data(), patches.size());
  }
  std::vector<Element> execute_legacy(View<const Element> object, View<const Offset> global_offsets,
                                      View<const Offset> local_offsets) {
    const int64_t num_groups = legacy_groups(global_offsets, local_offsets);
    require_object(object, "object");
    std::vector<Element> patches(output_size(num_groups * desc_.group_size));
    execute_legacy(object.data(), global_offsets.data(), local_offsets.data(), num_groups,
                   patches.data(), patches.size());
    return patches;
  }

  // The C call (unchecked object and offsets; capacity in elements).
  void execute_legacy(const Element* object, const Offset* global_offsets,
                      const Offset* local_offsets, int64_t num_groups, Element* patches,
                      size_t patches_capacity) {
    ptp_extract_plan* plan = handle();
    detail::ProgressState::run(progress_.get(), [&] {
      return ptp_extract_execute_legacy(plan, object, global_offsets, local_offsets, num_groups,
                                        patches, patches_capacity * sizeof(Element));
    });
  }

  // ------------------------------------------------------------ reassembly

  // Elements of the H x W canvas of reassemble().
  size_t canvas_size() const noexcept { return object_size(); }

  // Reassembly, the adjoint of execute() (see ptp_reassemble_execute): the
  // num_patches patches (in the plan's layout, as execute() writes them) are
  // scattered back with their bilinear weights at the offsets_xy (x, y)
  // pairs and summed into `canvas`, H x W elements of which it needs.
  // `weights` (H x W floats, or empty/nullptr to skip) receives the summed
  // weight of every pixel, so canvas / weights where weights > 0 averages
  // overlapping patches. Both are overwritten; nothing is written when the
  // call throws.
  //
  // Checked: patches holds exactly output_size(offsets_xy.size() / 2)
  // elements, canvas (and weights unless empty) at least H x W.
  void reassemble(View<const Element> patches, View<const Offset> offsets_xy, View<Element> canvas,
                  View<float> weights = {}) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    require_patches(patches, num_patches);
    require_output(canvas.size(), canvas_size(), "canvas");
    if (!weights.empty()) require_output(weights.size(), canvas_size(), "weights");
    reassemble(patches.data(), offsets_xy.data(), num_patches, canvas.data(), canvas.size(),
               weights.empty() ? nullptr : weights.data(), weights.size());
  }

  // The C call; capacities count elements, not bytes (checked by the
  // library); `patches` is not checked.
  void reassemble(const Element* patches, const Offset* offsets_xy, int64_t num_patches,
                  Element* canvas, size_t canvas_capacity, float* weights = nullptr,
                  size_t weights_capacity = 0) {
    ptp_extract_plan* plan = handle();
    detail::ProgressState::run(progress_.get(), [&] {
      return ptp_reassemble_execute(plan, patches, offsets_xy, num_patches, canvas,
                                    canvas_capacity * sizeof(Element), weights,
                                    weights_capacity * sizeof(float));
    });
  }

  // The canvas and (when with_weights) the weights of a reassembly, each
  // H x W, row-major.
  struct Reassembly {
    std::vector<Element> canvas;
    std::vector<float> weights;  // empty unless requested
  };

  // Checked: offsets_xy holds one (x, y) pair per patch; `patches` exactly
  // that many patches in the plan's layout.
  Reassembly reassemble(View<const Element> patches, View<const Offset> offsets_xy,
                        bool with_weights = true) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    require_patches(patches, num_patches);
    return reassembly(patches.data(), offsets_xy.data(), num_patches, with_weights);
  }

  // As above with `patches` as a pointer (its size is not checked).
  template <class Pointer, class = detail::enable_if_pointer_to_t<Pointer, Element>>
  Reassembly reassemble(Pointer&& patches, View<const Offset> offsets_xy,
                        bool with_weights = true) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    return reassembly(static_cast<const Element*>(patches), offsets_xy.data(), num_patches,
                      with_weights);
  }

  // --------------------------------------------- gradient in the offsets

  // The gradient of execute() with respect to the offsets (see
  // ptp_extract_offsets_gradient): from grad_patches = dL/dpatches (in the
  // plan's layout, as execute() writes patches), dL/doffsets, one (x, y)
  // pair per patch, into grad_offsets. Checked: object holds H x W
  // elements, grad_patches exactly that many patches, grad_offsets at least
  // offsets_xy.size() values.
  void offsets_gradient(View<const Element> object, View<const Offset> offsets_xy,
                        View<const Element> grad_patches, View<Offset> grad_offsets) {
    const int64_t num_patches = pairs(offsets_xy, "offsets_xy");
    require_object(object, "object");
    require_patches(grad_patches, num_patches);
    require_output(grad_offsets.size(), offsets_xy.size(), "grad_offsets");
    offsets_gradient(object.data(), offsets_xy.data(), num_patches, grad_patches.data(),
                     grad_patches.size(), grad_offsets.data(), grad_offsets.size());
  }
  std::vector<Offset> offsets_gradient(View<const Element> object, View<const Offset> offsets_xy,
                                       View<const Element> grad_patches) {
    std::vector<Offset> grad_offsets(offsets_xy.size());
    offsets_gradient(object, offsets_xy, grad_patches, View<Offset>(grad_offsets));
    return grad_offsets;
  }

  // The C call; sizes count elements, not bytes (checked by the library).
  void offsets_gradient(const Element* object, const Offset* offsets_xy, int64_t num_patches,
                        const Element* grad_patches, size_t grad_patches_size, Offset* grad_offsets,
                        size_t grad_offsets_capacity) {
    ptp_extract_plan* plan = handle();
    detail::ProgressState::run(progress_.get(), [&] {
      return ptp_extract_offsets_gradient(plan, object, offsets_xy, num_patches, grad_patches,
                                          grad_patches_size * sizeof(Element), grad_offsets,
                                          grad_offsets_capacity * sizeof(Offset));
    });
  }

  // What the plan's last call found (ptp_extract_plan_get_diagnostics):
  // patches_total, patches_outside (patches entirely outside the object; -1
  // when not counted, i.e. device-memory offsets) and a message. Results and
  // statuses never depend on it.
  ptp_extract_diagnostics diagnostics() const {
    ptp_extract_diagnostics found;
    check(ptp_extract_diagnostics_init(&found, sizeof found));
    check(ptp_extract_plan_get_diagnostics(handle(), &found));
    return found;
  }

  const ptp_extract_desc& desc() const noexcept { return desc_; }
  // The C handle (nullptr once moved from).
  ptp_extract_plan* get() const noexcept { return handle_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  // The deleter owns a share of the context: unique_ptr destroys the plan
  // before its deleter (and so the context reference) goes, also when a
  // plan is assigned over.
  struct Destroy {
    std::shared_ptr<ptp_context> context;
    void operator()(ptp_extract_plan* p) const noexcept { ptp_extract_plan_destroy(p); }
  };
  using Handle = std::unique_ptr<ptp_extract_plan, Destroy>;

  ptp_extract_plan* handle() const {
    if (!handle_) detail::moved_from("ExtractPlan");
    return handle_.get();
  }
  // Pairs in an (x, y) offset array; an odd count throws.
  static int64_t pairs(View<const Offset> offsets, const char* name) {
    if (offsets.size() % 2 != 0)
      detail::fail(PTP_ERROR_INVALID_SIZE, std::string(name) + " holds " +
                                               detail::count(offsets.size()) +
                                               " values, an odd count: it must hold (x, y) pairs");
    return static_cast<int64_t>(offsets.size() / 2);
  }
  int64_t legacy_groups(View<const Offset> global_offsets, View<const Offset> local_offsets) const {
    const int64_t num_groups = pairs(global_offsets, "global_offsets");
    const auto c = static_cast<size_t>(desc_.group_size);
    if (local_offsets.size() % c != 0 || local_offsets.size() / c != global_offsets.size())
      detail::fail(PTP_ERROR_INVALID_SIZE,
                   "local_offsets holds " + detail::count(local_offsets.size()) +
                       " values; the plan's " + detail::count(static_cast<size_t>(num_groups)) +
                       " groups (global_offsets) of " + detail::count(c) + " need " +
                       detail::count(global_offsets.size()) + " x " + detail::count(c));
    return num_groups;
  }
  void require_object(View<const Element> object, const char* name) const {
    if (object.size() != object_size())
      detail::fail(PTP_ERROR_INVALID_SIZE,
                   std::string(name) + " holds " + detail::count(object.size()) +
                       " elements; the plan's H x W object is " + std::to_string(desc_.height) +
                       " x " + std::to_string(desc_.width) + " = " + detail::count(object_size()));
  }
  void require_patches(View<const Element> patches, int64_t num_patches) const {
    const size_t want = output_size(num_patches);
    if (patches.size() != want)
      detail::fail(PTP_ERROR_INVALID_SIZE, "patches holds " + detail::count(patches.size()) +
                                               " elements; " + std::to_string(num_patches) +
                                               " patches (offsets_xy) are " + detail::count(want));
  }
  static void require_output(size_t have, size_t want, const char* name) {
    if (have < want)
      detail::fail(PTP_ERROR_BUFFER_TOO_SMALL, std::string(name) + " holds " + detail::count(have) +
                                                   " elements; the result needs " +
                                                   detail::count(want));
  }
  Reassembly reassembly(const Element* patches, const Offset* offsets_xy, int64_t num_patches,
                        bool with_weights) {
    Reassembly result;
    result.canvas.resize(canvas_size());
    if (with_weights) result.weights.resize(canvas_size());
    reassemble(patches, offsets_xy, num_patches, result.canvas.data(), result.canvas.size(),
               with_weights ? result.weights.data() : nullptr, result.weights.size());
    return result;
  }

  ptp_extract_desc desc_{};
  Handle handle_;
  // After handle_, as in AlignPlan: a plan assigned over is destroyed
  // before its callback state.
  std::unique_ptr<detail::ProgressState> progress_;
};

// The diagnostics of the most recent extraction or reassembly call made on
// this thread, on any plan or one-shot (ptp_extract_plan_get_diagnostics
// with a NULL plan): e.g. after grouped_patches().
inline ptp_extract_diagnostics last_diagnostics() {
  ptp_extract_diagnostics found;
  check(ptp_extract_diagnostics_init(&found, sizeof found));
  check(ptp_extract_plan_get_diagnostics(nullptr, &found));
  return found;
}

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

namespace detail {
// Positions in x and y; different counts throw.
inline int64_t positions(View<const double> x, View<const double> y) {
  if (x.size() != y.size())
    fail(PTP_ERROR_INVALID_SIZE, "x holds " + count(x.size()) + " positions and y " +
                                     count(y.size()) + ": they must hold as many");
  return static_cast<int64_t>(x.size());
}
}  // namespace detail

// Groups num_points scan positions (x[i], y[i]) as PtychoPINN's
// sample-then-group (see ptp_group_neighbors). context may be nullptr (the
// library's shared default context).
inline Groups group_neighbors(const ptp_group_desc& desc, const double* x, const double* y,
                              int64_t num_points, const Context* context = nullptr) {
  ptp_context* ctx = detail::ContextAccess::optional(context);
  Groups groups;
  groups.resize(desc);
  check(ptp_group_neighbors(ctx, &desc, x, y, num_points, groups.nn_indices.data(),
                            groups.coords_nn.data(), groups.coords_offsets.data(),
                            groups.coords_relative.data()));
  return groups;
}

// Checked: x and y hold as many positions (else PTP_ERROR_INVALID_SIZE).
inline Groups group_neighbors(const ptp_group_desc& desc, View<const double> x,
                              View<const double> y, const Context* context = nullptr) {
  const int64_t num_points = detail::positions(x, y);
  return group_neighbors(desc, x.data(), y.data(), num_points, context);
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
// with coords_offsets and coords_relative would cut them. `object` is not
// checked here: the overload below takes it with its size.
template <class Element>
GroupedPatches<Element> grouped_patches(const ptp_group_desc& desc, const ptp_extract_desc& extract,
                                        const Element* object, const double* x, const double* y,
                                        int64_t num_points, const Context* context = nullptr) {
  if (extract.object_dtype != dtype_of<Element>::value)
    throw Error(PTP_ERROR_INVALID_ARGUMENT,
                "PTP_ERROR_INVALID_ARGUMENT: the object's element type does not match "
                "extract.object_dtype");
  ptp_context* ctx = detail::ContextAccess::optional(context);
  GroupedPatches<Element> result;
  result.groups.resize(desc);
  size_t bytes = 0;
  check(ptp_extract_output_bytes(&extract, static_cast<int64_t>(result.groups.nn_indices.size()),
                                 &bytes));
  result.patches.resize(bytes / sizeof(Element));
  check(ptp_grouped_patches(ctx, &desc, &extract, object, x, y, num_points,
                            result.groups.nn_indices.data(), result.groups.coords_nn.data(),
                            result.groups.coords_offsets.data(),
                            result.groups.coords_relative.data(), result.patches.data(), bytes));
  return result;
}

// Checked: `object` (a std::vector, View, std::array or C array of Element)
// holds exactly extract.height x extract.width elements, and x and y as
// many positions (else PTP_ERROR_INVALID_SIZE).
template <class Object, class Element = detail::element_of_t<Object>>
GroupedPatches<Element> grouped_patches(const ptp_group_desc& desc, const ptp_extract_desc& extract,
                                        const Object& object, View<const double> x,
                                        View<const double> y, const Context* context = nullptr) {
  const int64_t num_points = detail::positions(x, y);
  const size_t have = static_cast<size_t>(std::size(object));
  // An invalid height or width is left to the library to report.
  if (extract.height > 0 && extract.width > 0 &&
      static_cast<uint64_t>(extract.height) <= SIZE_MAX / static_cast<uint64_t>(extract.width)) {
    const size_t want = static_cast<size_t>(extract.height) * static_cast<size_t>(extract.width);
    if (have != want)
      detail::fail(PTP_ERROR_INVALID_SIZE,
                   "object holds " + detail::count(have) + " elements; extract's H x W object is " +
                       std::to_string(extract.height) + " x " + std::to_string(extract.width) +
                       " = " + detail::count(want));
  }
  return grouped_patches<Element>(desc, extract, std::data(object), x.data(), y.data(), num_points,
                                  context);
}

// ------------------------------------------------------ scene alignment

template <>
struct dtype_of<uint16_t> {
  static constexpr ptp_dtype value = PTP_DTYPE_UINT16;
};

// An alignment descriptor with the library's defaults filled in
// (ptp_align_desc_init: uint16 frames, no CFA, RGGB pattern, shifts to
// 1/10 pixel, partial whitening, Hann window, the luminance image, no
// snap, the fine stage where in doubt); set height and width, then what
// differs.
struct AlignDesc : ptp_align_desc {
  AlignDesc() { check(ptp_align_desc_init(this, sizeof(ptp_align_desc))); }
};

// What AlignPlan::execute returns for n frames of P planes (row-major).
struct AlignResult {
  std::vector<double> shifts;        // n x 2: combined (dy, dx) in sensor pixels
  std::vector<double> plane_shifts;  // n x P x 2: each plane's (dy, dx) in sensor pixels
                                     // (RawNIND's method; NaN otherwise)
  std::vector<double> confidence;    // n: in [0, 1]; with the default verify, the probability
                                     // that the crop is right (docs/api.md)
};

// A scene alignment plan (ptp_align_*): set a reference (GT) frame, then
// align moving frames against it; set another reference for the next scene.
// Frames are host arrays of H x W (x channels) elements of the descriptor's
// frame_dtype (uint16_t or float); the typed overloads check the type, the
// View overloads the type and the size (frame_size() elements each, else
// Error with PTP_ERROR_INVALID_SIZE before anything is read). The plan
// keeps its context alive. Move-only.
class AlignPlan {
 public:
  // Called after each frame with (frames_done, frames_total), on the calling
  // thread; return false to stop the call (execute then throws Error with
  // PTP_ERROR_CANCELLED). An exception thrown by it also stops the call and
  // is rethrown by execute.
  using Progress = std::function<bool(int64_t frames_done, int64_t frames_total)>;

  AlignPlan(const Context& context, const ptp_align_desc& desc) : desc_(desc) {
    const std::shared_ptr<ptp_context>& owner = detail::ContextAccess::shared(context);
    ptp_align_plan* raw = nullptr;
    check(ptp_align_plan_create(owner.get(), &desc_, &raw));
    handle_ = Handle(raw, Destroy{owner});
    check(ptp_align_plan_num_planes(raw, &planes_));
  }

  int64_t num_planes() const noexcept { return planes_; }
  // Elements of one frame: H x W x channels.
  size_t frame_size() const noexcept {
    return static_cast<size_t>(desc_.height) * static_cast<size_t>(desc_.width) *
           static_cast<size_t>(desc_.channels);
  }
  // PTP_BACKEND_GPU or PTP_BACKEND_CPU; `why` (if given) receives the
  // reason a GPU context's plan runs on the CPU, empty otherwise.
  ptp_backend backend(std::string* why = nullptr) const {
    int32_t backend = PTP_BACKEND_CPU;
    const char* message = nullptr;
    check(ptp_align_plan_get_backend(handle(), &backend, &message));
    if (why != nullptr) *why = message;
    return static_cast<ptp_backend>(backend);
  }
  const ptp_align_desc& desc() const noexcept { return desc_; }
  // The C handle (nullptr once moved from).
  ptp_align_plan* get() const noexcept { return handle_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // Installs the progress callback (an empty function removes it).
  void set_progress(Progress progress) {
    if (!progress) {
      check(ptp_align_set_progress(handle(), nullptr, nullptr));
      progress_.reset();
      return;
    }
    auto state = std::make_unique<detail::ProgressState>();
    state->fn = std::move(progress);
    check(ptp_align_set_progress(handle(), &detail::ProgressState::call, state.get()));
    progress_ = std::move(state);
  }

  void set_reference(const void* frame) { check(ptp_align_set_reference(handle(), frame)); }
  template <class T>
  void set_reference(const T* frame) {
    require_dtype<T>();
    set_reference(static_cast<const void*>(frame));
  }
  // Checked: the frame holds frame_size() elements of frame_dtype.
  void set_reference(View<const uint16_t> frame) { set_reference_checked(frame); }
  void set_reference(View<const float> frame) { set_reference_checked(frame); }

  // The C call as is: outputs sized for num_frames (see ptp_align_execute);
  // after a cancellation the finished frames' results are in them.
  void execute(const void* const* frames, int64_t num_frames, double* shifts,
               double* plane_shifts = nullptr, double* confidence = nullptr) {
    ptp_align_plan* plan = handle();
    if (progress_) progress_->error = nullptr;
    const ptp_status status =
        ptp_align_execute(plan, frames, num_frames, shifts, plane_shifts, confidence);
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
  // Checked: every frame holds frame_size() elements of frame_dtype, e.g.
  // std::vector<View<const uint16_t>> frames(raws.begin(), raws.end()) for
  // a std::vector<std::vector<uint16_t>> raws.
  template <class T>
  AlignResult execute(const std::vector<View<const T>>& frames) {
    return execute(checked_frames(frames));
  }

  // ptp_align_execute_frames_flags: one ptp_align_result per frame
  // (status, message, shift, crop, confidence) and, into `flags` when
  // given, its enum ptp_align_flag bits (why the result is in doubt; 0
  // where nothing is). A frame that cannot be aligned does not throw, only
  // the call's own errors (and a cancellation) do.
  std::vector<ptp_align_result> execute_frames(const std::vector<const void*>& frames,
                                               std::vector<uint32_t>* flags = nullptr) {
    ptp_align_plan* plan = handle();
    std::vector<ptp_align_result> results(frames.size());
    std::vector<uint32_t> frame_flags(frames.size());
    if (progress_) progress_->error = nullptr;
    const ptp_status status =
        ptp_align_execute_frames_flags(plan, frames.data(), static_cast<int64_t>(frames.size()),
                                       results.data(), nullptr, frame_flags.data());
    if (progress_ && progress_->error) std::rethrow_exception(progress_->error);
    check(status);
    if (flags != nullptr) *flags = std::move(frame_flags);
    return results;
  }
  template <class T>
  std::vector<ptp_align_result> execute_frames(const std::vector<const T*>& frames,
                                               std::vector<uint32_t>* flags = nullptr) {
    require_dtype<T>();
    return execute_frames(std::vector<const void*>(frames.begin(), frames.end()), flags);
  }
  // Checked as execute(std::vector<View<const T>>): a frame of the wrong
  // size fails the call (it is the caller's error, not the frame's).
  template <class T>
  std::vector<ptp_align_result> execute_frames(const std::vector<View<const T>>& frames,
                                               std::vector<uint32_t>* flags = nullptr) {
    return execute_frames(checked_frames(frames), flags);
  }

 private:
  template <class T>
  void require_dtype() const {
    static_assert(std::is_same<T, uint16_t>::value || std::is_same<T, float>::value,
                  "alignment frames are uint16_t or float");
    if (desc_.frame_dtype != dtype_of<T>::value)
      throw Error(PTP_ERROR_INVALID_ARGUMENT,
                  "PTP_ERROR_INVALID_ARGUMENT: the frames' element type does not match the "
                  "plan's frame_dtype");
  }
  template <class T>
  void require_frame(View<const T> frame, const std::string& name) const {
    require_dtype<T>();
    if (frame.size() != frame_size())
      detail::fail(PTP_ERROR_INVALID_SIZE,
                   name + " holds " + detail::count(frame.size()) + " elements; the plan's " +
                       std::to_string(desc_.height) + " x " + std::to_string(desc_.width) + " x " +
                       std::to_string(desc_.channels) + " frame is " + detail::count(frame_size()));
  }
  template <class T>
  void set_reference_checked(View<const T> frame) {
    require_frame(frame, "the reference frame");
    set_reference(static_cast<const void*>(frame.data()));
  }
  template <class T>
  std::vector<const void*> checked_frames(const std::vector<View<const T>>& frames) const {
    std::vector<const void*> pointers;
    pointers.reserve(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      require_frame(frames[i], "frames[" + std::to_string(i) + "]");
      pointers.push_back(frames[i].data());
    }
    return pointers;
  }
  ptp_align_plan* handle() const {
    if (!handle_) detail::moved_from("AlignPlan");
    return handle_.get();
  }
  // As ExtractPlan's: the deleter keeps the context alive until the plan
  // is destroyed.
  struct Destroy {
    std::shared_ptr<ptp_context> context;
    void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
  };
  using Handle = std::unique_ptr<ptp_align_plan, Destroy>;

  ptp_align_desc desc_{};
  int64_t planes_ = 0;
  Handle handle_;  // before progress_: a plan assigned over is destroyed before its callback state
  std::unique_ptr<detail::ProgressState> progress_;
};

// --------------------------------------- cross-correlation of one pair

// A pair-correlation descriptor with the library's defaults (phase
// normalisation, PTP_FFT_PLANNING_WISDOM, float32); set height and width
// (and dtype PTP_DTYPE_FLOAT64 for float64 images).
struct CorrelateDesc : ptp_correlate_desc {
  CorrelateDesc() { check(ptp_correlate_desc_init(this, sizeof(ptp_correlate_desc))); }
};

// What CorrelatePlan::execute returns, row-major: the cross-power half
// spectrum, H x (W / 2 + 1), and the correlation, H x W; Correlation for
// float32 plans, Correlation64 for float64 ones.
template <class Real>
struct BasicCorrelation {
  std::vector<std::complex<Real>> spectrum;
  std::vector<Real> correlation;
};
using Correlation = BasicCorrelation<float>;
using Correlation64 = BasicCorrelation<double>;

// The cross-power spectrum and cross-correlation of image pairs of one
// shape (ptp_correlate_*, scikit-image's definitions): float images for a
// plan of desc.dtype PTP_DTYPE_FLOAT32, double ones for PTP_DTYPE_FLOAT64
// (the other precision's execute throws Error with
// PTP_ERROR_INVALID_ARGUMENT). The View overloads check every size (Error
// with PTP_ERROR_INVALID_SIZE before the library reads anything). execute
// is const: threads may share a plan. The plan keeps its context alive.
// Move-only.
class CorrelatePlan {
 public:
  CorrelatePlan(const Context& context, const ptp_correlate_desc& desc) : desc_(desc) {
    const std::shared_ptr<ptp_context>& owner = detail::ContextAccess::shared(context);
    ptp_correlate_plan* raw = nullptr;
    check(ptp_correlate_plan_create(owner.get(), &desc_, &raw));
    handle_ = Handle(raw, Destroy{owner});
  }

  // Elements of one image (H x W) and of the half spectrum (H x (W/2 + 1)).
  size_t image_size() const noexcept {
    return static_cast<size_t>(desc_.height) * static_cast<size_t>(desc_.width);
  }
  size_t spectrum_size() const noexcept {
    return static_cast<size_t>(desc_.height) * static_cast<size_t>(desc_.width / 2 + 1);
  }
  const ptp_correlate_desc& desc() const noexcept { return desc_; }
  // The C handle (nullptr once moved from).
  ptp_correlate_plan* get() const noexcept { return handle_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // The C call as is: spectrum or correlation may be nullptr (not wanted).
  void execute(const float* reference, const float* moving, std::complex<float>* spectrum,
               float* correlation) const {
    check(ptp_correlate_execute(handle(), reference, moving, spectrum, correlation));
  }
  void execute(const double* reference, const double* moving, std::complex<double>* spectrum,
               double* correlation) const {
    check(ptp_correlate_execute_f64(handle(), reference, moving, spectrum, correlation));
  }
  // Checked sizes, into the caller's arrays; an empty output view is not
  // computed (not both).
  void execute(View<const float> reference, View<const float> moving,
               View<std::complex<float>> spectrum, View<float> correlation) const {
    execute_checked(reference, moving, spectrum, correlation);
  }
  void execute(View<const double> reference, View<const double> moving,
               View<std::complex<double>> spectrum, View<double> correlation) const {
    execute_checked(reference, moving, spectrum, correlation);
  }
  // Checked sizes; both outputs.
  Correlation execute(View<const float> reference, View<const float> moving) const {
    return execute_both(reference, moving);
  }
  Correlation64 execute(View<const double> reference, View<const double> moving) const {
    return execute_both(reference, moving);
  }

 private:
  template <class Real>
  void execute_checked(View<const Real> reference, View<const Real> moving,
                       View<std::complex<Real>> spectrum, View<Real> correlation) const {
    require(reference.size(), image_size(), "reference");
    require(moving.size(), image_size(), "moving");
    if (!spectrum.empty()) require(spectrum.size(), spectrum_size(), "spectrum");
    if (!correlation.empty()) require(correlation.size(), image_size(), "correlation");
    execute(reference.data(), moving.data(), spectrum.empty() ? nullptr : spectrum.data(),
            correlation.empty() ? nullptr : correlation.data());
  }
  template <class Real>
  BasicCorrelation<Real> execute_both(View<const Real> reference, View<const Real> moving) const {
    BasicCorrelation<Real> out;
    out.spectrum.resize(spectrum_size());
    out.correlation.resize(image_size());
    execute_checked(reference, moving, View<std::complex<Real>>(out.spectrum),
                    View<Real>(out.correlation));
    return out;
  }
  void require(size_t have, size_t want, const char* what) const {
    if (have != want)
      detail::fail(PTP_ERROR_INVALID_SIZE,
                   std::string(what) + " holds " + detail::count(have) + " elements; the plan's " +
                       std::to_string(desc_.height) + " x " + std::to_string(desc_.width) +
                       " images need " + detail::count(want));
  }
  ptp_correlate_plan* handle() const {
    if (!handle_) detail::moved_from("CorrelatePlan");
    return handle_.get();
  }
  struct Destroy {
    std::shared_ptr<ptp_context> context;
    void operator()(ptp_correlate_plan* p) const noexcept { ptp_correlate_plan_destroy(p); }
  };
  using Handle = std::unique_ptr<ptp_correlate_plan, Destroy>;

  ptp_correlate_desc desc_{};
  Handle handle_;
};

}  // namespace ptychopatch

#endif  // PTYCHOPATCH_HPP
