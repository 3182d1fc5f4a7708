// Diagnostics of patch geometry (ptp_extract_plan_get_diagnostics): the
// count of patches that lie entirely outside the object, against two
// oracles that share no code with the library's predicate: a brute-force
// scan of every corner of every patch pixel (docs/semantics.md's formula in
// float32), and the library's own extraction of an all-NaN object (a patch
// that reads any object pixel, whatever the weight, holds a NaN).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

struct Geometry {
  int64_t height, width, n;
};

// Does the patch at float32 offset (ox, oy) read any object pixel? Every
// pixel, every corner, compared in double (no integer conversion).
bool oracle_reads_object(const Geometry& g, float ox, float oy) {
  const double half = static_cast<double>(g.n / 2);
  for (int64_t y = 0; y < g.n; ++y) {
    const float sy = static_cast<float>(y) + oy;
    const double y0 = std::floor(static_cast<double>(sy));
    for (int64_t x = 0; x < g.n; ++x) {
      const float sx = static_cast<float>(x) + ox;
      const double x0 = std::floor(static_cast<double>(sx));
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const double row = y0 + a - half;
          const double col = x0 + b - half;
          if (row >= 0 && row < static_cast<double>(g.height) && col >= 0 &&
              col < static_cast<double>(g.width))
            return true;
        }
    }
  }
  return false;
}

struct Count {
  int64_t outside = 0;
  int64_t first = -1;
};

Count oracle_count(const Geometry& g, const std::vector<float>& xy) {
  Count c;
  for (size_t p = 0; p < xy.size() / 2; ++p) {
    if (oracle_reads_object(g, xy[2 * p], xy[2 * p + 1])) continue;
    if (c.outside++ == 0) c.first = static_cast<int64_t>(p);
  }
  return c;
}

ptp_extract_desc make_desc(const Geometry& g, int64_t group_size = 1,
                           ptp_dtype offsets = PTP_DTYPE_FLOAT64) {
  ptp_extract_desc desc;
  EXPECT_EQ(ptp_extract_desc_init(&desc, sizeof desc), PTP_SUCCESS);
  desc.height = g.height;
  desc.width = g.width;
  desc.patch_size = g.n;
  desc.group_size = group_size;
  desc.object_dtype = PTP_DTYPE_FLOAT32;
  desc.offset_dtype = offsets;
  desc.layout = PTP_LAYOUT_FLAT;
  return desc;
}

