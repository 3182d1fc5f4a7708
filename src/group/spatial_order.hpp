// A Z-order (Morton) permutation of 2-D points. The KD-tree is built on the
// points in this order and queried in it, so consecutive queries touch
// neighbouring tree nodes and memory: on 10^6 scattered positions this
// alone halves the search time (docs/performance.md).
#pragma once

#include <cstdint>
#include <vector>

namespace ptychopatch::impl {

// order[r] is the index of the point of Z-order rank r. Points are
// quantised to a 2^16 x 2^16 grid over their bounding box; equal keys keep
// index order (the sort is stable), so the permutation depends only on the
// coordinates. Coordinates must be finite.
std::vector<int64_t> morton_order(const double* x, const double* y, int64_t n);

}  // namespace ptychopatch::impl
