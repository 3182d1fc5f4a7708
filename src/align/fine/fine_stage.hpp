// The fine stage (PTP_ALIGN_VERIFY_REFINE; docs/semantics.md, "The fine stage"): for the
// frames whose coarse result the assessment doubts, the least-squares polish (luma_polish.hpp)
// and the search over every shift (global_search.hpp), held per slot by fine_fits.hpp; every
// result goes through the assessment (assess/assess.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "align/frame_outcome.hpp"

namespace ptychopatch::impl {

// REFINE's fine stage for the frames `arrived` (those run_frames took, in order). First the
// gate of every frame, side by side: the frames in as many runs as threads, run g in the
// fits' slot g whichever thread takes it, so what each slot holds afterwards does not depend
// on thread timing. Then, in frame order, the thorough fit of the frames the gate doubts.
// `finished(i)` is called after frame i for every frame taken, one without a shift
// (PTP_ERROR_NO_INFORMATION) too, as run_frames reports them; false stops the call: the later
// frames are then PTP_ERROR_CANCELLED, and run_fine_stage returns false.
bool run_fine_stage(ptp_align_plan& plan, const void* const* frames,
                    std::vector<FrameOutcome>& outcomes, const std::vector<int64_t>& arrived,
                    const std::function<bool(int64_t)>& finished);

}  // namespace ptychopatch::impl
