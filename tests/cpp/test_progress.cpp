// Progress callbacks and cancellation of extraction, reassembly and grouping
// on the CPU (ptp_extract_set_progress, ptp_group_desc.progress): counts
// start at 0, never decrease and reach the total; a callback that returns
// non-zero gives PTP_ERROR_CANCELLED and leaves the plan usable; results
// with a callback (worked in chunks) are bitwise those without; the older
// ptp_group_desc size is still accepted; the C++ wrapper's set_progress.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "legacy_oracle.hpp"
#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

using test_support::cpu_context;
using test_support::expect_bitwise_equal;
using test_support::random_offsets;

// Records every report; stops (returns 1) once done >= stop_at.
struct Recorder {
  std::vector<std::pair<int64_t, int64_t>> calls;
  int64_t stop_at = -1;

  static int32_t call(int64_t done, int64_t total, void* self) {
    auto* r = static_cast<Recorder*>(self);
    r->calls.emplace_back(done, total);
    return r->stop_at >= 0 && done >= r->stop_at ? 1 : 0;
  }
};

// 0 first, non-decreasing, every total the same, the last equal to it.
void expect_complete_reports(const Recorder& r, int64_t total) {
  ASSERT_FALSE(r.calls.empty());
  EXPECT_EQ(r.calls.front().first, 0);
  for (size_t i = 0; i < r.calls.size(); ++i) {
    EXPECT_EQ(r.calls[i].second, total) << "report " << i;
    if (i > 0) {
      EXPECT_GE(r.calls[i].first, r.calls[i - 1].first) << "report " << i;
    }
  }
  EXPECT_EQ(r.calls.back().first, total);
}

ptp_extract_desc extract_desc(int64_t h, int64_t w, int64_t n, int64_t c, ptp_layout layout) {
  ptp_extract_desc d;
  ptychopatch::check(ptp_extract_desc_init(&d, sizeof d));
  d.height = h;
  d.width = w;
  d.patch_size = n;
  d.group_size = c;
  d.layout = layout;
  return d;
}

struct Plan {
  ptp_extract_plan* p = nullptr;
  Plan(const ptychopatch::Context& ctx, const ptp_extract_desc& d) {
    ptychopatch::check(ptp_extract_plan_create(ctx.get(), &d, &p));
  }
  ~Plan() { ptp_extract_plan_destroy(p); }
};

TEST(ExtractProgress, ReportsGoFromZeroToTotalAndChangeNoBit) {
  for (const ptp_layout layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
    const int64_t groups = 3000, c = 4, patches = groups * c;
    const auto obj = oracle::random_image(96, 80, 2, 1);
    const auto xy = random_offsets(patches, -10, 90, -10, 106, 2);
    const auto ctx = cpu_context(2);
    const auto desc = extract_desc(96, 80, 12, c, layout);
    Plan plan(ctx, desc);
    size_t bytes = 0;
    ptychopatch::check(ptp_extract_output_bytes(&desc, patches, &bytes));
    std::vector<float> plain(bytes / 4), reported(bytes / 4, -1.0f);
    ptychopatch::check(
        ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, plain.data(), bytes));
    Recorder r;
    ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
    ptychopatch::check(
        ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, reported.data(), bytes));
    expect_complete_reports(r, patches);
    // About 100 chunks, each of whole groups.
    EXPECT_GE(r.calls.size(), 50u);
    for (const auto& call : r.calls) EXPECT_EQ(call.first % c, 0) << call.first;
    expect_bitwise_equal(reported, plain);
  }
}

