// The fine stage (ptp_align_desc::verify, REFINE): its closed loop through
// the C ABI on the CPU backend, with the gate cleared (ptp_align_plan::gate)
// so that every frame takes the loop, and the default pipeline.
//
// Oracle: the loop written out from its documentation with the public API
// only: margins |crop| rounded up to q = P * ceil((min(H, W) / P) / 64);
// the reference cut at (my, mx) and the frame at (my - cy, mx - cx), both
// (H - 2 my) x (W - 2 mx); of those, the central window of at most
// floor(2048 / P) P pixels a side, inset by whole periods ((side - window)
// / 2 rounded down to one); the windows aligned by a plan of the caller's
// options with PTP_NORMALIZATION_PARTIAL; confirmed when that plan's shift
// is within P / 2 on both axes, else (where the window is not the whole
// cut) the whole cuts aligned and judged so. The shift is the crop plus the
// residual, the crop its nearest (expected_result).
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

// The rows x cols window at (top, left) of every channel.
std::vector<unsigned char> cut(const Frames& f, const std::vector<unsigned char>& frame,
                               int64_t top, int64_t left, int64_t rows, int64_t cols) {
  const int64_t es = f.element_size();
  std::vector<unsigned char> out(static_cast<size_t>(f.channels * rows * cols * es));
  for (int64_t c = 0; c < f.channels; ++c)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols * es; ++k)
        out[((c * rows + r) * cols) * es + k] = frame[((c * f.h + top + r) * f.w + left) * es + k];
  return out;
}

// Whether a whole-pixel shift maps the pattern onto itself: Bayer's even
// shifts, Fujifilm's X-Trans multiples of 6 and (3, 3) plus them, any
// shift without a pattern.
bool preserves_pattern(const ptp_align_desc& desc, int64_t cy, int64_t cx) {
  const int64_t p = period_of(desc);
  const int64_t y = ((cy % p) + p) % p, x = ((cx % p) + p) % p;
  return (y == 0 && x == 0) || (desc.cfa == PTP_CFA_XTRANS && y == 3 && x == 3);
}

// The closed loop of crop (cy, cx) of `frame`, written out: the library
// checks crops that preserve the pattern only.
struct Loop {
  bool aligned = false;    // the cuts were aligned
  bool confirmed = false;  // |residual| <= P / 2 on both axes
  double residual[2] = {0.0, 0.0};
};

