// How a GPU call on host arrays is cut into chunks of whole groups that fit
// the device memory budget. Plain host arithmetic, so it is tested on every
// machine, GPU or not.
#pragma once

#include <cstdint>

namespace ptychopatch::impl {

struct ChunkPlan {
  int64_t groups_per_chunk = 0;  // >= 1 when there is work
  int64_t num_chunks = 0;
};

// budget:          device bytes the call may allocate;
// resident_bytes:  allocated for the whole call (the object, or the canvas);
// per_group_bytes: device bytes one group occupies in one pipeline slot;
// slots:           pipeline depth (buffers in flight at once);
// target_chunk_bytes: preferred size of one slot, small enough that copies
//                  and compute of consecutive chunks overlap.
// Throws PTP_ERROR_OUT_OF_MEMORY, with the figures, when the resident bytes
// plus one group per slot exceed the budget.
ChunkPlan plan_chunks(uint64_t budget, uint64_t resident_bytes, uint64_t per_group_bytes,
                      int64_t num_groups, int slots, uint64_t target_chunk_bytes);

}  // namespace ptychopatch::impl

namespace ptychopatch::impl {

// The tile-binned reassembly (cuda/tile_bins.cuh) lists, for each canvas
// tile, the patches whose footprint overlaps it, in an area of int32 slots:
// the counts and then starts of the listed tiles (tiles + 1), their fill
// cursors (tiles) and the (tile, patch) list. When the area cannot hold the
// whole canvas's counts and one patch's pairs, the tiles are taken in
// ranges; when it cannot hold every patch's pairs, the patches in chunks.

// The most tiles of `tile` pixels that the canvas footprint of one patch of
// N = n (padding half) can overlap along an axis of `extent` pixels. The
// footprint is the canvas range [i0(0) - half, i0(n - 1) + 1 - half] of the
// patch's taps (math::axis_tap, i0 = floor(fl32(pos + offset))), so n + 1
// pixels when fl32(n - 1 + offset) is exact; its rounding can add up to
// ulp/2, over 1/2 only past 2^24, which a patch that reaches the canvas
// needs an extent of about 2^24 for. Never more than the axis has.
int64_t patch_tile_span(int64_t n, int64_t half, int64_t extent, int64_t tile);

struct BinPlan {
  int64_t tiles_per_range = 0;    // tiles listed at once (>= 1)
  int64_t patches_per_chunk = 0;  // patches binned at once (>= 1 when there are patches)
  int64_t list_capacity = 0;      // slots of the (tile, patch) list
};

// tiles:           tiles of the canvas (>= 1);
// pairs_per_patch: the most tiles one patch overlaps (>= 1; product of two
//                  patch_tile_span);
// area_slots:      int32 slots of the area (>= 4);
// num_patches:     patches of the call (>= 0).
// Prefers the whole canvas in one range; a range's tiles then leave room
// for at least one patch's pairs.
BinPlan plan_bins(int64_t tiles, int64_t pairs_per_patch, int64_t area_slots, int64_t num_patches);

// Slots an area needs to bin `patches` patches in one range of `tiles`.
int64_t bin_area_slots(int64_t tiles, int64_t pairs_per_patch, int64_t patches);

}  // namespace ptychopatch::impl