TEST(ExtractProgress, LegacyFormReportsToo) {
  const int64_t groups = 500, c = 4;
  const auto obj = oracle::random_image(64, 64, 2, 3);
  const auto global = random_offsets(groups, 0, 64, 0, 64, 4);
  const auto local = random_offsets(groups * c, -3, 3, -3, 3, 5);
  const auto ctx = cpu_context(2);
  const auto desc = extract_desc(64, 64, 8, c, PTP_LAYOUT_CHANNEL);
  Plan plan(ctx, desc);
  std::vector<float> out(groups * c * 8 * 8 * 2);
  Recorder r;
  ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
  ptychopatch::check(ptp_extract_execute_legacy(plan.p, obj.data.data(), global.data(),
                                                local.data(), groups, out.data(), out.size() * 4));
  expect_complete_reports(r, groups * c);
}

TEST(ExtractProgress, NoPatchesReportsZeroOfZero) {
  const auto ctx = cpu_context(1);
  const auto desc = extract_desc(8, 8, 4, 1, PTP_LAYOUT_FLAT);
  Plan plan(ctx, desc);
  const std::vector<float> obj(8 * 8 * 2, 1.0f);
  Recorder r;
  ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
  ptychopatch::check(ptp_extract_execute(plan.p, obj.data(), nullptr, 0, nullptr, 0));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0], std::make_pair(int64_t{0}, int64_t{0}));
}

TEST(ExtractProgress, CancelStopsTheCallAndThePlanStaysUsable) {
  const int64_t patches = 4000;
  const auto obj = oracle::random_image(64, 64, 2, 6);
  const auto xy = random_offsets(patches, 0, 64, 0, 64, 7);
  const auto ctx = cpu_context(2);
  const auto desc = extract_desc(64, 64, 16, 1, PTP_LAYOUT_FLAT);
  Plan plan(ctx, desc);
  std::vector<float> want(patches * 16 * 16 * 2), got(want.size());
  ptychopatch::check(ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, want.data(),
                                         want.size() * 4));
  for (const int64_t stop_at : {int64_t{0}, int64_t{1}, patches}) {
    Recorder r;
    r.stop_at = stop_at;
    ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
    EXPECT_EQ(ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, got.data(),
                                  got.size() * 4),
              PTP_ERROR_CANCELLED);
    EXPECT_NE(std::string(ptp_last_error_message()).find("progress callback stopped"),
              std::string::npos)
        << ptp_last_error_message();
    // Stopped at the first report at or past stop_at: nothing after it.
    ASSERT_FALSE(r.calls.empty());
    EXPECT_GE(r.calls.back().first, stop_at);
    if (stop_at == 0) {
      EXPECT_EQ(r.calls.size(), 1u);
    }
    if (stop_at == 1) {
      EXPECT_LT(r.calls.back().first, patches);
    }
  }
  // The same plan, callback removed, and with one that goes on.
  ptychopatch::check(ptp_extract_set_progress(plan.p, nullptr, nullptr));
  ptychopatch::check(
      ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, got.data(), got.size() * 4));
  expect_bitwise_equal(got, want);
  Recorder r;
  ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
  std::fill(got.begin(), got.end(), 0.0f);
  ptychopatch::check(
      ptp_extract_execute(plan.p, obj.data.data(), xy.data(), patches, got.data(), got.size() * 4));
  expect_bitwise_equal(got, want);
  EXPECT_EQ(ptp_extract_set_progress(nullptr, &Recorder::call, &r), PTP_ERROR_INVALID_ARGUMENT);
}

