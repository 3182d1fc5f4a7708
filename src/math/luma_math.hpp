// The luminance image of the default alignment estimator (PTP_COMBINE_LUMA,
// docs/semantics.md "The luminance image"): the frame's mean over every
// window of one colour-pattern period (for Bayer that mean taken twice:
// luma_window), and the quadratic trend removed from it. Written once for
// every backend: the host makes the image for the CPU backend
// (src/align/coarse/align_luma.cpp), the GPU backend makes the same bytes on its
// device (cuda/luma_kernels.cu).
//
// Why a box of one period: each P x P window of a Bayer (P = 2) or X-Trans
// (P = 6) mosaic holds every site of the pattern exactly once, so a scene of
// one flat colour gives the same value at every position: the mosaic is
// gone. The windows are taken every s = luma_stride(P) pixels (below): a
// translation of the scene by (s dy, s dx) translates the image by
// (dy, dx).
//
// Why the trend: illumination gradients, vignetting and the window's own
// envelope make a low-order field that either does not move with the
// content (vignetting is fixed to the sensor) or, under the Hann window,
// makes a broad correlation peak that pulls the estimate toward the
// window's position. The least-squares quadratic removed is
//   t(i, j) = c0 + c1 a(i) + c2 b(j) + c3 q(i) + c4 a(i) b(j) + c5 r(j)
// with a(i) = i - (ny - 1) / 2, q(i) = a(i)^2 - (ny^2 - 1) / 12 (and b, r
// alike over nx): a basis orthogonal on the full grid, so each coefficient
// is one sum, c_k = <L, basis_k> / <basis_k, basis_k>.
//
// Every double operation below goes through math/round_nearest.hpp, so the
// device's images are the host's bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "math/host_device.hpp"
#include "math/round_nearest.hpp"

namespace ptychopatch::math {

// The image samples the windows every luma_stride(P) frame rows and
// columns: 1 without a pattern, 2 for Bayer, 3 for X-Trans. The coarse
// stage needs the crop only to within the fine stage's reach (the polish
// sets the sub-pixel shift on its own full-resolution image), so the image
// keeps what the mean passes below a quarter (Bayer) or a sixth (X-Trans)
// of the sensor's sampling, at a quarter or a ninth of the pixels: on the
// robustness tables the default was right exactly as often at these
// strides as at 1, and the coarse stage alone about as often
// (docs/notes/alignment.md, "The luminance image's stride").
PTP_HD int64_t luma_stride(int64_t period) {
  return period == 6 ? 3 : period;
}

// The window of an image pixel: K x K frame pixels, K = luma_window(...),
// weighted by luma_tap along each axis.
//  - X-Trans (P = 6) and channels (P = 1): K = P, every tap 1: the P x P
//    mean;
//  - Bayer (P = 2): K = 3, taps (1, 2, 1): the 2 x 2 mean taken twice. Why:
//    the 2 x 2 mean has a single zero at the sensor's Nyquist frequency, so
//    colour edges leave a little of the mosaic's modulation near it, fixed
//    to the sensor's grid; partial whitening raises it, and on blurred
//    frames (little else left up there) it pulled sub-pixel estimates of
//    odd shifts 0.3 to 0.5 pixel toward even ones (docs/notes/alignment.md,
//    "The Bayer window").
//    The (1, 2, 1) taps have a double zero there. Each Bayer site still
//    weighs 1/4 of every window (per axis, the taps on one parity add to 2
//    wherever the window starts), so one flat colour still gives a constant
//    image. Frames trimmed to 2 rows or columns keep the 2 x 2 mean.
PTP_HD int64_t luma_window(int64_t period, int64_t trimmed_rows, int64_t trimmed_cols) {
  return period == 2 && trimmed_rows > 2 && trimmed_cols > 2 ? 3 : period;
}

// Tap a (0 <= a < window) along one axis: 1 at the ends, 2 inside for the
// wider Bayer window, else 1; and the taps' sum along one axis.
PTP_HD int luma_tap(int64_t window, int64_t period, int64_t a) {
  return window > period && a > 0 && a < window - 1 ? 2 : 1;
}
PTP_HD int luma_tap_sum(int64_t window, int64_t period) {
  return window > period ? 2 * static_cast<int>(period) : static_cast<int>(window);
}

// a(i): the centred coordinate of row (column) i of n.
PTP_HD double trend_linear(int64_t i, int64_t n) {
  return sub_rn(static_cast<double>(i), mul_rn(0.5, static_cast<double>(n - 1)));
}

// q(i): the second orthogonal polynomial of n points, a(i)^2 minus its mean
// (n^2 - 1) / 12, so that its sum over the n points is 0.
PTP_HD double trend_quadratic(int64_t i, int64_t n) {
  const double a = trend_linear(i, n);
  const double nn = static_cast<double>(n);
  return sub_rn(mul_rn(a, a), sub_rn(mul_rn(nn, nn), 1.0) / 12.0);
}

// a(i) and q(i) for i < n into linear[0..n) and quadratic[0..n): the
// trend's basis along one axis, made once per plan (host and device read
// these tables).
inline void trend_axis(int64_t n, double* linear, double* quadratic) {
  for (int64_t i = 0; i < n; ++i) {
    linear[i] = trend_linear(i, n);
    quadratic[i] = trend_quadratic(i, n);
  }
}

// sum over the n points of a(i)^2 (linear) or q(i)^2, in point order.
PTP_HD double trend_norm(int64_t n, bool quadratic) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = quadratic ? trend_quadratic(i, n) : trend_linear(i, n);
    s = add_rn(s, mul_rn(v, v));
  }
  return s;
}

