// ptp_correlate_*: the cross-power spectrum and cross-correlation of one
// pair, against a direct DFT (correlate_fixture.hpp: the definition of
// ptychopatch.h, which is scikit-image's), and every bad input's status
// with the outputs left as they were.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "correlate_fixture.hpp"
#include "ptychopatch.h"

namespace {

using cdouble = std::complex<double>;

std::vector<float> random_image(int64_t count, uint32_t seed, float scale = 1.0f) {
  return random_values(count, seed, scale);
}

// float32 plans by default.
class Correlate : public CorrelateFixture {
 protected:
  ptp_status make(int64_t ny, int64_t nx, int32_t normalization = PTP_NORMALIZATION_PHASE,
                  int32_t planning = PTP_FFT_PLANNING_WISDOM) {
    return CorrelateFixture::make(ny, nx, normalization, planning, PTP_DTYPE_FLOAT32);
  }
};

TEST_F(Correlate, DescDefaults) {
  ptp_correlate_desc desc;
  ASSERT_EQ(ptp_correlate_desc_init(&desc, sizeof desc), PTP_SUCCESS);
  EXPECT_EQ(desc.struct_size, sizeof desc);
  EXPECT_EQ(desc.normalization, PTP_NORMALIZATION_PHASE);
  EXPECT_EQ(desc.fft_planning, PTP_FFT_PLANNING_WISDOM);
  EXPECT_EQ(desc.dtype, PTP_DTYPE_FLOAT32);
  EXPECT_EQ(ptp_correlate_desc_init(&desc, sizeof desc - 4), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_desc_init(nullptr, sizeof desc), PTP_ERROR_INVALID_ARGUMENT);
}

// Shapes with odd and even sides, single rows and columns, and one pixel;
// both normalisations and every planning effort. Sides with a prime factor
// above 31 (37, 41, 67) are transformed by Bluestein's algorithm, both
// images packed in one transform (src/correlate/line_correlation.hpp): alone,
// or beside a side FFTW transforms directly (38, with a Nyquist bin).
TEST_F(Correlate, MatchesTheDirectTransformsInDouble) {
  const int64_t shapes[][2] = {{6, 8},   {7, 5},  {1, 9},  {8, 1},  {1, 1},   {9, 12}, {5, 16},
                               {37, 41}, {1, 37}, {37, 1}, {2, 67}, {37, 38}, {38, 37}};
  uint32_t seed = 1;
  for (const auto& shape : shapes) {
    const int64_t ny = shape[0], nx = shape[1], nxh = nx / 2 + 1;
    for (int32_t normalization : {PTP_NORMALIZATION_PHASE, PTP_NORMALIZATION_NONE}) {
      for (int32_t planning :
           {PTP_FFT_PLANNING_ESTIMATE, PTP_FFT_PLANNING_WISDOM, PTP_FFT_PLANNING_MEASURE}) {
        SCOPED_TRACE(::testing::Message() << ny << " x " << nx << " normalization " << normalization
                                          << " planning " << planning);
        ASSERT_EQ(make(ny, nx, normalization, planning), PTP_SUCCESS);
        const auto ref = random_image(ny * nx, seed++, 100.0f);
        const auto mov = random_image(ny * nx, seed++, 100.0f);
        std::vector<float> spectrum(2 * ny * nxh), correlation(ny * nx);
        ASSERT_EQ(ptp_correlate_execute(plan_, ref.data(), mov.data(), spectrum.data(),
                                        correlation.data()),
                  PTP_SUCCESS)
            << ptp_last_error_message();
        const Oracle want = direct_correlation(ref, mov, ny, nx, normalization == 0);
        double largest = 0, largest_magnitude = 0;
        for (const auto& v : want.half) largest = std::max(largest, std::abs(v));
        for (double m : want.magnitude) largest_magnitude = std::max(largest_magnitude, m);
        for (int64_t k = 0; k < ny * nxh; ++k) {
          // float32's error in R conj(M) is of the largest bins' size; phase
          // correlation divides it by this bin's magnitude (a 38 x 37 bin
          // once missed the flat bound by a fifth).
          const double scale =
              normalization == PTP_NORMALIZATION_PHASE
                  ? std::max(1.0, largest_magnitude / std::max(want.magnitude[k], 1e-300))
                  : 1.0;
          const double tolerance = 2e-5 * largest * scale;
          EXPECT_NEAR(spectrum[2 * k], want.half[k].real(), tolerance) << "bin " << k;
          EXPECT_NEAR(spectrum[2 * k + 1], want.half[k].imag(), tolerance) << "bin " << k;
        }
        double peak = 0;
        for (double v : want.correlation) peak = std::max(peak, std::abs(v));
        for (int64_t i = 0; i < ny * nx; ++i)
          EXPECT_NEAR(correlation[i], want.correlation[i], 2e-5 * largest + 1e-6 * peak)
              << "pixel " << i;
      }
    }
  }
}

// Plain correlation of tiny images (|X| normal, |X| / N subnormal): the
// inverse runs unscaled and is scaled after, as scipy's, so the values keep
// float32's precision (scaled first, they were off by 3e-3 of the peak).
// The tests below run on a shape FFTW's plans transform and on one with a
// side Bluestein's algorithm transforms (GetParam(): which).
class CorrelateShapes : public Correlate, public ::testing::WithParamInterface<bool> {
 protected:
  std::pair<int64_t, int64_t> shape(int64_t fftw_y, int64_t fftw_x, int64_t bluestein_y,
                                    int64_t bluestein_x) const {
    return GetParam() ? std::make_pair(bluestein_y, bluestein_x) : std::make_pair(fftw_y, fftw_x);
  }
};

INSTANTIATE_TEST_SUITE_P(FftwAndBluestein, CorrelateShapes, ::testing::Bool());

// (Images too faint to be packed: transformed apart.)
TEST_P(CorrelateShapes, TinyImagesKeepTheirPrecision) {
  const auto [ny, nx] = shape(64, 64, 37, 41);
  const int64_t n = ny * nx;
  ASSERT_EQ(make(ny, nx, PTP_NORMALIZATION_NONE), PTP_SUCCESS);
  const auto ref = random_image(n, 31, 8e-21f);
  const auto mov = random_image(n, 32, 8e-21f);
  std::vector<float> correlation(n);
  ASSERT_EQ(ptp_correlate_execute(plan_, ref.data(), mov.data(), nullptr, correlation.data()),
            PTP_SUCCESS);
  const Oracle want = direct_correlation(ref, mov, ny, nx, false);
  double peak = 0, worst = 0;
  for (double v : want.correlation) peak = std::max(peak, std::abs(v));
  ASSERT_LT(peak / n, double(std::numeric_limits<float>::min()));  // X / N would be subnormal
  for (int64_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(correlation[i] - want.correlation[i]));
  EXPECT_LT(worst, 1e-5 * peak);
}

// Huge images whose unscaled inverse overflows float32 (every bin within
// FLT_MAX / 4, their sum over N bins not): the inverse is redone from X / N,
// and the correlation is finite and right.
TEST_P(CorrelateShapes, HugeImagesWhoseUnscaledInverseOverflows) {
  const auto [ny, nx] = shape(16, 16, 37, 41);
  const int64_t n = ny * nx;
  ASSERT_EQ(make(ny, nx, PTP_NORMALIZATION_NONE), PTP_SUCCESS);
  std::vector<float> image(n);
  std::mt19937 rng(41);
  const float level = GetParam() ? 4e16f : 1e17f;  // (bins of 37 x 41 within FLT_MAX / 4)
  for (int64_t i = 0; i < n; ++i) image[i] = (i % 2 == 0 ? level : -level);
  std::shuffle(image.begin(), image.end(), rng);  // zero mean: no huge DC bin
  std::vector<float> correlation(n);
  ASSERT_EQ(ptp_correlate_execute(plan_, image.data(), image.data(), nullptr, correlation.data()),
            PTP_SUCCESS)
      << ptp_last_error_message();
  const Oracle want = direct_correlation(image, image, ny, nx, false);
  ASSERT_GT(want.correlation[0] * n, double(std::numeric_limits<float>::max()));
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(std::isfinite(correlation[i])) << i;
    EXPECT_NEAR(correlation[i], want.correlation[i], 1e-5 * want.correlation[0]) << i;
  }
}