// Reassembly worked in chunks of patches adds every pixel's terms in the
// same order as one pass: bitwise equal, for chunks of 1, 2, 3, ... groups
// (the chunk is about 1/100 of the call) and any thread count.
TEST(ReassembleProgress, ChunkedIsBitwiseUnchunked) {
  for (const int lanes : {1, 2})
    for (const int64_t groups : {int64_t{7}, int64_t{150}, int64_t{333}, int64_t{2000}})
      for (const int32_t threads : {1, 2, 3}) {
        const int64_t c = 2, patches = groups * c, n = 9;
        const auto ctx = cpu_context(threads);
        auto desc = extract_desc(41, 37, n, c, PTP_LAYOUT_CHANNEL);
        desc.object_dtype = lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
        Plan plan(ctx, desc);
        // Overlapping patches, some across the borders: many terms a pixel.
        const auto xy = random_offsets(patches, -6, 43, -6, 47, 8);
        const auto values = oracle::random_image(patches * n, n, lanes, 9).data;
        std::vector<float> canvas(41 * 37 * lanes, -1.0f), weights(41 * 37, -1.0f);
        std::vector<float> canvas2(canvas.size(), -2.0f), weights2(weights.size(), -2.0f);
        ptychopatch::check(ptp_reassemble_execute(plan.p, values.data(), xy.data(), patches,
                                                  canvas.data(), canvas.size() * 4, weights.data(),
                                                  weights.size() * 4));
        Recorder r;
        ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
        ptychopatch::check(ptp_reassemble_execute(plan.p, values.data(), xy.data(), patches,
                                                  canvas2.data(), canvas2.size() * 4,
                                                  weights2.data(), weights2.size() * 4));
        expect_complete_reports(r, patches);
        EXPECT_GE(r.calls.size(), static_cast<size_t>(std::min<int64_t>(groups, 50)));
        expect_bitwise_equal(canvas2, canvas, "canvas");
        expect_bitwise_equal(weights2, weights, "weights");
      }
}

TEST(ReassembleProgress, CancelThenTheSamePlanGivesTheWholeResult) {
  const int64_t patches = 3000, n = 8;
  const auto ctx = cpu_context(2);
  const auto desc = extract_desc(50, 50, n, 1, PTP_LAYOUT_FLAT);
  Plan plan(ctx, desc);
  const auto xy = random_offsets(patches, 0, 50, 0, 50, 10);
  const auto values = oracle::random_image(patches * n, n, 2, 11).data;
  std::vector<float> want(50 * 50 * 2), got(want.size());
  ptychopatch::check(ptp_reassemble_execute(plan.p, values.data(), xy.data(), patches, want.data(),
                                            want.size() * 4, nullptr, 0));
  Recorder r;
  r.stop_at = patches / 2;
  ptychopatch::check(ptp_extract_set_progress(plan.p, &Recorder::call, &r));
  EXPECT_EQ(ptp_reassemble_execute(plan.p, values.data(), xy.data(), patches, got.data(),
                                   got.size() * 4, nullptr, 0),
            PTP_ERROR_CANCELLED);
  EXPECT_LT(r.calls.back().first, patches);
  r.stop_at = -1;
  r.calls.clear();
  ptychopatch::check(ptp_reassemble_execute(plan.p, values.data(), xy.data(), patches, got.data(),
                                            got.size() * 4, nullptr, 0));
  expect_complete_reports(r, patches);
  expect_bitwise_equal(got, want, "canvas");
}

// ------------------------------------------------------------- grouping

std::pair<std::vector<double>, std::vector<double>> positions(int64_t n, uint32_t seed) {
  const auto xy = random_offsets(n, 0, 1000, 0, 1000, seed);
  std::vector<double> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = xy[2 * i];
    y[i] = xy[2 * i + 1];
  }
  return {x, y};
}

ptp_group_desc group_desc(int64_t samples) {
  ptp_group_desc d;
  ptychopatch::check(ptp_group_desc_init(&d, sizeof d));
  d.num_samples = samples;
  d.num_neighbors = 8;
  d.group_size = 4;
  d.seed = 42;
  return d;
}

