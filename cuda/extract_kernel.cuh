// The one-launch extraction kernel over all patches of a call (or of one
// chunk), evaluating the same __host__ __device__ formula as the CPU path
// (src/math/), so the two agree bit for bit.
//
// Where the work goes (docs/notes/gpu-model.md, "The model"): a
// thread owns one column of a patch — one x of one member k of a group —
// and walks its rows. So the column's sample position, weights and bounds
// test and the patch's offset are computed once per thread and patch, not
// per element; per element remain the row's tap (a few float operations),
// four corner loads and one store. Rows whose four corners are all inside
// the object take a path without per-corner bounds checks, with 8-byte
// loads and stores for complex64 where both arrays are 8-byte aligned.
// There is no integer division in the kernel: a thread's first column is
// split into (x, k) once with a 32-bit division of its thread index, and
// later columns step by constants the host computes (ExtractTraversal).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/extract_plan.hpp"
#include "math/patch_sampling.hpp"
#include "offset_check.cuh"

namespace ptychopatch::impl::gpu {

// How a launch covers the patch array. Patches are walked as groups b of c
// members; a block holds blockDim.y groups side by side (several small
// patches per block), its threads (threadIdx.x) span a row, and blockIdx.y
// splits the rows. Channel layout (B, N, N, c): a row is N * c elements,
// column j = x * c + k. Flat layout (P, N, N), P = B * c: a row is the N
// elements of one member; each thread visits every member of its group.
//
// Channel layout with c <= kStagedMaxGroup (staged): a block's row of
// threads covers tiles of tile_x whole x, every member: thread t samples
// member t / tile_x at x = t % tile_x, so a warp reads neighbouring pixels
// of one patch, as in the flat layout, rather than c patches' pixels side
// by side; the row's values meet in shared memory and thread t stores
// element t of the tile, so a warp's stores stay consecutive. Wider groups
// take the unstaged walk of column j = x * c + k.
struct ExtractTraversal {
  int64_t num_groups;    // B
  int64_t group_stride;  // gridDim.x * blockDim.y: groups between a thread's visits
  int64_t columns;       // elements of a row that threads span: N * c or N
  // A thread's columns advance by blockDim.x, i.e. by step_x whole x and
  // step_k members (channel layout; step_k < c).
  int64_t step_x;
  int64_t step_k;
  // A thread's rows advance by gridDim.y: rows_per_step rows, which is
  // row_step_floats floats of the output (computed here once rather than
  // in the row loop, where the compiler would recompute it).
  int64_t row_step_floats;
  int32_t rows_per_step;
  bool channel;
  bool staged;     // channel layout through shared memory (above)
  int64_t tile_x;  // staged: x per tile, min(N, blockDim.x / c)
};

// Groups up to this size take the staged channel walk: a warp then reads
// at least one run of 8 neighbouring pixels (blockDim.x >= 256 / c where
// rows are that long); larger groups fill a block's rows with few x.
constexpr int64_t kStagedMaxGroup = 32;
// Threads of a block (blockDim.x * blockDim.y, at most 256, extract_launch)
// times lanes: the floats one row of a block's tiles holds.
constexpr int kStagedFloats = 256 * 2;

struct ExtractLaunch {
  ExtractTraversal traversal;
  dim3 grid;
  dim3 block;
};

// Threads span a row (up to 256, a multiple of 32); short rows put several
// groups in a block; groups fill grid.x and rows grid.y (at most 65535)
// until the device holds several waves of blocks.
inline ExtractLaunch extract_launch(const ExtractGeometry& g, int64_t num_patches,
                                    int multiprocessors) {
  ExtractTraversal t{};
  t.channel = g.channel_layout;
  t.num_groups = num_patches / g.group_size;
  t.columns = g.channel_layout ? g.n * g.group_size : g.n;
  const int64_t threads_x = std::min<int64_t>(256, (t.columns + 31) / 32 * 32);
  const int64_t threads_y = std::max<int64_t>(1, std::min<int64_t>(256 / threads_x, t.num_groups));
  t.step_x = threads_x / g.group_size;
  t.step_k = threads_x - t.step_x * g.group_size;
  const int64_t group_blocks = (t.num_groups + threads_y - 1) / threads_y;
  const int64_t blocks_x = std::max<int64_t>(1, std::min<int64_t>(group_blocks, 0x7fffffff));
  const int64_t wanted_blocks = int64_t{multiprocessors} * 64 * (256 / (threads_x * threads_y));
  const int64_t blocks_y = std::max<int64_t>(
      1, std::min<int64_t>({g.n, 65535, (wanted_blocks + blocks_x - 1) / blocks_x}));
  t.group_stride = blocks_x * threads_y;
  t.staged = g.channel_layout && g.group_size <= kStagedMaxGroup;
  t.tile_x = t.staged ? std::min<int64_t>(g.n, threads_x / g.group_size) : 0;
  t.rows_per_step = static_cast<int32_t>(blocks_y);
  t.row_step_floats = blocks_y * (g.channel_layout ? t.columns : g.n) * g.lanes;
  return ExtractLaunch{t, dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(blocks_y)),
                       dim3(static_cast<unsigned>(threads_x), static_cast<unsigned>(threads_y))};
}

