// varying_planes (src/align/prepare/varying_planes.hpp) against a plain scan: for
// every pattern period, window position and phase, with planes made
// constant, varying only in the window's last row, or varying only
// outside the window. (The function stops once every plane varies and
// steps the pattern's column without a division; the oracle does neither.)
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "align/prepare/varying_planes.hpp"

namespace {

using ptychopatch::impl::varying_planes;

std::vector<char> plain_scan(const std::vector<uint16_t>& x, int64_t width, int64_t top,
                             int64_t left, int64_t rows, int64_t cols, int64_t period) {
  std::vector<char> varies(static_cast<size_t>(period * period), 0);
  for (int64_t p = 0; p < period * period; ++p) {
    bool have = false;
    uint16_t first = 0;
    for (int64_t r = top; r < top + rows; ++r)
      for (int64_t c = left; c < left + cols; ++c) {
        if ((r % period) * period + c % period != p) continue;
        const uint16_t v = x[static_cast<size_t>(r * width + c)];
        if (!have) {
          have = true;
          first = v;
        } else if (v != first) {
          varies[static_cast<size_t>(p)] = 1;
        }
      }
  }
  return varies;
}

TEST(VaryingPlanes, MatchesAPlainScan) {
  std::mt19937 rng(7);
  const int64_t height = 23, width = 29;
  int cases = 0, some_constant = 0;
  for (int64_t period : {1, 2, 3, 6}) {
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<uint16_t> x(static_cast<size_t>(height * width));
      for (auto& v : x) v = static_cast<uint16_t>(rng() % 4);
      const int64_t top = rng() % 5, left = rng() % 5;
      const int64_t rows = period + rng() % (height - top - period + 1);
      const int64_t cols = period + rng() % (width - left - period + 1);
      // Some planes constant over the window, some varying only in its
      // last row, some only outside it.
      for (int64_t p = 0; p < period * period; ++p) {
        const unsigned kind = rng() % 4;
        if (kind == 0) continue;
        for (int64_t r = 0; r < height; ++r)
          for (int64_t c = 0; c < width; ++c) {
            if ((r % period) * period + c % period != p) continue;
            const bool inside = r >= top && r < top + rows && c >= left && c < left + cols;
            uint16_t& v = x[static_cast<size_t>(r * width + c)];
            if (kind == 1 && inside) v = 9;
            if (kind == 2 && inside) v = r == top + rows - 1 && c == left + cols - 1 ? 8 : 9;
            if (kind == 3) v = inside ? 9 : static_cast<uint16_t>(rng() % 4);
          }
      }
      const std::vector<char> want = plain_scan(x, width, top, left, rows, cols, period);
      const std::vector<char> got =
          period == 1
              ? varying_planes(x.data(), height * width, width, top, left, rows, cols, 1, 1)
              : varying_planes(x.data(), 0, width, top, left, rows, cols, period, period * period);
      ASSERT_EQ(got, want) << "period " << period << " trial " << trial;
      ++cases;
      for (char v : want) some_constant += v == 0;
    }
  }
  EXPECT_EQ(cases, 240);
  EXPECT_GT(some_constant, 100);  // the constant cases were really made
}

}  // namespace
