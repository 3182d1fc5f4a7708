// The fine stage (ptp_align_desc::verify, REFINE) through the C ABI on the
// CPU backend, with the gate cleared (ptp_align_plan::gate) so that every
// frame takes the thorough fit, and the default pipeline.
//
// Oracle, from the documentation: the fine stage starts from the coarse
// estimate (verify NONE's result) and leaves its shift and crop bit for bit
// unless the least-squares polish lands more than 0.1 pixel away on an axis;
// then the crop is the one nearest the polished shift (expect_refined).
// Where the results must be right, the tests compare with the truth.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "align/align_backend.hpp"  // ptp_align_plan::gate
#include "align_oracle_support.hpp"
#include "ptychopatch.h"
#include "ptychopatch.hpp"

namespace {

// Fujifilm's X-Trans layout (0 R, 1 G, 2 B).
constexpr int32_t kXTrans[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
                                 1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1};

// The fixed pattern's weight against the scene's range (1) in
// AFixedPatternIsCaughtByPlainCorrelation: from 0.5 to 0.6 the default
// locks onto the pattern and plain correlation does not.
constexpr double kPatternWeight = 0.55;

// The texture's weight under the edge in RefineCutsAgainAtTheNearestPixel.
constexpr double kTextureWeight = 3.0;

struct PlanFree {
  void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
};
using Plan = std::unique_ptr<ptp_align_plan, PlanFree>;

ptp_context* cpu_context() {
  static ptychopatch::Context cpu(PTP_BACKEND_CPU);
  return cpu.get();
}

Plan make_plan(const ptp_align_desc& d) {
  ptp_align_plan* raw = nullptr;
  const ptp_status st = ptp_align_plan_create(cpu_context(), &d, &raw);
  EXPECT_EQ(st, PTP_SUCCESS) << ptp_last_error_message();
  return Plan(raw);
}

// Frames of one scene: channels x h x w, float32 or uint16 bytes.
struct Frames {
  int64_t channels, h, w;
  ptp_dtype dtype;
  std::vector<std::vector<unsigned char>> data;  // [0] is the reference

  int64_t element_size() const { return dtype == PTP_DTYPE_UINT16 ? 2 : 4; }
  std::vector<const void*> moving() const {
    std::vector<const void*> out;
    for (size_t i = 1; i < data.size(); ++i) out.push_back(data[i].data());
    return out;
  }
};

// A smooth random field translated circularly by each shift (the first
// shift is the reference's, (0, 0) in practice), in every channel.
Frames make_frames(int64_t channels, int64_t h, int64_t w, ptp_dtype dtype,
                   const std::vector<std::pair<int64_t, int64_t>>& shifts, uint32_t seed,
                   int smoothing_passes = 2) {
  Frames f{channels, h, w, dtype, {}};
  std::vector<std::vector<double>> fields;
  for (int64_t c = 0; c < channels; ++c)
    fields.push_back(naive::smooth_field(h, w, seed + uint32_t(c), smoothing_passes));
  for (const auto& [ty, tx] : shifts) {
    std::vector<unsigned char> bytes(static_cast<size_t>(channels * h * w * f.element_size()));
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          const double v = 1000.0 * naive::translated(fields[c], h, w, i, j, ty, tx) + 100.0;
          const int64_t k = (c * h + i) * w + j;
          if (dtype == PTP_DTYPE_UINT16) {
            const uint16_t u = uint16_t(std::lround(v));
            std::memcpy(bytes.data() + 2 * k, &u, 2);
          } else {
            const float x = float(v);
            std::memcpy(bytes.data() + 4 * k, &x, 4);
          }
        }
    f.data.push_back(std::move(bytes));
  }
  return f;
}

std::vector<ptp_align_result> align(const Plan& plan, const std::vector<unsigned char>& ref,
                                    const std::vector<const void*>& frames,
                                    std::vector<uint32_t>* flags = nullptr) {
  EXPECT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS)
      << ptp_last_error_message();
  std::vector<ptp_align_result> out(frames.size());
  if (flags != nullptr) flags->assign(frames.size(), 0);
  EXPECT_EQ(
      ptp_align_execute_frames_flags(plan.get(), frames.data(), int64_t(frames.size()), out.data(),
                                     nullptr, flags != nullptr ? flags->data() : nullptr),
      PTP_SUCCESS)
      << ptp_last_error_message();
  return out;
}

