// Scene alignment's results through the C ABI: the defaults, the retired estimator
// options (they run the default), the bounded search, the CFA-preserving crop and the
// per-frame results of ptp_align_execute_frames. The estimate's oracle:
// test_align_luma.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "align_oracle_support.hpp"
#include "ptychopatch.h"
#include "ptychopatch.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A smooth periodic field of h x w, circularly translated by (ty, tx).
std::vector<float> field(int64_t h, int64_t w, int64_t ty, int64_t tx, uint32_t seed,
                         int passes = 2) {
  const std::vector<double> f = naive::smooth_field(h, w, seed, passes);
  std::vector<float> out(f.size());
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      out[i * w + j] = float(1000.0 * naive::translated(f, h, w, i, j, ty, tx));
  return out;
}

ptp_align_desc bayer_desc(int64_t h, int64_t w) {
  ptp_align_desc d;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.height = h;
  d.width = w;
  d.frame_dtype = PTP_DTYPE_FLOAT32;
  d.cfa = PTP_CFA_BAYER;
  d.verify = PTP_ALIGN_VERIFY_NONE;  // the estimator alone (test_align_verify.cpp)
  return d;
}

struct PlanFree {
  void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
};
using Plan = std::unique_ptr<ptp_align_plan, PlanFree>;

Plan make_plan(const ptp_align_desc& d, ptp_context* ctx = nullptr) {
  static ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptp_align_plan* raw = nullptr;
  EXPECT_EQ(ptp_align_plan_create(ctx != nullptr ? ctx : cpu.get(), &d, &raw), PTP_SUCCESS)
      << ptp_last_error_message();
  return Plan(raw);
}

std::vector<ptp_align_result> run_frames(const Plan& plan, const std::vector<float>& ref,
                                         const std::vector<const void*>& frames) {
  EXPECT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  std::vector<ptp_align_result> out(frames.size());
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames.data(), int64_t(frames.size()), out.data(),
                                     nullptr),
            PTP_SUCCESS)
      << ptp_last_error_message();
  return out;
}

TEST(AlignResults, DefaultsArePartiallyWhitenedHannLuminance) {
  ptp_align_desc d;
  ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(d.normalization, PTP_NORMALIZATION_PARTIAL);
  EXPECT_EQ(d.window, PTP_WINDOW_HANN);
  EXPECT_EQ(d.combine, PTP_COMBINE_LUMA);  // test_align_luma.cpp
  EXPECT_EQ(d.upsample_factor, 10);
  EXPECT_EQ(d.max_shift, 0);
  EXPECT_EQ(d.method, PTP_ALIGN_METHOD_CORRELATION);
}

// The retired options keep their values and run the default estimator: every frame's
// result is the default's, bit for bit, and no plane has a shift of its own.
TEST(AlignRetired, EstimatorOptionsRunTheDefault) {
  const int64_t h = 40, w = 44;
  const std::vector<float> ref = field(h, w, 0, 0, 4);
  std::vector<std::vector<float>> movs;
  for (const auto& [ty, tx] : {std::pair<int64_t, int64_t>{2, -4}, {3, 5}, {-7, 1}}) {
    movs.push_back(field(h, w, ty, tx, 4));
    std::mt19937 rng(static_cast<uint32_t>(movs.size()));
    std::normal_distribution<float> noise(0.0f, 20.0f);
    for (float& v : movs.back()) v += noise(rng);
  }
  std::vector<const void*> frames;
  for (const auto& m : movs) frames.push_back(m.data());
  ptp_align_desc base = bayer_desc(h, w);
  base.verify = PTP_ALIGN_VERIFY_REFINE;
  const auto run = [&](const ptp_align_desc& d, std::vector<double>* planes) {
    const Plan plan = make_plan(d);
    EXPECT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
    std::vector<ptp_align_result> out(frames.size());
    planes->assign(frames.size() * 4 * 2, 0.0);
    EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames.data(), int64_t(frames.size()),
                                       out.data(), planes->data()),
              PTP_SUCCESS)
        << ptp_last_error_message();
    return out;
  };
  std::vector<double> planes;
  const std::vector<ptp_align_result> want = run(base, &planes);
  struct Retired {
    const char* name;
    int32_t normalization, window, combine;
  };
  for (const Retired& r :
       {Retired{"median", PTP_NORMALIZATION_PARTIAL, PTP_WINDOW_HANN, PTP_COMBINE_MEDIAN},
        Retired{"mean", PTP_NORMALIZATION_PARTIAL, PTP_WINDOW_HANN, PTP_COMBINE_MEAN},
        Retired{"joint", PTP_NORMALIZATION_PARTIAL, PTP_WINDOW_HANN, PTP_COMBINE_JOINT},
        Retired{"phase", PTP_NORMALIZATION_PHASE, PTP_WINDOW_HANN, PTP_COMBINE_LUMA},
        Retired{"plain", PTP_NORMALIZATION_NONE, PTP_WINDOW_HANN, PTP_COMBINE_LUMA},
        Retired{"no window", PTP_NORMALIZATION_PARTIAL, PTP_WINDOW_NONE, PTP_COMBINE_LUMA},
        Retired{"0.3.0's", PTP_NORMALIZATION_PHASE, PTP_WINDOW_NONE, PTP_COMBINE_MEDIAN}}) {
    ptp_align_desc d = base;
    d.normalization = r.normalization;
    d.window = r.window;
    d.combine = r.combine;
    const std::vector<ptp_align_result> got = run(d, &planes);
    for (size_t k = 0; k < frames.size(); ++k) {
      EXPECT_EQ(got[k].status, want[k].status) << r.name << " " << k;
      EXPECT_EQ(std::memcmp(got[k].shift, want[k].shift, sizeof got[k].shift), 0)
          << r.name << " " << k;
      EXPECT_EQ(got[k].crop[0], want[k].crop[0]) << r.name << " " << k;
      EXPECT_EQ(got[k].crop[1], want[k].crop[1]) << r.name << " " << k;
      EXPECT_EQ(got[k].confidence, want[k].confidence) << r.name << " " << k;
      EXPECT_EQ(got[k].planes_used, want[k].planes_used) << r.name << " " << k;
    }
    for (double v : planes) EXPECT_TRUE(std::isnan(v)) << r.name;
  }
  for (size_t k = 0; k < frames.size(); ++k) EXPECT_EQ(want[k].status, PTP_SUCCESS);
}