// Two consecutive floats (one complex64) as one 8-byte access; the caller
// guarantees 8-byte alignment. The emulated device copies them with
// memcpy, and faults on a misaligned address as a device would.
__device__ __forceinline__ float2 load_pair(const float* p) {
#if defined(PTYCHOPATCH_EMULATED_GPU)
  if (reinterpret_cast<uintptr_t>(p) % sizeof(float2) != 0)
    ptp_emu_misaligned_access(p, sizeof(float2));
  float2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
#else
  // Through the read-only data path (LDG.CONSTANT) whatever the pointer's
  // provenance: the rows inside the object are addressed by integer
  // arithmetic, which hides that they point into the const object.
  return __ldg(reinterpret_cast<const float2*>(p));
#endif
}

__device__ __forceinline__ void store_pair(float* p, float2 v) {
#if defined(PTYCHOPATCH_EMULATED_GPU)
  if (reinterpret_cast<uintptr_t>(p) % sizeof(float2) != 0)
    ptp_emu_misaligned_access(p, sizeof(float2));
  std::memcpy(p, &v, sizeof v);
#else
  *reinterpret_cast<float2*>(p) = v;
#endif
}

// One output element whose four corners are inside the object: row0 points
// at corner (y0, x0), row1 at (y0 + 1, x0). The same blend, in the same
// order, as math::sample_pixel.
template <int kLanes, bool kPairs>
__device__ __forceinline__ void blend_inside(const float* row0, const float* row1,
                                             math::CornerWeights w, float* value) {
  if constexpr (kLanes == 2 && kPairs) {
    const float2 v00 = load_pair(row0);
    const float2 v01 = load_pair(row0 + 2);
    const float2 v10 = load_pair(row1);
    const float2 v11 = load_pair(row1 + 2);
    value[0] = math::blend(w, v00.x, v01.x, v10.x, v11.x);
    value[1] = math::blend(w, v00.y, v01.y, v10.y, v11.y);
  } else {
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane)
      value[lane] =
          math::blend(w, row0[lane], row0[kLanes + lane], row1[lane], row1[kLanes + lane]);
  }
}

// Whether a patch's rows use 32-bit index arithmetic: every padded-frame
// index of a row inside the object, the object's float count and a group's
// output float count fit, and the row test can compare float positions
// exactly (below 2^24).
inline bool index32_fits(const ExtractGeometry& g) {
  constexpr int64_t kExactFloat = int64_t{1} << 24;
  constexpr int64_t kIndexLimit = int64_t{1} << 31;
  return g.height + 2 * g.half + 2 < kExactFloat && g.width + 2 * g.half + 2 < kExactFloat &&
         g.height * g.width * g.lanes < kIndexLimit &&
         g.n * g.n < kIndexLimit / (g.group_size * g.lanes);
}

