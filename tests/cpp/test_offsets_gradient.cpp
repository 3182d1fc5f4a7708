// The offset gradient of extraction (ptp_extract_offsets_gradient) on the
// CPU: against a plain-loop oracle of the formula that shares no code with
// the library, against central finite differences of the library's own
// extraction, a case worked by hand, the right-hand derivative at integer
// samples, independence of the thread count and progress chunks, and every
// bad input (which leaves grad_offsets untouched).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

using ptychopatch::Context;
using test_support::cpu_context;
using test_support::extract_desc;
using test_support::random_offsets;

constexpr double kSentinel = -4242.25;

using Geometry = test_support::PatchShape;

std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

// Offsets in the setup's dtype (the float64 ones as given).
struct Offsets {
  std::vector<double> f64;
  std::vector<float> f32;
  explicit Offsets(const std::vector<double>& xy) : f64(xy), f32(xy.begin(), xy.end()) {}
  const void* data(bool float64) const {
    return float64 ? static_cast<const void*>(f64.data()) : static_cast<const void*>(f32.data());
  }
  // The offsets as the formula sees them: rounded once to float32.
  float x(int64_t p) const { return f32[2 * p]; }
  float y(int64_t p) const { return f32[2 * p + 1]; }
};

size_t patch_floats(const Geometry& s, int64_t patches) {
  return static_cast<size_t>(patches * s.n * s.n * s.lanes);
}

// The message of run_gradient's call.
std::string last_message;

// ptp_extract_offsets_gradient through a fresh plan, the result widened to
// double (it is of the offsets' dtype); `status` receives the status.
std::vector<double> run_gradient(const Context& ctx, const Geometry& s,
                                 const std::vector<float>& object, const Offsets& offsets,
                                 const std::vector<float>& grad_patches, int32_t* status = nullptr,
                                 ptp_progress_fn progress = nullptr, void* user_data = nullptr) {
  const ptp_extract_desc desc = extract_desc(s);
  const auto num_patches = static_cast<int64_t>(offsets.f64.size() / 2);
  std::vector<double> out64(2 * num_patches, kSentinel);
  std::vector<float> out32(2 * num_patches, static_cast<float>(kSentinel));
  void* out = s.float64_offsets ? static_cast<void*>(out64.data()) : out32.data();
  const size_t out_bytes = 2 * num_patches * (s.float64_offsets ? 8 : 4);
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &desc, &plan));
  if (progress != nullptr) ptychopatch::check(ptp_extract_set_progress(plan, progress, user_data));
  const ptp_status st = ptp_extract_offsets_gradient(
      plan, object.data(), offsets.data(s.float64_offsets), num_patches, grad_patches.data(),
      grad_patches.size() * sizeof(float), out, out_bytes);
  last_message = ptp_last_error_message();  // before the next call clears it
  ptp_extract_plan_destroy(plan);
  if (status != nullptr)
    *status = st;
  else
    ptychopatch::check(st);
  if (s.float64_offsets) return out64;
  return std::vector<double>(out32.begin(), out32.end());
}

std::vector<float> run_extract(const Context& ctx, const Geometry& s,
                               const std::vector<float>& object, const void* offsets_data,
                               bool float64, int64_t num_patches) {
  ptp_extract_desc desc = extract_desc(s);
  desc.offset_dtype = float64 ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
  std::vector<float> out(patch_floats(s, num_patches));
  ptychopatch::check(ptp_extract_patches(ctx.get(), &desc, object.data(), offsets_data, num_patches,
                                         out.data(), out.size() * sizeof(float)));
  return out;
}

// Float index of lane 0 of pixel (y, x) of patch p in the setup's layout.
size_t pixel_index(const Geometry& s, int64_t p, int64_t y, int64_t x) {
  const int64_t b = p / s.group_size;
  const int64_t k = p % s.group_size;
  const int64_t e =
      s.channel ? ((b * s.n + y) * s.n + x) * s.group_size + k : (p * s.n + y) * s.n + x;
  return static_cast<size_t>(e * s.lanes);
}