// Two of four planes flat (clipped) in both frames: they carry nothing and
// the two others decide; plane_shifts are NaN (one estimate a frame).
TEST(AlignResults, ConstantPlanesAreLeftOut) {
  const int64_t h = 24, w = 24;
  std::vector<float> ref = field(h, w, 0, 0, 9);
  std::vector<float> mov = field(h, w, 4, -6, 9);
  for (auto* f : {&ref, &mov})
    for (int64_t i = 0; i < h; i += 2)
      for (int64_t j = 0; j < w; j += 2) {
        (*f)[i * w + j] = 4095.0f;
        (*f)[(i + 1) * w + j + 1] = 4095.0f;
      }
  const Plan plan = make_plan(bayer_desc(h, w));
  ASSERT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  const void* frames[] = {mov.data()};
  ptp_align_result r;
  std::vector<double> planes(8, 0.0);
  ASSERT_EQ(ptp_align_execute_frames(plan.get(), frames, 1, &r, planes.data()), PTP_SUCCESS);
  EXPECT_EQ(r.planes_used, 2);
  EXPECT_NEAR(r.shift[0], -4.0, 0.5);
  EXPECT_NEAR(r.shift[1], 6.0, 0.5);
  EXPECT_EQ(r.crop[0], -4);
  EXPECT_EQ(r.crop[1], 6);
  for (double v : planes) EXPECT_TRUE(std::isnan(v));
}

// ------------------------------------------------------------------ crops

TEST(AlignCrop, NearestPatternPreservingShift) {
  // Bayer: multiples of 2 per axis, ties toward zero.
  ptp_align_desc d = bayer_desc(64, 64);
  d.upsample_factor = 4;
  const std::vector<float> ref = field(64, 64, 0, 0, 4);
  struct Case {
    int64_t ty, tx;  // circular translation of the content
    int64_t crop_y, crop_x;
  };
  // Whole-pixel translations by t register at -t: the crop is the nearest
  // even shift, ties (odd shifts) toward zero.
  for (const Case& c : {Case{2, -4, -2, 4}, Case{3, -5, -2, 4}, Case{-1, 1, 0, 0},
                        Case{7, 0, -6, 0}, Case{-9, 2, 8, -2}}) {
    const std::vector<float> mov = field(64, 64, c.ty, c.tx, 4);
    const Plan plan = make_plan(d);
    const auto r = run_frames(plan, ref, {mov.data()});
    ASSERT_EQ(r[0].status, PTP_SUCCESS);
    EXPECT_EQ(r[0].crop[0], c.crop_y) << c.ty << "," << c.tx << " shift " << r[0].shift[0];
    EXPECT_EQ(r[0].crop[1], c.crop_x) << c.ty << "," << c.tx << " shift " << r[0].shift[1];
  }
}

