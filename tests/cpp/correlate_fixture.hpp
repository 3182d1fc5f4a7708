// What the pair-correlation tests (test_correlate.cpp,
// test_correlate_f64.cpp) share: the oracle, a direct DFT in long double
// (the definition of ptychopatch.h, which is scikit-image's), random
// images, and the fixture: a CPU context of one thread, and make(), which
// (re)creates plan_ of a shape, normalisation, planning effort and dtype.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <complex>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "ptychopatch.h"

struct Oracle {
  std::vector<std::complex<double>> half;  // ny x (nx / 2 + 1)
  std::vector<double> magnitude;           // |R conj(M)| of `half`'s bins, before any phase step
  std::vector<double> correlation;         // ny x nx
};

// exp(sign 2 pi i j / n), j < n, in long double.
inline std::vector<std::complex<long double>> twiddles(int64_t n, int sign) {
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<std::complex<long double>> w(n);
  for (int64_t j = 0; j < n; ++j) {
    const long double angle = sign * 2 * pi * static_cast<long double>(j) / n;
    w[j] = {std::cos(angle), std::sin(angle)};
  }
  return w;
}

// X = R conj(M) by direct DFTs in long double, X / max(|X|, 100 eps) with
// `phase` (eps of Real, the images' precision, as scikit-image's guard),
// and c = IDFT(X) (1/N), real part; rounded to double.
template <class Real>
Oracle direct_correlation(const std::vector<Real>& ref, const std::vector<Real>& mov, int64_t ny,
                          int64_t nx, bool phase) {
  using cld = std::complex<long double>;
  const auto fy = twiddles(ny, -1), fx = twiddles(nx, -1);
  const auto iy = twiddles(ny, 1), ix = twiddles(nx, 1);
  const long double guard = 100.0L * std::numeric_limits<Real>::epsilon();
  const int64_t n = ny * nx;
  std::vector<cld> x(n);
  std::vector<long double> magnitude(n);
  for (int64_t ky = 0; ky < ny; ++ky)
    for (int64_t kx = 0; kx < nx; ++kx) {
      cld r = 0, m = 0;
      for (int64_t y = 0; y < ny; ++y)
        for (int64_t xx = 0; xx < nx; ++xx) {
          const cld w = fy[ky * y % ny] * fx[kx * xx % nx];
          r += static_cast<long double>(ref[y * nx + xx]) * w;
          m += static_cast<long double>(mov[y * nx + xx]) * w;
        }
      cld v = r * std::conj(m);
      magnitude[ky * nx + kx] = std::abs(v);
      if (phase) v /= std::max(std::abs(v), guard);
      x[ky * nx + kx] = v;
    }
  Oracle o;
  const int64_t nxh = nx / 2 + 1;
  o.half.resize(ny * nxh);
  o.magnitude.resize(ny * nxh);
  for (int64_t ky = 0; ky < ny; ++ky)
    for (int64_t kx = 0; kx < nxh; ++kx) {
      o.half[ky * nxh + kx] = x[ky * nx + kx];
      o.magnitude[ky * nxh + kx] = static_cast<double>(magnitude[ky * nx + kx]);
    }
  o.correlation.resize(n);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t xx = 0; xx < nx; ++xx) {
      cld c = 0;
      for (int64_t ky = 0; ky < ny; ++ky)
        for (int64_t kx = 0; kx < nx; ++kx)
          c += x[ky * nx + kx] * iy[ky * y % ny] * ix[kx * xx % nx];
      o.correlation[y * nx + xx] = static_cast<double>(c.real() / n);
    }
  return o;
}

// `count` values uniform in [-scale, scale).
template <class Real>
std::vector<Real> random_values(int64_t count, uint32_t seed, Real scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<Real> u(-1, 1);
  std::vector<Real> v(count);
  for (auto& x : v) x = scale * u(rng);
  return v;
}

class CorrelateFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ptp_context_options options;
    ASSERT_EQ(ptp_context_options_init(&options, sizeof options), PTP_SUCCESS);
    options.backend = PTP_BACKEND_CPU;
    ASSERT_EQ(ptp_context_create(&options, &context_), PTP_SUCCESS);
  }
  void TearDown() override {
    ptp_correlate_plan_destroy(plan_);
    ptp_context_destroy(context_);
  }
  ptp_status make(int64_t ny, int64_t nx, int32_t normalization, int32_t planning, int32_t dtype) {
    ptp_correlate_desc desc;
    EXPECT_EQ(ptp_correlate_desc_init(&desc, sizeof desc), PTP_SUCCESS);
    desc.height = ny;
    desc.width = nx;
    desc.normalization = normalization;
    desc.fft_planning = planning;
    desc.dtype = dtype;
    ptp_correlate_plan_destroy(plan_);
    plan_ = nullptr;
    return ptp_correlate_plan_create(context_, &desc, &plan_);
  }
  ptp_context* context_ = nullptr;
  ptp_correlate_plan* plan_ = nullptr;
};
