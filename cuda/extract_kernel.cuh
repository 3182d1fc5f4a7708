// The one-launch extraction kernel over all patches of a call (or of one
// chunk), evaluating the same __host__ __device__ formula as the CPU path
// (src/math/), so the two agree bit for bit.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_sampling.hpp"
#include "patch_traversal.cuh"

namespace ptychopatch::impl::gpu {

template <int kLanes, class Offsets>
__global__ void extract_patches_kernel(const float* __restrict__ object, ExtractGeometry g,
                                       Offsets offsets, RowTraversal rows,
                                       float* __restrict__ patches) {
  for_each_patch_element(rows, g.n, [&](int64_t patch, int64_t y, int64_t x, int64_t element) {
    float ox = 0.0f;
    float oy = 0.0f;
    offsets.get(patch, ox, oy);
    float value[kLanes];
    math::sample_pixel<kLanes>(object, g.height, g.width, g.half, math::axis_tap(x, ox),
                               math::axis_tap(y, oy), value);
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane) patches[element * kLanes + lane] = value[lane];
  });
}

}  // namespace ptychopatch::impl::gpu
