#include "align/fine/luma_polish.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <tuple>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"
#include "align/fine/block_sums.hpp"
#include "align/prepare/varying_planes.hpp"
#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {
namespace {

// A scale: three centred boxes of `box` samples per axis, then every `decimate`-th
// sample. Three boxes of width w add a Gaussian variance of 3 (w^2 - 1) / 12, and a
// grid of sigma / 3 aliases nothing (exp(-2 pi^2 s^2 f^2) < 1e-19 at its Nyquist frequency).
struct Scale {
  int64_t box;
  int64_t decimate;
  double sigma;  // of the smoothing, in sensor pixels (all boxes so far)
};
constexpr Scale kFine{7, 1, 3.46};     // from the luminance image
constexpr Scale kMiddle{13, 2, 6.48};  // from the luminance image
constexpr Scale kCoarse{9, 2, 11.0};   // from the middle scale's grid

// Fewest grid samples per axis, past the interpolation's border, to fit a
// scale (grid points, read or skipped); a frame too small for the fine scale is not polished.
constexpr int64_t kMinSamples = 16;
// Samples per fit at most (every q-th grid point per axis beyond it): 2^16 cost doubted frames
// 2.3x the time for the same crops, 2^13 lost 7-13 of 432 on over-exposed photographs
// (docs/notes/alignment.md, "The thorough polish's samples").
constexpr double kMaxFitSamples = 16384.0;
constexpr int kMaxIterations = 30;
// The fit's sums are taken in this many bands of rows (accumulate()).
constexpr size_t kChunks = 8;
constexpr double kConverged = 1e-3;  // sensor pixels per step
// Tukey's biweight after the least squares: weight (1 - u^2)^2 for a residual of u
// kTukey robust deviations (1.4826 median |r|), 0 beyond; it leaves out a part that
// moves on its own (docs/notes/alignment.md, "A part that moves on its own: robust weights").
constexpr double kTukey = 4.685;  // 95 % of least squares' efficiency under normal noise
// The cutoff's floor, a share of the reference's spread about each colour's mean:
// without noise the residuals are the interpolation's misfit at edges, not outliers.
constexpr double kCutoffFloor = 0.02;
// Iterations of the weighted fit after the least squares converge.
constexpr int kMaxRobustIterations = 20;
// A window's plane is clipped at its largest value where kClipPileUp sites hold it,
// kClipPileUpRatio times as many as the next smaller value present, and at least
// 1 / kClipShowsRest of them hold other values (docs/semantics.md, "Clipped sites").
constexpr int64_t kClipPileUp = 8;
constexpr int64_t kClipPileUpRatio = 4;  // saturation piles up; a scene's top values thin out
constexpr int64_t kClipShowsRest = 10;   // a plane of one value: no information, match flags it
// A sample is left out where the two frames' clipped shares around it differ by
// more: one frame clips what the other shows, so there it is not a * reference + b.
constexpr double kClipMismatch = 0.02;

// body(k) for k in [0, n), on up to `threads` threads (one where `work` is
// small: threads_for_work).
template <class Body>
void for_each_part(size_t n, int threads, size_t work, const Body& body) {
  threads = threads_for_work(threads, static_cast<int64_t>(work));
  parallel_for_each(threads, 0, static_cast<int64_t>(n), 1,
                    [&](int64_t k) { body(static_cast<size_t>(k)); });
}

// Mean of every window of w along rows ("valid": cols - w + 1 columns).
std::vector<float> box_along_rows(const std::vector<float>& in, int64_t rows, int64_t cols,
                                  int64_t w, int threads) {
  const int64_t out_cols = cols - w + 1;
  std::vector<float> out(static_cast<size_t>(rows * out_cols));
  const double scale = 1.0 / static_cast<double>(w);
  for_each_part(static_cast<size_t>(rows), threads, out.size(), [&](size_t row) {
    const int64_t r = static_cast<int64_t>(row);
    const float* x = in.data() + r * cols;
    float* y = out.data() + r * out_cols;
    double sum = 0.0;
    for (int64_t c = 0; c < w; ++c) sum += x[c];
    y[0] = static_cast<float>(sum * scale);
    for (int64_t c = 1; c < out_cols; ++c) {
      sum += static_cast<double>(x[c + w - 1]) - static_cast<double>(x[c - 1]);
      y[c] = static_cast<float>(sum * scale);
    }
  });
  return out;
}

// Rows are smoothed in bands of this many, held sample-major: their running
// sums advance together (vectorised) and the transposed output fills cache lines.
constexpr int64_t kBandRows = 16;

// Mean of the window of w (odd) centred on each of the n samples of a band, over
// its part inside ("same": cut at the ends, not padded); x and y hold n x kBandRows
// values, sample-major. Each row adds and divides exactly as a row smoothed alone would.
void centred_box_band(const float* x, float* y, int64_t n, int64_t w) {
  const int64_t half = w / 2;
  double sum[kBandRows] = {};
  int64_t first = 0, end = 0;  // the window [first, end)
  for (int64_t c = 0; c < n; ++c) {
    const int64_t want_end = std::min(n, c + half + 1);
    const int64_t want_first = std::max<int64_t>(0, c - half);
    for (; end < want_end; ++end)
      for (int64_t r = 0; r < kBandRows; ++r) sum[r] += x[end * kBandRows + r];
    for (; first < want_first; ++first)
      for (int64_t r = 0; r < kBandRows; ++r) sum[r] -= x[first * kBandRows + r];
    const double inverse = 1.0 / static_cast<double>(end - first);
    for (int64_t r = 0; r < kBandRows; ++r)
      y[c * kBandRows + r] = static_cast<float>(sum[r] * inverse);
  }
}

// Three centred boxes along rows, then every `decimate`-th column; returned
// transposed (so calling it twice smooths and decimates both axes), with no
// full-size intermediate images.
std::vector<float> smooth_rows_transposed(const std::vector<float>& in, int64_t rows, int64_t& cols,
                                          const Scale& scale, int threads) {
  const int64_t n = cols;
  const int64_t kept = (n + scale.decimate - 1) / scale.decimate;
  std::vector<float> out(static_cast<size_t>(kept * rows));
  const int64_t bands = (rows + kBandRows - 1) / kBandRows;
  for_each_part(static_cast<size_t>(bands), threads, out.size(), [&](size_t band) {
    const int64_t r0 = static_cast<int64_t>(band) * kBandRows;
    const int64_t height = std::min(rows - r0, kBandRows);  // rows past the end stay 0
    std::vector<float> a(static_cast<size_t>(n * kBandRows)), b(a.size());
    for (int64_t r = 0; r < height; ++r) {
      const float* row = in.data() + (r0 + r) * n;
      for (int64_t c = 0; c < n; ++c) a[c * kBandRows + r] = row[c];
    }
    centred_box_band(a.data(), b.data(), n, scale.box);
    centred_box_band(b.data(), a.data(), n, scale.box);
    centred_box_band(a.data(), b.data(), n, scale.box);
    for (int64_t c = 0; c < kept; ++c) {
      const float* from = b.data() + c * scale.decimate * kBandRows;
      std::copy(from, from + height, out.data() + c * rows + r0);
    }
  });
  cols = kept;
  return out;
}

// Threads for the images of a pass and for the rows of each: the images in parallel
// where there are at least as many as threads, else one at a time with every thread
// on its rows (a polish has 1 to 4 images). Either way gives the same bits.
struct PartThreads {
  int parts;
  int rows;
};
PartThreads part_threads(size_t parts, int threads) {
  threads = std::max(threads, 1);
  if (parts >= static_cast<size_t>(threads)) return {threads, 1};
  return {1, threads};
}

// `in` (one image per colour, rows x cols, stride sensor pixels, their
// boxes cut within `reach` sensor pixels of their edges) at the next
// scale, or an empty set where too few samples are left.
SmoothedLuma next_scale(const std::vector<std::vector<float>>& in, int64_t rows, int64_t cols,
                        int64_t stride, int64_t reach, const Scale& scale, int threads) {
  SmoothedLuma out;
  if (rows < 3 * scale.box + kMinSamples || cols < 3 * scale.box + kMinSamples) return out;
  out.colours.resize(in.size());
  const PartThreads split = part_threads(in.size(), threads);
  for_each_part(
      in.size(), split.parts, in.size() * static_cast<size_t>(rows * cols) * 6, [&](size_t k) {
        int64_t c = cols;
        const std::vector<float> half =
            smooth_rows_transposed(in[k], rows, c, scale, split.rows);  // c x rows
        int64_t r = rows;
        out.colours[k] = smooth_rows_transposed(half, c, r, scale, split.rows);  // back to r x c
      });
  // The sizes every image gets (as smooth_rows_transposed decimates).
  out.cols = (cols + scale.decimate - 1) / scale.decimate;
  out.rows = (rows + scale.decimate - 1) / scale.decimate;
  out.stride = stride * scale.decimate;
  out.sigma = scale.sigma;
  out.reach = reach + 3 * (scale.box / 2) * stride;
  return out;
}

// The mean of every period x period window of a rows x cols image, (rows - P + 1) x
// (cols - P + 1): box_along_rows, then running sums down a band of columns at a time
// (no transposes), each adding and rounding as box_along_rows would along a column.
std::vector<float> period_window_means(const std::vector<float>& in, int64_t rows, int64_t cols,
                                       int64_t period, int threads) {
  const std::vector<float> across = box_along_rows(in, rows, cols, period, threads);
  const int64_t c = cols - period + 1, out_rows = rows - period + 1;
  std::vector<float> out(static_cast<size_t>(out_rows * c));
  const double scale = 1.0 / static_cast<double>(period);
  constexpr int64_t kBand = 256;
  const int64_t bands = (c + kBand - 1) / kBand;
  for_each_part(static_cast<size_t>(bands), threads, out.size(), [&](size_t band) {
    const int64_t x0 = static_cast<int64_t>(band) * kBand, n = std::min(kBand, c - x0);
    double sum[kBand] = {};
    for (int64_t y = 0; y < period; ++y)
      for (int64_t x = 0; x < n; ++x) sum[x] += across[y * c + x0 + x];
    for (int64_t x = 0; x < n; ++x) out[x0 + x] = static_cast<float>(sum[x] * scale);
    for (int64_t y = 1; y < out_rows; ++y) {
      const float* enter = across.data() + (y + period - 1) * c + x0;
      const float* leave = across.data() + (y - 1) * c + x0;
      float* row = out.data() + y * c + x0;
      for (int64_t x = 0; x < n; ++x) {
        sum[x] += static_cast<double>(enter[x]) - static_cast<double>(leave[x]);
        row[x] = static_cast<float>(sum[x] * scale);
      }
    }
  });
  return out;
}

// The colour images of a window of a frame (height x width, its planes one after
// another): for group k (the pattern sites, or the channels, in groups[k]), the mean
// of its values in every period x period window, (rows - P + 1) x (cols - P + 1).
// Every site lies once in every such window, so its sites weigh alike everywhere.
template <class T>
std::vector<std::vector<float>> colour_images(const T* x, int64_t height, int64_t width,
                                              const PolishWindow& window, int64_t period,
                                              const std::vector<std::vector<int64_t>>& groups,
                                              int threads) {
  const int64_t top = window.top, left = window.left, rows = window.rows, cols = window.cols;
  const int64_t plane_stride = height * width, row_stride = width;
  std::vector<std::vector<float>> out;
  if (period == 1) {  // planar channels: each group's mean
    for (const std::vector<int64_t>& group : groups) {
      std::vector<float> image(static_cast<size_t>(rows * cols), 0.0f);
      for (int64_t c : group) {
        const T* channel = x + c * plane_stride;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j)
            image[r * cols + j] += static_cast<float>(channel[(top + r) * row_stride + left + j]);
      }
      const float scale = 1.0f / static_cast<float>(group.size());
      if (group.size() > 1)
        for (float& v : image) v *= scale;
      out.push_back(std::move(image));
    }
    return out;
  }
  std::vector<int> group_of(static_cast<size_t>(period * period), -1);
  for (size_t k = 0; k < groups.size(); ++k)
    for (int64_t site : groups[k]) group_of[site] = static_cast<int>(k);
  std::vector<std::vector<float>> masked(groups.size(),
                                         std::vector<float>(static_cast<size_t>(rows * cols), 0.f));
  for_each_part(static_cast<size_t>(rows), threads, static_cast<size_t>(rows * cols),
                [&](size_t image_row) {
                  const int64_t r = static_cast<int64_t>(image_row);
                  const T* row = x + (top + r) * row_stride + left;
                  const int64_t phase = ((top + r) % period) * period;
                  int64_t site = left % period;  // (left + j) % period, without a division
                  for (int64_t j = 0; j < cols; ++j) {
                    const int k = group_of[phase + site];
                    if (k >= 0) masked[k][r * cols + j] = static_cast<float>(row[j]);
                    if (++site == period) site = 0;
                  }
                });
  out.resize(groups.size());
  const PartThreads split = part_threads(groups.size(), threads);
  for_each_part(groups.size(), split.parts, groups.size() * static_cast<size_t>(rows * cols) * 4,
                [&](size_t k) {
                  std::vector<float> image =
                      period_window_means(masked[k], rows, cols, period, split.rows);
                  // The boxes' mean over P^2 sites, as the mean over the group's.
                  const float scale =
                      static_cast<float>(period * period) / static_cast<float>(groups[k].size());
                  for (float& v : image) v *= scale;
                  out[k] = std::move(image);
                });
  return out;
}

