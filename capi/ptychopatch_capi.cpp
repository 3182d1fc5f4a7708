// The exported C entry points. Each one is a thin, noexcept shell: argument
// plumbing into the C++ core inside impl::guarded, which maps every failure
// to a status and the thread-local message.
#include <memory>
#include <string>

#include "core/context.hpp"
#include "core/desc_versions.hpp"
#include "core/diagnostics.hpp"
#include "core/error.hpp"
#include "core/extract_plan.hpp"
#include "core/gpu_runtime.hpp"
#include "core/offsets_gradient.hpp"
#include "core/reassemble.hpp"
#include "ptychopatch.h"

using ptychopatch::impl::fail;
using ptychopatch::impl::guarded;
using ptychopatch::impl::require_non_null;

#define PTP_STRINGIFY_(x) #x
#define PTP_STRINGIFY(x) PTP_STRINGIFY_(x)
#define PTP_VERSION_LITERAL        \
  PTP_STRINGIFY(PTP_VERSION_MAJOR) \
  "." PTP_STRINGIFY(PTP_VERSION_MINOR) "." PTP_STRINGIFY(PTP_VERSION_PATCH)

namespace {

ptp_status invalid_output(const char* function, const char* argument) {
  return guarded(function, [&] { require_non_null(nullptr, argument); });
}

}  // namespace

