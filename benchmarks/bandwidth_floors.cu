// The write-only and read-only floors of bench_extract_gpu
// (bandwidth_floors.hpp): plain, coalesced, 16-byte accesses, grid-stride
// over a grid that fills the device.
#include <cstdint>

#include "bandwidth_floors.hpp"

namespace bench {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // independent float4 loads in flight per thread

// Stores a value that varies along the buffer (never all zeros or one
// constant that a memory system could compress).
__global__ void write_floor_kernel(float4* __restrict__ out, size_t n4,
                                   unsigned char* __restrict__ tail, size_t tail_bytes) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float v = static_cast<float>(static_cast<uint32_t>(i));
    out[i] = make_float4(v, 1.0f, 2.0f, 3.0f);
  }
  if (blockIdx.x == 0 && threadIdx.x < tail_bytes) tail[threadIdx.x] = 0x5a;
}

__device__ float sum4(float4 v) {
  return (v.x + v.y) + (v.z + v.w);
}

// Sums every float4 (kUnroll loads in flight per thread), then the block's
// sum into partials[blockIdx.x].
__global__ void read_floor_kernel(const float4* __restrict__ in, size_t n4,
                                  const unsigned char* __restrict__ tail, size_t tail_bytes,
                                  float* __restrict__ partials) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  float acc = 0.0f;
  for (; i + (kUnroll - 1) * stride < n4; i += kUnroll * stride) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = __ldg(in + i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc += sum4(v[u]);
  }
  for (; i < n4; i += stride) acc += sum4(__ldg(in + i));
  if (blockIdx.x == 0 && threadIdx.x < tail_bytes) acc += static_cast<float>(tail[threadIdx.x]);
  for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_down_sync(0xffffffffu, acc, offset);
  __shared__ float warps[kThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) total += warps[w];
    partials[blockIdx.x] = total;
  }
}

}  // namespace

// Asked once (the benchmarks use one device), so that no attribute query
// falls inside a timed launch.
int floor_blocks() {
  static const int blocks = [] {
    int device = 0, sms = 0, threads_per_sm = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device) !=
            cudaSuccess)
      return 1;
    return sms * (threads_per_sm / kThreads);
  }();
  return blocks;
}

cudaError_t launch_write_floor(void* out, size_t bytes, cudaStream_t stream) {
  const size_t n4 = bytes / 16;
  auto* tail = static_cast<unsigned char*>(out) + n4 * 16;
  write_floor_kernel<<<floor_blocks(), kThreads, 0, stream>>>(static_cast<float4*>(out), n4, tail,
                                                              bytes % 16);
  return cudaGetLastError();
}

cudaError_t launch_read_floor(const void* in, size_t bytes, float* partials, cudaStream_t stream) {
  const size_t n4 = bytes / 16;
  const auto* tail = static_cast<const unsigned char*>(in) + n4 * 16;
  read_floor_kernel<<<floor_blocks(), kThreads, 0, stream>>>(static_cast<const float4*>(in), n4,
                                                             tail, bytes % 16, partials);
  return cudaGetLastError();
}

}  // namespace bench