// The share of clipped sites (kClipPileUp) of the planes in `groups` in every period
// x period window of `window` (planar: of the channels at each pixel), laid out as
// colour_images' images; empty where none of those planes is clipped there.
template <class T>
std::vector<float> clipped_fraction(const T* x, int64_t height, int64_t width,
                                    const PolishWindow& window, int64_t period,
                                    const std::vector<std::vector<int64_t>>& groups, int threads) {
  const int64_t top = window.top, left = window.left, rows = window.rows, cols = window.cols;
  const int64_t plane_stride = height * width;
  std::vector<int64_t> used;
  for (const std::vector<int64_t>& group : groups)
    used.insert(used.end(), group.begin(), group.end());
  // Per plane: the largest value and how many hold it, the next smaller
  // value present and how many hold that.
  struct Top {
    T max{}, below{};
    int64_t at_max = 0, at_below = 0, seen = 0;
    void see(T v) {
      ++seen;
      if (at_max == 0 || v > max) {
        below = max;
        at_below = at_max;
        max = v;
        at_max = 1;
      } else if (v == max) {
        ++at_max;
      } else if (at_below == 0 || v > below) {
        below = v;
        at_below = 1;
      } else if (v == below) {
        ++at_below;
      }
    }
    bool clipped() const {
      return at_max >= kClipPileUp && at_max >= kClipPileUpRatio * at_below &&
             (seen - at_max) * kClipShowsRest >= seen;
    }
  };
  const auto value_at = [&](int64_t plane, int64_t r, int64_t j) {
    // plane: a pattern site (period > 1) or a channel.
    return period > 1 ? x[(top + r) * width + left + j]
                      : x[plane * plane_stride + (top + r) * width + left + j];
  };
  const int64_t slots = period > 1 ? period * period : 0;
  std::vector<Top> tops(static_cast<size_t>(slots));
  std::vector<Top> channel_tops;
  if (period > 1) {
    std::vector<char> wanted(static_cast<size_t>(slots), 0);
    for (int64_t p : used) wanted[static_cast<size_t>(p)] = 1;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t phase = ((top + r) % period) * period;
      const T* row = x + (top + r) * width + left;
      int64_t site = left % period;  // (left + j) % period, without a division
      for (int64_t j = 0; j < cols; ++j) {
        const int64_t p = phase + site;
        if (wanted[p]) tops[p].see(row[j]);
        if (++site == period) site = 0;
      }
    }
  } else {
    channel_tops.resize(used.size());
    for (size_t k = 0; k < used.size(); ++k)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) channel_tops[k].see(value_at(used[k], r, j));
  }
  bool any = false;
  for (const Top& t : tops) any |= t.clipped();
  for (const Top& t : channel_tops) any |= t.clipped();
  if (!any) return {};
  if (period == 1) {
    std::vector<float> image(static_cast<size_t>(rows * cols), 0.0f);
    const float share = 1.0f / static_cast<float>(used.size());
    for (size_t k = 0; k < used.size(); ++k) {
      if (!channel_tops[k].clipped()) continue;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j)
          if (value_at(used[k], r, j) >= channel_tops[k].max) image[r * cols + j] += share;
    }
    return image;
  }
  std::vector<float> sites(static_cast<size_t>(rows * cols), 0.0f);
  for_each_part(static_cast<size_t>(rows), threads, sites.size(), [&](size_t image_row) {
    const int64_t r = static_cast<int64_t>(image_row);
    const int64_t phase = ((top + r) % period) * period;
    const T* row = x + (top + r) * width + left;
    int64_t site = left % period;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t p = phase + site;
      if (tops[p].clipped() && row[j] >= tops[p].max) sites[r * cols + j] = 1.0f;
      if (++site == period) site = 0;
    }
  });
  // The mean over each period x period window: the share of its P^2 sites.
  return period_window_means(sites, rows, cols, period, threads);
}

