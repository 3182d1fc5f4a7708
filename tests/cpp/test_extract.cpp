// Patch extraction on the CPU against the legacy-loop oracle.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <tuple>
#include <vector>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "legacy_oracle.hpp"
#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

using ptychopatch::Context;
using test_support::as_float32;
using test_support::cpu_context;
using test_support::expect_bitwise_equal;
using test_support::random_offsets;

// Runs the C ABI on a float view of an oracle::Image.
struct Case {
  int lanes = 2;
  bool channel = true;
  bool float64_offsets = true;
  int64_t n = 8;
  int64_t group_size = 1;
};

std::vector<float> run_library(const Context& ctx, const Case& cs, const oracle::Image& obj,
                               const std::vector<double>& offsets_xy) {
  ptp_extract_desc desc;
  ptychopatch::check(ptp_extract_desc_init(&desc, sizeof desc));
  desc.height = obj.height;
  desc.width = obj.width;
  desc.patch_size = cs.n;
  desc.group_size = cs.group_size;
  desc.object_dtype = cs.lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
  desc.offset_dtype = cs.float64_offsets ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
  desc.layout = cs.channel ? PTP_LAYOUT_CHANNEL : PTP_LAYOUT_FLAT;
  const int64_t patches = static_cast<int64_t>(offsets_xy.size() / 2);
  std::vector<float> out(patches * cs.n * cs.n * cs.lanes, -7.0f);
  std::vector<float> offsets_f(offsets_xy.begin(), offsets_xy.end());
  const void* offsets =
      cs.float64_offsets ? static_cast<const void*>(offsets_xy.data()) : offsets_f.data();
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &desc, &plan));
  const ptp_status st = ptp_extract_execute(plan, obj.data.data(), offsets, patches, out.data(),
                                            out.size() * sizeof(float));
  ptp_extract_plan_destroy(plan);
  ptychopatch::check(st);
  return out;
}

// ------------------------------------------------------------------ oracle

using OracleParams =
    std::tuple<int /*lanes*/, bool /*channel*/, bool /*f64*/, int64_t /*N*/, int64_t /*group*/>;

class MatchesLegacyOracle : public ::testing::TestWithParam<OracleParams> {};

TEST_P(MatchesLegacyOracle, BitwiseOnRandomOffsetsAcrossAndBeyondTheObject) {
  Case cs;
  std::tie(cs.lanes, cs.channel, cs.float64_offsets, cs.n, cs.group_size) = GetParam();
  const auto obj = oracle::random_image(23, 31, cs.lanes, 7);
  // Centres from well outside to well inside, so patches cover the
  // interior, every border and the empty far field.
  const auto xy = random_offsets(12 * cs.group_size, -cs.n - 3.0, 31 + cs.n + 3.0, -cs.n - 3.0,
                                 23 + cs.n + 3.0, 11);
  const auto want = oracle::extract(obj, cs.n, as_float32(xy), cs.channel, cs.group_size);
  expect_bitwise_equal(run_library(cpu_context(), cs, obj, xy), want);
}

INSTANTIATE_TEST_SUITE_P(AllTypesLayoutsSizes, MatchesLegacyOracle,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::Values(1, 2, 7, 16),
                                            ::testing::Values(1, 4)));

TEST(Extract, InteriorPatchesMatchOracleOnLargerObject) {
  // Mostly interior patches: the vectorised row path.
  Case cs{2, true, true, 32, 4};
  const auto obj = oracle::random_image(97, 120, 2, 3);
  const auto xy = random_offsets(40, 16, 104, 16, 81, 5);
  expect_bitwise_equal(run_library(cpu_context(), cs, obj, xy),
                       oracle::extract(obj, cs.n, as_float32(xy), true, 4));
}

// ------------------------------------------------------- exact crop cases

TEST(Extract, IntegerOffsetsGiveExactCropsCentredOnTheOffset) {
  const auto obj = oracle::random_image(20, 27, 2, 1);
  for (int64_t n : {1, 4, 5, 9}) {
    Case cs{2, false, true, n, 1};
    std::vector<double> xy;
    for (int oy = -3; oy < 24; oy += 5)
      for (int ox = -2; ox < 30; ox += 7) {
        xy.push_back(ox);
        xy.push_back(oy);
      }
    const auto got = run_library(cpu_context(), cs, obj, xy);
    const int64_t h = n / 2;
    for (size_t p = 0; p < xy.size() / 2; ++p)
      for (int64_t y = 0; y < n; ++y)
        for (int64_t x = 0; x < n; ++x) {
          const int64_t oy = static_cast<int64_t>(xy[2 * p + 1]) - h + y;
          const int64_t ox = static_cast<int64_t>(xy[2 * p]) - h + x;
          const bool in = oy >= 0 && oy < obj.height && ox >= 0 && ox < obj.width;
          for (int l = 0; l < 2; ++l) {
            const float want = in ? obj.at(oy, ox, l) : 0.0f;
            ASSERT_EQ(got[((p * n + y) * n + x) * 2 + l], want)
                << "n=" << n << " patch " << p << " (" << y << "," << x << ")";
          }
        }
  }
}

