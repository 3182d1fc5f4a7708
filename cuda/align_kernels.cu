#include "align_kernels.cuh"

#include <cub/block/block_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <cub/util_type.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "cuda_support.cuh"
#include "math/phase_math.hpp"

namespace ptychopatch::impl::gpu::align {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32;        // rows x region columns x spectrum columns per upsampling tile
constexpr int kTileThreads = 16;  // 16 x 16 threads, 2 x 2 outputs each
constexpr int kSegmentFloats = 1 << 16;

using PeakPair = cub::KeyValuePair<int, float>;

void check_launch(const char* what) {
  check_cuda(cudaGetLastError(), what);
}

size_t align_up(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// ----------------------------------------------------------- plane access

// Where plane element (y, x) goes in the padded FFT layout.
__device__ inline int64_t fft_position(const Dims& d, int64_t y, int64_t x) {
  return d.transposed ? y : y * d.pitch + x;
}

// Frame index of element (0, 0) of plane q; element (y, x) is at
// origin + y * period * width + x * period (math::plane_element_index is
// affine in the row and column for every layout).
__device__ inline int64_t plane_origin(const Dims& d, int64_t q) {
  return math::plane_element_index(q, 0, 0, d.period, d.height, d.width);
}

__device__ inline double load_value(const uint16_t* p) {
  return static_cast<double>(*p);
}
__device__ inline double load_value(const float* p) {
  return static_cast<double>(*p);
}

// ------------------------------------------------------------ reductions

template <class T>
__global__ void __launch_bounds__(kThreads)
    plane_sums_kernel(const T* __restrict__ frame, Dims d, double* __restrict__ sums) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const int64_t q = blockIdx.y;
  const T* origin = frame + plane_origin(d, q);
  double acc = 0.0;
  for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x) {
    const T* row = origin + y * d.period * d.width;
    for (int64_t x = threadIdx.x; x < d.cols; x += blockDim.x) acc += load_value(row + x * d.period);
  }
  const double total = Reduce(temp).Sum(acc);
  if (threadIdx.x == 0) sums[q * kRowBlocks + blockIdx.x] = total;
}

// Sum of a plane's kRowBlocks partials, in a fixed order (so the result does
// not depend on the launch).
__device__ inline double partial_sum(const double* partials, int64_t plane) {
  double sum = 0.0;
  for (int k = 0; k < kRowBlocks; ++k) sum += partials[plane * kRowBlocks + k];
  return sum;
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    center_kernel(const T* __restrict__ frame, Dims d, const double* __restrict__ row_window,
                  const double* __restrict__ col_window, const double* __restrict__ sums,
                  float* __restrict__ planes, double* __restrict__ squares,
                  float* __restrict__ maxima) {
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using MaxReduce = cub::BlockReduce<float, kThreads>;
  __shared__ union {
    typename SumReduce::TempStorage sum;
    typename MaxReduce::TempStorage max;
  } temp;
  __shared__ double mean_shared;
  const int64_t q = blockIdx.y;
  if (threadIdx.x == 0)
    mean_shared = partial_sum(sums, q) / static_cast<double>(d.rows * d.cols);
  __syncthreads();
  const double mean = mean_shared;
  const T* origin = frame + plane_origin(d, q);
  float* out = planes + q * d.plane_floats;
  double acc = 0.0;
  float top = 0.0f;
  for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x) {
    const T* row = origin + y * d.period * d.width;
    const double wy = d.hann ? row_window[y] : 1.0;
    for (int64_t x = threadIdx.x; x < d.cols; x += blockDim.x) {
      const double weight = d.hann ? wy * col_window[x] : 1.0;
      const float v = math::plane_value(load_value(row + x * d.period), mean, weight);
      out[fft_position(d, y, x)] = v;
      acc += static_cast<double>(v) * static_cast<double>(v);
      top = fmaxf(top, fabsf(v));
    }
  }
  const double total = SumReduce(temp.sum).Sum(acc);
  __syncthreads();
  const float block_top = MaxReduce(temp.max).Reduce(top, MaxOp());
  if (threadIdx.x == 0) {
    squares[q * kRowBlocks + blockIdx.x] = total;
    maxima[q * kRowBlocks + blockIdx.x] = block_top;
  }
}