// Keys' cubic convolution (a = -1/2) weights of samples -1..2 for a
// position t in [0, 1) past sample 0, and their derivatives in t.
void keys_weights(double t, double (&w)[4], double (&dw)[4]) {
  w[0] = ((-0.5 * t + 1.0) * t - 0.5) * t;
  w[1] = (1.5 * t - 2.5) * t * t + 1.0;
  w[2] = ((-1.5 * t + 2.0) * t + 0.5) * t;
  w[3] = (0.5 * t - 0.5) * t * t;
  dw[0] = (-1.5 * t + 2.0) * t - 0.5;
  dw[1] = (4.5 * t - 5.0) * t;
  dw[2] = (-4.5 * t + 4.0) * t + 0.5;
  dw[3] = (1.5 * t - 1.0) * t;
}

// The four samples of Keys' cubic at position `at` of an axis of `size`
// samples: their first index and weights; false where they (and the
// position) do not lie inside it.
bool cubic_taps(double at, int64_t size, double (&w)[4], double (&dw)[4], int64_t& first) {
  const double whole = std::floor(at);
  if (whole < 1.0 || whole + 2.0 >= static_cast<double>(size)) return false;
  keys_weights(at - whole, w, dw);
  first = static_cast<int64_t>(whole) - 1;
  return true;
}

// Solves the 4 x 4 system m x = v by Gaussian elimination with partial
// pivoting; false where it is singular.
bool solve4(double (&m)[4][4], double (&v)[4], double (&x)[4]) {
  for (int col = 0; col < 4; ++col) {
    int pivot = col;
    for (int r = col + 1; r < 4; ++r)
      if (std::fabs(m[r][col]) > std::fabs(m[pivot][col])) pivot = r;
    if (!(std::fabs(m[pivot][col]) > 0.0)) return false;
    std::swap(m[col], m[pivot]);
    std::swap(v[col], v[pivot]);
    for (int r = col + 1; r < 4; ++r) {
      const double f = m[r][col] / m[col][col];
      for (int c = col; c < 4; ++c) m[r][c] -= f * m[col][c];
      v[r] -= f * v[col];
    }
  }
  for (int r = 3; r >= 0; --r) {
    double s = v[r];
    for (int c = r + 1; c < 4; ++c) s -= m[r][c] * x[c];
    x[r] = s / m[r][r];
  }
  return std::isfinite(x[0]) && std::isfinite(x[1]);
}

// The sampling step of a scale: every q-th grid point per axis, at most
// ref.max_samples in all (the polish's effort).
int64_t sampling_step(const SmoothedLuma& ref) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(
                                  static_cast<double>(ref.rows * ref.cols) / ref.max_samples))));
}

// Gram matrices of 5 terms.
using Gram = double[5][5];

// The reference's grid points a fit reads: rows [top, bottom) and columns
// [left, right) of its scale (LumaPolish::warp fits each quadrant alone);
// every point by default.
struct GridRegion {
  int64_t top = 0;
  int64_t left = 0;
  int64_t bottom = INT64_MAX;
  int64_t right = INT64_MAX;
};

