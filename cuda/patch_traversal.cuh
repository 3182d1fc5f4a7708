// How the reassembly kernel walks a patch array (extraction has its own
// walk, per column: extract_kernel.cuh). Both layouts are rows of
// consecutive elements: channel (B, N, N, c) has B*N rows of N*c elements
// (x, then the c patches of the group), flat (P, N, N) has P*N rows of N
// (it is the channel layout with groups of one). A block owns one patch
// row y (blockIdx.y) of a strided set of groups (blockIdx.x), and its
// threads span the row, so:
//  - warps touch consecutive addresses (coalesced loads and stores);
//  - the row index, the column and the member k are computed once per
//    thread, not per element: no 64-bit division in the inner loop, which
//    would cost more than the memory traffic it serves.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/extract_plan.hpp"

namespace ptychopatch::impl::gpu {

struct RowTraversal {
  int64_t num_groups;  // B (channel) or P (flat)
  int64_t members;     // c (channel) or 1 (flat): patches side by side in a row
  int64_t row_length;  // N * members
};

inline RowTraversal row_traversal(const ExtractGeometry& g, int64_t num_patches) {
  const int64_t members = g.channel_layout ? g.group_size : 1;
  return RowTraversal{num_patches / members, members, g.n * members};
}

// Calls visit(patch, y, x, element) for every element of the patch array,
// where element is its index in the array (in elements, not floats).
template <class Visit>
__device__ __forceinline__ void for_each_patch_element(const RowTraversal& t, int64_t n,
                                                       Visit&& visit) {
  for (int64_t y = blockIdx.y; y < n; y += gridDim.y) {
    for (int64_t j = threadIdx.x; j < t.row_length; j += blockDim.x) {
      const int64_t x = j / t.members;
      const int64_t k = j - x * t.members;
      for (int64_t b = blockIdx.x; b < t.num_groups; b += gridDim.x)
        visit(b * t.members + k, y, x, (b * n + y) * t.row_length + j);
    }
  }
}

struct LaunchShape {
  dim3 grid;
  dim3 block;
};

// Threads span a row (up to 256); rows fill grid.y (CUDA's limit is 65535);
// groups fill grid.x until the device holds several waves of blocks.
inline LaunchShape launch_shape(const RowTraversal& t, int64_t n, int multiprocessors) {
  const int64_t threads = std::min<int64_t>(256, (t.row_length + 31) / 32 * 32);
  const int64_t rows = std::min<int64_t>(n, 65535);
  const int64_t wanted_blocks = int64_t{multiprocessors} * 64 * (256 / threads);
  const int64_t groups =
      std::max<int64_t>(1, std::min<int64_t>(t.num_groups, (wanted_blocks + rows - 1) / rows));
  return LaunchShape{dim3(static_cast<unsigned>(std::min<int64_t>(groups, 0x7fffffff)),
                          static_cast<unsigned>(rows)),
                     dim3(static_cast<unsigned>(threads))};
}

}  // namespace ptychopatch::impl::gpu
