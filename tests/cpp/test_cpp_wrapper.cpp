// The header-only C++ wrapper (include/ptychopatch.hpp) itself: handle
// lifetimes (a plan keeps its context alive; moved-from handles throw),
// the size-checked View overloads, and the status carried by its
// exceptions (issue 14, item 8). Run under AddressSanitizer by the
// sanitizer build (PTYCHOPATCH_SANITIZE=address,undefined), where a plan
// outliving its context is a heap-use-after-free.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ptychopatch.hpp"

namespace {

using ptychopatch::AlignPlan;
using ptychopatch::Context;
using ptychopatch::Error;
using ptychopatch::ExtractPlan;
using ptychopatch::View;

// ---------------------------------------------------- compile-time design

// Plans may be made from a temporary context (they share its handle), are
// move-only, and so is Context (a copy would alias one handle).
static_assert(
    std::is_constructible<ExtractPlan<float>, Context&&, int64_t, int64_t, int64_t>::value,
    "a plan made on a temporary context is valid");
static_assert(std::is_constructible<AlignPlan, Context&&, const ptp_align_desc&>::value,
              "an align plan made on a temporary context is valid");
static_assert(!std::is_copy_constructible<Context>::value, "Context is move-only");
static_assert(std::is_nothrow_move_constructible<Context>::value &&
                  std::is_nothrow_move_assignable<Context>::value,
              "Context moves without throwing");
static_assert(!std::is_copy_constructible<ExtractPlan<float>>::value, "plans are move-only");
static_assert(std::is_nothrow_move_constructible<ExtractPlan<float>>::value &&
                  std::is_nothrow_move_assignable<ExtractPlan<float>>::value,
              "plans move without throwing");
static_assert(std::is_nothrow_move_constructible<AlignPlan>::value, "plans move without throwing");

// View: inputs (const) bind anything contiguous, outputs only lvalues of
// the right element type.
static_assert(std::is_convertible<std::vector<float>&, View<const float>>::value, "");
static_assert(std::is_convertible<const std::vector<float>&, View<const float>>::value, "");
static_assert(std::is_convertible<std::vector<float>&&, View<const float>>::value, "");
static_assert(std::is_convertible<std::array<float, 3>&, View<const float>>::value, "");
static_assert(std::is_convertible<float (&)[3], View<const float>>::value, "");
static_assert(std::is_convertible<std::vector<float>&, View<float>>::value, "");
static_assert(std::is_convertible<View<float>, View<const float>>::value, "");
static_assert(!std::is_convertible<std::vector<float>&&, View<float>>::value,
              "an output must not bind a temporary");
static_assert(!std::is_convertible<const std::vector<float>&, View<float>>::value,
              "an output must not be const");
static_assert(!std::is_convertible<View<const float>, View<float>>::value, "");
static_assert(!std::is_convertible<std::vector<double>&, View<const float>>::value,
              "no element conversions");
static_assert(!std::is_convertible<float*, View<const float>>::value,
              "a bare pointer has no size: View(pointer, size) is explicit");

// ------------------------------------------------------------ fixtures

constexpr int64_t kH = 4, kW = 5, kN = 2;

// 0.5, 1.5, ...: a 4 x 5 object whose crops are easy to predict.
std::vector<float> small_object() {
  std::vector<float> object(static_cast<size_t>(kH * kW));
  for (size_t i = 0; i < object.size(); ++i) object[i] = static_cast<float>(i) + 0.5f;
  return object;
}

// The 2 x 2 patch centred at (x, y) = (3, 2): rows 1..2, columns 2..3.
std::vector<float> expected_crop(const std::vector<float>& object) {
  return {object[1 * kW + 2], object[1 * kW + 3], object[2 * kW + 2], object[2 * kW + 3]};
}

// Runs f, which must throw ptychopatch::Error; returns it.
template <class F>
Error thrown_by(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no ptychopatch::Error thrown";
  return Error(PTP_SUCCESS, "");
}

// The status of the Error f throws, and that its message names `word`.
template <class F>
ptp_status status_naming(const std::string& word, F&& f) {
  const Error e = thrown_by(std::forward<F>(f));
  EXPECT_NE(std::string(e.what()).find(word), std::string::npos)
      << "'" << e.what() << "' does not name " << word;
  EXPECT_EQ(std::string(e.what()).rfind(ptp_status_name(e.status()), 0), 0u)
      << "'" << e.what() << "' does not start with its status";
  return e.status();
}

// The coarse estimate alone: the frames below are cyclic shifts, which the
// correlation recovers exactly; the fine stage fits views of a larger scene.
ptychopatch::AlignDesc small_align_desc() {
  ptychopatch::AlignDesc d;
  d.height = 16;
  d.width = 16;
  d.upsample_factor = 1;
  d.verify = PTP_ALIGN_VERIFY_NONE;
  d.fft_planning = PTP_FFT_PLANNING_ESTIMATE;
  return d;
}

// A 16 x 16 frame with content (not flat), shifted by (dy, dx) cyclically.
std::vector<uint16_t> align_frame(int dy = 0, int dx = 0) {
  std::vector<uint16_t> f(256);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      const int sr = (r - dy + 16) % 16, sc = (c - dx + 16) % 16;
      f[static_cast<size_t>(r * 16 + c)] =
          static_cast<uint16_t>(1000 + (sr * 7919 + sc * 104729 + sr * sc * 31) % 3001);
    }
  return f;
}

