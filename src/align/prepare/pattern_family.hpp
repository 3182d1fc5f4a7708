// Whether a reference frame looks like a mosaic of the family (Bayer or X-Trans) its
// plan was given: crops are multiples of the given period, so a frame aligned under the
// other family's pattern gets a confident crop that can break its real mosaic.
// How: the means of the 36 sites of the 6 x 6 period, grouped by the given pattern
// (spread W within its groups) and by the other family's best grouping (W'), against
// their whole spread T: doubted where W >= 0.8 T, W' <= 0.5 T and T stands clear of the
// means' noise. A single-channel plain image (PTP_CFA_NONE) is doubted where a family's
// grouping explains its site means and their spread is a colour filter's. A grey scene
// or a frame under 36 pixels a side is not doubted. The full rule and its measurements:
// docs/semantics.md, "A pattern of the other family".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// The site means' verdict: an empty string where the frame fits the
// geometry's family (or, with no pattern, looks like no mosaic) or cannot
// tell (several channels, RawNIND's method, frames under 36 pixels a
// side), else a note naming the family it looks like.
std::string pattern_family_doubt(const AlignGeometry& g, const void* frame, int threads);

namespace pattern_family_detail {

// The verdict on 36 site means (row-major, 6 x 6, the frame's own phase)
// and their mean squared standard error, for a frame given as `period` (1:
// no pattern, 2 or 6) with site colours `colours` (period x period, 0 red,
// 1 green, 2 blue; empty for period 1). Exposed for the tests.
std::string verdict(const double (&means)[36], double mean_squared_error, int64_t period,
                    const std::vector<int32_t>& colours);

}  // namespace pattern_family_detail

}  // namespace ptychopatch::impl
