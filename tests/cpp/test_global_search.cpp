// The search over every shift of PTP_ALIGN_VERIFY_REFINE
// (align/fine/global_search.hpp): its scores against a plain re-implementation
// (window means, boxes and the correlation coefficient over the shared
// rectangle, summed directly instead of by summed-area tables and an FFT),
// and the shifts of frames cut from one random scene against the truth,
// on both paths (every sensor pixel, and blocks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"
#include "align/fine/block_sums.hpp"
#include "align/fine/global_search.hpp"
#include "mosaic_geometry.hpp"

namespace {

using ptychopatch::impl::AlignGeometry;
using ptychopatch::impl::GlobalSearch;

AlignGeometry geometry(int64_t h, int64_t w, int64_t period, ptp_dtype dtype) {
  return test_support::mosaic_geometry(h, w, period, dtype);
}

// A random scene with detail of a few pixels: uniform noise, box-blurred
// twice (5 x 5).
std::vector<double> scene(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> a(static_cast<size_t>(rows * cols));
  for (double& v : a) v = uniform(rng);
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<double> b(a.size(), 0.0);
    for (int64_t y = 0; y < rows; ++y)
      for (int64_t x = 0; x < cols; ++x) {
        double sum = 0.0;
        int count = 0;
        for (int64_t i = std::max<int64_t>(y - 2, 0); i <= std::min(y + 2, rows - 1); ++i)
          for (int64_t j = std::max<int64_t>(x - 2, 0); j <= std::min(x + 2, cols - 1); ++j) {
            sum += a[i * cols + j];
            ++count;
          }
        b[y * cols + x] = sum / count;
      }
    a.swap(b);
  }
  return a;
}

// The h x w window of `s` (cols wide) at (top, left), as uint16 counts. A
// window at (top + ty, left + tx) registers onto one at (top, left) by the
// shift (ty, tx): reference(y) = frame(y - shift).
std::vector<uint16_t> cut(const std::vector<double>& s, int64_t cols, int64_t top, int64_t left,
                          int64_t h, int64_t w) {
  std::vector<uint16_t> out(static_cast<size_t>(h * w));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      out[y * w + x] = static_cast<uint16_t>(std::lround(4000.0 * s[(top + y) * cols + left + x]));
  return out;
}

// The search's image of a uint16 frame, plainly: the mean of every p x p
// window, three passes of a centred box of 5 (the part inside) along the
// rows then the columns, mean 0 and mean square 1.
std::vector<double> plain_image(const std::vector<uint16_t>& f, int64_t h, int64_t w, int64_t p) {
  const int64_t rows = h - p + 1, cols = w - p + 1;
  std::vector<double> img(static_cast<size_t>(rows * cols));
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      double sum = 0.0;
      for (int64_t i = 0; i < p; ++i)
        for (int64_t j = 0; j < p; ++j) sum += f[(y + i) * w + x + j];
      img[y * cols + x] = sum / static_cast<double>(p * p);
    }
  for (int pass = 0; pass < 3; ++pass)
    for (int axis = 0; axis < 2; ++axis) {
      std::vector<double> out(img.size());
      for (int64_t y = 0; y < rows; ++y)
        for (int64_t x = 0; x < cols; ++x) {
          double sum = 0.0;
          int count = 0;
          for (int64_t k = -2; k <= 2; ++k) {
            const int64_t yy = axis == 1 ? y + k : y, xx = axis == 0 ? x + k : x;
            if (yy < 0 || yy >= rows || xx < 0 || xx >= cols) continue;
            sum += img[yy * cols + xx];
            ++count;
          }
          out[y * cols + x] = sum / count;
        }
      img.swap(out);
    }
  double mean = 0.0, square = 0.0;
  for (double v : img) mean += v;
  mean /= static_cast<double>(img.size());
  for (double& v : img) {
    v -= mean;
    square += v * v;
  }
  const double rms = std::sqrt(square / static_cast<double>(img.size()));
  for (double& v : img) v /= rms;
  return img;
}

