// Finite-offset check for offsets that live on the device: the host cannot
// read them, so a small kernel finds the first bad patch and the call waits
// for that one answer before it writes anything (SPEC: bad input leaves the
// outputs untouched).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_support.cuh"
#include "launch.cuh"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {

constexpr unsigned long long kNoBadOffset = ~0ull;

template <class Offsets>
__global__ void find_nonfinite_offset_kernel(Offsets offsets, int64_t num_patches,
                                             unsigned long long* first_bad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < num_patches;
       p += stride) {
    float x = 0.0f;
    float y = 0.0f;
    offsets.get(p, x, y);
    if (!isfinite(x) || !isfinite(y)) atomicMin(first_bad, static_cast<unsigned long long>(p));
  }
}

// The index of the first patch whose float32 offset is not finite, or -1.
// Synchronises `stream` (the caller's work before this call included).
template <class Offsets>
int64_t first_nonfinite_offset(Workspace& ws, const Offsets& offsets, int64_t num_patches,
                               cudaStream_t stream) {
  auto* flag = ws.flag.as<unsigned long long>();
  auto* flag_host = ws.flag_host.as<unsigned long long>();
  check_cuda(cudaMemsetAsync(flag, 0xFF, sizeof *flag, stream), "clearing the offset flag");
  constexpr int kThreads = 256;
  check_cuda(launch_kernel(&find_nonfinite_offset_kernel<Offsets>,
                           dim3(grid_blocks(num_patches, kThreads)), dim3(kThreads), 0, stream,
                           offsets, num_patches, flag),
             "launching the offset check");
  check_cuda(cudaMemcpyAsync(flag_host, flag, sizeof *flag, cudaMemcpyDeviceToHost, stream),
             "reading the offset flag");
  check_cuda(cudaStreamSynchronize(stream), "checking the offsets on the device");
  return *flag_host == kNoBadOffset ? -1 : static_cast<int64_t>(*flag_host);
}

}  // namespace ptychopatch::impl::gpu
