// Reassembly (the adjoint of extraction) on the CPU: against plain oracles
// that share no code with the library, the dot-product identity
// <A x, y> = <x, A^T y>, the weights canvas, thread-count independence, the
// one-shot and C++ entry points, and every bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "math/patch_sampling.hpp"
#include "math/patch_scatter.hpp"
#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

using ptychopatch::Context;
using test_support::as_float32;
using test_support::cpu_context;
using test_support::expect_bitwise_equal;
using test_support::extract_desc;
using test_support::random_offsets;

constexpr float kSentinel = -12345.5f;

using Shape = test_support::PatchShape;

// Offsets in the setup's dtype, kept alive by the caller.
struct OffsetBuffer {
  std::vector<double> f64;
  std::vector<float> f32;
  const void* data(bool float64) const {
    return float64 ? static_cast<const void*>(f64.data()) : static_cast<const void*>(f32.data());
  }
  explicit OffsetBuffer(const std::vector<double>& xy) : f64(xy), f32(as_float32(xy)) {}
};

std::vector<float> random_floats(size_t count, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

size_t patch_floats(const Shape& s, int64_t patches) {
  return static_cast<size_t>(patches * s.n * s.n * s.lanes);
}
size_t canvas_floats(const Shape& s) {
  return static_cast<size_t>(s.height * s.width * s.lanes);
}
size_t pixel_count(const Shape& s) {
  return static_cast<size_t>(s.height * s.width);
}

struct Canvases {
  std::vector<float> canvas;
  std::vector<float> weights;
};

// ptp_reassemble_execute through a fresh plan; canvas and weights start
// as sentinels so that the overwrite is checked too.
Canvases run_reassemble(const Context& ctx, const Shape& s, const std::vector<float>& patches,
                        const std::vector<double>& offsets_xy, bool with_weights = true) {
  const ptp_extract_desc desc = extract_desc(s);
  const OffsetBuffer offsets(offsets_xy);
  const auto num_patches = static_cast<int64_t>(offsets_xy.size() / 2);
  Canvases out{std::vector<float>(canvas_floats(s), kSentinel),
               std::vector<float>(with_weights ? pixel_count(s) : 0, kSentinel)};
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &desc, &plan));
  const ptp_status st = ptp_reassemble_execute(
      plan, patches.data(), offsets.data(s.float64_offsets), num_patches, out.canvas.data(),
      out.canvas.size() * sizeof(float), with_weights ? out.weights.data() : nullptr,
      out.weights.size() * sizeof(float));
  ptp_extract_plan_destroy(plan);
  ptychopatch::check(st);
  return out;
}

std::vector<float> run_extract(const Context& ctx, const Shape& s, const std::vector<float>& object,
                               const std::vector<double>& offsets_xy) {
  const ptp_extract_desc desc = extract_desc(s);
  const OffsetBuffer offsets(offsets_xy);
  const auto num_patches = static_cast<int64_t>(offsets_xy.size() / 2);
  std::vector<float> out(patch_floats(s, num_patches), kSentinel);
  ptychopatch::check(ptp_extract_patches(ctx.get(), &desc, object.data(),
                                         offsets.data(s.float64_offsets), num_patches, out.data(),
                                         out.size() * sizeof(float)));
  return out;
}

// ---------------------------------------------------------------- oracles
//
// Both oracles walk the zero-padded frame of SPEC §1 directly: for every
// patch pixel, the float32 sample position, its floor and fraction, and the
// four corners, of which those inside the object (compared in double, so
// that huge offsets never become integers) receive weight * value. They use
// nothing from src/math.

struct Corner {
  bool inside;
  int64_t element;  // row * width + col in the object
  float weight;
};