TEST(Extract, OffsetsFarOutsideGiveZeros) {
  const auto obj = oracle::random_image(16, 16, 2, 2);
  Case cs{2, true, true, 8, 1};
  const std::vector<double> xy = {1e6,  5,     -1e6, 5,    5,     3e38, 5,      -3e38,
                                  1e30, -1e30, 4e18, 4e18, -9e18, 2e19, 16 + 8, 8};
  const auto got = run_library(cpu_context(), cs, obj, xy);
  for (float v : got) ASSERT_EQ(v, 0.0f);
}

TEST(Extract, ExtremeFractionsThatRepeatOrSkipColumnsMatchOracle) {
  // fl32(x + 0.99999994f) jumps from 0.99999994 to 2.0 at x = 1: the column
  // indices skip one, which the vectorised path must not assume away.
  const auto obj = oracle::random_image(30, 30, 2, 9);
  Case cs{2, false, false, 6, 1};
  const std::vector<double> xy = {0.99999994,  10, 10,        0.99999994, 12.99999905, 12.5,
                                  -0.99999994, 14, 15.000001, -0.5000001, -2.5,        15.5};
  expect_bitwise_equal(run_library(cpu_context(), cs, obj, xy),
                       oracle::extract(obj, cs.n, as_float32(xy), false, 1));
}

TEST(Extract, PaddedFrameRoundingDiffersFromShiftedFormAndFollowsTheSpec) {
  // The bilinear weight of pixel x = 1 of an N = 8 patch at ox = -0.3 is
  // frac(fl32(1 + ox)) in the padded frame but frac(fl32(1 - 4 + ox)) in the
  // shifted frame; they differ, and the spec (and the oracle) use the former.
  const float ox = -0.3f;
  const float padded = 1.0f + ox;
  const float shifted = (1.0f - 4.0f) + ox;
  ASSERT_NE(padded - std::floor(padded), shifted - std::floor(shifted))
      << "the premise of this test changed";
  const auto obj = oracle::random_image(12, 12, 1, 4);
  Case cs{1, false, false, 8, 1};
  const std::vector<double> xy = {ox, 5, 5, ox, -2.3, -1.7, 7.7, -0.1};
  const auto got = run_library(cpu_context(), cs, obj, xy);
  expect_bitwise_equal(got, oracle::extract(obj, 8, as_float32(xy), false, 1));
}

TEST(Extract, NonSquareObjectsAndSinglePixelObjects) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {1, 37}, {41, 3}, {13, 64}}) {
    const auto obj = oracle::random_image(h, w, 2, 21);
    Case cs{2, true, true, 5, 2};
    const auto xy = random_offsets(8, -4, w + 4, -4, h + 4, 8);
    expect_bitwise_equal(run_library(cpu_context(), cs, obj, xy),
                         oracle::extract(obj, 5, as_float32(xy), true, 2));
  }
}

TEST(Extract, EmptyBatchSucceedsAndWritesNothing) {
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = 4;
  desc.width = 4;
  desc.patch_size = 2;
  desc.group_size = 4;
  const std::complex<float> object[16] = {};
  size_t bytes = 1;
  ASSERT_EQ(ptp_extract_output_bytes(&desc, 0, &bytes), PTP_SUCCESS);
  EXPECT_EQ(bytes, 0u);
  EXPECT_EQ(ptp_extract_patches(nullptr, &desc, object, nullptr, 0, nullptr, 0), PTP_SUCCESS);
  Context ctx = cpu_context();
  ptychopatch::ExtractPlan<std::complex<float>> plan(ctx, 4, 4, 2, 4);
  EXPECT_TRUE(plan.execute(object, std::vector<double>{}).empty());
  plan.execute_legacy(object, nullptr, nullptr, 0, nullptr, 0);
}

#if defined(__x86_64__)
TEST(Extract, SubnormalsSurviveACallerThatFlushesToZero) {
  // A caller with FTZ/DAZ set (e.g. code built with -ffast-math) must get
  // the same bits as everyone else: the GPU keeps subnormals.
  oracle::Image obj{3, 3, 2, {}};
  for (int i = 0; i < 18; ++i) obj.data.push_back((i % 2 ? -2e-38f : 2e-38f) * (1 + i));
  Case cs{2, false, true, 1, 1};
  const std::vector<double> xy = {1.25, 1.0, 0.5, 1.75};
  const auto want = oracle::extract(obj, 1, as_float32(xy), false, 1);
  const unsigned saved = _mm_getcsr();
  _mm_setcsr(saved | 0x8040);
  const auto got = run_library(Context(PTP_BACKEND_CPU, 1), cs, obj, xy);
  const unsigned after = _mm_getcsr();
  _mm_setcsr(saved);
  expect_bitwise_equal(got, want);
  EXPECT_EQ(after, saved | 0x8040) << "the caller's floating-point mode was not restored";
}
#endif