// The rescaling of huge planes (math::plane_scale_exponent; a no-op for
// ordinary data) and each plane's sum of squares after it.
__global__ void __launch_bounds__(kThreads)
    finish_planes_kernel(Dims d, const double* __restrict__ squares,
                         const float* __restrict__ maxima, float* __restrict__ planes,
                         double* __restrict__ energy) {
  __shared__ int exponent_shared;
  const int64_t q = blockIdx.y;
  if (threadIdx.x == 0) {
    float top = 0.0f;
    for (int k = 0; k < kRowBlocks; ++k) top = fmaxf(top, maxima[q * kRowBlocks + k]);
    const int e = math::plane_scale_exponent(static_cast<double>(top), d.rows * d.cols);
    exponent_shared = e;
    if (blockIdx.x == 0) energy[q] = ldexp(partial_sum(squares, q), -2 * e);
  }
  __syncthreads();
  const int e = exponent_shared;
  if (e == 0) return;
  const float scale = ldexpf(1.0f, -e);
  float* out = planes + q * d.plane_floats;
  for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x)
    for (int64_t x = threadIdx.x; x < d.cols; x += blockDim.x) out[fft_position(d, y, x)] *= scale;
}

// ----------------------------------------------------------- cross power

__global__ void __launch_bounds__(kThreads)
    cross_power_kernel(const float2* __restrict__ reference, float2* __restrict__ spectra,
                       float2* __restrict__ copy, int64_t frame_complex, bool phase) {
  const int64_t frame_base = static_cast<int64_t>(blockIdx.y) * frame_complex;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < frame_complex;
       i += stride) {
    const float2 r = reference[i];
    const float2 m = spectra[frame_base + i];
    float re, im;
    math::cross_power(r.x, r.y, m.x, m.y, phase, &re, &im);
    spectra[frame_base + i] = make_float2(re, im);
    if (copy != nullptr) copy[frame_base + i] = make_float2(re, im);
  }
}

// Step 3's last part: X(0, 0) = 0 in every plane (math::zero_dc_bin).
__global__ void zero_dc_kernel(float2* __restrict__ spectra, float2* __restrict__ copy,
                               int64_t planes, int64_t plane_complex) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= planes) return;
  spectra[b * plane_complex] = make_float2(0.0f, 0.0f);
  if (copy != nullptr) copy[b * plane_complex] = make_float2(0.0f, 0.0f);
}

// ------------------------------------------------------------ peak search

// |correlation| in the padded layout; the padding columns read as -1 so they
// never win (magnitudes are >= 0).
struct PaddedMagnitude {
  const float* base;
  int pitch;
  int cols;
  __host__ __device__ float operator()(int i) const {
    return i % pitch < cols ? fabsf(base[i]) : -1.0f;
  }
};

using MagnitudeIterator =
    thrust::transform_iterator<PaddedMagnitude, thrust::counting_iterator<int>>;

// Writes one plane's result from its shift on the FFT grid and the
// magnitude of the correlation there (steps 6 and 7, and the constant-plane
// rule, of math/phase_math.hpp).
__device__ inline void write_result(const Dims& d, const Peak& peak, double shift_row,
                                    double shift_col, double magnitude, PlaneShift* out) {
  if (!(peak.reference_energy > 0.0) || !(peak.moving_energy > 0.0)) {
    *out = PlaneShift{0.0, 0.0, 0.0};
    return;
  }
  double dy = d.transposed ? shift_col : shift_row;
  double dx = d.transposed ? shift_row : shift_col;
  if (d.rows == 1) dy = 0.0;
  if (d.cols == 1) dx = 0.0;
  const int64_t count = d.rows * d.cols;
  out->dy = dy;
  out->dx = dx;
  out->confidence =
      d.phase ? math::phase_confidence(magnitude, math::phase_confidence_bins(count, d.hann))
              : math::xcorr_confidence(magnitude, count, peak.reference_energy, peak.moving_energy);
}