// ------------------------------------------------------------- the oracle
//
// The formula of docs/api.md, plainly: for every patch pixel the float32
// sample position, its floor and fraction, the four corners (0 outside the
// object, bounds compared in double), the bilinear derivatives, contracted
// with the upstream gradient and summed in double in (y, x) order. Nothing
// from src/math. Also returns the sum of |terms| per patch and axis, the
// scale of the rounding differences from the library's order.
struct Oracle {
  std::vector<double> gradient;
  std::vector<double> scale;
};

Oracle oracle(const Geometry& s, const std::vector<float>& object, const Offsets& offsets,
              const std::vector<float>& grad) {
  const auto num_patches = static_cast<int64_t>(offsets.f64.size() / 2);
  Oracle o{std::vector<double>(2 * num_patches), std::vector<double>(2 * num_patches)};
  const double h = static_cast<double>(s.n / 2);
  const auto value = [&](double row, double col, int lane) -> double {
    if (row < 0 || row >= static_cast<double>(s.height) || col < 0 ||
        col >= static_cast<double>(s.width))
      return 0.0;
    const auto e = static_cast<int64_t>(row) * s.width + static_cast<int64_t>(col);
    return object[static_cast<size_t>(e * s.lanes + lane)];
  };
  for (int64_t p = 0; p < num_patches; ++p)
    for (int64_t y = 0; y < s.n; ++y)
      for (int64_t x = 0; x < s.n; ++x) {
        const float sx = static_cast<float>(x) + offsets.x(p);
        const float sy = static_cast<float>(y) + offsets.y(p);
        const float x0 = std::floor(sx);
        const float y0 = std::floor(sy);
        const float fx = sx - x0;
        const float fy = sy - y0;
        const double row = static_cast<double>(y0) - h;
        const double col = static_cast<double>(x0) - h;
        for (int lane = 0; lane < s.lanes; ++lane) {
          const double v00 = value(row, col, lane);
          const double v01 = value(row, col + 1, lane);
          const double v10 = value(row + 1, col, lane);
          const double v11 = value(row + 1, col + 1, lane);
          const double dx = double(1.0f - fy) * (v01 - v00) + double(fy) * (v11 - v10);
          const double dy = double(1.0f - fx) * (v10 - v00) + double(fx) * (v11 - v01);
          const double g = grad[pixel_index(s, p, y, x) + lane];
          o.gradient[2 * p] += g * dx;
          o.gradient[2 * p + 1] += g * dy;
          o.scale[2 * p] += std::fabs(g * dx);
          o.scale[2 * p + 1] += std::fabs(g * dy);
        }
      }
  return o;
}

// The library's result against the oracle: double sums in another order
// differ by a few units of 2^-52 of the sum of |terms|; float32 results
// are the double sum rounded once more.
void expect_matches_oracle(const std::vector<double>& got, const Oracle& want, bool float64) {
  ASSERT_EQ(got.size(), want.gradient.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double tolerance =
        1e-12 * want.scale[i] + (float64 ? 0.0 : std::fabs(want.gradient[i]) * 6e-8) + 1e-300;
    ASSERT_NEAR(got[i], want.gradient[i], tolerance)
        << "patch " << i / 2 << (i % 2 == 0 ? " x" : " y");
  }
}

// Offsets whose patches straddle every border, lie inside, or far away.
std::vector<double> mixed_offsets(const Geometry& s, int64_t num_patches, uint32_t seed) {
  std::vector<double> xy =
      random_offsets(num_patches, -static_cast<double>(s.n), static_cast<double>(s.width + s.n),
                     -static_cast<double>(s.n), static_cast<double>(s.height + s.n), seed);
  if (num_patches > 2) {
    xy[0] = 1e7;  // entirely outside: gradient 0
    xy[3] = 5.0;  // an integer y: the right-hand derivative
  }
  return xy;
}

class OffsetsGradientMatchesOracle
    : public testing::TestWithParam<std::tuple<int, bool, bool, int64_t>> {};

