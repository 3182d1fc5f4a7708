// Reassembly, the adjoint of the translate-and-crop formula, written once for
// the CPU path and the CUDA kernel. Extraction reads
//   patch[y, x] = w00 v(y0, x0) + w01 v(y0, x0+1) + w10 v(y0+1, x0) + w11 v(y0+1, x0+1)
// in the zero-padded frame; its transpose adds w_ab * patch[y, x] to each of
// those four corners that lies inside the object (a corner in the padding
// was a zero read, so its contribution is dropped). The weights are
// math::corner_weights, the very products blend() samples with, and every
// contribution is one float32 product mul_rn(weight, value), so the CPU and
// the GPU form bitwise identical terms, and both sum each canvas pixel's
// terms in the same order (patches, then rows y, then columns x, ascending;
// the GPU gathers them per pixel, cuda/reassemble_kernel.cuh), so their
// canvases are bitwise equal.
#pragma once

#include <cstdint>

#include "math/patch_sampling.hpp"

namespace ptychopatch::math {

// The term one corner receives from one real lane of a patch value.
PTP_HD float scatter_term(float weight, float value) {
  return mul_rn(weight, value);
}

// Calls add(object_element_index, weight) for each corner of the output
// pixel sampled at (tx, ty) that lies inside the H x W object, in the fixed
// order 00, 01, 10, 11, where object_element_index = row * width + col is
// the corner's element (not float) index in the object / canvas and weight
// is its corner_weights() entry. Corners in the zero padding are skipped
// without forming their index: an axis_tap index may be as large as
// +-kIndexClamp (2^62), whose product with width would overflow. Every
// in-object corner is reported, zero weights included, so a NaN or infinite
// patch value propagates exactly as extraction propagates object values.
template <class Add>
PTP_HD void scatter_pixel(int64_t height, int64_t width, int64_t half, AxisTap tx, AxisTap ty,
                          Add&& add) {
  const CornerWeights w = corner_weights(tx, ty);
  const int64_t x1 = tx.index0 + 1;
  const int64_t y1 = ty.index0 + 1;
  const bool in_x0 = inside(tx.index0, half, width);
  const bool in_x1 = inside(x1, half, width);
  const bool in_y0 = inside(ty.index0, half, height);
  const bool in_y1 = inside(y1, half, height);
  const int64_t col0 = in_x0 ? tx.index0 - half : 0;
  const int64_t col1 = in_x1 ? x1 - half : 0;
  if (in_y0) {
    const int64_t row = (ty.index0 - half) * width;
    if (in_x0) add(row + col0, w.w00);
    if (in_x1) add(row + col1, w.w01);
  }
  if (in_y1) {
    const int64_t row = (y1 - half) * width;
    if (in_x0) add(row + col0, w.w10);
    if (in_x1) add(row + col1, w.w11);
  }
}

}  // namespace ptychopatch::math