// The four corners of patch pixel (y, x) at float32 offset (ox, oy), in the
// order 00, 01, 10, 11.
void corners_of(const Shape& s, int64_t y, int64_t x, float ox, float oy, Corner out[4]) {
  const float sx = static_cast<float>(x) + ox;
  const float sy = static_cast<float>(y) + oy;
  const float fx = std::floor(sx);
  const float fy = std::floor(sy);
  const float wx = sx - fx;
  const float wy = sy - fy;
  const float wxs[2] = {1.0f - wx, wx};
  const float wys[2] = {1.0f - wy, wy};
  const double h = static_cast<double>(s.n / 2);
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const double row = static_cast<double>(fy) + a - h;
      const double col = static_cast<double>(fx) + b - h;
      Corner& c = out[2 * a + b];
      c.inside = row >= 0 && row < static_cast<double>(s.height) && col >= 0 &&
                 col < static_cast<double>(s.width);
      c.element = c.inside ? static_cast<int64_t>(row) * s.width + static_cast<int64_t>(col) : -1;
      c.weight = wxs[b] * wys[a];
    }
}

// Float index of lane 0 of pixel (y, x) of patch p in the setup's layout.
size_t patch_float_index(const Shape& s, int64_t p, int64_t y, int64_t x) {
  const int64_t b = p / s.group_size;
  const int64_t k = p % s.group_size;
  const int64_t e =
      s.channel ? ((b * s.n + y) * s.n + x) * s.group_size + k : (p * s.n + y) * s.n + x;
  return static_cast<size_t>(e * s.lanes);
}

// Calls term(corner, v) for every in-object corner of every patch pixel, in
// the CPU backend's documented order: patches in order, pixels in (y, x)
// order, corners 00, 01, 10, 11. v is the float index of lane 0 of the
// pixel's value in `patches`.
template <class Term>
void for_each_corner(const Shape& s, const std::vector<float>& offsets_xy, Term&& term) {
  const auto num_patches = static_cast<int64_t>(offsets_xy.size() / 2);
  for (int64_t p = 0; p < num_patches; ++p)
    for (int64_t y = 0; y < s.n; ++y)
      for (int64_t x = 0; x < s.n; ++x) {
        Corner corners[4];
        corners_of(s, y, x, offsets_xy[2 * p], offsets_xy[2 * p + 1], corners);
        const size_t v = patch_float_index(s, p, y, x);
        for (const Corner& c : corners)
          if (c.inside) term(c, v);
      }
}

struct DoubleOracle {
  std::vector<double> canvas;
  std::vector<double> canvas_abs;  // sum of |terms| per float: the error scale
  std::vector<double> weights;
};

// Straightforward scatter with double accumulation.
DoubleOracle oracle_double(const Shape& s, const std::vector<float>& patches,
                           const std::vector<float>& offsets_xy) {
  DoubleOracle o{std::vector<double>(canvas_floats(s)), std::vector<double>(canvas_floats(s)),
                 std::vector<double>(pixel_count(s))};
  for_each_corner(s, offsets_xy, [&](const Corner& c, size_t v) {
    o.weights[c.element] += c.weight;
    for (int l = 0; l < s.lanes; ++l) {
      const double term = double(c.weight) * double(patches[v + l]);
      o.canvas[c.element * s.lanes + l] += term;
      o.canvas_abs[c.element * s.lanes + l] += std::fabs(term);
    }
  });
  return o;
}

// The CPU backend's documented order in float32: patches in order, pixels
// in (y, x) order, corners 00, 01, 10, 11, each term one float32 product.
Canvases oracle_float_in_order(const Shape& s, const std::vector<float>& patches,
                               const std::vector<float>& offsets_xy) {
  Canvases o{std::vector<float>(canvas_floats(s), 0.0f), std::vector<float>(pixel_count(s), 0.0f)};
  for_each_corner(s, offsets_xy, [&](const Corner& c, size_t v) {
    o.weights[c.element] += c.weight;
    for (int l = 0; l < s.lanes; ++l)
      o.canvas[c.element * s.lanes + l] += c.weight * patches[v + l];
  });
  return o;
}

void expect_close_to_oracle(const Canvases& got, const DoubleOracle& want) {
  ASSERT_EQ(got.canvas.size(), want.canvas.size());
  for (size_t i = 0; i < got.canvas.size(); ++i)
    ASSERT_LE(std::fabs(double(got.canvas[i]) - want.canvas[i]), 1e-5 * want.canvas_abs[i])
        << "canvas float " << i << ": got " << got.canvas[i] << ", want " << want.canvas[i];
  ASSERT_EQ(got.weights.size(), want.weights.size());
  for (size_t i = 0; i < got.weights.size(); ++i)
    ASSERT_LE(std::fabs(double(got.weights[i]) - want.weights[i]), 1e-5 * want.weights[i])
        << "weights pixel " << i << ": got " << got.weights[i] << ", want " << want.weights[i];
}

