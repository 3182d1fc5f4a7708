// The column taps of one patch, shared by the CPU extraction and reassembly
// kernels: where each patch column samples along x, and whether the
// patch's rows can take the contiguous (interior) row kernels.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_sampling.hpp"

namespace ptychopatch::impl::cpu {

// Fills index[x] (N entries) and lane_w0 / lane_w1 (N * lanes: each column
// weight once per lane) for a patch at x offset `offset_x`. Returns true
// when the columns are interior: consecutive, with every corner column
// inside the object, so each corner row of the patch is one contiguous run.
inline bool column_taps(const ExtractGeometry& g, float offset_x, int64_t* index, float* lane_w0,
                        float* lane_w1) {
  const int64_t n = g.n;
  const int lanes = g.lanes;
  bool consecutive = true;
  for (int64_t x = 0; x < n; ++x) {
    const math::AxisTap t = math::axis_tap(x, offset_x);
    index[x] = t.index0;
    for (int lane = 0; lane < lanes; ++lane) {
      lane_w0[x * lanes + lane] = t.w0;
      lane_w1[x * lanes + lane] = t.w1;
    }
    // Rounding of fl32(x + offset) can, for extreme offsets, repeat or
    // skip a column; such patches take the general path.
    if (x > 0 && index[x] != index[x - 1] + 1) consecutive = false;
  }
  return consecutive && math::inside(index[0], g.half, g.width) &&
         math::inside(index[n - 1] + 1, g.half, g.width);
}

}  // namespace ptychopatch::impl::cpu