ptp_extract_diagnostics query(const ptp_extract_plan* plan) {
  ptp_extract_diagnostics d;
  EXPECT_EQ(ptp_extract_diagnostics_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(ptp_extract_plan_get_diagnostics(plan, &d), PTP_SUCCESS) << ptp_last_error_message();
  return d;
}

// Extracts from an all-NaN object; returns the patches that hold no NaN
// (those read no object pixel).
Count nan_object_count(ptp_context* ctx, const Geometry& g, const std::vector<double>& xy) {
  const std::vector<float> object(g.height * g.width, std::numeric_limits<float>::quiet_NaN());
  const int64_t patches = static_cast<int64_t>(xy.size() / 2);
  const ptp_extract_desc desc = make_desc(g);
  std::vector<float> out(patches * g.n * g.n);
  EXPECT_EQ(ptp_extract_patches(ctx, &desc, object.data(), xy.data(), patches, out.data(),
                                out.size() * sizeof(float)),
            PTP_SUCCESS);
  Count c;
  for (int64_t p = 0; p < patches; ++p) {
    bool any_nan = false;
    for (int64_t i = 0; i < g.n * g.n; ++i) any_nan = any_nan || std::isnan(out[p * g.n * g.n + i]);
    if (any_nan) continue;
    if (c.outside++ == 0) c.first = p;
  }
  return c;
}

// Runs ptp_extract_execute on a plan and returns its diagnostics.
ptp_extract_diagnostics extract_on_plan(ptp_context* ctx, const Geometry& g,
                                        const std::vector<double>& xy) {
  const ptp_extract_desc desc = make_desc(g);
  ptp_extract_plan* plan = nullptr;
  EXPECT_EQ(ptp_extract_plan_create(ctx, &desc, &plan), PTP_SUCCESS);
  const std::vector<float> object(g.height * g.width, 1.0f);
  const int64_t patches = static_cast<int64_t>(xy.size() / 2);
  std::vector<float> out(patches * g.n * g.n);
  EXPECT_EQ(ptp_extract_execute(plan, object.data(), xy.data(), patches, out.data(),
                                out.size() * sizeof(float)),
            PTP_SUCCESS);
  const ptp_extract_diagnostics d = query(plan);
  ptp_extract_plan_destroy(plan);
  return d;
}

std::vector<float> as_f32(const std::vector<double>& xy) {
  return std::vector<float>(xy.begin(), xy.end());
}

// ------------------------------------------------------------ boundaries

// N = 8 (h = 4) on a 10 x 12 object: object columns are padded indices
// [4, 16), rows [4, 14). Pixel x of the patch at offset o reads columns
// floor(x + o) and that + 1.
TEST(Diagnostics, OneTapInsideCountsAsInsideOnEveryEdge) {
  auto ctx = test_support::cpu_context(1);
  const Geometry g{10, 12, 8};
  const double y_in = 5.0, x_in = 6.0;
  struct Case {
    double x, y;
    bool outside;
    const char* why;
  };
  const Case cases[] = {
      // Left edge: the last pixel (x = 7) reads 7 + o.
      {-3.5, y_in, false, "x = 7 reads columns 3 and 4: column 4 is object column 0 (w 0.5)"},
      {-4.5, y_in, true, "x = 7 reads columns 2 and 3: all padding"},
      {-4.0, y_in, false, "integer: x = 7 reads 3 and 4; column 4 with weight 0 still counts"},
      {-4.0001, y_in, true, "just beyond: x = 7 reads 2 and 3"},
      // Right edge: the first pixel (x = 0) reads o.
      {15.0, y_in, false, "x = 0 reads column 15 = object column 11 (weight 1)"},
      {15.999, y_in, false, "x = 0 reads 15 and 16: column 15 is the last object column"},
      {16.0, y_in, true, "x = 0 reads 16 and 17: padding"},
      // Top and bottom, the same along y (rows [4, 14)).
      {x_in, -3.5, false, "bottom pixel row reads row 4 = object row 0"},
      {x_in, -4.5, true, "above the object"},
      {x_in, 13.5, false, "top pixel row reads row 13 = object row 9"},
      {x_in, 14.0, true, "below the object"},
      // One axis inside, the other outside: outside.
      {x_in, 100.0, true, "x inside, y far below"},
      {-50.0, y_in, true, "y inside, x far left"},
      // Corners: touching diagonally by one tap.
      {-3.5, -3.5, false, "corner (4, 4) = object pixel (0, 0) with weight 0.25"},
      {15.5, 13.5, false, "corner (13, 15) = the last object pixel"},
      {16.0, 13.5, true, "one column beyond the last pixel"},
      // Far away, huge magnitudes.
      {1e30, y_in, true, "far right"},
      {-7e12, -3e38, true, "far up-left"},
      {3.4e38, 3.4e38, true, "float32's largest"},
  };
  std::vector<double> xy;
  for (const Case& c : cases) {
    xy.push_back(c.x);
    xy.push_back(c.y);
  }
  // Each case alone, so the first-outside index and offset are checked too.
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.why) + " at (" + std::to_string(c.x) + ", " + std::to_string(c.y) +
                 ")");
    ASSERT_EQ(oracle_reads_object(g, static_cast<float>(c.x), static_cast<float>(c.y)), !c.outside)
        << "the oracle disagrees with the case's expectation";
    const ptp_extract_diagnostics d = extract_on_plan(ctx.get(), g, {c.x, c.y});
    EXPECT_EQ(d.call, PTP_DIAGNOSED_EXTRACT);
    EXPECT_EQ(d.patches_total, 1);
    EXPECT_EQ(d.patches_outside, c.outside ? 1 : 0);
    EXPECT_EQ(d.first_outside, c.outside ? 0 : -1);
    if (c.outside) {
      EXPECT_EQ(d.first_outside_offset[0], static_cast<double>(static_cast<float>(c.x)));
      EXPECT_EQ(d.first_outside_offset[1], static_cast<double>(static_cast<float>(c.y)));
      EXPECT_NE(std::strstr(d.message, "1 of 1 patches lie entirely outside the 10 x 12"), nullptr)
          << d.message;
    } else {
      EXPECT_TRUE(std::isnan(d.first_outside_offset[0]));
      EXPECT_STREQ(d.message, "");
    }
  }
  // All at once: the count and the NaN-object oracle agree.
  const Count nan = nan_object_count(ctx.get(), g, xy);
  const ptp_extract_diagnostics d = extract_on_plan(ctx.get(), g, xy);
  EXPECT_EQ(d.patches_outside, nan.outside);
  EXPECT_EQ(d.first_outside, nan.first);
}

