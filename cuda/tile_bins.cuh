// The tile bins of the reassembly gather (reassemble_kernel.cuh): for each
// canvas tile of a range, the patches of a chunk whose canvas footprint
// overlaps it, each (tile, patch) pair listed once, ascending in patch
// order within the tile, so that a tile walks only its own patches, in the
// order its sums need (the CPU's).
//
// Four steps, plain stream work (no host wait, no allocation: capturable):
//   1. count: one thread per patch adds 1 (atomicAdd: integer counts do not
//      depend on the order) to each tile of its footprint;
//   2. scan: one block turns the counts into exclusive starts, in place,
//      and copies them to the fill cursors;
//   3. fill: one thread per patch claims a slot of each of its tiles with
//      atomicAdd on the tile's cursor, so a tile's slots hold its patches
//      in whatever order the device ran the threads;
//   4. sort: one block per tile sorts its slots ascending. A patch appears
//      once per tile, so the sorted list is unique: whatever order step 3
//      left, the list, and every sum over it, is the same on every run.
// The sort is a bitonic network (compare-exchanges in a fixed pattern,
// barriers between stages) in shared memory for lists of up to
// kSortInShared slots, in place in global memory for longer ones (a tile
// under thousands of patches).
//
// A patch's footprint is the canvas range its taps reach along each axis,
// [i0(0) - half, i0(N - 1) + 1 - half] with i0(pos) = floor(fl32(pos +
// offset)) (math::axis_tap, monotone in pos), clipped to the canvas: every
// pixel that receives a term from the patch lies in it (patch_scatter.hpp),
// so a tile that is not listed receives nothing from the patch. The tile
// rows and columns it covers are at most core/chunk_plan.hpp's
// patch_tile_span each, which sizes the list.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "cuda_support.cuh"
#include "deferred_check.cuh"
#include "launch.cuh"
#include "math/patch_sampling.hpp"

namespace ptychopatch::impl::gpu {

// A tile is one warp wide (coalesced canvas reads and writes, one row tap
// search per warp) and kTileHeight rows tall; one thread per pixel.
constexpr int kTileWidth = 32;
constexpr int kTileHeight = 8;

// The canvas as a grid of tiles, row-major.
struct CanvasTiles {
  int64_t across;  // tiles per tile row
  int64_t count;   // tiles in all
};

inline CanvasTiles canvas_tiles(int64_t height, int64_t width) {
  const int64_t across = (width + kTileWidth - 1) / kTileWidth;
  const int64_t down = (height + kTileHeight - 1) / kTileHeight;
  return CanvasTiles{across, across * down};
}

// The bins of one (tile range, patch chunk): int32 slots of one area.
struct TileBins {
  int64_t first_tile;  // the range: tiles [first_tile, first_tile + tiles)
  int64_t tiles;
  int* starts;   // [tiles + 1]: counts, then the list's start of each tile and the end
  int* cursors;  // [tiles]: fill positions
  int* list;     // [capacity]: patches, relative to the chunk's first
  int64_t capacity;
};

// The tiles a patch's footprint overlaps: rows row0..row1 and columns
// col0..col1 of the tile grid, inclusive; empty when it misses the canvas.
struct TileRect {
  int64_t row0, row1, col0, col1;
  bool empty;
};

__device__ __forceinline__ TileRect patch_tiles(const ExtractGeometry& g, float ox, float oy) {
  // i0 is clamped to +-2^62 (axis_tap), so these never overflow.
  const int64_t top = math::axis_tap(0, oy).index0 - g.half;
  const int64_t bottom = math::axis_tap(g.n - 1, oy).index0 + 1 - g.half;
  const int64_t left = math::axis_tap(0, ox).index0 - g.half;
  const int64_t right = math::axis_tap(g.n - 1, ox).index0 + 1 - g.half;
  TileRect rect{0, -1, 0, -1, true};
  const int64_t r0 = top < 0 ? 0 : top;
  const int64_t r1 = bottom > g.height - 1 ? g.height - 1 : bottom;
  const int64_t c0 = left < 0 ? 0 : left;
  const int64_t c1 = right > g.width - 1 ? g.width - 1 : right;
  if (r0 > r1 || c0 > c1) return rect;
  rect.row0 = r0 / kTileHeight;
  rect.row1 = r1 / kTileHeight;
  rect.col0 = c0 / kTileWidth;
  rect.col1 = c1 / kTileWidth;
  rect.empty = false;
  return rect;
}

// Calls visit(tile - first) for each tile of `rect` in [first, end), in
// ascending tile order.
template <class Visit>
__device__ __forceinline__ void for_each_tile(const TileRect& rect, CanvasTiles tiles,
                                              int64_t first, int64_t end, Visit&& visit) {
  if (rect.empty) return;
  const int64_t row_begin = rect.row0 > first / tiles.across ? rect.row0 : first / tiles.across;
  const int64_t row_last =
      rect.row1 < (end - 1) / tiles.across ? rect.row1 : (end - 1) / tiles.across;
  for (int64_t row = row_begin; row <= row_last; ++row) {
    const int64_t lo = row * tiles.across + rect.col0;
    const int64_t hi = row * tiles.across + rect.col1;
    for (int64_t t = lo < first ? first : lo; t <= hi && t < end; ++t) visit(t - first);
  }
}

// Whether the call's offsets were rejected by the check kernel, without
// recording it (the gather kernel records it, once per call).
__device__ __forceinline__ bool offsets_rejected(const DeferredCheck* check) {
  return check != nullptr &&
         *static_cast<const volatile unsigned long long*>(&check->call_first_bad) != kNoBadOffset;
}

// Steps 1 (kFill false: count each tile's pairs) and 3 (kFill true: list
// them) for patches [first_patch, first_patch + count) of `offsets`.
template <bool kFill, class Offsets>
__global__ void visit_tile_patches_kernel(ExtractGeometry g, Offsets offsets, int64_t first_patch,
                                          int64_t count, CanvasTiles tiles, TileBins bins,
                                          const DeferredCheck* check) {
  if (offsets_rejected(check)) return;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    float ox = 0.0f;
    float oy = 0.0f;
    offsets.get(first_patch + i, ox, oy);
    for_each_tile(patch_tiles(g, ox, oy), tiles, bins.first_tile, bins.first_tile + bins.tiles,
                  [&](int64_t t) {
                    if (!kFill) {
                      atomicAdd(&bins.starts[t], 1);
                      return;
                    }
                    const int slot = atomicAdd(&bins.cursors[t], 1);
                    // Always true: the capacity holds every pair (plan_bins).
                    if (slot < bins.capacity) bins.list[slot] = static_cast<int>(i);
                  });
  }
}

