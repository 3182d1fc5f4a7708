// Scene alignment's plan (ptp_align_*) through the C ABI: synthetic smooth periodic
// fields shifted circularly by known amounts, odd sizes, both frame types,
// degenerate frames, progress and cancellation, plan reuse, FFT planning, and every
// bad input (outputs untouched). The estimate's oracle: test_align_luma.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "align_oracle_support.hpp"
#include "math/phase_math.hpp"
#include "ptychopatch.hpp"

namespace {

constexpr double kSentinel = -12345.5;

// ------------------------------------------------------------ test data

using Field = std::vector<double>;

// A smooth periodic random field: uniform noise blurred circularly with the
// [1, 4, 1] / 6 kernel `passes` times along each axis (a kernel whose
// transfer function has no zeros, so no frequency bin is numerically dead).
Field smooth_field(int64_t ny, int64_t nx, uint32_t seed, int passes = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Field f(static_cast<size_t>(ny * nx));
  for (double& v : f) v = u(rng);
  Field t(f.size());
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t i = 0; i < ny; ++i)
      for (int64_t j = 0; j < nx; ++j)
        t[i * nx + j] =
            (f[i * nx + (j + nx - 1) % nx] + 4.0 * f[i * nx + j] + f[i * nx + (j + 1) % nx]) / 6.0;
    for (int64_t i = 0; i < ny; ++i)
      for (int64_t j = 0; j < nx; ++j)
        f[i * nx + j] =
            (t[((i + ny - 1) % ny) * nx + j] + 4.0 * t[i * nx + j] + t[((i + 1) % ny) * nx + j]) /
            6.0;
  }
  return f;
}

// The field translated circularly by (+ty, +tx): out[i + ty, j + tx] = in[i, j].
Field roll(const Field& in, int64_t ny, int64_t nx, int64_t ty, int64_t tx) {
  Field out(in.size());
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j)
      out[((i + ty) % ny + ny) % ny * nx + ((j + tx) % nx + nx) % nx] = in[i * nx + j];
  return out;
}

// The shift phase correlation reports for a circular translation by +t of
// an axis of n: -t wrapped into scikit-image's range.
int64_t expected_shift(int64_t t, int64_t n) {
  int64_t v = ((-t) % n + n) % n;
  return v > n / 2 ? v - n : v;
}

template <class T>
std::vector<T> to_frame(const Field& f, double offset, double scale);

template <>
std::vector<float> to_frame<float>(const Field& f, double offset, double scale) {
  std::vector<float> out(f.size());
  for (size_t k = 0; k < f.size(); ++k) out[k] = static_cast<float>(offset + scale * f[k]);
  return out;
}

template <>
std::vector<uint16_t> to_frame<uint16_t>(const Field& f, double offset, double scale) {
  std::vector<uint16_t> out(f.size());
  for (size_t k = 0; k < f.size(); ++k)
    out[k] = static_cast<uint16_t>(std::clamp(std::lround(offset + scale * f[k]), 0L, 65535L));
  return out;
}

// ------------------------------------------------------------ harness

struct Outcome {
  ptp_status status = PTP_SUCCESS;
  std::string message;
  std::vector<double> shifts;
  std::vector<double> plane_shifts;
  std::vector<double> confidence;
};

// The coarse estimate (the luminance image's peak; its oracle: test_align_luma.cpp)
// at whole pixels.
ptp_align_desc make_desc(int64_t h, int64_t w, ptp_dtype dtype, ptp_cfa cfa = PTP_CFA_NONE) {
  ptp_align_desc d;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.upsample_factor = 1;
  d.verify = PTP_ALIGN_VERIFY_NONE;  // the estimator alone (test_align_verify.cpp)
  d.height = h;
  d.width = w;
  d.frame_dtype = dtype;
  d.cfa = cfa;
  return d;
}

// A Bayer or X-Trans pattern that validates.
void set_pattern(ptp_align_desc* d) {
  if (d->cfa == PTP_CFA_BAYER) {
    const int32_t rggb[4] = {0, 1, 3, 2};
    std::copy(rggb, rggb + 4, d->pattern);
  } else if (d->cfa == PTP_CFA_XTRANS) {
    // Fujifilm's X-Trans layout (rows of 6).
    const int32_t xtrans[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
                                1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1};
    std::copy(xtrans, xtrans + 36, d->pattern);
  }
}

class Aligner {
 public:
  explicit Aligner(ptp_align_desc desc, int32_t threads = 0) : desc_(desc) {
    ptp_context_options o;
    ptp_context_options_init(&o, sizeof o);
    o.backend = PTP_BACKEND_CPU;
    o.num_threads = threads;
    EXPECT_EQ(ptp_context_create(&o, &ctx_), PTP_SUCCESS);
    EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan_), PTP_SUCCESS) << ptp_last_error_message();
    if (plan_ != nullptr) ptp_align_plan_num_planes(plan_, &planes_);
  }
  ~Aligner() {
    ptp_align_plan_destroy(plan_);
    ptp_context_destroy(ctx_);
  }
  Aligner(const Aligner&) = delete;
  Aligner& operator=(const Aligner&) = delete;

  ptp_status set_reference(const void* frame) { return ptp_align_set_reference(plan_, frame); }

  Outcome execute(const std::vector<const void*>& frames) {
    const auto n = static_cast<int64_t>(frames.size());
    Outcome r;
    r.shifts.assign(static_cast<size_t>(2 * n), kSentinel);
    r.plane_shifts.assign(static_cast<size_t>(2 * n * planes_), kSentinel);
    r.confidence.assign(static_cast<size_t>(n), kSentinel);
    r.status = ptp_align_execute(plan_, frames.data(), n, r.shifts.data(), r.plane_shifts.data(),
                                 r.confidence.data());
    r.message = ptp_last_error_message();
    return r;
  }

  ptp_align_plan* plan() const { return plan_; }
  int64_t planes() const { return planes_; }

 private:
  ptp_align_desc desc_;
  ptp_context* ctx_ = nullptr;
  ptp_align_plan* plan_ = nullptr;
  int64_t planes_ = 0;
};

// Aligns one moving frame to ref and returns the run (expected to succeed).
template <class T>
Outcome align_one(const ptp_align_desc& desc, const std::vector<T>& ref, const std::vector<T>& mov,
                  int32_t threads = 0) {
  Aligner a(desc, threads);
  EXPECT_EQ(a.set_reference(ref.data()), PTP_SUCCESS) << ptp_last_error_message();
  Outcome r = a.execute({mov.data()});
  EXPECT_EQ(r.status, PTP_SUCCESS) << r.message;
  return r;
}

// ------------------------------------------------------ the math header