TEST(GroupProgress, ReportsGroupsAndChangesNoResult) {
  const int64_t n = 60000, b = 50000;
  const auto [x, y] = positions(n, 12);
  const auto ctx = cpu_context(2);
  for (const int32_t c : {1, 4}) {
    auto desc = group_desc(b);
    desc.group_size = c;
    std::vector<int64_t> want(b * c), got(b * c);
    std::vector<double> rel_want(b * 2 * c), rel_got(b * 2 * c);
    ptychopatch::check(ptp_group_neighbors(ctx.get(), &desc, x.data(), y.data(), n, want.data(),
                                           nullptr, nullptr, rel_want.data()));
    Recorder r;
    desc.progress = &Recorder::call;
    desc.progress_user_data = &r;
    ptychopatch::check(ptp_group_neighbors(ctx.get(), &desc, x.data(), y.data(), n, got.data(),
                                           nullptr, nullptr, rel_got.data()));
    expect_complete_reports(r, b);
    if (c > 1) {
      EXPECT_GE(r.calls.size(), 50u);  // chunks of the search (n / 512 tasks)
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(rel_got, rel_want);
  }
}

TEST(GroupProgress, CancelLeavesTheContextUsable) {
  const int64_t n = 30000, b = 30000;
  const auto [x, y] = positions(n, 13);
  const auto ctx = cpu_context(2);
  auto desc = group_desc(b);
  std::vector<int64_t> want(b * 4), got(b * 4);
  ptychopatch::check(ptp_group_neighbors(ctx.get(), &desc, x.data(), y.data(), n, want.data(),
                                         nullptr, nullptr, nullptr));
  Recorder r;
  r.stop_at = 1;
  desc.progress = &Recorder::call;
  desc.progress_user_data = &r;
  EXPECT_EQ(ptp_group_neighbors(ctx.get(), &desc, x.data(), y.data(), n, got.data(), nullptr,
                                nullptr, nullptr),
            PTP_ERROR_CANCELLED);
  EXPECT_LT(r.calls.back().first, b);
  desc.progress = nullptr;
  ptychopatch::check(ptp_group_neighbors(ctx.get(), &desc, x.data(), y.data(), n, got.data(),
                                         nullptr, nullptr, nullptr));
  EXPECT_EQ(got, want);
}

TEST(GroupProgress, GroupedPatchesCountsGroupsThenPatchesInOneCount) {
  const int64_t n = 20000, b = 8000, c = 4, patch = 8;
  const auto [x, y] = positions(n, 14);
  const auto obj = oracle::random_image(1000, 1000, 2, 15);
  const auto ctx = cpu_context(2);
  auto desc = group_desc(b);
  auto extract = extract_desc(1000, 1000, patch, c, PTP_LAYOUT_CHANNEL);
  std::vector<int64_t> idx(b * c), idx2(b * c);
  std::vector<float> want(b * c * patch * patch * 2), got(want.size());
  ptychopatch::check(ptp_grouped_patches(ctx.get(), &desc, &extract, obj.data.data(), x.data(),
                                         y.data(), n, idx.data(), nullptr, nullptr, nullptr,
                                         want.data(), want.size() * 4));
  Recorder r;
  desc.progress = &Recorder::call;
  desc.progress_user_data = &r;
  ptychopatch::check(ptp_grouped_patches(ctx.get(), &desc, &extract, obj.data.data(), x.data(),
                                         y.data(), n, idx2.data(), nullptr, nullptr, nullptr,
                                         got.data(), got.size() * 4));
  expect_complete_reports(r, b + b * c);
  bool saw_groups_done = false, saw_patches = false;
  for (const auto& call : r.calls) {
    saw_groups_done = saw_groups_done || call.first == b;
    saw_patches = saw_patches || (call.first > b && call.first < b + b * c);
  }
  EXPECT_TRUE(saw_groups_done);
  EXPECT_TRUE(saw_patches);
  EXPECT_EQ(idx2, idx);
  expect_bitwise_equal(got, want);

  // Cancelled in the extraction step, then the same call in full.
  Recorder stop;
  stop.stop_at = b + 1;
  desc.progress_user_data = &stop;
  EXPECT_EQ(ptp_grouped_patches(ctx.get(), &desc, &extract, obj.data.data(), x.data(), y.data(), n,
                                idx2.data(), nullptr, nullptr, nullptr, got.data(), got.size() * 4),
            PTP_ERROR_CANCELLED);
  EXPECT_GT(stop.calls.back().first, b);
  EXPECT_LT(stop.calls.back().first, b + b * c);
  desc.progress = nullptr;
  ptychopatch::check(ptp_grouped_patches(ctx.get(), &desc, &extract, obj.data.data(), x.data(),
                                         y.data(), n, idx2.data(), nullptr, nullptr, nullptr,
                                         got.data(), got.size() * 4));
  expect_bitwise_equal(got, want);
}

// A caller built before the progress fields: 40 bytes, and whatever follows
// them in its memory is never read.
TEST(GroupProgress, TheOlderDescriptorSizeIsStillAccepted) {
  constexpr size_t kOld = 40;
  static_assert(offsetof(ptp_group_desc, progress) == kOld, "the fields were appended");
  ptp_group_desc d;
  std::memset(&d, 0xAB, sizeof d);
  ASSERT_EQ(ptp_group_desc_init(&d, kOld), PTP_SUCCESS);
  EXPECT_EQ(d.struct_size, kOld);
  EXPECT_EQ(d.num_neighbors, 4);
  EXPECT_EQ(d.group_size, 4);
  unsigned char tail[sizeof d - kOld];
  std::memcpy(tail, reinterpret_cast<const unsigned char*>(&d) + kOld, sizeof tail);
  for (unsigned char byte : tail) EXPECT_EQ(byte, 0xAB) << "init wrote past the older struct";
  // The bytes after it (0xAB...) would be a callback if they were read.
  d.num_samples = 10;
  const auto [x, y] = positions(50, 16);
  std::vector<int64_t> idx(40);
  EXPECT_EQ(ptp_group_neighbors(nullptr, &d, x.data(), y.data(), 50, idx.data(), nullptr, nullptr,
                                nullptr),
            PTP_SUCCESS)
      << ptp_last_error_message();
  d.struct_size = kOld + 8;
  EXPECT_EQ(ptp_group_neighbors(nullptr, &d, x.data(), y.data(), 50, idx.data(), nullptr, nullptr,
                                nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
}

// ------------------------------------------------------------ C++ wrapper

TEST(CppWrapperProgress, SetProgressStopsAndRethrows) {
  using Plan = ptychopatch::ExtractPlan<float>;
  Plan plan(cpu_context(2), 64, 64, 8);
  const std::vector<float> object(64 * 64, 1.0f);
  const auto xy = random_offsets(5000, 0, 64, 0, 64, 17);
  std::vector<std::pair<int64_t, int64_t>> seen;
  plan.set_progress([&](int64_t done, int64_t total) {
    seen.emplace_back(done, total);
    return true;
  });
  const auto whole = plan.execute(object, xy);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().first, 0);
  EXPECT_EQ(seen.back(), std::make_pair(int64_t{5000}, int64_t{5000}));

  plan.set_progress([](int64_t done, int64_t) { return done < 100; });
  try {
    plan.execute(object, xy);
    ADD_FAILURE() << "not stopped";
  } catch (const ptychopatch::Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_CANCELLED);
  }
  try {
    plan.reassemble(whole, xy);
    ADD_FAILURE() << "not stopped";
  } catch (const ptychopatch::Error& e) {
    EXPECT_EQ(e.status(), PTP_ERROR_CANCELLED);
  }
  plan.set_progress([](int64_t done, int64_t) -> bool {
    if (done > 0) throw std::runtime_error("from the callback");
    return true;
  });
  EXPECT_THROW(
      {
        try {
          plan.execute(object, xy);
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "from the callback");
          throw;
        }
      },
      std::runtime_error);
  plan.set_progress(nullptr);
  EXPECT_EQ(plan.execute(object, xy), whole);
  // A moved plan keeps its callback.
  int calls = 0;
  plan.set_progress([&](int64_t, int64_t) { return ++calls > 0; });
  Plan moved = std::move(plan);
  EXPECT_EQ(moved.execute(object, xy), whole);
  EXPECT_GT(calls, 1);
}

}  // namespace