int64_t period_of(const ptp_align_desc& d) {
  return d.cfa == PTP_CFA_BAYER ? 2 : d.cfa == PTP_CFA_XTRANS ? 6 : 1;
}

// The documented crop of a shift: the nearest pattern-preserving integer
// shift (Bayer: even; Fujifilm's X-Trans: multiples of 6 and (3, 3) plus
// them; none: any), ties to the smaller |dy| + |dx|, then dy, then dx.
std::pair<int64_t, int64_t> nearest_crop(const ptp_align_desc& desc, double dy, double dx) {
  const int64_t p = period_of(desc);
  std::vector<std::pair<int64_t, int64_t>> offsets = {{0, 0}};
  if (desc.cfa == PTP_CFA_XTRANS) offsets.push_back({3, 3});
  bool have = false;
  std::pair<int64_t, int64_t> best{0, 0};
  double best_d = 0.0;
  for (const auto& [oy, ox] : offsets)
    for (int64_t y = int64_t(std::floor(dy)) - 2 * p; y <= int64_t(std::ceil(dy)) + 2 * p; ++y)
      for (int64_t x = int64_t(std::floor(dx)) - 2 * p; x <= int64_t(std::ceil(dx)) + 2 * p; ++x) {
        if (((y - oy) % p + p) % p != 0 || ((x - ox) % p + p) % p != 0) continue;
        const double d = (y - dy) * (y - dy) + (x - dx) * (x - dx);
        const auto key = std::make_tuple(d, std::llabs(y) + std::llabs(x), y, x);
        if (!have || key < std::make_tuple(best_d, std::llabs(best.first) + std::llabs(best.second),
                                           best.first, best.second)) {
          have = true;
          best = {y, x};
          best_d = d;
        }
      }
  return best;
}

// A REFINE plan of `desc`; with `gate` false every frame takes the thorough fit.
Plan refine_plan(ptp_align_desc desc, bool gate) {
  desc.verify = PTP_ALIGN_VERIFY_REFINE;
  Plan plan = make_plan(desc);
  if (plan) plan->gate = gate;
  return plan;
}

// REFINE against the coarse estimate (verify NONE), the oracle: statuses
// equal; the coarse shift and crop bit for bit, or a polished shift more
// than 0.1 pixel from it on an axis with the crop nearest it; a confidence
// in [0, 1]. With `gate` (the default pipeline) a frame the gate does not
// doubt has a fitted probability of at least 0.95. Returns the refined
// results.
std::vector<ptp_align_result> expect_refined(ptp_align_desc desc, const Frames& f,
                                             bool gate = false) {
  desc.verify = PTP_ALIGN_VERIFY_NONE;
  const auto plain = align(make_plan(desc), f.data[0], f.moving());
  std::vector<uint32_t> flags;
  const auto checked = align(refine_plan(desc, gate), f.data[0], f.moving(), &flags);
  for (size_t k = 0; k < plain.size(); ++k) {
    SCOPED_TRACE("frame " + std::to_string(k));
    EXPECT_EQ(checked[k].status, plain[k].status);
    if (plain[k].status != PTP_SUCCESS) continue;
    const double apart = std::max(std::fabs(checked[k].shift[0] - plain[k].shift[0]),
                                  std::fabs(checked[k].shift[1] - plain[k].shift[1]));
    if (apart != 0.0) {
      // Rounded to 1/10 pixel, a polished shift that replaced the coarse
      // one lies at least 0.1 from it.
      EXPECT_GT(apart, 0.1 - 1e-9) << checked[k].shift[0] << ", " << checked[k].shift[1]
                                   << " against " << plain[k].shift[0] << ", " << plain[k].shift[1];
      const auto [cy, cx] = nearest_crop(desc, checked[k].shift[0], checked[k].shift[1]);
      EXPECT_EQ(checked[k].crop[0], cy);
      EXPECT_EQ(checked[k].crop[1], cx);
    } else {
      EXPECT_EQ(checked[k].crop[0], plain[k].crop[0]);
      EXPECT_EQ(checked[k].crop[1], plain[k].crop[1]);
    }
    EXPECT_GE(checked[k].confidence, 0.0);
    EXPECT_LE(checked[k].confidence, 1.0);
    if (gate && flags[k] == 0) {
      EXPECT_GE(checked[k].confidence, 0.95);
    }
  }
  return checked;
}

