// The exported C entry points of the cross-correlation of one pair of
// images (ptychopatch.h, "cross-correlation of two images"). Thin noexcept
// shells over src/correlate/correlate_plan.cpp, each inside impl::guarded.
#include "core/context.hpp"
#include "core/error.hpp"
#include "correlate/correlate_plan.hpp"
#include "ptychopatch.h"

using ptychopatch::impl::guarded;
using ptychopatch::impl::require_non_null;

extern "C" {

PTP_API ptp_status ptp_correlate_desc_init(ptp_correlate_desc* desc, size_t struct_size) {
  return guarded("ptp_correlate_desc_init",
                 [&] { ptychopatch::impl::init_correlate_desc(desc, struct_size); });
}

PTP_API ptp_status ptp_correlate_plan_create(ptp_context* context, const ptp_correlate_desc* desc,
                                             ptp_correlate_plan** plan) {
  return guarded("ptp_correlate_plan_create", [&] {
    require_non_null(plan, "plan");
    require_non_null(context, "context");
    *plan = ptychopatch::impl::create_correlate_plan(desc, context->num_threads);
  });
}

PTP_API ptp_status ptp_correlate_plan_destroy(ptp_correlate_plan* plan) {
  return guarded("ptp_correlate_plan_destroy", [&] { delete plan; });
}

PTP_API ptp_status ptp_correlate_execute(const ptp_correlate_plan* plan, const float* reference,
                                         const float* moving, void* spectrum, float* correlation) {
  return guarded("ptp_correlate_execute", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::execute_correlate_plan(*plan, reference, moving, spectrum, correlation);
  });
}

PTP_API ptp_status ptp_correlate_execute_f64(const ptp_correlate_plan* plan,
                                             const double* reference, const double* moving,
                                             void* spectrum, double* correlation) {
  return guarded("ptp_correlate_execute_f64", [&] {
    require_non_null(plan, "plan");
    ptychopatch::impl::execute_correlate_plan(*plan, reference, moving, spectrum, correlation);
  });
}

}  // extern "C"
