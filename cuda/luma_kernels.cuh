// The luminance images of the default estimator (PTP_COMBINE_LUMA) on the
// device: the cuFFT backend uploads each raw frame as it is and makes its
// image here, bit for bit the image the host makes for the CPU backend
// (src/align/coarse/align_luma.cpp; both take every formula from
// src/math/luma_math.hpp, whose double arithmetic rounds alike on both).
//
// Passes over one image of n = rows x cols pixels (a 24 MP Bayer frame:
// n = 24 M; X-Trans: n / 9 of the sensor pixels), all on `stream`:
//   1. box means: one thread per image pixel reads its K x K window (Bayer
//      9 values, X-Trans 36; neighbouring windows share their values, so
//      DRAM reads each frame value about once) and writes 4 bytes;
//   2. the trend's row sums: each image row added in column order by one
//      thread (the host's order, so the sums are the same doubles); a warp
//      owns 32 rows and loads them in tiles of 32 columns, 128 coalesced
//      bytes per row and tile, through shared memory (the next tile in
//      flight while this one is summed): 4 bytes per pixel from DRAM, but
//      only `rows` adding threads, so latency, not bandwidth, may bound it;
//   3. the fit: one thread adds the rows' sums in row order (rows x 6
//      double adds) from runs its block loads into shared memory, and
//      solves for the six coefficients;
//   4. the largest |L| and |L - t|: a block per row (order-free maxima);
//   5. one block decides: nothing left (all zeros) or the power-of-two
//      scale;
//   6. v = fl32((L - t) 2^-e): 4 bytes read and written per pixel.
// DRAM traffic, frame read once: 2 (uint16) or 4 bytes per sensor pixel,
// then 20 bytes per image pixel; about 20 double operations per image
// pixel (steps 2, 4 and 6). Images under math::kTrendMinSide rows or
// columns keep their trend: step 1 only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "align/align_backend.hpp"

namespace ptychopatch::impl::gpu::luma {

struct ImageDims {
  // Frame.
  int64_t height;
  int64_t width;
  int64_t channels;  // planar channels without a pattern, else 1
  int64_t period;    // P: 2 (Bayer), 6 (X-Trans), 1 (channels)
  int64_t stride;    // math::luma_stride
  int64_t window;    // math::luma_window: K
  int32_t frame_dtype;
  bool pattern;  // a colour pattern (else planar channels)
  // Image.
  int64_t rows;
  int64_t cols;
  bool trend;             // rows and cols >= math::kTrendMinSide
  double na, nq, nb, nr;  // math::trend_norm of the rows and columns
};

// The image dimensions of a g.luma geometry.
ImageDims make_image_dims(const AlignGeometry& g);

// The trend's basis at every row and column, made once per plan on the
// host (no double division per pixel on the device, where FP64 is slow on
// many GPUs): a(i), q(i) for i < rows, then b(j), r(j) for j < cols
// (math::trend_linear, math::trend_quadratic); axes_count(d) doubles.
int64_t axes_count(const ImageDims& d);
void axes_table(const ImageDims& d, double* out);

// Device scratch of make_image: the rows' sums and maxima, and the fit.
size_t scratch_bytes(const ImageDims& d);

// Enqueues on `stream` the image (rows x cols float32, contiguous) of the
// raw frame `frame` (device) made of the planes flagged in `use` (device,
// one byte per plane: channel, or pattern position r * P + c), trend
// removed, into `image`; `axes`: a device copy of axes_table; `scratch`:
// scratch_bytes(d). Throws Error on a launch failure.
void make_image(const void* frame, const ImageDims& d, const unsigned char* use, const double* axes,
                void* scratch, float* image, cudaStream_t stream);

}  // namespace ptychopatch::impl::gpu::luma
