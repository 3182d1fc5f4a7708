// Finite-offset check for offsets that live on the device, without a host
// wait (issue 15): the host cannot read the offsets, and waiting for a check
// would stall the caller, serialise its pipeline and break CUDA graph
// capture. So a device-array call enqueues, on the caller's stream:
//   1. a reset of the context's per-call flag (a memset),
//   2. a check kernel that records there the first patch whose offset is
//      not finite,
//   3. the work kernel, which reads the flag first and, if it is set,
//      writes nothing (SPEC: bad input leaves the outputs untouched) and
//      records the rejection in the context's DeferredCheck,
// and returns. ptp_context_synchronize waits for the stream and reports a
// recorded rejection as PTP_ERROR_NON_FINITE (deferred_status). All of it
// is ordinary stream work: capturable in a CUDA graph, whose replays check
// their offsets again. The flag is the context's, so its device-array calls
// must be ordered with one another (one stream, or streams the caller
// orders), as a cuFFT plan's work area must be.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda_support.cuh"
#include "deferred_check.cuh"
#include "launch.cuh"
#include "math/patch_indexing.hpp"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {

template <class Offsets>
struct IsLegacyOffsets : std::false_type {};
template <class T>
struct IsLegacyOffsets<math::LegacyOffsets<T>> : std::true_type {};

template <class Offsets>
__global__ void find_nonfinite_offset_kernel(Offsets offsets, int64_t num_patches,
                                             DeferredCheck* check) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < num_patches;
       p += stride) {
    float x = 0.0f;
    float y = 0.0f;
    offsets.get(p, x, y);
    if (!isfinite(x) || !isfinite(y))
      atomicMin(&check->call_first_bad, static_cast<unsigned long long>(p));
  }
}

// Steps 1 and 2 above, on `stream`; no host wait, no allocation.
template <class Offsets>
void enqueue_offset_check(Workspace& ws, const Offsets& offsets, int64_t num_patches,
                          cudaStream_t stream) {
  auto* check = ws.check.as<DeferredCheck>();
  check_cuda(cudaMemsetAsync(&check->call_first_bad, 0xFF, sizeof check->call_first_bad, stream),
             "clearing the offset flag");
  constexpr int kThreads = 256;
  check_cuda(launch_kernel(&find_nonfinite_offset_kernel<Offsets>,
                           dim3(grid_blocks(num_patches, kThreads)), dim3(kThreads), 0, stream,
                           offsets, num_patches, check),
             "launching the offset check");
}

// Step 3, at the start of a work kernel: true when the call's offsets were
// rejected (the kernel must then return at once, every thread of it). One
// thread records the rejection. `check` is null for host-array calls, whose
// offsets the host checked.
__device__ __forceinline__ bool call_rejected(DeferredCheck* check, int64_t group_size,
                                              DeferredOperation operation, bool legacy) {
  if (check == nullptr) return false;
  const unsigned long long bad = *static_cast<volatile unsigned long long*>(&check->call_first_bad);
  if (bad == kNoBadOffset) return false;
  const bool first_thread = blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 &&
                            threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0;
  if (first_thread) {
    atomicAdd(&check->rejected_calls, 1ull);
    if (atomicCAS(&check->claimed, 0u, 1u) == 0u) {
      check->first_bad = bad;
      check->group_size = group_size;
      check->operation = operation;
      check->legacy = legacy ? 1u : 0u;
    }
  }
  return true;
}

}  // namespace ptychopatch::impl::gpu