// The robust weights of a fit's samples (kTukey): accumulate() takes the fit so far
// (gain, each colour's means) and the cutoff, and gives each sample's |residual|
// about it (in band order: the same on any number of threads) and the new means.
struct RobustPass {
  bool have_fit = false;  // a, mean_f, mean_g hold a fit (residuals are taken)
  double a = 1.0;
  std::vector<double> mean_f, mean_g;
  double cutoff = HUGE_VAL;  // infinite: every weight 1
  std::vector<float> residuals;
  std::vector<double> out_mean_f, out_mean_g;
  // How much more the weighted fit's estimate varies than the weighted
  // least squares claim (the M-estimator's sandwich: mean(psi^2) mean(w)
  // / mean(psi')^2 against mean(w r^2) / mean(w)); 1 without weights.
  double variance_factor = 1.0;
  // The weighted mean square residual (sum w r^2 / sum w), and a sample's noise
  // variance, (1.4826 median |r|)^2, set with the cutoff (fit() takes the larger).
  double mean_square = 0.0;
  double noise_variance = 0.0;
};
void zero(Gram& m) {
  for (auto& row : m)
    for (double& v : row) v = 0.0;
}
// Sums of products of z = (df/du, df/dv, f, 1, g) over the reference's grid points
// (every q-th per axis) whose position moved by (gy, gx) grid samples lies inside the
// frame's grid with the interpolation's border: g the reference there, f the frame
// at the moved position (Keys' cubic), df/du and df/dv its derivatives. Symmetric.
// Each colour's sums are centred on its means (its offset fitted exactly) and summed:
// row and column 3 hold only the count of samples (gram[3][3]). With `luminance`:
// the luminance images' sums, colours weighted by `weights`, uncentred (match()).
// With `robust` (not `luminance`): each sample weighted by its biweight (RobustPass).
void accumulate(const SmoothedLuma& ref, const SmoothedLuma& mov, double gy, double gx, int64_t q,
                const std::vector<double>& weights, bool luminance, double (&gram)[5][5],
                double (*interior)[5][5] = nullptr, int threads = 1, RobustPass* robust = nullptr,
                const GridRegion& region = GridRegion{}) {
  const size_t colours = luminance ? 1 : ref.colours.size();
  using Parts = std::vector<std::array<std::array<double, 5>, 5>>;
  // Grid samples at least `edge` from every edge, on both images, were
  // smoothed by whole boxes.
  const double edge = std::ceil(static_cast<double>(ref.reach) / static_cast<double>(ref.stride));
  const auto inside = [edge](double at, int64_t size) {
    return at >= edge && at <= static_cast<double>(size - 1) - edge;
  };
  const auto add = [](std::array<std::array<double, 5>, 5>& m, const double(&z)[5],
                      double w = 1.0) {
    for (int k = 0; k < 5; ++k)
      for (int l = k; l < 5; ++l) m[k][l] += w * z[k] * z[l];
  };
  const bool clip_checked = !ref.clipped.empty() || !mov.clipped.empty();
  const bool residuals = robust != nullptr && robust->have_fit && !luminance;
  const bool weighted = residuals && std::isfinite(robust->cutoff);
  std::vector<std::vector<float>> band_residuals(residuals ? kChunks : 0);
  // Per band: the sums of w, w r^2, psi^2 and psi' (variance_factor).
  std::vector<std::array<double, 4>> band_moments(kChunks, std::array<double, 4>{});
  // Each colour weighted by its planes per window (combine below), and its residuals
  // scaled by the root of that to a common noise level.
  std::vector<double> weight(ref.colours.size()), scale(ref.colours.size());
  {
    double planes = 0.0;
    for (double w : weights) planes += w;
    for (size_t c = 0; c < weight.size(); ++c) {
      weight[c] = weights[c] * static_cast<double>(weight.size()) / planes;
      scale[c] = std::sqrt(weight[c]);
    }
  }
  // The sampled rows in kChunks fixed bands, each summed on its own and
  // the bands summed in order: the same sums on any number of threads.
  const int64_t sampled_rows = (ref.rows + q - 1) / q;
  const int64_t band = (sampled_rows + kChunks - 1) / kChunks;
  // Per band: the sums of the samples whose boxes are not whole, and of those that are (`whole`).
  std::vector<Parts> band_edge(kChunks, Parts(colours)), band_interior(kChunks, Parts(colours));
  const auto rows_of = [&](size_t chunk) {
    Parts& per = band_edge[chunk];
    Parts& per_interior = band_interior[chunk];
    std::vector<float>* band_residual = residuals ? &band_residuals[chunk] : nullptr;
    std::array<double, 4>& moments = band_moments[chunk];
    moments = {};
    for (auto& m : per) m = {};
    for (auto& m : per_interior) m = {};
    const int64_t first = static_cast<int64_t>(chunk) * band;
    const int64_t end = std::min(sampled_rows, first + band);
    // The columns' taps are the same on every row: made once per band.
    struct ColumnTaps {
      double w[4], dw[4];
      int64_t left;
      bool inside;
    };
    std::vector<ColumnTaps> columns(static_cast<size_t>((ref.cols + q - 1) / q));
    for (size_t k = 0; k < columns.size(); ++k) {
      ColumnTaps& t = columns[k];
      t.inside = cubic_taps(static_cast<double>(static_cast<int64_t>(k) * q) - gx, mov.cols, t.w,
                            t.dw, t.left);
    }
    for (int64_t row = first; row < end; ++row) {
      const int64_t i = row * q;
      if (i < region.top || i >= region.bottom) continue;
      double wy[4], dwy[4];
      int64_t top;
      if (!cubic_taps(static_cast<double>(i) - gy, mov.rows, wy, dwy, top)) continue;
      for (int64_t j = 0; j < ref.cols; j += q) {
        if (j < region.left || j >= region.right) continue;
        const ColumnTaps& taps = columns[static_cast<size_t>(j / q)];
        if (!taps.inside) continue;
        const double(&wx)[4] = taps.w;
        const double(&dwx)[4] = taps.dw;
        const int64_t left = taps.left;
        if (clip_checked) {
          // Left out where one frame clips what the other shows
          // (kClipMismatch).
          const double in_ref =
              ref.clipped.empty() ? 0.0 : static_cast<double>(ref.clipped[i * ref.cols + j]);
          double in_mov = 0.0;
          if (!mov.clipped.empty())
            for (int a = 0; a < 4; ++a) {
              const float* row = mov.clipped.data() + (top + a) * mov.cols + left;
              double along = 0.0;
              for (int b = 0; b < 4; ++b) along += wx[b] * row[b];
              in_mov += wy[a] * along;
            }
          if (std::fabs(in_ref - in_mov) > kClipMismatch) continue;
        }
        const double y = static_cast<double>(i), x = static_cast<double>(j);
        const bool whole = interior != nullptr && inside(y, ref.rows) && inside(x, ref.cols) &&
                           inside(y - gy, mov.rows) && inside(x - gx, mov.cols);
        double sum[5] = {0.0, 0.0, 0.0, 1.0, 0.0};
        for (size_t c = 0; c < ref.colours.size(); ++c) {
          const std::vector<float>& image = mov.colours[c];
          double f = 0.0, fu = 0.0, fv = 0.0;
          for (int a = 0; a < 4; ++a) {
            const float* row = image.data() + (top + a) * mov.cols + left;
            double along = 0.0, along_d = 0.0;
            for (int b = 0; b < 4; ++b) {
              along += wx[b] * row[b];
              along_d += dwx[b] * row[b];
            }
            f += wy[a] * along;
            fu += dwy[a] * along;
            fv += wy[a] * along_d;
          }
          const double g = static_cast<double>(ref.colours[c][i * ref.cols + j]);
          if (luminance) {
            const double w = weights[c];
            sum[0] += w * fu;
            sum[1] += w * fv;
            sum[2] += w * f;
            sum[4] += w * g;
            continue;
          }
          const double z[5] = {fu, fv, f, 1.0, g};
          double w = 1.0;
          if (band_residual != nullptr) {
            const double r =
                scale[c] * ((g - robust->mean_g[c]) - robust->a * (f - robust->mean_f[c]));
            band_residual->push_back(static_cast<float>(std::fabs(r)));
            if (weighted) {
              const double u = r / robust->cutoff;
              const double v = std::fabs(u) < 1.0 ? 1.0 - u * u : 0.0;
              w = v * v;
              moments[0] += w;
              moments[1] += w * r * r;
              moments[2] += w * w * r * r;
              moments[3] += v * (1.0 - 5.0 * u * u);
            }
          }
          add(whole ? per_interior[c] : per[c], z, w);
        }
        if (luminance) {
          add(whole ? per_interior[0] : per[0], sum);
        }
      }
    }
  };
  // Work: the region's samples, each interpolated from 16 grid points per colour.
  const int64_t region_rows =
      std::max<int64_t>(0, std::min(ref.rows, region.bottom) - std::max<int64_t>(0, region.top));
  const int64_t region_cols =
      std::max<int64_t>(0, std::min(ref.cols, region.right) - std::max<int64_t>(0, region.left));
  const size_t samples =
      static_cast<size_t>(((region_rows + q - 1) / q) * ((region_cols + q - 1) / q));
  for_each_part(kChunks, threads, samples * colours * 16, rows_of);
  Parts per(colours), per_interior(colours);
  for (auto& m : per) m = {};
  for (auto& m : per_interior) m = {};
  for (size_t chunk = 0; chunk < kChunks; ++chunk)
    for (size_t c = 0; c < colours; ++c)
      for (int k = 0; k < 5; ++k)
        for (int l = k; l < 5; ++l) {
          per[c][k][l] += band_edge[chunk][c][k][l] + band_interior[chunk][c][k][l];
          per_interior[c][k][l] += band_interior[chunk][c][k][l];
        }
  const auto mirror = [](Parts& parts) {
    for (auto& m : parts)
      for (int k = 0; k < 5; ++k)
        for (int l = 0; l < k; ++l) m[k][l] = m[l][k];
  };
  mirror(per);
  mirror(per_interior);
  if (robust != nullptr && !luminance) {
    std::array<double, 4> sums{};
    for (const auto& m : band_moments)
      for (int k = 0; k < 4; ++k) sums[k] += m[k];
    // (1 where the fit is exact, every residual 0; infinite where the
    // weights' derivative sums to 0 or less: no information.)
    robust->variance_factor = !weighted || !(sums[1] > 0.0) ? 1.0
                              : sums[3] > 0.0
                                  ? sums[2] * sums[0] / (sums[3] * sums[3]) / (sums[1] / sums[0])
                                  : HUGE_VAL;
    robust->mean_square = sums[0] > 0.0 ? sums[1] / sums[0] : 0.0;
    robust->residuals.clear();
    for (const auto& band_residual : band_residuals)
      robust->residuals.insert(robust->residuals.end(), band_residual.begin(), band_residual.end());
    robust->out_mean_f.assign(colours, 0.0);
    robust->out_mean_g.assign(colours, 0.0);
    for (size_t c = 0; c < colours; ++c)
      if (per[c][3][3] > 0.0) {
        robust->out_mean_f[c] = per[c][2][3] / per[c][3][3];
        robust->out_mean_g[c] = per[c][4][3] / per[c][3][3];
      }
  }
  if (luminance) {
    std::copy(&per[0][0][0], &per[0][0][0] + 25, &gram[0][0]);
    if (interior != nullptr)
      std::copy(&per_interior[0][0][0], &per_interior[0][0][0] + 25, &(*interior)[0][0]);
    return;
  }
  // Each colour's sums centred on its own means (row and column 3 then
  // hold its count alone).
  const auto centre = [](Parts& parts) {
    for (auto& m : parts) {
      const double n = m[3][3];
      if (!(n > 0.0)) continue;
      std::array<std::array<double, 5>, 5> c = m;
      for (int k = 0; k < 5; ++k)
        for (int l = 0; l < 5; ++l)
          c[k][l] = k == 3 || l == 3 ? 0.0 : m[k][l] - m[k][3] * m[3][l] / n;
      c[3][3] = n;
      m = c;
    }
  };
  centre(per);
  centre(per_interior);
  // Each colour weighted by its planes (sites) per window, as its image's noise
  // variance goes as one over their number (a grey scene then fits as the luminance
  // image); not by its residual, which without noise is interpolation misfit.
  // Scaled so the samples' weights average 1.
  const auto combine = [&weight](const Parts& parts, double(&out)[5][5]) {
    zero(out);
    for (size_t c = 0; c < parts.size(); ++c) {
      for (int k = 0; k < 5; ++k)
        for (int l = 0; l < 5; ++l)
          if (k != 3 && l != 3) out[k][l] += weight[c] * parts[c][k][l];
      out[3][3] += parts[c][3][3];
    }
  };
  combine(per, gram);
  if (interior != nullptr) combine(per_interior, *interior);
}

