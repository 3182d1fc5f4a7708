// How GPU calls on host arrays are cut into chunks: plain arithmetic, tested
// on every machine (the GPU tests check that the chunked results are
// identical to the CPU path).
#include <gtest/gtest.h>

#include "core/chunk_plan.hpp"
#include "core/error.hpp"

namespace {

using ptychopatch::impl::ChunkPlan;
using ptychopatch::impl::Error;
using ptychopatch::impl::plan_chunks;

TEST(ChunkPlan, NoWorkNoChunks) {
  const ChunkPlan plan = plan_chunks(100, 10, 5, 0, 2, 1000);
  EXPECT_EQ(plan.num_chunks, 0);
}

TEST(ChunkPlan, EverythingFitsUpToTheTargetSize) {
  // 1000 groups of 1 KiB, plenty of budget, 64 KiB target: 64 groups a chunk.
  const ChunkPlan plan = plan_chunks(1 << 30, 1 << 20, 1024, 1000, 2, 64 << 10);
  EXPECT_EQ(plan.groups_per_chunk, 64);
  EXPECT_EQ(plan.num_chunks, 16);  // ceil(1000 / 64)
}

TEST(ChunkPlan, BudgetLimitsTheChunk) {
  // 100 resident + 2 slots of g groups of 10 bytes <= 175  ->  g = 3.
  const ChunkPlan plan = plan_chunks(175, 100, 10, 10, 2, 1 << 20);
  EXPECT_EQ(plan.groups_per_chunk, 3);
  EXPECT_EQ(plan.num_chunks, 4);
}

TEST(ChunkPlan, ExactlyOneGroupPerSlotIsEnough) {
  const ChunkPlan plan = plan_chunks(120, 100, 10, 7, 2, 1 << 20);
  EXPECT_EQ(plan.groups_per_chunk, 1);
  EXPECT_EQ(plan.num_chunks, 7);
}

TEST(ChunkPlan, FewGroupsMakeOneChunk) {
  const ChunkPlan plan = plan_chunks(1 << 20, 0, 10, 3, 2, 1 << 20);
  EXPECT_EQ(plan.groups_per_chunk, 3);
  EXPECT_EQ(plan.num_chunks, 1);
}

TEST(ChunkPlan, GroupLargerThanTargetStillMakesProgress) {
  const ChunkPlan plan = plan_chunks(1 << 20, 0, 5000, 4, 2, 1000);
  EXPECT_EQ(plan.groups_per_chunk, 1);
  EXPECT_EQ(plan.num_chunks, 4);
}

TEST(ChunkPlan, TooSmallABudgetIsOutOfMemoryWithFigures) {
  for (uint64_t budget : {uint64_t{50}, uint64_t{100}, uint64_t{119}}) {
    try {
      plan_chunks(budget, 100, 10, 5, 2, 1 << 20);
      FAIL() << "budget " << budget << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), PTP_ERROR_OUT_OF_MEMORY);
      EXPECT_NE(std::string(e.what()).find(std::to_string(budget)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