// The correlation coefficient of reference(y) and image(y - d) over the
// rectangle they share.
double plain_score(const std::vector<double>& r, const std::vector<double>& m, int64_t rows,
                   int64_t cols, int64_t dy, int64_t dx) {
  double n = 0, sr = 0, sm = 0, srr = 0, smm = 0, srm = 0;
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      const int64_t my = y - dy, mx = x - dx;
      if (my < 0 || my >= rows || mx < 0 || mx >= cols) continue;
      const double a = r[y * cols + x], b = m[my * cols + mx];
      n += 1;
      sr += a;
      sm += b;
      srr += a * a;
      smm += b * b;
      srm += a * b;
    }
  return (srm - sr * sm / n) / std::sqrt((srr - sr * sr / n) * (smm - sm * sm / n));
}

TEST(GlobalSearch, ScoresAreThePlainCorrelationCoefficient) {
  const int64_t h = 64, w = 80, p = 2;
  const std::vector<double> s = scene(200, 200, 7);
  const std::vector<uint16_t> ref = cut(s, 200, 60, 60, h, w);
  const std::vector<uint16_t> mov = cut(s, 200, 60 + 9, 60 - 14, h, w);  // truth (9, -14)
  GlobalSearch search(geometry(h, w, p, PTP_DTYPE_UINT16));
  ASSERT_TRUE(search.usable());
  EXPECT_EQ(search.unit(), 1);
  search.set_reference(ref.data());
  const int64_t rows = h - p + 1, cols = w - p + 1;
  const std::vector<double> r = plain_image(ref, h, w, p), m = plain_image(mov, h, w, p);
  // The best over every shift sharing at least half the area.
  double best = -2.0;
  int64_t by = 0, bx = 0;
  for (int64_t dy = -(rows - 1); dy < rows; ++dy)
    for (int64_t dx = -(cols - 1); dx < cols; ++dx) {
      if ((rows - std::llabs(dy)) * (cols - std::llabs(dx)) < 0.5 * rows * cols) continue;
      const double v = plain_score(r, m, rows, cols, dy, dx);
      if (v > best) {
        best = v;
        by = dy;
        bx = dx;
      }
    }
  EXPECT_EQ(by, 9);
  EXPECT_EQ(bx, -14);
  for (const auto& given : {std::pair<double, double>{9, -14}, {0, 0}, {-10, 12}, {3.25, -7.5}}) {
    const GlobalSearch::Result got = search.best(mov.data(), given.first, given.second, -1, -1);
    ASSERT_TRUE(got.found);
    EXPECT_EQ(got.dy, by);
    EXPECT_EQ(got.dx, bx);
    EXPECT_NEAR(got.score, best, 1e-4);
    const auto y0 = static_cast<int64_t>(std::floor(given.first));
    const auto x0 = static_cast<int64_t>(std::floor(given.second));
    const double fy = given.first - y0, fx = given.second - x0;
    const double expected =
        (1 - fy) * ((1 - fx) * plain_score(r, m, rows, cols, y0, x0) +
                    (fx > 0 ? fx * plain_score(r, m, rows, cols, y0, x0 + 1) : 0.0)) +
        (fy > 0 ? fy * ((1 - fx) * plain_score(r, m, rows, cols, y0 + 1, x0) +
                        (fx > 0 ? fx * plain_score(r, m, rows, cols, y0 + 1, x0 + 1) : 0.0))
                : 0.0);
    EXPECT_NEAR(got.score_at_given, expected, 1e-4) << given.first << ", " << given.second;
  }
  // A shift the two share less than half of at: no score.
  EXPECT_TRUE(std::isnan(search.best(mov.data(), 40, 0, -1, -1).score_at_given));
}

TEST(GlobalSearch, FindsAShiftOfAQuarterOfTheFrame) {
  const std::vector<double> s = scene(300, 300, 11);
  const int64_t n = 128;
  const std::vector<uint16_t> ref = cut(s, 300, 80, 80, n, n);
  const std::vector<uint16_t> mov = cut(s, 300, 80 + 29, 80 - 31, n, n);  // truth (29, -31)
  for (const int64_t period : {2, 6}) {
    GlobalSearch search(geometry(n, n, period, PTP_DTYPE_UINT16));
    search.set_reference(ref.data());
    const GlobalSearch::Result got = search.best(mov.data(), -12, -12, -1, -1);
    ASSERT_TRUE(got.found) << period;
    EXPECT_EQ(got.dy, 29) << period;
    EXPECT_EQ(got.dx, -31) << period;
    EXPECT_GT(got.score, 0.99);
    EXPECT_LT(got.score_at_given, 0.5);
    // Bounded: the best within 10 pixels, never beyond.
    const GlobalSearch::Result bounded = search.best(mov.data(), 0, 0, 10, 10);
    ASSERT_TRUE(bounded.found);
    EXPECT_LE(std::fabs(bounded.dy), 10.0);
    EXPECT_LE(std::fabs(bounded.dx), 10.0);
  }
}

