// The reassembly (adjoint) kernel, a gather without global atomics: each
// block owns a tile of the canvas, and each thread one pixel of it, whose
// sums it forms in registers in the CPU's order and writes once (canvas and
// weights). No scheduling enters a sum, so the result is the same on every
// run and bitwise that of the CPU backend (src/cpu/reassemble_cpu.cpp).
//
// The order (the CPU's): a pixel (r, c) adds, starting from +0 (or from the
// value the canvas holds, for the patch chunks after the first of a call),
// the terms of patches p ascending, within a patch its element rows y
// ascending, within a row its columns x ascending. Element (y, x) reaches
// (r, c) when its row tap ty = axis_tap(y, oy) has ty.index0 - half == r
// (row weight ty.w0) or ty.index0 + 1 - half == r (ty.w1), and likewise for
// the columns (tx.w0 / tx.w1); the term is scatter_term(mul_rn(x_w, y_w),
// value), the weight mul_rn(x_w, y_w) as math::corner_weights forms it.
// Since index0 is monotone non-decreasing in y (a float add, then floor),
// the rows reaching r are one contiguous range, almost always two rows (one
// at a patch's edge); float rounding of offsets past 2^23 may repeat a tap
// (three or more: gather_patch's general walk) or skip one.
//
// Which patches a tile visits: those its bin lists (tile_bins.cuh), in
// ascending order, kGatherBatch at a time: for each patch of the batch the
// block finds once which patch rows reach each of the tile's 8 rows and
// which columns each of its 32 columns (40 `reach`es per patch and tile, in
// shared memory), and each thread then adds its pixel's terms.
// Cost (docs/notes/gpu-model.md, "Reassembly: a gather, no atomics, GPU = CPU
// bitwise"): the binning, a few passes over the patches'
// offsets and the (patch, tile) pairs; the reaches, 40 per (patch, tile);
// per (pixel, patch) two shared reads; per term, one patch element read
// (each element by the ~4 pixels it reaches, from L1/L2) and a multiply-add
// per lane; every canvas pixel of the range written once per patch chunk.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"
#include "math/patch_scatter.hpp"
#include "offset_check.cuh"
#include "tile_bins.cuh"