ptp_align_desc desc_for(int64_t h, int64_t w, ptp_cfa cfa, ptp_dtype dtype) {
  ptp_align_desc d;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.height = h;
  d.width = w;
  d.cfa = cfa;
  d.frame_dtype = dtype;
  if (cfa == PTP_CFA_XTRANS) std::copy(kXTrans, kXTrans + 36, d.pattern);
  d.verify = PTP_ALIGN_VERIFY_NONE;  // the coarse estimate; each test sets REFINE
  return d;
}

TEST(AlignVerify, RefineByDefault) {
  ptp_align_desc d;
  ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(d.verify, PTP_ALIGN_VERIFY_REFINE);
}

// Right crops of textured frames keep their crops, with a confidence well
// above 0.
TEST(AlignVerify, RightCropsKeepTheirConfidence) {
  const Frames f =
      make_frames(1, 96, 120, PTP_DTYPE_FLOAT32, {{0, 0}, {4, -6}, {-2, 2}, {6, 10}, {0, 0}}, 3);
  const auto r = expect_refined(desc_for(96, 120, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32), f);
  const int64_t truth[4][2] = {{-4, 6}, {2, -2}, {-6, -10}, {0, 0}};
  for (size_t k = 0; k < r.size(); ++k) {
    EXPECT_EQ(r[k].crop[0], truth[k][0]) << k;
    EXPECT_EQ(r[k].crop[1], truth[k][1]) << k;
    EXPECT_GT(r[k].confidence, 0.2) << k;
  }
}

// Odd shifts of a smooth scene land on the truth, whichever fit settles
// them (the gate's quick polish where it is sure, else the thorough one),
// from the luminance image's estimate and from the joint peak's (0.2-0.6
// pixel off): the polish replaces the correlations' sub-pixel shift also
// where both give one crop.
TEST(AlignVerify, RefinePlacesAWeaklyTexturedEdge) {
  // Windows of a larger scene (not circular shifts: content leaves and
  // enters at the edges, as in photographs): a soft vertical edge, which
  // fixes the horizontal shift, over faint smooth texture, which fixes the
  // vertical one only weakly.
  const int64_t h = 128, w = 128, m = 24;
  const int64_t fh = h + 2 * m, fw = w + 2 * m;
  const std::vector<double> texture = naive::smooth_field(fh, fw, 31, 60);
  std::vector<double> scene(static_cast<size_t>(fh * fw));
  for (int64_t i = 0; i < fh; ++i)
    for (int64_t j = 0; j < fw; ++j)
      scene[i * fw + j] = 1.0 / (1.0 + std::exp(-double(j - fw / 2 - 10) / 4.0)) +
                          kTextureWeight * (texture[i * fw + j] - 0.5);
  const std::vector<std::pair<int64_t, int64_t>> moves = {{0, 0}, {3, -5}, {-7, 1}, {5, 5}};
  Frames f{1, h, w, PTP_DTYPE_FLOAT32, {}};
  for (const auto& [ty, tx] : moves) {
    std::vector<unsigned char> bytes(static_cast<size_t>(4 * h * w));
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const float v = float(1000.0 * scene[(m - ty + i) * fw + (m - tx + j)] + 100.0);
        std::memcpy(bytes.data() + 4 * (i * w + j), &v, 4);
      }
    f.data.push_back(std::move(bytes));
  }
  ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  for (const bool gate : {true, false}) {
    SCOPED_TRACE(gate ? "gated" : "every frame fitted thoroughly");
    const auto refined = expect_refined(d, f, gate);
    for (size_t k = 0; k < refined.size(); ++k) {
      EXPECT_NEAR(refined[k].shift[0], -double(moves[k + 1].first), 0.05) << k;
      EXPECT_NEAR(refined[k].shift[1], -double(moves[k + 1].second), 0.05) << k;
    }
  }
}