// Offsets that cover the interior, every border (inside and just beyond),
// fractional and negative values and two far-away patches, then random
// positions, count patches in all (a multiple of the group size).
std::vector<double> mixed_offsets(const Shape& s, int64_t count, uint32_t seed) {
  const double h = static_cast<double>(s.n / 2);
  const double w = static_cast<double>(s.width);
  const double ht = static_cast<double>(s.height);
  std::vector<double> xy = {0,           0,           w - 1,      ht - 1, -0.5,   3.25,
                            w + h - 0.3, -h + 0.7,    1e6,        5,      5,      -1e7,
                            -3.7,        -2.2,        w / 2 + .5, ht / 2, -h - 1, ht / 3,
                            0.99999994,  ht - 1.0001, w - 0.01,   ht + h, 7.25,   7.75,
                            -2.0,        -1.0,        w,          ht,     3,      4.5};
  xy.resize(std::min<size_t>(xy.size(), 2 * count));
  const auto rest = random_offsets(count - static_cast<int64_t>(xy.size() / 2), -s.n - 2.0,
                                   w + s.n + 2.0, -s.n - 2.0, ht + s.n + 2.0, seed);
  xy.insert(xy.end(), rest.begin(), rest.end());
  return xy;
}

// ------------------------------------------------------- parameterised

using Params =
    std::tuple<int /*lanes*/, bool /*channel*/, bool /*float64*/, int64_t /*N*/, int64_t /*group*/>;

class ReassembleAll : public ::testing::TestWithParam<Params> {
 protected:
  Shape shape() const {
    Shape s;
    std::tie(s.lanes, s.channel, s.float64_offsets, s.n, s.group_size) = GetParam();
    s.height = 23;
    s.width = 31;
    return s;
  }
};

TEST_P(ReassembleAll, MatchesThePlainDoubleOracle) {
  const Shape s = shape();
  const int64_t count = 16;  // a multiple of 1 and 4
  const auto xy = mixed_offsets(s, count, 3);
  const auto patches = random_floats(patch_floats(s, count), 17);
  const auto got = run_reassemble(cpu_context(), s, patches, xy);
  expect_close_to_oracle(got, oracle_double(s, patches, as_float32(xy)));
}

TEST_P(ReassembleAll, SumsInTheDocumentedOrderWithAnyThreadCount) {
  const Shape s = shape();
  const int64_t count = 16;
  const auto xy = mixed_offsets(s, count, 4);
  const auto patches = random_floats(patch_floats(s, count), 18);
  const auto want = oracle_float_in_order(s, patches, as_float32(xy));
  for (int32_t threads : {1, 2, 5}) {
    const auto got = run_reassemble(cpu_context(threads), s, patches, xy);
    expect_bitwise_equal(got.canvas, want.canvas, "canvas");
    expect_bitwise_equal(got.weights, want.weights, "weights");
  }
}

TEST_P(ReassembleAll, IsTheAdjointOfExtraction) {
  const Shape s = shape();
  const int64_t count = 16;
  const auto xy = mixed_offsets(s, count, 5);
  const auto object = random_floats(canvas_floats(s), 21);
  const auto patches = random_floats(patch_floats(s, count), 22);
  const Context ctx = cpu_context();
  const auto ax = run_extract(ctx, s, object, xy);
  const auto aty = run_reassemble(ctx, s, patches, xy, /*with_weights=*/false).canvas;
  double lhs = 0.0;  // <A x, y>
  for (size_t i = 0; i < ax.size(); ++i) lhs += double(ax[i]) * double(patches[i]);
  double rhs = 0.0;  // <x, A^T y>
  for (size_t i = 0; i < aty.size(); ++i) rhs += double(object[i]) * double(aty[i]);
  EXPECT_NE(lhs, 0.0);
  EXPECT_LE(std::fabs(lhs - rhs), 1e-5 * std::max(std::fabs(lhs), std::fabs(rhs)))
      << "<Ax, y> = " << lhs << ", <x, A^T y> = " << rhs;
}