// The sums of one image row that the fit needs: sum L, sum b L, sum r L,
// in a fixed tree of kTrendLanes lanes: lane l adds columns l, l + 32, ...
// in column order (add_to_row_sums), then fold_trend_lanes adds the lanes
// pairwise. Both backends sum so, a warp's lanes on a GPU, vector lanes on
// the host (a serial sum per row kept a GPU thread per row and the host's
// adds waiting on each other).
struct TrendRowSums {
  double sum;
  double b;
  double r;
};

constexpr int kTrendLanes = 32;

PTP_HD void add_to_row_sums(TrendRowSums& s, double v, double b, double r) {
  s.sum = add_rn(s.sum, v);
  s.b = add_rn(s.b, mul_rn(b, v));
  s.r = add_rn(s.r, mul_rn(r, v));
}

// lanes[0] = the row's sums: lane l += lane l + h for h = 16, 8, 4, 2, 1.
PTP_HD void fold_trend_lanes(TrendRowSums* lanes) {
  for (int h = kTrendLanes / 2; h > 0; h /= 2)
    for (int l = 0; l < h; ++l) {
      lanes[l].sum = add_rn(lanes[l].sum, lanes[l + h].sum);
      lanes[l].b = add_rn(lanes[l].b, lanes[l + h].b);
      lanes[l].r = add_rn(lanes[l].r, lanes[l + h].r);
    }
}

// The six sums s0..s5 of trend_coefficients, from the rows' sums taken in
// row order: row i (coordinates a, q) adds its part.
PTP_HD void add_row_to_trend_sums(double s[6], const TrendRowSums& row, double a, double q) {
  s[0] = add_rn(s[0], row.sum);
  s[1] = add_rn(s[1], mul_rn(a, row.sum));
  s[2] = add_rn(s[2], row.b);
  s[3] = add_rn(s[3], mul_rn(q, row.sum));
  s[4] = add_rn(s[4], mul_rn(a, row.b));
  s[5] = add_rn(s[5], row.r);
}

// The coefficients c0..c5 from the six sums of the image times each basis
// function (s0 = sum L, s1 = sum a L, s2 = sum b L, s3 = sum q L, s4 = sum a
// b L, s5 = sum r L) and the one-axis norms: na = sum a^2, nq = sum q^2
// over the rows, nb, nr over the columns (trend_norm). A basis function
// that is zero on the grid (a for one row, q for fewer than three) gets
// coefficient 0.
struct Trend {
  double c[6];
};

PTP_HD Trend trend_coefficients(const double s[6], int64_t ny, int64_t nx, double na, double nq,
                                double nb, double nr) {
  const double rows = static_cast<double>(ny);
  const double cols = static_cast<double>(nx);
  const double norms[6] = {mul_rn(rows, cols), mul_rn(na, cols), mul_rn(rows, nb),
                           mul_rn(nq, cols),   mul_rn(na, nb),   mul_rn(rows, nr)};
  Trend t{};
  for (int k = 0; k < 6; ++k) t.c[k] = norms[k] > 0.0 ? s[k] / norms[k] : 0.0;
  return t;
}

// t(i, j) = row + slope * b(j) + c5 * r(j), with the row's part
// row = c0 + c1 a(i) + c3 q(i) and slope = c2 + c4 a(i) (trend_row), so a
// row costs two multiply-adds per pixel.
struct TrendRow {
  double row;
  double slope;
};

PTP_HD TrendRow trend_row(const Trend& t, double a, double q) {
  return {add_rn(add_rn(t.c[0], mul_rn(t.c[1], a)), mul_rn(t.c[3], q)),
          add_rn(t.c[2], mul_rn(t.c[4], a))};
}

PTP_HD double trend_value(const Trend& t, const TrendRow& row, double b, double r) {
  return add_rn(add_rn(row.row, mul_rn(row.slope, b)), mul_rn(t.c[5], r));
}

// L - t at a pixel of value l in column (b, r) of a row, in double.
PTP_HD double trend_residual(const Trend& t, const TrendRow& row, float l, double b, double r) {
  return sub_rn(static_cast<double>(l), trend_value(t, row, b, r));
}