// A patch wider than the object, whose ends both lie beyond it, reads it
// (the predicate's bisection); N = 1 and N = 2 have no room for mistakes.
TEST(Diagnostics, WidePatchesAndTinyPatches) {
  auto ctx = test_support::cpu_context(1);
  for (const Geometry& g : {Geometry{3, 2, 64}, Geometry{1, 1, 33}, Geometry{5, 7, 1},
                            Geometry{5, 7, 2}, Geometry{1, 40, 3}}) {
    SCOPED_TRACE("H " + std::to_string(g.height) + " W " + std::to_string(g.width) + " N " +
                 std::to_string(g.n));
    std::vector<double> xy;
    for (double x = -g.n - 3.0; x <= g.width + g.n + 3.0; x += 0.25)
      for (double y : {-g.n - 1.5, -1.0 * (g.n / 2), 0.0, g.height - 0.5, g.height + g.n / 2.0}) {
        xy.push_back(x);
        xy.push_back(y);
      }
    const Count want = oracle_count(g, as_f32(xy));
    const ptp_extract_diagnostics d = extract_on_plan(ctx.get(), g, xy);
    EXPECT_EQ(d.patches_total, static_cast<int64_t>(xy.size() / 2));
    EXPECT_EQ(d.patches_outside, want.outside);
    EXPECT_EQ(d.first_outside, want.first);
    const Count nan = nan_object_count(ctx.get(), g, xy);
    EXPECT_EQ(d.patches_outside, nan.outside);
  }
}

// Random offsets over the object, its borders and beyond, float64 and
// float32 pairs, several sizes: the count equals both oracles.
TEST(Diagnostics, RandomOffsetsMatchBothOracles) {
  auto ctx = test_support::cpu_context();
  std::mt19937 rng(77);
  for (const Geometry& g : {Geometry{20, 31, 8}, Geometry{9, 4, 5}, Geometry{16, 16, 16}}) {
    SCOPED_TRACE("N " + std::to_string(g.n));
    const auto xy = test_support::random_offsets(400, -2.0 * g.n, g.width + 2.0 * g.n, -2.0 * g.n,
                                                 g.height + 2.0 * g.n, rng());
    const Count want = oracle_count(g, as_f32(xy));
    ASSERT_GT(want.outside, 10);
    ASSERT_LT(want.outside, 390);
    const ptp_extract_diagnostics d = extract_on_plan(ctx.get(), g, xy);
    EXPECT_EQ(d.patches_outside, want.outside);
    EXPECT_EQ(d.first_outside, want.first);
    EXPECT_EQ(nan_object_count(ctx.get(), g, xy).outside, want.outside);

    // float32 offsets: the same values, the same count.
    const auto xyf = as_f32(xy);
    const ptp_extract_desc desc = make_desc(g, 1, PTP_DTYPE_FLOAT32);
    const std::vector<float> object(g.height * g.width, 1.0f);
    std::vector<float> out(400 * g.n * g.n);
    ASSERT_EQ(ptp_extract_patches(ctx.get(), &desc, object.data(), xyf.data(), 400, out.data(),
                                  out.size() * 4),
              PTP_SUCCESS);
    const ptp_extract_diagnostics f = query(nullptr);
    EXPECT_EQ(f.patches_outside, want.outside);
    EXPECT_EQ(f.first_outside, want.first);
  }
}

