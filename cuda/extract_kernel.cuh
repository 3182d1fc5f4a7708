// The one-launch extraction kernel: one thread per output element, over all
// patches of the call (or of one chunk), evaluating the same
// __host__ __device__ formula as the CPU path (src/math/), so the two agree
// bit for bit.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"

namespace ptychopatch::impl::gpu {

// Element e of a patch array in the plan's layout: which patch, row and
// column it is. Consecutive e are consecutive in memory, so threads mapped
// to consecutive e read (reassembly) or write (extraction) coalesced.
__device__ __forceinline__ void decode_element(const ExtractGeometry& g, int64_t e, int64_t& patch,
                                               int64_t& y, int64_t& x) {
  if (g.channel_layout) {
    // (B, N, N, c): the c patches of a group are innermost.
    const int64_t k = e % g.group_size;
    int64_t rest = e / g.group_size;
    x = rest % g.n;
    rest /= g.n;
    y = rest % g.n;
    patch = (rest / g.n) * g.group_size + k;
  } else {
    x = e % g.n;
    const int64_t rest = e / g.n;
    y = rest % g.n;
    patch = rest / g.n;
  }
}

template <int kLanes, class Offsets>
__global__ void extract_patches_kernel(const float* __restrict__ object, ExtractGeometry g,
                                       Offsets offsets, int64_t num_elements,
                                       float* __restrict__ patches) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < num_elements;
       e += stride) {
    int64_t patch, y, x;
    decode_element(g, e, patch, y, x);
    float ox = 0.0f;
    float oy = 0.0f;
    offsets.get(patch, ox, oy);
    float value[kLanes];
    // The object is read-only for the whole launch: __restrict__ const lets
    // the compiler route its loads through the read-only data path.
    math::sample_pixel<kLanes>(object, g.height, g.width, g.half, math::axis_tap(x, ox),
                               math::axis_tap(y, oy), value);
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane) patches[e * kLanes + lane] = value[lane];
  }
}

}  // namespace ptychopatch::impl::gpu
