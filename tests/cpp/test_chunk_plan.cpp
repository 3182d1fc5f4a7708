// How GPU calls on host arrays are cut into chunks: plain arithmetic, tested
// on every machine (the GPU tests check that the chunked results are
// identical to the CPU path).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "core/chunk_plan.hpp"
#include "core/error.hpp"
#include "math/patch_sampling.hpp"

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

// The tile bins of reassembly (cuda/tile_bins.cuh): the list is sized from
// patch_tile_span, so it must bound the footprint of every patch that
// reaches the canvas, float rounding included; here against the taps
// themselves.
namespace bins {

using ptychopatch::impl::bin_area_slots;
using ptychopatch::impl::BinPlan;
using ptychopatch::impl::patch_tile_span;
using ptychopatch::impl::plan_bins;

// Tiles of `tile` pixels that a patch at `offset` overlaps on an axis of
// `extent` pixels: its canvas footprint [i0(0) - half, i0(n - 1) + 1 - half]
// clipped to [0, extent).
int64_t tiles_overlapped(int64_t n, float offset, int64_t extent, int64_t tile) {
  const int64_t half = n / 2;
  const int64_t lo = std::max<int64_t>(0, ptychopatch::math::axis_tap(0, offset).index0 - half);
  const int64_t hi =
      std::min<int64_t>(extent - 1, ptychopatch::math::axis_tap(n - 1, offset).index0 + 1 - half);
  return lo > hi ? 0 : hi / tile - lo / tile + 1;
}

TEST(TileBinPlan, SpanBoundsEveryFootprintFloatRoundingIncluded) {
  std::mt19937 rng(5);
  for (int64_t n : {1, 2, 3, 8, 17, 64, 65, 511}) {
    for (int64_t extent : {int64_t{1}, int64_t{45}, int64_t{1024}, int64_t{1} << 24,
                           (int64_t{1} << 25) + 3, int64_t{1} << 27}) {
      for (int64_t tile : {8, 32}) {
        const int64_t bound = patch_tile_span(n, n / 2, extent, tile);
        EXPECT_LE(bound, (extent + tile - 1) / tile);
        int64_t widest = 0;
        // Offsets just below integers (fl32(pos + offset) rounds up, which
        // widens the footprint by one pixel), at every alignment to the
        // tiles, and near the far edge where float spacing reaches 2..8.
        std::uniform_int_distribution<int64_t> cell(-n - 2, extent + n / 2 + 2);
        for (int i = 0; i < 4000; ++i) {
          const int64_t m = i < 64 ? i - 1 : i < 128 ? extent - (i - 64) : cell(rng);
          for (float offset : {static_cast<float>(m), std::nextafter(static_cast<float>(m), -1e30f),
                               static_cast<float>(m) + 0.99999994f, static_cast<float>(m) + 0.5f}) {
            const int64_t got = tiles_overlapped(n, offset, extent, tile);
            widest = std::max(widest, got);
            ASSERT_LE(got, bound) << "n " << n << ", extent " << extent << ", tile " << tile
                                  << ", offset " << offset;
          }
        }
        // The bound is reached (tight) on small canvases.
        if (extent <= 1024 && n <= 64) {
          EXPECT_EQ(widest, bound) << n << " " << extent << " " << tile;
        }
      }
    }
  }
  // PtychoPINN's patches (64, on a 1,024 canvas): 65 pixels, 66 with a
  // rounded-up sample, so 3 or 4 tiles of 32 and 9 or 10 of 8.
  EXPECT_EQ(patch_tile_span(64, 32, 1024, 32), 4);
  EXPECT_EQ(patch_tile_span(64, 32, 1024, 8), 10);
}

TEST(TileBinPlan, PlanHoldsTheWholeCanvasWhenTheAreaAllows) {
  // 4,096 tiles, 40 pairs a patch, 8 MiB: one range, 52,224 patches a chunk.
  const BinPlan plan = plan_bins(4096, 40, (8 << 20) / 4, 200000);
  EXPECT_EQ(plan.tiles_per_range, 4096);
  EXPECT_EQ(plan.list_capacity, (8 << 20) / 4 - 2 * 4096 - 1);
  EXPECT_EQ(plan.patches_per_chunk, plan.list_capacity / 40);
  // Fewer patches than fit: one chunk of them all.
  EXPECT_EQ(plan_bins(4096, 40, (8 << 20) / 4, 20000).patches_per_chunk, 20000);
  EXPECT_EQ(plan_bins(4096, 40, (8 << 20) / 4, 0).patches_per_chunk, 0);
  // bin_area_slots is what a one-chunk plan needs, to the slot.
  const int64_t slots = bin_area_slots(4096, 40, 20000);
  EXPECT_EQ(plan_bins(4096, 40, slots, 20000).patches_per_chunk, 20000);
  EXPECT_EQ(plan_bins(4096, 40, slots - 1, 20000).patches_per_chunk, 19999);
}

TEST(TileBinPlan, SmallAreasMakeRangesAndChunksThatStillProgress) {
  for (int64_t area : {4, 5, 7, 100, 256, 1000, 12289}) {
    for (int64_t tiles : {1, 2, 3, 760, 4096}) {
      for (int64_t pairs : {1, 4, 40, 5000}) {
        const BinPlan plan = plan_bins(tiles, pairs, area, 1000);
        SCOPED_TRACE(testing::Message() << area << " slots, " << tiles << " tiles, " << pairs);
        ASSERT_GE(plan.tiles_per_range, 1);
        ASSERT_LE(plan.tiles_per_range, tiles);
        ASSERT_GE(plan.patches_per_chunk, 1);
        // Starts, cursors and the list fit the area, and the list holds
        // every pair of a chunk.
        ASSERT_LE(2 * plan.tiles_per_range + 1 + plan.list_capacity, area);
        ASSERT_GE(plan.list_capacity,
                  plan.patches_per_chunk * std::min(pairs, plan.tiles_per_range));
      }
    }
  }
}

}  // namespace bins

}  // namespace