// A bound that excludes the true shift makes the crop wrong; the coarse
// peak lies at the bound, and the fine stage keeps that estimate at
// confidence 0.
TEST(AlignVerify, WrongCropsLoseTheirConfidence) {
  const int64_t h = 128, w = 128;
  const Frames f = make_frames(1, h, w, PTP_DTYPE_FLOAT32, {{0, 0}, {12, -14}, {2, -2}}, 21);
  ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  d.max_shift = 4;
  const auto plain = align(make_plan(d), f.data[0], f.moving());
  ASSERT_EQ(plain[0].status, PTP_SUCCESS);
  ASSERT_LE(std::llabs(plain[0].crop[0]), 4);  // wrong: the truth is (-12, 14)
  const auto r = expect_refined(d, f);
  // The default too. (Not against the oracle: the gate's polish.)
  d.verify = PTP_ALIGN_VERIFY_REFINE;
  const auto refined = align(make_plan(d), f.data[0], f.moving());
  ASSERT_EQ(refined[0].status, PTP_SUCCESS);
  EXPECT_EQ(refined[0].confidence, 0.0);
  EXPECT_EQ(refined[0].crop[0], plain[0].crop[0]);
  EXPECT_EQ(refined[0].crop[1], plain[0].crop[1]);
  EXPECT_EQ(refined[0].shift[0], plain[0].shift[0]);
  EXPECT_EQ(refined[0].shift[1], plain[0].shift[1]);
  EXPECT_EQ(refined[1].crop[0], -2);
  EXPECT_EQ(refined[1].crop[1], 2);
  EXPECT_GT(refined[1].confidence, 0.9);
  d.verify = PTP_ALIGN_VERIFY_NONE;
  EXPECT_EQ(r[0].confidence, 0.0) << "unchecked " << plain[0].confidence;
  EXPECT_EQ(r[1].crop[0], -2);
  EXPECT_EQ(r[1].crop[1], 2);
  EXPECT_GT(r[1].confidence, 0.0);
}

// The truth past max_shift: the peak lies at the bound, and sub-pixel
// upsampling may take the shift past it by up to one image pixel (two
// sensor pixels for Bayer), even onto the truth; no estimate found at the
// bound is trusted. Unbounded, the fine stage finds the truth and trusts it.
TEST(AlignVerify, AShiftAtTheBoundIsNotTrusted) {
  const int64_t h = 128, w = 128;
  const Frames f = make_frames(1, h, w, PTP_DTYPE_FLOAT32, {{0, 0}, {6, -6}}, 22);
  ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  d.max_shift = 4;  // the truth (-6, 6) is out of reach
  const auto plain = align(make_plan(d), f.data[0], f.moving());
  ASSERT_EQ(plain[0].status, PTP_SUCCESS);
  EXPECT_LE(std::fabs(plain[0].shift[0]), 4.0 + 2.0);
  EXPECT_EQ(plain[0].confidence, 0.0);
  const auto r = expect_refined(d, f);
  EXPECT_EQ(r[0].confidence, 0.0);
  std::vector<uint32_t> flags;
  d.verify = PTP_ALIGN_VERIFY_REFINE;
  const auto bounded = align(make_plan(d), f.data[0], f.moving(), &flags);
  ASSERT_EQ(bounded[0].status, PTP_SUCCESS);
  EXPECT_EQ(bounded[0].confidence, 0.0);
  EXPECT_NE(flags[0] & PTP_ALIGN_FLAG_AT_SHIFT_BOUND, 0u) << flags[0];
  d.max_shift = 0;
  const auto unbounded = expect_refined(d, f, true);
  EXPECT_EQ(unbounded[0].crop[0], -6);
  EXPECT_EQ(unbounded[0].crop[1], 6);
  EXPECT_GT(unbounded[0].confidence, 0.95);
}