TEST(AlignMath, PlaneElementIndexOfChannelsAndPatterns) {
  using ptychopatch::math::plane_element_index;
  // Channels: (C, H, W).
  EXPECT_EQ(plane_element_index(2, 3, 4, 1, 5, 7), 2 * 35 + 3 * 7 + 4);
  // Bayer: plane 3 = (1, 1); (row 2, col 5) -> frame (5, 11) of width 13.
  EXPECT_EQ(plane_element_index(3, 2, 5, 2, 9, 13), 5 * 13 + 11);
  EXPECT_EQ(plane_element_index(1, 0, 0, 2, 9, 13), 1);
  EXPECT_EQ(plane_element_index(2, 0, 0, 2, 9, 13), 13);
  // X-Trans: plane 13 = (2, 1); (row 1, col 2) -> frame (8, 13) of width 20.
  EXPECT_EQ(plane_element_index(13, 1, 2, 6, 14, 20), 8 * 20 + 13);
}

TEST(AlignMath, HannIsPeriodic) {
  using ptychopatch::math::hann_weight;
  EXPECT_EQ(hann_weight(0, 1), 1.0);
  EXPECT_DOUBLE_EQ(hann_weight(0, 4), 0.0);
  EXPECT_DOUBLE_EQ(hann_weight(1, 4), 0.5);
  EXPECT_DOUBLE_EQ(hann_weight(2, 4), 1.0);
  EXPECT_DOUBLE_EQ(hann_weight(3, 4), 0.5);
}

TEST(AlignMath, WrapAndFrequenciesFollowNumpy) {
  using ptychopatch::math::signed_frequency;
  using ptychopatch::math::wrap_peak_index;
  EXPECT_EQ(wrap_peak_index(2, 4), 2);  // (-n/2, n/2]
  EXPECT_EQ(wrap_peak_index(3, 4), -1);
  EXPECT_EQ(wrap_peak_index(2, 5), 2);
  EXPECT_EQ(wrap_peak_index(3, 5), -2);
  EXPECT_EQ(wrap_peak_index(0, 1), 0);
  const int64_t even[4] = {0, 1, -2, -1};
  const int64_t odd[5] = {0, 1, 2, -2, -1};
  for (int k = 0; k < 4; ++k) EXPECT_EQ(signed_frequency(k, 4), even[k]);
  for (int k = 0; k < 5; ++k) EXPECT_EQ(signed_frequency(k, 5), odd[k]);
}

TEST(AlignMath, UpsampledRegionIsScikitImages) {
  using ptychopatch::math::upsampled_dftshift;
  using ptychopatch::math::upsampled_region_size;
  for (int64_t up = 1; up <= 1000; ++up) {
    const auto region = static_cast<int64_t>(std::ceil(up * 1.5));
    ASSERT_EQ(upsampled_region_size(up), region) << up;
    ASSERT_EQ(upsampled_dftshift(region), static_cast<int64_t>(std::trunc(region / 2.0)));
  }
  EXPECT_EQ(ptychopatch::math::upsampled_sample_index(0, -3, 10, 7), -37);
  EXPECT_DOUBLE_EQ(ptychopatch::math::refined_shift(-3, 9, 7, 10), -2.8);
}

TEST(AlignMath, TwiddleMatchesDirectExponential) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> pick(-100000, 100000);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 1 + std::abs(pick(rng)) % 5000;
    const int64_t up = 1 + std::abs(pick(rng)) % 1000;
    const int64_t f = pick(rng) % (n / 2 + 1);
    const int64_t m = pick(rng);
    double c = 0.0;
    double s = 0.0;
    ptychopatch::math::dft_twiddle(m, f, n, up, &c, &s);
    // Reference in long double with the phase reduced by fmod.
    const long double turns =
        std::fmod(static_cast<long double>(m) * f, static_cast<long double>(n) * up) /
        (static_cast<long double>(n) * up);
    const long double angle = 2.0L * 3.141592653589793238462643383279L * turns;
    ASSERT_NEAR(c, static_cast<double>(std::cos(angle)), 1e-12) << m << " " << f << " " << n;
    ASSERT_NEAR(s, static_cast<double>(std::sin(angle)), 1e-12) << m << " " << f << " " << n;
  }
  // Huge phases stay exact: m * f far beyond 2^53.
  double c = 0.0;
  double s = 0.0;
  ptychopatch::math::dft_twiddle((int64_t{1} << 40) + 3, (int64_t{1} << 29), int64_t{1} << 30, 7,
                                 &c, &s);
  // m f / (n up) = (2^40 + 3) 2^29 / (2^30 7) = (2^40 + 3) / 14: fraction 5 / 14
  // ((2^40 + 3) mod 14 = 2 + 3 = 5, as 2^40 mod 14 = 2).
  EXPECT_NEAR(c, std::cos(2 * naive::kPi * 5.0 / 14.0), 1e-12);
  EXPECT_NEAR(s, std::sin(2 * naive::kPi * 5.0 / 14.0), 1e-12);
}

TEST(AlignMath, CrossPowerAndGuard) {
  using ptychopatch::math::cross_power;
  float re = 0.0f;
  float im = 0.0f;
  cross_power(1.0f, 2.0f, 3.0f, -4.0f, false, &re, &im);  // (1 + 2i)(3 + 4i)
  EXPECT_EQ(re, -5.0f);
  EXPECT_EQ(im, 10.0f);
  cross_power(1.0f, 2.0f, 3.0f, -4.0f, true, &re, &im);
  EXPECT_FLOAT_EQ(re, -5.0f / std::sqrt(125.0f));
  EXPECT_FLOAT_EQ(im, 10.0f / std::sqrt(125.0f));
  cross_power(0.0f, 0.0f, 3.0f, 1.0f, true, &re, &im);  // zero: guarded, no NaN
  EXPECT_EQ(re, 0.0f);
  EXPECT_EQ(im, 0.0f);
  cross_power(1e-3f, 0.0f, 1e-3f, 0.0f, true, &re, &im);  // below the guard
  EXPECT_FLOAT_EQ(re, 1e-6f / (100.0f * FLT_EPSILON));
  cross_power(3e38f, 3e38f, 1.0f, 0.0f, true, &re, &im);  // no overflow in |X|
  EXPECT_FLOAT_EQ(re, static_cast<float>(std::sqrt(0.5)));
}

