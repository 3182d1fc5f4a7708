// The tile bins' scan and sort kernels (tile_bins.cuh says what they do).
#include "tile_bins.cuh"

namespace ptychopatch::impl::gpu {

// Step 2: thread t sums a contiguous run of counts, thread 0 turns the run
// sums into starts, and each thread writes its run's starts.
__global__ void __launch_bounds__(kScanThreads) scan_tile_counts_kernel(TileBins bins) {
  __shared__ int s_run[kScanThreads];
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t per = (bins.tiles + kScanThreads - 1) / kScanThreads;
  const int64_t begin = tid * per < bins.tiles ? tid * per : bins.tiles;
  const int64_t end = begin + per < bins.tiles ? begin + per : bins.tiles;
  int sum = 0;
  for (int64_t t = begin; t < end; ++t) sum += bins.starts[t];
  s_run[tid] = sum;
  __syncthreads();
  if (tid == 0) {
    int total = 0;
    for (int k = 0; k < kScanThreads; ++k) {
      const int run = s_run[k];
      s_run[k] = total;
      total += run;
    }
    bins.starts[bins.tiles] = total;
  }
  __syncthreads();
  int at = s_run[tid];
  for (int64_t t = begin; t < end; ++t) {
    const int c = bins.starts[t];
    bins.starts[t] = at;
    bins.cursors[t] = at;
    at += c;
  }
}

// Step 4. Sorts keys[0, m) ascending: every thread of the block calls it
// (m the same for all). Bitonic sort in the form whose compare-exchanges
// all put the smaller key first: for each merge size s = 2, 4, ... up to
// the power of two P >= m, a flip (i with the mirror of i in its block of
// s), then half-cleaners of distances s/4, ..., 1. The keys past m stand for
// +infinity, which no compare-exchange moves, so the pairs that reach past
// m are skipped rather than padded.
static __device__ __forceinline__ void compare_exchange(int* keys, int64_t lo, int64_t hi) {
  const int a = keys[lo];
  const int b = keys[hi];
  if (b < a) {
    keys[lo] = b;
    keys[hi] = a;
  }
}

static __device__ void bitonic_sort(int* keys, int64_t m) {
  int64_t p = 1;
  while (p < m) p *= 2;
  const int64_t pairs = p / 2;
  for (int64_t size = 2; size <= p; size *= 2) {
    const int64_t half = size / 2;
    for (int64_t k = threadIdx.x; k < pairs; k += blockDim.x) {
      const int64_t base = k / half * size;
      const int64_t j = k % half;
      const int64_t hi = base + size - 1 - j;
      if (hi < m) compare_exchange(keys, base + j, hi);
    }
    __syncthreads();
    for (int64_t d = half / 2; d >= 1; d /= 2) {
      for (int64_t k = threadIdx.x; k < pairs; k += blockDim.x) {
        const int64_t lo = k / d * 2 * d + k % d;
        if (lo + d < m) compare_exchange(keys, lo, lo + d);
      }
      __syncthreads();
    }
  }
}

__global__ void __launch_bounds__(kSortThreads) sort_tile_patches_kernel(TileBins bins) {
  __shared__ int s_keys[kSortInShared];
  for (int64_t t = blockIdx.x; t < bins.tiles; t += gridDim.x) {
    const int64_t begin = bins.starts[t];
    const int64_t m = bins.starts[t + 1] - begin;
    if (m < 2) continue;
    int* const list = bins.list + begin;
    if (m <= kSortInShared) {
      for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s_keys[i] = list[i];
      __syncthreads();
      bitonic_sort(s_keys, m);
      for (int64_t i = threadIdx.x; i < m; i += blockDim.x) list[i] = s_keys[i];
      __syncthreads();  // s_keys is read before the next tile overwrites it
    } else {
      bitonic_sort(list, m);  // its barriers also order the global reads and writes
    }
  }
}

}  // namespace ptychopatch::impl::gpu
