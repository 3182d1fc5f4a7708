#include "luma_kernels.cuh"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

#include "block_reduce.cuh"
#include "core/error.hpp"
#include "cuda_support.cuh"
#include "launch.cuh"
#include "math/luma_math.hpp"

namespace ptychopatch::impl::gpu::luma {
namespace {

constexpr int kThreads = 256;

// What the fit leaves for the last passes.
struct Fit {
  math::Trend trend;
  int informative;  // math::luma_informative
  int exponent;     // math::luma_scale_exponent
};

struct Scratch {
  math::TrendRowSums* rows;  // per image row
  double* top_residual;      // per image row: max |L - t|
  double* top_value;         // per image row: max |L|
  Fit* fit;
};

Scratch carve(const ImageDims& d, void* base) {
  auto* p = static_cast<unsigned char*>(base);
  const size_t rows = static_cast<size_t>(d.rows);
  Scratch s{};
  s.rows = reinterpret_cast<math::TrendRowSums*>(p);
  p += align_up(rows * sizeof(math::TrendRowSums));
  s.top_residual = reinterpret_cast<double*>(p);
  p += align_up(rows * sizeof(double));
  s.top_value = reinterpret_cast<double*>(p);
  p += align_up(rows * sizeof(double));
  s.fit = reinterpret_cast<Fit*>(p);
  return s;
}

// The basis tables of axes_table, on the device.
struct Axes {
  const double* a;
  const double* q;
  const double* b;
  const double* r;
};

Axes axes_of(const ImageDims& d, const double* table) {
  return {table, table + d.rows, table + 2 * d.rows, table + 2 * d.rows + d.cols};
}

struct MaxOp {
  __device__ double operator()(double a, double b) const { return a > b ? a : b; }
};

// The per-pixel kernels run on a 2-D grid: image rows along y (striding by
// gridDim.y past CUDA's 65535), columns along x, so no pixel index is
// divided.
constexpr int64_t kMaxGridY = 65535;

dim3 pixel_grid(const ImageDims& d) {
  const int64_t column_blocks = (d.cols + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(std::max<int64_t>(1, column_blocks)),
              static_cast<unsigned>(std::clamp<int64_t>(d.rows, 1, kMaxGridY)));
}

// Step 1: image pixel (i, j) is the window at frame row s i, column s j
// (math::window_mean; the period and window constants, so the window's
// loops unroll and its sites wrap without a division), or for kPeriod 1
// the channels' mean at (i, j).
template <class T, int kPeriod, int kWindow>
__global__ void __launch_bounds__(kThreads)
    box_kernel(const T* __restrict__ frame, ImageDims d, const unsigned char* __restrict__ use,
               float* __restrict__ image) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= d.cols) return;
  for (int64_t i = blockIdx.y; i < d.rows; i += gridDim.y) {
    if constexpr (kPeriod == 1)
      image[i * d.cols + j] =
          math::channel_mean(frame, d.height * d.width, i * d.width + j, d.channels, use);
    else
      image[i * d.cols + j] =
          math::window_mean<kPeriod, kWindow>(frame, d.width, d.stride * i, d.stride * j, use);
  }
}

// Step 2: each row's sums in math::fold_trend_lanes' tree, the host's bits:
// a block of one warp per row, lane l adding columns l, l + 32, ... (each
// step a coalesced read of 32 columns), then lane 0 folding the lanes.
// Blocks of one warp, so that the few thousand rows spread over every SM.
constexpr int kRowSumThreads = math::kTrendLanes;

__global__ void __launch_bounds__(kRowSumThreads)
    row_sums_kernel(const float* __restrict__ image, ImageDims d, Axes axes,
                    math::TrendRowSums* __restrict__ rows) {
  __shared__ math::TrendRowSums lanes[kRowSumThreads];
  const int lane = static_cast<int>(threadIdx.x);
  for (int64_t i = blockIdx.x; i < d.rows; i += gridDim.x) {
    const float* l = image + i * d.cols;
    math::TrendRowSums s{0.0, 0.0, 0.0};
    for (int64_t j = lane; j < d.cols; j += kRowSumThreads)
      math::add_to_row_sums(s, l[j], axes.b[j], axes.r[j]);
    lanes[lane] = s;
    __syncthreads();
    if (lane == 0) {
      math::fold_trend_lanes(lanes);
      rows[i] = lanes[0];
    }
    __syncthreads();  // the lanes are free for the next row
  }
}