// The first y in [0, n) whose sample's lower corner floor(fl32(y + oy)) is
// at least `bound` (an integer, exact as a float), n if none: the lower
// corner is monotone in y, and y + floor(oy) up to the rounding of the sum,
// so the guess is stepped from, usually by at most one row.
__device__ __forceinline__ int32_t first_row_at_least(int32_t n, float oy, float bound) {
  const float guess = bound - floorf(oy);
  int32_t y = guess <= 0.0f ? 0 : guess >= static_cast<float>(n) ? n : static_cast<int32_t>(guess);
  while (y > 0 && math::axis_sample(static_cast<float>(y - 1), oy).lower >= bound) --y;
  while (y < n && math::axis_sample(static_cast<float>(y), oy).lower < bound) ++y;
  return y;
}

// The rows of one column (x, member k of group b) this block handles:
// blockIdx.y, then every gridDim.y-th. `out` is the column's element in
// row 0; rows are `row_stride` elements apart. One store per element, of
// 8 bytes for aligned complex64 (kPairs). With kIndex32 the rows whose four
// corners are inside the object are found once per column (they are
// consecutive), so that loop has no per-row bounds test; the rows before
// and after them take the per-corner path.
template <int kLanes, bool kPairs, bool kIndex32>
__device__ __forceinline__ void extract_column(const float* __restrict__ object,
                                               const ExtractGeometry& g, int64_t x, float ox,
                                               float oy, float* __restrict__ out,
                                               int64_t row_stride, const ExtractTraversal& t) {
  const math::AxisTap tx = math::axis_tap(x, ox);
  const bool x_inside =
      math::inside(tx.index0, g.half, g.width) && math::inside(tx.index0 + 1, g.half, g.width);
  const int64_t row_floats = g.width * kLanes;
  // Formed only when inside: an index far outside would overflow.
  const float* column = x_inside ? object + (tx.index0 - g.half) * kLanes : object;
  // N < 2^24: the row counter is 32-bit, and exact as a float.
  const auto rows = static_cast<int32_t>(g.n);
  float* element = out + int64_t{blockIdx.y} * row_stride * kLanes;
  int32_t y = static_cast<int32_t>(blockIdx.y);
  const auto store_at = [](float* at, const float(&value)[kLanes]) {
    if constexpr (kLanes == 2 && kPairs) {
      store_pair(at, make_float2(value[0], value[1]));
    } else {
#pragma unroll
      for (int lane = 0; lane < kLanes; ++lane) at[lane] = value[lane];
    }
  };
  // A row not inside: the per-corner formula, with the tap as the CPU path
  // has it.
  const auto general = [&](int32_t row) {
    float value[kLanes];
    math::sample_pixel<kLanes>(object, g.height, g.width, g.half, tx, math::axis_tap(row, oy),
                               value);
    store_at(element, value);
  };
  if constexpr (kIndex32) {
    // Rows inside: half <= lower corner <= height + half - 2, all exact
    // floats with kIndex32; they are rows [inside_begin, inside_end).
    const float first_row = static_cast<float>(g.half);
    const float last_row = static_cast<float>(g.height + g.half - 2);
    const int32_t inside_begin = x_inside ? first_row_at_least(rows, oy, first_row) : rows;
    const int32_t inside_end =
        x_inside ? first_row_at_least(rows, oy, math::add_rn(last_row, 1.0f)) : rows;
    for (; y < rows && y < inside_begin; y += t.rows_per_step, element += t.row_step_floats)
      general(y);
    // Corner rows as 32-bit float indices (index32_fits: every index of a
    // row inside the object is below 2^31): the column's index in padded
    // row 0, which lies outside the object, is kept modulo 2^32 and each
    // row adds lower * row_floats, one 32-bit multiply-add, then one
    // 32 x 32 -> 64-bit address per corner row.
    const auto row_floats32 = static_cast<uint32_t>(row_floats);
    const auto column32 = static_cast<uint32_t>(x_inside ? (tx.index0 - g.half) * kLanes : 0);
    const uint32_t row0_index = column32 - static_cast<uint32_t>(g.half) * row_floats32;
    // The loop runs on the float position (exact: below 2^24) and steps y
    // once it ends; the output element too is a 32-bit index from the
    // column's first row here (a group's output fits, index32_fits).
    const auto step = static_cast<float>(t.rows_per_step);
    const auto end = static_cast<float>(inside_end);
    const auto element_step = static_cast<uint32_t>(t.row_step_floats);
    float* const first = element;
    uint32_t element_index = 0;
    float y_position = static_cast<float>(y);
    for (; y_position < end; y_position += step, element_index += element_step) {
      const math::AxisSample sy = math::axis_sample(y_position, oy);
      const auto lower = static_cast<uint32_t>(sy.lower);  // half <= lower < 2^24
      const uint32_t index = lower * row_floats32 + row0_index;
      float value[kLanes];
      blend_inside<kLanes, kPairs>(
          object + index, object + (index + row_floats32),
          math::corner_weights(tx.w0, tx.w1, math::sub_rn(1.0f, sy.frac), sy.frac), value);
      store_at(first + element_index, value);
    }
    element = first + element_index;
    y = static_cast<int32_t>(y_position);
    for (; y < rows; y += t.rows_per_step, element += t.row_step_floats) general(y);
  } else {
    for (; y < rows; y += t.rows_per_step, element += t.row_step_floats) {
      const math::AxisTap ty = math::axis_tap(y, oy);
      if (x_inside && math::inside(ty.index0, g.half, g.height) &&
          math::inside(ty.index0 + 1, g.half, g.height)) {
        const float* row0 = column + (ty.index0 - g.half) * row_floats;
        float value[kLanes];
        blend_inside<kLanes, kPairs>(row0, row0 + row_floats, math::corner_weights(tx, ty), value);
        store_at(element, value);
      } else {
        general(y);
      }
    }
  }
}