// ---------------------------------------------------------------- forms

// The legacy global + local form counts float32(global + local), summed in
// float64: a member whose sum rounds onto the object's edge counts inside.
TEST(Diagnostics, LegacyFormCountsTheRoundedSums) {
  auto ctx = test_support::cpu_context(1);
  const Geometry g{10, 12, 8};
  const int64_t c = 4, groups = 3;
  // Group 0: inside. Group 1: members spread across the left edge (x =
  // -3.5 touches, -4.5 does not). Group 2: the centre far below, all out.
  const std::vector<double> global = {6.0, 5.0, -4.0, 5.0, 6.0, 1e6};
  const std::vector<double> local = {
      0.5, -0.5, 1.0,         -1.0,        0.0, 0.0, 1.0, 1.0,  // group 0
      0.5, -0.5, 0.499999999, -0.50000001, 0.0, 0.0, 0.0, 0.0,
      0.0, 0.0,  0.0,         0.0,         0.0, 0.0, 0.0, 0.0};
  // Group 1 member 2: float32(-4 + 0.499999999) = -3.5 (rounds): touches.
  // Member 3: float32(-4.50000001) = -4.5: outside.
  ptp_extract_desc desc = make_desc(g, c);
  desc.object_dtype = PTP_DTYPE_COMPLEX64;
  desc.layout = PTP_LAYOUT_CHANNEL;
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &desc, &plan), PTP_SUCCESS);
  const std::vector<std::complex<float>> object(g.height * g.width, {1.0f, 1.0f});
  std::vector<std::complex<float>> out(groups * c * g.n * g.n);
  ASSERT_EQ(ptp_extract_execute_legacy(plan, object.data(), global.data(), local.data(), groups,
                                       out.data(), out.size() * 8),
            PTP_SUCCESS);
  std::vector<float> pairs;
  for (int64_t b = 0; b < groups; ++b)
    for (int64_t k = 0; k < c; ++k) {
      pairs.push_back(static_cast<float>(global[2 * b] + local[2 * c * b + k]));
      pairs.push_back(static_cast<float>(global[2 * b + 1] + local[2 * c * b + c + k]));
    }
  const Count want = oracle_count(g, pairs);
  ASSERT_EQ(want.outside, 2 + 4);  // group 1 members 1 and 3, group 2
  ASSERT_EQ(want.first, 5);
  const ptp_extract_diagnostics d = query(plan);
  EXPECT_EQ(d.patches_total, groups * c);
  EXPECT_EQ(d.patches_outside, want.outside);
  EXPECT_EQ(d.first_outside, 5);
  EXPECT_EQ(d.first_outside_offset[0], -4.5);
  EXPECT_NE(std::strstr(d.message, "the first is group 1 member 1"), nullptr) << d.message;
  ptp_extract_plan_destroy(plan);
}

// Reassembly counts the patches that add nothing to the canvas, with the
// same predicate; a pair oracle: the weights canvas of one patch is all
// zeros exactly when it is outside.
TEST(Diagnostics, ReassemblyCountsPatchesThatAddNothing) {
  auto ctx = test_support::cpu_context();
  const Geometry g{20, 31, 8};
  const auto xy = test_support::random_offsets(300, -20.0, 51.0, -20.0, 40.0, 5);
  const Count want = oracle_count(g, as_f32(xy));
  ASSERT_GT(want.outside, 10);
  ptp_extract_desc desc = make_desc(g);
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &desc, &plan), PTP_SUCCESS);
  const std::vector<float> patches(300 * g.n * g.n, 1.0f);
  std::vector<float> canvas(g.height * g.width), weights(canvas.size());
  ASSERT_EQ(ptp_reassemble_execute(plan, patches.data(), xy.data(), 300, canvas.data(),
                                   canvas.size() * 4, weights.data(), weights.size() * 4),
            PTP_SUCCESS);
  const ptp_extract_diagnostics d = query(plan);
  EXPECT_EQ(d.call, PTP_DIAGNOSED_REASSEMBLE);
  EXPECT_EQ(d.patches_total, 300);
  EXPECT_EQ(d.patches_outside, want.outside);
  EXPECT_EQ(d.first_outside, want.first);
  EXPECT_NE(std::strstr(d.message, "add nothing to the canvas"), nullptr) << d.message;
  // The first outside patch alone leaves the canvas untouched: all zeros.
  const double* first = xy.data() + 2 * want.first;
  ASSERT_EQ(ptp_reassemble_execute(plan, patches.data(), first, 1, canvas.data(), canvas.size() * 4,
                                   weights.data(), weights.size() * 4),
            PTP_SUCCESS);
  for (float w : weights) ASSERT_EQ(w, 0.0f);
  EXPECT_EQ(query(plan).patches_outside, 1);
  ptp_extract_plan_destroy(plan);
}

