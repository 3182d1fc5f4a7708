// cpu::LineDft (src/correlate/line_dft.hpp): lines transformed by FFTW, or by
// Bluestein's algorithm on FFTW, against a direct DFT in double; the rule
// that picks the algorithm and the chirp's length.
#include <fftw3.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "correlate/line_dft.hpp"
#include "cpu/aligned_array.hpp"
#include "fft/fftw_planner.hpp"  // fftw_planner_mutex

namespace {

using ptychopatch::impl::cpu::AlignedArray;
using ptychopatch::impl::cpu::chirp_length;
using ptychopatch::impl::cpu::LineDft;
using ptychopatch::impl::cpu::uses_chirp;

// sum_j x[j] exp(sign 2 pi i j k / n), in long double (an oracle for the
// float64 transforms too).
template <class Real>
std::vector<std::complex<long double>> direct_dft(const std::vector<std::complex<Real>>& x,
                                                  int sign) {
  const auto n = static_cast<int64_t>(x.size());
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<std::complex<long double>> out(n);
  for (int64_t k = 0; k < n; ++k) {
    std::complex<long double> sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      const long double angle =
          sign * 2 * pi * static_cast<long double>(j * k % n) / static_cast<long double>(n);
      sum += std::complex<long double>(x[j]) *
             std::complex<long double>(std::cos(angle), std::sin(angle));
    }
    out[k] = sum;
  }
  return out;
}

TEST(LineDft, ChirpRuleAndLength) {
  // Largest prime factor above 31: 37, 41 x 24, 1009; not 31 x 32, 2^10, 17 x 64.
  for (int64_t n : {37, 984, 1009, 2 * 509, 4093}) EXPECT_TRUE(uses_chirp(n)) << n;
  for (int64_t n : {1, 2, 31, 992, 1024, 1088, 3 * 5 * 7 * 11 * 13})
    EXPECT_FALSE(uses_chirp(n)) << n;
  for (int64_t n = 32; n < 5000; n += 37) {
    const int64_t m = chirp_length(n);
    EXPECT_GE(m, 2 * n - 1) << n;
    int64_t odd = m;
    while (odd % 2 == 0) odd /= 2;
    EXPECT_TRUE(odd == 1 || odd == 3 || odd == 5 || odd == 9) << n << " -> " << m;
    EXPECT_LE(m, 4 * n) << n;
  }
  EXPECT_EQ(chirp_length(1009), 2048);
  EXPECT_EQ(chirp_length(2053), 4608);  // 9 x 2^9, not 8192
}

// Every line of a block, both signs, lengths transformed directly and by
// Bluestein's algorithm (primes, a prime times a power of two, a length
// just above a power of two), against the direct DFT. `tolerance`: of the
// largest bin, a few eps times log2(m) of the precision.
template <class Real>
void expect_direct_transform(double tolerance) {
  std::mt19937 rng(5);
  std::normal_distribution<Real> normal;
  for (int64_t n : {1, 2, 7, 31, 32, 37, 64, 67, 97, 127, 2 * 509, 1009, 1025}) {
    for (int sign : {FFTW_FORWARD, FFTW_BACKWARD}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " sign " << sign);
      std::unique_ptr<LineDft<Real>> dft;
      {
        std::lock_guard<std::mutex> lock(ptychopatch::impl::cpu::fftw_planner_mutex());
        dft = std::make_unique<LineDft<Real>>(n, sign, FFTW_ESTIMATE);
      }
      ASSERT_EQ(dft->length(), n);
      ASSERT_GE(dft->lines(), 1);
      ASSERT_GE(dft->pitch(), n);
      AlignedArray<Real> block(2 * dft->block_size());
      std::vector<std::vector<std::complex<Real>>> lines(dft->lines());
      for (int64_t t = 0; t < dft->lines(); ++t) {
        lines[t].resize(n);
        for (int64_t j = 0; j < n; ++j) {
          lines[t][j] = {normal(rng), normal(rng)};
          block.get()[2 * (t * dft->pitch() + j)] = lines[t][j].real();
          block.get()[2 * (t * dft->pitch() + j) + 1] = lines[t][j].imag();
        }
      }
      const Real* result = dft->execute(block.get());
      for (int64_t t = 0; t < dft->lines(); ++t) {
        const auto want = direct_dft(lines[t], sign);
        long double largest = 0, worst = 0;
        for (int64_t k = 0; k < n; ++k) {
          largest = std::max(largest, std::abs(want[k]));
          const std::complex<long double> got(result[2 * (t * dft->pitch() + k)],
                                              result[2 * (t * dft->pitch() + k) + 1]);
          worst = std::max(worst, std::abs(got - want[k]));
        }
        EXPECT_LT(static_cast<double>(worst), tolerance * static_cast<double>(largest))
            << "line " << t;
      }
    }
  }
}

TEST(LineDft, MatchesTheDirectTransformInDouble) {
  expect_direct_transform<float>(2e-6);
}

// The same code in float64 (the plans of ptp_correlate_execute_f64): a
// float32 transform anywhere in it would miss this by seven digits.
TEST(LineDft, Float64MatchesTheDirectTransformInLongDouble) {
  expect_direct_transform<double>(1e-14);
}

}  // namespace
