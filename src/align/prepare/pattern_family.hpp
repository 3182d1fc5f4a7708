// Whether a reference frame looks like a mosaic of the family (Bayer or
// X-Trans) its plan was given: a guard against the likely mistake of
// passing the other family's pattern.
//
// Why: crops are multiples of the given pattern's period (2 Bayer; 3 or 6
// X-Trans). An X-Trans frame aligned as Bayer, or a Bayer frame as
// X-Trans, still gets a shift, often the right one, and a confident crop
// that can break its real mosaic (a Bayer frame cropped by 3 swaps its red
// and blue rows): a silent wrong answer a new user's probe found.
//
// How: the mean of each of the 36 sites of the 6 x 6 period (which holds
// both families' periods) over the frame. Sites of one colour of the true
// pattern have nearly equal means (they sample the same scene), and
// sensors record the colours at different levels. Grouping the 36 means
// by the given pattern's colours (Bayer: by its four sites) leaves the
// colour differences between the groups; grouping them by the other
// family's leaves almost nothing there, since each of its colours holds
// the true colours in equal shares. So with W the spread of the means
// within the given grouping, W' within the other family's best grouping
// (X-Trans: Fujifilm's layout at each of its 36 phases) and T their whole
// spread: the given family is doubted where W >= 0.8 T and W' <= 0.5 T,
// and the colour differences stand clear of the means' noise (T^2 at
// least 16 times their mean squared standard error). On the robustness
// benchmark's scenes (64 to 1024 pixels, blur sigma 0 and 16, gains 16 and
// 1024, equal and camera-like channel levels) W / T was at most 0.38 for
// the right family and at least 0.99 for the wrong one. A grey scene (all
// colours at one level) or a frame under 36 pixels a side tells nothing
// and is not doubted.
//
// A single-channel plain image (no pattern given, PTP_CFA_NONE) is doubted
// where one family's grouping leaves at most 0.5 T of its site means'
// spread and that spread is a colour filter's (rms at least 5 % of their
// mean; a monochrome sensor's fixed pattern stays under it): a mosaic
// aligned with its pattern forgotten gets odd crops that break it.
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