TEST_P(ReassembleAll, WeightsAreTheReassemblyOfOnes) {
  const Shape s = shape();
  const int64_t count = 16;
  const auto xy = mixed_offsets(s, count, 6);
  const Context ctx = cpu_context();
  // The weights do not depend on the patch values...
  const auto random_run = run_reassemble(ctx, s, random_floats(patch_floats(s, count), 9), xy);
  // ... and equal, bitwise, every lane of the canvas of all-ones patches.
  const auto ones_run =
      run_reassemble(ctx, s, std::vector<float>(patch_floats(s, count), 1.0f), xy);
  expect_bitwise_equal(random_run.weights, ones_run.weights, "weights");
  for (int lane = 0; lane < s.lanes; ++lane) {
    std::vector<float> lane_values(pixel_count(s));
    for (size_t i = 0; i < lane_values.size(); ++i)
      lane_values[i] = ones_run.canvas[i * s.lanes + lane];
    expect_bitwise_equal(lane_values, ones_run.weights, "one lane of the ones canvas");
  }
}

INSTANTIATE_TEST_SUITE_P(TypesLayoutsSizes, ReassembleAll,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::Values(1, 7, 33),
                                            ::testing::Values(1, 4)));

// -------------------------------------------------------- specific cases

TEST(Reassemble, InteriorPatchesOnALargerCanvas) {
  // Mostly interior patches: the CPU backend's row path.
  Shape s{2, true, true, 32, 4, 97, 120};
  const auto xy = random_offsets(40, 16, 104, 16, 81, 5);
  const auto patches = random_floats(patch_floats(s, 40), 6);
  const auto got = run_reassemble(cpu_context(), s, patches, xy);
  expect_close_to_oracle(got, oracle_double(s, patches, as_float32(xy)));
  const auto ordered = oracle_float_in_order(s, patches, as_float32(xy));
  expect_bitwise_equal(got.canvas, ordered.canvas, "canvas");
  expect_bitwise_equal(got.weights, ordered.weights, "weights");
}

TEST(Reassemble, ResultsDoNotDependOnThreadCount) {
  Shape s{2, true, true, 16, 4, 64, 64};
  const auto xy = random_offsets(4 * 37, -10, 74, -10, 74, 6);
  const auto patches = random_floats(patch_floats(s, 4 * 37), 7);
  const auto one = run_reassemble(cpu_context(1), s, patches, xy);
  for (int32_t threads : {2, 3, 7}) {
    const auto many = run_reassemble(cpu_context(threads), s, patches, xy);
    expect_bitwise_equal(many.canvas, one.canvas, "canvas");
    expect_bitwise_equal(many.weights, one.weights, "weights");
  }
}

TEST(Reassemble, IntegerOffsetsPasteEachPatchAsACrop) {
  // The adjoint of an exact crop is pasting: with integer offsets every
  // patch pixel lands, with weight 1, on object pixel (oy - h + y, ox - h + x).
  for (int64_t n : {1, 4, 5, 9}) {
    Shape s{2, false, true, n, 1, 20, 27};
    std::vector<double> xy;
    for (int oy = -3; oy < 24; oy += 5)
      for (int ox = -2; ox < 30; ox += 7) {
        xy.push_back(ox);
        xy.push_back(oy);
      }
    const auto num_patches = static_cast<int64_t>(xy.size() / 2);
    const auto patches = random_floats(patch_floats(s, num_patches), 31);
    std::vector<float> want(canvas_floats(s), 0.0f);
    std::vector<float> count(pixel_count(s), 0.0f);
    const int64_t h = n / 2;
    for (int64_t p = 0; p < num_patches; ++p)
      for (int64_t y = 0; y < n; ++y)
        for (int64_t x = 0; x < n; ++x) {
          const int64_t r = static_cast<int64_t>(xy[2 * p + 1]) - h + y;
          const int64_t c = static_cast<int64_t>(xy[2 * p]) - h + x;
          if (r < 0 || r >= s.height || c < 0 || c >= s.width) continue;
          count[r * s.width + c] += 1.0f;
          for (int l = 0; l < 2; ++l)
            want[(r * s.width + c) * 2 + l] += patches[((p * n + y) * n + x) * 2 + l];
        }
    const auto got = run_reassemble(cpu_context(), s, patches, xy);
    expect_bitwise_equal(got.canvas, want, "pasted canvas");
    expect_bitwise_equal(got.weights, count, "coverage count");
  }
}