// Images with fewer rows or columns than this keep their trend (the
// backend removes only the mean): six coefficients would take most of what
// a few pixels say (a 2 x 2 image is fitted exactly).
constexpr int64_t kTrendMinSide = 8;

PTP_HD bool luma_has_trend(int64_t rows, int64_t cols) {
  return rows >= kTrendMinSide && cols >= kTrendMinSide;
}

// A luminance image carries no information when nothing is left of it after
// the trend beyond float32 rounding of its values: every |L - t| at most
// kFlatLuma times max |L|. (2^-20: sixteen units in the last place of the
// largest value; what is below that is rounding of the box means, not
// content.)
constexpr double kFlatLuma = 1.0 / 1048576.0;

// Whether an image with largest |L - t| `top_residual` and largest |L|
// `top_value` carries information (kFlatLuma); false for NaN.
PTP_HD bool luma_informative(double top_residual, double top_value) {
  return top_residual > mul_rn(kFlatLuma, top_value);
}

// The power of two e that brings every residual under 2^126 (scaled by
// 2^-e; 0 for all but float frames near float32's range): a common scale
// changes neither the shift nor the confidence.
PTP_HD int luma_scale_exponent(double top_residual) {
  int e = 0;
  while (ldexp(top_residual, -e) >= ldexp(1.0, 126)) ++e;
  return e;
}

// Image pixel of a mosaic frame of period P = kPeriod and window
// K = kWindow (luma_window; x: rows of `width` values): the luma_tap
// weighted mean of the K x K window at frame row y0, column x0 over the
// sites whose plane (r % P) P + (c % P) takes part (use[plane] != 0), the
// others counted as 0. uint16 frames sum exactly in integers (at most 36 x
// 65535 or 16 x 65535: below 2^22); float32 frames add in double, along
// each window row (b increasing, each value times its tap) and then the
// rows' sums (a increasing, each times its tap). The CPU backend's running
// sums give the same values (align_luma.cpp).
template <int kPeriod, int kWindow, class T>
PTP_HD float window_mean(const T* x, int64_t width, int64_t y0, int64_t x0,
                         const unsigned char* use) {
  constexpr int kTapSum = kWindow > kPeriod ? 2 * kPeriod : kWindow;
  const double scale = 1.0 / static_cast<double>(kTapSum * kTapSum);
  // The window's first site (y0 % P, x0 % P); the others follow it with a
  // wrap (K <= P + 1, so one subtraction).
  const int r0 = static_cast<int>(y0 % kPeriod);
  const int c0 = static_cast<int>(x0 % kPeriod);
  const T* origin = x + y0 * width + x0;
  if constexpr (sizeof(T) == 2) {
    int32_t sum = 0;
    for (int a = 0; a < kWindow; ++a) {
      const int r = r0 + a < kPeriod ? r0 + a : r0 + a - kPeriod;
      const T* row = origin + a * width;
      int32_t part = 0;
      for (int b = 0; b < kWindow; ++b) {
        const int c = c0 + b < kPeriod ? c0 + b : c0 + b - kPeriod;
        if (use[r * kPeriod + c])
          part += luma_tap(kWindow, kPeriod, b) * static_cast<int32_t>(row[b]);
      }
      sum += luma_tap(kWindow, kPeriod, a) * part;
    }
    return static_cast<float>(mul_rn(static_cast<double>(sum), scale));
  } else {
    double sum = 0.0;
    for (int a = 0; a < kWindow; ++a) {
      const int r = r0 + a < kPeriod ? r0 + a : r0 + a - kPeriod;
      const T* row = origin + a * width;
      double part = 0.0;
      for (int b = 0; b < kWindow; ++b) {
        const int c = c0 + b < kPeriod ? c0 + b : c0 + b - kPeriod;
        const double v = use[r * kPeriod + c] ? static_cast<double>(row[b]) : 0.0;
        part = add_rn(part, mul_rn(static_cast<double>(luma_tap(kWindow, kPeriod, b)), v));
      }
      sum = add_rn(sum, mul_rn(static_cast<double>(luma_tap(kWindow, kPeriod, a)), part));
    }
    return static_cast<float>(mul_rn(sum, scale));
  }
}

// Image pixel of planar channels (PTP_CFA_NONE; x: `channels` planes of
// `plane` values) at index `at` of a plane: the sum of the taking-part
// channels there, in channel order, in double, divided by the number of
// channels (all of them).
template <class T>
PTP_HD float channel_mean(const T* x, int64_t plane, int64_t at, int64_t channels,
                          const unsigned char* use) {
  double sum = 0.0;
  for (int64_t c = 0; c < channels; ++c)
    if (use[c]) sum = add_rn(sum, static_cast<double>(x[c * plane + at]));
  return static_cast<float>(mul_rn(sum, 1.0 / static_cast<double>(channels)));
}

}  // namespace ptychopatch::math
