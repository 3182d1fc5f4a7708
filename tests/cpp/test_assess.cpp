// The assessment stage (src/align/assess/assess.hpp) on its own: the crop
// probability against the documented rule written out with std::erf
// (docs/performance.md, "Confidence: the crop probability"), and the bound
// rule of at_shift_bound.
//
// Oracle: the content's position on each axis is normal about the polish's
// shift with its variance; the crop is right on an axis when the content
// lies within half a period plus a quarter pixel of it; the axes are
// independent, so the probability is the product of the two.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "align/assess/assess.hpp"
#include "mosaic_geometry.hpp"

namespace {

using ptychopatch::impl::AlignGeometry;
using ptychopatch::impl::at_shift_bound;
using ptychopatch::impl::crop_probability;

// P(|content - crop| <= P / 2 + 1/4) on one axis, content ~ N(shift, variance).
double axis_probability(int64_t period, double crop, double shift, double variance) {
  const double half = 0.5 * static_cast<double>(period) + 0.25;
  const double sd = std::sqrt(variance);
  const auto phi = [](double z) { return 0.5 * (1.0 + std::erf(z / std::sqrt(2.0))); };
  return phi((crop + half - shift) / sd) - phi((crop - half - shift) / sd);
}

TEST(Assess, CropProbabilityIsTheDocumentedNormalProbability) {
  for (const int64_t period : {2, 6}) {
    const AlignGeometry g = test_support::mosaic_geometry(96, 96, period, PTP_DTYPE_FLOAT32);
    const int64_t crop[2] = {4, -6};
    for (const double sy : {4.0, 4.6, 5.2, 3.1})
      for (const double sx : {-6.0, -6.9, -4.4})
        for (const double variance : {0.01, 0.2, 1.5}) {
          const double shift[2] = {sy, sx}, v[2] = {variance, 2.0 * variance};
          const double want = axis_probability(period, 4.0, sy, variance) *
                              axis_probability(period, -6.0, sx, 2.0 * variance);
          EXPECT_NEAR(crop_probability(g, crop, shift, v), want, 1e-12)
              << "P " << period << " shift (" << sy << ", " << sx << ") variance " << variance;
        }
  }
}

// The quarter-pixel tolerance: content exactly between two Bayer crops (an
// odd shift) is right for either, so a sharp estimate there scores near 1,
// not 0.5; a quarter pixel further it scores 0.5.
TEST(Assess, AnOddShiftIsRightForBothNeighbouringCrops) {
  const AlignGeometry g = test_support::mosaic_geometry(96, 96, 2, PTP_DTYPE_FLOAT32);
  const double v[2] = {1e-4, 1e-4};
  const int64_t low[2] = {2, 0}, high[2] = {4, 0};
  const double odd[2] = {3.0, 0.0}, edge[2] = {3.25, 0.0};
  EXPECT_GT(crop_probability(g, low, odd, v), 0.99);
  EXPECT_GT(crop_probability(g, high, odd, v), 0.99);
  EXPECT_NEAR(crop_probability(g, low, edge, v), 0.5, 1e-9);
  // An axis without detail (infinite variance) gives the crop no chance.
  const double free[2] = {HUGE_VAL, 1e-4};
  EXPECT_EQ(crop_probability(g, low, odd, free), 0.0);
}

// A shift lies at max_shift's bound when its integer peak was the last the
// bounded search allowed: within half a search unit of the bound.
TEST(Assess, AtTheBoundIsWithinHalfAUnitOfIt) {
  AlignGeometry g = test_support::mosaic_geometry(96, 96, 2, PTP_DTYPE_FLOAT32);
  g.luma = true;
  g.luma_stride = 2;  // a search unit of 2 sensor pixels
  g.max_shift_rows = 3;
  g.max_shift_cols = -1;  // unbounded
  EXPECT_FALSE(at_shift_bound(g, 4.9, 1000.0));
  EXPECT_TRUE(at_shift_bound(g, 5.1, 0.0));
  EXPECT_TRUE(at_shift_bound(g, -5.1, 0.0));
  EXPECT_FALSE(at_shift_bound(g, 0.0, -1000.0));
}

}  // namespace