TEST(AlignMath, ConfidenceAndScaling) {
  using ptychopatch::math::plane_scale_exponent;
  using ptychopatch::math::xcorr_confidence;
  EXPECT_EQ(xcorr_confidence(5.0, 10, 0.0, 4.0), 0.0);
  EXPECT_DOUBLE_EQ(xcorr_confidence(5.0, 10, 1.0, 4.0), 0.25);
  EXPECT_EQ(plane_scale_exponent(65535.0, int64_t{1} << 40), 0);
  EXPECT_EQ(plane_scale_exponent(std::ldexp(1.0, 60), 4), 2);
  // Terminates whatever it is given (an infinite bound used to loop forever).
  EXPECT_EQ(plane_scale_exponent(std::ldexp(1.0, 129), int64_t{1} << 40), 109);
  EXPECT_EQ(plane_scale_exponent(std::numeric_limits<double>::infinity(), 4), 4096);
  // Tiny planes (N max|v| < 1) are scaled up to N max|v| in [2^20, 2^21);
  // from 1 up, nothing changes.
  EXPECT_EQ(plane_scale_exponent(0.5, 2), 0);
  EXPECT_EQ(plane_scale_exponent(0.0, 4), 0);
  EXPECT_EQ(plane_scale_exponent(std::nan(""), 4), 0);
  EXPECT_EQ(plane_scale_exponent(std::ldexp(1.0, -3), 4), -21);
  for (const double top : {0.999 / 4096.0, 2.75e-7, 1e-30, 1.4e-45}) {
    const int e = plane_scale_exponent(top, 4096);
    const double scaled = std::ldexp(top * 4096.0, -e);
    EXPECT_LT(e, 0) << top;
    EXPECT_GE(scaled, std::ldexp(1.0, 20)) << top;
    EXPECT_LT(scaled, std::ldexp(1.0, 21)) << top;
    // As the backends apply it, per value: a float32 subnormal comes out
    // normal and exact, where 2^-e itself would overflow float32.
    const float value = std::ldexp(static_cast<float>(top), -e);
    EXPECT_TRUE(std::isnormal(value)) << top;
    EXPECT_EQ(std::ldexp(value, e), static_cast<float>(top)) << top;
  }
}

// ------------------------------------------------------- integer shifts

TEST(AlignIntegerShifts, SingleRowOrColumnPlanesGiveZeroAlongThem) {
  const Field f = smooth_field(1, 64, 3);
  const Field g = roll(f, 1, 64, 0, 5);
  const Outcome r = align_one(make_desc(1, 64, PTP_DTYPE_FLOAT32), to_frame<float>(f, 0, 1),
                              to_frame<float>(g, 0, 1));
  EXPECT_EQ(r.shifts[0], 0.0);
  EXPECT_EQ(r.shifts[1], -5.0);
  const Field h = smooth_field(48, 1, 4);
  ptp_align_desc d = make_desc(48, 1, PTP_DTYPE_FLOAT32);
  d.upsample_factor = 10;
  const Outcome c =
      align_one(d, to_frame<float>(h, 0, 1), to_frame<float>(roll(h, 48, 1, -7, 0), 0, 1));
  EXPECT_EQ(c.shifts[0], 7.0);
  EXPECT_EQ(c.shifts[1], 0.0);
}

// ------------------------------------------------------------- sub-pixel

TEST(AlignSubPixel, UpsamplingKeepsIntegerShiftsExact) {
  // The refined peak at a whole-pixel shift is the integer peak itself.
  const Field f = smooth_field(30, 36, 9);
  const Field g = roll(f, 30, 36, -4, 9);
  double whole = 0.0;
  for (int up : {1, 2, 3, 10, 100}) {
    ptp_align_desc d = make_desc(30, 36, PTP_DTYPE_FLOAT32);
    d.upsample_factor = up;
    const Outcome r = align_one(d, to_frame<float>(f, 1, 1), to_frame<float>(g, 1, 1));
    EXPECT_EQ(r.shifts[0], 4.0) << up;
    EXPECT_EQ(r.shifts[1], -9.0) << up;
    if (up == 1) whole = r.confidence[0];
    EXPECT_NEAR(r.confidence[0], whole, 1e-5) << up;
  }
}

// ---------------------------------------------------- degenerate planes

TEST(AlignDegenerate, ConstantFramesHaveNoShiftAndZeroConfidence) {
  const Field f = smooth_field(16, 20, 1);
  const auto textured = to_frame<uint16_t>(f, 1000, 300);
  const std::vector<uint16_t> flat(textured.size(), 777);
  for (int up : {1, 10}) {
    ptp_align_desc d = make_desc(16, 20, PTP_DTYPE_UINT16);
    d.upsample_factor = up;
    for (int which = 0; which < 3; ++which) {
      const auto& ref = which == 1 ? textured : flat;
      const auto& mov = which == 2 ? textured : flat;
      const Outcome r = align_one(d, ref, mov);
      // No information: no shift, rather than a plausible (0, 0).
      EXPECT_TRUE(std::isnan(r.shifts[0])) << r.shifts[0];
      EXPECT_TRUE(std::isnan(r.shifts[1])) << r.shifts[1];
      EXPECT_TRUE(std::isnan(r.plane_shifts[0]));
      EXPECT_EQ(r.confidence[0], 0.0);
    }
  }
  // A Bayer frame with one constant plane: the others align.
  const Field scene = smooth_field(32, 40, 2);
  auto ref = to_frame<float>(scene, 100, 10);
  auto mov = to_frame<float>(roll(scene, 32, 40, 2, 4), 100, 10);
  for (int64_t i = 0; i < 32; i += 2)
    for (int64_t j = 1; j < 40; j += 2) ref[i * 40 + j] = mov[i * 40 + j] = 5.0f;  // plane 1
  ptp_align_desc d = make_desc(32, 40, PTP_DTYPE_FLOAT32, PTP_CFA_BAYER);
  set_pattern(&d);
  const Outcome r = align_one(d, ref, mov);
  EXPECT_EQ(r.shifts[0], -2.0);
  EXPECT_EQ(r.shifts[1], -4.0);
  for (double v : r.plane_shifts) EXPECT_TRUE(std::isnan(v));  // one estimate, no planes'
  for (double v : r.confidence) EXPECT_GT(v, 0.0);
}

TEST(AlignDegenerate, FlatPlanesDoNotPullTheEstimate) {
  // Two of four Bayer planes clipped flat: a median of plane shifts once took their
  // (0, 0) in and gave (-2, 3) for a true (-4, 6), a shift that breaks the mosaic.
  const Field scene = smooth_field(48, 56, 7);
  auto ref = to_frame<float>(scene, 100, 10);
  auto mov = to_frame<float>(roll(scene, 48, 56, 4, -6), 100, 10);
  for (int64_t i = 0; i < 48; ++i)
    for (int64_t j = i % 2; j < 56; j += 2) ref[i * 56 + j] = mov[i * 56 + j] = 4095.0f;
  ptp_align_desc d = make_desc(48, 56, PTP_DTYPE_FLOAT32, PTP_CFA_BAYER);
  set_pattern(&d);
  const Outcome r = align_one(d, ref, mov);
  EXPECT_EQ(r.shifts[0], -4.0);
  EXPECT_EQ(r.shifts[1], 6.0);
}

