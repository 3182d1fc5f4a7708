// The translate-and-crop formula of SPEC §1, written once for the CPU path
// and the CUDA kernel. Both paths must produce bitwise identical patches, so
// every float operation here is spelled out in the order the spec gives and
// can never be fused into an FMA (math/round_nearest.hpp).
#pragma once

#include <cmath>
#include <cstdint>

#include "math/host_device.hpp"
#include "math/round_nearest.hpp"

namespace ptychopatch::math {

// Floor indices are clamped to this magnitude before the float-to-integer
// conversion, which is undefined for values outside int64. Any clamped index
// lies far outside every object (whose byte size fits in int64), so it still
// reads as zero padding.
constexpr float kIndexClamp = 4611686018427387904.0f;  // 2^62

// Where output pixel `pos` (0 <= pos < N) of a patch samples along one axis:
// the lower corner index in the zero-padded frame and the two corner
// weights (1 - frac, frac).
struct AxisTap {
  int64_t index0;
  float w0;
  float w1;
};

// The sample position of output pixel `pos` along one axis, as floats: the
// lower corner in the padded frame (an integer value) and the fraction
// above it. `pos` is the pixel index as a float (exact: N < 2^24).
struct AxisSample {
  float lower;
  float frac;
};

PTP_HD AxisSample axis_sample(float pos, float offset) {
  // fl32(pos + offset) in the padded frame, not pos + offset - N/2: the two
  // round differently for some negative offsets (SPEC §1).
  const float s = add_rn(pos, offset);
  const float lower = floorf(s);
  return AxisSample{lower, sub_rn(s, lower)};
}

PTP_HD AxisTap axis_tap(int64_t pos, float offset) {
  const AxisSample a = axis_sample(static_cast<float>(pos), offset);
  const float clamped = fminf(fmaxf(a.lower, -kIndexClamp), kIndexClamp);
  return AxisTap{static_cast<int64_t>(clamped), sub_rn(1.0f, a.frac), a.frac};
}

// True when padded-frame index i falls inside the object of `extent`
// pixels along that axis, i.e. h <= i < extent + h.
PTP_HD bool inside(int64_t padded_index, int64_t half, int64_t extent) {
  return padded_index >= half && padded_index - half < extent;
}

// The four bilinear corner weights of one output pixel, each one float32
// product: w00 = (1-wx)(1-wy), w01 = wx(1-wy), w10 = (1-wx)wy, w11 = wx wy.
// Corner ab is padded-frame pixel (y0 + a, x0 + b). Extraction (blend) and
// reassembly (math/patch_scatter.hpp) both take their weights from here, so
// the adjoint scatters with exactly the weights the patch was sampled with.
struct CornerWeights {
  float w00;
  float w01;
  float w10;
  float w11;
};

PTP_HD CornerWeights corner_weights(float x_w0, float x_w1, float y_w0, float y_w1) {
  return CornerWeights{mul_rn(x_w0, y_w0), mul_rn(x_w1, y_w0), mul_rn(x_w0, y_w1),
                       mul_rn(x_w1, y_w1)};
}

PTP_HD CornerWeights corner_weights(AxisTap tx, AxisTap ty) {
  return corner_weights(tx.w0, tx.w1, ty.w0, ty.w1);
}

// The four-corner bilinear combination of one real lane, in the spec's
// order: (1-wx)(1-wy) v00 + wx(1-wy) v01 + (1-wx)wy v10 + wx wy v11.
PTP_HD float blend(CornerWeights w, float v00, float v01, float v10, float v11) {
  return add_rn(add_rn(add_rn(mul_rn(w.w00, v00), mul_rn(w.w01, v01)), mul_rn(w.w10, v10)),
                mul_rn(w.w11, v11));
}

PTP_HD float blend(float x_w0, float x_w1, float y_w0, float y_w1, float v00, float v01, float v10,
                   float v11) {
  return blend(corner_weights(x_w0, x_w1, y_w0, y_w1), v00, v01, v10, v11);
}

// The four object corners of one output pixel sampled at (tx, ty), each
// bounds-checked once: value(a, b, lane) is corner ab's lane, 0 outside the
// object. Extraction and its offsets gradient read through it alike.
template <int kLanes>
struct PixelCorners {
  const float* row[2];
  int64_t col[2];
  bool in_y[2];
  bool in_x[2];

  PTP_HD PixelCorners(const float* object, int64_t height, int64_t width, int64_t half, AxisTap tx,
                      AxisTap ty) {
    const int64_t y[2] = {ty.index0, ty.index0 + 1};
    const int64_t x[2] = {tx.index0, tx.index0 + 1};
    for (int k = 0; k < 2; ++k) {
      in_y[k] = inside(y[k], half, height);
      in_x[k] = inside(x[k], half, width);
      // Addresses are formed only for in-range corners: an index far outside
      // would overflow the offset arithmetic.
      row[k] = in_y[k] ? object + (y[k] - half) * width * kLanes : object;
      col[k] = in_x[k] ? (x[k] - half) * kLanes : 0;
    }
  }

  PTP_HD float value(int a, int b, int lane) const {
    return (in_y[a] && in_x[b]) ? row[a][col[b] + lane] : 0.0f;
  }
};

// Samples every lane (1 for float32, 2 for complex64) of one output pixel
// with per-corner bounds checks; out-of-object corners read 0.
template <int kLanes>
PTP_HD void sample_pixel(const float* object, int64_t height, int64_t width, int64_t half,
                         AxisTap tx, AxisTap ty, float* out) {
  const PixelCorners<kLanes> c(object, height, width, half, tx, ty);
  for (int lane = 0; lane < kLanes; ++lane)
    out[lane] = blend(tx.w0, tx.w1, ty.w0, ty.w1, c.value(0, 0, lane), c.value(0, 1, lane),
                      c.value(1, 0, lane), c.value(1, 1, lane));
}

}  // namespace ptychopatch::math