TEST(Reassemble, FarAwayPatchesContributeNothing) {
  Shape s{2, true, true, 8, 1, 16, 16};
  const std::vector<double> xy = {1e6, 5, 5, -1e7, -1e7, 1e6, 3e38, -3e38, 16 + 8, 8, -8, 3};
  const auto got = run_reassemble(cpu_context(), s, random_floats(patch_floats(s, 6), 2), xy);
  for (float v : got.canvas) ASSERT_EQ(v, 0.0f);
  for (float v : got.weights) ASSERT_EQ(v, 0.0f);
}

TEST(Reassemble, EmptyBatchZeroesTheCanvases) {
  Shape s{2, true, true, 4, 4, 5, 6};
  const ptp_extract_desc desc = extract_desc(s);
  std::vector<float> canvas(canvas_floats(s), kSentinel);
  std::vector<float> weights(pixel_count(s), kSentinel);
  ASSERT_EQ(ptp_reassemble_patches(nullptr, &desc, nullptr, nullptr, 0, canvas.data(),
                                   canvas.size() * sizeof(float), weights.data(),
                                   weights.size() * sizeof(float)),
            PTP_SUCCESS)
      << ptp_last_error_message();
  for (float v : canvas) ASSERT_EQ(v, 0.0f);
  for (float v : weights) ASSERT_EQ(v, 0.0f);
  // Without a weights canvas, and through a plan on a CPU context.
  std::fill(canvas.begin(), canvas.end(), kSentinel);
  const auto got = run_reassemble(cpu_context(), s, {}, {}, /*with_weights=*/false);
  for (float v : got.canvas) ASSERT_EQ(v, 0.0f);
}

TEST(Reassemble, OneShotMatchesThePlan) {
  Shape s{1, false, false, 6, 2, 19, 25};
  const auto xy = mixed_offsets(s, 10, 8);
  const OffsetBuffer offsets(xy);
  const auto patches = random_floats(patch_floats(s, 10), 12);
  const ptp_extract_desc desc = extract_desc(s);
  const Context ctx = cpu_context();
  const auto planned = run_reassemble(ctx, s, patches, xy);

  std::vector<float> canvas(canvas_floats(s), kSentinel);
  std::vector<float> weights(pixel_count(s), kSentinel);
  ASSERT_EQ(ptp_reassemble_patches(ctx.get(), &desc, patches.data(), offsets.data(false), 10,
                                   canvas.data(), canvas.size() * sizeof(float), weights.data(),
                                   weights.size() * sizeof(float)),
            PTP_SUCCESS)
      << ptp_last_error_message();
  expect_bitwise_equal(canvas, planned.canvas, "canvas");
  expect_bitwise_equal(weights, planned.weights, "weights");

  // A NULL context is a default (AUTO) one: the GPU where usable, whose
  // atomics may change the last bits, so compare with the oracle there.
  std::fill(canvas.begin(), canvas.end(), kSentinel);
  ASSERT_EQ(ptp_reassemble_patches(nullptr, &desc, patches.data(), offsets.data(false), 10,
                                   canvas.data(), canvas.size() * sizeof(float), nullptr, 0),
            PTP_SUCCESS)
      << ptp_last_error_message();
  const auto want = oracle_double(s, patches, as_float32(xy));
  for (size_t i = 0; i < canvas.size(); ++i)
    ASSERT_LE(std::fabs(double(canvas[i]) - want.canvas[i]), 1e-5 * want.canvas_abs[i]);
}

