// The exported C entry points of the patch-geometry diagnostics
// (ptychopatch.h, "diagnostics of patch geometry"): thin noexcept shells
// over src/core/diagnostics, inside impl::guarded.
#include "core/desc_versions.hpp"
#include "core/diagnostics.hpp"
#include "core/error.hpp"
#include "core/extract_plan.hpp"
#include "ptychopatch.h"

using ptychopatch::impl::guarded;
using ptychopatch::impl::require_non_null;

extern "C" {

PTP_API ptp_status ptp_extract_diagnostics_init(ptp_extract_diagnostics* diagnostics,
                                                size_t struct_size) {
  return guarded("ptp_extract_diagnostics_init", [&] {
    ptychopatch::impl::init_desc(diagnostics, "diagnostics", struct_size,
                                 ptychopatch::impl::default_diagnostics);
  });
}

PTP_API ptp_status ptp_extract_plan_get_diagnostics(const ptp_extract_plan* plan,
                                                    ptp_extract_diagnostics* diagnostics) {
  return guarded("ptp_extract_plan_get_diagnostics", [&] {
    require_non_null(diagnostics, "diagnostics");
    ptychopatch::impl::require_known_struct_size(
        "diagnostics->struct_size", diagnostics->struct_size, sizeof(ptp_extract_diagnostics));
    // Copied first: filling the struct must not depend on what it held.
    const ptychopatch::impl::CallDiagnostics found =
        plan != nullptr ? plan->diagnostics : ptychopatch::impl::thread_diagnostics();
    ptychopatch::impl::fill_diagnostics(found, diagnostics);
  });
}

}  // extern "C"
