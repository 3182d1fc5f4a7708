// ptp_correlate_execute_f64: plans of desc.dtype PTP_DTYPE_FLOAT64 (the
// same code as the float32 path, in FFTW's double plans), against a direct
// DFT in long double (correlate_fixture.hpp), with scikit-image's float64 phase guard (100
// DBL_EPSILON); each execute function refusing the other precision's
// plan; 0.4.0's shorter descriptor, which plans float32. (The thread
// counts' bits: test_correlate.cpp, ContextThreadsGiveTheSameBitsInFloat64.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "correlate_fixture.hpp"
#include "ptychopatch.h"

namespace {

using cdouble = std::complex<double>;

std::vector<double> random_image(int64_t count, uint32_t seed, double scale = 1.0) {
  return random_values(count, seed, scale);
}

// float64 plans by default.
class CorrelateF64 : public CorrelateFixture {
 protected:
  ptp_status make(int64_t ny, int64_t nx, int32_t normalization = PTP_NORMALIZATION_PHASE,
                  int32_t planning = PTP_FFT_PLANNING_WISDOM, int32_t dtype = PTP_DTYPE_FLOAT64) {
    return CorrelateFixture::make(ny, nx, normalization, planning, dtype);
  }
};

// FFTW's double plans (6 x 8 ... 9 x 12) and Bluestein's algorithm in
// double (a side with a prime factor above 31); both normalisations. A
// float32 transform or guard anywhere would miss the tolerance by seven
// digits.
TEST_F(CorrelateF64, MatchesTheDirectTransformsInLongDouble) {
  const int64_t shapes[][2] = {{6, 8},   {7, 5},  {1, 9},  {1, 1},   {9, 12},
                               {37, 41}, {1, 37}, {2, 67}, {37, 38}, {38, 37}};
  uint32_t seed = 1;
  for (const auto& shape : shapes) {
    const int64_t ny = shape[0], nx = shape[1], nxh = nx / 2 + 1;
    for (int32_t normalization : {PTP_NORMALIZATION_PHASE, PTP_NORMALIZATION_NONE}) {
      for (int32_t planning : {PTP_FFT_PLANNING_ESTIMATE, PTP_FFT_PLANNING_WISDOM}) {
        SCOPED_TRACE(::testing::Message() << ny << " x " << nx << " normalization " << normalization
                                          << " planning " << planning);
        ASSERT_EQ(make(ny, nx, normalization, planning), PTP_SUCCESS) << ptp_last_error_message();
        const auto ref = random_image(ny * nx, seed++, 100.0);
        const auto mov = random_image(ny * nx, seed++, 100.0);
        std::vector<double> spectrum(2 * ny * nxh), correlation(ny * nx);
        ASSERT_EQ(ptp_correlate_execute_f64(plan_, ref.data(), mov.data(), spectrum.data(),
                                            correlation.data()),
                  PTP_SUCCESS)
            << ptp_last_error_message();
        const Oracle want = direct_correlation(ref, mov, ny, nx, normalization == 0);
        double largest = 0, peak = 0;
        for (const auto& v : want.half) largest = std::max(largest, std::abs(v));
        for (double v : want.correlation) peak = std::max(peak, std::fabs(v));
        double worst_bin = 0, worst_value = 0;
        for (int64_t k = 0; k < ny * nxh; ++k)
          worst_bin = std::max(
              worst_bin, std::abs(cdouble(spectrum[2 * k], spectrum[2 * k + 1]) - want.half[k]));
        for (int64_t i = 0; i < ny * nx; ++i)
          worst_value = std::max(worst_value, std::fabs(correlation[i] - want.correlation[i]));
        EXPECT_LT(worst_bin, 1e-12 * largest);
        EXPECT_LT(worst_value, 1e-12 * (largest + peak));
      }
    }
  }
}

// Faint images whose cross-power bins lie between float64's guard (100
// DBL_EPSILON, 2.2e-14) and float32's (1.2e-5): scikit-image normalises
// them to magnitude 1 in double. With float32's guard they would be X /
// 1.2e-5, magnitudes of 1e-3 and less.
TEST_F(CorrelateF64, PhaseGuardIsTheDoublePrecisions) {
  for (const auto& [ny, nx] : {std::pair<int64_t, int64_t>{8, 8}, {5, 37}}) {
    SCOPED_TRACE(::testing::Message() << ny << " x " << nx);
    ASSERT_EQ(make(ny, nx), PTP_SUCCESS);
    const auto ref = random_image(ny * nx, 11, 1e-5);
    const auto mov = random_image(ny * nx, 12, 1e-5);
    const int64_t bins = ny * (nx / 2 + 1);
    std::vector<double> spectrum(2 * bins);
    ASSERT_EQ(ptp_correlate_execute_f64(plan_, ref.data(), mov.data(), spectrum.data(), nullptr),
              PTP_SUCCESS);
    const Oracle want = direct_correlation(ref, mov, ny, nx, true);
    for (int64_t k = 0; k < bins; ++k) {
      const double magnitude = std::hypot(spectrum[2 * k], spectrum[2 * k + 1]);
      EXPECT_NEAR(magnitude, 1.0, 1e-12) << "bin " << k;
      EXPECT_NEAR(spectrum[2 * k], want.half[k].real(), 1e-12) << k;
      EXPECT_NEAR(spectrum[2 * k + 1], want.half[k].imag(), 1e-12) << k;
    }
  }
}

// Huge images whose unscaled inverse overflows float64 (every bin within
// DBL_MAX / 4, their sum over N bins not): redone from X / N, finite and
// right; on FFTW's plans and on Bluestein's algorithm.
TEST_F(CorrelateF64, HugeImagesWhoseUnscaledInverseOverflows) {
  for (const auto& [ny, nx] : {std::pair<int64_t, int64_t>{16, 16}, {37, 41}}) {
    SCOPED_TRACE(::testing::Message() << ny << " x " << nx);
    const int64_t n = ny * nx;
    ASSERT_EQ(make(ny, nx, PTP_NORMALIZATION_NONE), PTP_SUCCESS);
    // N^2 level^2 = 4 DBL_MAX: the correlation at 0 times N overflows.
    const double level = std::sqrt(4.0) * std::sqrt(std::numeric_limits<double>::max()) / n;
    std::vector<double> image(n);
    for (int64_t i = 0; i < n; ++i) image[i] = (i % 2 == 0 ? level : -level);
    std::shuffle(image.begin(), image.end(), std::mt19937(41));
    std::vector<double> correlation(n);
    ASSERT_EQ(
        ptp_correlate_execute_f64(plan_, image.data(), image.data(), nullptr, correlation.data()),
        PTP_SUCCESS)
        << ptp_last_error_message();
    const Oracle want = direct_correlation(image, image, ny, nx, false);
    ASSERT_GT(want.correlation[0] * n, std::numeric_limits<double>::max());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(correlation[i])) << i;
      EXPECT_NEAR(correlation[i], want.correlation[i], 1e-12 * want.correlation[0]) << i;
    }
  }
}