// The peak of a circularly shifted image sits at the shift that registers
// it back (scikit-image's sign): mov = roll(ref, (3, -5)) peaks at (-3, 5).
TEST_F(Correlate, PeakOfAShiftedImage) {
  const int64_t ny = 32, nx = 40;
  ASSERT_EQ(make(ny, nx), PTP_SUCCESS);
  const auto ref = random_image(ny * nx, 7);
  std::vector<float> mov(ny * nx);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t x = 0; x < nx; ++x) mov[((y + 3) % ny) * nx + (x - 5 + nx) % nx] = ref[y * nx + x];
  std::vector<float> correlation(ny * nx);
  ASSERT_EQ(ptp_correlate_execute(plan_, ref.data(), mov.data(), nullptr, correlation.data()),
            PTP_SUCCESS);
  int64_t best = 0;
  for (int64_t i = 1; i < ny * nx; ++i)
    if (std::fabs(correlation[i]) > std::fabs(correlation[best])) best = i;
  EXPECT_EQ(best / nx, ny - 3);  // -3 wrapped
  EXPECT_EQ(best % nx, 5);
  EXPECT_NEAR(correlation[best], 1.0f, 1e-5f);  // phase correlation of a pure shift
}

// Inputs and outputs at addresses FFTW did not plan with (4 bytes off its
// alignment) give the same values as aligned ones.
TEST_F(Correlate, UnalignedArrays) {
  const int64_t ny = 12, nx = 10, n = ny * nx, bins = ny * (nx / 2 + 1);
  ASSERT_EQ(make(ny, nx), PTP_SUCCESS);
  const auto ref = random_image(n, 11), mov = random_image(n, 12);
  std::vector<float> spectrum(2 * bins), correlation(n);
  ASSERT_EQ(
      ptp_correlate_execute(plan_, ref.data(), mov.data(), spectrum.data(), correlation.data()),
      PTP_SUCCESS);
  std::vector<float> ref_off(n + 1), mov_off(n + 1), spectrum_off(2 * bins + 1),
      correlation_off(n + 1);
  std::memcpy(ref_off.data() + 1, ref.data(), n * sizeof(float));
  std::memcpy(mov_off.data() + 1, mov.data(), n * sizeof(float));
  ASSERT_EQ(ptp_correlate_execute(plan_, ref_off.data() + 1, mov_off.data() + 1,
                                  spectrum_off.data() + 1, correlation_off.data() + 1),
            PTP_SUCCESS);
  EXPECT_EQ(0, std::memcmp(spectrum.data(), spectrum_off.data() + 1, 2 * bins * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(correlation.data(), correlation_off.data() + 1, n * sizeof(float)));
}

// NaN, infinity and a transform that overflows float32 are
// PTP_ERROR_NON_FINITE, and nothing is written.
TEST_P(CorrelateShapes, NonFiniteLeavesOutputsUntouched) {
  const auto [ny, nx] = shape(8, 8, 4, 41);
  const int64_t n = ny * nx, bins = ny * (nx / 2 + 1);
  for (int32_t normalization : {PTP_NORMALIZATION_PHASE, PTP_NORMALIZATION_NONE}) {
    ASSERT_EQ(make(ny, nx, normalization), PTP_SUCCESS);
    const float cases[] = {std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::infinity(), -3e38f};
    for (float bad : cases) {
      SCOPED_TRACE(::testing::Message() << "value " << bad << " normalization " << normalization);
      auto ref = random_image(n, 3);
      const auto mov = random_image(n, 4, bad == -3e38f ? 3e38f : 1.0f);
      ref[17] = bad;
      std::vector<float> spectrum(2 * bins, 42.0f), correlation(n, 42.0f);
      EXPECT_EQ(
          ptp_correlate_execute(plan_, ref.data(), mov.data(), spectrum.data(), correlation.data()),
          PTP_ERROR_NON_FINITE);
      EXPECT_NE(std::strstr(ptp_last_error_message(), "not finite"), nullptr)
          << ptp_last_error_message();
      for (float v : spectrum) ASSERT_EQ(v, 42.0f);
      for (float v : correlation) ASSERT_EQ(v, 42.0f);
    }
  }
}

// Packed images whose energies differ by 10^14 (amplitudes 10^4 and 10^-3):
// the moving image is scaled by a power of two before packing, so its
// spectrum keeps float32's precision (unscaled, the reference's rounding
// was as large as it; the test fails without the scaling).
TEST_F(Correlate, PackedImagesOfVeryDifferentEnergies) {
  const int64_t ny = 37, nx = 41, nxh = nx / 2 + 1;
  for (int32_t normalization : {PTP_NORMALIZATION_PHASE, PTP_NORMALIZATION_NONE}) {
    for (const bool swap : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "normalization " << normalization << " swap " << swap);
      ASSERT_EQ(make(ny, nx, normalization), PTP_SUCCESS);
      auto ref = random_image(ny * nx, 51, 1e4f);
      auto mov = random_image(ny * nx, 52, 1e-3f);
      if (swap) std::swap(ref, mov);
      std::vector<float> spectrum(2 * ny * nxh), correlation(ny * nx);
      ASSERT_EQ(
          ptp_correlate_execute(plan_, ref.data(), mov.data(), spectrum.data(), correlation.data()),
          PTP_SUCCESS);
      const Oracle want = direct_correlation(ref, mov, ny, nx, normalization == 0);
      double largest = 0, peak = 0;
      for (const auto& v : want.half) largest = std::max(largest, std::abs(v));
      for (double v : want.correlation) peak = std::max(peak, std::abs(v));
      for (int64_t k = 0; k < ny * nxh; ++k) {
        ASSERT_NEAR(spectrum[2 * k], want.half[k].real(), 2e-5 * largest) << "bin " << k;
        ASSERT_NEAR(spectrum[2 * k + 1], want.half[k].imag(), 2e-5 * largest) << "bin " << k;
      }
      for (int64_t i = 0; i < ny * nx; ++i)
        ASSERT_NEAR(correlation[i], want.correlation[i], 2e-5 * largest + 1e-6 * peak) << i;
    }
  }
}

