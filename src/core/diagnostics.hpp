// Diagnostics of extraction and reassembly calls (ptp_extract_diagnostics):
// how many patches fall entirely outside the object. They never change a
// result or a status; they let a caller notice offsets in the wrong order
// ((y, x) instead of (x, y)) or in the wrong frame, which otherwise give
// all-zero patches (or an empty canvas) without any error.
//
// Counted on the calling thread before the backend runs, for host-memory
// offsets only (O(num_patches), math/patch_coverage.hpp); device-memory
// offsets are not read back (that would synchronise), and are reported as
// not counted. A call records its diagnostics on its plan and in a
// thread-local slot (the "most recent call on this thread", for one-shot
// calls) once it has succeeded; a failed call leaves both describing no
// call.
#pragma once

#include <cstdint>

#include "core/call_diagnostics.hpp"
#include "core/extract_plan.hpp"
#include "math/patch_coverage.hpp"
#include "math/patch_indexing.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

// Counts the patches of `offsets` (host memory, any Offsets of
// math/patch_indexing.hpp) that read no object pixel.
template <class Offsets>
void count_outside(const ExtractGeometry& g, const Offsets& offsets, int64_t num_patches,
                   CallDiagnostics& found) {
  found.outside = 0;
  for (int64_t p = 0; p < num_patches; ++p) {
    float x = 0.0f;
    float y = 0.0f;
    offsets.get(p, x, y);
    if (math::patch_reaches_object(x, y, g.n, g.half, g.height, g.width)) continue;
    if (found.outside++ == 0) {
      found.first_outside = p;
      found.first_x = x;
      found.first_y = y;
    }
  }
}

// The diagnostics of a call on `g` with these offsets (counted for host
// memory, else marked not counted). `call` is PTP_DIAGNOSED_EXTRACT or
// PTP_DIAGNOSED_REASSEMBLE.
CallDiagnostics diagnose(const ExtractGeometry& g, int32_t call, const OffsetArrays& offsets,
                         int64_t num_patches);

// Forgets the diagnostics of the plan and of this thread (a call begins).
void begin_diagnostics(const ptp_extract_plan& plan) noexcept;
// The same as the first step of every extraction or reassembly entry point
// (`plan` where it has one and it is not null), so that a call that fails
// before it reaches its plan (a NULL plan, a bad descriptor or count)
// reports no call rather than the previous call's.
void begin_diagnostics(const ptp_extract_plan* plan) noexcept;

// Records a finished call's diagnostics on its plan and for this thread.
void record_diagnostics(const ptp_extract_plan& plan, const CallDiagnostics& found) noexcept;

// The diagnostics of the most recent extraction or reassembly call made on
// this thread (none yet, or a failed one: call == PTP_DIAGNOSED_NONE).
const CallDiagnostics& thread_diagnostics() noexcept;

// Fills the public struct (whose struct_size has been checked) from `found`,
// message included.
void fill_diagnostics(const CallDiagnostics& found, ptp_extract_diagnostics* out);

void default_diagnostics(ptp_extract_diagnostics* out);

}  // namespace ptychopatch::impl