TEST_P(OffsetsGradientMatchesOracle, PatchesInsideAcrossBordersAndOutside) {
  Geometry s;
  s.lanes = std::get<0>(GetParam());
  s.float64_offsets = std::get<1>(GetParam());
  s.channel = std::get<2>(GetParam());
  s.group_size = std::get<3>(GetParam());
  const int64_t num_patches = 12 * s.group_size;
  const std::vector<float> object =
      random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 11);
  const Offsets offsets(mixed_offsets(s, num_patches, 12));
  const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 13);
  const std::vector<double> got = run_gradient(cpu_context(2), s, object, offsets, grad);
  expect_matches_oracle(got, oracle(s, object, offsets, grad), s.float64_offsets);
  EXPECT_EQ(got[0], 0.0);  // the patch far outside
  EXPECT_EQ(got[1], 0.0);
}

INSTANTIATE_TEST_SUITE_P(TypesLayoutsGroups, OffsetsGradientMatchesOracle,
                         testing::Combine(testing::Values(1, 2), testing::Bool(), testing::Bool(),
                                          testing::Values(int64_t{1}, int64_t{3})));

// Patches wider than the kernel's column stride (256): the partial sums
// gather several columns each.
TEST(OffsetsGradient, PatchesWiderThanTheColumnStrideMatchTheOracle) {
  Geometry s;
  s.lanes = 2;
  s.n = 300;
  s.height = 320;
  s.width = 290;
  const int64_t num_patches = 3;
  const std::vector<float> object =
      random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 21);
  const Offsets offsets(std::vector<double>{150.3, 160.7, 20.25, 300.5, 290.9, -10.1});
  const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 22);
  expect_matches_oracle(run_gradient(cpu_context(), s, object, offsets, grad),
                        oracle(s, object, offsets, grad), true);
}

// --------------------------------------------------- finite differences
//
// L(o) = sum over pixels and lanes of G * P(o), P the library's own
// extraction, differenced centrally along one axis with a step h = 2^-6.
// The offsets are multiples of 2^-10 with every sample fraction in
// [0.25, 0.75], so o +- h is exact in float32 and crosses no grid line:
// P is linear in the offset there and the difference is its derivative up
// to extraction's float32 rounding.
TEST(OffsetsGradient, MatchesCentralDifferencesOfExtraction) {
  for (int lanes : {1, 2}) {
    for (bool float64 : {true, false}) {
      for (bool channel : {true, false}) {
        Geometry s;
        s.lanes = lanes;
        s.float64_offsets = float64;
        s.channel = channel;
        s.group_size = 2;
        SCOPED_TRACE(testing::Message()
                     << "lanes " << lanes << ", float64 " << float64 << ", channel " << channel);
        const int64_t num_patches = 8;
        std::mt19937 rng(31 + lanes);
        std::uniform_int_distribution<int> whole(-6, 36), fraction(256, 768);
        std::vector<double> xy(2 * num_patches);
        for (double& v : xy) v = whole(rng) + fraction(rng) / 1024.0;
        const Offsets offsets(xy);
        const std::vector<float> object =
            random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 32);
        const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 33);
        const Context ctx = cpu_context();
        const std::vector<double> got = run_gradient(ctx, s, object, offsets, grad);
        const double step = 1.0 / 64;
        for (int64_t p = 0; p < num_patches; ++p)
          for (int axis = 0; axis < 2; ++axis) {
            double loss[2];
            for (int side = 0; side < 2; ++side) {
              std::vector<double> moved = xy;
              moved[2 * p + axis] += side == 0 ? step : -step;
              const Offsets m(moved);
              const std::vector<float> patches =
                  run_extract(ctx, s, object, m.data(float64), float64, num_patches);
              double sum = 0.0;
              for (int64_t y = 0; y < s.n; ++y)
                for (int64_t x = 0; x < s.n; ++x)
                  for (int lane = 0; lane < s.lanes; ++lane) {
                    const size_t i = pixel_index(s, p, y, x) + lane;
                    sum += double(grad[i]) * double(patches[i]);
                  }
              loss[side] = sum;
            }
            const double difference = (loss[0] - loss[1]) / (2 * step);
            EXPECT_NEAR(got[2 * p + axis], difference, 2e-4) << "patch " << p << " axis " << axis;
          }
      }
    }
  }
}

