// The bandwidth floors of the GPU benchmarks (issue 61): the fastest a
// kernel can write, or read, a given number of bytes of device memory on
// this device. Extraction only writes its output (it reads a cached 8 MB
// object) and reassembly only reads its patches (it writes a 12 MB canvas
// and weights), so a device-to-device copy, which reads and writes the
// bytes, is not their floor: these are.
//
//   write floor   float4 stores over the bytes, coalesced, grid-stride
//   read floor    float4 loads over the bytes, summed per block (one float
//                 per block written to `partials`, so the loads stay)
//
// The kernels are in bandwidth_floors.cu; both enqueue on `stream` and
// return the launch's error.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace bench {

// Blocks of the floors' launches on the current device: enough to fill
// every SM with resident threads (and the number of floats `partials` of
// launch_read_floor must hold).
int floor_blocks();

// Writes `bytes` bytes at `out` (aligned to 16; a tail below 16 bytes is
// written byte by byte).
cudaError_t launch_write_floor(void* out, size_t bytes, cudaStream_t stream);

// Reads `bytes` bytes at `in` (aligned to 16; a tail below 16 bytes byte by
// byte) and writes floor_blocks() partial sums to `partials`.
cudaError_t launch_read_floor(const void* in, size_t bytes, float* partials, cudaStream_t stream);

}  // namespace bench