TEST(AlignDegenerate, IdenticalFramesHaveNoShift) {
  // White noise: every frequency bin is far above the guard.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> u(0, 4000);
  std::vector<uint16_t> frame(31 * 44);
  for (auto& v : frame) v = static_cast<uint16_t>(u(rng));
  for (int up : {1, 10}) {
    ptp_align_desc d = make_desc(31, 44, PTP_DTYPE_UINT16);
    d.upsample_factor = up;
    const Outcome r = align_one(d, frame, frame);
    EXPECT_EQ(r.shifts[0], 0.0);
    EXPECT_EQ(r.shifts[1], 0.0);
    EXPECT_GT(r.confidence[0], 0.8) << up;
    EXPECT_LE(r.confidence[0], 1.0) << up;
  }
}

TEST(AlignDegenerate, HugeFloatValuesDoNotOverflow) {
  const Field f = smooth_field(24, 28, 8);
  const auto a = to_frame<float>(f, 0.0, 1e37);
  const auto b = to_frame<float>(roll(f, 24, 28, 3, -2), 0.0, 1e37);
  ptp_align_desc d = make_desc(24, 28, PTP_DTYPE_FLOAT32);
  d.upsample_factor = 4;
  const Outcome r = align_one(d, a, b);
  EXPECT_EQ(r.shifts[0], -3.0);
  EXPECT_EQ(r.shifts[1], 2.0);
  EXPECT_GT(r.confidence[0], 0.5);
  EXPECT_LE(r.confidence[0], 1.0);
}

// ------------------------------------------------- batches, threads, reuse

struct Scene {
  std::vector<uint16_t> ref;
  std::vector<std::vector<uint16_t>> frames;
  std::vector<std::pair<int64_t, int64_t>> moves;  // sensor pixels, multiples of 2
};

Scene bayer_scene(int64_t h, int64_t w, int count, uint32_t seed) {
  Scene s;
  const Field scene = smooth_field(h, w, seed, 3);
  s.ref = to_frame<uint16_t>(scene, 3000, 2000);
  std::mt19937 rng(seed);
  // Plane shifts stay below a quarter of the plane: no wrap-around.
  std::uniform_int_distribution<int64_t> u(-std::min(h, w) / 8, std::min(h, w) / 8);
  for (int i = 0; i < count; ++i) {
    const int64_t ty = 2 * u(rng);
    const int64_t tx = 2 * u(rng);
    s.moves.push_back({ty, tx});
    s.frames.push_back(to_frame<uint16_t>(roll(scene, h, w, ty, tx), 3000, 2000));
  }
  return s;
}

std::vector<const void*> pointers(const Scene& s) {
  std::vector<const void*> p;
  for (const auto& f : s.frames) p.push_back(f.data());
  return p;
}

ptp_align_desc bayer_desc(int64_t h, int64_t w) {
  ptp_align_desc d = make_desc(h, w, PTP_DTYPE_UINT16, PTP_CFA_BAYER);
  set_pattern(&d);
  return d;
}

TEST(AlignBatch, ManyFramesAnyThreadCountSameResults) {
  const Scene s = bayer_scene(40, 48, 7, 21);
  Outcome first;
  for (int threads : {1, 2, 3, 8}) {
    Aligner a(bayer_desc(40, 48), threads);
    ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
    const Outcome r = a.execute(pointers(s));
    ASSERT_EQ(r.status, PTP_SUCCESS) << r.message;
    for (size_t i = 0; i < s.frames.size(); ++i) {
      EXPECT_EQ(r.shifts[2 * i], -s.moves[i].first) << i;
      EXPECT_EQ(r.shifts[2 * i + 1], -s.moves[i].second) << i;
    }
    if (threads == 1) {
      first = r;
    } else {
      EXPECT_EQ(r.shifts, first.shifts) << threads;
      EXPECT_EQ(r.confidence, first.confidence) << threads;
    }
  }
}

TEST(AlignBatch, PlanReuseAcrossTwoReferences) {
  const Scene a = bayer_scene(36, 44, 3, 5);
  const Scene b = bayer_scene(36, 44, 4, 6);
  Aligner plan(bayer_desc(36, 44), 2);
  for (const Scene* s : {&a, &b, &a}) {
    ASSERT_EQ(plan.set_reference(s->ref.data()), PTP_SUCCESS);
    const Outcome r = plan.execute(pointers(*s));
    ASSERT_EQ(r.status, PTP_SUCCESS) << r.message;
    for (size_t i = 0; i < s->frames.size(); ++i) {
      EXPECT_EQ(r.shifts[2 * i], -s->moves[i].first);
      EXPECT_EQ(r.shifts[2 * i + 1], -s->moves[i].second);
      EXPECT_GT(r.confidence[i], 0.6);
    }
  }
  // Frames of scene b against reference a: low confidence.
  ASSERT_EQ(plan.set_reference(a.ref.data()), PTP_SUCCESS);
  const Outcome r = plan.execute(pointers(b));
  for (double c : r.confidence) EXPECT_LT(c, 0.5);
}

TEST(AlignBatch, NullOptionalOutputsAndEmptyBatch) {
  const Scene s = bayer_scene(20, 24, 2, 8);
  Aligner a(bayer_desc(20, 24));
  ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
  std::vector<double> shifts(4, kSentinel);
  const auto frames = pointers(s);
  ASSERT_EQ(ptp_align_execute(a.plan(), frames.data(), 2, shifts.data(), nullptr, nullptr),
            PTP_SUCCESS);
  EXPECT_EQ(shifts[0], -s.moves[0].first);
  EXPECT_EQ(ptp_align_execute(a.plan(), nullptr, 0, nullptr, nullptr, nullptr), PTP_SUCCESS);
  int64_t planes = 0;
  ASSERT_EQ(ptp_align_plan_num_planes(a.plan(), &planes), PTP_SUCCESS);
  EXPECT_EQ(planes, 4);
}

// --------------------------------------------------------------- progress

struct Progress {
  std::vector<std::pair<int64_t, int64_t>> calls;
  int64_t cancel_at = -1;
};

int32_t record_progress(int64_t done, int64_t total, void* user) {
  auto* p = static_cast<Progress*>(user);
  p->calls.push_back({done, total});
  return done == p->cancel_at ? 1 : 0;
}