namespace ptychopatch::impl::gpu {

constexpr int kReassembleThreads = kTileWidth * kTileHeight;

// The first pos in [0, n) whose tap index, in canvas coordinates, is at
// least `target`; n if none (index0 is monotone in pos). index0(pos) is
// floor(fl32(pos + offset)), pos + floor(offset) up to the rounding of the
// sum, so that guess is stepped from, usually by at most one position: one
// or two taps instead of a binary search of log2(n) taps. Offsets so large
// that the sum's rounding spans many positions (|offset| >= 2^23) still get
// the right answer, by more steps; their patches reach no canvas of a
// realistic size anyway.
__device__ __forceinline__ int64_t first_tap_at_least(int64_t n, float offset, int64_t half,
                                                      int64_t target) {
  const float lower = floorf(offset);
  const float clamped = fminf(fmaxf(lower, -math::kIndexClamp), math::kIndexClamp);
  const int64_t guess = target + half - static_cast<int64_t>(clamped);
  int64_t pos = guess < 0 ? 0 : guess > n ? n : guess;
  while (pos > 0 && math::axis_tap(pos - 1, offset).index0 - half >= target) --pos;
  while (pos < n && math::axis_tap(pos, offset).index0 - half < target) ++pos;
  return pos;
}

// The patch rows (or columns) that reach one canvas row (or column), for
// one patch: `count` consecutive positions from `begin`, with their weights:
// the tap's w0 where its index is that canvas position, w1 where it is one
// less (corner_weights: w00 = x_w0 y_w0, w01 = x_w1 y_w0, w10 = x_w0 y_w1,
// w11 = x_w1 y_w1). Almost always two (one at a patch's edge); kReachMany
// where a tap repeats (the rounding of an offset past 2^23), handled by
// gather_patch's general walk.
constexpr int kReachMany = 3;
struct Reach {
  int64_t begin;
  int count;  // 0, 1, 2 or kReachMany
  float w[2];
};

__device__ __forceinline__ Reach reach(int64_t n, float offset, int64_t half, int64_t at) {
  Reach out{0, 0, {0.0f, 0.0f}};
  const int64_t first = first_tap_at_least(n, offset, half, at - 1);
  if (first == n) return out;
  const math::AxisTap t0 = math::axis_tap(first, offset);
  const int64_t d0 = t0.index0 - half - at;  // -1: the upper corner; 0: the lower
  if (d0 > 0) return out;
  out.begin = first;
  out.count = 1;
  out.w[0] = d0 == 0 ? t0.w0 : t0.w1;
  if (first + 1 < n) {
    const math::AxisTap t1 = math::axis_tap(first + 1, offset);
    const int64_t d1 = t1.index0 - half - at;
    if (d1 <= 0) {
      out.count = 2;
      out.w[1] = d1 == 0 ? t1.w0 : t1.w1;
      if (first + 2 < n && math::axis_tap(first + 2, offset).index0 - half <= at)
        out.count = kReachMany;
    }
  }
  return out;
}

// Patches whose reaches a block finds at once (kGatherBatch x (rows +
// columns of a tile) entries, one barrier pair per batch).
constexpr int kGatherBatch = 16;
constexpr int kReachesPerPatch = kTileHeight + kTileWidth;

// One term: w times each lane of value into sum, and w into weight.
template <int kLanes>
__device__ __forceinline__ void add_term(const float* value, float w, bool with_weights,
                                         float (&sum)[kLanes], float& weight) {
#pragma unroll
  for (int lane = 0; lane < kLanes; ++lane)
    sum[lane] = math::add_rn(sum[lane], math::scatter_term(w, value[lane]));
  if (with_weights) weight = math::add_rn(weight, w);
}

// Adds the terms of patch p (offsets ox, oy) that reach canvas pixel (r, c)
// to sum (kLanes floats) and, when with_weights, to weight, tap by tap: the
// general walk, for reaches of kReachMany (a tap repeated by rounding).
// Element (y, x) of patch p is output_index(p, 0, 0) + (y * n + x) * stride.
template <int kLanes>
__device__ __noinline__ void gather_patch(const float* __restrict__ patches,
                                          const ExtractGeometry& g, int64_t p, float ox, float oy,
                                          int64_t r, int64_t c, bool with_weights,
                                          float (&sum)[kLanes], float& weight) {
  const int64_t n = g.n;
  const int64_t y_begin = first_tap_at_least(n, oy, g.half, r - 1);
  const int64_t x_begin = first_tap_at_least(n, ox, g.half, c - 1);
  const int64_t first = math::output_index(g.channel_layout, p, 0, 0, n, g.group_size);
  const int64_t stride = g.channel_layout ? g.group_size : 1;
  for (int64_t y = y_begin; y < n; ++y) {
    const math::AxisTap ty = math::axis_tap(y, oy);
    const int64_t dy = ty.index0 - g.half - r;  // -1: corner row y0 + 1; 0: y0
    if (dy > 0) break;
    const float row_w = dy == 0 ? ty.w0 : ty.w1;
    for (int64_t x = x_begin; x < n; ++x) {
      const math::AxisTap tx = math::axis_tap(x, ox);
      const int64_t dx = tx.index0 - g.half - c;
      if (dx > 0) break;
      add_term<kLanes>(patches + (first + (y * n + x) * stride) * kLanes,
                       math::mul_rn(dx == 0 ? tx.w0 : tx.w1, row_w), with_weights, sum, weight);
    }
  }
}

// Writes every pixel of the tiles [bins.first_tile, bins.first_tile +
// bins.tiles) of canvas (and of weights, unless nullptr) once: the sums of
// the patches their bins list (patch first_patch + entry), added to the
// canvases' values when `accumulate`, else to +0; no patches when
// bins.starts is nullptr. blockDim.x == kReassembleThreads. `record`: this
// launch records a rejection of the call's offsets (the first of a call).
template <int kLanes, class Offsets>
__global__ void __launch_bounds__(kReassembleThreads)
    reassemble_kernel(const float* __restrict__ patches, ExtractGeometry g, Offsets offsets,
                      int64_t first_patch, TileBins bins, CanvasTiles tiles, bool accumulate,
                      float* __restrict__ canvas, float* __restrict__ weights, DeferredCheck* check,
                      bool record) {
  // A device-array call whose offsets the check kernel rejected writes
  // nothing (offset_check.cuh); every thread returns, before any barrier.
  if (record ? call_rejected(check, g.group_size, kDeferredReassemble, false)
             : offsets_rejected(check))
    return;
  // A batch of listed patches: the reach of each tile row and column, the
  // patch's first element (math::output_index, found once per patch), and
  // for the general walk the patch and its offsets.
  __shared__ Reach s_rows[kGatherBatch][kTileHeight];
  __shared__ Reach s_cols[kGatherBatch][kTileWidth];
  __shared__ int64_t s_first[kGatherBatch];
  __shared__ int64_t s_patch[kGatherBatch];
  __shared__ float s_ox[kGatherBatch];
  __shared__ float s_oy[kGatherBatch];

  const int tid = static_cast<int>(threadIdx.x);
  const bool with_weights = weights != nullptr;
  const int64_t stride = g.channel_layout ? g.group_size : 1;
  const int tile_y = tid / kTileWidth;
  const int tile_x = tid % kTileWidth;
  for (int64_t local = blockIdx.x; local < bins.tiles; local += gridDim.x) {
    const int64_t tile = bins.first_tile + local;
    const int64_t tile_row = tile / tiles.across;
    const int64_t r0 = tile_row * kTileHeight;
    const int64_t c0 = (tile - tile_row * tiles.across) * kTileWidth;
    const int64_t r = r0 + tile_y;
    const int64_t c = c0 + tile_x;
    const bool mine = r < g.height && c < g.width;  // threads past the edge only find reaches
    const int64_t pixel = mine ? r * g.width + c : 0;

    float sum[kLanes];
    float weight = 0.0f;
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane)
      sum[lane] = accumulate && mine ? canvas[pixel * kLanes + lane] : 0.0f;
    if (accumulate && mine && with_weights) weight = weights[pixel];

    // The tile's patches, ascending (the same bounds for every thread).
    const int64_t begin = bins.starts != nullptr ? bins.starts[local] : 0;
    const int64_t end = bins.starts != nullptr ? bins.starts[local + 1] : 0;
    // In batches: the block first finds, for each patch of the batch, which
    // patch rows reach each tile row and which columns each tile column (40
    // reaches per patch, not a search per pixel), then each thread adds its
    // pixel's terms, patches, then rows, then columns ascending.
    for (int64_t b0 = begin; b0 < end; b0 += kGatherBatch) {
      const int batch = end - b0 < kGatherBatch ? static_cast<int>(end - b0) : kGatherBatch;
      for (int e = tid; e < batch * kReachesPerPatch; e += kReassembleThreads) {
        const int q = e / kReachesPerPatch;
        const int k = e - q * kReachesPerPatch;
        const int64_t p = first_patch + bins.list[b0 + q];
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get(p, ox, oy);
        if (k < kTileHeight) {
          s_rows[q][k] = reach(g.n, oy, g.half, r0 + k);
          if (k == 0) {
            s_first[q] = math::output_index(g.channel_layout, p, 0, 0, g.n, g.group_size);
            s_patch[q] = p;
            s_ox[q] = ox;
            s_oy[q] = oy;
          }
        } else {
          s_cols[q][k - kTileHeight] = reach(g.n, ox, g.half, c0 + (k - kTileHeight));
        }
      }
      __syncthreads();
      if (mine) {
        for (int q = 0; q < batch; ++q) {
          const Reach ry = s_rows[q][tile_y];
          const Reach rx = s_cols[q][tile_x];
          if (ry.count == 0 || rx.count == 0) continue;
          if (ry.count == kReachMany || rx.count == kReachMany) {
            gather_patch<kLanes>(patches, g, s_patch[q], s_ox[q], s_oy[q], r, c, with_weights, sum,
                                 weight);
            continue;
          }
          // Element (y, x) of the patch: first + (y * n + x) * stride.
          for (int i = 0; i < ry.count; ++i) {
            const float y_w = ry.w[i];
            const float* row =
                patches + (s_first[q] + ((ry.begin + i) * g.n + rx.begin) * stride) * kLanes;
            for (int j = 0; j < rx.count; ++j)
              add_term<kLanes>(row + j * stride * kLanes, math::mul_rn(rx.w[j], y_w), with_weights,
                               sum, weight);
          }
        }
      }
      __syncthreads();  // the batch's reaches are read before the next overwrites them
    }

    if (mine) {
#pragma unroll
      for (int lane = 0; lane < kLanes; ++lane) canvas[pixel * kLanes + lane] = sum[lane];
      if (with_weights) weights[pixel] = weight;
    }
  }
}

}  // namespace ptychopatch::impl::gpu