// A fixed pattern (sensor-fixed blocks of 4 x 4 pixels, as fixed-pattern
// noise or dust) under a moving smooth scene: the coarse stage's partial
// whitening weighs the pattern's edges and returns the crop (0, 0) with a
// high confidence; the fine stage follows the scene.
TEST(AlignVerify, AFixedPatternDoesNotHoldTheCrop) {
  const int64_t h = 128, w = 128;
  const std::vector<double> scene = naive::smooth_field(h, w, 31, 40);
  std::mt19937 rng(32);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> blocks(static_cast<size_t>((h / 4) * (w / 4)));
  for (double& b : blocks) b = u(rng);
  double lo = 1e300, hi = -1e300;
  for (double v : scene) lo = std::min(lo, v), hi = std::max(hi, v);
  Frames f{1, h, w, PTP_DTYPE_FLOAT32, {}};
  for (const auto& [ty, tx] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {6, -4}}) {
    std::vector<unsigned char> bytes(static_cast<size_t>(h * w * 4));
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const double s = (naive::translated(scene, h, w, i, j, ty, tx) - lo) / (hi - lo);
        const float x =
            float(1000.0 * (s + kPatternWeight * blocks[(i / 4) * (w / 4) + j / 4]) + 100.0);
        std::memcpy(bytes.data() + 4 * (i * w + j), &x, 4);
      }
    f.data.push_back(std::move(bytes));
  }
  const ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  const auto plain = align(make_plan(d), f.data[0], f.moving());
  ASSERT_EQ(plain[0].status, PTP_SUCCESS);
  ASSERT_EQ(plain[0].crop[0], 0);
  ASSERT_EQ(plain[0].crop[1], 0);
  ASSERT_GT(plain[0].confidence, 0.3);
  // The polish (its smoothing averages most of the 4 x 4 blocks away)
  // gives the right crop a probability near 1. What it leaves of blocks
  // this strong (55 % of the scene's range, fixed on the sensor) pulls its
  // shift toward (0, 0): (-5.4, 3.7).
  for (const bool gate : {true, false}) {
    SCOPED_TRACE(gate ? "gated" : "every frame fitted thoroughly");
    const auto refined = expect_refined(d, f, gate);
    EXPECT_EQ(refined[0].crop[0], -6);
    EXPECT_EQ(refined[0].crop[1], 4);
    EXPECT_NEAR(refined[0].shift[0], -6.0, 0.7);
    EXPECT_NEAR(refined[0].shift[1], 4.0, 0.7);
    EXPECT_GT(refined[0].confidence, 0.95);
  }
}

// Many shifts, and a second reference on the same plan: every frame as the
// oracle says, the right crop, the same results as a fresh plan's.
TEST(AlignVerify, ManyShiftsAndAnotherReference) {
  const int64_t h = 256, w = 256;
  const std::vector<std::pair<int64_t, int64_t>> shifts = {{0, 0}, {2, 2},  {10, -2},   {-18, 4},
                                                           {2, 0}, {0, 26}, {-10, -10}, {4, 4}};
  const ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_UINT16);
  const Plan plan = refine_plan(d, false);
  for (uint32_t seed : {7u, 8u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Frames f = make_frames(1, h, w, PTP_DTYPE_UINT16, shifts, seed);
    const auto expected = expect_refined(d, f);
    const auto reused = align(plan, f.data[0], f.moving());
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_EQ(reused[k].confidence, expected[k].confidence) << k;
      EXPECT_EQ(reused[k].crop[0], -shifts[k + 1].first) << k;
      EXPECT_EQ(reused[k].crop[1], -shifts[k + 1].second) << k;
      EXPECT_GT(reused[k].confidence, 0.0) << k;
    }
  }
}

// X-Trans (crops of 6 and (3, 3) + 6), planar channels without a pattern,
// uint16 and float32, the per-plane median: the oracle's confidences.
TEST(AlignVerify, XTransPlanarChannelsAndMedian) {
  {
    const Frames f = make_frames(1, 144, 156, PTP_DTYPE_UINT16, {{0, 0}, {6, -12}, {3, 3}}, 11);
    expect_refined(desc_for(144, 156, PTP_CFA_XTRANS, PTP_DTYPE_UINT16), f);
    const auto refined =
        expect_refined(desc_for(144, 156, PTP_CFA_XTRANS, PTP_DTYPE_UINT16), f, true);
    EXPECT_EQ(refined[1].crop[0], -3);
    EXPECT_EQ(refined[1].crop[1], -3);
  }
  {
    const Frames f = make_frames(3, 60, 70, PTP_DTYPE_FLOAT32, {{0, 0}, {1, -3}, {-5, 2}}, 12);
    ptp_align_desc d = desc_for(60, 70, PTP_CFA_NONE, PTP_DTYPE_FLOAT32);
    d.channels = 3;
    const auto r = expect_refined(d, f);
    EXPECT_EQ(r[1].crop[0], 5);
    EXPECT_GT(r[1].confidence, 0.0);
    expect_refined(d, f, true);
  }
}