// ptp_grouped_patches (one-shot, no plan) reports through the thread's
// diagnostics: positions swapped (y, x) on a wide object fall outside.
TEST(Diagnostics, GroupedPatchesReportThroughTheThread) {
  auto ctx = test_support::cpu_context();
  const Geometry g{40, 160, 16};
  std::vector<double> x, y;
  for (double yy = 10; yy <= 30; yy += 4)
    for (double xx = 10; xx <= 150; xx += 4) {
      x.push_back(xx);
      y.push_back(yy);
    }
  const int64_t n = static_cast<int64_t>(x.size());
  auto group_desc = ptychopatch::GroupDesc(100, 6, 2, 3);
  ptp_extract_desc extract = make_desc(g, 4);
  extract.layout = PTP_LAYOUT_CHANNEL;
  const std::vector<float> object(g.height * g.width, 1.0f);
  std::vector<float> patches(100 * 4 * g.n * g.n);
  std::vector<int64_t> indices(100 * 4);
  std::vector<double> offsets(100 * 2), relative(100 * 2 * 4);
  for (bool swapped : {false, true}) {
    const double* px = swapped ? y.data() : x.data();
    const double* py = swapped ? x.data() : y.data();
    ASSERT_EQ(ptp_grouped_patches(ctx.get(), &group_desc, &extract, object.data(), px, py, n,
                                  indices.data(), nullptr, offsets.data(), relative.data(),
                                  patches.data(), patches.size() * 4),
              PTP_SUCCESS);
    const ptp_extract_diagnostics d = query(nullptr);
    EXPECT_EQ(d.call, PTP_DIAGNOSED_EXTRACT);
    EXPECT_EQ(d.patches_total, 400);
    std::vector<float> pairs;
    for (int64_t b = 0; b < 100; ++b)
      for (int64_t k = 0; k < 4; ++k) {
        pairs.push_back(static_cast<float>(offsets[2 * b] + relative[8 * b + k]));
        pairs.push_back(static_cast<float>(offsets[2 * b + 1] + relative[8 * b + 4 + k]));
      }
    const Count want = oracle_count(g, pairs);
    EXPECT_EQ(d.patches_outside, want.outside);
    if (swapped) {
      EXPECT_GT(d.patches_outside, 200);
    } else {
      EXPECT_EQ(d.patches_outside, 0);
    }
  }
  // The C++ wrapper's accessor for the thread's last call.
  EXPECT_GT(ptychopatch::last_diagnostics().patches_outside, 200);
}

// ------------------------------------------------- contract of the call

TEST(Diagnostics, NeverChangeTheResultOrTheStatus) {
  auto ctx = test_support::cpu_context();
  const Geometry g{10, 12, 8};
  ptychopatch::ExtractPlan<float> plan(ctx, g.height, g.width, g.n);
  const std::vector<float> object(g.height * g.width, 2.0f);
  const std::vector<double> far = {1e9, 1e9, -1e9, 5.0};
  const std::vector<float> patches = plan.execute(object, far);  // throws on failure
  for (float v : patches) ASSERT_EQ(v, 0.0f);
  const ptp_extract_diagnostics d = plan.diagnostics();
  EXPECT_EQ(d.patches_outside, 2);
  EXPECT_STREQ(ptp_last_error_message(), "");  // a success clears the error message
}

