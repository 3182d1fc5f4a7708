// The geometry of a one-channel mosaic frame, as the internal tests of the
// host-side alignment steps (LumaPolish, GlobalSearch) build it by hand.
#pragma once

#include <cstdint>

#include "align/align_backend.hpp"

namespace test_support {

inline ptychopatch::impl::AlignGeometry mosaic_geometry(int64_t h, int64_t w, int64_t period,
                                                        ptp_dtype dtype) {
  ptychopatch::impl::AlignGeometry g{};
  g.height = h;
  g.width = w;
  g.channels = 1;
  g.period = period;
  g.frame_dtype = dtype;
  if (period == 2) g.site_colours = {0, 1, 1, 2};  // RGGB
  return g;
}

}  // namespace test_support