__global__ void finalize_peaks_kernel(const PeakPair* __restrict__ partials, int64_t planes,
                                      Dims d, int64_t rows_per_segment, int64_t segments,
                                      const double* __restrict__ energy,
                                      const double* __restrict__ reference_energy,
                                      Peak* __restrict__ peaks) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= planes) return;
  // Segments in order, strict comparison: the first maximum in row-major
  // order wins, as numpy's argmax.
  PeakPair best = partials[b * segments];
  int64_t best_segment = 0;
  for (int64_t s = 1; s < segments; ++s) {
    const PeakPair candidate = partials[b * segments + s];
    if (candidate.value > best.value) {
      best = candidate;
      best_segment = s;
    }
  }
  const int64_t offset = best_segment * rows_per_segment * d.pitch + best.key;
  const int64_t row = offset / d.pitch;
  const int64_t col = offset % d.pitch;
  Peak peak;
  peak.shift_row = math::wrap_peak_index(row, d.fft_rows);
  peak.shift_col = math::wrap_peak_index(col, d.fft_cols);
  peak.magnitude = static_cast<double>(best.value);
  peak.reference_energy = reference_energy[b % d.planes];
  peak.moving_energy = energy[b];
  peaks[b] = peak;
}

__global__ void integer_results_kernel(const Peak* __restrict__ peaks, int64_t planes, Dims d,
                                       PlaneShift* __restrict__ results) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= planes) return;
  const Peak p = peaks[b];
  write_result(d, p, static_cast<double>(p.shift_row), static_cast<double>(p.shift_col),
               p.magnitude, results + b);
}

// ------------------------------------------------------- upsampled DFT

// Element (y, x) of the full spectrum of a real plane from its half
// spectrum (Hermitian symmetry: X[y, x] = conj(X[-y, -x])).
__device__ inline float2 full_spectrum(const float2* half_spectrum, const Dims& d, int64_t y,
                                       int64_t x) {
  if (x < d.half) return half_spectrum[y * d.half + x];
  const int64_t mirror_row = y == 0 ? 0 : d.fft_rows - y;
  const float2 v = half_spectrum[mirror_row * d.half + (d.fft_cols - x)];
  return make_float2(v.x, -v.y);
}

// Twiddles of both axes for every plane of the group: entry (u, k) of an
// axis of n samples is exp(+2 pi i f_k (shift + (u - dftshift) / upsample)),
// f_k the k-th frequency of numpy's fftfreq(n).
__global__ void __launch_bounds__(kThreads)
    twiddle_kernel(const Peak* __restrict__ peaks, Dims d, float2* __restrict__ col_twiddles,
                   float2* __restrict__ row_twiddles) {
  const int64_t g = blockIdx.y;
  const Peak peak = peaks[g];
  const int64_t col_entries = d.region * d.fft_cols;
  const int64_t total = col_entries + d.region * d.fft_rows;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride) {
    double re, im;
    if (i < col_entries) {
      const int64_t u = i / d.fft_cols;
      const int64_t k = i % d.fft_cols;
      const int64_t m = math::upsampled_sample_index(u, peak.shift_col, d.upsample, d.dftshift);
      math::dft_twiddle(m, math::signed_frequency(k, d.fft_cols), d.fft_cols, d.upsample, &re,
                        &im);
      col_twiddles[g * col_entries + i] = make_float2(static_cast<float>(re), static_cast<float>(im));
    } else {
      const int64_t j = i - col_entries;
      const int64_t v = j / d.fft_rows;
      const int64_t k = j % d.fft_rows;
      const int64_t m = math::upsampled_sample_index(v, peak.shift_row, d.upsample, d.dftshift);
      math::dft_twiddle(m, math::signed_frequency(k, d.fft_rows), d.fft_rows, d.upsample, &re,
                        &im);
      row_twiddles[g * d.region * d.fft_rows + j] =
          make_float2(static_cast<float>(re), static_cast<float>(im));
    }
  }
}