// N = 1 (half 0), a 1 x 3 float32 object [1, 4, 9], offset (0.5, 0),
// G = 2: the pixel samples x in [0, 1) at fraction 0.5 and row 0 at
// fraction 0 (row 1 is outside: zeros). dP/dx = (1 - 0)(4 - 1) + 0 = 3,
// dP/dy = 0.5 (0 - 1) + 0.5 (0 - 4) = -2.5, so the gradient is (6, -5).
TEST(OffsetsGradient, WorkedByHand) {
  Geometry s;
  s.lanes = 1;
  s.n = 1;
  s.height = 1;
  s.width = 3;
  const std::vector<double> got = run_gradient(cpu_context(), s, {1.0f, 4.0f, 9.0f},
                                               Offsets({0.5, 0.0}), std::vector<float>{2.0f});
  EXPECT_EQ(got, (std::vector<double>{6.0, -5.0}));
  // complex64 [1+1i, 4-2i, 9], G = 1 - 1i: Re(conj(G) dP) = dRe - dIm.
  // dP/dx = (3 - 3i), dP/dy = 0.5 (-(1+1i)) + 0.5 (-(4-2i)) = -2.5 + 0.5i.
  s.lanes = 2;
  const std::vector<double> complex_got =
      run_gradient(cpu_context(), s, {1.0f, 1.0f, 4.0f, -2.0f, 9.0f, 0.0f}, Offsets({0.5, 0.0}),
                   std::vector<float>{1.0f, -1.0f});
  EXPECT_EQ(complex_got, (std::vector<double>{3.0 + 3.0, -2.5 - 0.5}));
}

// At an integer sample the derivative is the one from the right: a ramp
// v(x) = x^2 along a row gives v(s + 1) - v(s), not v(s) - v(s - 1).
TEST(OffsetsGradient, IntegerSamplesTakeTheRightHandDerivative) {
  Geometry s;
  s.lanes = 1;
  s.n = 1;
  s.height = 1;
  s.width = 6;
  const std::vector<float> object = {0.0f, 1.0f, 4.0f, 9.0f, 16.0f, 25.0f};
  for (int x = 0; x < 5; ++x) {
    const std::vector<double> got =
        run_gradient(cpu_context(), s, object, Offsets({double(x), 0.0}), std::vector<float>{1.0f});
    EXPECT_EQ(got[0], double(2 * x + 1)) << "x = " << x;
  }
}

// Bitwise the same for any thread count and with a progress callback
// (which cuts the patches into chunks).
TEST(OffsetsGradient, ThreadsAndProgressChangeNoBit) {
  Geometry s;
  s.group_size = 4;
  s.n = 12;
  const int64_t num_patches = 4 * 60;
  const std::vector<float> object =
      random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 41);
  const Offsets offsets(mixed_offsets(s, num_patches, 42));
  const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 43);
  const std::vector<double> one = run_gradient(cpu_context(1), s, object, offsets, grad);
  const std::vector<double> many = run_gradient(cpu_context(4), s, object, offsets, grad);
  std::vector<int64_t> reports;
  const auto record = [](int64_t done, int64_t, void* user) -> int32_t {
    static_cast<std::vector<int64_t>*>(user)->push_back(done);
    return 0;
  };
  const std::vector<double> chunked =
      run_gradient(cpu_context(3), s, object, offsets, grad, nullptr, record, &reports);
  EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(double)), 0);
  EXPECT_EQ(std::memcmp(one.data(), chunked.data(), one.size() * sizeof(double)), 0);
  ASSERT_GE(reports.size(), 2u);
  EXPECT_EQ(reports.front(), 0);
  EXPECT_EQ(reports.back(), num_patches);
  for (size_t i = 1; i < reports.size(); ++i) EXPECT_EQ(reports[i] % 4, 0);
}

