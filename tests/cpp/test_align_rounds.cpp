// The default alignment (PTP_ALIGN_VERIFY_REFINE) in several rounds of
// correlations and fine stage (align_plan.cpp, run_and_verify):
// the same results bit for bit as one round, progress once per frame in
// frame order, and a stop in a later round keeping exactly the frames
// reported; and the gate, frames side by side, the same results on every
// thread count. A round holds about 2^25 sensor pixels, so small frames would
// never see a second one: the test sets the plan's round size, an
// internal field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"
#include "align_oracle_support.hpp"
#include "ptychopatch.h"
#include "test_support.hpp"

namespace {

constexpr double kSentinel = -12345.0;
constexpr int64_t kSide = 64;
// Crops of zero and of a few pixels on each axis.
constexpr size_t kFlat = 2;  // frames[kFlat] is made flat
const std::vector<std::pair<int64_t, int64_t>> kMoves = {{0, 0},  {2, -4}, {-6, 2}, {4, 4},
                                                         {0, -2}, {-2, 6}, {8, 0}};

// A side x side frame of `field` (as large) whose content moved by (ty, tx).
std::vector<uint16_t> frame(const std::vector<double>& field, int64_t ty, int64_t tx,
                            int64_t side = kSide) {
  std::vector<uint16_t> out(static_cast<size_t>(side * side));
  for (int64_t i = 0; i < side; ++i)
    for (int64_t j = 0; j < side; ++j)
      out[i * side + j] = static_cast<uint16_t>(
          std::lround(1000.0 + 3000.0 * naive::translated(field, side, side, i, j, ty, tx)));
  return out;
}

// The default alignment plan's descriptor for side x side RGGB frames.
ptp_align_desc bayer_desc(int64_t side) {
  ptp_align_desc d;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.height = d.width = side;
  d.frame_dtype = PTP_DTYPE_UINT16;
  d.cfa = PTP_CFA_BAYER;
  const int32_t rggb[4] = {0, 1, 3, 2};
  std::memcpy(d.pattern, rggb, sizeof rggb);
  return d;
}

struct Recorder {
  std::vector<int64_t> done;
  int64_t stop_at = -1;
};

int32_t record(int64_t done, int64_t total, void* user) {
  auto* r = static_cast<Recorder*>(user);
  EXPECT_EQ(total, static_cast<int64_t>(kMoves.size()));
  r->done.push_back(done);
  return done == r->stop_at ? 1 : 0;
}

struct Calls {
  ptp_status status = PTP_SUCCESS;
  std::vector<double> shifts, plane_shifts, confidence;
  std::vector<ptp_align_result> results;
  std::vector<int64_t> reports;
};

class AlignRounds : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<double> field = naive::smooth_field(kSide, kSide, 7, 3);
    reference_ = frame(field, 0, 0);
    for (const auto& [ty, tx] : kMoves) frames_.push_back(frame(field, ty, tx));
    // A flat frame: no shift (PTP_ERROR_NO_INFORMATION) after the
    // correlations, yet reported like the others (the fuzzer found a stop
    // that came one report late when it was not).
    std::fill(frames_[kFlat].begin(), frames_[kFlat].end(), uint16_t{2000});
    for (const auto& f : frames_) pointers_.push_back(f.data());
    ptp_context_options o;
    ptp_context_options_init(&o, sizeof o);
    o.backend = PTP_BACKEND_CPU;
    o.num_threads = 2;
    ASSERT_EQ(ptp_context_create(&o, &ctx_), PTP_SUCCESS);
    const ptp_align_desc d = bayer_desc(kSide);
    ASSERT_EQ(d.verify, PTP_ALIGN_VERIFY_REFINE);  // the default, whose loop goes in rounds
    ASSERT_EQ(ptp_align_plan_create(ctx_, &d, &plan_), PTP_SUCCESS) << ptp_last_error_message();
    ASSERT_EQ(ptp_align_plan_num_planes(plan_, &planes_), PTP_SUCCESS);
    ASSERT_EQ(ptp_align_set_reference(plan_, reference_.data()), PTP_SUCCESS);
  }
  void TearDown() override {
    ptp_align_plan_destroy(plan_);
    ptp_context_destroy(ctx_);
  }

  // ptp_align_execute and ptp_align_execute_frames with rounds of `round`
  // frames (0: the plan's own), stopped by the callback at `stop_at`.
  Calls run(int64_t round, int64_t stop_at = -1) {
    plan_->frames_per_round = round;
    const auto n = static_cast<int64_t>(frames_.size());
    Calls r;
    r.shifts.assign(static_cast<size_t>(2 * n), kSentinel);
    r.plane_shifts.assign(static_cast<size_t>(2 * n * planes_), kSentinel);
    r.confidence.assign(static_cast<size_t>(n), kSentinel);
    Recorder recorder;
    recorder.stop_at = stop_at;
    EXPECT_EQ(ptp_align_set_progress(plan_, record, &recorder), PTP_SUCCESS);
    r.status = ptp_align_execute(plan_, pointers_.data(), n, r.shifts.data(), r.plane_shifts.data(),
                                 r.confidence.data());
    r.reports = recorder.done;
    recorder.done.clear();
    r.results.resize(static_cast<size_t>(n));
    const ptp_status again =
        ptp_align_execute_frames(plan_, pointers_.data(), n, r.results.data(), nullptr);
    EXPECT_EQ(again, r.status);
    EXPECT_EQ(recorder.done, r.reports);
    EXPECT_EQ(ptp_align_set_progress(plan_, nullptr, nullptr), PTP_SUCCESS);
    plan_->frames_per_round = 0;
    return r;
  }

  std::vector<uint16_t> reference_;
  std::vector<std::vector<uint16_t>> frames_;
  std::vector<const void*> pointers_;
  ptp_context* ctx_ = nullptr;
  ptp_align_plan* plan_ = nullptr;
  int64_t planes_ = 0;
};

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST_F(AlignRounds, ResultsDoNotDependOnTheRounds) {
  const Calls whole = run(0);
  ASSERT_EQ(whole.status, PTP_SUCCESS);
  for (size_t k = 0; k < kMoves.size(); ++k) {
    if (k == kFlat) {
      EXPECT_EQ(whole.results[k].status, PTP_ERROR_NO_INFORMATION);
      continue;
    }
    // The content moved by (ty, tx): the shift that registers it is minus that.
    EXPECT_EQ(whole.results[k].crop[0], -kMoves[k].first) << k;
    EXPECT_EQ(whole.results[k].crop[1], -kMoves[k].second) << k;
  }
  const std::vector<int64_t> in_order = {1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(whole.reports, in_order);
  for (int64_t round : {1, 2, 3}) {
    const Calls r = run(round);
    ASSERT_EQ(r.status, PTP_SUCCESS) << round;
    EXPECT_EQ(r.reports, in_order) << round;
    for (size_t i = 0; i < whole.shifts.size(); ++i)
      EXPECT_TRUE(same_bits(r.shifts[i], whole.shifts[i])) << round << " " << i;
    for (size_t i = 0; i < whole.plane_shifts.size(); ++i)
      EXPECT_TRUE(same_bits(r.plane_shifts[i], whole.plane_shifts[i])) << round << " " << i;
    for (size_t k = 0; k < whole.confidence.size(); ++k) {
      EXPECT_TRUE(same_bits(r.confidence[k], whole.confidence[k])) << round << " " << k;
      EXPECT_TRUE(same_bits(r.results[k].confidence, whole.results[k].confidence)) << k;
    }
  }
}

TEST_F(AlignRounds, AStopKeepsExactlyTheFramesReported) {
  const Calls whole = run(0);
  ASSERT_EQ(whole.status, PTP_SUCCESS);
  // Stops in the first round, at a round's end, at the flat frame and
  // inside a later round.
  for (int64_t stop_at : {1, 2, 3, 4, 6})
    for (int64_t round : {2, 3}) {
      const Calls r = run(round, stop_at);
      ASSERT_EQ(r.status, PTP_ERROR_CANCELLED) << stop_at << " " << round;
      ASSERT_EQ(static_cast<int64_t>(r.reports.size()), stop_at);
      for (int64_t k = 0; k < static_cast<int64_t>(kMoves.size()); ++k) {
        const bool kept = k < stop_at;
        EXPECT_EQ(r.results[k].status, kept ? whole.results[k].status : PTP_ERROR_CANCELLED) << k;
        for (int a = 0; a < 2; ++a)
          EXPECT_TRUE(same_bits(r.shifts[2 * k + a], kept ? whole.shifts[2 * k + a] : kSentinel))
              << "frame " << k << ", stop " << stop_at << ", rounds of " << round;
        EXPECT_TRUE(same_bits(r.confidence[k], kept ? whole.confidence[k] : kSentinel)) << k;
        // A frame's plane-shift row: its result, or the caller's untouched.
        for (int64_t p = 0; p < 2 * planes_; ++p)
          EXPECT_TRUE(same_bits(r.plane_shifts[2 * k * planes_ + p],
                                kept ? whole.plane_shifts[2 * k * planes_ + p] : kSentinel))
              << k << " " << p;
      }
    }
}

// The gate (the quick polish and the search over every shift) takes the
// frames of a round side by side, each thread in its own slot of the
// verifier: on one, two and four threads every result is the same bit for
// bit, flags too. (Frames of 256 pixels, so that the gates of two frames
// overlap in time: with one slot shared by every thread, this failed.)
TEST(AlignGate, EveryThreadCountGivesTheSameResults) {
  constexpr int64_t side = 256;
  const std::vector<double> field = naive::smooth_field(side, side, 11, 2);
  const std::vector<uint16_t> reference = frame(field, 0, 0, side);
  std::vector<std::vector<uint16_t>> frames;
  std::vector<const void*> pointers;
  for (int k = 0; k < 8; ++k)
    frames.push_back(frame(field, 2 * (k % 3) - 2, 4 - 2 * (k % 4), side));
  for (const auto& f : frames) pointers.push_back(f.data());
  const auto n = static_cast<int64_t>(frames.size());
  struct Run {
    std::vector<ptp_align_result> results;
    std::vector<uint32_t> flags;
  };
  const auto run = [&](int32_t threads) {
    const ptychopatch::Context context = test_support::cpu_context(threads);
    const ptp_align_desc d = bayer_desc(side);
    ptp_align_plan* plan = nullptr;
    EXPECT_EQ(ptp_align_plan_create(context.get(), &d, &plan), PTP_SUCCESS)
        << ptp_last_error_message();
    EXPECT_EQ(ptp_align_set_reference(plan, reference.data()), PTP_SUCCESS);
    Run r;
    r.results.resize(static_cast<size_t>(n));
    r.flags.resize(static_cast<size_t>(n));
    EXPECT_EQ(ptp_align_execute_frames_flags(plan, pointers.data(), n, r.results.data(), nullptr,
                                             r.flags.data()),
              PTP_SUCCESS);
    ptp_align_plan_destroy(plan);
    return r;
  };
  const Run one = run(1);
  for (int64_t k = 0; k < n; ++k) {
    ASSERT_EQ(one.results[k].status, PTP_SUCCESS) << k;
    EXPECT_EQ(one.results[k].crop[0], 2 - 2 * (k % 3)) << k;
    EXPECT_EQ(one.results[k].crop[1], 2 * (k % 4) - 4) << k;
  }
  for (int32_t threads : {2, 4}) {
    const Run r = run(threads);
    for (size_t k = 0; k < r.results.size(); ++k) {
      EXPECT_EQ(r.results[k].status, one.results[k].status) << threads << " " << k;
      EXPECT_EQ(r.flags[k], one.flags[k]) << threads << " " << k;
      EXPECT_TRUE(same_bits(r.results[k].confidence, one.results[k].confidence))
          << threads << " " << k;
      for (int a = 0; a < 2; ++a) {
        EXPECT_TRUE(same_bits(r.results[k].shift[a], one.results[k].shift[a]))
            << threads << " " << k;
        EXPECT_EQ(r.results[k].crop[a], one.results[k].crop[a]) << threads << " " << k;
      }
    }
  }
}

}  // namespace