// The residual sum of squares of g - a f - b over the samples of a Gram
// matrix of accumulate().
double residual_squares(const double (&gram)[5][5], double a, double b) {
  return gram[4][4] - 2.0 * a * gram[2][4] - 2.0 * b * gram[3][4] + a * a * gram[2][2] +
         2.0 * a * b * gram[2][3] + b * b * gram[3][3];
}

// The normal matrix that fit()'s variance counts, of the terms c[k] z_k (z = (df/du,
// df/dv, f, 1), accumulate()): that of the samples whose boxes were whole on both images
// (`interior`), per sample, times the fit's `n` samples; zero where there are none.
// Edge samples' boxes are cut alike whatever the shift, so they also see the cut
// (docs/notes/alignment.md, "Small blurred frames: the cut draws the fit").
void information_of(const double (&interior)[5][5], const double (&c)[4], double n,
                    double (&out)[4][4]) {
  const double whole = interior[3][3];
  const double per_sample = whole > 0.0 ? n / whole : 0.0;
  for (int k = 0; k < 4; ++k)
    for (int l = 0; l < 4; ++l) out[k][l] = c[k] * c[l] * interior[k][l] * per_sample;
}

// Gauss-Newton at one scale from (dy, dx) (sensor pixels), in place; where it
// converges, `variance` gets each axis' variance (sensor pixels squared): the
// residual's variance times the samples per independent noise value (the smoothing
// correlates noise within about 2 sqrt(pi) sigma) times the inverse of the normal
// matrix (information_of) without the frame's own noise in its gradients; infinite
// where that leaves no information. `region`: the grid points read (warp()'s quadrants).
bool fit(const SmoothedLuma& ref, const SmoothedLuma& mov, const std::vector<double>& weights,
         double& dy, double& dx, double (&variance)[2], int threads,
         const GridRegion& region = GridRegion{}) {
  const double s = static_cast<double>(ref.stride);
  const int64_t q = sampling_step(ref);
  // One offset per colour (accumulate() centres each colour's sums), gain and shift.
  const double colours = static_cast<double>(ref.colours.size());
  const double parameters = 3.0 + colours;
  // Fewest samples read for a fit: kMinSamples^2 grid points per colour, each read
  // sample standing for the q x q it steps over.
  const double fewest =
      colours * static_cast<double>(kMinSamples * kMinSamples) / static_cast<double>(q * q);
  // The variance of the estimate per axis from a converged iteration's
  // sums (see above), times `factor` (RobustPass::variance_factor).
  const auto variance_of = [&](const double(&gram)[5][5], const double(&interior)[5][5],
                               const double(&c)[4], double n, double a, double b, double factor,
                               double noise_share, double(&out)[2]) {
    const double sigma_grid = ref.sigma / s, spacing = static_cast<double>(q);
    const double per_independent =
        std::max(1.0, 4.0 * 3.141592653589793 * sigma_grid * sigma_grid / (spacing * spacing));
    const double residual = std::max(residual_squares(gram, a, b), 0.0) / (n - parameters);
    // The noise per unit area, from the samples whose boxes were whole: cut
    // boxes near the edges leave more noise but correlate it over less.
    const double n_interior = interior[3][3];
    const double interior_residual =
        n_interior >= fewest
            ? std::max(residual_squares(interior, a, b), 0.0) / (n_interior - parameters)
            : residual;
    const double noise = interior_residual * per_independent * factor;
    // The gradients' sums of squares hold n var(f noise) / (2 sigma^2) (grid units)
    // besides the scene's; where that is all (not positive definite), the variance is infinite.
    const double frame_noise = noise_share * interior_residual / (1.0 + a * a);
    const double noise_gradient = n * a * a * frame_noise / (2.0 * sigma_grid * sigma_grid);
    for (int axis = 0; axis < 2; ++axis) {
      double inv[4][4], unit[4] = {}, column[4];
      information_of(interior, c, n, inv);
      for (int k = 0; k < 2; ++k)
        inv[k][k] = std::max(inv[k][k] - noise_gradient, 0.02 * inv[k][k]);
      unit[axis] = 1.0;
      const bool definite = solve4(inv, unit, column) && column[axis] > 0.0;
      out[axis] = definite ? noise * column[axis] * s * s : HUGE_VAL;
    }
  };
  // Keys' cubic's curvature jumps at grid points, where full steps can bounce forever:
  // an axis whose step reverses without shrinking by half takes half steps from then on.
  double last[2] = {0.0, 0.0}, damping[2] = {1.0, 1.0};
  // Least squares, then the biweight (kTukey) with its cutoff from the last fit's
  // residuals; where the weighted fit does not converge, the least squares' stands.
  RobustPass robust;
  bool have_plain = false;
  double plain[2] = {0.0, 0.0}, plain_variance[2] = {0.0, 0.0};
  const auto fail = [&]() {
    if (!have_plain) return false;
    dy = plain[0];
    dx = plain[1];
    variance[0] = plain_variance[0];
    variance[1] = plain_variance[1];
    return true;
  };
  for (int iteration = 0; iteration < kMaxIterations + kMaxRobustIterations; ++iteration) {
    const bool weighted = std::isfinite(robust.cutoff);
    if (!weighted && iteration >= kMaxIterations) return false;
    double gram[5][5], interior[5][5];
    accumulate(ref, mov, dy / s, dx / s, q, weights, false, gram, &interior, threads, &robust,
               region);
    const double n = gram[3][3];  // samples of all colours (their weights)
    if (n < fewest) return fail();
    // Exposure: g = a f + b by linear regression at this shift.
    const double var_f = gram[2][2] - gram[2][3] * gram[2][3] / n;
    if (!(var_f > 0.0)) return fail();
    const double a = (gram[2][4] - gram[2][3] * gram[3][4] / n) / var_f;
    const double b = (gram[3][4] - a * gram[2][3]) / n;
    if (!(a > 0.0)) return fail();
    const bool have_residuals = robust.have_fit;
    robust.have_fit = true;
    robust.a = a;
    robust.mean_f = robust.out_mean_f;
    robust.mean_g = robust.out_mean_g;
    // Normal equations of g - a f - b ~ -a fu Dy - a fv Dx + f Da + Db.
    const double c[4] = {-a, -a, 1.0, 1.0};
    double m[4][4], rhs[4], step[4];
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 4; ++l) m[k][l] = c[k] * c[l] * gram[k][l];
      m[k][k] *= 1.0 + 1e-9;  // a trace of damping: an axis the scene does not fix stays put
      rhs[k] = c[k] * (gram[k][4] - a * gram[k][2] - b * gram[k][3]);
    }
    if (!solve4(m, rhs, step)) return fail();
    for (int axis = 0; axis < 2; ++axis) {
      if (step[axis] * last[axis] < 0.0 && std::fabs(step[axis]) > 0.5 * std::fabs(last[axis]))
        damping[axis] *= 0.5;
      last[axis] = step[axis];
    }
    const double sy = std::clamp(step[0], -1.0, 1.0) * damping[0];
    const double sx = std::clamp(step[1], -1.0, 1.0) * damping[1];
    dy += sy * s;
    dx += sx * s;
    const bool converged = std::max(std::fabs(sy), std::fabs(sx)) * s < kConverged;
    if (converged && !weighted) {
      variance_of(gram, interior, c, n, a, b, 1.0, 1.0, plain_variance);
      plain[0] = dy;
      plain[1] = dx;
      have_plain = true;
    }
    if (have_residuals && (weighted || converged)) {
      // (Only their median is wanted: ordered in place.)
      std::vector<float>& sorted = robust.residuals;
      const auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2);
      std::nth_element(sorted.begin(), middle, sorted.end());
      const double spread = std::sqrt(std::max(gram[4][4], 0.0) / n);
      const double deviation = 1.4826 * static_cast<double>(*middle);
      robust.noise_variance = deviation * deviation;
      robust.cutoff = std::max(kTukey * deviation, kCutoffFloor * spread);
      if (!(robust.cutoff > 0.0)) return fail();
      if (!weighted) continue;  // the weighted fit from here
    }
    if (converged && weighted) {
      // The frame's noise in its gradients, all of it (not the weighted
      // residuals' share), over the weighted samples.
      const double share = robust.mean_square > 0.0 && robust.noise_variance > 0.0
                               ? std::max(1.0, robust.noise_variance / robust.mean_square)
                               : 1.0;
      variance_of(gram, interior, c, n, a, b, robust.variance_factor, share, variance);
      return true;
    }
  }
  return fail();
}

