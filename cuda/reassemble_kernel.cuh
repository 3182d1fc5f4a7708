// The reassembly (adjoint) kernel: threads walk the patch array in its own
// order (coalesced reads, see patch_traversal.cuh), scattering its four weighted
// terms into the canvas with atomic adds. The terms come from the same
// __host__ __device__ code as the CPU path (src/math/patch_scatter.hpp).
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "math/patch_scatter.hpp"
#include "patch_traversal.cuh"

namespace ptychopatch::impl::gpu {

// Terms that are exactly zero are skipped: the canvas starts at +0 and a sum
// in round-to-nearest never becomes -0 from there, so adding +-0 would not
// change any bit. Non-finite terms are kept and propagate as on the CPU.
template <int kLanes, class Offsets>
__global__ void reassemble_kernel(const float* __restrict__ patches, ExtractGeometry g,
                                  Offsets offsets, RowTraversal rows, float* canvas,
                                  float* weights) {
  for_each_patch_element(rows, g.n, [&](int64_t patch, int64_t y, int64_t x, int64_t element) {
    float ox = 0.0f;
    float oy = 0.0f;
    offsets.get(patch, ox, oy);
    float value[kLanes];
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane) value[lane] = patches[element * kLanes + lane];
    math::scatter_pixel(g.height, g.width, g.half, math::axis_tap(x, ox), math::axis_tap(y, oy),
                        [&](int64_t index, float weight) {
#pragma unroll
                          for (int lane = 0; lane < kLanes; ++lane) {
                            const float term = math::scatter_term(weight, value[lane]);
                            if (term != 0.0f) atomicAdd(canvas + index * kLanes + lane, term);
                          }
                          if (weights != nullptr && weight != 0.0f)
                            atomicAdd(weights + index, weight);
                        });
  });
}

}  // namespace ptychopatch::impl::gpu