// Frames larger than the polish's window (2304-pixel Bayer frames, noise in
// the moving ones), every frame fitted thoroughly and gated: the oracle's
// results, the right crops, shifts within 0.05 pixel of the truth.
TEST(AlignVerify, LargeNoisyFramesReachTheTruth) {
  const int64_t h = 2304, w = 2304;
  Frames f = make_frames(1, h, w, PTP_DTYPE_UINT16, {{0, 0}, {4, -6}, {-10, 2}}, 41);
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> noise(-40, 40);
  for (size_t k = 1; k < f.data.size(); ++k)
    for (int64_t i = 0; i < h * w; ++i) {
      uint16_t u;
      std::memcpy(&u, f.data[k].data() + 2 * i, 2);
      u = uint16_t(int(u) + noise(rng));
      std::memcpy(f.data[k].data() + 2 * i, &u, 2);
    }
  const ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_UINT16);
  const auto checked = expect_refined(d, f);
  const auto refined = expect_refined(d, f, true);
  const int64_t truth[2][2] = {{-4, 6}, {10, -2}};
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(checked[k].crop[0], truth[k][0]) << k;
    EXPECT_EQ(checked[k].crop[1], truth[k][1]) << k;
    EXPECT_GT(checked[k].confidence, 0.5) << k;
    EXPECT_NEAR(refined[k].shift[0], double(truth[k][0]), 0.05) << k;
    EXPECT_NEAR(refined[k].shift[1], double(truth[k][1]), 0.05) << k;
  }
}

// 2304 x 2304 uint16 frames of a scene whose detail lies only in a band
// along its edges: flat grey within flat / 2 of its centre on both axes,
// moved by `moves` (the first the reference's), with uniform noise of
// +-noise counts everywhere.
Frames edge_band_frames(int64_t flat, int noise,
                        const std::vector<std::pair<int64_t, int64_t>>& moves) {
  const int64_t h = 2304, w = 2304, m = 16;
  const int64_t fh = h + 2 * m, fw = w + 2 * m;
  const std::vector<double> texture = naive::smooth_field(fh, fw, 43, 2);
  std::mt19937 rng(44);
  std::uniform_int_distribution<int> draw(-noise, noise);
  Frames f{1, h, w, PTP_DTYPE_UINT16, {}};
  for (const auto& [ty, tx] : moves) {
    std::vector<unsigned char> bytes(static_cast<size_t>(2 * h * w));
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t y = m - ty + i, x = m - tx + j;  // the scene's pixel
        const bool centre = std::llabs(y - fh / 2) < flat / 2 && std::llabs(x - fw / 2) < flat / 2;
        const double v = centre ? 0.5 : texture[y * fw + x];
        const uint16_t u = uint16_t(std::lround(1000.0 * v + 100.0) + draw(rng));
        std::memcpy(bytes.data() + 2 * (i * w + j), &u, 2);
      }
    f.data.push_back(std::move(bytes));
  }
  return f;
}

// A scene flat grey in its central 2112 x 2112 pixels, its detail in a band
// along the edges: every crop right, with a confidence above 0.
TEST(AlignVerify, AFlatCentreKeepsItsCrops) {
  const std::vector<std::pair<int64_t, int64_t>> moves = {{0, 0}, {4, -6}, {-8, 2}};
  const Frames f = edge_band_frames(2112, 0, moves);
  const auto checked = expect_refined(desc_for(f.h, f.w, PTP_CFA_BAYER, PTP_DTYPE_UINT16), f);
  for (size_t k = 0; k < checked.size(); ++k) {
    EXPECT_EQ(checked[k].crop[0], -moves[k + 1].first) << k;
    EXPECT_EQ(checked[k].crop[1], -moves[k + 1].second) << k;
    EXPECT_GT(checked[k].confidence, 0.0) << k;
  }
}

