// ptp_correlate_execute_f64: plans of desc.dtype PTP_DTYPE_FLOAT64 (the
// same code as the float32 path, in FFTW's double plans), against a direct
// DFT in long double, with scikit-image's float64 phase guard (100
// DBL_EPSILON); each execute function refusing the other precision's
// plan; 0.4.0's shorter descriptor, which plans float32.
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

#include "ptychopatch.h"

namespace {

using cld = std::complex<long double>;

struct Oracle {
  std::vector<cld> half;                 // ny x (nx / 2 + 1)
  std::vector<long double> correlation;  // ny x nx
};

// exp(sign 2 pi i j / n), j < n, in long double.
std::vector<cld> twiddles(int64_t n, int sign) {
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<cld> w(n);
  for (int64_t j = 0; j < n; ++j) {
    const long double angle = sign * 2 * pi * static_cast<long double>(j) / n;
    w[j] = cld(std::cos(angle), std::sin(angle));
  }
  return w;
}

// X = R conj(M) by direct DFTs in long double, X / max(|X|, 100
// DBL_EPSILON) with `phase`, and c = IDFT(X) (1/N), real part.
Oracle direct_correlation(const std::vector<double>& ref, const std::vector<double>& mov,
                          int64_t ny, int64_t nx, bool phase) {
  const auto fy = twiddles(ny, -1), fx = twiddles(nx, -1);
  const auto iy = twiddles(ny, 1), ix = twiddles(nx, 1);
  const int64_t n = ny * nx;
  std::vector<cld> x(n);
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
      if (phase)
        v /= std::max(std::abs(v),
                      100.0L * static_cast<long double>(std::numeric_limits<double>::epsilon()));
      x[ky * nx + kx] = v;
    }
  Oracle o;
  const int64_t nxh = nx / 2 + 1;
  o.half.resize(ny * nxh);
  for (int64_t ky = 0; ky < ny; ++ky)
    for (int64_t kx = 0; kx < nxh; ++kx) o.half[ky * nxh + kx] = x[ky * nx + kx];
  o.correlation.resize(n);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t xx = 0; xx < nx; ++xx) {
      cld c = 0;
      for (int64_t ky = 0; ky < ny; ++ky)
        for (int64_t kx = 0; kx < nx; ++kx)
          c += x[ky * nx + kx] * iy[ky * y % ny] * ix[kx * xx % nx];
      o.correlation[y * nx + xx] = c.real() / n;
    }
  return o;
}

std::vector<double> random_image(int64_t count, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(count);
  for (auto& x : v) x = scale * u(rng);
  return v;
}

class CorrelateF64 : public ::testing::Test {
 protected:
  void SetUp() override { context_ = make_context(1); }
  void TearDown() override {
    ptp_correlate_plan_destroy(plan_);
    ptp_context_destroy(context_);
  }
  static ptp_context* make_context(int threads) {
    ptp_context_options options;
    EXPECT_EQ(ptp_context_options_init(&options, sizeof options), PTP_SUCCESS);
    options.backend = PTP_BACKEND_CPU;
    options.num_threads = threads;
    ptp_context* context = nullptr;
    EXPECT_EQ(ptp_context_create(&options, &context), PTP_SUCCESS);
    return context;
  }
  ptp_status make(int64_t ny, int64_t nx, int32_t normalization = PTP_NORMALIZATION_PHASE,
                  int32_t planning = PTP_FFT_PLANNING_WISDOM, int32_t dtype = PTP_DTYPE_FLOAT64) {
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
        long double largest = 0, peak = 0;
        for (const auto& v : want.half) largest = std::max(largest, std::abs(v));
        for (long double v : want.correlation) peak = std::max(peak, std::fabs(v));
        double worst_bin = 0, worst_value = 0;
        for (int64_t k = 0; k < ny * nxh; ++k)
          worst_bin = std::max(
              worst_bin, static_cast<double>(
                             std::abs(cld(spectrum[2 * k], spectrum[2 * k + 1]) - want.half[k])));
        for (int64_t i = 0; i < ny * nx; ++i)
          worst_value = std::max(
              worst_value, static_cast<double>(std::fabs(correlation[i] - want.correlation[i])));
        EXPECT_LT(worst_bin, 1e-12 * static_cast<double>(largest));
        EXPECT_LT(worst_value, 1e-12 * static_cast<double>(largest + peak));
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
      EXPECT_NEAR(spectrum[2 * k], static_cast<double>(want.half[k].real()), 1e-12) << k;
      EXPECT_NEAR(spectrum[2 * k + 1], static_cast<double>(want.half[k].imag()), 1e-12) << k;
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
      EXPECT_NEAR(correlation[i], static_cast<double>(want.correlation[i]),
                  1e-12 * static_cast<double>(want.correlation[0]))
          << i;
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

// The passes on the context's threads (a Bluestein shape of 2^16 pixels
// and more) give the same bits on 1, 2 and 3 threads, in float64 too.
TEST_F(CorrelateF64, ContextThreadsGiveTheSameBits) {
  const int64_t ny = 256, nx = 257, n = ny * nx, bins = ny * (nx / 2 + 1);
  const auto ref = random_image(n, 71);
  std::vector<double> mov(n);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t x = 0; x < nx; ++x) mov[((y + 7) % ny) * nx + (x + 11) % nx] = ref[y * nx + x];
  std::vector<std::vector<double>> spectra, correlations;
  for (int threads : {1, 2, 3}) {
    ptp_context* context = make_context(threads);
    ptp_correlate_desc desc;
    ASSERT_EQ(ptp_correlate_desc_init(&desc, sizeof desc), PTP_SUCCESS);
    desc.height = ny;
    desc.width = nx;
    desc.dtype = PTP_DTYPE_FLOAT64;
    ptp_correlate_plan* plan = nullptr;
    ASSERT_EQ(ptp_correlate_plan_create(context, &desc, &plan), PTP_SUCCESS);
    spectra.emplace_back(2 * bins);
    correlations.emplace_back(n);
    EXPECT_EQ(ptp_correlate_execute_f64(plan, ref.data(), mov.data(), spectra.back().data(),
                                        correlations.back().data()),
              PTP_SUCCESS);
    ptp_correlate_plan_destroy(plan);
    ptp_context_destroy(context);
  }
  for (size_t i = 1; i < spectra.size(); ++i) {
    EXPECT_EQ(spectra[i], spectra[0]) << i;
    EXPECT_EQ(correlations[i], correlations[0]) << i;
  }
  const auto best =
      std::max_element(correlations[0].begin(), correlations[0].end()) - correlations[0].begin();
  EXPECT_EQ(best / nx, ny - 7);
  EXPECT_EQ(best % nx, nx - 11);
  EXPECT_NEAR(correlations[0][best], 1.0, 1e-12);
}

}  // namespace
