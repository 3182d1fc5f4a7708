// The gradient of extraction with respect to the offsets
// (ptp_extract_offsets_gradient), written once for the CPU path and the
// CUDA kernel, which must give bitwise equal results.
//
// Extraction reads, per lane, P = w00 v00 + w01 v01 + w10 v10 + w11 v11
// with the weights of math::corner_weights, products of the axis weights
// (1 - fx, fx) and (1 - fy, fy), fx and fy the fractions of the samples
// fl32(x + ox) and fl32(y + oy) above their lower corners. Their derivatives
// with respect to the offset (d fx / d ox = 1, the rounding taken as exact):
//   dP/dox = (1 - fy) (v01 - v00) + fy (v11 - v10)
//   dP/doy = (1 - fx) (v10 - v00) + fx (v11 - v01)
// where (1 - f) is the float32 weight extraction uses and every corner
// outside the object reads 0, as in math::sample_pixel. At an integer sample
// (f = 0) this is the derivative from the right: the corners are those of
// the interval [s, s + 1) extraction samples in.
//
// A pixel contributes Re(conj(G) dP/do) = G_re dRe/do + G_im dIm/do (one
// real lane: G dP/do), G the upstream gradient, all in double, each
// operation rounded once (math/round_nearest.hpp: no FMA on either side).
//
// The order of the sum over a patch's N x N pixels is fixed, the same on
// both backends: column x sums its rows y = 0, 1, ..., N - 1 in order; the
// column sums are gathered into kGradientColumnStride partial sums, partial
// t adding columns t, t + S, t + 2S, ... in order (S the stride); the
// partials t = 0, 1, ..., min(N, S) - 1 are added in order. Every sum starts
// from +0.0. The CUDA kernel gives a thread each column (and its every S-th
// successor); the CPU keeps N column sums per patch and walks the rows.
#pragma once

#include <cstdint>

#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"

namespace ptychopatch::math {

// Columns x and x + S share a partial sum (the CUDA kernel's threads per
// patch at most). Part of the summation order: changing it changes bits.
constexpr int64_t kGradientColumnStride = 256;

// The contributions of one output pixel to the two offset gradients.
struct OffsetGradientTerm {
  double x;
  double y;
};

// dP/dox and dP/doy of one real lane from its four corner values and the
// axis weights, as the header comment writes them.
PTP_HD OffsetGradientTerm lane_offset_derivative(AxisTap tx, AxisTap ty, float v00, float v01,
                                                 float v10, float v11) {
  const double d00 = v00;
  const double d01 = v01;
  const double d10 = v10;
  const double d11 = v11;
  const double dx = add_rn(mul_rn(static_cast<double>(ty.w0), sub_rn(d01, d00)),
                           mul_rn(static_cast<double>(ty.w1), sub_rn(d11, d10)));
  const double dy = add_rn(mul_rn(static_cast<double>(tx.w0), sub_rn(d10, d00)),
                           mul_rn(static_cast<double>(tx.w1), sub_rn(d11, d01)));
  return OffsetGradientTerm{dx, dy};
}

// One output pixel sampled at (tx, ty): sum over its lanes (in lane order)
// of grad[lane] * dP_lane/do, for both axes. `grad` points at the pixel's
// kLanes floats of the upstream gradient. Corners are read as
// math::sample_pixel reads them (PixelCorners); out-of-object corners read 0.
template <int kLanes>
PTP_HD OffsetGradientTerm offset_gradient_pixel(const float* object, int64_t height, int64_t width,
                                                int64_t half, AxisTap tx, AxisTap ty,
                                                const float* grad) {
  const PixelCorners<kLanes> c(object, height, width, half, tx, ty);
  OffsetGradientTerm sum{0.0, 0.0};
  for (int lane = 0; lane < kLanes; ++lane) {
    const OffsetGradientTerm d = lane_offset_derivative(
        tx, ty, c.value(0, 0, lane), c.value(0, 1, lane), c.value(1, 0, lane), c.value(1, 1, lane));
    const double g = grad[lane];
    if (lane == 0) {
      sum = OffsetGradientTerm{mul_rn(g, d.x), mul_rn(g, d.y)};
    } else {
      sum.x = add_rn(sum.x, mul_rn(g, d.x));
      sum.y = add_rn(sum.y, mul_rn(g, d.y));
    }
  }
  return sum;
}

PTP_HD void accumulate(OffsetGradientTerm& sum, OffsetGradientTerm term) {
  sum.x = add_rn(sum.x, term.x);
  sum.y = add_rn(sum.y, term.y);
}

// Element (not float) index of pixel (0, x) of patch p in the patch array,
// and the elements between rows: math::output_index without a division
// per pixel.
PTP_HD int64_t gradient_column_start(bool channel_layout, int64_t patch, int64_t x, int64_t n,
                                     int64_t group_size) {
  return output_index(channel_layout, patch, 0, x, n, group_size);
}

PTP_HD int64_t gradient_row_stride(bool channel_layout, int64_t n, int64_t group_size) {
  return channel_layout ? n * group_size : n;
}

}  // namespace ptychopatch::math
