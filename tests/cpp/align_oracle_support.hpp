// Double-precision building blocks of the alignment oracles
// (test_align_luma.cpp, test_align_results.cpp): a naive 2-D DFT, scikit-image's
// upsampled-DFT refinement and the periodic Hann window, written out from their definitions, the
// plane without its isolated sites, and the smooth random scenes those tests translate.
#pragma once

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

namespace naive {

constexpr double kPi = 3.14159265358979323846;

// The isolated value of each value of a plane (ny x nx values, each one of
// the frame's values) as docs/semantics.md ("Isolated sites") defines it:
// where its eight neighbours in the plane, taken circularly, span
// [lo, hi], hi if v > hi + 2 (hi - lo), lo if v < lo - 2 (hi - lo), else
// v itself. Planes of fewer than 3 rows or columns keep every value.
inline std::vector<double> isolated_values(const std::vector<double>& v, int64_t ny, int64_t nx) {
  std::vector<double> out = v;
  if (ny < 3 || nx < 3) return out;
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t a = -1; a <= 1; ++a)
        for (int64_t b = -1; b <= 1; ++b) {
          if (a == 0 && b == 0) continue;
          const double n = v[((i + a + ny) % ny) * nx + (j + b + nx) % nx];
          lo = std::min(lo, n);
          hi = std::max(hi, n);
        }
      const double x = v[i * nx + j];
      if (x > hi + 2.0 * (hi - lo)) out[i * nx + j] = hi;
      if (x < lo - 2.0 * (hi - lo)) out[i * nx + j] = lo;
    }
  return out;
}

// A mosaic's reference and moving planes as its estimators see them, for a
// call of that one frame: the values isolated in both at the same place
// replaced by their isolated values, in each.
inline void without_shared_isolated_sites(std::vector<double>& ref, std::vector<double>& mov,
                                          int64_t ny, int64_t nx) {
  const std::vector<double> r = isolated_values(ref, ny, nx);
  const std::vector<double> m = isolated_values(mov, ny, nx);
  for (size_t k = 0; k < ref.size(); ++k)
    if (r[k] != ref[k] && m[k] != mov[k]) {
      ref[k] = r[k];
      mov[k] = m[k];
    }
}

// The same for a reference and a moving frame of `width` columns whose
// first rows x cols values the estimator reads, per pattern position's
// plane (rows r, r + period, ..., columns c, c + period, ... of that
// area); the rest as given.
template <class T>
void frames_without_shared_isolated_sites(std::vector<T>& ref, std::vector<T>& mov, int64_t width,
                                          int64_t period, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < period; ++r)
    for (int64_t c = 0; c < period; ++c) {
      const int64_t ny = (rows - r + period - 1) / period;
      const int64_t nx = (cols - c + period - 1) / period;
      std::vector<double> pr, pm;
      for (int64_t i = 0; i < ny; ++i)
        for (int64_t j = 0; j < nx; ++j) {
          pr.push_back(static_cast<double>(ref[(r + i * period) * width + c + j * period]));
          pm.push_back(static_cast<double>(mov[(r + i * period) * width + c + j * period]));
        }
      without_shared_isolated_sites(pr, pm, ny, nx);
      for (int64_t i = 0; i < ny; ++i)
        for (int64_t j = 0; j < nx; ++j) {
          ref[(r + i * period) * width + c + j * period] = static_cast<T>(pr[i * nx + j]);
          mov[(r + i * period) * width + c + j * period] = static_cast<T>(pm[i * nx + j]);
        }
    }
}

// The 2-D DFT of an ny x nx row-major array, sign -1 (forward) or +1
// (unnormalised inverse), rows first.
inline std::vector<std::complex<double>> dft2(const std::vector<std::complex<double>>& in,
                                              int64_t ny, int64_t nx, int sign) {
  std::vector<std::complex<double>> rows(in.size()), out(in.size());
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t k = 0; k < nx; ++k) {
      std::complex<double> s = 0.0;
      for (int64_t j = 0; j < nx; ++j)
        s += in[i * nx + j] * std::polar(1.0, sign * 2.0 * kPi * double(j * k % nx) / nx);
      rows[i * nx + k] = s;
    }
  for (int64_t k = 0; k < ny; ++k)
    for (int64_t x = 0; x < nx; ++x) {
      std::complex<double> s = 0.0;
      for (int64_t i = 0; i < ny; ++i)
        s += rows[i * nx + x] * std::polar(1.0, sign * 2.0 * kPi * double(i * k % ny) / ny);
      out[k * nx + x] = s;
    }
  return out;
}

