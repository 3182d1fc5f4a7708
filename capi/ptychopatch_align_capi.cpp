// The exported C entry points of scene alignment (ptychopatch.h, "CFA
// phase correlation per scene"). Thin noexcept shells over the core in
// src/align/align_plan.cpp, each inside impl::guarded, which maps every
// failure to a status and the thread-local message.
#include <memory>
#include <string>

#include "align/align_backend.hpp"
#include "align/align_plan.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "ptychopatch.h"

using ptychopatch::impl::guarded;
using ptychopatch::impl::require_non_null;

extern "C" {

PTP_API ptp_status ptp_align_desc_init(ptp_align_desc* desc, size_t struct_size) {
  return guarded("ptp_align_desc_init",
                 [&] { ptychopatch::impl::init_align_desc(desc, struct_size); });
}

PTP_API ptp_status ptp_fft_wisdom_export(const char* path) {
  return guarded("ptp_fft_wisdom_export", [&] { ptychopatch::impl::write_fft_wisdom(path); });
}

PTP_API ptp_status ptp_fft_wisdom_import(const char* path) {
  return guarded("ptp_fft_wisdom_import", [&] { ptychopatch::impl::read_fft_wisdom(path); });
}

PTP_API ptp_status ptp_align_plan_create(ptp_context* context, const ptp_align_desc* desc,
                                         ptp_align_plan** plan) {
  return guarded("ptp_align_plan_create", [&] {
    require_non_null(plan, "plan");
    require_non_null(context, "context");
    // On a GPU context the core asks the GPU factory first and falls back to
    // the CPU backend only when it answers PTP_ERROR_UNSUPPORTED (as the stub
    // in cuda/align_gpu.cu does until the cuFFT backend lands).
    *plan = ptychopatch::impl::create_align_plan(*context, desc).release();
  });
}

PTP_API ptp_status ptp_align_plan_destroy(ptp_align_plan* plan) {
  return guarded("ptp_align_plan_destroy", [&] {
    if (plan == nullptr) return;
    ptychopatch::impl::require_not_executing(*plan, "ptp_align_plan_destroy");
    delete plan;
  });
}

PTP_API ptp_status ptp_align_plan_num_planes(const ptp_align_plan* plan, int64_t* num_planes) {
  return guarded("ptp_align_plan_num_planes", [&] {
    require_non_null(plan, "plan");
    require_non_null(num_planes, "num_planes");
    *num_planes = plan->geometry.planes;
  });
}

PTP_API ptp_status ptp_align_plan_get_backend(const ptp_align_plan* plan, int32_t* backend,
                                              const char** message) {
  return guarded("ptp_align_plan_get_backend", [&] {
    require_non_null(plan, "plan");
    require_non_null(backend, "backend");
    require_non_null(message, "message");
    *backend = plan->runs_on;
    *message = plan->fallback_reason.c_str();
  });
}

PTP_API ptp_status ptp_align_set_progress(ptp_align_plan* plan, ptp_progress_fn callback,
                                          void* user_data) {
  return guarded("ptp_align_set_progress", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::require_not_executing(*plan, "ptp_align_set_progress");
    plan->progress = callback;
    plan->progress_user_data = callback != nullptr ? user_data : nullptr;
  });
}

PTP_API ptp_status ptp_align_set_reference(ptp_align_plan* plan, const void* frame) {
  return guarded("ptp_align_set_reference", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::align_set_reference(*plan, frame);
  });
}

PTP_API ptp_status ptp_align_execute(ptp_align_plan* plan, const void* const* frames,
                                     int64_t num_frames, double* shifts, double* plane_shifts,
                                     double* confidence) {
  return guarded("ptp_align_execute", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::align_execute(*plan, frames, num_frames, shifts, plane_shifts, confidence);
  });
}

PTP_API ptp_status ptp_align_execute_frames(ptp_align_plan* plan, const void* const* frames,
                                            int64_t num_frames, ptp_align_result* results,
                                            double* plane_shifts) {
  return guarded("ptp_align_execute_frames", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::align_execute_frames(*plan, frames, num_frames, results, plane_shifts,
                                            nullptr);
  });
}

PTP_API ptp_status ptp_align_execute_frames_flags(ptp_align_plan* plan, const void* const* frames,
                                                  int64_t num_frames, ptp_align_result* results,
                                                  double* plane_shifts, uint32_t* flags) {
  return guarded("ptp_align_execute_frames_flags", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::align_execute_frames(*plan, frames, num_frames, results, plane_shifts,
                                            flags);
  });
}

}  // extern "C"
