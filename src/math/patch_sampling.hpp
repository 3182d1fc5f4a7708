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

// Samples every lane (1 for float32, 2 for complex64) of one output pixel
// with per-corner bounds checks; out-of-object corners read 0.
template <int kLanes>
PTP_HD void sample_pixel(const float* object, int64_t height, int64_t width, int64_t half,
                         AxisTap tx, AxisTap ty, float* out) {
  const int64_t x1 = tx.index0 + 1;
  const int64_t y1 = ty.index0 + 1;
  const bool in_x0 = inside(tx.index0, half, width);
  const bool in_x1 = inside(x1, half, width);
  const bool in_y0 = inside(ty.index0, half, height);
  const bool in_y1 = inside(y1, half, height);
  // Addresses are formed only for in-range corners: an index far outside
  // would overflow the offset arithmetic.
  const float* row0 = in_y0 ? object + (ty.index0 - half) * width * kLanes : object;
  const float* row1 = in_y1 ? object + (y1 - half) * width * kLanes : object;
  const int64_t col0 = in_x0 ? (tx.index0 - half) * kLanes : 0;
  const int64_t col1 = in_x1 ? (x1 - half) * kLanes : 0;
  for (int lane = 0; lane < kLanes; ++lane) {
    const float v00 = (in_y0 && in_x0) ? row0[col0 + lane] : 0.0f;
    const float v01 = (in_y0 && in_x1) ? row0[col1 + lane] : 0.0f;
    const float v10 = (in_y1 && in_x0) ? row1[col0 + lane] : 0.0f;
    const float v11 = (in_y1 && in_x1) ? row1[col1 + lane] : 0.0f;
    out[lane] = blend(tx.w0, tx.w1, ty.w0, ty.w1, v00, v01, v10, v11);
  }
}

}  // namespace ptychopatch::math