TEST(Diagnostics, PlanAndThreadHoldTheirOwnLastCall) {
  auto ctx = test_support::cpu_context();
  const Geometry g{10, 12, 8};
  ptychopatch::ExtractPlan<float> a(ctx, g.height, g.width, g.n);
  ptychopatch::ExtractPlan<float> b(ctx, g.height, g.width, g.n);
  const std::vector<float> object(g.height * g.width, 1.0f);
  // Nothing yet.
  EXPECT_EQ(a.diagnostics().call, PTP_DIAGNOSED_NONE);
  EXPECT_EQ(a.diagnostics().patches_outside, -1);
  a.execute(object, std::vector<double>{100.0, 100.0, 5.0, 5.0, -100.0, 5.0});
  b.execute(object, std::vector<double>{5.0, 5.0});
  EXPECT_EQ(a.diagnostics().patches_outside, 2);
  EXPECT_EQ(a.diagnostics().patches_total, 3);
  EXPECT_EQ(b.diagnostics().patches_outside, 0);
  EXPECT_EQ(ptychopatch::last_diagnostics().patches_total, 1);  // b's call was the last

  // A failed call leaves "no call" on its plan and on the thread; the other
  // plan keeps its own.
  const std::vector<double> nan = {std::nan(""), 1.0};
  std::vector<float> out(g.n * g.n);
  EXPECT_EQ(ptp_extract_execute(b.get(), object.data(), nan.data(), 1, out.data(), out.size() * 4),
            PTP_ERROR_NON_FINITE);
  EXPECT_EQ(b.diagnostics().call, PTP_DIAGNOSED_NONE);
  EXPECT_EQ(ptychopatch::last_diagnostics().call, PTP_DIAGNOSED_NONE);
  EXPECT_EQ(a.diagnostics().patches_outside, 2);

  // Another thread has its own last call.
  std::thread other([&] { EXPECT_EQ(ptychopatch::last_diagnostics().call, PTP_DIAGNOSED_NONE); });
  other.join();

  // Empty batches are counted: 0 of 0.
  a.execute(object, std::vector<double>{});
  EXPECT_EQ(a.diagnostics().call, PTP_DIAGNOSED_EXTRACT);
  EXPECT_EQ(a.diagnostics().patches_total, 0);
  EXPECT_EQ(a.diagnostics().patches_outside, 0);
}

