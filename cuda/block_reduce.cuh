// A block-wide reduction in a fixed order, written in plain CUDA C++
// (shared memory and __syncthreads only).
//
// Why not CUB's BlockReduce:
//  - determinism: the order in which values are combined is fixed by the
//    thread indices alone, never by scheduling, the architecture or a library
//    version, so a sum of doubles is bitwise the same on every device and
//    every run;
//  - the same kernel text must compile for the emulated device of the tests
//    (tests/emulation/, host C++), which has no warp intrinsics, cooperative
//    groups, CUB or thrust.
//
// Order. Thread t stores its value in shared[t]. Each of the first
// L = min(kThreads, 32) threads ("leaves") then folds shared[t],
// shared[t + L], shared[t + 2L], ... left to right into shared[t]; thread 0
// folds the L leaf results shared[0], ..., shared[L - 1] left to right; every
// thread reads that total. This is the same serial depth as a shared-memory
// tree down to 32 values followed by a fold of the last 32 (kThreads / 32 +
// 32 steps), with four barriers in all instead of six for 256 threads: an
// emulated device runs each barrier as a context switch of every thread, so
// the barrier count is what costs there.
#pragma once

namespace ptychopatch::impl::gpu {

// Reduces `value` over the block with `op` (op(a, b), a from the earlier
// part of the order above) and returns the result to every thread.
//
// Requirements: blockDim.x == kThreads (blockDim.y == blockDim.z == 1), a
// power of two; `shared` points to a __shared__ T[kThreads] array of the
// caller; every thread of the block calls block_reduce (it holds barriers).
// It ends with a barrier, so the caller may reuse `shared` at once.
template <int kThreads, class T, class Op>
__device__ T block_reduce(T value, Op op, T* shared) {
  static_assert(kThreads > 0 && (kThreads & (kThreads - 1)) == 0,
                "block_reduce needs a power-of-two block size");
  constexpr int kLeaves = kThreads < 32 ? kThreads : 32;
  const int tid = static_cast<int>(threadIdx.x);
  shared[tid] = value;
  __syncthreads();
  // Leaf t reads and writes only slots congruent to t modulo kLeaves.
  if (tid < kLeaves) {
    T acc = shared[tid];
    for (int k = tid + kLeaves; k < kThreads; k += kLeaves) acc = op(acc, shared[k]);
    shared[tid] = acc;
  }
  __syncthreads();
  if (tid == 0) {
    T acc = shared[0];
    for (int k = 1; k < kLeaves; ++k) acc = op(acc, shared[k]);
    shared[0] = acc;
  }
  __syncthreads();
  const T result = shared[0];
  __syncthreads();  // every thread has read shared[0]: the caller may reuse it
  return result;
}

}  // namespace ptychopatch::impl::gpu