// One column (x, member k) sampled row by row, in any row order: the same
// per-column set-up and per-row formula as extract_column, for the staged
// walk, whose threads step through rows together.
template <int kLanes, bool kPairs, bool kIndex32>
struct ColumnSampler {
  math::AxisTap tx;
  float oy;
  bool x_inside;
  int32_t inside_begin;  // kIndex32: rows [inside_begin, inside_end) are inside
  int32_t inside_end;
  uint32_t row0_index;  // kIndex32: the column's index in padded row 0, mod 2^32
  uint32_t row_floats32;
  const float* column;  // !kIndex32: the column in object row 0 when x_inside

  __device__ __forceinline__ void init(const float* object, const ExtractGeometry& g, int64_t x,
                                       float ox, float offset_y) {
    tx = math::axis_tap(x, ox);
    oy = offset_y;
    x_inside =
        math::inside(tx.index0, g.half, g.width) && math::inside(tx.index0 + 1, g.half, g.width);
    const auto rows = static_cast<int32_t>(g.n);
    column = x_inside ? object + (tx.index0 - g.half) * kLanes : object;
    row_floats32 = static_cast<uint32_t>(g.width * kLanes);
    inside_begin = rows;
    inside_end = rows;
    row0_index = 0;
    if constexpr (kIndex32) {
      if (x_inside) {
        inside_begin = first_row_at_least(rows, oy, static_cast<float>(g.half));
        inside_end = first_row_at_least(
            rows, oy, math::add_rn(static_cast<float>(g.height + g.half - 2), 1.0f));
        row0_index = static_cast<uint32_t>((tx.index0 - g.half) * kLanes) -
                     static_cast<uint32_t>(g.half) * row_floats32;
      }
    }
  }