// A constant or zero image has the transform FFTW gives it, exactly zero
// off the DC bin, so phase correlation against it is zero there too (by
// Bluestein's algorithm, or packed, rounding made bins of magnitude 1).
TEST_F(Correlate, ConstantImagesAreExactlyZeroOffTheDcBin) {
  const int64_t ny = 37, nx = 41, nxh = nx / 2 + 1;
  for (const float level : {7.0f, 0.0f}) {
    for (const bool constant_reference : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "level " << level << " reference " << constant_reference);
      ASSERT_EQ(make(ny, nx), PTP_SUCCESS);
      std::vector<float> flat(ny * nx, level);
      const auto image = random_image(ny * nx, 61);
      const auto& ref = constant_reference ? flat : image;
      const auto& mov = constant_reference ? image : flat;
      std::vector<float> spectrum(2 * ny * nxh, 42.0f), correlation(ny * nx);
      ASSERT_EQ(
          ptp_correlate_execute(plan_, ref.data(), mov.data(), spectrum.data(), correlation.data()),
          PTP_SUCCESS);
      for (int64_t k = 1; k < ny * nxh; ++k) {
        ASSERT_EQ(spectrum[2 * k], 0.0f) << "bin " << k;
        ASSERT_EQ(spectrum[2 * k + 1], 0.0f) << "bin " << k;
      }
    }
  }
}