TEST(AlignProgress, CalledOncePerFrameInOrder) {
  const Scene s = bayer_scene(20, 24, 5, 9);
  for (int threads : {1, 2, 4}) {
    Aligner a(bayer_desc(20, 24), threads);
    Progress p;
    ASSERT_EQ(ptp_align_set_progress(a.plan(), record_progress, &p), PTP_SUCCESS);
    ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
    const Outcome r = a.execute(pointers(s));
    ASSERT_EQ(r.status, PTP_SUCCESS);
    ASSERT_EQ(p.calls.size(), 5u);
    for (int64_t i = 0; i < 5; ++i) {
      EXPECT_EQ(p.calls[i].first, i + 1);
      EXPECT_EQ(p.calls[i].second, 5);
    }
    // Removed: no more calls.
    ASSERT_EQ(ptp_align_set_progress(a.plan(), nullptr, nullptr), PTP_SUCCESS);
    ASSERT_EQ(a.execute(pointers(s)).status, PTP_SUCCESS);
    EXPECT_EQ(p.calls.size(), 5u);
  }
}

// A callback that tries to change its own plan mid-call (issue 12, item 9:
// a new reference used to be accepted, aligning frames against a mix of two).
struct Meddler {
  ptp_align_plan* plan = nullptr;
  const void* other_reference = nullptr;
  std::vector<ptp_status> statuses;
  std::vector<std::string> messages;
};

int32_t meddle(int64_t, int64_t, void* user) {
  auto* m = static_cast<Meddler*>(user);
  const void* frames[1] = {m->other_reference};
  double shifts[2];
  const ptp_status results[4] = {
      ptp_align_set_reference(m->plan, m->other_reference),
      ptp_align_execute(m->plan, frames, 1, shifts, nullptr, nullptr),
      ptp_align_set_progress(m->plan, nullptr, nullptr),
      ptp_align_plan_destroy(m->plan),
  };
  for (ptp_status status : results) {
    m->statuses.push_back(status);
    m->messages.push_back(ptp_last_error_message());
  }
  return 0;
}

TEST(AlignProgress, CallbackCannotChangeItsOwnPlan) {
  const Scene s = bayer_scene(20, 24, 4, 12);
  const Scene other = bayer_scene(20, 24, 1, 13);
  Aligner quiet(bayer_desc(20, 24), 2);
  ASSERT_EQ(quiet.set_reference(s.ref.data()), PTP_SUCCESS);
  const Outcome expected = quiet.execute(pointers(s));
  ASSERT_EQ(expected.status, PTP_SUCCESS);

  Aligner a(bayer_desc(20, 24), 2);
  Meddler m;
  m.plan = a.plan();
  m.other_reference = other.ref.data();
  ASSERT_EQ(ptp_align_set_progress(a.plan(), meddle, &m), PTP_SUCCESS);
  ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
  const Outcome r = a.execute(pointers(s));
  ASSERT_EQ(r.status, PTP_SUCCESS) << r.message;
  EXPECT_EQ(r.shifts, expected.shifts);
  EXPECT_EQ(r.confidence, expected.confidence);
  ASSERT_EQ(m.statuses.size(), 16u);
  for (size_t k = 0; k < m.statuses.size(); ++k) {
    EXPECT_EQ(m.statuses[k], PTP_ERROR_INVALID_ARGUMENT) << k;
    EXPECT_NE(m.messages[k].find("progress callback"), std::string::npos) << m.messages[k];
  }
  // After the call the plan is the caller's again.
  EXPECT_EQ(ptp_align_set_progress(a.plan(), nullptr, nullptr), PTP_SUCCESS);
  EXPECT_EQ(a.set_reference(other.ref.data()), PTP_SUCCESS);
}

TEST(AlignProgress, CancellationKeepsFinishedFrames) {
  const Scene s = bayer_scene(20, 24, 6, 10);
  for (int threads : {1, 2}) {
    for (int64_t cancel_at : {1, 4, 6}) {
      Aligner a(bayer_desc(20, 24), threads);
      Progress p;
      p.cancel_at = cancel_at;
      ASSERT_EQ(ptp_align_set_progress(a.plan(), record_progress, &p), PTP_SUCCESS);
      ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
      const Outcome r = a.execute(pointers(s));
      EXPECT_EQ(r.status, PTP_ERROR_CANCELLED);
      EXPECT_NE(r.message.find("progress"), std::string::npos) << r.message;
      EXPECT_EQ(static_cast<int64_t>(p.calls.size()), cancel_at);
      for (int64_t i = 0; i < 6; ++i) {
        if (i < cancel_at) {
          EXPECT_EQ(r.shifts[2 * i], -s.moves[i].first);
          EXPECT_NE(r.confidence[i], kSentinel);
          EXPECT_NE(r.plane_shifts[8 * i], kSentinel);
        } else {
          EXPECT_EQ(r.shifts[2 * i], kSentinel) << i;
          EXPECT_EQ(r.confidence[i], kSentinel) << i;
          EXPECT_EQ(r.plane_shifts[8 * i + 7], kSentinel) << i;
        }
      }
    }
  }
}

// -------------------------------------------------------------- bad input

class AlignBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(ptp_context_create(nullptr, &ctx_), PTP_SUCCESS);
    desc_ = bayer_desc(20, 24);
    scene_ = bayer_scene(20, 24, 2, 12);
  }
  void TearDown() override { ptp_context_destroy(ctx_); }

  // Plan creation must fail with `want`, leaving the output handle alone.
  void expect_create_fails(ptp_status want, const std::string& word) {
    ptp_align_plan* plan = reinterpret_cast<ptp_align_plan*>(0x1);
    const ptp_status st = ptp_align_plan_create(ctx_, &desc_, &plan);
    const std::string message = ptp_last_error_message();
    EXPECT_EQ(st, want) << message;
    EXPECT_EQ(plan, reinterpret_cast<ptp_align_plan*>(0x1)) << "plan written on failure";
    EXPECT_NE(message.find(word), std::string::npos)
        << "'" << message << "' lacks '" << word << "'";
    desc_ = bayer_desc(20, 24);
  }

  void expect_untouched(const Outcome& r) {
    for (double v : r.shifts) ASSERT_EQ(v, kSentinel);
    for (double v : r.plane_shifts) ASSERT_EQ(v, kSentinel);
    for (double v : r.confidence) ASSERT_EQ(v, kSentinel);
  }

  ptp_context* ctx_ = nullptr;
  ptp_align_desc desc_{};
  Scene scene_;
};