  __device__ __forceinline__ void sample(const float* __restrict__ object, const ExtractGeometry& g,
                                         int32_t y, float (&value)[kLanes]) const {
    if constexpr (kIndex32) {
      if (y >= inside_begin && y < inside_end) {
        const math::AxisSample sy = math::axis_sample(static_cast<float>(y), oy);
        const uint32_t index = static_cast<uint32_t>(sy.lower) * row_floats32 + row0_index;
        blend_inside<kLanes, kPairs>(
            object + index, object + (index + row_floats32),
            math::corner_weights(tx.w0, tx.w1, math::sub_rn(1.0f, sy.frac), sy.frac), value);
        return;
      }
    } else {
      const math::AxisTap ty = math::axis_tap(y, oy);
      if (x_inside && math::inside(ty.index0, g.half, g.height) &&
          math::inside(ty.index0 + 1, g.half, g.height)) {
        const int64_t row_floats = g.width * kLanes;
        const float* row0 = column + (ty.index0 - g.half) * row_floats;
        blend_inside<kLanes, kPairs>(row0, row0 + row_floats, math::corner_weights(tx, ty), value);
        return;
      }
    }
    math::sample_pixel<kLanes>(object, g.height, g.width, g.half, tx, math::axis_tap(y, oy), value);
  }
};

// A float's place in the staging buffer: one float of padding every 32, so
// that a warp writing every (c * lanes)-th float hits distinct banks.
__device__ __forceinline__ int staged_slot(int index) {
  return index + index / 32;
}

// The staged channel walk (ExtractTraversal::staged). Every thread of the
// block runs every loop the same number of times (a barrier per row); a
// thread without a column, group or element there only keeps step. Two
// staging buffers, so that one barrier per row orders both the writes
// before the reads and the reads before the next writes of a buffer.
template <int kLanes, bool kPairs, bool kIndex32, class Offsets>
__device__ __forceinline__ void extract_staged(const float* __restrict__ object,
                                               const ExtractGeometry& g, const Offsets& offsets,
                                               const ExtractTraversal& t,
                                               float* __restrict__ patches) {
  __shared__ float staging[2][kStagedFloats + kStagedFloats / 32];
  const int64_t c = g.group_size;
  const auto rows = static_cast<int32_t>(g.n);
  const auto tid = static_cast<uint32_t>(threadIdx.x);
  const auto tile_x = static_cast<uint32_t>(t.tile_x);
  // The thread's column in a tile: member k at x0 + xi (one 32-bit division).
  const bool has_column = tid < tile_x * static_cast<uint32_t>(c);
  const uint32_t k = has_column ? tid / tile_x : 0;
  const uint32_t xi = tid - k * tile_x;
  // Its slots: where it puts its sample (element xi * c + k of the tile)
  // and where it takes the element it stores (element tid).
  const int base = static_cast<int>(threadIdx.y * blockDim.x) * kLanes;
  const int put = base + static_cast<int>(xi * static_cast<uint32_t>(c) + k) * kLanes;
  const int take = base + static_cast<int>(tid) * kLanes;
  int buffer = 0;
  for (int64_t first = int64_t{blockIdx.x} * blockDim.y; first < t.num_groups;
       first += t.group_stride) {
    const int64_t b = first + threadIdx.y;
    const bool has_group = b < t.num_groups;
    for (int64_t x0 = 0; x0 < g.n; x0 += t.tile_x) {
      const int64_t x = x0 + xi;
      const bool samples = has_group && has_column && x < g.n;
      const int64_t tile_columns = g.n - x0 < t.tile_x ? g.n - x0 : t.tile_x;
      const bool stores = has_group && int64_t{tid} < tile_columns * c;
      ColumnSampler<kLanes, kPairs, kIndex32> column{};
      if (samples) {
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get_member(b, k, c, ox, oy);
        column.init(object, g, x, ox, oy);
      }
      // Row y of group b starts at element (b * N + y) * N * c.
      float* element =
          stores ? patches + ((b * g.n + blockIdx.y) * t.columns + x0 * c + tid) * kLanes : patches;
      for (int32_t y = static_cast<int32_t>(blockIdx.y); y < rows;
           y += t.rows_per_step, buffer ^= 1) {
        float* const stage = staging[buffer];
        if (samples) {
          float value[kLanes];
          column.sample(object, g, y, value);
#pragma unroll
          for (int lane = 0; lane < kLanes; ++lane) stage[staged_slot(put + lane)] = value[lane];
        }
        __syncthreads();
        if (stores) {
          float value[kLanes];
#pragma unroll
          for (int lane = 0; lane < kLanes; ++lane) value[lane] = stage[staged_slot(take + lane)];
          if constexpr (kLanes == 2 && kPairs) {
            store_pair(element, make_float2(value[0], value[1]));
          } else {
#pragma unroll
            for (int lane = 0; lane < kLanes; ++lane) element[lane] = value[lane];
          }
          element += t.row_step_floats;
        }
      }
    }
  }
}