// The correlation coefficient of f and g in a Gram matrix of accumulate();
// NaN where too few samples or a flat image.
double correlation(const double (&gram)[5][5]) {
  const double n = gram[3][3];
  if (n < static_cast<double>(kMinSamples * kMinSamples)) return NAN;
  const double var_f = gram[2][2] - gram[2][3] * gram[2][3] / n;
  const double var_g = gram[4][4] - gram[3][4] * gram[3][4] / n;
  const double cov = gram[2][4] - gram[2][3] * gram[3][4] / n;
  if (!(var_f > 0.0) || !(var_g > 0.0)) return NAN;
  return std::clamp(cov / std::sqrt(var_f * var_g), -1.0, 1.0);
}

}  // namespace

LumaPolish::LumaPolish(const AlignGeometry& g, int threads)
    : threads_(std::max(threads, 1)),
      height_(g.height),
      width_(g.width),
      channels_(g.channels),
      period_(g.period),
      uint16_(g.frame_dtype == PTP_DTYPE_UINT16),
      site_colours_(g.site_colours) {
  // A pattern without its colours (a geometry made by hand): every site
  // one colour, the mean of the window, as the luminance image.
  if (period_ > 1 && site_colours_.size() != static_cast<size_t>(period_ * period_))
    site_colours_.assign(static_cast<size_t>(period_ * period_), 0);
}

std::vector<std::vector<int64_t>> LumaPolish::colour_groups(const std::vector<char>& used,
                                                            Images images) const {
  std::vector<std::vector<int64_t>> groups;
  if (images == kLuminance) {
    std::vector<int64_t> all;
    for (size_t p = 0; p < used.size(); ++p)
      if (used[p]) all.push_back(static_cast<int64_t>(p));
    if (!all.empty()) groups.push_back(std::move(all));
    return groups;
  }
  if (period_ == 1) {
    for (int64_t c = 0; c < channels_; ++c)
      if (used[c]) groups.push_back({c});
    return groups;
  }
  const int32_t colours = *std::max_element(site_colours_.begin(), site_colours_.end()) + 1;
  for (int32_t colour = 0; colour < colours; ++colour) {
    std::vector<int64_t> sites;
    for (size_t p = 0; p < site_colours_.size(); ++p)
      if (used[p] && site_colours_[p] == colour) sites.push_back(static_cast<int64_t>(p));
    if (!sites.empty()) groups.push_back(std::move(sites));
  }
  return groups;
}

std::vector<SmoothedLuma> LumaPolish::smooth(std::vector<std::vector<float>> images,
                                             std::vector<float> clipped, int64_t rows, int64_t cols,
                                             Effort effort) const {
  // The clipped share is smoothed as one more image, then set apart.
  const bool with_clipped = !clipped.empty();
  if (with_clipped) images.push_back(std::move(clipped));
  const auto set_apart = [with_clipped](SmoothedLuma& s) {
    if (!with_clipped || s.colours.empty()) return;
    s.clipped = std::move(s.colours.back());
    s.colours.pop_back();
  };
  std::vector<SmoothedLuma> scales;
  SmoothedLuma fine = next_scale(images, rows, cols, 1, 0, kFine, threads_);
  if (fine.colours.empty()) return scales;
  // The quick polish fits and matches the finest scale alone (polish_once):
  // the coarser two would be made for nothing.
  SmoothedLuma middle;
  if (effort == kThorough) middle = next_scale(images, rows, cols, 1, 0, kMiddle, threads_);
  if (!middle.colours.empty()) {
    SmoothedLuma coarse = next_scale(middle.colours, middle.rows, middle.cols, middle.stride,
                                     middle.reach, kCoarse, threads_);
    set_apart(coarse);
    if (!coarse.colours.empty()) scales.push_back(std::move(coarse));
    set_apart(middle);
    scales.push_back(std::move(middle));
  }
  set_apart(fine);
  scales.push_back(std::move(fine));
  for (SmoothedLuma& scale : scales)
    scale.max_samples = effort == kQuick ? kQuickSamples : kMaxFitSamples;
  return scales;
}

std::vector<float> LumaPolish::clipped_of(const void* frame, const PolishWindow& window,
                                          const std::vector<std::vector<int64_t>>& groups) const {
  return uint16_ ? clipped_fraction(static_cast<const uint16_t*>(frame), height_, width_, window,
                                    period_, groups, threads_)
                 : clipped_fraction(static_cast<const float*>(frame), height_, width_, window,
                                    period_, groups, threads_);
}

std::vector<float> luminance_image(const void* frame, bool uint16, int64_t height, int64_t width,
                                   int64_t planes, int64_t period, const PolishWindow& window,
                                   int threads) {
  std::vector<std::vector<int64_t>> all(1);
  for (int64_t p = 0; p < (period > 1 ? period * period : planes); ++p) all[0].push_back(p);
  return std::move(uint16 ? colour_images(static_cast<const uint16_t*>(frame), height, width,
                                          window, period, all, threads)
                          : colour_images(static_cast<const float*>(frame), height, width, window,
                                          period, all, threads))[0];
}

std::vector<std::vector<float>> LumaPolish::colour_images_of(
    const void* frame, const PolishWindow& window,
    const std::vector<std::vector<int64_t>>& groups) const {
  return uint16_ ? colour_images(static_cast<const uint16_t*>(frame), height_, width_, window,
                                 period_, groups, threads_)
                 : colour_images(static_cast<const float*>(frame), height_, width_, window, period_,
                                 groups, threads_);
}

std::vector<char> LumaPolish::varying_of(const void* frame, const PolishWindow& window) const {
  const auto varying = [&](const auto* x) {
    return varying_planes(x, height_ * width_, width_, window.top, window.left, window.rows,
                          window.cols, period_, planes());
  };
  return uint16_ ? varying(static_cast<const uint16_t*>(frame))
                 : varying(static_cast<const float*>(frame));
}