// stage[g][y][u] = sum over x of X[y, x] * col_twiddle[u][x]: a complex
// matrix product tiled through shared memory; float products summed per
// tile, the tiles accumulated in double.
__global__ void __launch_bounds__(kTileThreads * kTileThreads)
    upsample_cols_kernel(const float2* __restrict__ spectra, Dims d,
                         const float2* __restrict__ col_twiddles, float2* __restrict__ stage) {
  __shared__ float2 xs[kTile][kTile + 1];  // [row][column]
  __shared__ float2 es[kTile][kTile + 1];  // [column][region index]
  const int64_t g = blockIdx.z;
  const int64_t u0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t y0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const float2* spectrum = spectra + g * (d.plane_floats / 2);
  const float2* twiddles = col_twiddles + g * d.region * d.fft_cols;
  const int tx = threadIdx.x;
  const int ty = threadIdx.y;
  const int tid = ty * kTileThreads + tx;
  double acc_re[2][2] = {{0.0, 0.0}, {0.0, 0.0}};
  double acc_im[2][2] = {{0.0, 0.0}, {0.0, 0.0}};
  for (int64_t x0 = 0; x0 < d.fft_cols; x0 += kTile) {
    for (int l = tid; l < kTile * kTile; l += kTileThreads * kTileThreads) {
      const int r = l / kTile;
      const int c = l % kTile;
      const int64_t x = x0 + c;
      const int64_t y = y0 + r;
      const int64_t u = u0 + r;
      xs[r][c] = (y < d.fft_rows && x < d.fft_cols) ? full_spectrum(spectrum, d, y, x)
                                                     : make_float2(0.0f, 0.0f);
      es[c][r] = (u < d.region && x < d.fft_cols) ? twiddles[u * d.fft_cols + x]
                                                   : make_float2(0.0f, 0.0f);
    }
    __syncthreads();
    float part_re[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
    float part_im[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
#pragma unroll 8
    for (int k = 0; k < kTile; ++k) {
      const float2 a[2] = {xs[ty][k], xs[ty + kTileThreads][k]};
      const float2 e[2] = {es[k][tx], es[k][tx + kTileThreads]};
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          part_re[i][j] += a[i].x * e[j].x - a[i].y * e[j].y;
          part_im[i][j] += a[i].x * e[j].y + a[i].y * e[j].x;
        }
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        acc_re[i][j] += part_re[i][j];
        acc_im[i][j] += part_im[i][j];
      }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int64_t y = y0 + ty + i * kTileThreads;
      const int64_t u = u0 + tx + j * kTileThreads;
      if (y < d.fft_rows && u < d.region)
        stage[(g * d.fft_rows + y) * d.region + u] =
            make_float2(static_cast<float>(acc_re[i][j]), static_cast<float>(acc_im[i][j]));
    }
}

// magnitude[g][v][u] = |sum over y of row_twiddle[v][y] * stage[g][y][u]|^2
// (compared squared, as the CPU backend does; the root is taken once).
__global__ void __launch_bounds__(128)
    upsample_rows_kernel(const float2* __restrict__ stage, const float2* __restrict__ row_twiddles,
                         Dims d, double* __restrict__ magnitude) {
  const int64_t g = blockIdx.y;
  const int64_t v = blockIdx.x;
  const float2* twiddles = row_twiddles + (g * d.region + v) * d.fft_rows;
  const float2* column_base = stage + g * d.fft_rows * d.region;
  for (int64_t u = threadIdx.x; u < d.region; u += blockDim.x) {
    double re = 0.0;
    double im = 0.0;
    for (int64_t y0 = 0; y0 < d.fft_rows; y0 += kTile) {
      const int64_t y1 = y0 + kTile < d.fft_rows ? y0 + kTile : d.fft_rows;
      float part_re = 0.0f;
      float part_im = 0.0f;
      for (int64_t y = y0; y < y1; ++y) {
        const float2 e = twiddles[y];
        const float2 a = column_base[y * d.region + u];
        part_re += e.x * a.x - e.y * a.y;
        part_im += e.x * a.y + e.y * a.x;
      }
      re += part_re;
      im += part_im;
    }
    magnitude[(g * d.region + v) * d.region + u] = re * re + im * im;
  }
}

struct IndexedMax {
  double value;
  int64_t index;
};

struct FirstMax {
  __device__ IndexedMax operator()(const IndexedMax& a, const IndexedMax& b) const {
    if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
    return a;
  }
};

__global__ void __launch_bounds__(kThreads)
    upsample_peak_kernel(const double* __restrict__ magnitude, const Peak* __restrict__ peaks,
                         Dims d, PlaneShift* __restrict__ results) {
  using Reduce = cub::BlockReduce<IndexedMax, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const int64_t g = blockIdx.x;
  const int64_t count = d.region * d.region;
  const double* values = magnitude + g * count;
  IndexedMax best{-1.0, count};
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    if (values[i] > best.value) best = IndexedMax{values[i], i};
  best = Reduce(temp).Reduce(best, FirstMax());
  if (threadIdx.x != 0) return;
  const Peak peak = peaks[g];
  const int64_t v = best.index / d.region;
  const int64_t u = best.index % d.region;
  const double shift_row = math::refined_shift(peak.shift_row, v, d.dftshift, d.upsample);
  const double shift_col = math::refined_shift(peak.shift_col, u, d.dftshift, d.upsample);
  write_result(d, peak, shift_row, shift_col, sqrt(best.value), results + g);
}

template <class T>
void launch_center(const T* frame, const Dims& d, const double* row_window,
                   const double* col_window, const FramePartials& partials, float* planes,
                   double* energy, cudaStream_t stream) {
  const dim3 grid(kRowBlocks, static_cast<unsigned>(d.planes));
  plane_sums_kernel<T><<<grid, kThreads, 0, stream>>>(frame, d, partials.sums);
  check_launch("launching the plane-sum kernel");
  center_kernel<T><<<grid, kThreads, 0, stream>>>(frame, d, row_window, col_window, partials.sums,
                                                  planes, partials.squares, partials.maxima);
  check_launch("launching the plane-centring kernel");
  finish_planes_kernel<<<grid, kThreads, 0, stream>>>(d, partials.squares, partials.maxima,
                                                      planes, energy);
  check_launch("launching the plane-rescaling kernel");
}

int blocks_for(int64_t items, int threads) {
  return static_cast<int>(std::max<int64_t>(1, (items + threads - 1) / threads));
}

}  // namespace

