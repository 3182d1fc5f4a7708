// The reassembly (adjoint) kernel: one thread per patch element, in the
// patch array's own order (coalesced reads), scattering its four weighted
// terms into the canvas with atomic adds. The terms come from the same
// __host__ __device__ code as the CPU path (src/math/patch_scatter.hpp).
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "extract_kernel.cuh"
#include "math/patch_scatter.hpp"

namespace ptychopatch::impl::gpu {

// Terms that are exactly zero are skipped: the canvas starts at +0 and a sum
// in round-to-nearest never becomes -0 from there, so adding +-0 would not
// change any bit. Non-finite terms are kept and propagate as on the CPU.
template <int kLanes, class Offsets>
__global__ void reassemble_kernel(const float* __restrict__ patches, ExtractGeometry g,
                                  Offsets offsets, int64_t num_elements, float* canvas,
                                  float* weights) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < num_elements;
       e += stride) {
    int64_t patch, y, x;
    decode_element(g, e, patch, y, x);
    float ox = 0.0f;
    float oy = 0.0f;
    offsets.get(patch, ox, oy);
    float value[kLanes];
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane) value[lane] = patches[e * kLanes + lane];
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
  }
}

}  // namespace ptychopatch::impl::gpu