// The reference's window of kMaxWindow x kMaxWindow pixels (all of a smaller side):
// its centre, unless a window of whole blocks elsewhere holds kDetailGain times the
// centre's detail, then the first (row-major) of the most detail. A block's detail:
// the squared differences of its sum (block_sums) with its right and lower
// neighbours'; on whole periods the mosaic cancels, leaving the scene's structure.
PolishWindow LumaPolish::window_of(const void* frame) const {
  const auto centred = [](int64_t side) {
    const int64_t n = std::min(side, kMaxWindow);
    return std::pair<int64_t, int64_t>{(side - n) / 2, n};
  };
  PolishWindow window;
  std::tie(window.top, window.rows) = centred(height_);
  std::tie(window.left, window.cols) = centred(width_);
  const int64_t block = (kDetailBlock + period_ - 1) / period_ * period_;
  const int64_t by = height_ / block, bx = width_ / block;
  const int64_t wy = window.rows / block, wx = window.cols / block;
  if (wy >= by && wx >= bx) return window;  // the window is the frame
  if (wy < 2 || wx < 2) return window;
  const std::vector<double> sums =
      block_sums(frame, uint16_, channels_, height_, width_, block, period_, threads_);
  // Summed detail: table[(i, j)] = the detail of blocks [0, i) x [0, j).
  std::vector<double> table(static_cast<size_t>((by + 1) * (bx + 1)), 0.0);
  for (int64_t i = 0; i < by; ++i)
    for (int64_t j = 0; j < bx; ++j) {
      const double s = sums[i * bx + j];
      double d = 0.0;
      if (j + 1 < bx) d += (sums[i * bx + j + 1] - s) * (sums[i * bx + j + 1] - s);
      if (i + 1 < by) d += (sums[(i + 1) * bx + j] - s) * (sums[(i + 1) * bx + j] - s);
      table[(i + 1) * (bx + 1) + j + 1] =
          d + table[i * (bx + 1) + j + 1] + table[(i + 1) * (bx + 1) + j] - table[i * (bx + 1) + j];
    }
  const auto detail = [&](int64_t i, int64_t j) {
    return table[(i + wy) * (bx + 1) + j + wx] - table[i * (bx + 1) + j + wx] -
           table[(i + wy) * (bx + 1) + j] + table[i * (bx + 1) + j];
  };
  const int64_t ci = std::min(by - wy, window.top / block);
  const int64_t cj = std::min(bx - wx, window.left / block);
  double best = detail(ci, cj);
  const double centre = best;
  int64_t bi = ci, bj = cj;
  for (int64_t i = 0; i + wy <= by; ++i)
    for (int64_t j = 0; j + wx <= bx; ++j)
      if (const double d = detail(i, j); d > best) {
        best = d;
        bi = i;
        bj = j;
      }
  if (!(best >= kDetailGain * centre) || (bi == ci && bj == cj)) return window;
  window.top = std::min(bi * block, height_ - window.rows);
  window.left = std::min(bj * block, width_ - window.cols);
  return window;
}

// The reference's window (window_of) and the planes that vary there; prepare() reads
// the frame itself (not a copy: FineFits keeps it).
void LumaPolish::set_reference(const void* frame) {
  // Both made before anything changes: a failed allocation leaves the last
  // reference's window, planes and images together.
  const PolishWindow window = window_of(frame);
  std::vector<char> varies = varying_of(frame, window);
  reference_windows_[kThorough] = window;
  // The quick window: the thorough one's centre.
  PolishWindow& quick = reference_windows_[kQuick];
  quick.rows = std::min(window.rows, kQuickWindow);
  quick.cols = std::min(window.cols, kQuickWindow);
  quick.top = window.top + (window.rows - quick.rows) / 2;
  quick.left = window.left + (window.cols - quick.cols) / 2;
  reference_frame_ = frame;
  converged_frame_ = nullptr;
  reference_varies_ = std::move(varies);
  for (auto& of_effort : references_)
    for (ReferenceImages& r : of_effort) r = ReferenceImages{};
  reference_ = nullptr;
  moving_.clear();
}

void LumaPolish::prepare(const void* frame, int64_t wy, int64_t wx, Images images, Effort effort) {
  moving_.clear();
  // reference(y) ~ frame(y - shift): the reference's rows [t, t + n) show the frame's
  // [t - wy, t + n - wy). Both windows are cut to what lies inside both frames (the
  // frame's wy, wx before), so edge boxes are cut alike and the borders fit too, and
  // what only one frame shows (a circular shift's wrap) is never compared.
  const auto overlap = [](int64_t start, int64_t size, int64_t w, int64_t side) {
    const int64_t first = std::max(start, w), end = std::min(start + size, side + w);
    return std::pair<int64_t, int64_t>{first, end - first};
  };
  const PolishWindow& reference_window = reference_windows_[effort];
  PolishWindow cut;
  std::tie(cut.top, cut.rows) = overlap(reference_window.top, reference_window.rows, wy, height_);
  std::tie(cut.left, cut.cols) = overlap(reference_window.left, reference_window.cols, wx, width_);
  if (cut.rows <= period_ || cut.cols <= period_) return;
  const int64_t rows = cut.rows - period_ + 1, cols = cut.cols - period_ + 1;
  const PolishWindow window{cut.top - wy, cut.left - wx, cut.rows, cut.cols};
  // Only planes that vary in both windows: one flat, clipped or dead in either says
  // nothing of the shift, pulls it and inflates the variance.
  std::vector<char> used = varying_of(frame, window);
  for (size_t p = 0; p < used.size(); ++p) used[p] &= reference_varies_[p];
  std::vector<std::vector<int64_t>> groups = colour_groups(used, images);
  if (groups.empty()) return;
  ReferenceImages& ref = references_[effort][images];
  if (cut != ref.cut || groups != ref.groups || ref.scales.empty()) {
    // Made whole before it replaces the cache: a failed allocation part
    // way must not leave a cut and groups that claim scales or weights
    // the cache lacks (the plan's next call would read them).
    ReferenceImages made;
    made.generation = ref.generation + 1;
    made.scales = smooth(colour_images_of(reference_frame_, cut, groups),
                         clipped_of(reference_frame_, cut, groups), rows, cols, effort);
    made.cut = cut;
    // The luminance image (match()) of the planes taking part: each
    // group's image weighted by its share of them.
    double planes_used = 0.0;
    for (const auto& group : groups) planes_used += static_cast<double>(group.size());
    for (const auto& group : groups)
      made.luma_weights.push_back(static_cast<double>(group.size()) / planes_used);
    made.groups = std::move(groups);
    ref = std::move(made);
  }
  reference_ = &ref;
  moving_ = smooth(colour_images_of(frame, window, ref.groups),
                   clipped_of(frame, window, ref.groups), rows, cols, effort);
  if (moving_.size() != ref.scales.size()) moving_.clear();
  moving_offset_[0] = static_cast<double>(-wy);
  moving_offset_[1] = static_cast<double>(-wx);
}

bool LumaPolish::polish(const void* frame, double& dy, double& dx, double (&variance)[2],
                        Images images, Effort effort) {
  // The colour fit of the frame whose luminance fit converged last: what
  // match() and warp() read of that fit is kept in case this one fails
  // (see the header).
  const bool after_luminance = images == kColours && converged_frame_ == frame &&
                               converged_images_ == kLuminance && converged_effort_ == effort &&
                               !moving_.empty();
  std::vector<SmoothedLuma> kept;
  if (after_luminance) kept = std::move(moving_);
  const ReferenceImages* kept_reference = reference_;
  const uint64_t kept_generation = reference_ != nullptr ? reference_->generation : 0;
  const int64_t kept_scale[2] = {best_scale_[0], best_scale_[1]};
  const double kept_offset[2] = {moving_offset_[0], moving_offset_[1]};
  converged_frame_ = nullptr;
  if (polish_once(frame, dy, dx, variance, images, effort)) {
    converged_frame_ = frame;
    converged_images_ = images;
    converged_effort_ = effort;
    return true;
  }
  // (Unless this call made that reference's images again: another cut.)
  if (after_luminance && kept_reference->generation == kept_generation) {
    moving_ = std::move(kept);
    reference_ = kept_reference;
    std::copy(kept_scale, kept_scale + 2, best_scale_);
    std::copy(kept_offset, kept_offset + 2, moving_offset_);
    converged_frame_ = frame;
    converged_images_ = kLuminance;
  }
  return false;
}