TEST(Reassemble, CppWrapper) {
  Shape s{2, true, true, 5, 2, 14, 17};
  const Context ctx = cpu_context();
  ptychopatch::ExtractPlan<std::complex<float>, double> plan(ctx, s.height, s.width, s.n,
                                                             s.group_size);
  const auto xy = mixed_offsets(s, 8, 9);
  const auto floats = random_floats(patch_floats(s, 8), 10);
  std::vector<std::complex<float>> patches(floats.size() / 2);
  for (size_t i = 0; i < patches.size(); ++i) patches[i] = {floats[2 * i], floats[2 * i + 1]};
  const auto want = run_reassemble(ctx, s, floats, xy);

  const auto result = plan.reassemble(patches.data(), xy);
  ASSERT_EQ(result.canvas.size(), pixel_count(s));
  std::vector<float> canvas(canvas_floats(s));
  for (size_t i = 0; i < result.canvas.size(); ++i) {
    canvas[2 * i] = result.canvas[i].real();
    canvas[2 * i + 1] = result.canvas[i].imag();
  }
  expect_bitwise_equal(canvas, want.canvas, "canvas");
  expect_bitwise_equal(result.weights, want.weights, "weights");
  EXPECT_TRUE(plan.reassemble(patches.data(), xy, /*with_weights=*/false).weights.empty());

  // The pointer form, and its error reporting.
  std::vector<std::complex<float>> buffer(plan.canvas_size());
  plan.reassemble(patches.data(), xy.data(), 8, buffer.data(), buffer.size());
  EXPECT_EQ(0, std::memcmp(buffer.data(), result.canvas.data(), buffer.size() * sizeof buffer[0]));
  try {
    plan.reassemble(patches.data(), xy.data(), 8, buffer.data(), buffer.size() - 1);
    ADD_FAILURE() << "a short canvas was accepted";
  } catch (const ptychopatch::Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_BUFFER_TOO_SMALL);
    EXPECT_NE(std::string(e.what()).find("canvas_bytes"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------- shared math header

TEST(PatchScatter, CornersInOrderWithTheWeightsExtractionUses) {
  using ptychopatch::math::AxisTap;
  // 3 x 4 object, h = 1: padded (1, 1) is object (0, 0).
  const AxisTap tx{2, 0.75f, 0.25f};  // columns 1, 2
  const AxisTap ty{1, 0.5f, 0.5f};    // rows 0, 1
  std::vector<std::pair<int64_t, float>> seen;
  ptychopatch::math::scatter_pixel(3, 4, 1, tx, ty,
                                   [&](int64_t e, float w) { seen.emplace_back(e, w); });
  const auto w = ptychopatch::math::corner_weights(tx, ty);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], std::make_pair(int64_t{1}, w.w00));
  EXPECT_EQ(seen[1], std::make_pair(int64_t{2}, w.w01));
  EXPECT_EQ(seen[2], std::make_pair(int64_t{5}, w.w10));
  EXPECT_EQ(seen[3], std::make_pair(int64_t{6}, w.w11));
  EXPECT_EQ(w.w00, 0.75f * 0.5f);
  EXPECT_EQ(w.w01, 0.25f * 0.5f);
  // Sampling the object with the same taps is the sum of those terms.
  const float object[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float sampled = 0.0f;
  ptychopatch::math::sample_pixel<1>(object, 3, 4, 1, tx, ty, &sampled);
  float summed = 0.0f;
  for (const auto& [e, weight] : seen) summed += ptychopatch::math::scatter_term(weight, object[e]);
  EXPECT_EQ(sampled, summed);
}

TEST(PatchScatter, CornersOutsideAreDroppedWithoutFormingAnIndex) {
  using ptychopatch::math::axis_tap;
  int calls = 0;
  auto count = [&](int64_t, float) { ++calls; };
  // Huge taps (clamped to +-2^62) with a huge width: index * width would
  // overflow (UBSan would say so) if it were formed.
  const int64_t wide = int64_t{1} << 40;
  ptychopatch::math::scatter_pixel(4, wide, 2, axis_tap(0, 3e38f), axis_tap(0, -3e38f), count);
  ptychopatch::math::scatter_pixel(4, wide, 2, axis_tap(0, 2.0f), axis_tap(0, 3e38f), count);
  EXPECT_EQ(calls, 0);
  // Only the corner at padded (h, h) = object (0, 0) is inside.
  std::vector<int64_t> seen;
  ptychopatch::math::scatter_pixel(4, 5, 2, {1, 0.5f, 0.5f}, {1, 0.5f, 0.5f},
                                   [&](int64_t e, float) { seen.push_back(e); });
  EXPECT_EQ(seen, std::vector<int64_t>{0});
}

// -------------------------------------------------------------- bad input

class ReassembleBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    s_ = Shape{2, true, true, 4, 2, 6, 7};
    desc_ = extract_desc(s_);
    ASSERT_EQ(ptp_context_create(nullptr, &ctx_), PTP_SUCCESS);
    ptp_context_options options;
    ptp_context_options_init(&options, sizeof options);
    options.backend = PTP_BACKEND_CPU;
    ASSERT_EQ(ptp_context_create(&options, &cpu_ctx_), PTP_SUCCESS);
    ASSERT_EQ(ptp_extract_plan_create(cpu_ctx_, &desc_, &plan_), PTP_SUCCESS);
    patches_ = random_floats(patch_floats(s_, 4), 3);
    offsets_ = {1.5, 2.0, 3.0, 4.25, -1.0, 0.5, 2.0, 2.0};
    canvas_.assign(canvas_floats(s_), kSentinel);
    weights_.assign(pixel_count(s_), kSentinel);
  }
  void TearDown() override {
    ptp_extract_plan_destroy(plan_);
    ptp_context_destroy(cpu_ctx_);
    ptp_context_destroy(ctx_);
  }

  ptp_status call(int64_t num_patches, size_t canvas_bytes, size_t weights_bytes,
                  bool null_canvas = false, bool null_patches = false, bool null_offsets = false) {
    return ptp_reassemble_execute(plan_, null_patches ? nullptr : patches_.data(),
                                  null_offsets ? nullptr : offsets_.data(), num_patches,
                                  null_canvas ? nullptr : canvas_.data(), canvas_bytes,
                                  weights_.data(), weights_bytes);
  }
  size_t canvas_bytes() const { return canvas_.size() * sizeof(float); }
  size_t weights_bytes() const { return weights_.size() * sizeof(float); }

  void expect_failure(ptp_status got, ptp_status want, const std::string& word) {
    EXPECT_EQ(got, want) << ptp_status_name(got) << ": " << ptp_last_error_message();
    const std::string message = ptp_last_error_message();
    EXPECT_NE(message.find(word), std::string::npos)
        << "message '" << message << "' does not mention '" << word << "'";
    for (float v : canvas_) ASSERT_EQ(v, kSentinel) << "the canvas was written";
    for (float v : weights_) ASSERT_EQ(v, kSentinel) << "the weights were written";
  }

  Shape s_;
  ptp_extract_desc desc_{};
  ptp_context* ctx_ = nullptr;
  ptp_context* cpu_ctx_ = nullptr;
  ptp_extract_plan* plan_ = nullptr;
  std::vector<float> patches_;
  std::vector<double> offsets_;
  std::vector<float> canvas_;
  std::vector<float> weights_;
};