// Fujifilm's X-Trans layout repeats under a (3, 3) translation, so (3, 3)
// crops are pattern-preserving, (3, 0) ones are not; a rotated layout that
// does not repeat so allows multiples of 6 only.
TEST(AlignCrop, XTransLatticeFollowsTheLayout) {
  const int32_t fuji[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
                            1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1};
  // Smooth content (blurred over ~4 pixels): X-Trans planes sample it every
  // 6 pixels, and a 3-pixel translation is half a plane pixel.
  const int64_t h = 192, w = 192;
  const std::vector<float> ref = field(h, w, 0, 0, 11, 60);
  for (bool repeating : {true, false}) {
    ptp_align_desc d;
    ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
    d.height = h;
    d.width = w;
    d.frame_dtype = PTP_DTYPE_FLOAT32;
    d.cfa = PTP_CFA_XTRANS;
    std::copy(fuji, fuji + 36, d.pattern);
    if (!repeating) d.pattern[0] = 2, d.pattern[2] = 1;  // still has R, G and B
    d.upsample_factor = 10;
    const Plan plan = make_plan(d);
    // Content translated by (-3, -3) and (-3, 0) registers at (3, 3), (3, 0).
    const std::vector<float> diagonal = field(h, w, -3, -3, 11, 60);
    const std::vector<float> vertical = field(h, w, -3, 0, 11, 60);
    const auto r = run_frames(plan, ref, {diagonal.data(), vertical.data()});
    ASSERT_EQ(r[0].status, PTP_SUCCESS);
    EXPECT_NEAR(r[0].shift[0], 3.0, 1.0);
    EXPECT_NEAR(r[0].shift[1], 3.0, 1.0);
    if (repeating) {
      EXPECT_EQ(r[0].crop[0], 3);
      EXPECT_EQ(r[0].crop[1], 3);
    } else {
      EXPECT_EQ(r[0].crop[0] % 6, 0);
      EXPECT_EQ(r[0].crop[1] % 6, 0);
    }
    // (3, 0) is never a pattern-preserving crop: 0 or 6 rows.
    EXPECT_EQ(r[1].crop[0] % 6, 0) << r[1].shift[0];
    EXPECT_EQ(r[1].crop[1], 0);
  }
}

// ------------------------------------------------------- bounded search

// A periodic scene (period 16 pixels) translated by 18: without a bound the
// peak is an alias at 18 - 16 = 2 or another; max_shift = 3 excludes every
// shift beyond 3, so none above it is returned, and a bound that covers the
// true shift finds it on a non-periodic scene.
TEST(AlignBound, MaxShiftExcludesFarPeaks) {
  const int64_t h = 64, w = 64;
  const std::vector<float> ref = field(h, w, 0, 0, 21);
  const std::vector<float> far = field(h, w, 20, -22, 21);
  const std::vector<float> near = field(h, w, 2, -2, 21);
  for (int64_t bound : {0, 4, 30}) {
    ptp_align_desc d = bayer_desc(h, w);
    d.max_shift = bound;
    const Plan plan = make_plan(d);
    const auto r = run_frames(plan, ref, {far.data(), near.data()});
    if (bound == 0 || bound == 30) {
      EXPECT_EQ(r[0].crop[0], -20) << bound;
      EXPECT_EQ(r[0].crop[1], 22) << bound;
    } else {
      // Refinement moves the bounded integer peak by under a plane pixel.
      EXPECT_LT(std::fabs(r[0].shift[0]), double(bound) + 2.0);
      EXPECT_LT(std::fabs(r[0].shift[1]), double(bound) + 2.0);
    }
    EXPECT_EQ(r[1].crop[0], -2) << bound;
    EXPECT_EQ(r[1].crop[1], 2) << bound;
  }
}

// ------------------------------------------------- per-frame statuses

TEST(AlignFrames, OneBadFrameNeverLosesTheOthers) {
  const int64_t h = 32, w = 32;
  const std::vector<float> ref = field(h, w, 0, 0, 5);
  const std::vector<float> good = field(h, w, 2, 4, 5);
  std::vector<float> nan = good;
  nan[3 * w + 5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> huge = good;
  huge[7] = 2e38f;
  const std::vector<float> flat(static_cast<size_t>(h * w), 12.0f);
  const Plan plan = make_plan(bayer_desc(h, w));
  ASSERT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  const std::vector<const void*> frames = {good.data(), nan.data(),  nullptr,
                                           flat.data(), huge.data(), good.data()};
  std::vector<ptp_align_result> r(frames.size());
  ASSERT_EQ(ptp_align_execute_frames(plan.get(), frames.data(), int64_t(frames.size()), r.data(),
                                     nullptr),
            PTP_SUCCESS);
  const ptp_status want[] = {PTP_SUCCESS,
                             PTP_ERROR_NON_FINITE,
                             PTP_ERROR_INVALID_ARGUMENT,
                             PTP_ERROR_NO_INFORMATION,
                             PTP_ERROR_INVALID_ARGUMENT,
                             PTP_SUCCESS};
  const char* words[] = {"", "frames[1]", "frames[2] is NULL", "constant", "too large", ""};
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(r[i].status, want[i]) << i << ": " << r[i].message;
    EXPECT_NE(std::string(r[i].message).find(words[i]), std::string::npos)
        << i << ": " << r[i].message;
    if (want[i] == PTP_SUCCESS) {
      EXPECT_NEAR(r[i].shift[0], -2.0, 0.5);
      EXPECT_NEAR(r[i].shift[1], -4.0, 0.5);
      EXPECT_EQ(r[i].crop[0], -2);
      EXPECT_EQ(r[i].crop[1], -4);
      EXPECT_GT(r[i].confidence, 0.3);
      EXPECT_EQ(r[i].planes_used, 4);
      EXPECT_STREQ(r[i].message, "");
    } else {
      EXPECT_TRUE(std::isnan(r[i].shift[0]) && std::isnan(r[i].shift[1]));
      EXPECT_EQ(r[i].crop[0], 0);
      EXPECT_EQ(r[i].confidence, 0.0);
      EXPECT_EQ(r[i].planes_used, 0);
    }
  }
  // The all-or-nothing entry point still fails the whole call on the NaN.
  std::vector<double> shifts(2 * frames.size(), 7.0);
  const void* two[] = {good.data(), nan.data()};
  EXPECT_EQ(ptp_align_execute(plan.get(), two, 2, shifts.data(), nullptr, nullptr),
            PTP_ERROR_NON_FINITE);
  for (double v : shifts) EXPECT_EQ(v, 7.0);
}