TEST_F(AlignBadInput, EveryBadDescriptorFieldIsNamed) {
  desc_.struct_size = 3;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "struct_size");
  desc_.fft_planning = 3;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "fft_planning");
  desc_.cfa = 3;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "cfa");
  desc_.frame_dtype = PTP_DTYPE_FLOAT64;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "frame_dtype");
  desc_.normalization = 3;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "normalization");
  desc_.window = -1;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "window");
  desc_.combine = 4;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "combine");
  desc_.max_shift = -1;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "max_shift");
  desc_.verify = 4;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "verify");
  desc_.verify = -1;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "verify");
  desc_.verify = PTP_ALIGN_VERIFY_CORRECT;
  desc_.method = PTP_ALIGN_METHOD_RAWNIND;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "verify");
  desc_.verify = PTP_ALIGN_VERIFY_CHECK;
  desc_.method = PTP_ALIGN_METHOD_RAWNIND;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "verify");
  desc_.method = 2;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "method");
  desc_.method = PTP_ALIGN_METHOD_RAWNIND;
  desc_.window = PTP_WINDOW_NONE;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "method");
  desc_.snap = 2;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "snap");
  desc_.cfa = PTP_CFA_NONE;
  desc_.snap = 1;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "snap");
  desc_.upsample_factor = 0;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "upsample_factor");
  desc_.upsample_factor = 1001;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "upsample_factor");
  desc_.channels = 3;
  expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "channels");
  desc_.cfa = PTP_CFA_NONE;
  desc_.channels = 0;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "channels");
  desc_.height = 1;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "height");
  desc_.width = 0;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "width");
  desc_.cfa = PTP_CFA_XTRANS;
  set_pattern(&desc_);
  desc_.height = 5;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "height");
  desc_.cfa = PTP_CFA_NONE;
  desc_.height = int64_t{1} << 30;
  desc_.width = int64_t{1} << 30;
  desc_.channels = int64_t{1} << 10;
  expect_create_fails(PTP_ERROR_SIZE_OVERFLOW, "height");
}

// Sides of any int64 value are refused promptly with the FFT limit named,
// on every estimator: near INT64_MAX the search for an FFT-friendly side
// (fft_size.hpp) once spun forever, and half of it gave a misleading plane
// size. RawNIND's method pads planes to 2n - 1: planes of 2^30 + 10 pixels
// are within the limit, their padding is not.
TEST_F(AlignBadInput, SidesBeyondTheFftLimitAreRefused) {
  constexpr int64_t kTop = std::numeric_limits<int64_t>::max();
  for (const int64_t side : {kTop, kTop - 999, kTop / 2, int64_t{1} << 40})
    for (const bool rows : {true, false}) {
      desc_.height = rows ? side : 64;
      desc_.width = rows ? 64 : side;
      expect_create_fails(PTP_ERROR_INVALID_SIZE, "2^31 - 1");
    }
  ASSERT_EQ(ptp_align_desc_init(&desc_, sizeof desc_), PTP_SUCCESS);
  desc_.cfa = PTP_CFA_BAYER;
  set_pattern(&desc_);
  desc_.method = PTP_ALIGN_METHOD_RAWNIND;
  desc_.height = (int64_t{1} << 31) + 20;  // Bayer planes of 2^30 + 10 rows
  desc_.width = 64;
  expect_create_fails(PTP_ERROR_INVALID_SIZE, "PTP_ALIGN_METHOD_RAWNIND");
}

TEST_F(AlignBadInput, PatternsAreValidated) {
  const int32_t bad_bayer[][4] = {{0, 1, 1, 1}, {0, 0, 1, 2},  {0, 3, 3, 2},
                                  {0, 1, 4, 2}, {0, 1, -1, 2}, {2, 2, 1, 0}};
  for (const auto& p : bad_bayer) {
    std::copy(p, p + 4, desc_.pattern);
    expect_create_fails(PTP_ERROR_INVALID_ARGUMENT, "pattern");
  }
  const int32_t good_bayer[][4] = {{0, 1, 1, 2}, {1, 0, 2, 3}, {2, 3, 1, 0}, {3, 2, 0, 1}};
  for (const auto& p : good_bayer) {
    std::copy(p, p + 4, desc_.pattern);
    ptp_align_plan* plan = nullptr;
    EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS) << ptp_last_error_message();
    ptp_align_plan_destroy(plan);
  }
  desc_ = make_desc(36, 36, PTP_DTYPE_UINT16, PTP_CFA_XTRANS);
  set_pattern(&desc_);
  desc_.pattern[7] = 3;
  ptp_align_plan* plan = reinterpret_cast<ptp_align_plan*>(0x1);
  EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("pattern[7]"), std::string::npos);
  desc_ = make_desc(36, 36, PTP_DTYPE_UINT16, PTP_CFA_XTRANS);
  for (int i = 0; i < 36; ++i) desc_.pattern[i] = i % 2;  // no blue
  EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("(B)"), std::string::npos);
  // Patterns are ignored without a CFA.
  desc_.cfa = PTP_CFA_NONE;
  EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS);
  ptp_align_plan_destroy(plan);
}

