#include "align/prepare/pattern_family.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {
namespace {

constexpr int64_t kPeriod = 6;             // holds both families' periods
constexpr int64_t kMinSide = 6 * kPeriod;  // at least 6 samples per site per axis
constexpr int64_t kMaxSide = 1536;         // the central window read: 2.4 M sites at most
constexpr double kDoubtWithin = 0.8;       // W / T at or above: the given grouping explains nothing
constexpr double kOtherWithin = 0.5;       // W' / T at or below: the other family explains it
constexpr double kClearOfNoise = 16.0;     // T^2 over the means' mean squared standard error
// A plain image counts as a mosaic only where its site means spread (rms) by this share of
// their mean: colour filters part levels by tens of percent, monochrome fixed patterns by 1 %.
constexpr double kMosaicSpread = 0.05;

// Fujifilm's X-Trans layout (0 red, 1 green, 2 blue), as LibRaw reports it.
constexpr int32_t kXTrans[6][6] = {{1, 1, 0, 1, 1, 2}, {1, 1, 2, 1, 1, 0}, {2, 0, 1, 0, 2, 1},
                                   {1, 1, 2, 1, 1, 0}, {1, 1, 0, 1, 1, 2}, {0, 2, 1, 2, 0, 1}};

// The mean squared distance of the 36 means from their group's mean, the
// groups given by label(r, c) in [0, 36).
template <class Label>
double within(const double (&m)[36], Label label) {
  double sum[36] = {}, count[36] = {};
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) {
      sum[label(r, c)] += m[r * 6 + c];
      count[label(r, c)] += 1.0;
    }
  double out = 0.0;
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) {
      const int k = label(r, c);
      const double d = m[r * 6 + c] - sum[k] / count[k];
      out += d * d;
    }
  return out / 36.0;
}

// Sums (and sums of squares) of each site over rows [top, top + rows) and columns
// [left, left + cols) (multiples of 6), added in row order: thread-count independent.
template <class T>
void site_sums(const T* x, int64_t width, int64_t top, int64_t left, int64_t rows, int64_t cols,
               int threads, double (&sum)[36], double (&squares)[36]) {
  std::vector<double> row_sum(static_cast<size_t>(rows * kPeriod), 0.0);
  std::vector<double> row_squares(row_sum.size(), 0.0);
  parallel_for(threads, 0, rows, 16, [&](int64_t i, int) {
    const T* row = x + (top + i) * width + left;
    double s[kPeriod] = {}, q[kPeriod] = {};
    for (int64_t j = 0; j < cols; j += kPeriod)
      for (int64_t c = 0; c < kPeriod; ++c) {
        const double v = static_cast<double>(row[j + c]);
        s[c] += v;
        q[c] += v * v;
      }
    for (int64_t c = 0; c < kPeriod; ++c) {
      row_sum[i * kPeriod + c] = s[c];
      row_squares[i * kPeriod + c] = q[c];
    }
  });
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < kPeriod; ++c) {
      const int64_t site = (i % kPeriod) * kPeriod + c;
      sum[site] += row_sum[i * kPeriod + c];
      squares[site] += row_squares[i * kPeriod + c];
    }
}

}  // namespace

namespace pattern_family_detail {

std::string verdict(const double (&means)[36], double mean_squared_error, int64_t period,
                    const std::vector<int32_t>& colours) {
  double mean = 0.0;
  for (const double m : means) mean += m;
  mean /= 36.0;
  double total = 0.0;
  for (const double m : means) total += (m - mean) * (m - mean);
  total /= 36.0;
  // No colour differences clear of the noise: nothing to tell by.
  if (!(total > 0.0) || total < kClearOfNoise * mean_squared_error) return {};
  const auto bayer_site = [](int r, int c) { return (r % 2) * 2 + c % 2; };
  const auto best_xtrans = [&] {
    double best = std::numeric_limits<double>::infinity();
    for (int a = 0; a < 6; ++a)
      for (int b = 0; b < 6; ++b)
        best = std::min(
            best, within(means, [&](int r, int c) { return kXTrans[(r + a) % 6][(c + b) % 6]; }));
    return best;
  };
  if (period == 1) {
    // No pattern given: doubted where a family's grouping explains the means' spread
    // and that spread is a colour filter's.
    if (total < kMosaicSpread * kMosaicSpread * mean * mean) return {};
    const double bayer = within(means, bayer_site);
    const double xtrans = best_xtrans();
    if (std::min(bayer, xtrans) > kOtherWithin * kOtherWithin * total) return {};
    return std::string(
               "the reference does not look like a plain image: its levels repeat as "
               "in ") +
           (bayer <= xtrans ? "a Bayer" : "an X-Trans") +
           " mosaic; pass the frames' CFA (a shift that is no multiple of the pattern's "
           "period breaks the mosaic; confidence 0)";
  }
  double given = 0.0, other = std::numeric_limits<double>::infinity();
  if (period == 2) {
    given = within(means, bayer_site);
    other = best_xtrans();
  } else {
    given = within(means, [&](int r, int c) { return colours[static_cast<size_t>(r * 6 + c)]; });
    other = within(means, bayer_site);
  }
  if (given < kDoubtWithin * kDoubtWithin * total || other > kOtherWithin * kOtherWithin * total)
    return {};
  return period == 2
             ? "the reference does not look like a Bayer mosaic: its colours repeat as in an "
               "X-Trans one; pass the frames' own CFA (a crop of the wrong period breaks the "
               "mosaic; confidence 0)"
             : "the reference does not look like an X-Trans mosaic: its colours repeat as in a "
               "Bayer one; pass the frames' own CFA (a crop of the wrong period breaks the "
               "mosaic; confidence 0)";
}

}  // namespace pattern_family_detail

std::string pattern_family_doubt(const AlignGeometry& g, const void* frame, int threads) {
  // Plain images: single-channel ones only (a mosaic has one value a site).
  const bool plain = g.period == 1 && g.channels == 1;
  if ((g.period != 2 && g.period != 6 && !plain) || g.method == PTP_ALIGN_METHOD_RAWNIND) return {};
  if (g.height < kMinSide || g.width < kMinSide) return {};
  const int64_t rows = std::min(g.height, kMaxSide) / kPeriod * kPeriod;
  const int64_t cols = std::min(g.width, kMaxSide) / kPeriod * kPeriod;
  const int64_t top = (g.height - rows) / 2 / kPeriod * kPeriod;
  const int64_t left = (g.width - cols) / 2 / kPeriod * kPeriod;
  const int used = threads_for_work(
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows))), rows * cols);
  double sum[36] = {}, squares[36] = {};
  if (g.frame_dtype == PTP_DTYPE_UINT16)
    site_sums(static_cast<const uint16_t*>(frame), g.width, top, left, rows, cols, used, sum,
              squares);
  else
    site_sums(static_cast<const float*>(frame), g.width, top, left, rows, cols, used, sum, squares);
  const double n = static_cast<double>(rows / kPeriod) * static_cast<double>(cols / kPeriod);
  double means[36];
  double mean_squared_error = 0.0;
  for (int s = 0; s < 36; ++s) {
    means[s] = sum[s] / n;
    const double variance = std::max(0.0, squares[s] / n - means[s] * means[s]);
    mean_squared_error += variance / n / 36.0;
  }
  return pattern_family_detail::verdict(means, mean_squared_error, g.period, g.site_colours);
}

}  // namespace ptychopatch::impl
