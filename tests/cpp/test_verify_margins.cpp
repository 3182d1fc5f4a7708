// The margins of the closed-loop check (align/fine/align_verify.hpp) against the
// rule of ptp_align_desc::verify's documentation, written with floating
// point: q = P * max(1, ceil(floor(min(H, W) / P) / 64)), margin =
// ceil(|crop| / q) * q.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "align/fine/align_verify.hpp"

namespace {

using ptychopatch::impl::verify_margin;
using ptychopatch::impl::verify_margin_quantum;

TEST(VerifyMargins, QuantumFollowsTheSmallerSide) {
  for (int64_t period : {1, 2, 6})
    for (int64_t h : {6, 64, 65, 128, 129, 252, 336, 1000, 4000, 4024, 6048})
      for (int64_t w : {6, 130, 252, 6000, 8000}) {
        const double side = std::floor(double(std::min(h, w)) / double(period));
        const auto expected = int64_t(double(period) * std::max(1.0, std::ceil(side / 64.0)));
        EXPECT_EQ(verify_margin_quantum(h, w, period), expected)
            << h << " x " << w << " " << period;
      }
  EXPECT_EQ(verify_margin_quantum(252, 252, 2), 4);
  EXPECT_EQ(verify_margin_quantum(4000, 6000, 2), 64);
  EXPECT_EQ(verify_margin_quantum(252, 252, 6), 6);
}

TEST(VerifyMargins, CropsRoundUpToTheQuantum) {
  for (int64_t q : {1, 2, 4, 6, 64})
    for (int64_t crop = -200; crop <= 200; ++crop) {
      const auto expected = int64_t(std::ceil(std::fabs(double(crop)) / double(q)) * double(q));
      EXPECT_EQ(verify_margin(crop, q), expected) << crop << " " << q;
    }
}

}  // namespace