Dims make_dims(const AlignGeometry& g) {
  Dims d{};
  d.height = g.height;
  d.width = g.width;
  d.channels = g.channels;
  d.period = g.period;
  d.planes = g.planes;
  d.frame_elements = g.frame_elements();
  d.frame_dtype = g.frame_dtype;
  d.rows = g.plane_height;
  d.cols = g.plane_width;
  d.transposed = d.cols == 1 && d.rows > 1;
  d.fft_rows = d.transposed ? 1 : d.rows;
  d.fft_cols = d.transposed ? d.rows : d.cols;
  d.half = d.fft_cols / 2 + 1;
  d.pitch = 2 * d.half;
  d.plane_floats = checked_mul(d.fft_rows, d.pitch, "the padded plane size");
  d.phase = g.phase_normalization;
  d.hann = g.hann_window;
  d.upsample = g.upsample;
  d.region = math::upsampled_region_size(g.upsample);
  d.dftshift = math::upsampled_dftshift(d.region);
  return d;
}

namespace {
int64_t rows_per_segment(const Dims& d) {
  return std::min<int64_t>(d.fft_rows, std::max<int64_t>(1, kSegmentFloats / d.pitch));
}
}  // namespace

int64_t peak_segments_per_plane(const Dims& d) {
  const int64_t rows = rows_per_segment(d);
  return (d.fft_rows + rows - 1) / rows;
}

void check_supported(const Dims& d) {
  if (d.planes > 65535)
    fail(PTP_ERROR_UNSUPPORTED, "the GPU backend handles at most 65535 planes per frame, not " +
                                    std::to_string(d.planes));
  if (d.plane_floats >= INT_MAX)
    fail(PTP_ERROR_UNSUPPORTED,
         "a colour plane of " + std::to_string(d.rows) + " x " + std::to_string(d.cols) +
             " pixels is too large for the GPU peak search (2^31 padded values at most)");
}

