// Where each patch's offset comes from and where each output pixel goes,
// shared by the CPU path and the CUDA kernel so both read and write the same
// elements.
#pragma once

#include <cstdint>

#include "math/patch_sampling.hpp"

namespace ptychopatch::math {

// Offsets given as one (x, y) pair per patch, float32 or float64; a float64
// pair is rounded once to float32 (the formula works in float32).
template <class T>
struct PairOffsets {
  const T* xy;

  PTP_HD void get(int64_t patch, float& x, float& y) const {
    x = static_cast<float>(xy[2 * patch]);
    y = static_cast<float>(xy[2 * patch + 1]);
  }

  // Member k of group b of c patches: patch b * c + k.
  PTP_HD void get_member(int64_t b, int64_t k, int64_t c, float& x, float& y) const {
    get(b * c + k, x, y);
  }
};

// PtychoPINN's global (B,1,2,1) + local (B,1,2,c) form: the sum is taken in
// T (the inputs' precision) and then rounded once to float32.
template <class T>
struct LegacyOffsets {
  const T* global;
  const T* local;
  int64_t group_size;

  PTP_HD void get(int64_t patch, float& x, float& y) const {
    const int64_t b = patch / group_size;
    get_member(b, patch - b * group_size, group_size, x, y);
  }

  // Member k of group b, without the division of get(): the GPU kernel
  // walks groups and members. c is the group size (the plan's, as here).
  PTP_HD void get_member(int64_t b, int64_t k, int64_t /*c*/, float& x, float& y) const {
    const T* local_b = local + 2 * group_size * b;
    x = static_cast<float>(global[2 * b] + local_b[k]);
    y = static_cast<float>(global[2 * b + 1] + local_b[group_size + k]);
  }
};

// Element index of pixel (y, x) of patch p in the output array.
// channel: (B, N, N, c) with p = b*c + k; flat: (P, N, N).
PTP_HD int64_t output_index(bool channel_layout, int64_t patch, int64_t y, int64_t x, int64_t n,
                            int64_t group_size) {
  if (!channel_layout) return (patch * n + y) * n + x;
  const int64_t b = patch / group_size;
  const int64_t k = patch - b * group_size;
  return ((b * n + y) * n + x) * group_size + k;
}

}  // namespace ptychopatch::math