extern "C" {

PTP_API const char* ptp_status_name(ptp_status status) {
  switch (status) {
    case PTP_SUCCESS:
      return "PTP_SUCCESS";
    case PTP_ERROR_INVALID_ARGUMENT:
      return "PTP_ERROR_INVALID_ARGUMENT";
    case PTP_ERROR_INVALID_SIZE:
      return "PTP_ERROR_INVALID_SIZE";
    case PTP_ERROR_SIZE_OVERFLOW:
      return "PTP_ERROR_SIZE_OVERFLOW";
    case PTP_ERROR_NON_FINITE:
      return "PTP_ERROR_NON_FINITE";
    case PTP_ERROR_BUFFER_TOO_SMALL:
      return "PTP_ERROR_BUFFER_TOO_SMALL";
    case PTP_ERROR_OUT_OF_MEMORY:
      return "PTP_ERROR_OUT_OF_MEMORY";
    case PTP_ERROR_BACKEND_UNAVAILABLE:
      return "PTP_ERROR_BACKEND_UNAVAILABLE";
    case PTP_ERROR_UNSUPPORTED:
      return "PTP_ERROR_UNSUPPORTED";
    case PTP_ERROR_CUDA:
      return "PTP_ERROR_CUDA";
    case PTP_ERROR_CANCELLED:
      return "PTP_ERROR_CANCELLED";
    case PTP_ERROR_NO_INFORMATION:
      return "PTP_ERROR_NO_INFORMATION";
    case PTP_ERROR_INTERNAL:
      return "PTP_ERROR_INTERNAL";
  }
  return "PTP_UNKNOWN_STATUS";
}

PTP_API const char* ptp_last_error_message(void) {
  return ptychopatch::impl::last_error();
}

PTP_API ptp_status ptp_get_version(int32_t* major, int32_t* minor, int32_t* patch) {
  return guarded("ptp_get_version", [&] {
    require_non_null(major, "major");
    require_non_null(minor, "minor");
    require_non_null(patch, "patch");
    *major = PTP_VERSION_MAJOR;
    *minor = PTP_VERSION_MINOR;
    *patch = PTP_VERSION_PATCH;
  });
}

PTP_API const char* ptp_version_string(void) {
  // Literals only: this function returns no status, so it hands out no
  // allocated text. "+cuda" only where the GPU backend can run; the reason
  // it cannot is ptp_context_get_backend_reason's.
  if (!ptychopatch::impl::gpu::built_with_cuda()) return PTP_VERSION_LITERAL "+cpu";
  try {
    if (ptychopatch::impl::gpu::check_device(0).reason == PTP_BACKEND_REASON_GPU)
      return PTP_VERSION_LITERAL "+cuda";
  } catch (...) {
    // out of memory for the message: no claim that the GPU works
  }
  return PTP_VERSION_LITERAL "+cuda (GPU backend unavailable)";
}

PTP_API ptp_status ptp_cuda_device_count(int32_t* count) {
  return guarded("ptp_cuda_device_count", [&] {
    require_non_null(count, "count");
    *count = ptychopatch::impl::gpu::device_count();
  });
}

PTP_API ptp_status ptp_context_options_init(ptp_context_options* options, size_t struct_size) {
  return guarded("ptp_context_options_init", [&] {
    ptychopatch::impl::init_desc(options, "options", struct_size,
                                 ptychopatch::impl::default_context_options);
  });
}

PTP_API ptp_status ptp_context_create(const ptp_context_options* options, ptp_context** context) {
  if (context == nullptr) return invalid_output("ptp_context_create", "context");
  return guarded("ptp_context_create", [&] {
    auto made = std::make_unique<ptp_context>(ptychopatch::impl::make_context(options));
    *context = made.release();
  });
}

PTP_API ptp_status ptp_context_destroy(ptp_context* context) {
  delete context;
  ptychopatch::impl::clear_last_error();
  return PTP_SUCCESS;
}

PTP_API ptp_status ptp_context_get_backend(const ptp_context* context, int32_t* backend) {
  return ptychopatch::impl::guarded_get("ptp_context_get_backend", context, "context", backend,
                                        "backend", [](const ptp_context& c) { return c.backend; });
}

PTP_API ptp_status ptp_context_get_backend_reason(const ptp_context* context, int32_t* reason,
                                                  const char** message) {
  return guarded("ptp_context_get_backend_reason", [&] {
    require_non_null(reason, "reason");
    require_non_null(message, "message");
    const ptp_context& resolved =
        context != nullptr ? *context : ptychopatch::impl::shared_default_context();
    *reason = resolved.backend_reason;
    *message = resolved.backend_message.c_str();
  });
}

PTP_API ptp_status ptp_context_get_num_threads(const ptp_context* context, int32_t* num_threads) {
  return ptychopatch::impl::guarded_get("ptp_context_get_num_threads", context, "context",
                                        num_threads, "num_threads",
                                        [](const ptp_context& c) { return c.num_threads; });
}

PTP_API ptp_status ptp_context_set_stream(ptp_context* context, void* cuda_stream) {
  return guarded("ptp_context_set_stream", [&] {
    require_non_null(context, "context");
    if (context->backend != PTP_BACKEND_GPU && cuda_stream != nullptr)
      fail(PTP_ERROR_UNSUPPORTED,
           "argument 'cuda_stream': a CPU context has no CUDA stream; only NULL is accepted");
    context->stream = cuda_stream;
  });
}

PTP_API ptp_status ptp_context_get_stream(const ptp_context* context, void** cuda_stream) {
  return ptychopatch::impl::guarded_get("ptp_context_get_stream", context, "context", cuda_stream,
                                        "cuda_stream",
                                        [](const ptp_context& c) { return c.stream; });
}

PTP_API ptp_status ptp_context_synchronize(ptp_context* context) {
  return guarded("ptp_context_synchronize", [&] {
    require_non_null(context, "context");
    if (context->backend == PTP_BACKEND_GPU) ptychopatch::impl::gpu::synchronize(*context);
  });
}

PTP_API ptp_status ptp_extract_desc_init(ptp_extract_desc* desc, size_t struct_size) {
  return guarded("ptp_extract_desc_init", [&] {
    ptychopatch::impl::init_desc(desc, "desc", struct_size,
                                 ptychopatch::impl::default_extract_desc);
  });
}

PTP_API ptp_status ptp_extract_output_bytes(const ptp_extract_desc* desc, int64_t num_patches,
                                            size_t* bytes) {
  return guarded("ptp_extract_output_bytes", [&] {
    require_non_null(bytes, "bytes");
    const auto geometry = ptychopatch::impl::validate_extract_desc(desc);
    if (num_patches < 0)
      fail(PTP_ERROR_INVALID_SIZE,
           "argument 'num_patches' is " + std::to_string(num_patches) + ", must be >= 0");
    *bytes = ptychopatch::impl::extract_output_bytes(geometry, num_patches);
  });
}

PTP_API ptp_status ptp_extract_plan_create(ptp_context* context, const ptp_extract_desc* desc,
                                           ptp_extract_plan** plan) {
  ptp_status status = PTP_SUCCESS;
  if (plan == nullptr) {
    status = invalid_output("ptp_extract_plan_create", "plan");
  } else {
    status = guarded("ptp_extract_plan_create", [&] {
      require_non_null(context, "context");
      const auto geometry = ptychopatch::impl::validate_extract_desc(desc);
      *plan = new ptp_extract_plan{context, geometry};
    });
  }
  // A failed creation is the first step of an extraction that failed: the
  // thread's diagnostics then describe no call (a plan made leaves them).
  if (status != PTP_SUCCESS) ptychopatch::impl::begin_diagnostics(nullptr);
  return status;
}

PTP_API ptp_status ptp_extract_plan_destroy(ptp_extract_plan* plan) {
  delete plan;
  ptychopatch::impl::clear_last_error();
  return PTP_SUCCESS;
}

PTP_API ptp_status ptp_extract_set_progress(ptp_extract_plan* plan, ptp_progress_fn callback,
                                            void* user_data) {
  return guarded("ptp_extract_set_progress", [&] {
    require_non_null(plan, "plan");
    plan->progress.fn = callback;
    plan->progress.user_data = callback != nullptr ? user_data : nullptr;
  });
}

PTP_API ptp_status ptp_extract_execute(ptp_extract_plan* plan, const void* object,
                                       const void* offsets, int64_t num_patches, void* patches,
                                       size_t patches_bytes) {
  return guarded("ptp_extract_execute", [&] {
    ptychopatch::impl::begin_diagnostics(plan);
    require_non_null(plan, "plan");
    ptychopatch::impl::OffsetArrays arrays;
    arrays.pairs = offsets;
    ptychopatch::impl::execute_extract(*plan, object, arrays, num_patches, patches, patches_bytes);
  });
}

PTP_API ptp_status ptp_extract_execute_legacy(ptp_extract_plan* plan, const void* object,
                                              const void* global_offsets, const void* local_offsets,
                                              int64_t num_groups, void* patches,
                                              size_t patches_bytes) {
  return guarded("ptp_extract_execute_legacy", [&] {
    ptychopatch::impl::begin_diagnostics(plan);
    require_non_null(plan, "plan");
    if (num_groups < 0)
      fail(PTP_ERROR_INVALID_SIZE,
           "argument 'num_groups' is " + std::to_string(num_groups) + ", must be >= 0");
    const int64_t num_patches = ptychopatch::impl::checked_mul(
        num_groups, plan->geometry.group_size, "num_groups * group_size");
    ptychopatch::impl::OffsetArrays arrays;
    arrays.legacy = true;
    arrays.global = global_offsets;
    arrays.local = local_offsets;
    ptychopatch::impl::execute_extract(*plan, object, arrays, num_patches, patches, patches_bytes);
  });
}

PTP_API ptp_status ptp_extract_patches(ptp_context* context, const ptp_extract_desc* desc,
                                       const void* object, const void* offsets, int64_t num_patches,
                                       void* patches, size_t patches_bytes) {
  return guarded("ptp_extract_patches", [&] {
    ptychopatch::impl::begin_diagnostics(nullptr);
    if (context == nullptr) context = &ptychopatch::impl::shared_default_context();
    const ptp_extract_plan plan{context, ptychopatch::impl::validate_extract_desc(desc)};
    ptychopatch::impl::OffsetArrays arrays;
    arrays.pairs = offsets;
    ptychopatch::impl::execute_extract(plan, object, arrays, num_patches, patches, patches_bytes);
  });
}

PTP_API ptp_status ptp_reassemble_execute(ptp_extract_plan* plan, const void* patches,
                                          const void* offsets, int64_t num_patches, void* canvas,
                                          size_t canvas_bytes, float* weights,
                                          size_t weights_bytes) {
  return guarded("ptp_reassemble_execute", [&] {
    ptychopatch::impl::begin_diagnostics(plan);
    require_non_null(plan, "plan");
    ptychopatch::impl::execute_reassemble(*plan, patches, offsets, num_patches, canvas,
                                          canvas_bytes, weights, weights_bytes);
  });
}

PTP_API ptp_status ptp_reassemble_patches(ptp_context* context, const ptp_extract_desc* desc,
                                          const void* patches, const void* offsets,
                                          int64_t num_patches, void* canvas, size_t canvas_bytes,
                                          float* weights, size_t weights_bytes) {
  return guarded("ptp_reassemble_patches", [&] {
    ptychopatch::impl::begin_diagnostics(nullptr);
    if (context == nullptr) context = &ptychopatch::impl::shared_default_context();
    const ptp_extract_plan plan{context, ptychopatch::impl::validate_extract_desc(desc)};
    ptychopatch::impl::execute_reassemble(plan, patches, offsets, num_patches, canvas, canvas_bytes,
                                          weights, weights_bytes);
  });
}

PTP_API ptp_status ptp_extract_offsets_gradient(ptp_extract_plan* plan, const void* object,
                                                const void* offsets, int64_t num_patches,
                                                const void* grad_patches, size_t grad_patches_bytes,
                                                void* grad_offsets, size_t grad_offsets_bytes) {
  return guarded("ptp_extract_offsets_gradient", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::execute_offsets_gradient(*plan, object, offsets, num_patches, grad_patches,
                                                grad_patches_bytes, grad_offsets,
                                                grad_offsets_bytes);
  });
}

}  // extern "C"