TEST_F(AlignBadInput, NullArguments) {
  ptp_align_plan* plan = nullptr;
  EXPECT_EQ(ptp_align_plan_create(ctx_, nullptr, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_plan_create(nullptr, &desc_, &plan), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_plan_create(ctx_, &desc_, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  EXPECT_EQ(ptp_align_desc_init(nullptr, sizeof desc_), PTP_ERROR_INVALID_ARGUMENT);
  ptp_align_desc d;
  d.height = 77;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d - 8), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.height, 77);
  EXPECT_EQ(ptp_align_plan_num_planes(nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  // ptp_align_plan_get_backend: every pointer required, outputs untouched.
  ASSERT_EQ(ptp_align_plan_create(ctx_, &desc_, &plan), PTP_SUCCESS);
  int32_t backend = -5;
  const char* message = reinterpret_cast<const char*>(0x1);
  EXPECT_EQ(ptp_align_plan_get_backend(nullptr, &backend, &message), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_plan_get_backend(plan, nullptr, &message), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("backend"), std::string::npos);
  EXPECT_EQ(ptp_align_plan_get_backend(plan, &backend, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(backend, -5);
  EXPECT_EQ(message, reinterpret_cast<const char*>(0x1));
  EXPECT_EQ(ptp_align_plan_get_backend(plan, &backend, &message), PTP_SUCCESS);
  // The default context's backend: the CPU here, the GPU where one is usable.
  int32_t context_backend = -1;
  ASSERT_EQ(ptp_context_get_backend(ctx_, &context_backend), PTP_SUCCESS);
  EXPECT_EQ(backend, context_backend);
  EXPECT_STREQ(message, "");
  ptp_align_plan_destroy(plan);
  plan = nullptr;
  EXPECT_EQ(ptp_align_set_progress(nullptr, nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_set_reference(nullptr, scene_.ref.data()), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_execute(nullptr, nullptr, 0, nullptr, nullptr, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_plan_destroy(nullptr), PTP_SUCCESS);
}

TEST_F(AlignBadInput, ExecuteArgumentsLeaveOutputsUntouched) {
  Aligner a(desc_);
  // Before any reference.
  Outcome r = a.execute(pointers(scene_));
  EXPECT_EQ(r.status, PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.message.find("reference"), std::string::npos) << r.message;
  expect_untouched(r);
  EXPECT_EQ(a.set_reference(nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("'frame'"), std::string::npos);
  ASSERT_EQ(a.set_reference(scene_.ref.data()), PTP_SUCCESS);
  // A null frame among valid ones.
  r = a.execute({scene_.frames[0].data(), nullptr});
  EXPECT_EQ(r.status, PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.message.find("frames[1]"), std::string::npos) << r.message;
  expect_untouched(r);
  // Null frames array, null shifts, negative count.
  std::vector<double> shifts(4, kSentinel);
  std::vector<double> conf(2, kSentinel);
  const auto frames = pointers(scene_);
  EXPECT_EQ(ptp_align_execute(a.plan(), nullptr, 2, shifts.data(), nullptr, conf.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("'frames'"), std::string::npos);
  EXPECT_EQ(ptp_align_execute(a.plan(), frames.data(), 2, nullptr, nullptr, conf.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("'shifts'"), std::string::npos);
  EXPECT_EQ(ptp_align_execute(a.plan(), frames.data(), -1, shifts.data(), nullptr, conf.data()),
            PTP_ERROR_INVALID_SIZE);
  for (double v : shifts) EXPECT_EQ(v, kSentinel);
  for (double v : conf) EXPECT_EQ(v, kSentinel);
  // A good call afterwards succeeds and clears the message.
  r = a.execute(frames);
  EXPECT_EQ(r.status, PTP_SUCCESS);
  EXPECT_EQ(r.message, "");
}

TEST_F(AlignBadInput, NonFiniteFloatFramesAreNamedWithTheirPosition) {
  ptp_align_desc d = make_desc(10, 12, PTP_DTYPE_FLOAT32);
  d.channels = 2;
  Aligner a(d);
  const Field f = smooth_field(20, 12, 4);
  std::vector<float> good = to_frame<float>(f, 0, 1);
  std::vector<float> bad = good;
  bad[10 * 12 + 3 * 12 + 7] = std::numeric_limits<float>::infinity();  // channel 1, (3, 7)
  EXPECT_EQ(a.set_reference(bad.data()), PTP_ERROR_NON_FINITE);
  std::string message = ptp_last_error_message();
  EXPECT_NE(message.find("row 3, column 7"), std::string::npos) << message;
  EXPECT_NE(message.find("channel 1"), std::string::npos) << message;
  ASSERT_EQ(a.set_reference(good.data()), PTP_SUCCESS);
  std::vector<float> nan_frame = good;
  nan_frame[5] = std::nanf("");
  Outcome r = a.execute({good.data(), good.data(), nan_frame.data()});
  EXPECT_EQ(r.status, PTP_ERROR_NON_FINITE);
  EXPECT_NE(r.message.find("frames[2]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("row 0, column 5"), std::string::npos) << r.message;
  expect_untouched(r);
  // A failed set_reference keeps the previous reference.
  EXPECT_EQ(a.set_reference(nan_frame.data()), PTP_ERROR_NON_FINITE);
  r = a.execute({good.data()});
  EXPECT_EQ(r.status, PTP_SUCCESS) << r.message;
  EXPECT_EQ(r.shifts[0], 0.0);
  // Even a NaN in the rows trimmed away is rejected: frames must be finite.
  ptp_align_desc b = make_desc(21, 24, PTP_DTYPE_FLOAT32, PTP_CFA_BAYER);
  set_pattern(&b);
  Aligner bayer(b);
  std::vector<float> frame(21 * 24, 1.0f);
  frame[20 * 24 + 3] = std::nanf("");
  EXPECT_EQ(bayer.set_reference(frame.data()), PTP_ERROR_NON_FINITE);
}

TEST_F(AlignBadInput, HugeFloatFramesAreRefusedNotLoopedOn) {
  // Values near FLT_MAX of both signs made x - mean overflow to inf, and the
  // overflow guard's loop never ended (issue 12, item 1). Now: a clear
  // status, at once; values just under 2^127 still align.
  ptp_align_desc d = make_desc(2, 2, PTP_DTYPE_FLOAT32);
  Aligner a(d);
  const float v = 3e38f;
  const std::vector<float> huge = {v, -v, -v, -v};
  EXPECT_EQ(a.set_reference(huge.data()), PTP_ERROR_INVALID_ARGUMENT);
  std::string message = ptp_last_error_message();
  EXPECT_NE(message.find("is too large (3e+38) at row 0, column 0"), std::string::npos) << message;
  EXPECT_NE(message.find("2^127"), std::string::npos) << message;
  const float limit = 1.7014118346046923e38f;  // 2^127: refused
  EXPECT_EQ(a.set_reference(std::vector<float>{1.0f, 2.0f, -limit, 0.0f}.data()),
            PTP_ERROR_INVALID_ARGUMENT);
  const float below = std::nextafter(limit, 0.0f);
  const std::vector<float> big = {below, -below, -below, -below};
  ASSERT_EQ(a.set_reference(big.data()), PTP_SUCCESS) << ptp_last_error_message();
  Outcome r = a.execute({big.data()});
  EXPECT_EQ(r.status, PTP_SUCCESS) << r.message;
  EXPECT_EQ(r.shifts[0], 0.0);
  EXPECT_EQ(r.shifts[1], 0.0);
  r = a.execute({big.data(), huge.data()});
  EXPECT_EQ(r.status, PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(r.message.find("frames[1]"), std::string::npos) << r.message;
  expect_untouched(r);
}

// ------------------------------------------------------- FFT planning

TEST(AlignPlanning, EveryPlanningEffortFindsTheSameShifts) {
  const Scene s = bayer_scene(40, 44, 4, 21);
  std::vector<Outcome> outcomes;
  for (const int32_t planning :
       {PTP_FFT_PLANNING_MEASURE, PTP_FFT_PLANNING_ESTIMATE, PTP_FFT_PLANNING_WISDOM}) {
    ptp_align_desc d = bayer_desc(40, 44);
    d.upsample_factor = 10;
    d.fft_planning = planning;
    Aligner a(d);
    ASSERT_EQ(a.set_reference(s.ref.data()), PTP_SUCCESS);
    outcomes.push_back(a.execute(pointers(s)));
    ASSERT_EQ(outcomes.back().status, PTP_SUCCESS) << outcomes.back().message;
  }
  for (size_t k = 1; k < outcomes.size(); ++k)
    for (size_t i = 0; i < outcomes[0].shifts.size(); ++i)
      EXPECT_NEAR(outcomes[k].shifts[i], outcomes[0].shifts[i], 1e-9) << k << " " << i;
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(outcomes[1].shifts[2 * i], -s.moves[i].first);
}

TEST(AlignPlanning, WisdomRoundTripsThroughAFile) {
  // A measured plan gives FFTW wisdom to export; reading it back succeeds.
  ptp_align_desc d = bayer_desc(36, 40);
  Aligner a(d);
  const std::string path = ::testing::TempDir() + "ptychopatch_wisdom.fftw";
  ASSERT_EQ(ptp_fft_wisdom_export(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  std::FILE* file = std::fopen(path.c_str(), "r");
  ASSERT_NE(file, nullptr);
  char head[32] = {};
  ASSERT_GT(std::fread(head, 1, sizeof head - 1, file), 10u);
  std::fclose(file);
  EXPECT_NE(std::string(head).find("fftw"), std::string::npos) << head;
  EXPECT_EQ(ptp_fft_wisdom_import(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  // Not wisdom, missing, NULL: clear statuses.
  const std::string junk = ::testing::TempDir() + "ptychopatch_not_wisdom.txt";
  file = std::fopen(junk.c_str(), "w");
  std::fputs("not FFTW wisdom\n", file);
  std::fclose(file);
  EXPECT_EQ(ptp_fft_wisdom_import(junk.c_str()), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("wisdom"), std::string::npos);
  EXPECT_EQ(ptp_fft_wisdom_import((junk + ".missing").c_str()), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_fft_wisdom_import(nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_fft_wisdom_export(nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_fft_wisdom_export("/nonexistent-directory/wisdom.fftw"),
            PTP_ERROR_INVALID_ARGUMENT);
  std::remove(path.c_str());
  std::remove(junk.c_str());
}

TEST(AlignPlanning, LargePlanesTransformedInTwoPassesFindTheShift) {
  // A half spectrum over 8 MiB (1101 x 1002 bins) takes the two-pass
  // transform (rows, then columns in blocks of 8: the last block holds 2),
  // odd sizes on both axes; a circular shift is found exactly.
  const int64_t ny = 1101;
  const int64_t nx = 2003;
  const Field f = smooth_field(ny, nx, 31, 1);
  const Field g = roll(f, ny, nx, 37, -523);
  const auto a = to_frame<float>(f, 10.0, 1.0);
  const auto b = to_frame<float>(g, 10.0, 1.0);
  for (const int up : {1, 10}) {
    ptp_align_desc d = make_desc(ny, nx, PTP_DTYPE_FLOAT32);
    d.upsample_factor = up;
    d.fft_planning = PTP_FFT_PLANNING_ESTIMATE;
    const Outcome r = align_one(d, a, b);
    EXPECT_EQ(r.shifts[0], expected_shift(37, ny)) << up;
    EXPECT_EQ(r.shifts[1], expected_shift(-523, nx)) << up;
    EXPECT_GT(r.confidence[0], 0.95) << up;
  }
}

// ------------------------------------------------------------ C++ wrapper

TEST(AlignWrapper, PlanResultsAndProgress) {
  const Scene s = bayer_scene(24, 28, 3, 14);
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  ptychopatch::AlignDesc d;
  d.height = 24;
  d.width = 28;
  d.cfa = PTP_CFA_BAYER;
  d.upsample_factor = 1;
  ptychopatch::AlignPlan plan(ctx, d);
  EXPECT_EQ(plan.num_planes(), 4);
  std::vector<int64_t> seen;
  plan.set_progress([&](int64_t done, int64_t total) {
    seen.push_back(done);
    EXPECT_EQ(total, 3);
    return true;
  });
  plan.set_reference(s.ref.data());
  std::vector<const uint16_t*> frames;
  for (const auto& f : s.frames) frames.push_back(f.data());
  const ptychopatch::AlignResult r = plan.execute(frames);
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(r.shifts.size(), 6u);
  ASSERT_EQ(r.plane_shifts.size(), 24u);
  ASSERT_EQ(r.confidence.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.shifts[2 * i], -s.moves[i].first);
    EXPECT_EQ(r.shifts[2 * i + 1], -s.moves[i].second);
  }
  // Cancelling throws PTP_ERROR_CANCELLED; an exception in the callback is
  // rethrown as is.
  plan.set_progress([](int64_t, int64_t) { return false; });
  try {
    plan.execute(frames);
    ADD_FAILURE() << "no exception";
  } catch (const ptychopatch::Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_CANCELLED);
  }
  plan.set_progress([](int64_t, int64_t) -> bool { throw std::runtime_error("from callback"); });
  EXPECT_THROW(
      {
        try {
          plan.execute(frames);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "from callback");
          throw;
        }
      },
      std::runtime_error);
  plan.set_progress(nullptr);
  EXPECT_NO_THROW(plan.execute(frames));
  // Typed frames must match the descriptor.
  const std::vector<float> wrong(24 * 28, 0.0f);
  EXPECT_THROW(plan.set_reference(wrong.data()), ptychopatch::Error);
}

}  // namespace

// Programs built against 0.3.0's header pass its shorter struct size: init
// fills only those bytes, and plans made from it use the later fields'
// defaults (no bound, the correlation method).
TEST(AlignDescriptor, TheSmallerStructOf030IsStillAccepted) {
  constexpr size_t kOldSize = offsetof(ptp_align_desc, max_shift);
  static_assert(kOldSize == 208, "0.3.0's ptp_align_desc was 208 bytes");
  ptp_align_desc d;
  std::memset(&d, 0xab, sizeof d);
  ASSERT_EQ(ptp_align_desc_init(&d, kOldSize), PTP_SUCCESS) << ptp_last_error_message();
  EXPECT_EQ(d.struct_size, kOldSize);
  // 0.3.0's defaults, for programs built against it.
  EXPECT_EQ(d.normalization, PTP_NORMALIZATION_PHASE);
  EXPECT_EQ(d.window, PTP_WINDOW_NONE);
  EXPECT_EQ(d.combine, PTP_COMBINE_MEDIAN);
  EXPECT_EQ(d.upsample_factor, 1);
  unsigned char tail[sizeof d - kOldSize];
  std::memcpy(tail, reinterpret_cast<const unsigned char*>(&d) + kOldSize, sizeof tail);
  for (unsigned char byte : tail) EXPECT_EQ(byte, 0xab) << "init wrote past the old struct";
  d.height = 16;
  d.width = 16;
  ptp_align_plan* plan = nullptr;
  ASSERT_EQ(ptp_align_plan_create(nullptr, &d, &plan), PTP_ERROR_INVALID_ARGUMENT);
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  ASSERT_EQ(ptp_align_plan_create(ctx.get(), &d, &plan), PTP_SUCCESS) << ptp_last_error_message();
  ptp_align_plan_destroy(plan);
  EXPECT_EQ(ptp_align_desc_init(&d, kOldSize + 8), PTP_ERROR_INVALID_ARGUMENT);
}