// Step 3 (one block): the six sums in row order, and the coefficients.
// One thread adds them, in order (the host's doubles); the block first
// loads each run of kThreads rows' sums and basis values into shared
// memory, so that the adding thread waits for shared memory, not for a
// global load per row (one thread reading them in turn took 0.7 ms for
// 2000 rows on an H100, 2026-11-26).
__global__ void __launch_bounds__(kThreads)
    fit_kernel(ImageDims d, Axes axes, const math::TrendRowSums* __restrict__ rows,
               Fit* __restrict__ fit) {
  __shared__ math::TrendRowSums run[kThreads];
  __shared__ double run_a[kThreads];
  __shared__ double run_q[kThreads];
  double s[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  for (int64_t i0 = 0; i0 < d.rows; i0 += kThreads) {
    const int64_t i = i0 + threadIdx.x;
    if (i < d.rows) {
      run[threadIdx.x] = rows[i];
      run_a[threadIdx.x] = axes.a[i];
      run_q[threadIdx.x] = axes.q[i];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const int count = d.rows - i0 < kThreads ? static_cast<int>(d.rows - i0) : kThreads;
      for (int k = 0; k < count; ++k) math::add_row_to_trend_sums(s, run[k], run_a[k], run_q[k]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0)
    fit->trend = math::trend_coefficients(s, d.rows, d.cols, d.na, d.nq, d.nb, d.nr);
}

// Step 4: a block per row, the row's largest |L - t| and |L| (maxima: in
// any order, the same values).
__global__ void __launch_bounds__(kThreads)
    row_maxima_kernel(const float* __restrict__ image, ImageDims d, Axes axes,
                      const Fit* __restrict__ fit, double* __restrict__ top_residual,
                      double* __restrict__ top_value) {
  __shared__ double shared[kThreads];
  const math::Trend trend = fit->trend;
  for (int64_t i = blockIdx.x; i < d.rows; i += gridDim.x) {
    const math::TrendRow row = math::trend_row(trend, axes.a[i], axes.q[i]);
    const float* l = image + i * d.cols;
    double residual = 0.0, value = 0.0;
    for (int64_t j = threadIdx.x; j < d.cols; j += blockDim.x) {
      value = fmax(value, fabs(static_cast<double>(l[j])));
      residual = fmax(residual, fabs(math::trend_residual(trend, row, l[j], axes.b[j], axes.r[j])));
    }
    residual = block_reduce<kThreads>(residual, MaxOp(), shared);
    value = block_reduce<kThreads>(value, MaxOp(), shared);
    if (threadIdx.x == 0) {
      top_residual[i] = residual;
      top_value[i] = value;
    }
  }
}

// Step 5 (one block): nothing left, or the scale.
__global__ void __launch_bounds__(kThreads)
    decide_kernel(ImageDims d, const double* __restrict__ top_residual,
                  const double* __restrict__ top_value, Fit* __restrict__ fit) {
  __shared__ double shared[kThreads];
  double residual = 0.0, value = 0.0;
  for (int64_t i = threadIdx.x; i < d.rows; i += blockDim.x) {
    residual = fmax(residual, top_residual[i]);
    value = fmax(value, top_value[i]);
  }
  residual = block_reduce<kThreads>(residual, MaxOp(), shared);
  value = block_reduce<kThreads>(value, MaxOp(), shared);
  if (threadIdx.x == 0) {
    fit->informative = math::luma_informative(residual, value) ? 1 : 0;
    fit->exponent = fit->informative ? math::luma_scale_exponent(residual) : 0;
  }
}

// Step 6: v = fl32((L - t) 2^-e), or 0 everywhere for an image with
// nothing left.
__global__ void __launch_bounds__(kThreads)
    apply_kernel(float* __restrict__ image, ImageDims d, Axes axes, const Fit* __restrict__ fit) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= d.cols) return;
  const math::Trend trend = fit->trend;
  const bool informative = fit->informative != 0;
  const double scale = ldexp(1.0, -fit->exponent);
  const double b = axes.b[j], r = axes.r[j];
  for (int64_t i = blockIdx.y; i < d.rows; i += gridDim.y) {
    float* at = image + i * d.cols + j;
    if (!informative) {
      *at = 0.0f;
      continue;
    }
    const math::TrendRow row = math::trend_row(trend, axes.a[i], axes.q[i]);
    *at = static_cast<float>(math::mul_rn(math::trend_residual(trend, row, *at, b, r), scale));
  }
}

template <class T, int kPeriod, int kWindow>
void launch_box_for(const T* frame, const ImageDims& d, const unsigned char* use, float* image,
                    cudaStream_t stream) {
  check_cuda(launch_kernel(&box_kernel<T, kPeriod, kWindow>, pixel_grid(d), dim3(kThreads), 0,
                           stream, frame, d, use, image),
             "launching the luminance box-mean kernel");
}

// The windows of the library's layouts (math::luma_window): channels (1),
// Bayer (3, or 2 for frames of 2 rows or columns), X-Trans (6).
template <class T>
void launch_box(const T* frame, const ImageDims& d, const unsigned char* use, float* image,
                cudaStream_t stream) {
  if (!d.pattern)
    launch_box_for<T, 1, 1>(frame, d, use, image, stream);
  else if (d.period == 2 && d.window == 3)
    launch_box_for<T, 2, 3>(frame, d, use, image, stream);
  else if (d.period == 2 && d.window == 2)
    launch_box_for<T, 2, 2>(frame, d, use, image, stream);
  else if (d.period == 6 && d.window == 6)
    launch_box_for<T, 6, 6>(frame, d, use, image, stream);
  else
    fail(PTP_ERROR_INTERNAL, "a luminance image of period " + std::to_string(d.period) +
                                 " and window " + std::to_string(d.window));
}

}  // namespace