Loop closed_loop(const ptp_align_desc& desc, const Frames& f,
                 const std::vector<unsigned char>& frame, int64_t cy, int64_t cx) {
  Loop loop;
  const int64_t p = period_of(desc);
  const int64_t q = p * std::max<int64_t>(1, (std::min(f.h, f.w) / p + 63) / 64);
  const auto margin = [q](int64_t crop) { return (std::llabs(crop) + q - 1) / q * q; };
  const int64_t my = margin(cy), mx = margin(cx);
  const int64_t cut_rows = f.h - 2 * my, cut_cols = f.w - 2 * mx;
  if (cut_rows < p || cut_cols < p) return loop;
  // The cuts' rows x cols at (top, left) of the reference's cut.
  const auto attempt = [&](int64_t top, int64_t left, int64_t rows, int64_t cols) {
    Loop out;
    ptp_align_desc check = desc;
    check.height = rows;
    check.width = cols;
    check.normalization = PTP_NORMALIZATION_PARTIAL;  // as the coarse stage whitens
    check.verify = PTP_ALIGN_VERIFY_NONE;
    ptp_align_plan* raw = nullptr;
    if (ptp_align_plan_create(cpu_context(), &check, &raw) != PTP_SUCCESS) return out;
    const Plan plan(raw);
    const std::vector<unsigned char> g = cut(f, f.data[0], my + top, mx + left, rows, cols);
    const std::vector<unsigned char> m = cut(f, frame, my + top - cy, mx + left - cx, rows, cols);
    EXPECT_TRUE(preserves_pattern(desc, cy, cx)) << cy << ", " << cx;
    const auto residual = align(plan, g, {m.data()});
    if (residual[0].status != PTP_SUCCESS) return out;
    out.aligned = true;
    out.residual[0] = residual[0].shift[0];
    out.residual[1] = residual[0].shift[1];
    const double limit = 0.5 * double(p);
    out.confirmed = std::fabs(out.residual[0]) <= limit && std::fabs(out.residual[1]) <= limit;
    return out;
  };
  const int64_t side = 2048 / p * p;
  const int64_t rows = std::min(cut_rows, side), cols = std::min(cut_cols, side);
  loop = attempt((cut_rows - rows) / 2 / p * p, (cut_cols - cols) / 2 / p * p, rows, cols);
  if (!loop.confirmed && (rows < cut_rows || cols < cut_cols))
    loop = attempt(0, 0, cut_rows, cut_cols);
  return loop;
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

// The oracle's result of one frame, from the coarse `r`. `polished`: the
// loop reached its last step, where the library's polish
// (align/fine/luma_polish.hpp) replaces the confidence by its crop probability
// wherever it converges, and the shift (with its crop) where it lies more
// than 0.1 pixel from the oracle's on an axis (tested in
// test_luma_polish.cpp, tests/python/test_align.py and against the truth
// here), which the oracle does not model.
ptp_align_result expected_result(const ptp_align_desc& desc, const Frames& f,
                                 const std::vector<unsigned char>& frame, const ptp_align_result& r,
                                 bool* polished) {
  ptp_align_result out = r;
  if (r.status != PTP_SUCCESS) return out;
  const Loop first = closed_loop(desc, f, frame, r.crop[0], r.crop[1]);
  // Coarse to fine: crop + residual; its nearest crop, confirmed by its own
  // loop where it changed; no result past max_shift (in whole search units).
  if (!first.aligned) {
    out.confidence = 0.0;
    return out;
  }
  const double fine[2] = {double(r.crop[0]) + first.residual[0],
                          double(r.crop[1]) + first.residual[1]};
  const auto [cy, cx] = nearest_crop(desc, fine[0], fine[1]);
  if (desc.max_shift > 0) {
    const int64_t unit =
        desc.combine == PTP_COMBINE_LUMA ? (desc.cfa == PTP_CFA_XTRANS ? 3 : 1) : period_of(desc);
    const int64_t limit = desc.max_shift / unit * unit;
    if (std::llabs(cy) > std::max<int64_t>(limit, std::llabs(r.crop[0])) ||
        std::llabs(cx) > std::max<int64_t>(limit, std::llabs(r.crop[1]))) {
      out.confidence = 0.0;
      return out;
    }
  }
  *polished = true;
  if ((cy != r.crop[0] || cx != r.crop[1]) && !closed_loop(desc, f, frame, cy, cx).confirmed)
    out.confidence = 0.0;
  out.shift[0] = fine[0];
  out.shift[1] = fine[1];
  out.crop[0] = cy;
  out.crop[1] = cx;
  return out;
}

// A REFINE plan of `desc`; with `gate` false every frame takes the loop.
Plan refine_plan(ptp_align_desc desc, bool gate) {
  desc.verify = PTP_ALIGN_VERIFY_REFINE;
  Plan plan = make_plan(desc);
  if (plan) plan->gate = gate;
  return plan;
}

// REFINE against the coarse estimate (verify NONE) and the oracle: statuses
// equal, shifts, crops and confidences the oracle's. With `gate` (the
// default pipeline) a frame the gate does not doubt stands on the quick
// polish alone, which the oracle does not model: its crop is its shift's
// nearest, its confidence a fitted probability of at least 0.95. Returns
// the refined results.
std::vector<ptp_align_result> expect_refined(ptp_align_desc desc, const Frames& f,
                                             bool gate = false) {
  desc.verify = PTP_ALIGN_VERIFY_NONE;
  const auto plain = align(make_plan(desc), f.data[0], f.moving());
  std::vector<uint32_t> flags;
  const auto checked = align(refine_plan(desc, gate), f.data[0], f.moving(), &flags);
  for (size_t k = 0; k < plain.size(); ++k) {
    SCOPED_TRACE("frame " + std::to_string(k));
    if (gate && checked[k].status == PTP_SUCCESS && flags[k] == 0) {
      const auto [cy, cx] = nearest_crop(desc, checked[k].shift[0], checked[k].shift[1]);
      EXPECT_EQ(checked[k].crop[0], cy);
      EXPECT_EQ(checked[k].crop[1], cx);
      EXPECT_GE(checked[k].confidence, 0.95);
      continue;
    }
    bool polished = false;
    const ptp_align_result want = expected_result(desc, f, f.data[k + 1], plain[k], &polished);
    EXPECT_EQ(checked[k].status, plain[k].status);
    const double apart = std::max(std::fabs(checked[k].shift[0] - want.shift[0]),
                                  std::fabs(checked[k].shift[1] - want.shift[1]));
    if (polished && apart != 0.0) {
      // The polish replaced the correlations' estimate, which it does
      // only more than 0.1 pixel from it on an axis (so at least 0.1 once
      // rounded to their grid of 1/10 pixel); the crop is then its
      // shift's.
      EXPECT_GT(apart, 0.1 - 1e-9) << checked[k].shift[0] << ", " << checked[k].shift[1]
                                   << " against " << want.shift[0] << ", " << want.shift[1];
      const auto [cy, cx] = nearest_crop(desc, checked[k].shift[0], checked[k].shift[1]);
      EXPECT_EQ(checked[k].crop[0], cy);
      EXPECT_EQ(checked[k].crop[1], cx);
    } else {
      EXPECT_EQ(std::memcmp(checked[k].shift, want.shift, sizeof want.shift), 0)
          << checked[k].shift[0] << ", " << checked[k].shift[1] << " against " << want.shift[0]
          << ", " << want.shift[1];
      EXPECT_EQ(checked[k].crop[0], want.crop[0]);
      EXPECT_EQ(checked[k].crop[1], want.crop[1]);
    }
    if (polished && checked[k].confidence != want.confidence) {
      EXPECT_GE(checked[k].confidence, 0.0);  // the polish's probability
      EXPECT_LE(checked[k].confidence, 1.0);
    } else {
      EXPECT_EQ(checked[k].confidence, want.confidence)
          << "crop (" << plain[k].crop[0] << ", " << plain[k].crop[1] << "), unchecked confidence "
          << plain[k].confidence;
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
  d.verify = PTP_ALIGN_VERIFY_NONE;  // the coarse estimate; each test names its loop
  return d;
}

TEST(AlignVerify, RefineByDefault) {
  ptp_align_desc d;
  ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(d.verify, PTP_ALIGN_VERIFY_REFINE);
}

// Right crops of textured frames pass the loop: their crops, with a
// confidence well above 0.
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

// Odd shifts of a smooth scene land on the truth, whichever stage settles
// them (the polish alone from the coarse estimate where it is sure, else
// the loop). In the loop: the first cut, at an even crop a pixel from the
// truth, is pulled toward that cut (its broad correlation
// peak times the Hann window's); REFINE cuts again at the whole pixel
// nearest its estimate, odd here (the luminance image does not see the
// pattern's phase), and lands on the truth. With the joint peak of the
// planes an odd cut is not made, and the first loop's estimate (0.2-0.6
// pixel off) is left to the polish, which lands on the truth too: it
// replaces the correlations' sub-pixel shift also where both give one
// crop.
TEST(AlignVerify, RefineCutsAgainAtTheNearestPixel) {
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
  for (const ptp_combine combine : {PTP_COMBINE_LUMA, PTP_COMBINE_JOINT})
    for (const bool gate : {true, false}) {
      SCOPED_TRACE(std::string(combine == PTP_COMBINE_LUMA ? "luma" : "joint") +
                   (gate ? ", gated" : ", every frame in the loop"));
      d.combine = combine;
      const auto refined = expect_refined(d, f, gate);
      for (size_t k = 0; k < refined.size(); ++k) {
        EXPECT_NEAR(refined[k].shift[0], -double(moves[k + 1].first), 0.05) << k;
        EXPECT_NEAR(refined[k].shift[1], -double(moves[k + 1].second), 0.05) << k;
      }
    }
}

// A bound that excludes the true shift makes the crop wrong; the estimate
// still has a plausible confidence, and the loop, whose overlaps stay
// misregistered by the error, finds the truth past the bound: no result
// there, so the coarse estimate stays at confidence 0.
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
// bound is trusted. Unbounded, the loop finds the truth and trusts it.
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
  // shift toward (0, 0): (-5.4, 3.7), where the cuts' correlation gave
  // (-6.3, 4).
  for (const bool gate : {true, false}) {
    SCOPED_TRACE(gate ? "gated" : "every frame in the loop");
    const auto refined = expect_refined(d, f, gate);
    EXPECT_EQ(refined[0].crop[0], -6);
    EXPECT_EQ(refined[0].crop[1], 4);
    EXPECT_NEAR(refined[0].shift[0], -6.0, 0.7);
    EXPECT_NEAR(refined[0].shift[1], 4.0, 0.7);
    EXPECT_GT(refined[0].confidence, 0.95);
  }
}

// More margins than the plan keeps check plans (two), in an order that
// revisits them, and a second reference: every frame as the oracle says.
TEST(AlignVerify, ManyMarginsAndAnotherReference) {
  const int64_t h = 256, w = 256;  // margin quantum 4
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
  {
    const Frames f = make_frames(1, 80, 88, PTP_DTYPE_FLOAT32, {{0, 0}, {2, 4}, {-6, 0}}, 13);
    ptp_align_desc d = desc_for(80, 88, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
    d.combine = PTP_COMBINE_MEDIAN;
    d.normalization = PTP_NORMALIZATION_PHASE;
    d.window = PTP_WINDOW_NONE;
    expect_refined(d, f);
    expect_refined(d, f, true);
  }
}

// Cuts larger than the check's window (2048 pixels a side) are checked in
// their central window: 2304-pixel Bayer frames (margins of 36, cuts of
// 2232, the window inset by 92) as the oracle checks them, under CHECK and
// REFINE (whose shifts are the crops plus the window's residuals, bit for
// bit, where the polish agrees with them), with noise in the moving frames.
// (The whole cuts give these frames the same results: the window's
// necessity is shown by AWindowWithoutDetailFallsBackToTheWholeCut, its
// cost by docs/performance.md, "Large frames: the check's window".)
TEST(AlignVerify, LargeCutsAreCheckedInTheirCentralWindow) {
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

// The check's window (the cuts' central 2048 x 2048) sees one flat grey
// and cannot place the crop, so the whole cuts are checked, and confirm it
// (without that, every crop of such a scene would get confidence 0).
TEST(AlignVerify, AWindowWithoutDetailFallsBackToTheWholeCut) {
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

// A crop that leaves cuts too small for any plan is not confirmed (its
// frame keeps its result); ptp_align_execute writes the same confidences
// as ptp_align_execute_frames.
TEST(AlignVerify, TooLittleOverlapAndExecute) {
  const int64_t h = 256, w = 256;  // margin quantum 4: a crop of 126 leaves 0 rows
  const Frames f = make_frames(1, h, w, PTP_DTYPE_FLOAT32, {{0, 0}, {126, 0}, {2, 2}}, 4);
  ptp_align_desc d = desc_for(h, w, PTP_CFA_BAYER, PTP_DTYPE_FLOAT32);
  const auto r = expect_refined(d, f);
  const auto refined = expect_refined(d, f, true);
  // Cuts too small for the loop, but the polish fits the 130 rows the
  // frames share: the right crop, trusted.
  EXPECT_EQ(refined[0].crop[0], -126);
  EXPECT_GT(refined[0].confidence, 0.95);
  // Polished (256 x 256 frames): the probability that the crop is right,
  // near 1 for a clean whole-pixel shift.
  EXPECT_EQ(refined[1].crop[0], -2);
  EXPECT_GT(refined[1].confidence, 0.95);
  // Every frame in the loop: the coarse crop (half the frame shared; the
  // half-resolution image places it within one of its pixels) leaves cuts
  // of a few rows at most, and the polish places the frame as above.
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