// A noisy scene whose central 1600 x 1600 pixels are flat: the polish's
// window (1024 x 1024) leaves the centre for the detail along the edges
// (LumaPolish::window_of). In the centre it found only noise to fit, and
// moved right estimates by pixels.
TEST(AlignVerify, ThePolishSeeksTheDetail) {
  const std::vector<std::pair<int64_t, int64_t>> moves = {{0, 0}, {4, -6}, {-8, 2}, {3, 5}};
  const Frames f = edge_band_frames(1600, 20, moves);
  ptp_align_desc d = desc_for(f.h, f.w, PTP_CFA_BAYER, PTP_DTYPE_UINT16);
  d.verify = PTP_ALIGN_VERIFY_REFINE;
  const auto refined = align(make_plan(d), f.data[0], f.moving());
  for (size_t k = 0; k < refined.size(); ++k) {
    EXPECT_NEAR(refined[k].shift[0], -double(moves[k + 1].first), 0.1) << k;
    EXPECT_NEAR(refined[k].shift[1], -double(moves[k + 1].second), 0.1) << k;
    EXPECT_GT(refined[k].confidence, 0.9) << k;
  }
}

// A shift that leaves the frames a small overlap (130 of 256 rows) is
// placed and trusted; ptp_align_execute writes the same confidences as
// ptp_align_execute_frames.
TEST(AlignVerify, ASmallOverlapAndExecute) {
  const int64_t h = 256, w = 256;
  const Frames f = make_frames(1, h, w, PTP_DTYPE_FLOAT32, {{0, 0}, {126, 0}, {2, 2}}, 4);
  ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  const auto r = expect_refined(d, f);
  const auto refined = expect_refined(d, f, true);
  // The polish fits the 130 rows the frames share: the right crop, trusted.
  EXPECT_EQ(refined[0].crop[0], -126);
  EXPECT_GT(refined[0].confidence, 0.95);
  // Polished (256 x 256 frames): the probability that the crop is right,
  // near 1 for a clean whole-pixel shift.
  EXPECT_EQ(refined[1].crop[0], -2);
  EXPECT_GT(refined[1].confidence, 0.95);
  // Every frame fitted thoroughly: the polish places the frame as above.
  ASSERT_EQ(r[0].status, PTP_SUCCESS);
  EXPECT_EQ(r[0].crop[0], -126);
  EXPECT_GT(r[0].confidence, 0.95);
  EXPECT_GT(r[1].confidence, 0.95);

  const Plan plan = refine_plan(d, false);
  ASSERT_EQ(ptp_align_set_reference(plan.get(), f.data[0].data()), PTP_SUCCESS);
  const std::vector<const void*> frames = f.moving();
  double shifts[4], confidence[2];
  ASSERT_EQ(ptp_align_execute(plan.get(), frames.data(), 2, shifts, nullptr, confidence),
            PTP_SUCCESS)
      << ptp_last_error_message();
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(confidence[k], r[k].confidence) << k;
    EXPECT_EQ(shifts[2 * k], r[k].shift[0]) << k;
  }
}