// ------------------------------------------------------------ lifetimes

// The issue's `ExtractPlan plan(ptychopatch::Context{}, ...)`: the plan
// keeps the temporary's handle alive (before, ASan reported a
// heap-use-after-free in execute and in the plan's destructor).
TEST(CppWrapperLifetime, ExtractPlanOnATemporaryContextWorks) {
  ExtractPlan<float> plan(Context{}, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  EXPECT_EQ(plan.execute(object.data(), std::vector<double>{3.0, 2.0}), expected_crop(object));
  const auto back = plan.reassemble(expected_crop(object).data(), std::vector<double>{3.0, 2.0});
  EXPECT_EQ(back.weights[1 * kW + 2], 1.0f);
}

TEST(CppWrapperLifetime, ExtractPlanOutlivesItsContextObject) {
  const std::vector<float> object = small_object();
  std::vector<ExtractPlan<float>> plans;
  {
    Context ctx(PTP_BACKEND_CPU, 2);
    plans.emplace_back(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
    plans.emplace_back(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  }  // the Context object is gone; both plans share its handle
  for (auto& plan : plans)
    EXPECT_EQ(plan.execute(object.data(), std::vector<double>{3.0, 2.0}), expected_crop(object));
  plans.erase(plans.begin());  // the handle lives on in the second plan
  EXPECT_EQ(plans[0].execute(object.data(), std::vector<double>{3.0, 2.0}), expected_crop(object));
}

TEST(CppWrapperLifetime, ContextAssignedOverKeepsItsPlansWorking) {
  const std::vector<float> object = small_object();
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  ctx = Context(PTP_BACKEND_CPU, 2);  // the first handle now lives only in the plan
  EXPECT_EQ(plan.execute(object.data(), std::vector<double>{3.0, 2.0}), expected_crop(object));
  EXPECT_EQ(ctx.backend(), PTP_BACKEND_CPU);
}

// A plan assigned over is destroyed while its own context is still alive
// (that context's only owner was the plan).
TEST(CppWrapperLifetime, PlanAssignedOverReleasesItsContextAfterItself) {
  const std::vector<float> object = small_object();
  ExtractPlan<float> plan(Context(PTP_BACKEND_CPU, 1), kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  plan = ExtractPlan<float>(Context(PTP_BACKEND_CPU, 2), kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  EXPECT_EQ(plan.execute(object.data(), std::vector<double>{3.0, 2.0}), expected_crop(object));
  AlignPlan align(Context(PTP_BACKEND_CPU, 1), small_align_desc());
  align.set_progress([](int64_t, int64_t) { return true; });
  align = AlignPlan(Context(PTP_BACKEND_CPU, 1), small_align_desc());
  EXPECT_EQ(align.num_planes(), 1);
}

TEST(CppWrapperLifetime, AlignPlanOnATemporaryContextWorks) {
  AlignPlan plan(Context(PTP_BACKEND_CPU, 1), small_align_desc());
  const std::vector<uint16_t> reference = align_frame();
  const std::vector<uint16_t> moved = align_frame(2, -3);
  plan.set_reference(reference.data());
  const ptychopatch::AlignResult r = plan.execute(std::vector<const uint16_t*>{moved.data()});
  ASSERT_EQ(r.shifts.size(), 2u);
  EXPECT_EQ(r.shifts[0], -2.0);
  EXPECT_EQ(r.shifts[1], 3.0);
  std::string why = "unset";
  EXPECT_EQ(plan.backend(&why), PTP_BACKEND_CPU);
}

// ------------------------------------------------------ moved-from handles

TEST(CppWrapperMovedFrom, ContextThrowsInsteadOfMeaningTheDefaultContext) {
  Context ctx(PTP_BACKEND_CPU, 1);
  Context other(std::move(ctx));
  EXPECT_TRUE(static_cast<bool>(other));
  EXPECT_EQ(other.num_threads(), 1);
  EXPECT_FALSE(static_cast<bool>(ctx));
  EXPECT_EQ(ctx.get(), nullptr);
  EXPECT_EQ(status_naming("moved from", [&] { ctx.backend(); }), PTP_ERROR_INVALID_ARGUMENT);
  // ptp_context_get_backend_reason(NULL) is the default context's reason:
  // a moved-from Context must not silently answer for it.
  EXPECT_EQ(status_naming("moved from", [&] { ctx.backend_reason(); }), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status_naming("moved from", [&] { ctx.num_threads(); }), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status_naming("moved from", [&] { ExtractPlan<float> p(ctx, kH, kW, kN); }),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status_naming("moved from", [&] { AlignPlan p(ctx, small_align_desc()); }),
            PTP_ERROR_INVALID_ARGUMENT);
  // The one-shot calls take nullptr for the default context, never a
  // moved-from one.
  const std::vector<double> x = {0, 1, 2, 3, 4}, y = {0, 0, 1, 1, 2};
  const ptychopatch::GroupDesc desc(2, 2, 1);
  EXPECT_EQ(status_naming("moved from",
                          [&] { ptychopatch::group_neighbors(desc, x.data(), y.data(), 5, &ctx); }),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptychopatch::group_neighbors(desc, x, y, &other).nn_indices.size(), 2u);
  // A moved-from Context may be assigned to and used again.
  ctx = Context(PTP_BACKEND_CPU, 1);
  EXPECT_EQ(ctx.num_threads(), 1);
}

TEST(CppWrapperMovedFrom, PlansThrowAndTheirTargetsWork) {
  const std::vector<float> object = small_object();
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  ExtractPlan<float> moved(std::move(plan));
  EXPECT_FALSE(static_cast<bool>(plan));
  EXPECT_EQ(plan.get(), nullptr);
  EXPECT_EQ(moved.execute(object, std::vector<double>{3.0, 2.0}), expected_crop(object));
  EXPECT_EQ(status_naming("moved from",
                          [&] {
                            plan.execute(object, std::vector<double>{3.0, 2.0});
                          }),
            PTP_ERROR_INVALID_ARGUMENT);
  std::vector<float> canvas(plan.canvas_size());
  EXPECT_EQ(
      status_naming("moved from",
                    [&] {
                      plan.reassemble(expected_crop(object), std::vector<double>{3.0, 2.0}, canvas);
                    }),
      PTP_ERROR_INVALID_ARGUMENT);
  plan = std::move(moved);  // assigned to again
  EXPECT_EQ(plan.execute(object, std::vector<double>{3.0, 2.0}), expected_crop(object));

  AlignPlan align(ctx, small_align_desc());
  AlignPlan align_moved(std::move(align));
  EXPECT_FALSE(static_cast<bool>(align));
  EXPECT_EQ(status_naming("moved from", [&] { align.backend(); }), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status_naming("moved from", [&] { align.set_reference(align_frame()); }),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(status_naming("moved from", [&] { align.set_progress(nullptr); }),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(align_moved.backend(), PTP_BACKEND_CPU);
}

// --------------------------------------------------- size-checked calls

// The README's `plan.execute(object, offsets_xy)` with std::vector object
// and offsets, and the other containers a View takes.
TEST(CppWrapperSizes, ContainersOfTheRightSizeWork) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  const std::vector<double> offsets_xy = {3.0, 2.0, 3.0, 2.0};
  const std::vector<float> crop = expected_crop(object);
  std::vector<float> two = crop;
  two.insert(two.end(), crop.begin(), crop.end());
  EXPECT_EQ(plan.execute(object, offsets_xy), two);

  std::array<float, kH * kW> array{};
  float c_array[kH * kW];
  for (size_t i = 0; i < object.size(); ++i) array[i] = c_array[i] = object[i];
  const double c_offsets[2] = {3.0, 2.0};
  EXPECT_EQ(plan.execute(array, c_offsets), crop);
  EXPECT_EQ(plan.execute(c_array, std::array<double, 2>{3.0, 2.0}), crop);
  EXPECT_EQ(plan.execute(View<const float>(object.data(), object.size()), offsets_xy), two);

  // Into the caller's buffer (larger than needed is fine).
  std::vector<float> out(10, -1.0f);
  plan.execute(object, View<const double>(offsets_xy.data(), 2), out);
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 4), crop);
  EXPECT_EQ(out[4], -1.0f);

  // Complex objects, the channel layout, float offsets.
  ExtractPlan<std::complex<float>, float> complex_plan(ctx, kH, kW, kN, 2);
  std::vector<std::complex<float>> complex_object(object.begin(), object.end());
  const std::vector<std::complex<float>> patches =
      complex_plan.execute(complex_object, std::vector<float>{3, 2, 3, 2});
  ASSERT_EQ(patches.size(), 8u);
  EXPECT_EQ(patches[0], std::complex<float>(crop[0]));
  EXPECT_EQ(patches[1], std::complex<float>(crop[0]));  // channel layout: (N, N, c)
}

TEST(CppWrapperSizes, AWrongObjectSizeThrowsAndWritesNothing) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<double> offsets_xy = {3.0, 2.0};
  std::vector<float> out(4, -7.0f);
  const std::vector<float> short_object(static_cast<size_t>(kH * kW - 1), 1.0f);
  const std::vector<float> long_object(static_cast<size_t>(kH * kW + 1), 1.0f);
  EXPECT_EQ(status_naming("object holds 19", [&] { plan.execute(short_object, offsets_xy, out); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("4 x 5 = 20", [&] { plan.execute(long_object, offsets_xy, out); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("object", [&] { plan.execute(short_object, offsets_xy); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(out, std::vector<float>(4, -7.0f));
}

TEST(CppWrapperSizes, ASmallOutputThrowsBufferTooSmallAndWritesNothing) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  std::vector<float> out(7, -7.0f);  // two patches need 8
  EXPECT_EQ(status_naming("patches holds 7",
                          [&] {
                            plan.execute(object, std::vector<double>{3, 2, 2, 2}, out);
                          }),
            PTP_ERROR_BUFFER_TOO_SMALL);
  EXPECT_EQ(out, std::vector<float>(7, -7.0f));
}

// An odd number of offset values was silently truncated to whole pairs.
TEST(CppWrapperSizes, AnOddOffsetCountThrows) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  const std::vector<double> odd = {3.0, 2.0, 3.0};
  EXPECT_EQ(status_naming("offsets_xy holds 3", [&] { plan.execute(object.data(), odd); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("odd", [&] { plan.execute(object, odd); }), PTP_ERROR_INVALID_SIZE);
  std::vector<float> out(8, -7.0f);
  EXPECT_EQ(status_naming("odd", [&] { plan.execute(object, odd, out); }), PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(out, std::vector<float>(8, -7.0f));
  const std::vector<float> patch = expected_crop(object);
  EXPECT_EQ(status_naming("odd", [&] { plan.reassemble(patch.data(), odd); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("odd", [&] { plan.reassemble(patch, odd); }), PTP_ERROR_INVALID_SIZE);
}

TEST(CppWrapperSizes, LegacyOffsetsAreChecked) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 2, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  // One group of two: global (x, y) = (3, 2), local [axis][k] = 0.
  const std::vector<double> global = {3.0, 2.0};
  const std::vector<double> local(4, 0.0);
  std::vector<float> want = expected_crop(object);
  want.insert(want.end(), want.begin(), want.end());
  EXPECT_EQ(plan.execute_legacy(object, global, local), want);
  std::vector<float> out(8, -7.0f);
  plan.execute_legacy(object, global, local, out);
  EXPECT_EQ(out, want);

  std::fill(out.begin(), out.end(), -7.0f);
  EXPECT_EQ(status_naming("global_offsets holds 3",
                          [&] {
                            plan.execute_legacy(object, std::vector<double>{3, 2, 1}, local);
                          }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("local_offsets holds 3",
                          [&] { plan.execute_legacy(object, global, std::vector<double>(3)); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("object holds 19",
                          [&] { plan.execute_legacy(std::vector<float>(19), global, local, out); }),
            PTP_ERROR_INVALID_SIZE);
  std::vector<float> small(7);
  EXPECT_EQ(
      status_naming("patches holds 7", [&] { plan.execute_legacy(object, global, local, small); }),
      PTP_ERROR_BUFFER_TOO_SMALL);
  EXPECT_EQ(out, std::vector<float>(8, -7.0f));
}

TEST(CppWrapperSizes, ReassemblyIsChecked) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> patch = expected_crop(small_object());
  const std::vector<double> offsets_xy = {3.0, 2.0};
  const auto want = plan.reassemble(patch.data(), offsets_xy);
  const auto got = plan.reassemble(patch, offsets_xy);
  EXPECT_EQ(got.canvas, want.canvas);
  EXPECT_EQ(got.weights, want.weights);
  EXPECT_TRUE(plan.reassemble(patch, offsets_xy, /*with_weights=*/false).weights.empty());

  std::vector<float> canvas(plan.canvas_size(), -7.0f), weights(plan.canvas_size(), -7.0f);
  plan.reassemble(patch, offsets_xy, canvas, weights);
  EXPECT_EQ(canvas, want.canvas);
  EXPECT_EQ(weights, want.weights);
  plan.reassemble(patch, offsets_xy, canvas);  // no weights

  const std::vector<float> untouched(plan.canvas_size(), -7.0f);
  canvas = weights = untouched;
  EXPECT_EQ(
      status_naming("patches holds 3",
                    [&] { plan.reassemble(std::vector<float>(3), offsets_xy, canvas, weights); }),
      PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(
      status_naming("patches holds 8", [&] { plan.reassemble(std::vector<float>(8), offsets_xy); }),
      PTP_ERROR_INVALID_SIZE);
  std::vector<float> small_canvas(plan.canvas_size() - 1, -7.0f);
  EXPECT_EQ(status_naming("canvas holds 19",
                          [&] { plan.reassemble(patch, offsets_xy, small_canvas, weights); }),
            PTP_ERROR_BUFFER_TOO_SMALL);
  std::vector<float> small_weights(3, -7.0f);
  EXPECT_EQ(status_naming("weights holds 3",
                          [&] { plan.reassemble(patch, offsets_xy, canvas, small_weights); }),
            PTP_ERROR_BUFFER_TOO_SMALL);
  EXPECT_EQ(canvas, untouched);
  EXPECT_EQ(weights, untouched);
  EXPECT_EQ(small_canvas, std::vector<float>(plan.canvas_size() - 1, -7.0f));
  EXPECT_EQ(small_weights, std::vector<float>(3, -7.0f));
}

TEST(CppWrapperSizes, GroupingPositionsAndObjectAreChecked) {
  const std::vector<double> x = {0, 1, 2, 3, 4, 5}, y = {0, 0, 1, 1, 2, 2};
  const ptychopatch::GroupDesc desc(3, 2, 1, 5);
  const auto groups = ptychopatch::group_neighbors(desc, x, y);
  EXPECT_EQ(groups.nn_indices,
            ptychopatch::group_neighbors(desc, x.data(), y.data(), 6).nn_indices);
  const std::vector<double> short_y(y.begin(), y.end() - 1);
  EXPECT_EQ(status_naming("y 5", [&] { ptychopatch::group_neighbors(desc, x, short_y); }),
            PTP_ERROR_INVALID_SIZE);

  ptp_extract_desc extract;
  ptychopatch::check(ptp_extract_desc_init(&extract, sizeof extract));
  extract.height = 8;
  extract.width = 8;
  extract.patch_size = 2;
  extract.object_dtype = PTP_DTYPE_FLOAT32;
  Context ctx(PTP_BACKEND_CPU, 1);
  const std::vector<float> object(64, 1.0f);
  const auto checked = ptychopatch::grouped_patches(desc, extract, object, x, y, &ctx);
  const auto raw =
      ptychopatch::grouped_patches(desc, extract, object.data(), x.data(), y.data(), 6);
  EXPECT_EQ(checked.patches, raw.patches);
  EXPECT_EQ(checked.groups.nn_indices, raw.groups.nn_indices);
  const std::vector<float> short_object(63, 1.0f);
  EXPECT_EQ(status_naming("object holds 63",
                          [&] { ptychopatch::grouped_patches(desc, extract, short_object, x, y); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("positions",
                          [&] { ptychopatch::grouped_patches(desc, extract, object, x, short_y); }),
            PTP_ERROR_INVALID_SIZE);
}

TEST(CppWrapperSizes, AlignFramesAreChecked) {
  Context ctx(PTP_BACKEND_CPU, 1);
  AlignPlan plan(ctx, small_align_desc());
  EXPECT_EQ(plan.frame_size(), 256u);
  const std::vector<uint16_t> reference = align_frame();
  const std::vector<uint16_t> a = align_frame(1, 0), b = align_frame(0, 2);
  plan.set_reference(reference);
  const std::vector<View<const uint16_t>> frames = {a, b};
  const ptychopatch::AlignResult checked = plan.execute(frames);
  const ptychopatch::AlignResult raw =
      plan.execute(std::vector<const uint16_t*>{a.data(), b.data()});
  EXPECT_EQ(checked.shifts, raw.shifts);
  EXPECT_EQ(checked.shifts, (std::vector<double>{-1, 0, 0, -2}));
  const auto results = plan.execute_frames(frames);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].shift[1], -2.0);
  // With each frame's flags, one per frame: with the fine stage, a 16 x 16
  // frame is too small for the fit (no probability), and says so.
  ptychopatch::AlignDesc refine = small_align_desc();
  refine.verify = PTP_ALIGN_VERIFY_REFINE;
  AlignPlan fitted(ctx, refine);
  fitted.set_reference(reference);
  std::vector<uint32_t> flags;
  const auto flagged = fitted.execute_frames(frames, &flags);
  ASSERT_EQ(flags.size(), 2u);
  for (size_t k = 0; k < flags.size(); ++k)
    EXPECT_NE(flags[k] & (PTP_ALIGN_FLAG_NO_FIT | PTP_ALIGN_FLAG_WEAK_PEAK), 0u)
        << k << ": " << flags[k] << ": " << flagged[k].message;

  const std::vector<uint16_t> short_frame(255, 1);
  EXPECT_EQ(status_naming("reference frame holds 255", [&] { plan.set_reference(short_frame); }),
            PTP_ERROR_INVALID_SIZE);
  const std::vector<View<const uint16_t>> bad = {a, short_frame};
  EXPECT_EQ(status_naming("frames[1] holds 255", [&] { plan.execute(bad); }),
            PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(status_naming("frames[1]", [&] { plan.execute_frames(bad); }), PTP_ERROR_INVALID_SIZE);
  const std::vector<float> float_frame(256, 1.0f);
  EXPECT_EQ(status_naming("frame_dtype", [&] { plan.set_reference(float_frame); }),
            PTP_ERROR_INVALID_ARGUMENT);
  // The reference is unchanged by the failed calls.
  EXPECT_EQ(plan.execute(frames).shifts, checked.shifts);
}

// ----------------------------------------------------------- exceptions

TEST(CppWrapperErrors, ExceptionsCarryTheLibrarysStatusAndMessage) {
  Context ctx(PTP_BACKEND_CPU, 1);
  ExtractPlan<float> plan(ctx, kH, kW, kN, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object = small_object();
  // From the library: a non-finite offset, named by it.
  const Error e = thrown_by([&] { plan.execute(object, std::vector<double>{3.0, NAN}); });
  EXPECT_EQ(e.status(), PTP_ERROR_NON_FINITE);
  EXPECT_EQ(std::string(e.what()).rfind("PTP_ERROR_NON_FINITE: ", 0), 0u) << e.what();
  // From the library through the raw call: the capacity it was told.
  std::vector<float> out(3);
  EXPECT_EQ(
      thrown_by([&] {
        plan.execute(object.data(), std::vector<double>{3, 2}.data(), 1, out.data(), out.size());
      }).status(),
      PTP_ERROR_BUFFER_TOO_SMALL);
  // Catchable as std::runtime_error too.
  EXPECT_THROW(plan.execute(object, std::vector<double>{1.0}), std::runtime_error);
}

}  // namespace

// ------------------------------------------- cross-correlation of one pair

namespace {

ptychopatch::CorrelateDesc correlate_desc(int64_t height, int64_t width) {
  ptychopatch::CorrelateDesc desc;
  desc.height = height;
  desc.width = width;
  return desc;
}

}  // namespace

static_assert(std::is_nothrow_move_constructible<ptychopatch::CorrelatePlan>::value,
              "plans move without throwing");
static_assert(!std::is_copy_constructible<ptychopatch::CorrelatePlan>::value, "move-only");

// The wrapper's results are the C call's, bitwise; the plan outlives the
// temporary context it was made with (ASan: no use after free).
TEST(CppWrapperCorrelate, SameAsTheCCallAndKeepsItsContext) {
  const int64_t ny = 9, nx = 12;
  ptychopatch::CorrelatePlan plan(Context(PTP_BACKEND_CPU, 1), correlate_desc(ny, nx));
  ASSERT_TRUE(static_cast<bool>(plan));
  EXPECT_EQ(plan.image_size(), size_t(ny * nx));
  EXPECT_EQ(plan.spectrum_size(), size_t(ny * (nx / 2 + 1)));
  std::vector<float> ref(ny * nx), mov(ny * nx);
  for (size_t i = 0; i < ref.size(); ++i) {
    ref[i] = std::sin(0.37f * float(i)) + 0.1f * float(i % 7);
    mov[(i + 3 * nx + 2) % mov.size()] = ref[i];
  }
  const ptychopatch::Correlation got = plan.execute(ref, mov);
  std::vector<std::complex<float>> spectrum(plan.spectrum_size());
  std::vector<float> correlation(plan.image_size());
  ASSERT_EQ(ptp_correlate_execute(plan.get(), ref.data(), mov.data(), spectrum.data(),
                                  correlation.data()),
            PTP_SUCCESS);
  EXPECT_EQ(got.spectrum, spectrum);
  EXPECT_EQ(got.correlation, correlation);
  // Only the correlation: an empty spectrum view.
  std::vector<float> only(plan.image_size());
  plan.execute(ref, mov, View<std::complex<float>>(), View<float>(only));
  EXPECT_EQ(only, correlation);
}

// A float64 plan (desc.dtype): the double overloads give the C call's
// bits; the float ones throw, naming the right call.
TEST(CppWrapperCorrelate, Float64PlansTakeDoubleImages) {
  const int64_t ny = 9, nx = 37;
  ptychopatch::CorrelateDesc desc = correlate_desc(ny, nx);
  desc.dtype = PTP_DTYPE_FLOAT64;
  ptychopatch::CorrelatePlan plan(Context(PTP_BACKEND_CPU, 1), desc);
  std::vector<double> ref(ny * nx), mov(ny * nx);
  for (int64_t y = 0; y < ny; ++y)
    for (int64_t x = 0; x < nx; ++x) {
      ref[y * nx + x] = std::sin(0.37 * double(y * nx + x)) + 0.1 * double((y * nx + x) % 7);
      mov[((y + 3) % ny) * nx + (x + 2) % nx] = ref[y * nx + x];  // moved by (3, 2)
    }
  const ptychopatch::Correlation64 got = plan.execute(ref, mov);
  std::vector<std::complex<double>> spectrum(plan.spectrum_size());
  std::vector<double> correlation(plan.image_size());
  ASSERT_EQ(ptp_correlate_execute_f64(plan.get(), ref.data(), mov.data(), spectrum.data(),
                                      correlation.data()),
            PTP_SUCCESS);
  EXPECT_EQ(got.spectrum, spectrum);
  EXPECT_EQ(got.correlation, correlation);
  const auto peak =
      std::max_element(got.correlation.begin(), got.correlation.end()) - got.correlation.begin();
  EXPECT_EQ(peak, (ny - 3) * nx + (nx - 2));
  std::vector<float> single(ny * nx, 1.0f);
  try {
    plan.execute(single, single);
    FAIL() << "float images were run on a float64 plan";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("ptp_correlate_execute_f64"), std::string::npos)
        << e.what();
  }
  std::vector<double> short_image(ny * nx - 1);
  EXPECT_THROW(plan.execute(short_image, mov), Error);
}

TEST(CppWrapperCorrelate, SizesAreCheckedAndErrorsCarryTheStatus) {
  ptychopatch::CorrelatePlan plan(Context(PTP_BACKEND_CPU, 1), correlate_desc(4, 6));
  std::vector<float> image(24, 1.0f), short_image(23, 1.0f), correlation(24, 42.0f);
  try {
    plan.execute(short_image, image);
    FAIL() << "a short reference was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_INVALID_SIZE);
    EXPECT_NE(std::string(e.what()).find("reference holds 23 elements"), std::string::npos)
        << e.what();
  }
  std::vector<std::complex<float>> small_spectrum(3);
  EXPECT_THROW(plan.execute(image, image, View<std::complex<float>>(small_spectrum),
                            View<float>(correlation)),
               Error);
  for (float v : correlation) EXPECT_EQ(v, 42.0f);
  try {
    plan.execute(image, image, View<std::complex<float>>(), View<float>());
    FAIL() << "no output was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_INVALID_ARGUMENT);
  }
  try {
    ptychopatch::CorrelatePlan bad(Context(PTP_BACKEND_CPU, 1), correlate_desc(0, 6));
    FAIL() << "height 0 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_INVALID_SIZE);
  }
  ptychopatch::CorrelatePlan moved = std::move(plan);
  EXPECT_FALSE(static_cast<bool>(plan));
  EXPECT_THROW(plan.execute(image, image), Error);
  EXPECT_NO_THROW(moved.execute(image, image));
}