PeakSearch make_peak_search(const Dims& d, int64_t max_planes) {
  check_supported(d);
  PeakSearch s{};
  s.rows_per_segment = rows_per_segment(d);
  s.segments_per_plane = peak_segments_per_plane(d);
  s.planes_per_call = std::max<int64_t>(1, std::min<int64_t>(max_planes, (INT_MAX - 1) / d.plane_floats));
  const int64_t segments = s.planes_per_call * s.segments_per_plane;
  if (segments >= INT_MAX) fail(PTP_ERROR_INTERNAL, "too many peak-search segments");
  size_t bytes = 0;
  const MagnitudeIterator in(thrust::counting_iterator<int>(0),
                             PaddedMagnitude{nullptr, static_cast<int>(d.pitch),
                                             static_cast<int>(d.fft_cols)});
  const int* no_offsets = nullptr;  // a size query reads no offsets
  check_cuda(cub::DeviceSegmentedReduce::ArgMax(nullptr, bytes, in, static_cast<PeakPair*>(nullptr),
                                                 segments, no_offsets, no_offsets),
             "sizing the peak search");
  s.temp_bytes = std::max<size_t>(bytes, 1);
  return s;
}

void peak_offsets(const Dims& d, const PeakSearch& s, int* offsets) {
  int64_t n = 0;
  for (int64_t p = 0; p < s.planes_per_call; ++p)
    for (int64_t k = 0; k < s.segments_per_plane; ++k)
      offsets[n++] = static_cast<int>(p * d.plane_floats + k * s.rows_per_segment * d.pitch);
  offsets[n] = static_cast<int>(s.planes_per_call * d.plane_floats);
}

size_t peak_partial_bytes() {
  return sizeof(PeakPair);
}

void window_table(int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::hann_weight(i, n);
}

size_t frame_partials_bytes(const Dims& d) {
  const size_t n = static_cast<size_t>(d.planes) * kRowBlocks;
  return align_up(n * sizeof(double)) * 2 + align_up(n * sizeof(float));
}

FramePartials carve_frame_partials(const Dims& d, void* base) {
  const size_t n = static_cast<size_t>(d.planes) * kRowBlocks;
  auto* p = static_cast<unsigned char*>(base);
  FramePartials f{};
  f.sums = reinterpret_cast<double*>(p);
  p += align_up(n * sizeof(double));
  f.squares = reinterpret_cast<double*>(p);
  p += align_up(n * sizeof(double));
  f.maxima = reinterpret_cast<float*>(p);
  return f;
}

void center_frame(const void* frame, const Dims& d, const double* row_window,
                  const double* col_window, const FramePartials& partials, float* planes,
                  double* energy, cudaStream_t stream) {
  if (d.frame_dtype == PTP_DTYPE_UINT16)
    launch_center(static_cast<const uint16_t*>(frame), d, row_window, col_window, partials, planes,
                  energy, stream);
  else
    launch_center(static_cast<const float*>(frame), d, row_window, col_window, partials, planes,
                  energy, stream);
}

void cross_power(const float* reference, float* spectra, float* copy, int64_t frames,
                 const Dims& d, cudaStream_t stream) {
  const int64_t frame_complex = d.planes * d.plane_floats / 2;
  const dim3 grid(static_cast<unsigned>(grid_blocks(frame_complex, kThreads)),
                  static_cast<unsigned>(frames));
  cross_power_kernel<<<grid, kThreads, 0, stream>>>(
      reinterpret_cast<const float2*>(reference), reinterpret_cast<float2*>(spectra),
      reinterpret_cast<float2*>(copy), frame_complex, d.phase);
  check_launch("launching the cross-power kernel");
  if (math::zero_dc_bin(d.hann)) {
    const int64_t planes = frames * d.planes;
    zero_dc_kernel<<<blocks_for(planes, 128), 128, 0, stream>>>(
        reinterpret_cast<float2*>(spectra), reinterpret_cast<float2*>(copy), planes,
        d.plane_floats / 2);
    check_launch("launching the DC-bin kernel");
  }
}

