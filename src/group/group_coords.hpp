// PtychoPINN's coordinate outputs of a group, computed as its numpy code
// does, so that they match it bit for bit:
//   coords_offsets  = np.mean(coords_nn, axis=3)
//   coords_relative = -1 * (coords_nn - coords_offsets)
#pragma once

#include <cstdint>

namespace ptychopatch::impl {

// numpy's pairwise summation of n contiguous doubles (what np.sum and
// np.mean reduce a contiguous axis with): plain loop below 8 terms, 8
// interleaved partial sums up to 128, halves (cut at a multiple of 8)
// beyond. Starts from 0.0 as numpy's add.reduce does.
double numpy_pairwise_sum(const double* a, int64_t n);

// For one group whose c members are at (mx[k], my[k]), writes, where not
// NULL,
//   nn[axis * c + k]        = position of member k (axis 0: x, 1: y),
//   offset[axis]            = mean over k,
//   relative[axis * c + k]  = -(nn - mean).
void group_coordinates(const double* mx, const double* my, int64_t c, double* nn, double* offset,
                       double* relative);

}  // namespace ptychopatch::impl
