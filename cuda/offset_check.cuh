// Finite-offset check for offsets that live on the device, without a host
// wait (issue 15): the host cannot read the offsets, and waiting for a check
// would stall the caller, serialise its pipeline and break CUDA graph
// capture. Two forms, both ordinary stream work on the caller's stream:
// capturable in a CUDA graph, whose replays check their offsets again.
//
// Three launches (reassembly, offsets gradient):
//   1. a reset of the context's per-call flag (a memset),
//   2. a check kernel that records there the first patch whose offset is
//      not finite,
//   3. the work kernel, which reads the flag first and, if it is set,
//      writes nothing (SPEC: bad input leaves the outputs untouched) and
//      records the rejection in the context's DeferredCheck.
// One launch (extraction, issue 61): the work kernel checks the offsets
// itself before any block writes (scan_offsets_in_launch): its blocks take
// chunks of the offsets from a shared counter, and a block waits only once
// every chunk is taken, i.e. only for blocks that are running; the last
// block to read the verdict records a rejection and puts the counters back.
//
// Either way the call returns at once, and ptp_context_synchronize waits for
// the stream and reports a recorded rejection as PTP_ERROR_NON_FINITE
// (deferred_status). The record is the context's, so its device-array calls
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

// Records a rejected call in the context's record (one thread per call).
__device__ __forceinline__ void record_rejection(DeferredCheck* check, unsigned long long bad,
                                                 int64_t group_size, DeferredOperation operation,
                                                 bool legacy) {
  atomicAdd(&check->rejected_calls, 1ull);
  if (atomicCAS(&check->claimed, 0u, 1u) == 0u) {
    check->first_bad = bad;
    check->group_size = group_size;
    check->operation = operation;
    check->legacy = legacy ? 1u : 0u;
  }
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
  if (first_thread) record_rejection(check, bad, group_size, operation, legacy);
  return true;
}

// Patches one block checks per chunk it takes, per thread of the block.
constexpr int64_t kScanPatchesPerThread = 4;

// The one-launch check, at the start of a work kernel, called by every
// thread of every block (it has barriers): true when one of the call's
// `num_patches` offsets is not finite; the block must then return at once,
// having written nothing. `check` is null for host-array calls (false).
//
// No block writes before every offset is checked, without a grid barrier
// (which would need every block resident): each block takes chunks of the
// offsets from check->scan_taken and checks them until none is left, then
// waits until every taken chunk is checked. A chunk is taken only by a
// running block, which checks it without waiting for anything, so the wait
// ends whatever the number of blocks resident. Blocks that start later find
// every chunk checked and only read the verdict. The last block to read it
// records a rejection (once per call) and resets the counters for the next
// call, which is ordered after this kernel on the stream.
template <class Offsets>
__device__ bool scan_offsets_in_launch(const Offsets& offsets, int64_t num_patches,
                                       DeferredCheck* check, int64_t group_size,
                                       DeferredOperation operation, bool legacy) {
  if (check == nullptr) return false;
  __shared__ unsigned long long block_value;  // a chunk taken, then the verdict
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const bool leader = tid == 0;
  const auto chunk = static_cast<unsigned long long>(threads * kScanPatchesPerThread);
  const auto patches = static_cast<unsigned long long>(num_patches);
  const unsigned long long chunks = (patches + chunk - 1) / chunk;
  volatile unsigned long long* const done = &check->scan_done;
  for (;;) {
    if (leader) block_value = *done >= chunks ? chunks : atomicAdd(&check->scan_taken, 1ull);
    __syncthreads();
    const unsigned long long taken = block_value;
    __syncthreads();  // every thread has read it before the leader writes again
    if (taken >= chunks) break;
    const unsigned long long begin = taken * chunk;
    const unsigned long long end = patches - begin < chunk ? patches : begin + chunk;
    for (unsigned long long p = begin + tid; p < end; p += threads) {
      float x = 0.0f;
      float y = 0.0f;
      offsets.get(static_cast<int64_t>(p), x, y);
      if (!isfinite(x) || !isfinite(y)) atomicMin(&check->scan_first_bad, p);
    }
    __syncthreads();  // the chunk is checked
    if (leader) {
      __threadfence();
      atomicAdd(&check->scan_done, 1ull);
    }
  }
  if (leader) {
    while (*done < chunks) {
#if defined(PTYCHOPATCH_EMULATED_GPU)
      // Blocks run one at a time there: a block that took a chunk checked
      // it before this one started, so this wait never waits.
      ptp_emu_kernel_fault("a block waits for the offset check of another");
      break;
#endif
    }
    __threadfence();
    const unsigned long long bad =
        *static_cast<volatile unsigned long long*>(&check->scan_first_bad);
    block_value = bad;
    const unsigned long long blocks =
        static_cast<unsigned long long>(gridDim.x) * gridDim.y * gridDim.z;
    if (atomicAdd(&check->scan_exited, 1ull) == blocks - 1) {
      // Every block has read the verdict: record it, then reset.
      if (bad != kNoBadOffset) record_rejection(check, bad, group_size, operation, legacy);
      check->scan_first_bad = kNoBadOffset;
      check->scan_taken = 0;
      check->scan_done = 0;
      check->scan_exited = 0;
    }
  }
  __syncthreads();
  return block_value != kNoBadOffset;
}

}  // namespace ptychopatch::impl::gpu