// The context's threads run the passes of a Bluestein shape of 2^16 pixels
// or more (256 x 257): the same bits as one thread, the correlation right.
ptp_status execute(const ptp_correlate_plan* plan, const float* reference, const float* moving,
                   void* spectrum, float* correlation) {
  return ptp_correlate_execute(plan, reference, moving, spectrum, correlation);
}
ptp_status execute(const ptp_correlate_plan* plan, const double* reference, const double* moving,
                   void* spectrum, double* correlation) {
  return ptp_correlate_execute_f64(plan, reference, moving, spectrum, correlation);
}

// A 256 x 257 pair (Bluestein's algorithm on the rows, 2^16 pixels: the
// passes on the context's threads) in Real: the same bits on 1, 2 and 3
// threads, and the peak at the shift that registers it back.
template <class Real>
void expect_the_same_bits_on_any_thread_count() {
  const int64_t ny = 256, nx = 257, n = ny * nx, bins = ny * (nx / 2 + 1);
  const auto single = random_image(n, 71);
  const std::vector<Real> ref(single.begin(), single.end());
  std::vector<Real> mov(n);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t x = 0; x < nx; ++x) mov[((y + 7) % ny) * nx + (x + 11) % nx] = ref[y * nx + x];
  std::vector<std::vector<Real>> spectra, correlations;
  for (int32_t threads : {1, 2, 3}) {
    ptp_context_options options;
    ASSERT_EQ(ptp_context_options_init(&options, sizeof options), PTP_SUCCESS);
    options.backend = PTP_BACKEND_CPU;
    options.num_threads = threads;
    ptp_context* context = nullptr;
    ASSERT_EQ(ptp_context_create(&options, &context), PTP_SUCCESS);
    ptp_correlate_desc desc;
    ASSERT_EQ(ptp_correlate_desc_init(&desc, sizeof desc), PTP_SUCCESS);
    desc.height = ny;
    desc.width = nx;
    desc.dtype = sizeof(Real) == 8 ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
    ptp_correlate_plan* plan = nullptr;
    ASSERT_EQ(ptp_correlate_plan_create(context, &desc, &plan), PTP_SUCCESS);
    spectra.emplace_back(2 * bins);
    correlations.emplace_back(n);
    EXPECT_EQ(
        execute(plan, ref.data(), mov.data(), spectra.back().data(), correlations.back().data()),
        PTP_SUCCESS);
    ptp_correlate_plan_destroy(plan);
    ptp_context_destroy(context);
  }
  for (size_t i = 1; i < spectra.size(); ++i) {
    EXPECT_EQ(spectra[i], spectra[0]) << i;
    EXPECT_EQ(correlations[i], correlations[0]) << i;
  }
  // The peak at the shift that registers it back, (-7, -11) wrapped.
  const auto best =
      std::max_element(correlations[0].begin(), correlations[0].end()) - correlations[0].begin();
  EXPECT_EQ(best / nx, ny - 7);
  EXPECT_EQ(best % nx, nx - 11);
  EXPECT_NEAR(correlations[0][best], 1.0, sizeof(Real) == 8 ? 1e-12 : 1e-4);
}

