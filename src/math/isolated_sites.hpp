// Isolated sites: hot, stuck and dead pixels of colour-mosaic frames
// (docs/semantics.md, "Isolated sites").
//
// Why: a sensor's defective pixels sit at the same place in every frame
// the sensor takes, the GT's included. Each is a spike of up to the full
// scale (a hot pixel at 65535 in a scene whose brightest pixel is a few
// hundred) that does not move with the content, and its correlation with
// itself is a sharp peak at shift (0, 0): one of them, shared by the GT
// and a frame of a dim scene, made the default choose (0, 0) over the true
// (-4, 6) at confidence 0.96. Partial whitening, which raises the fine
// scales, makes such spikes weigh the more.
//
// What (src/align/prepare/isolated_sites.hpp says which sites are taken out, and
// where): a site that stands out from its eight neighbours in its plane
// (the same colour-pattern position, P rows and columns away; the plane
// taken circularly, as the transforms see it) by more than twice those
// neighbours' spread among themselves is isolated, and comes back to their
// range:
//   v > hi + 2 (hi - lo)  ->  hi        v < lo - 2 (hi - lo)  ->  lo
// with lo and hi the smallest and the largest neighbour. A site within its
// neighbours' range, or out of it by less than that (noise, and content
// that varies across the neighbourhood), is not: of Gaussian noise, 0.03 %
// of the sites are (with one spread instead of two, 0.5 %, which took a
// noisy blurred test frame's refined shift 0.19 pixel from the truth, past
// its test's 0.15). Exact in the frame's own type: uint16 values are
// compared in 32-bit integers, float32 values in double.
#pragma once

#include <cstdint>

#include "math/host_device.hpp"

namespace ptychopatch::math {

// Whether a site v whose same-position neighbours span [lo, hi] is isolated:
// without branches, so that a row of sites vectorises.
PTP_HD bool is_isolated_site(uint16_t v, uint16_t lo, uint16_t hi) {
  const int32_t spread = 2 * (static_cast<int32_t>(hi) - static_cast<int32_t>(lo));
  return (static_cast<int32_t>(v) > static_cast<int32_t>(hi) + spread) |
         (static_cast<int32_t>(v) < static_cast<int32_t>(lo) - spread);
}

PTP_HD bool is_isolated_site(float v, float lo, float hi) {
  const double spread = 2.0 * (static_cast<double>(hi) - static_cast<double>(lo));
  return (static_cast<double>(v) > static_cast<double>(hi) + spread) |
         (static_cast<double>(v) < static_cast<double>(lo) - spread);
}

// The value of such a site: v, or the end of [lo, hi] it lies beyond when isolated.
template <class T>
PTP_HD T isolated_site_value(T v, T lo, T hi) {
  if (!is_isolated_site(v, lo, hi)) return v;
  return v > hi ? hi : lo;
}

}  // namespace ptychopatch::math
