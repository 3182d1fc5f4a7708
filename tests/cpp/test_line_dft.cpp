// cpu::LineDft (src/align/line_dft.hpp): lines transformed by FFTW, or by
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

#include "align/align_cpu.hpp"  // fftw_planner_mutex
#include "align/line_dft.hpp"
#include "cpu/aligned_array.hpp"

namespace {

using ptychopatch::impl::cpu::AlignedArray;
using ptychopatch::impl::cpu::chirp_length;
using ptychopatch::impl::cpu::LineDft;

// sum_j x[j] exp(sign 2 pi i j k / n), in double.
std::vector<std::complex<double>> direct_dft(const std::vector<std::complex<float>>& x, int sign) {
  const auto n = static_cast<int64_t>(x.size());
  const double pi = 3.14159265358979323846;
  std::vector<std::complex<double>> out(n);
  for (int64_t k = 0; k < n; ++k) {
    std::complex<double> sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double angle = sign * 2 * pi * double(j * k % n) / double(n);
      sum += std::complex<double>(x[j]) * std::complex<double>(std::cos(angle), std::sin(angle));
    }
    out[k] = sum;
  }
  return out;
}

TEST(LineDft, ChirpRuleAndLength) {
  // Largest prime factor above 31: 37, 41 x 24, 1009; not 31 x 32, 2^10, 17 x 64.
  for (int64_t n : {37, 984, 1009, 2 * 509, 4093}) EXPECT_TRUE(LineDft::uses_chirp(n)) << n;
  for (int64_t n : {1, 2, 31, 992, 1024, 1088, 3 * 5 * 7 * 11 * 13})
    EXPECT_FALSE(LineDft::uses_chirp(n)) << n;
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
// just above a power of two), against the direct DFT.
TEST(LineDft, MatchesTheDirectTransformInDouble) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (int64_t n : {1, 2, 7, 31, 32, 37, 64, 67, 97, 127, 2 * 509, 1009, 1025}) {
    for (int sign : {FFTW_FORWARD, FFTW_BACKWARD}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " sign " << sign);
      std::unique_ptr<LineDft> dft;
      {
        std::lock_guard<std::mutex> lock(ptychopatch::impl::cpu::fftw_planner_mutex());
        dft = std::make_unique<LineDft>(n, sign, FFTW_ESTIMATE);
      }
      ASSERT_EQ(dft->length(), n);
      ASSERT_GE(dft->lines(), 1);
      ASSERT_GE(dft->pitch(), n);
      AlignedArray<float> block(2 * dft->block_size());
      std::vector<std::vector<std::complex<float>>> lines(dft->lines());
      for (int64_t t = 0; t < dft->lines(); ++t) {
        lines[t].resize(n);
        for (int64_t j = 0; j < n; ++j) {
          lines[t][j] = {normal(rng), normal(rng)};
          block.get()[2 * (t * dft->pitch() + j)] = lines[t][j].real();
          block.get()[2 * (t * dft->pitch() + j) + 1] = lines[t][j].imag();
        }
      }
      const float* result = dft->execute(block.get());
      for (int64_t t = 0; t < dft->lines(); ++t) {
        const auto want = direct_dft(lines[t], sign);
        double largest = 0, worst = 0;
        for (int64_t k = 0; k < n; ++k) {
          largest = std::max(largest, std::abs(want[k]));
          const std::complex<double> got(result[2 * (t * dft->pitch() + k)],
                                         result[2 * (t * dft->pitch() + k) + 1]);
          worst = std::max(worst, std::abs(got - want[k]));
        }
        // float32 rounding: a few eps times log2(m) of the largest bin.
        EXPECT_LT(worst, 2e-6 * largest) << "line " << t;
      }
    }
  }
}

}  // namespace