// kPairs: complex64 with both arrays 8-byte aligned; kIndex32: see
// index32_fits (both checked by the host). `check`: the context's offset
// check record for a call on device arrays, else null; the kernel then
// checks the offsets itself before it writes (scan_offsets_in_launch), so a
// call is this one launch.
template <int kLanes, bool kPairs, bool kIndex32, class Offsets>
__global__ void extract_patches_kernel(const float* __restrict__ object, ExtractGeometry g,
                                       Offsets offsets, ExtractTraversal t,
                                       float* __restrict__ patches, DeferredCheck* check) {
  if (scan_offsets_in_launch(offsets, t.num_groups * g.group_size, check, g.group_size,
                             kDeferredExtract, IsLegacyOffsets<Offsets>::value))
    return;
  if (t.staged) {
    extract_staged<kLanes, kPairs, kIndex32>(object, g, offsets, t, patches);
    return;
  }
  const int64_t c = g.group_size;
  const int64_t n = g.n;
  // The thread's first column, split once (threadIdx.x < 1024).
  const auto tid = static_cast<uint32_t>(threadIdx.x);
  int64_t x0 = tid;
  int64_t k0 = 0;
  if (t.channel) {
    const bool small_group = c <= int64_t{1024};
    x0 = small_group ? tid / static_cast<uint32_t>(c) : 0;
    k0 = small_group ? tid - x0 * c : tid;
  }
  for (int64_t b = int64_t{blockIdx.x} * blockDim.y + threadIdx.y; b < t.num_groups;
       b += t.group_stride) {
    if (t.channel) {
      // Row y of group b starts at element (b * N + y) * N * c.
      float* group_out = patches + b * n * t.columns * kLanes;
      int64_t x = x0;
      int64_t k = k0;
      for (int64_t j = tid; j < t.columns; j += blockDim.x) {
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get_member(b, k, c, ox, oy);
        extract_column<kLanes, kPairs, kIndex32>(object, g, x, ox, oy, group_out + j * kLanes,
                                                 t.columns, t);
        x += t.step_x;
        k += t.step_k;
        if (k >= c) {
          k -= c;
          x += 1;
        }
      }
    } else {
      // Patch b * c + k is N rows of N elements.
      for (int64_t k = 0; k < c; ++k) {
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get_member(b, k, c, ox, oy);
        float* patch_out = patches + (b * c + k) * n * n * kLanes;
        for (int64_t x = tid; x < n; x += blockDim.x)
          extract_column<kLanes, kPairs, kIndex32>(object, g, x, ox, oy, patch_out + x * kLanes, n,
                                                   t);
      }
    }
  }
}

}  // namespace ptychopatch::impl::gpu