TEST_F(CorrelateF64, NonFiniteLeavesOutputsUntouched) {
  for (const auto& [ny, nx] : {std::pair<int64_t, int64_t>{8, 8}, {4, 41}}) {
    const int64_t n = ny * nx, bins = ny * (nx / 2 + 1);
    for (int32_t normalization : {PTP_NORMALIZATION_PHASE, PTP_NORMALIZATION_NONE}) {
      ASSERT_EQ(make(ny, nx, normalization), PTP_SUCCESS);
      const double cases[] = {std::numeric_limits<double>::quiet_NaN(),
                              std::numeric_limits<double>::infinity(), -1e308};
      for (double bad : cases) {
        SCOPED_TRACE(::testing::Message() << ny << " x " << nx << " value " << bad
                                          << " normalization " << normalization);
        auto ref = random_image(n, 3);
        const auto mov = random_image(n, 4, bad == -1e308 ? 1e308 : 1.0);
        ref[17] = bad;
        std::vector<double> spectrum(2 * bins, 42.0), correlation(n, 42.0);
        EXPECT_EQ(ptp_correlate_execute_f64(plan_, ref.data(), mov.data(), spectrum.data(),
                                            correlation.data()),
                  PTP_ERROR_NON_FINITE);
        EXPECT_NE(std::strstr(ptp_last_error_message(), "float64"), nullptr)
            << ptp_last_error_message();
        for (double v : spectrum) ASSERT_EQ(v, 42.0);
        for (double v : correlation) ASSERT_EQ(v, 42.0);
      }
    }
  }
}

