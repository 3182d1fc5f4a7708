// Whether a patch reads the object at all: the geometry behind the
// "patches entirely outside the object" diagnostics (ptp_extract_diagnostics),
// written once next to the sampling formula it is derived from, for every
// path that counts (extraction with (x, y) pairs or the legacy form,
// reassembly, grouped patches).
//
// Output pixel pos (0 <= pos < N) of a patch at offset o samples, along one
// axis, the padded-frame corners i0 = floor(fl32(pos + o)) and i0 + 1
// (math::axis_tap), and the object occupies padded indices [h, extent + h)
// (math::inside). A corner is read whatever its bilinear weight (a zero
// weight still multiplies the value, so a NaN there propagates), so a patch
// reads the object iff some pixel has a corner inside it along both axes;
// the two axes are independent (pixel (y, x) has corners (y0 + a, x0 + b)),
// so that is "some pos reaches the object along x" and "some pos reaches it
// along y". Along one axis, pos reaches the object iff
//     h - 1 <= i0(pos) <= extent + h - 1.
// i0(pos) is non-decreasing in pos (float rounding, floor and the clamp of
// axis_tap are all monotone), so the first pos with i0 >= h - 1 decides:
// the axis reaches the object iff that pos exists and its i0 <= extent + h - 1.
// Both ends are checked first (O(1) for every patch that does not span the
// whole object); a patch wider than the object falls back to a bisection
// (at most 24 steps, N <= 2^24). Exact for every finite offset, including
// offsets so large that consecutive pixels share one float32 sample.
#pragma once

#include <cstdint>

#include "math/patch_sampling.hpp"

namespace ptychopatch::math {

// True when some output pixel pos in [0, n) of a patch at `offset` reads,
// along this axis, a corner inside an object of `extent` pixels padded by
// `half` (i.e. i0(pos) or i0(pos) + 1 lies in [half, extent + half)).
PTP_HD bool axis_reaches_object(float offset, int64_t n, int64_t half, int64_t extent) {
  const int64_t lowest = half - 1;            // i0 whose upper corner is object pixel 0
  const int64_t highest = extent + half - 1;  // i0 that is the last object pixel
  const int64_t first = axis_tap(0, offset).index0;
  if (first > highest) return false;
  if (first >= lowest) return true;
  const int64_t last = axis_tap(n - 1, offset).index0;
  if (last < lowest) return false;
  if (last <= highest) return true;
  // i0(0) < lowest and i0(n - 1) > highest: bisect for the first pos with
  // i0(pos) >= lowest (invariant: i0(below) < lowest <= i0(above)).
  int64_t below = 0;
  int64_t above = n - 1;
  while (above - below > 1) {
    const int64_t middle = below + (above - below) / 2;
    if (axis_tap(middle, offset).index0 >= lowest)
      above = middle;
    else
      below = middle;
  }
  return axis_tap(above, offset).index0 <= highest;
}

// True when the N x N patch at offset (ox, oy) (float32, as the formula uses
// it) reads at least one pixel of the height x width object; false when all
// its samples are the zero padding ("entirely outside the object").
PTP_HD bool patch_reaches_object(float ox, float oy, int64_t n, int64_t half, int64_t height,
                                 int64_t width) {
  return axis_reaches_object(ox, n, half, width) && axis_reaches_object(oy, n, half, height);
}

}  // namespace ptychopatch::math