ImageDims make_image_dims(const AlignGeometry& g) {
  ImageDims d{};
  d.height = g.height;
  d.width = g.width;
  d.channels = g.channels;
  d.period = g.period;
  d.stride = g.luma_stride;
  d.window = g.luma_window;
  d.frame_dtype = g.frame_dtype;
  d.pattern = g.cfa != PTP_CFA_NONE;
  d.rows = g.plane_height;
  d.cols = g.plane_width;
  d.trend = math::luma_has_trend(d.rows, d.cols);
  d.na = math::trend_norm(d.rows, false);
  d.nq = math::trend_norm(d.rows, true);
  d.nb = math::trend_norm(d.cols, false);
  d.nr = math::trend_norm(d.cols, true);
  return d;
}

int64_t axes_count(const ImageDims& d) {
  return 2 * (d.rows + d.cols);
}

void axes_table(const ImageDims& d, double* out) {
  math::trend_axis(d.rows, out, out + d.rows);
  math::trend_axis(d.cols, out + 2 * d.rows, out + 2 * d.rows + d.cols);
}

size_t scratch_bytes(const ImageDims& d) {
  const size_t rows = static_cast<size_t>(d.rows);
  return align_up(rows * sizeof(math::TrendRowSums)) + 2 * align_up(rows * sizeof(double)) +
         align_up(sizeof(Fit));
}

void make_image(const void* frame, const ImageDims& d, const unsigned char* use,
                const double* axes_table, void* scratch, float* image, cudaStream_t stream) {
  if (d.frame_dtype == PTP_DTYPE_UINT16)
    launch_box(static_cast<const uint16_t*>(frame), d, use, image, stream);
  else
    launch_box(static_cast<const float*>(frame), d, use, image, stream);
  if (!d.trend) return;
  const Scratch s = carve(d, scratch);
  const Axes axes = axes_of(d, axes_table);
  check_cuda(launch_kernel(&row_sums_kernel,
                           dim3(static_cast<unsigned>(std::clamp<int64_t>(d.rows, 1, INT_MAX))),
                           dim3(kRowSumThreads), 0, stream, image, d, axes, s.rows),
             "launching the luminance row-sum kernel");
  check_cuda(launch_kernel(&fit_kernel, dim3(1), dim3(kThreads), 0, stream, d, axes, s.rows, s.fit),
             "launching the luminance fit kernel");
  const unsigned row_blocks = static_cast<unsigned>(std::min<int64_t>(d.rows, INT_MAX));
  check_cuda(launch_kernel(&row_maxima_kernel, dim3(row_blocks), dim3(kThreads), 0, stream, image,
                           d, axes, s.fit, s.top_residual, s.top_value),
             "launching the luminance maxima kernel");
  check_cuda(launch_kernel(&decide_kernel, dim3(1), dim3(kThreads), 0, stream, d, s.top_residual,
                           s.top_value, s.fit),
             "launching the luminance decision kernel");
  check_cuda(
      launch_kernel(&apply_kernel, pixel_grid(d), dim3(kThreads), 0, stream, image, d, axes, s.fit),
      "launching the luminance trend kernel");
}

}  // namespace ptychopatch::impl::gpu::luma