TEST_F(ReassembleBadInput, ValidCallSucceedsAndClearsTheMessage) {
  ASSERT_EQ(call(4, 0, 0, /*null_canvas=*/true), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(call(4, canvas_bytes(), weights_bytes()), PTP_SUCCESS);
  EXPECT_STREQ(ptp_last_error_message(), "");
  EXPECT_NE(canvas_[0], kSentinel);
}

TEST_F(ReassembleBadInput, NullCanvas) {
  expect_failure(call(4, canvas_bytes(), weights_bytes(), /*null_canvas=*/true),
                 PTP_ERROR_INVALID_ARGUMENT, "'canvas'");
}

TEST_F(ReassembleBadInput, CanvasTooSmall) {
  expect_failure(call(4, canvas_bytes() - 1, weights_bytes()), PTP_ERROR_BUFFER_TOO_SMALL,
                 "canvas_bytes");
}

TEST_F(ReassembleBadInput, WeightsTooSmall) {
  expect_failure(call(4, canvas_bytes(), weights_bytes() - 4), PTP_ERROR_BUFFER_TOO_SMALL,
                 "weights_bytes");
}

TEST_F(ReassembleBadInput, NonFiniteOffsets) {
  offsets_[7] = std::numeric_limits<double>::quiet_NaN();  // the last patch
  expect_failure(call(4, canvas_bytes(), weights_bytes()), PTP_ERROR_NON_FINITE, "offsets");
  EXPECT_NE(std::string(ptp_last_error_message()).find("patch 3"), std::string::npos);
  // Finite in float64 but infinite once rounded to float32.
  offsets_[7] = 1e300;
  expect_failure(call(4, canvas_bytes(), weights_bytes()), PTP_ERROR_NON_FINITE, "offsets");
}

TEST_F(ReassembleBadInput, CountNotAMultipleOfTheGroupSizeOrNegative) {
  expect_failure(call(3, canvas_bytes(), weights_bytes()), PTP_ERROR_INVALID_SIZE, "num_patches");
  EXPECT_NE(std::string(ptp_last_error_message()).find("group_size"), std::string::npos);
  expect_failure(call(-2, canvas_bytes(), weights_bytes()), PTP_ERROR_INVALID_SIZE, "num_patches");
}

TEST_F(ReassembleBadInput, NullPatchesOrOffsetsWithPatches) {
  expect_failure(call(4, canvas_bytes(), weights_bytes(), false, /*null_patches=*/true),
                 PTP_ERROR_INVALID_ARGUMENT, "'patches'");
  expect_failure(call(4, canvas_bytes(), weights_bytes(), false, false, /*null_offsets=*/true),
                 PTP_ERROR_INVALID_ARGUMENT, "'offsets'");
}

TEST_F(ReassembleBadInput, NullPlan) {
  expect_failure(
      ptp_reassemble_execute(nullptr, patches_.data(), offsets_.data(), 4, canvas_.data(),
                             canvas_bytes(), weights_.data(), weights_bytes()),
      PTP_ERROR_INVALID_ARGUMENT, "'plan'");
}

TEST_F(ReassembleBadInput, PatchCountWhoseSizeOverflows) {
  expect_failure(call(int64_t{1} << 60, canvas_bytes(), weights_bytes()), PTP_ERROR_SIZE_OVERFLOW,
                 "num_patches");
}

TEST_F(ReassembleBadInput, DeviceMemoryOnACpuContext) {
  ptp_extract_desc desc = desc_;
  desc.memory = PTP_MEMORY_DEVICE;
  expect_failure(
      ptp_reassemble_patches(cpu_ctx_, &desc, patches_.data(), offsets_.data(), 4, canvas_.data(),
                             canvas_bytes(), weights_.data(), weights_bytes()),
      PTP_ERROR_UNSUPPORTED, "memory");
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(cpu_ctx_, &desc, &plan), PTP_SUCCESS);
  expect_failure(ptp_reassemble_execute(plan, patches_.data(), offsets_.data(), 4, canvas_.data(),
                                        canvas_bytes(), weights_.data(), weights_bytes()),
                 PTP_ERROR_UNSUPPORTED, "memory");
  ptp_extract_plan_destroy(plan);
}

TEST_F(ReassembleBadInput, OneShotWithABadDescriptor) {
  ptp_extract_desc desc = desc_;
  desc.height = 0;
  expect_failure(
      ptp_reassemble_patches(ctx_, &desc, patches_.data(), offsets_.data(), 4, canvas_.data(),
                             canvas_bytes(), weights_.data(), weights_bytes()),
      PTP_ERROR_INVALID_SIZE, "height");
  expect_failure(
      ptp_reassemble_patches(ctx_, nullptr, patches_.data(), offsets_.data(), 4, canvas_.data(),
                             canvas_bytes(), weights_.data(), weights_bytes()),
      PTP_ERROR_INVALID_ARGUMENT, "desc");
}

}  // namespace