// A call to ptp_align_execute_frames_flags that fails on its arguments says
// why and writes neither results nor flags.
TEST(AlignVerify, FlagsOfABadCallAreUntouched) {
  const Frames f = make_frames(1, 64, 64, PTP_DTYPE_FLOAT32, {{0, 0}, {2, 2}}, 3);
  ptp_align_desc d = desc_for(64, 64, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  d.verify = PTP_ALIGN_VERIFY_REFINE;
  const Plan plan = make_plan(d);
  const std::vector<const void*> frames = f.moving();
  ptp_align_result result;
  std::memset(&result, 0x5A, sizeof result);
  const ptp_align_result sentinel = result;
  uint32_t flags = 0xDEADBEEFu;
  const auto untouched = [&] {
    return flags == 0xDEADBEEFu && std::memcmp(&result, &sentinel, sizeof result) == 0;
  };
  // No reference yet.
  EXPECT_EQ(ptp_align_execute_frames_flags(plan.get(), frames.data(), 1, &result, nullptr, &flags),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("reference"), std::string::npos);
  EXPECT_TRUE(untouched());
  ASSERT_EQ(ptp_align_set_reference(plan.get(), f.data[0].data()), PTP_SUCCESS);
  EXPECT_EQ(ptp_align_execute_frames_flags(nullptr, frames.data(), 1, &result, nullptr, &flags),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("plan"), std::string::npos);
  EXPECT_EQ(ptp_align_execute_frames_flags(plan.get(), frames.data(), -1, &result, nullptr, &flags),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(ptp_align_execute_frames_flags(plan.get(), nullptr, 1, &result, nullptr, &flags),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_execute_frames_flags(plan.get(), frames.data(), 1, nullptr, nullptr, &flags),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("results"), std::string::npos);
  EXPECT_TRUE(untouched());
}

// Each frame's flags (enum ptp_align_flag) say why a result is in doubt,
// beside its note: none for a textured frame of the scene, OTHER_SCENE for a
// frame of another scene, AT_SHIFT_BOUND for a peak at max_shift's bound,
// and none for a frame without a result. The results are those of
// ptp_align_execute_frames, bit for bit.
TEST(AlignVerify, FlagsSayWhyAResultIsInDoubt) {
  const Frames scene = make_frames(1, 128, 160, PTP_DTYPE_FLOAT32, {{0, 0}, {4, -6}}, 3);
  const Frames other = make_frames(1, 128, 160, PTP_DTYPE_FLOAT32, {{2, 2}}, 11);
  ptp_align_desc d = desc_for(128, 160, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  d.verify = PTP_ALIGN_VERIFY_REFINE;
  const Plan plan = make_plan(d);
  ASSERT_EQ(ptp_align_set_reference(plan.get(), scene.data[0].data()), PTP_SUCCESS);
  const std::vector<const void*> frames = {scene.data[1].data(), other.data[0].data(), nullptr};
  const int64_t n = static_cast<int64_t>(frames.size());
  std::vector<ptp_align_result> plain(frames.size()), flagged(frames.size());
  std::vector<uint32_t> flags(frames.size(), 0xFFFFFFFFu);
  ASSERT_EQ(ptp_align_execute_frames(plan.get(), frames.data(), n, plain.data(), nullptr),
            PTP_SUCCESS);
  ASSERT_EQ(ptp_align_execute_frames_flags(plan.get(), frames.data(), n, flagged.data(), nullptr,
                                           flags.data()),
            PTP_SUCCESS)
      << ptp_last_error_message();
  EXPECT_EQ(std::memcmp(plain.data(), flagged.data(), plain.size() * sizeof plain[0]), 0);
  EXPECT_EQ(flagged[0].crop[0], -4);
  EXPECT_EQ(flagged[0].crop[1], 6);
  EXPECT_GE(flagged[0].confidence, 0.95);
  EXPECT_EQ(flags[0], 0u) << flagged[0].message;
  EXPECT_NE(flags[1] & PTP_ALIGN_FLAG_OTHER_SCENE, 0u) << flags[1] << ": " << flagged[1].message;
  EXPECT_EQ(flagged[1].confidence, 0.0);
  EXPECT_EQ(flagged[2].status, PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(flags[2], 0u);
  // NULL flags: the results alone.
  EXPECT_EQ(ptp_align_execute_frames_flags(plan.get(), frames.data(), n, flagged.data(), nullptr,
                                           nullptr),
            PTP_SUCCESS);
  EXPECT_EQ(std::memcmp(plain.data(), flagged.data(), plain.size() * sizeof plain[0]), 0);

  // A frame moved by (4, -6) searched within 2 pixels: its peak at the bound.
  d.max_shift = 2;
  const Plan bounded = make_plan(d);
  ASSERT_EQ(ptp_align_set_reference(bounded.get(), scene.data[0].data()), PTP_SUCCESS);
  ptp_align_result r;
  uint32_t bound_flags = 0;
  ASSERT_EQ(
      ptp_align_execute_frames_flags(bounded.get(), frames.data(), 1, &r, nullptr, &bound_flags),
      PTP_SUCCESS);
  EXPECT_NE(bound_flags & PTP_ALIGN_FLAG_AT_SHIFT_BOUND, 0u) << bound_flags << ": " << r.message;
  EXPECT_EQ(r.confidence, 0.0);
}

}  // namespace