void find_peaks(const float* correlation, int64_t planes, const Dims& d, const PeakSearch& s,
                const int* offsets, void* partials, void* temp, const double* energy,
                const double* reference_energy, Peak* peaks, cudaStream_t stream) {
  auto* pairs = static_cast<PeakPair*>(partials);
  for (int64_t p0 = 0; p0 < planes; p0 += s.planes_per_call) {
    const int64_t count = std::min(s.planes_per_call, planes - p0);
    const MagnitudeIterator in(
        thrust::counting_iterator<int>(0),
        PaddedMagnitude{correlation + p0 * d.plane_floats, static_cast<int>(d.pitch),
                        static_cast<int>(d.fft_cols)});
    size_t bytes = s.temp_bytes;
    check_cuda(cub::DeviceSegmentedReduce::ArgMax(temp, bytes, in, pairs + p0 * s.segments_per_plane,
                                                   count * s.segments_per_plane, offsets,
                                                   offsets + 1, stream),
               "the segmented arg-max of the correlations");
  }
  finalize_peaks_kernel<<<blocks_for(planes, 128), 128, 0, stream>>>(
      pairs, planes, d, s.rows_per_segment, s.segments_per_plane, energy, reference_energy, peaks);
  check_launch("launching the peak kernel");
}

void integer_results(const Peak* peaks, int64_t planes, const Dims& d, PlaneShift* results,
                     cudaStream_t stream) {
  integer_results_kernel<<<blocks_for(planes, 128), 128, 0, stream>>>(peaks, planes, d, results);
  check_launch("launching the result kernel");
}

size_t upsample_scratch_bytes(const Dims& d, int64_t planes) {
  const auto complex_bytes = [&](int64_t a, int64_t b, const char* what) {
    return static_cast<size_t>(checked_mul(checked_mul(checked_mul(planes, a, what), b, what),
                                           8, what));
  };
  const char* what = "the upsampled-DFT scratch size";
  return align_up(complex_bytes(d.region, d.fft_cols, what)) +
         align_up(complex_bytes(d.region, d.fft_rows, what)) +
         align_up(complex_bytes(d.fft_rows, d.region, what)) +
         align_up(complex_bytes(d.region, d.region, what));
}

UpsampleScratch carve_upsample_scratch(const Dims& d, int64_t planes, void* base) {
  auto* p = static_cast<unsigned char*>(base);
  UpsampleScratch s{};
  s.col_twiddles = reinterpret_cast<float*>(p);
  p += align_up(static_cast<size_t>(planes * d.region * d.fft_cols * 8));
  s.row_twiddles = reinterpret_cast<float*>(p);
  p += align_up(static_cast<size_t>(planes * d.region * d.fft_rows * 8));
  s.stage = reinterpret_cast<float*>(p);
  p += align_up(static_cast<size_t>(planes * d.fft_rows * d.region * 8));
  s.magnitude = reinterpret_cast<double*>(p);
  return s;
}

void upsampled_results(const float* spectra, const Peak* peaks, int64_t planes, const Dims& d,
                       const UpsampleScratch& scratch, PlaneShift* results, cudaStream_t stream) {
  auto* col_twiddles = reinterpret_cast<float2*>(scratch.col_twiddles);
  auto* row_twiddles = reinterpret_cast<float2*>(scratch.row_twiddles);
  auto* stage = reinterpret_cast<float2*>(scratch.stage);
  const int64_t entries = d.region * (d.fft_cols + d.fft_rows);
  twiddle_kernel<<<dim3(static_cast<unsigned>(grid_blocks(entries, kThreads)),
                        static_cast<unsigned>(planes)),
                   kThreads, 0, stream>>>(peaks, d, col_twiddles, row_twiddles);
  check_launch("launching the twiddle kernel");
  const dim3 tiles(static_cast<unsigned>((d.region + kTile - 1) / kTile),
                   static_cast<unsigned>((d.fft_rows + kTile - 1) / kTile),
                   static_cast<unsigned>(planes));
  upsample_cols_kernel<<<tiles, dim3(kTileThreads, kTileThreads), 0, stream>>>(
      reinterpret_cast<const float2*>(spectra), d, col_twiddles, stage);
  check_launch("launching the upsampled DFT (columns)");
  upsample_rows_kernel<<<dim3(static_cast<unsigned>(d.region), static_cast<unsigned>(planes)), 128,
                         0, stream>>>(stage, row_twiddles, d, scratch.magnitude);
  check_launch("launching the upsampled DFT (rows)");
  upsample_peak_kernel<<<static_cast<unsigned>(planes), kThreads, 0, stream>>>(scratch.magnitude,
                                                                               peaks, d, results);
  check_launch("launching the upsampled peak kernel");
}

}  // namespace ptychopatch::impl::gpu::align