// scikit-image's upsampled-DFT refinement of the integer peak (sy, sx) of the
// cross-power spectrum x (ny x nx, full): |CC| over the ceil(1.5 up)^2 samples
// spaced 1/up around it, CC(a, b) = sum x(ky, kx) exp(2 pi i (pos_a fy / (ny up) +
// pos_b fx / (nx up))), pos = index - dftshift + shift * up, f = numpy's
// fftfreq(n) * n; the first (row-major) maximum's shift and |CC|.
inline void upsampled_peak(const std::vector<std::complex<double>>& x, int64_t ny, int64_t nx,
                           int64_t sy, int64_t sx, int up, double* dy, double* dx, double* peak) {
  const auto freq = [](int64_t k, int64_t n) { return double(k < (n + 1) / 2 ? k : k - n); };
  const int64_t region = int64_t(std::ceil(1.5 * up));
  const int64_t dftshift = region / 2;
  std::vector<std::complex<double>> u(static_cast<size_t>(ny * region));
  for (int64_t ky = 0; ky < ny; ++ky)
    for (int64_t b = 0; b < region; ++b) {
      std::complex<double> s = 0.0;
      const double pos = double(b - dftshift + sx * up);
      for (int64_t kx = 0; kx < nx; ++kx)
        s += x[ky * nx + kx] * std::polar(1.0, 2.0 * kPi * pos * freq(kx, nx) / double(nx * up));
      u[ky * region + b] = s;
    }
  double top = -1.0;
  int64_t ba = 0, bb = 0;
  for (int64_t a = 0; a < region; ++a) {
    const double pos = double(a - dftshift + sy * up);
    for (int64_t b = 0; b < region; ++b) {
      std::complex<double> s = 0.0;
      for (int64_t ky = 0; ky < ny; ++ky)
        s += u[ky * region + b] * std::polar(1.0, 2.0 * kPi * pos * freq(ky, ny) / double(ny * up));
      if (std::abs(s) > top) {
        top = std::abs(s);
        ba = a;
        bb = b;
      }
    }
  }
  *dy = double(sy) + double(ba - dftshift) / up;
  *dx = double(sx) + double(bb - dftshift) / up;
  *peak = top;
}

// The periodic Hann weight of sample i of n (1 for n = 1).
inline double hann(int64_t i, int64_t n) {
  return n == 1 ? 1.0 : 0.5 - 0.5 * std::cos(2.0 * kPi * double(i) / double(n));
}

// A smooth random periodic field of h x w: uniform noise in [0, 1) from
// `seed`, then `passes` passes of a 5-point blur (weights 1, 2, 1 along the
// row, 1, 1 across), circularly.
inline std::vector<double> smooth_field(int64_t h, int64_t w, uint32_t seed, int passes = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> f(static_cast<size_t>(h * w));
  for (double& v : f) v = u(rng);
  std::vector<double> g(f.size());
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j)
        g[i * w + j] = (f[i * w + (j + w - 1) % w] + 2 * f[i * w + j] + f[i * w + (j + 1) % w] +
                        f[((i + h - 1) % h) * w + j] + f[((i + 1) % h) * w + j]) /
                       6.0;
    f.swap(g);
  }
  return f;
}

// f at (i, j) after a circular translation of the content by (ty, tx).
inline double translated(const std::vector<double>& f, int64_t h, int64_t w, int64_t i, int64_t j,
                         int64_t ty, int64_t tx) {
  return f[((i - ty + 8 * h) % h) * w + (j - tx + 8 * w) % w];
}

}  // namespace naive
