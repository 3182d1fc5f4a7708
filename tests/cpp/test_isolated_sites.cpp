// SharedIsolatedSites (src/align/prepare/isolated_sites.hpp) against a plain scan
// of the rule in math/isolated_sites.hpp: which sites of a reference are
// isolated, for Bayer and X-Trans, uint16 and float32, the whole frame or
// the area a backend reads, on 1 to 8 threads. (The class marks rows in
// parallel, in a vectorised loop for the bulk of each row, and joins the
// threads' lists; the oracle walks every site alone.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "align/align_backend.hpp"
#include "align/prepare/isolated_sites.hpp"

namespace {

using ptychopatch::impl::AlignGeometry;
using ptychopatch::impl::SharedIsolatedSites;

AlignGeometry geometry(int64_t height, int64_t width, int64_t period, ptp_dtype dtype,
                       int64_t area_rows, int64_t area_cols) {
  AlignGeometry g{};
  g.height = height;
  g.width = width;
  g.channels = 1;
  g.period = period;
  g.planes = period * period;
  g.frame_dtype = dtype;
  g.cfa = period == 2 ? PTP_CFA_BAYER : PTP_CFA_XTRANS;
  g.method = PTP_ALIGN_METHOD_CORRELATION;
  // The whole frame with the fine stage; else what the luminance image reads,
  // area_rows x area_cols sensor pixels (windows of one period, a period apart).
  const bool whole = area_rows == height && area_cols == width;
  g.verify = whole ? PTP_ALIGN_VERIFY_REFINE : PTP_ALIGN_VERIFY_NONE;
  g.luma = true;
  g.luma_stride = g.luma_window = period;
  g.plane_height = area_rows / period;
  g.plane_width = area_cols / period;
  return g;
}

// The isolated sites of `x` by the rule, walked site by site: within the
// area (rows x cols), a site whose plane (same pattern position) has at
// least 3 rows and columns there, compared with its eight plane neighbours
// taken circularly.
template <class T>
std::vector<int64_t> oracle(const std::vector<T>& x, int64_t width, int64_t rows, int64_t cols,
                            int64_t period) {
  std::vector<int64_t> out;
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t pr = y % period, pc = c % period;
      const int64_t n_rows = (rows - pr + period - 1) / period;
      const int64_t n_cols = (cols - pc + period - 1) / period;
      if (n_rows < 3 || n_cols < 3) continue;
      const int64_t i = y / period, j = c / period;
      double lo = 0, hi = 0;
      bool first = true;
      for (int64_t di = -1; di <= 1; ++di)
        for (int64_t dj = -1; dj <= 1; ++dj) {
          if (di == 0 && dj == 0) continue;
          const int64_t ni = (i + di + n_rows) % n_rows, nj = (j + dj + n_cols) % n_cols;
          const double v = static_cast<double>(x[(ni * period + pr) * width + nj * period + pc]);
          lo = first ? v : std::min(lo, v);
          hi = first ? v : std::max(hi, v);
          first = false;
        }
      const double v = static_cast<double>(x[y * width + c]);
      const double spread = 2.0 * (hi - lo);
      if (v > hi + spread || v < lo - spread) out.push_back(y * width + c);
    }
  return out;
}

// A smooth scene with noise and defects on every row band: hot (the top of
// the range), dead (0) and a few mildly raised sites.
template <class T>
std::vector<T> frame(int64_t height, int64_t width, T top, std::mt19937& rng) {
  std::normal_distribution<double> noise(0.0, 6.0);
  std::vector<T> x(static_cast<size_t>(height * width));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t c = 0; c < width; ++c)
      x[y * width + c] = static_cast<T>(800.0 + 3.0 * y + 2.0 * c + noise(rng));
  std::uniform_int_distribution<int64_t> site(0, height * width - 1);
  for (int k = 0; k < 400; ++k) {
    const int64_t at = site(rng);
    x[at] = k % 3 == 0 ? top : k % 3 == 1 ? T{0} : static_cast<T>(x[at] + T{200});
  }
  return x;
}

template <class T>
void expect_oracle(ptp_dtype dtype, T top) {
  std::mt19937 rng(11);
  struct Case {
    int64_t height, width, period, area_rows, area_cols;
  };
  for (const Case& k :
       {Case{101, 130, 2, 101, 130}, Case{101, 130, 2, 80, 96}, Case{97, 134, 6, 97, 134},
        Case{97, 134, 6, 90, 120}, Case{7, 40, 2, 7, 40}}) {
    const std::vector<T> x = frame<T>(k.height, k.width, top, rng);
    const std::vector<int64_t> want = oracle(x, k.width, k.area_rows, k.area_cols, k.period);
    if (k.height > 10) {
      ASSERT_GT(want.size(), 100u) << "the scene must have defects to find";
    }
    for (const int threads : {1, 2, 3, 8}) {
      SharedIsolatedSites sites(
          geometry(k.height, k.width, k.period, dtype, k.area_rows, k.area_cols), threads);
      EXPECT_EQ(sites.isolated(x.data()), want)
          << k.height << "x" << k.width << " period " << k.period << " area " << k.area_rows << "x"
          << k.area_cols << ", " << threads << " threads";
      sites.set_reference_sites(sites.isolated(x.data()));
      // Every site isolated in the reference is isolated in the reference:
      // shared({reference}) lists them all, increasing.
      const std::vector<int64_t> got = sites.shared({x.data()});
      EXPECT_EQ(got, want);
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    }
  }
}

TEST(IsolatedSites, ReferenceSitesMatchAPlainScanUint16) {
  expect_oracle<uint16_t>(PTP_DTYPE_UINT16, uint16_t{65535});
}

TEST(IsolatedSites, ReferenceSitesMatchAPlainScanFloat32) {
  expect_oracle<float>(PTP_DTYPE_FLOAT32, 1e6f);
}

// A second reference's sites replace the first's.
TEST(IsolatedSites, ASecondReferenceReplacesTheFirst) {
  std::mt19937 rng(3);
  const std::vector<uint16_t> a = frame<uint16_t>(60, 64, 65535, rng);
  const std::vector<uint16_t> b = frame<uint16_t>(60, 64, 65535, rng);
  SharedIsolatedSites sites(geometry(60, 64, 2, PTP_DTYPE_UINT16, 60, 64), 4);
  sites.set_reference_sites(sites.isolated(a.data()));
  sites.set_reference_sites(sites.isolated(b.data()));
  EXPECT_EQ(sites.shared({b.data()}), oracle(b, 64, 60, 64, 2));
}

}  // namespace