// Step 2, one block of kScanThreads: thread t sums a contiguous run of
// counts, thread 0 turns the run sums into starts, and each thread writes
// its run's starts (tile_bins.cu).
constexpr int kScanThreads = 256;
__global__ void scan_tile_counts_kernel(TileBins bins);

// Step 4, kSortThreads a block, a block per tile (grid-stride): sorts each
// tile's slots ascending, in shared memory when they number at most
// kSortInShared, else in place (tile_bins.cu).
constexpr int kSortThreads = 256;
constexpr int kSortInShared = 2048;
__global__ void sort_tile_patches_kernel(TileBins bins);

// Enqueues steps 1-4 on `stream` for patches [first_patch, first_patch +
// count) and the tiles of `bins`' range. `check`: the device-array call's
// offset flag, or nullptr (host arrays).
template <class Offsets>
void bin_tile_patches(const ExtractGeometry& g, const Offsets& offsets, int64_t first_patch,
                      int64_t count, CanvasTiles tiles, const TileBins& bins, cudaStream_t stream,
                      const DeferredCheck* check) {
  constexpr int kThreads = 256;
  const dim3 patch_grid(grid_blocks(count, kThreads));
  check_cuda(cudaMemsetAsync(bins.starts, 0, (bins.tiles + 1) * sizeof(int), stream),
             "clearing the tile counts");
  check_cuda(launch_kernel(&visit_tile_patches_kernel<false, Offsets>, patch_grid, dim3(kThreads),
                           0, stream, g, offsets, first_patch, count, tiles, bins, check),
             "launching the tile count kernel");
  check_cuda(launch_kernel(&scan_tile_counts_kernel, dim3(1), dim3(kScanThreads), 0, stream, bins),
             "launching the tile scan kernel");
  check_cuda(launch_kernel(&visit_tile_patches_kernel<true, Offsets>, patch_grid, dim3(kThreads), 0,
                           stream, g, offsets, first_patch, count, tiles, bins, check),
             "launching the tile fill kernel");
  const dim3 tile_grid(static_cast<unsigned>(bins.tiles < 0x7fffffff ? bins.tiles : 0x7fffffff));
  check_cuda(
      launch_kernel(&sort_tile_patches_kernel, tile_grid, dim3(kSortThreads), 0, stream, bins),
      "launching the tile sort kernel");
}

}  // namespace ptychopatch::impl::gpu