// ------------------------------------------------------------ bad input

struct BadCall {
  ptp_extract_plan* plan;
  const void* object;
  const void* offsets;
  int64_t num_patches;
  const void* grad_patches;
  size_t grad_patches_bytes;
  void* grad_offsets;
  size_t grad_offsets_bytes;
};

TEST(OffsetsGradient, BadInputIsAStatusAndWritesNothing) {
  Geometry s;
  s.group_size = 2;
  const int64_t num_patches = 4;
  const ptp_extract_desc desc = extract_desc(s);
  const Context ctx = cpu_context();
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &desc, &plan));
  const std::vector<float> object(static_cast<size_t>(s.height * s.width * 2), 1.0f);
  std::vector<double> xy = {3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5, 10.5};
  const std::vector<float> grad(patch_floats(s, num_patches), 1.0f);
  std::vector<double> out(2 * num_patches, kSentinel);
  const size_t grad_bytes = grad.size() * sizeof(float);
  const size_t out_bytes = out.size() * sizeof(double);
  const BadCall good{plan,        object.data(), xy.data(),  num_patches,
                     grad.data(), grad_bytes,    out.data(), out_bytes};
  struct Case {
    const char* what;
    BadCall call;
    ptp_status status;
    const char* message;
  };
  std::vector<Case> cases;
  const auto with = [&](const char* what, ptp_status status, const char* message, auto change) {
    BadCall call = good;
    change(call);
    cases.push_back({what, call, status, message});
  };
  with("null plan", PTP_ERROR_INVALID_ARGUMENT, "argument 'plan' is NULL",
       [](BadCall& c) { c.plan = nullptr; });
  with("null object", PTP_ERROR_INVALID_ARGUMENT, "argument 'object' is NULL",
       [](BadCall& c) { c.object = nullptr; });
  with("null offsets", PTP_ERROR_INVALID_ARGUMENT, "argument 'offsets' is NULL",
       [](BadCall& c) { c.offsets = nullptr; });
  with("null grad_patches", PTP_ERROR_INVALID_ARGUMENT, "argument 'grad_patches' is NULL",
       [](BadCall& c) { c.grad_patches = nullptr; });
  with("null grad_offsets", PTP_ERROR_INVALID_ARGUMENT, "argument 'grad_offsets' is NULL",
       [](BadCall& c) { c.grad_offsets = nullptr; });
  with("negative count", PTP_ERROR_INVALID_SIZE, "the patch count is -2, must be >= 0",
       [](BadCall& c) { c.num_patches = -2; });
  with("count not a multiple", PTP_ERROR_INVALID_SIZE,
       "argument 'num_patches' is 3, not a multiple of the plan's group_size 2",
       [](BadCall& c) { c.num_patches = 3; });
  with("short grad_patches", PTP_ERROR_BUFFER_TOO_SMALL,
       "argument 'grad_patches_bytes' is 2044 but 4 patches need 2048 bytes",
       [](BadCall& c) { c.grad_patches_bytes -= 4; });
  with("short grad_offsets", PTP_ERROR_BUFFER_TOO_SMALL,
       "argument 'grad_offsets_bytes' is 63 but 4 (x, y) pairs need 64 bytes",
       [](BadCall& c) { c.grad_offsets_bytes -= 1; });
  with("overflowing count", PTP_ERROR_SIZE_OVERFLOW, "",
       [](BadCall& c) { c.num_patches = std::numeric_limits<int64_t>::max() - 1; });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const BadCall& a = c.call;
    EXPECT_EQ(
        ptp_extract_offsets_gradient(a.plan, a.object, a.offsets, a.num_patches, a.grad_patches,
                                     a.grad_patches_bytes, a.grad_offsets, a.grad_offsets_bytes),
        c.status);
    const std::string message = ptp_last_error_message();
    EXPECT_EQ(message.rfind("ptp_extract_offsets_gradient", 0), 0u) << message;
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
    for (double v : out) ASSERT_EQ(v, kSentinel);
  }
  // A non-finite offset, named by its patch; nothing written.
  xy[5] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ptp_extract_offsets_gradient(plan, object.data(), xy.data(), num_patches, grad.data(),
                                         grad_bytes, out.data(), out_bytes),
            PTP_ERROR_NON_FINITE);
  EXPECT_NE(std::string(ptp_last_error_message()).find("the offset of patch 2 is not finite"),
            std::string::npos)
      << ptp_last_error_message();
  for (double v : out) ASSERT_EQ(v, kSentinel);
  // No patches: NULL arrays (but the object) are fine and nothing is written.
  EXPECT_EQ(ptp_extract_offsets_gradient(plan, object.data(), nullptr, 0, nullptr, 0, nullptr, 0),
            PTP_SUCCESS);
  EXPECT_STREQ(ptp_last_error_message(), "");
  ptp_extract_plan_destroy(plan);

  // Device memory on a CPU context.
  ptp_extract_desc device_desc = desc;
  device_desc.memory = PTP_MEMORY_DEVICE;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &device_desc, &plan));
  xy[5] = 6.5;
  EXPECT_EQ(ptp_extract_offsets_gradient(plan, object.data(), xy.data(), num_patches, grad.data(),
                                         grad_bytes, out.data(), out_bytes),
            PTP_ERROR_UNSUPPORTED);
  for (double v : out) ASSERT_EQ(v, kSentinel);
  ptp_extract_plan_destroy(plan);
}

