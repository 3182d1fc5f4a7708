// The luminance image of the default alignment estimator (PTP_COMBINE_LUMA,
// docs/semantics.md "The luminance image"): the frame's mean over every
// window of one colour-pattern period, and the quadratic trend removed from
// it. Written once for every backend: the core computes the image on the
// host (src/align/align_luma.cpp) and hands it to the CPU or GPU backend.
//
// Why a box of one period: each P x P window of a Bayer (P = 2) or X-Trans
// (P = 6) mosaic holds every site of the pattern exactly once, so a scene of
// one flat colour gives the same value at every position: the mosaic is
// gone, while the image keeps the sensor's sampling (Bayer) or half of it
// per axis (X-Trans, below), where an X-Trans plane has a sixth. The
// windows are taken every s = luma_stride(P) pixels: a translation of the
// scene by (s dy, s dx) translates the image by (dy, dx).
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
#pragma once

#include <cstdint>

#include "math/host_device.hpp"

namespace ptychopatch::math {

// The image samples the windows every luma_stride(P) frame rows and
// columns: P / 2 rounded up, so 1 for Bayer and no pattern, 3 for X-Trans.
// The P x P mean passes nothing at 1/P cycles per pixel and little above
// it, so sampling at P / 2 (whose Nyquist frequency is 1/P) keeps what the
// mean keeps, at a ninth of the pixels for X-Trans; Bayer's 2 x 2 mean
// passes up to the sensor's own Nyquist frequency, so its image keeps every
// pixel. (On the robustness benchmark X-Trans frames were right as often
// at stride 3 as at 1, and Bayer frames less often at stride 2:
// docs/performance.md.)
PTP_HD int64_t luma_stride(int64_t period) {
  return (period + 1) / 2;
}

// a(i): the centred coordinate of row (column) i of n.
PTP_HD double trend_linear(int64_t i, int64_t n) {
  return static_cast<double>(i) - 0.5 * static_cast<double>(n - 1);
}

// q(i): the second orthogonal polynomial of n points, a(i)^2 minus its mean
// (n^2 - 1) / 12, so that its sum over the n points is 0.
PTP_HD double trend_quadratic(int64_t i, int64_t n) {
  const double a = trend_linear(i, n);
  const double nn = static_cast<double>(n);
  return a * a - (nn * nn - 1.0) / 12.0;
}

// The coefficients c0..c5 from the six sums of the image times each basis
// function (s0 = sum L, s1 = sum a L, s2 = sum b L, s3 = sum q L, s4 = sum a
// b L, s5 = sum r L) and the one-axis norms: na = sum a^2, nq = sum q^2
// over the rows, nb, nr over the columns. A basis function that is zero on
// the grid (a for one row, q for fewer than three) gets coefficient 0.
struct Trend {
  double c[6];
};

PTP_HD Trend trend_coefficients(const double s[6], int64_t ny, int64_t nx, double na, double nq,
                                double nb, double nr) {
  const double rows = static_cast<double>(ny);
  const double cols = static_cast<double>(nx);
  const double norms[6] = {rows * cols, na * cols, rows * nb, nq * cols, na * nb, rows * nr};
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
  return {t.c[0] + t.c[1] * a + t.c[3] * q, t.c[2] + t.c[4] * a};
}

PTP_HD double trend_value(const Trend& t, const TrendRow& row, double b, double r) {
  return row.row + row.slope * b + t.c[5] * r;
}

// Images with fewer rows or columns than this keep their trend (the
// backend removes only the mean): six coefficients would take most of what
// a few pixels say (a 2 x 2 image is fitted exactly).
constexpr int64_t kTrendMinSide = 8;

// A luminance image carries no information when nothing is left of it after
// the trend beyond float32 rounding of its values: every |L - t| at most
// kFlatLuma times max |L|. (2^-20: sixteen units in the last place of the
// largest value; what is below that is rounding of the box means, not
// content.)
constexpr double kFlatLuma = 1.0 / 1048576.0;

}  // namespace ptychopatch::math