TEST(GlobalSearch, BlocksOnLargeFrames) {
  // 1100 x 900 Bayer: blocks of 2 * ceil(1100 / 256) = 10 sensor pixels.
  const int64_t h = 1100, w = 900;
  std::vector<double> s = scene(1500, 1300, 3);
  const std::vector<uint16_t> ref16 = cut(s, 1300, 200, 200, h, w);
  std::vector<float> ref(ref16.begin(), ref16.end());
  GlobalSearch search(geometry(h, w, 2, PTP_DTYPE_FLOAT32));
  ASSERT_TRUE(search.usable());
  EXPECT_EQ(search.unit(), 10);
  search.set_reference(ref.data());
  for (const auto& truth : {std::pair<int64_t, int64_t>{-150, 240}, {100, -77}}) {
    const std::vector<uint16_t> m16 = cut(s, 1300, 200 + truth.first, 200 + truth.second, h, w);
    const std::vector<float> mov(m16.begin(), m16.end());
    const GlobalSearch::Result got = search.best(mov.data(), 0, 0, -1, -1);
    ASSERT_TRUE(got.found);
    // The nearest multiple of the block.
    EXPECT_LE(std::fabs(got.dy - truth.first), 5.0) << truth.first;
    EXPECT_LE(std::fabs(got.dx - truth.second), 5.0) << truth.second;
  }
}

// block_sums (the search's blocks and the polish's choice of window)
// against sums taken plainly: every channel, the first `taken` rows of each
// block, the rows and columns past the last whole block left out; on any
// number of threads.
TEST(GlobalSearch, BlockSumsArePlainSums) {
  const int64_t channels = 2, h = 47, w = 61;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> value(0, 65535);
  std::vector<uint16_t> u16(static_cast<size_t>(channels * h * w));
  for (uint16_t& v : u16) v = static_cast<uint16_t>(value(rng));
  const std::vector<float> f32(u16.begin(), u16.end());
  for (const int64_t u : {1, 4, 6, 10})
    for (const int64_t taken : {int64_t{1}, int64_t{2}, u})
      for (const int threads : {1, 3}) {
        const int64_t rows = h / u, cols = w / u;
        std::vector<double> plain(static_cast<size_t>(rows * cols), 0.0);
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j)
              for (int64_t y = i * u; y < i * u + std::min(taken, u); ++y)
                for (int64_t x = j * u; x < (j + 1) * u; ++x)
                  plain[i * cols + j] += u16[(c * h + y) * w + x];
        // 16-bit values sum exactly in float and double: equal, not near.
        EXPECT_EQ(ptychopatch::impl::block_sums(u16.data(), channels, h, w, u, taken, threads),
                  plain)
            << u << " " << taken << " " << threads;
        EXPECT_EQ(ptychopatch::impl::block_sums(f32.data(), channels, h, w, u, taken, threads),
                  plain)
            << u << " " << taken << " " << threads;
      }
}

TEST(GlobalSearch, FlatAndTinyFramesAreNotSearched) {
  const std::vector<double> s = scene(100, 100, 5);
  const std::vector<uint16_t> ref = cut(s, 100, 10, 10, 48, 48);
  const std::vector<uint16_t> flat(48 * 48, 1000);
  GlobalSearch search(geometry(48, 48, 2, PTP_DTYPE_UINT16));
  search.set_reference(ref.data());
  EXPECT_FALSE(search.best(flat.data(), 0, 0, -1, -1).found);
  GlobalSearch flat_reference(geometry(48, 48, 2, PTP_DTYPE_UINT16));
  flat_reference.set_reference(flat.data());
  EXPECT_FALSE(flat_reference.best(ref.data(), 0, 0, -1, -1).found);
  // Images under 16 pixels a side: no search.
  EXPECT_FALSE(GlobalSearch(geometry(16, 64, 2, PTP_DTYPE_UINT16)).usable());
  EXPECT_TRUE(GlobalSearch(geometry(17, 64, 2, PTP_DTYPE_UINT16)).usable());
}

}  // namespace