// A call that fails before it reaches its plan (a NULL plan, a bad
// descriptor or count, grouping's own argument checks, a plan that could
// not be made) reports no call too, on the thread and on a plan it was
// given: not the previous call's counts.
TEST(Diagnostics, CallsThatFailBeforeTheyStartReportNone) {
  auto ctx = test_support::cpu_context();
  const Geometry g{10, 12, 8};
  const ptp_extract_desc desc = make_desc(g, 4);
  ptp_extract_desc bad = desc;
  bad.height = 0;
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &desc, &plan), PTP_SUCCESS);
  const std::vector<float> object(g.height * g.width, 1.0f);
  const std::vector<double> far = {100.0, 100.0, 5.0, 5.0, -100.0, 5.0, 5.0, 5.0};
  std::vector<float> patches(4 * g.n * g.n);
  std::vector<float> canvas(g.height * g.width);
  const size_t patch_bytes = patches.size() * 4, canvas_bytes = canvas.size() * 4;
  // A call that succeeds and counts two patches outside, on the plan and
  // the thread.
  const auto counted = [&] {
    ASSERT_EQ(ptp_extract_execute(plan, object.data(), far.data(), 4, patches.data(), patch_bytes),
              PTP_SUCCESS);
    ASSERT_EQ(query(nullptr).patches_outside, 2);
    ASSERT_EQ(query(plan).patches_outside, 2);
  };
  const auto none = [&](ptp_status status, const char* what, bool on_plan) {
    EXPECT_NE(status, PTP_SUCCESS) << what;
    EXPECT_EQ(query(nullptr).call, PTP_DIAGNOSED_NONE) << what << ": the thread's";
    if (on_plan) {
      EXPECT_EQ(query(plan).call, PTP_DIAGNOSED_NONE) << what << ": the plan's";
    }
  };

  counted();
  none(ptp_extract_execute(nullptr, object.data(), far.data(), 4, patches.data(), patch_bytes),
       "ptp_extract_execute, NULL plan", false);
  counted();
  none(ptp_extract_execute_legacy(plan, object.data(), far.data(), far.data(), -1, patches.data(),
                                  patch_bytes),
       "ptp_extract_execute_legacy, num_groups -1", true);
  counted();
  none(ptp_extract_execute_legacy(nullptr, object.data(), far.data(), far.data(), 1, patches.data(),
                                  patch_bytes),
       "ptp_extract_execute_legacy, NULL plan", false);
  counted();
  none(ptp_extract_patches(ctx.get(), &bad, object.data(), far.data(), 4, patches.data(),
                           patch_bytes),
       "ptp_extract_patches, height 0", false);
  counted();
  none(ptp_extract_patches(ctx.get(), nullptr, object.data(), far.data(), 4, patches.data(),
                           patch_bytes),
       "ptp_extract_patches, NULL desc", false);
  counted();
  ptp_extract_plan* not_made = nullptr;
  none(ptp_extract_plan_create(ctx.get(), &bad, &not_made), "ptp_extract_plan_create, height 0",
       false);
  counted();
  none(ptp_reassemble_execute(nullptr, patches.data(), far.data(), 4, canvas.data(), canvas_bytes,
                              nullptr, 0),
       "ptp_reassemble_execute, NULL plan", false);
  counted();
  none(ptp_reassemble_patches(ctx.get(), &bad, patches.data(), far.data(), 4, canvas.data(),
                              canvas_bytes, nullptr, 0),
       "ptp_reassemble_patches, height 0", false);

  // ptp_grouped_patches: its descriptors' checks, then the positions'.
  std::vector<double> x, y;
  for (int i = 0; i < 20; ++i) {
    x.push_back(4.0 + i % 5);
    y.push_back(3.0 + i / 5);
  }
  auto group = ptychopatch::GroupDesc(2, 6, 2, 3);
  ptp_extract_desc extract = desc;
  extract.layout = PTP_LAYOUT_CHANNEL;
  std::vector<int64_t> indices(2 * 4);
  std::vector<double> offsets(2 * 2), relative(2 * 2 * 4);
  std::vector<float> grouped(2 * 4 * g.n * g.n);
  const auto grouped_call = [&](const ptp_group_desc* gd, const ptp_extract_desc* ed,
                                const double* px) {
    return ptp_grouped_patches(ctx.get(), gd, ed, object.data(), px, y.data(), 20, indices.data(),
                               nullptr, offsets.data(), relative.data(), grouped.data(),
                               grouped.size() * 4);
  };
  ASSERT_EQ(grouped_call(&group, &extract, x.data()), PTP_SUCCESS) << ptp_last_error_message();
  ASSERT_EQ(query(nullptr).call, PTP_DIAGNOSED_EXTRACT);
  none(grouped_call(nullptr, &extract, x.data()), "ptp_grouped_patches, NULL group desc", false);
  counted();
  none(grouped_call(&group, &bad, x.data()), "ptp_grouped_patches, extract height 0", false);
  counted();
  ptp_extract_desc other_size = extract;
  other_size.group_size = 2;
  none(grouped_call(&group, &other_size, x.data()), "ptp_grouped_patches, group sizes differ",
       false);
  counted();
  none(grouped_call(&group, &extract, nullptr), "ptp_grouped_patches, NULL x", false);
  ptp_extract_plan_destroy(plan);
}

TEST(Diagnostics, StructSizeIsChecked) {
  ptp_extract_diagnostics d;
  EXPECT_EQ(ptp_extract_diagnostics_init(&d, sizeof d - 8), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_extract_diagnostics_init(nullptr, sizeof d), PTP_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(ptp_extract_diagnostics_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(d.struct_size, sizeof d);
  EXPECT_EQ(d.call, PTP_DIAGNOSED_NONE);
  EXPECT_EQ(d.first_outside, -1);
  d.struct_size = 16;
  EXPECT_EQ(ptp_extract_plan_get_diagnostics(nullptr, &d), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("diagnostics->struct_size"),
            std::string::npos);
  EXPECT_EQ(ptp_extract_plan_get_diagnostics(nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
}

}  // namespace