TEST(Extract, ResultsDoNotDependOnThreadCount) {
  const auto obj = oracle::random_image(64, 64, 2, 5);
  Case cs{2, true, true, 16, 4};
  const auto xy = random_offsets(4 * 37, -10, 74, -10, 74, 6);
  const auto one = run_library(cpu_context(1), cs, obj, xy);
  expect_bitwise_equal(run_library(cpu_context(2), cs, obj, xy), one);
  expect_bitwise_equal(run_library(cpu_context(7), cs, obj, xy), one);
}

TEST(Extract, PlanIsReusableOnNewData) {
  Context ctx = cpu_context();
  ptychopatch::ExtractPlan<float, float> plan(ctx, 10, 12, 3, 1, PTP_LAYOUT_FLAT);
  for (uint32_t seed = 0; seed < 3; ++seed) {
    const auto obj = oracle::random_image(10, 12, 1, seed);
    const auto xy = random_offsets(5, -2, 14, -2, 12, seed + 100);
    const std::vector<float> xyf = as_float32(xy);
    expect_bitwise_equal(plan.execute(obj.data.data(), xyf),
                         oracle::extract(obj, 3, xyf, false, 1));
  }
}

TEST(Extract, LegacyFormSumsInDoubleThenRoundsOnce) {
  // global + local in float64 rounds to a different float32 than the sum of
  // the float32-rounded parts; the library must use the former.
  const double g = 10.0 + 1.0 / 3.0;
  const double l = 1.6e-7;
  ASSERT_NE(static_cast<float>(g + l), static_cast<float>(g) + static_cast<float>(l))
      << "the premise of this test changed";
  const int64_t c = 4, groups = 3, n = 6;
  const auto obj = oracle::random_image(24, 24, 2, 13);
  std::vector<double> global(groups * 2), local(groups * 2 * c);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-3, 3);
  for (int64_t b = 0; b < groups; ++b) {
    global[2 * b] = g + b;
    global[2 * b + 1] = 12 - b + 1.0 / 7.0;
    for (int64_t k = 0; k < c; ++k) {
      local[b * 2 * c + k] = k == 0 ? l : u(rng);
      local[b * 2 * c + c + k] = u(rng);
    }
  }
  std::vector<float> offsets_f;  // float32(global + local) in pair form
  for (int64_t b = 0; b < groups; ++b)
    for (int64_t k = 0; k < c; ++k) {
      offsets_f.push_back(static_cast<float>(global[2 * b] + local[b * 2 * c + k]));
      offsets_f.push_back(static_cast<float>(global[2 * b + 1] + local[b * 2 * c + c + k]));
    }
  Context ctx = cpu_context();
  ptychopatch::ExtractPlan<std::complex<float>, double> plan(ctx, 24, 24, n, c);
  std::vector<std::complex<float>> got(plan.output_size(groups * c));
  plan.execute_legacy(reinterpret_cast<const std::complex<float>*>(obj.data.data()), global.data(),
                      local.data(), groups, got.data(), got.size());
  const auto want = oracle::extract(obj, n, offsets_f, true, c);
  std::vector<float> got_f(reinterpret_cast<float*>(got.data()),
                           reinterpret_cast<float*>(got.data()) + 2 * got.size());
  expect_bitwise_equal(got_f, want);
}

TEST(Extract, LegacyFormInFloat32SumsInFloat32) {
  const int64_t c = 1, n = 4;
  const auto obj = oracle::random_image(9, 9, 1, 2);
  const std::vector<float> global = {3.3f, 4.1f}, local = {0.17f, -0.9f};
  const std::vector<float> pair = {global[0] + local[0], global[1] + local[1]};
  Context ctx = cpu_context();
  ptychopatch::ExtractPlan<float, float> plan(ctx, 9, 9, n, c, PTP_LAYOUT_FLAT);
  std::vector<float> got(plan.output_size(1));
  plan.execute_legacy(obj.data.data(), global.data(), local.data(), 1, got.data(), got.size());
  expect_bitwise_equal(got, oracle::extract(obj, n, pair, false, 1));
}

TEST(Extract, OneShotAndPlanAgree) {
  const auto obj = oracle::random_image(33, 17, 2, 31);
  const auto xy = random_offsets(8, 0, 17, 0, 33, 32);
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = 33;
  desc.width = 17;
  desc.patch_size = 7;
  desc.group_size = 2;
  std::vector<float> out(8 * 7 * 7 * 2);
  ASSERT_EQ(ptp_extract_patches(nullptr, &desc, obj.data.data(), xy.data(), 8, out.data(),
                                out.size() * sizeof(float)),
            PTP_SUCCESS)
      << ptp_last_error_message();
  Case cs{2, true, true, 7, 2};
  expect_bitwise_equal(out, run_library(cpu_context(), cs, obj, xy));
}

}  // namespace