// A stop asked by the progress callback is PTP_ERROR_CANCELLED; the plan
// stays usable.
TEST(OffsetsGradient, ProgressCanStopTheCall) {
  Geometry s;
  const int64_t num_patches = 300;
  const std::vector<float> object =
      random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 51);
  const Offsets offsets(mixed_offsets(s, num_patches, 52));
  const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 53);
  int32_t status = PTP_SUCCESS;
  const auto stop = [](int64_t done, int64_t, void*) -> int32_t { return done > 0 ? 1 : 0; };
  run_gradient(cpu_context(), s, object, offsets, grad, &status, stop, nullptr);
  EXPECT_EQ(status, PTP_ERROR_CANCELLED);
  EXPECT_NE(last_message.find("of 300 patches"), std::string::npos) << last_message;
}

}  // namespace

namespace {

// The C++ wrapper: the same bits as the C call, and its size checks.
TEST(OffsetsGradient, CppWrapperMatchesTheCCall) {
  Geometry s;
  s.group_size = 2;
  const int64_t num_patches = 6;
  const std::vector<float> object =
      random_floats(static_cast<size_t>(s.height * s.width * s.lanes), 61);
  const Offsets offsets(mixed_offsets(s, num_patches, 62));
  const std::vector<float> grad = random_floats(patch_floats(s, num_patches), 63);
  const Context ctx = cpu_context();
  const std::vector<double> want = run_gradient(ctx, s, object, offsets, grad);
  ptychopatch::ExtractPlan<std::complex<float>, double> plan(ctx, s.height, s.width, s.n,
                                                             s.group_size);
  const auto as_complex = [](const std::vector<float>& v) {
    return reinterpret_cast<const std::complex<float>*>(v.data());
  };
  const ptychopatch::View<const std::complex<float>> object_view(as_complex(object),
                                                                 object.size() / 2);
  const ptychopatch::View<const std::complex<float>> grad_view(as_complex(grad), grad.size() / 2);
  EXPECT_EQ(plan.offsets_gradient(object_view, offsets.f64, grad_view), want);
  std::vector<double> short_output(offsets.f64.size() - 1);
  EXPECT_THROW(plan.offsets_gradient(object_view, offsets.f64, grad_view,
                                     ptychopatch::View<double>(short_output)),
               ptychopatch::Error);
}

}  // namespace