TEST(AlignFrames, CallErrorsWriteNothing) {
  const std::vector<float> ref = field(16, 16, 0, 0, 6);
  const Plan plan = make_plan(bayer_desc(16, 16));
  const void* frames[] = {ref.data()};
  ptp_align_result r;
  std::memset(&r, 0x5a, sizeof r);
  ptp_align_result kept = r;
  // No reference yet.
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames, 1, &r, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("reference"), std::string::npos);
  ASSERT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  EXPECT_EQ(ptp_align_execute_frames(nullptr, frames, 1, &r, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), nullptr, 1, &r, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames, 1, nullptr, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames, -1, &r, nullptr), PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(std::memcmp(&r, &kept, sizeof r), 0);
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames, 0, nullptr, nullptr), PTP_SUCCESS);
}

int32_t stop_after_one(int64_t done, int64_t, void*) {
  return done >= 1 ? 1 : 0;
}

TEST(AlignFrames, CancelledFramesSaySo) {
  const std::vector<float> ref = field(16, 16, 0, 0, 8);
  const std::vector<float> mov = field(16, 16, 2, 0, 8);
  ptychopatch::Context one_thread(PTP_BACKEND_CPU, 1);
  const Plan plan = make_plan(bayer_desc(16, 16), one_thread.get());
  ASSERT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  ASSERT_EQ(ptp_align_set_progress(plan.get(), stop_after_one, nullptr), PTP_SUCCESS);
  const void* frames[] = {mov.data(), mov.data(), mov.data()};
  ptp_align_result r[3];
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), frames, 3, r, nullptr), PTP_ERROR_CANCELLED);
  EXPECT_EQ(r[0].status, PTP_SUCCESS);
  EXPECT_NEAR(r[0].shift[0], -2.0, 0.5);
  EXPECT_EQ(r[2].status, PTP_ERROR_CANCELLED);
  EXPECT_TRUE(std::isnan(r[2].shift[0]));
  EXPECT_NE(std::string(r[2].message).find("progress callback"), std::string::npos);
}

}  // namespace

namespace {

TEST(AlignWrapperFrames, PerFrameResultsThroughTheCppWrapper) {
  const std::vector<float> ref = field(32, 32, 0, 0, 12);
  const std::vector<float> mov = field(32, 32, 4, -2, 12);
  std::vector<float> nan = mov;
  nan[0] = std::numeric_limits<float>::quiet_NaN();
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  ptychopatch::AlignDesc d;
  d.height = 32;
  d.width = 32;
  d.frame_dtype = PTP_DTYPE_FLOAT32;
  d.cfa = PTP_CFA_BAYER;
  ptychopatch::AlignPlan plan(ctx, d);
  plan.set_reference(ref.data());
  const std::vector<const float*> frames = {mov.data(), nan.data()};
  const std::vector<ptp_align_result> r = plan.execute_frames(frames);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, PTP_SUCCESS);
  EXPECT_EQ(r[0].crop[0], -4);
  EXPECT_EQ(r[0].crop[1], 2);
  EXPECT_EQ(r[1].status, PTP_ERROR_NON_FINITE);
  EXPECT_NE(std::string(r[1].message).find("frames[1]"), std::string::npos);
  // The wrong element type is refused before the library reads anything.
  const std::vector<const uint16_t*> wrong = {nullptr};
  EXPECT_THROW(plan.execute_frames(wrong), ptychopatch::Error);
}

}  // namespace