bool LumaPolish::polish_once(const void* frame, double& dy, double& dx, double (&variance)[2],
                             Images images, Effort effort) {
  moving_.clear();
  if (reference_frame_ == nullptr || !(std::fabs(dy) < static_cast<double>(height_)) ||
      !(std::fabs(dx) < static_cast<double>(width_)))
    return false;
  // Coarse to fine from the last scale's estimate; per axis the estimate of least
  // variance is kept. The coarsest must converge: it finds the basin. More than a
  // pixel from the whole-pixel shift of the cut, the windows are cut there and fitted
  // again (at most kMaxCuts); where that fails, the last fitted cut's estimate stands.
  // shift and best_variance hold that estimate; fitted, that cut's whole-pixel shift.
  best_scale_[0] = best_scale_[1] = -1;
  double shift[2] = {dy, dx}, best_variance[2] = {HUGE_VAL, HUGE_VAL};
  int64_t fitted[2] = {0, 0}, fitted_scale[2] = {-1, -1};
  for (int cut = 0; cut < kMaxCuts; ++cut) {
    const int64_t whole[2] = {std::llround(shift[0]), std::llround(shift[1])};
    prepare(frame, whole[0], whole[1], images, effort);
    bool converged = !moving_.empty();
    const double* offset = moving_offset_;
    double y = shift[0] + offset[0], x = shift[1] + offset[1];
    double best[2] = {y, x}, variance_of_best[2] = {HUGE_VAL, HUGE_VAL};
    int64_t scale_of_best[2] = {-1, -1};
    bool fitted_a_scale = false;
    // The quick polish's images hold the finest scale alone (smooth()): the
    // coarse estimate lies in its basin wherever the gate can pass the frame.
    for (size_t k = 0; converged && k < moving_.size(); ++k) {
      double found_variance[2];
      if (!fit(reference_->scales[k], moving_[k], reference_->luma_weights, y, x, found_variance,
               threads_)) {
        // Clip mismatches can leave the coarse scales' wide boxes too few samples
        // (kClipMismatch): the next finer scale starts from the same estimate.
        const bool clipped = !reference_->scales[k].clipped.empty() || !moving_[k].clipped.empty();
        if (!fitted_a_scale && clipped && k + 1 < moving_.size()) continue;
        converged = fitted_a_scale;
        break;
      }
      fitted_a_scale = true;
      const double found[2] = {y, x};
      for (int axis = 0; axis < 2; ++axis)
        if (found_variance[axis] < variance_of_best[axis]) {
          variance_of_best[axis] = found_variance[axis];
          best[axis] = found[axis];
          scale_of_best[axis] = static_cast<int64_t>(k);
        }
    }
    if (!converged) {
      if (cut == 0) return false;
      // The last cut's estimate stands; its images again for match().
      prepare(frame, fitted[0], fitted[1], images, effort);
      if (moving_.empty()) return false;
      break;
    }
    shift[0] = best[0] - offset[0];
    shift[1] = best[1] - offset[1];
    std::copy(variance_of_best, variance_of_best + 2, best_variance);
    std::copy(whole, whole + 2, fitted);
    std::copy(scale_of_best, scale_of_best + 2, fitted_scale);
    if (std::fabs(shift[0] - static_cast<double>(whole[0])) <= 1.0 &&
        std::fabs(shift[1] - static_cast<double>(whole[1])) <= 1.0)
      break;
  }
  if (std::fabs(shift[0] - dy) > kMaxMove || std::fabs(shift[1] - dx) > kMaxMove) return false;
  dy = shift[0];
  dx = shift[1];
  variance[0] = best_variance[0];
  variance[1] = best_variance[1];
  std::copy(fitted_scale, fitted_scale + 2, best_scale_);
  return true;
}

double LumaPolish::match(double dy, double dx) const {
  if (moving_.empty() || !std::isfinite(dy) || !std::isfinite(dx)) return NAN;
  // The middle scale (sigma 6.5) where there is one: smooth enough that noise barely
  // lowers the score, fine enough to tell scenes apart.
  const size_t k = moving_.size() >= 2 ? moving_.size() - 2 : 0;
  const SmoothedLuma& ref = reference_->scales[k];
  const double s = static_cast<double>(ref.stride);
  double gram[5][5];
  accumulate(ref, moving_[k], (dy + moving_offset_[0]) / s, (dx + moving_offset_[1]) / s,
             sampling_step(ref), reference_->luma_weights, true, gram, nullptr, threads_);
  return correlation(gram);
}

LumaPolish::Warp LumaPolish::warp(double dy, double dx) const {
  Warp out;
  if (moving_.empty() || best_scale_[0] < 0 || best_scale_[1] < 0 || !std::isfinite(dy) ||
      !std::isfinite(dx))
    return out;
  // Per quadrant (top left, top right, bottom left, bottom right) and axis, the
  // estimate (sensor pixels) and its variance; per axis, the halves' centres apart.
  double estimate[4][2], variance[4][2], apart[2][2], centre[2][2];
  for (int axis = 0; axis < 2; ++axis) {
    const size_t k = static_cast<size_t>(best_scale_[axis]);
    const SmoothedLuma& ref = reference_->scales[k];
    const double s = static_cast<double>(ref.stride);
    const int64_t half_rows = ref.rows / 2, half_cols = ref.cols / 2;
    // Grid point i stands for the period x period window from sensor row
    // i * s of the cut: a half's centre lies at the mean of its points.
    const auto middle = [s](int64_t first, int64_t end) {
      return 0.5 * static_cast<double>(first + end - 1) * s;
    };
    apart[axis][0] = middle(half_rows, ref.rows) - middle(0, half_rows);
    apart[axis][1] = middle(half_cols, ref.cols) - middle(0, half_cols);
    centre[axis][0] = static_cast<double>(reference_->cut.top) + middle(0, ref.rows);
    centre[axis][1] = static_cast<double>(reference_->cut.left) + middle(0, ref.cols);
    // The other axis' scale, where it is the same, was fitted with this one.
    if (axis == 1 && best_scale_[1] == best_scale_[0]) continue;
    for (int quadrant = 0; quadrant < 4; ++quadrant) {
      const bool bottom = quadrant >= 2, right = quadrant % 2 == 1;
      const GridRegion region{bottom ? half_rows : 0, right ? half_cols : 0,
                              bottom ? ref.rows : half_rows, right ? ref.cols : half_cols};
      double y = dy + moving_offset_[0], x = dx + moving_offset_[1], found_variance[2];
      if (!fit(ref, moving_[k], reference_->luma_weights, y, x, found_variance, threads_, region))
        return out;
      const double found[2] = {y - moving_offset_[0], x - moving_offset_[1]};
      for (int a = 0; a < 2; ++a) {
        if (best_scale_[a] != best_scale_[axis]) continue;
        // (A quadrant's basin that far away is another peak, as in polish().)
        if (!(std::fabs(found[a] - (a == 0 ? dy : dx)) <= kMaxMove)) return out;
        estimate[quadrant][a] = found[a];
        variance[quadrant][a] = found_variance[a];
      }
    }
  }
  if (!(apart[0][0] > 0.0 && apart[0][1] > 0.0 && apart[1][0] > 0.0 && apart[1][1] > 0.0))
    return out;
  // Each direction's gradient: its two halves' means' difference over their centres'
  // distance. The farthest corner lies extent[b] from the window's centre along b.
  const double height = static_cast<double>(height_ - 1), width = static_cast<double>(width_ - 1);
  for (int axis = 0; axis < 2; ++axis) {
    const double extent[2] = {std::max(centre[axis][0], height - centre[axis][0]),
                              std::max(centre[axis][1], width - centre[axis][1])};
    const double p[4] = {estimate[0][axis], estimate[1][axis], estimate[2][axis],
                         estimate[3][axis]};
    const double along_rows = ((p[2] + p[3]) - (p[0] + p[1])) / (2.0 * apart[axis][0]);
    const double along_cols = ((p[1] + p[3]) - (p[0] + p[2])) / (2.0 * apart[axis][1]);
    out.gradient[axis][0] = along_rows;
    out.gradient[axis][1] = along_cols;
    out.deviation[axis] = std::fabs(along_rows) * extent[0] + std::fabs(along_cols) * extent[1];
    // That deviation is sum_q c_q p_q (the gradients' signs fixed), so its
    // variance is sum_q c_q^2 var_q.
    const double sign_rows = along_rows < 0.0 ? -1.0 : 1.0;
    const double sign_cols = along_cols < 0.0 ? -1.0 : 1.0;
    double sum = 0.0;
    for (int quadrant = 0; quadrant < 4; ++quadrant) {
      const double sy = quadrant >= 2 ? 1.0 : -1.0, sx = quadrant % 2 == 1 ? 1.0 : -1.0;
      const double c = sign_rows * extent[0] * sy / (2.0 * apart[axis][0]) +
                       sign_cols * extent[1] * sx / (2.0 * apart[axis][1]);
      sum += c * c * variance[quadrant][axis];
    }
    out.deviation_sd[axis] = std::sqrt(sum);
  }
  out.fitted = true;
  return out;
}

}  // namespace ptychopatch::impl