TEST_F(Correlate, ContextThreadsGiveTheSameBits) {
  expect_the_same_bits_on_any_thread_count<float>();
}

// The same in float64 (ptp_correlate_execute_f64).
TEST_F(Correlate, ContextThreadsGiveTheSameBitsInFloat64) {
  expect_the_same_bits_on_any_thread_count<double>();
}

TEST_F(Correlate, BadArguments) {
  EXPECT_EQ(make(0, 8), PTP_ERROR_INVALID_SIZE);  // sizes: INVALID_SIZE, as in the whole ABI
  EXPECT_NE(std::strstr(ptp_last_error_message(), "height"), nullptr);
  EXPECT_EQ(make(8, -1), PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(make(8, 8, PTP_NORMALIZATION_PARTIAL), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(make(8, 8, 7), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(make(8, 8, PTP_NORMALIZATION_PHASE, 9), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(make(int64_t{1} << 40, int64_t{1} << 40), PTP_ERROR_SIZE_OVERFLOW);
  EXPECT_EQ(plan_, nullptr);

  ptp_correlate_desc desc;
  ASSERT_EQ(ptp_correlate_desc_init(&desc, sizeof desc), PTP_SUCCESS);
  desc.height = desc.width = 4;
  ptp_correlate_plan* plan = nullptr;
  EXPECT_EQ(ptp_correlate_plan_create(nullptr, &desc, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_plan_create(context_, nullptr, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_plan_create(context_, &desc, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  desc.struct_size = 8;
  EXPECT_EQ(ptp_correlate_plan_create(context_, &desc, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  EXPECT_EQ(ptp_correlate_plan_destroy(nullptr), PTP_SUCCESS);

  ASSERT_EQ(make(4, 4), PTP_SUCCESS);
  std::vector<float> image(16, 1.0f), correlation(16, 42.0f);
  EXPECT_EQ(ptp_correlate_execute(nullptr, image.data(), image.data(), nullptr, correlation.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_execute(plan_, nullptr, image.data(), nullptr, correlation.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_execute(plan_, image.data(), nullptr, nullptr, correlation.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_correlate_execute(plan_, image.data(), image.data(), nullptr, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  for (float v : correlation) EXPECT_EQ(v, 42.0f);
}

// Threads sharing one plan get what one thread gets (the workspace is
// taken under a try-lock; a busy one means a call of its own).
TEST_P(CorrelateShapes, ThreadsShareAPlan) {
  const auto [ny, nx] = shape(24, 30, 12, 37);
  const int64_t n = ny * nx;
  ASSERT_EQ(make(ny, nx), PTP_SUCCESS);
  const auto ref = random_image(n, 21), mov = random_image(n, 22);
  std::vector<float> want(n);
  ASSERT_EQ(ptp_correlate_execute(plan_, ref.data(), mov.data(), nullptr, want.data()),
            PTP_SUCCESS);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> got(n);
      int ok = 1;
      for (int i = 0; i < 50; ++i) {
        if (ptp_correlate_execute(plan_, ref.data(), mov.data(), nullptr, got.data()) !=
                PTP_SUCCESS ||
            std::memcmp(got.data(), want.data(), n * sizeof(float)) != 0)
          ok = 0;
      }
      same[t] = ok;
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(same[t], 1) << "thread " << t;
}

}  // namespace