// Each execute function refuses the other precision's plan, naming the
// right one, and writes nothing; a desc of another dtype plans nothing.
TEST_F(CorrelateF64, EachExecuteRefusesTheOtherPrecisionsPlan) {
  std::vector<double> image64(16, 1.0), correlation64(16, 42.0);
  std::vector<float> image32(16, 1.0f), correlation32(16, 42.0f);
  ASSERT_EQ(make(4, 4), PTP_SUCCESS);
  EXPECT_EQ(
      ptp_correlate_execute(plan_, image32.data(), image32.data(), nullptr, correlation32.data()),
      PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(ptp_last_error_message(), "ptp_correlate_execute_f64"), nullptr);
  ASSERT_EQ(make(4, 4, PTP_NORMALIZATION_PHASE, PTP_FFT_PLANNING_WISDOM, PTP_DTYPE_FLOAT32),
            PTP_SUCCESS);
  EXPECT_EQ(ptp_correlate_execute_f64(plan_, image64.data(), image64.data(), nullptr,
                                      correlation64.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(ptp_last_error_message(), "ptp_correlate_execute"), nullptr);
  for (double v : correlation64) EXPECT_EQ(v, 42.0);
  for (float v : correlation32) EXPECT_EQ(v, 42.0f);
  EXPECT_EQ(ptp_correlate_execute_f64(nullptr, image64.data(), image64.data(), nullptr,
                                      correlation64.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  for (int32_t dtype : {0, int32_t{PTP_DTYPE_COMPLEX64}, int32_t{PTP_DTYPE_UINT16}, 99}) {
    EXPECT_EQ(make(4, 4, PTP_NORMALIZATION_PHASE, PTP_FFT_PLANNING_WISDOM, dtype),
              PTP_ERROR_INVALID_ARGUMENT)
        << dtype;
    EXPECT_NE(std::strstr(ptp_last_error_message(), "dtype"), nullptr);
    EXPECT_EQ(plan_, nullptr);
  }
}

// A program built against 0.4.0's header passes the struct without dtype
// (32 bytes): init writes only those bytes, and its plans are float32.
TEST_F(CorrelateF64, TheOlderDescriptorSizeIsStillAccepted) {
  constexpr size_t kOlder = offsetof(ptp_correlate_desc, dtype);
  static_assert(kOlder == 32, "0.4.0's ptp_correlate_desc was 32 bytes");
  unsigned char bytes[sizeof(ptp_correlate_desc) + 8];
  std::memset(bytes, 0xAB, sizeof bytes);
  auto* desc = reinterpret_cast<ptp_correlate_desc*>(bytes);
  ASSERT_EQ(ptp_correlate_desc_init(desc, kOlder), PTP_SUCCESS);
  EXPECT_EQ(desc->struct_size, kOlder);
  EXPECT_EQ(desc->normalization, PTP_NORMALIZATION_PHASE);
  EXPECT_EQ(desc->fft_planning, PTP_FFT_PLANNING_WISDOM);
  for (size_t i = kOlder; i < sizeof bytes; ++i) ASSERT_EQ(bytes[i], 0xAB) << i;
  desc->height = 4;
  desc->width = 37;
  ASSERT_EQ(ptp_correlate_plan_create(context_, desc, &plan_), PTP_SUCCESS);
  std::vector<float> image(4 * 37, 1.0f), correlation(4 * 37);
  image[5] = 3.0f;
  EXPECT_EQ(ptp_correlate_execute(plan_, image.data(), image.data(), nullptr, correlation.data()),
            PTP_SUCCESS);
  std::vector<double> image64(4 * 37, 1.0), correlation64(4 * 37);
  EXPECT_EQ(ptp_correlate_execute_f64(plan_, image64.data(), image64.data(), nullptr,
                                      correlation64.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  // Sizes other than the two known ones are refused.
  for (size_t size : {kOlder - 8, kOlder + 4, sizeof(ptp_correlate_desc) + 8}) {
    ptp_correlate_desc other;
    EXPECT_EQ(ptp_correlate_desc_init(&other, size), PTP_ERROR_INVALID_ARGUMENT) << size;
  }
}

}  // namespace
