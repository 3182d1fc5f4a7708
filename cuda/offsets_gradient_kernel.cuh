// The one-launch kernel of the offset gradient of extraction
// (ptp_extract_offsets_gradient), evaluating the shared formula of
// src/math/patch_gradient.hpp in its fixed summation order, so that the
// result is the CPU path's bit for bit.
//
// Where the work goes: a block holds blockDim.y patches side by side, one
// row of threads (threadIdx.x) per patch. Thread t of a patch owns columns
// t, t + S, t + 2S, ... (S = math::kGradientColumnStride; blockDim.x is at
// most S and at least min(N, S), so every column has an owner and no thread
// more than one partial sum) and walks their rows in order: one column tap
// per column, one row tap and four corner loads per pixel, consecutive
// threads reading consecutive columns of a row. Its partial sum goes to
// shared memory, and the patch's first thread adds the partials in thread
// order and writes the pair. Blocks stride over the patches.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_gradient.hpp"
#include "offset_check.cuh"

namespace ptychopatch::impl::gpu {

constexpr int kGradientThreads = static_cast<int>(math::kGradientColumnStride);

struct GradientLaunch {
  dim3 grid;
  dim3 block;
};

// Threads per patch: min(N, S) rounded up to a warp (at most S); patches per
// block: as many as fill S threads.
inline GradientLaunch gradient_launch(const ExtractGeometry& g, int64_t num_patches) {
  const int64_t threads_x = std::min<int64_t>(
      kGradientThreads, (std::min<int64_t>(g.n, kGradientThreads) + 31) / 32 * 32);
  const int64_t threads_y =
      std::max<int64_t>(1, std::min<int64_t>(kGradientThreads / threads_x, num_patches));
  const int64_t blocks = std::max<int64_t>(
      1, std::min<int64_t>((num_patches + threads_y - 1) / threads_y, 0x7fffffff));
  return GradientLaunch{dim3(static_cast<unsigned>(blocks)),
                        dim3(static_cast<unsigned>(threads_x), static_cast<unsigned>(threads_y))};
}

// `check`: the context's offset check record for a call on device arrays
// (offset_check.cuh), else null. grad_offsets: (x, y) pairs of T.
template <int kLanes, class T>
__global__ void offsets_gradient_kernel(const float* __restrict__ object, ExtractGeometry g,
                                        math::PairOffsets<T> offsets,
                                        const float* __restrict__ grad_patches, int64_t num_patches,
                                        T* __restrict__ grad_offsets, DeferredCheck* check) {
  if (call_rejected(check, g.group_size, kDeferredOffsetsGradient, false)) return;
  __shared__ double partial_x[kGradientThreads];
  __shared__ double partial_y[kGradientThreads];
  const int64_t n = g.n;
  const auto tid = static_cast<int64_t>(threadIdx.x);
  const int slot = static_cast<int>(threadIdx.y * blockDim.x + threadIdx.x);
  const int first_slot = static_cast<int>(threadIdx.y * blockDim.x);
  const int64_t row_stride = math::gradient_row_stride(g.channel_layout, n, g.group_size);
  const int64_t per_block = blockDim.y;
  const int64_t partials = n < math::kGradientColumnStride ? n : math::kGradientColumnStride;
  // Every thread runs the same iterations (the barriers need it).
  for (int64_t base = int64_t{blockIdx.x} * per_block; base < num_patches;
       base += int64_t{gridDim.x} * per_block) {
    const int64_t p = base + threadIdx.y;
    math::OffsetGradientTerm partial{0.0, 0.0};
    if (p < num_patches) {
      float ox = 0.0f;
      float oy = 0.0f;
      offsets.get(p, ox, oy);
      for (int64_t x = tid; x < n; x += math::kGradientColumnStride) {
        const math::AxisTap tx = math::axis_tap(x, ox);
        const float* element =
            grad_patches +
            math::gradient_column_start(g.channel_layout, p, x, n, g.group_size) * kLanes;
        math::OffsetGradientTerm column{0.0, 0.0};
        for (int64_t y = 0; y < n; ++y, element += row_stride * kLanes)
          math::accumulate(
              column, math::offset_gradient_pixel<kLanes>(object, g.height, g.width, g.half, tx,
                                                          math::axis_tap(y, oy), element));
        math::accumulate(partial, column);
      }
    }
    partial_x[slot] = partial.x;
    partial_y[slot] = partial.y;
    __syncthreads();
    if (tid == 0 && p < num_patches) {
      math::OffsetGradientTerm total{0.0, 0.0};
      for (int64_t t = 0; t < partials; ++t)
        math::accumulate(
            total, math::OffsetGradientTerm{partial_x[first_slot + t], partial_y[first_slot + t]});
      grad_offsets[2 * p] = static_cast<T>(total.x);
      grad_offsets[2 * p + 1] = static_cast<T>(total.y);
    }
    __syncthreads();  // the partials are read before the next patches write them
  }
}

}  // namespace ptychopatch::impl::gpu
