// The offsets of a host-array call, uploaded chunk by chunk: each source
// knows the device bytes one group needs and copies the offsets of groups
// [b0, b1) into a device slot, returning the math:: view of that slot.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_support.cuh"
#include "math/patch_indexing.hpp"

namespace ptychopatch::impl::gpu {

template <class T>
struct PairUpload {
  const T* host;  // (x, y) per patch
  int64_t group_size;

  uint64_t group_bytes() const { return 2 * group_size * sizeof(T); }

  math::PairOffsets<T> upload(void* slot, int64_t b0, int64_t b1, cudaStream_t stream) const {
    const int64_t per_group = 2 * group_size;
    check_cuda(cudaMemcpyAsync(slot, host + per_group * b0, (b1 - b0) * per_group * sizeof(T),
                               cudaMemcpyHostToDevice, stream),
               "copying offsets to the device");
    return {static_cast<const T*>(slot)};
  }
};

template <class T>
struct LegacyUpload {
  const T* global;  // (B, 1, 2, 1)
  const T* local;   // (B, 1, 2, c)
  int64_t group_size;

  uint64_t group_bytes() const { return (2 + 2 * group_size) * sizeof(T); }

  math::LegacyOffsets<T> upload(void* slot, int64_t b0, int64_t b1, cudaStream_t stream) const {
    T* d_global = static_cast<T*>(slot);
    T* d_local = d_global + 2 * (b1 - b0);
    check_cuda(cudaMemcpyAsync(d_global, global + 2 * b0, 2 * (b1 - b0) * sizeof(T),
                               cudaMemcpyHostToDevice, stream),
               "copying global offsets to the device");
    const int64_t per_group = 2 * group_size;
    check_cuda(cudaMemcpyAsync(d_local, local + per_group * b0, (b1 - b0) * per_group * sizeof(T),
                               cudaMemcpyHostToDevice, stream),
               "copying local offsets to the device");
    return {d_global, d_local, group_size};
  }
};

}  // namespace ptychopatch::impl::gpu
