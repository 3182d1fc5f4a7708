#include "align_kernels.cuh"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "block_reduce.cuh"
#include "core/error.hpp"
#include "cuda_support.cuh"
#include "launch.cuh"
#include "math/phase_math.hpp"

namespace ptychopatch::impl::gpu::align {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 32;  // rows x spectrum columns (x region columns, or 16) per upsampling tile
constexpr int kTileThreads = 16;  // 16 x 16 threads, 2 x 2 outputs each
constexpr int kSegmentFloats = 1 << 16;

// CUDA's limit on grid.y and grid.z (grid.x: 2^31 - 1). Kernels whose
// grid.y or grid.z counts items stride over them by gridDim, so that any
// count works with the grid capped here.
constexpr int64_t kMaxGridYZ = 65535;
constexpr int64_t kMaxGridX = INT_MAX;

// Grid extent for `items` items on an axis of at most `limit` blocks (at
// least 1: an empty launch is an invalid configuration; the kernels' loops
// then do nothing).
unsigned grid_extent(int64_t items, int64_t limit) {
  return static_cast<unsigned>(std::clamp<int64_t>(items, 1, limit));
}

// One segment's arg-max: `key` relative to the segment's start (as CUB's
// KeyValuePair from its segmented ArgMax gave it before), `value` the
// magnitude there.
struct PeakPair {
  int key;
  float value;
};

// ----------------------------------------------------------- plane access

// Where plane element (y, x) goes in the padded FFT layout.
__device__ inline int64_t fft_position(const Dims& d, int64_t y, int64_t x) {
  return d.transposed ? y : y * d.pitch + x;
}

// Where plane q's values start in a frame of images (planar: q * rows * cols).
__device__ inline const float* plane_start(const float* frame, const Dims& d, int64_t q) {
  return frame + q * d.height * d.width;
}

// ------------------------------------------------------------ reductions
//
// The plane kernels run d.row_blocks blocks per plane along grid.x and the planes
// along grid.y, striding over planes by gridDim.y. Each block sums its rows per
// thread, then over the block with block_reduce: the block sums of doubles are in
// block_reduce's fixed order, set by the thread indices alone, and the d.row_blocks
// block partials are added in index order (partial_sum), so every sum is the same on
// every device and run. The maxima do not depend on the order. Values add in double:
// float32 images may reach 2^127 in magnitude, where a float sum overflows.

struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

template <int kBlock>
__global__ void __launch_bounds__(kBlock)
    plane_sums_kernel(const float* __restrict__ frame, Dims d, double* __restrict__ sums) {
  __shared__ double shared[kBlock];
  for (int64_t q = blockIdx.y; q < d.planes; q += gridDim.y) {
    const float* plane = plane_start(frame, d, q);
    double acc = 0.0;
    for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x)
      for (int64_t x = threadIdx.x; x < d.cols; x += kBlock)
        acc += static_cast<double>(plane[y * d.width + x]);
    const double total = block_reduce<kBlock>(acc, SumOp(), shared);
    if (threadIdx.x == 0) sums[q * kRowBlocks + blockIdx.x] = total;
  }
}

// Sum of a plane's d.row_blocks partials, in a fixed order (so the result
// does not depend on the launch).
__device__ inline double partial_sum(const Dims& d, const double* partials, int64_t plane) {
  double sum = 0.0;
  for (int64_t k = 0; k < d.row_blocks; ++k) sum += partials[plane * kRowBlocks + k];
  return sum;
}

template <int kBlock>
__global__ void __launch_bounds__(kBlock)
    center_kernel(const float* __restrict__ frame, Dims d, const double* __restrict__ row_window,
                  const double* __restrict__ col_window, const double* __restrict__ sums,
                  float* __restrict__ planes, double* __restrict__ squares,
                  float* __restrict__ maxima) {
  __shared__ double sum_shared[kBlock];
  __shared__ float max_shared[kBlock];
  for (int64_t q = blockIdx.y; q < d.planes; q += gridDim.y) {
    const double mean = partial_sum(d, sums, q) / static_cast<double>(d.rows * d.cols);
    const float* plane = plane_start(frame, d, q);
    float* out = planes + q * d.plane_floats;
    double acc = 0.0;
    float top = 0.0f;
    for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x) {
      const double wy = row_window != nullptr ? row_window[y] : 1.0;
      for (int64_t x = threadIdx.x; x < d.cols; x += kBlock) {
        const double weight = col_window != nullptr ? wy * col_window[x] : 1.0;
        const float value =
            math::plane_value(static_cast<double>(plane[y * d.width + x]), mean, weight);
        out[fft_position(d, y, x)] = value;
        acc += static_cast<double>(value) * static_cast<double>(value);
        top = fmaxf(top, fabsf(value));
      }
    }
    const double total = block_reduce<kBlock>(acc, SumOp(), sum_shared);
    const float block_top = block_reduce<kBlock>(top, MaxOp(), max_shared);
    if (threadIdx.x == 0) {
      squares[q * kRowBlocks + blockIdx.x] = total;
      maxima[q * kRowBlocks + blockIdx.x] = block_top;
    }
  }
}

// The rescaling of huge and tiny planes (math::plane_scale_exponent; a
// no-op for ordinary data) and each plane's sum of squares after it.
template <int kBlock>
__global__ void __launch_bounds__(kBlock)
    finish_planes_kernel(Dims d, const double* __restrict__ squares,
                         const float* __restrict__ maxima, float* __restrict__ planes,
                         double* __restrict__ energy) {
  __shared__ int exponent_shared;
  for (int64_t q = blockIdx.y; q < d.planes; q += gridDim.y) {
    if (threadIdx.x == 0) {
      float top = 0.0f;
      for (int64_t k = 0; k < d.row_blocks; ++k) top = fmaxf(top, maxima[q * kRowBlocks + k]);
      const int e = math::plane_scale_exponent(static_cast<double>(top), d.rows * d.cols);
      exponent_shared = e;
      if (blockIdx.x == 0) energy[q] = ldexp(partial_sum(d, squares, q), -2 * e);
    }
    __syncthreads();
    const int e = exponent_shared;
    if (e != 0) {
      float* out = planes + q * d.plane_floats;
      for (int64_t y = blockIdx.x; y < d.rows; y += gridDim.x)
        for (int64_t x = threadIdx.x; x < d.cols; x += blockDim.x) {
          float& v = out[fft_position(d, y, x)];
          v = ldexpf(v, -e);
        }
    }
    __syncthreads();  // every thread has read exponent_shared before the next plane's
  }
}

// ------------------------------------------- spectrum energy, joint sum

// Block x of plane q (grid.y, strided) sums weight * |X|^2 over rows x,
// x + kBoundBlocks, ... of the plane's half spectrum, thread t over columns
// t, t + kThreads, ... of each; the block sum (block_reduce's fixed order)
// goes to partials[q * kBoundBlocks + x]. (Rows and columns, not a flat
// index: no 64-bit remainder per bin, and the column loop's loads unroll.
// The flat walk over 32 blocks per plane read a 24 MP luminance plane's
// spectrum in 0.45 ms on an H100, 2026-11-26: about 55 GB/s.)
__global__ void __launch_bounds__(kThreads)
    bound_partials_kernel(const float2* __restrict__ spectra, int64_t planes, Dims d,
                          double* __restrict__ partials) {
  __shared__ double shared[kThreads];
  const int half = static_cast<int>(d.half);  // < plane_floats < INT_MAX
  for (int64_t q = blockIdx.y; q < planes; q += gridDim.y) {
    const float2* x = spectra + q * (d.plane_floats / 2);
    double acc = 0.0;
    for (int64_t r = blockIdx.x; r < d.fft_rows; r += kBoundBlocks) {
      const float2* row = x + r * d.half;
#pragma unroll 4
      for (int c = static_cast<int>(threadIdx.x); c < half; c += kThreads) {
        const double re = row[c].x;
        const double im = row[c].y;
        acc += math::half_spectrum_weight(c, d.fft_cols) * (re * re + im * im);
      }
    }
    const double total = block_reduce<kThreads>(acc, SumOp(), shared);
    if (threadIdx.x == 0) partials[q * kBoundBlocks + blockIdx.x] = total;
  }
}

__global__ void bound_sums_kernel(const double* __restrict__ partials, int64_t planes,
                                  double* __restrict__ bound) {
  const int64_t q = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (q >= planes) return;
  double total = 0.0;
#pragma unroll 16
  for (int k = 0; k < kBoundBlocks; ++k) total += partials[q * kBoundBlocks + k];
  bound[q] = total;
}

__device__ inline bool informative(const double* energy, const double* reference_energy, int64_t f,
                                   int64_t p, int64_t planes) {
  return energy[f * planes + p] > 0.0 && reference_energy[p] > 0.0;
}

__global__ void joint_count_kernel(const double* __restrict__ energy,
                                   const double* __restrict__ reference_energy, int64_t frames,
                                   Dims d, double* __restrict__ used) {
  const int64_t f = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (f >= frames) return;
  double count = 0.0;
  for (int64_t p = 0; p < d.planes; ++p)
    if (informative(energy, reference_energy, f, p, d.planes)) count += 1.0;
  used[f] = count;
}

// ------------------------------------------------------------ peak search

// The tie rule of CUB's segmented ArgMax (its ArgMax operator): the
// larger value wins, and of equal values the smaller key, so the first
// maximum in index order.
struct FirstPeak {
  __device__ PeakPair operator()(const PeakPair& a, const PeakPair& b) const {
    return (b.value > a.value || (a.value == b.value && b.key < a.key)) ? b : a;
  }
};

// Segmented arg-max of |correlation| in the padded layout: block s covers
// floats [offsets[s], offsets[s + 1]) of `base` (one block per segment,
// grid.x = the segment count; segments are whole rows, and offsets are
// relative to a plane boundary) and writes the segment's first maximum,
// its key relative to offsets[s], to pairs[s]. Positions outside
// max_shift read as -1 so they never win (magnitudes are >= 0); the
// padding columns (>= fft_cols) are not read. Thread t scans columns t,
// t + kThreads, ... of each row in turn, replacing only on FirstPeak; then
// block_reduce folds the threads' pairs with FirstPeak. Since FirstPeak
// picks the maximum of a total order (value, then smaller key), the result
// is the segment's first maximum whatever the threads' shares and the
// folding order, as CUB's. (Walking rows and columns, not a flat index:
// no 64-bit remainder per value, and the column loop's loads unroll, so a
// thread has several in flight. The flat walk, one load at a time behind
// two 64-bit divisions, read a 24 MP luminance plane at about 160 GB/s on
// an H100, 2026-11-26.)
__global__ void __launch_bounds__(kThreads)
    peak_search_kernel(const float* __restrict__ base, const int* __restrict__ offsets, Dims d,
                       PeakPair* __restrict__ pairs) {
  __shared__ PeakPair shared[kThreads];
  const int64_t s = blockIdx.x;
  const int64_t begin = offsets[s];
  const int64_t rows = (offsets[s + 1] - begin) / d.pitch;
  // The segment's first row within its plane (once per block).
  const int64_t first_row = (begin % d.plane_floats) / d.pitch;
  // A thread without elements holds a pair that never wins against one
  // (segments are never empty, so the block's result is an element).
  PeakPair best{INT_MAX, -FLT_MAX};
  bool first = true;
  const bool bounded = d.limit_fft_rows >= 0 || d.limit_fft_cols >= 0;
  const int fft_cols = static_cast<int>(d.fft_cols);  // < pitch < plane_floats < INT_MAX
  for (int64_t r = 0; r < rows; ++r) {
    const float* row_values = base + begin + r * d.pitch;
    const int row_key = static_cast<int>(r * d.pitch);  // < INT_MAX (make_peak_search)
    const bool row_searched =
        !bounded || math::within_shift_limit(first_row + r, d.fft_rows, d.limit_fft_rows);
#pragma unroll 4
    for (int col = static_cast<int>(threadIdx.x); col < fft_cols; col += kThreads) {
      const bool searched =
          row_searched && (!bounded || math::within_shift_limit(col, d.fft_cols, d.limit_fft_cols));
      const float value = searched ? fabsf(row_values[col]) : -1.0f;
      const PeakPair candidate{row_key + col, value};
      best = first ? candidate : FirstPeak()(best, candidate);
      first = false;
    }
  }
  best = block_reduce<kThreads>(best, FirstPeak(), shared);
  if (threadIdx.x == 0) pairs[s] = best;
}

// Writes one plane's result from its shift on the FFT grid and the
// magnitude of the correlation there (steps 6 and 7, and the constant-plane
// rule, of math/phase_math.hpp).
__device__ inline void write_result(const Dims& d, const Peak& peak, double shift_row,
                                    double shift_col, double magnitude, PlaneShift* out) {
  if (!(peak.reference_energy > 0.0) || !(peak.moving_energy > 0.0)) {
    *out = PlaneShift{0.0, 0.0, 0.0, 0};
    return;
  }
  double dy = d.transposed ? shift_col : shift_row;
  double dx = d.transposed ? shift_row : shift_col;
  if (d.rows == 1) dy = 0.0;
  if (d.cols == 1) dx = 0.0;
  const int64_t count = d.rows * d.cols;
  out->dy = dy;
  out->dx = dx;
  out->confidence = math::significance_confidence(magnitude, peak.bound, count);
  out->planes_used = static_cast<int32_t>(peak.moving_energy);
}

__global__ void finalize_peaks_kernel(const PeakPair* __restrict__ partials, int64_t planes, Dims d,
                                      int64_t rows_per_segment, int64_t segments,
                                      const double* __restrict__ energy,
                                      const double* __restrict__ reference_energy,
                                      const double* __restrict__ bound, Peak* __restrict__ peaks) {
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
  peak.reference_energy = reference_energy[b];
  peak.moving_energy = energy[b];
  peak.bound = bound != nullptr ? bound[b] : 0.0;
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

// ------------------------------------------------ tracking window (joint)

// Window taps along one FFT axis of n samples for a window moved by `shift`
// (math::tracking_window_tap): weight of M0(k - 1), M0(k), M0(k + 1).
struct AxisTaps {
  float2 before;  // tap
  float centre;   // 1/2, or 1 for n == 1 (no window along the axis)
  float2 after;   // conj(tap)
};

__device__ inline AxisTaps axis_taps(int64_t shift, int64_t n) {
  if (n == 1) return {make_float2(0.0f, 0.0f), 1.0f, make_float2(0.0f, 0.0f)};
  double re, im;
  math::tracking_window_tap(shift, n, &re, &im);
  const float2 tap = make_float2(static_cast<float>(re), static_cast<float>(im));
  return {tap, 0.5f, make_float2(tap.x, -tap.y)};
}

__device__ inline float2 scaled(float2 tap, float2 v) {
  return make_float2(tap.x * v.x - tap.y * v.y, tap.x * v.y + tap.y * v.x);
}

// Where the 3 x 3 stencil of bin (ky, kx) reads a plane's half spectrum:
// rows ky - 1, ky, ky + 1 and columns kx - 1, kx, kx + 1 (wrapped), each
// bin past the half read as the conjugate of its mirror (full_spectrum).
// Offsets within a plane fit 32 bits (check_supported); computed once per
// bin and used for every plane.
struct StencilTaps {
  int32_t at[3][3];  // [row a][column c]
  bool mirrored[3];  // column c is read conjugated from the mirrored bin
};

__device__ __forceinline__ StencilTaps stencil_taps(const Dims& d, int64_t ky, int64_t kx) {
  const int64_t rows = d.fft_rows;
  const int64_t cols = d.fft_cols;
  const int64_t ys[3] = {ky == 0 ? rows - 1 : ky - 1, ky, ky + 1 == rows ? 0 : ky + 1};
  const int64_t xs[3] = {kx == 0 ? cols - 1 : kx - 1, kx, kx + 1 == cols ? 0 : kx + 1};
  StencilTaps t;
#pragma unroll
  for (int c = 0; c < 3; ++c) t.mirrored[c] = xs[c] >= d.half;
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    const auto row = static_cast<int32_t>(ys[a] * d.half);
    const auto mirror_row = static_cast<int32_t>((ys[a] == 0 ? 0 : rows - ys[a]) * d.half);
#pragma unroll
    for (int c = 0; c < 3; ++c)
      t.at[a][c] = t.mirrored[c] ? mirror_row + static_cast<int32_t>(cols - xs[c])
                                 : row + static_cast<int32_t>(xs[c]);
  }
  return t;
}

// A bin of a windowed moving plane from the unwindowed half spectrum m0
// (math::tracking_window_tap): the 3 x 3 stencil with the taps of the
// window moved by the frame's peak.
__device__ __forceinline__ float2 windowed_bin(const float2* m0, const Dims& d,
                                               const StencilTaps& s, const AxisTaps& ty,
                                               const AxisTaps& tx) {
  float2 acc = make_float2(0.0f, 0.0f);
#pragma unroll
  for (int a = -1; a <= 1; ++a) {
    if (d.fft_rows == 1 && a != 0) continue;
    float2 row = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int c = -1; c <= 1; ++c) {
      if (d.fft_cols == 1 && c != 0) continue;
      float2 v = m0[s.at[a + 1][c + 1]];
      if (s.mirrored[c + 1]) v.y = -v.y;
      const float2 term = c == 0 ? make_float2(tx.centre * v.x, tx.centre * v.y)
                                 : scaled(c < 0 ? tx.before : tx.after, v);
      row.x += term.x;
      row.y += term.y;
    }
    const float2 weighted = a == 0 ? make_float2(ty.centre * row.x, ty.centre * row.y)
                                   : scaled(a < 0 ? ty.before : ty.after, row);
    acc.x += weighted.x;
    acc.y += weighted.y;
  }
  return acc;
}

// One pass of the tracking estimator, fused: for each bin of frame f, each
// informative plane's windowed value (windowed_bin, the window moved by peaks[f], or
// not moved when peaks is null), its partially whitened cross power with the
// reference's bin, summed over the planes in plane order into joint (and copy unless
// null). One read of the unwindowed and reference spectra and one write of the joint
// one per pass. Grid: x over the half spectrum's columns, y over its rows,
// z over frames (all strided). A thread computes its frame's taps (double
// precision) once and finds a bin's neighbours by comparison, not by a
// modulo: no integer division per bin.
__global__ void __launch_bounds__(kThreads)
    tracked_joint_kernel(const float2* __restrict__ unwindowed,
                         const float2* __restrict__ reference, const Peak* __restrict__ peaks,
                         const double* __restrict__ energy,
                         const double* __restrict__ reference_energy, int64_t frames, Dims d,
                         float2* __restrict__ joint, float2* __restrict__ copy) {
  const int64_t plane_complex = d.plane_floats / 2;
  const int64_t rows = d.fft_rows;
  const int64_t cols = d.fft_cols;
  const int64_t first_kx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t kx_stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t f = blockIdx.z; f < frames; f += gridDim.z) {
    const AxisTaps ty = axis_taps(peaks != nullptr ? peaks[f].shift_row : 0, rows);
    const AxisTaps tx = axis_taps(peaks != nullptr ? peaks[f].shift_col : 0, cols);
    const float2* frame = unwindowed + f * d.planes * plane_complex;
    for (int64_t ky = blockIdx.y; ky < rows; ky += gridDim.y) {
      for (int64_t kx = first_kx; kx < d.half; kx += kx_stride) {
        const StencilTaps taps = stencil_taps(d, ky, kx);
        const int64_t i = ky * d.half + kx;
        float re = 0.0f;
        float im = 0.0f;
        for (int64_t p = 0; p < d.planes; ++p) {
          if (!informative(energy, reference_energy, f, p, d.planes)) continue;
          const float2 m = windowed_bin(frame + p * plane_complex, d, taps, ty, tx);
          const float2 r = reference[p * plane_complex + i];
          float cre = 0.0f;
          float cim = 0.0f;
          math::partial_cross_power(r.x, r.y, m.x, m.y, &cre, &cim);
          re += cre;
          im += cim;
        }
        joint[f * plane_complex + i] = make_float2(re, im);
        if (copy != nullptr) copy[f * plane_complex + i] = make_float2(re, im);
      }
    }
  }
}

// Twiddles of both axes for every plane of the group: entry (u, k) of an
// axis of n samples is exp(+2 pi i f_k (shift + (u - dftshift) / upsample)),
// f_k the k-th frequency of numpy's fftfreq(n). Planes along grid.y, strided
// by gridDim.y.
__global__ void __launch_bounds__(kThreads)
    twiddle_kernel(const Peak* __restrict__ peaks, int64_t planes, Dims d,
                   float2* __restrict__ col_twiddles, float2* __restrict__ row_twiddles) {
  const int64_t col_entries = d.region * d.fft_cols;
  const int64_t total = col_entries + d.region * d.fft_rows;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = blockIdx.y; g < planes; g += gridDim.y) {
    const Peak peak = peaks[g];
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
         i += stride) {
      double re, im;
      if (i < col_entries) {
        const int64_t u = i / d.fft_cols;
        const int64_t k = i % d.fft_cols;
        const int64_t m = math::upsampled_sample_index(u, peak.shift_col, d.upsample, d.dftshift);
        math::dft_twiddle(m, math::signed_frequency(k, d.fft_cols), d.fft_cols, d.upsample, &re,
                          &im);
        col_twiddles[g * col_entries + i] =
            make_float2(static_cast<float>(re), static_cast<float>(im));
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
}

// stage[g][y][u] = sum over x of X[y, x] * col_twiddle[u][x]: a complex
// matrix product tiled through shared memory; float products summed per
// tile of kTile spectrum columns, the tiles accumulated in double. One
// block computes a kTile x kRegionTile tile (kTile rows y, kRegionTile
// region indices u) of a plane at a time: region tiles along grid.x, row
// tiles along grid.y, planes along grid.z, each strided by its grid extent
// (a tall plane has more row tiles than grid.y allows). kRegionTile is 16
// where the region fits (upsample_factor <= 10: a region of 15), else 32:
// the region tile is sized to the region, not padded to 32 (which would
// compute as many padding products as real ones). Either way each output
// sums the same products in the same order. The loop bounds are the same
// for every thread of the block, so every thread reaches every barrier;
// each tile ends with a barrier, so the next tile may refill the shared
// arrays.
template <int kRegionTile>
__global__ void __launch_bounds__(kTileThreads* kTileThreads)
    upsample_cols_kernel(const float2* __restrict__ spectra, int64_t planes, Dims d,
                         const float2* __restrict__ col_twiddles, float2* __restrict__ stage) {
  constexpr int kOutputsU = kRegionTile / kTileThreads;  // region indices per thread
  __shared__ float2 xs[kTile][kTile + 1];                // [row][column]
  __shared__ float2 es[kTile][kRegionTile + 1];          // [column][region index]
  const int64_t region_tiles = (d.region + kRegionTile - 1) / kRegionTile;
  const int64_t row_tiles = (d.fft_rows + kTile - 1) / kTile;
  const int tx = threadIdx.x;
  const int ty = threadIdx.y;
  const int tid = ty * kTileThreads + tx;
  for (int64_t g = blockIdx.z; g < planes; g += gridDim.z) {
    const float2* spectrum = spectra + g * (d.plane_floats / 2);
    const float2* twiddles = col_twiddles + g * d.region * d.fft_cols;
    for (int64_t row_tile = blockIdx.y; row_tile < row_tiles; row_tile += gridDim.y) {
      const int64_t y0 = row_tile * kTile;
      for (int64_t region_tile = blockIdx.x; region_tile < region_tiles; region_tile += gridDim.x) {
        const int64_t u0 = region_tile * kRegionTile;
        double acc_re[2][kOutputsU] = {};
        double acc_im[2][kOutputsU] = {};
        for (int64_t x0 = 0; x0 < d.fft_cols; x0 += kTile) {
          for (int l = tid; l < kTile * kTile; l += kTileThreads * kTileThreads) {
            const int r = l / kTile;
            const int c = l % kTile;
            const int64_t x = x0 + c;
            const int64_t y = y0 + r;
            xs[r][c] = (y < d.fft_rows && x < d.fft_cols) ? full_spectrum(spectrum, d, y, x)
                                                          : make_float2(0.0f, 0.0f);
          }
          for (int l = tid; l < kTile * kRegionTile; l += kTileThreads * kTileThreads) {
            const int r = l / kTile;  // region index within the tile
            const int c = l % kTile;  // spectrum column within the tile
            const int64_t x = x0 + c;
            const int64_t u = u0 + r;
            es[c][r] = (u < d.region && x < d.fft_cols) ? twiddles[u * d.fft_cols + x]
                                                        : make_float2(0.0f, 0.0f);
          }
          __syncthreads();
          float part_re[2][kOutputsU] = {};
          float part_im[2][kOutputsU] = {};
#pragma unroll 8
          for (int k = 0; k < kTile; ++k) {
            const float2 a[2] = {xs[ty][k], xs[ty + kTileThreads][k]};
            float2 e[kOutputsU];
#pragma unroll
            for (int j = 0; j < kOutputsU; ++j) e[j] = es[k][tx + j * kTileThreads];
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
              for (int j = 0; j < kOutputsU; ++j) {
                part_re[i][j] += a[i].x * e[j].x - a[i].y * e[j].y;
                part_im[i][j] += a[i].x * e[j].y + a[i].y * e[j].x;
              }
          }
#pragma unroll
          for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < kOutputsU; ++j) {
              acc_re[i][j] += part_re[i][j];
              acc_im[i][j] += part_im[i][j];
            }
          __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int j = 0; j < kOutputsU; ++j) {
            const int64_t y = y0 + ty + i * kTileThreads;
            const int64_t u = u0 + tx + j * kTileThreads;
            if (y < d.fft_rows && u < d.region)
              stage[(g * d.fft_rows + y) * d.region + u] =
                  make_float2(static_cast<float>(acc_re[i][j]), static_cast<float>(acc_im[i][j]));
          }
      }
    }
  }
}

// magnitude[g][v][u] = |sum over y of row_twiddle[v][y] * stage[g][y][u]|^2
// (compared squared, as the CPU backend does; the root is taken once): a
// float sum per tile of kTile rows, in row order, the tiles added in order in
// double. A warp per output (g, v, u): its lanes take a tile each, 32 tiles
// at a time, and lane 0 adds their sums in tile order, so each output sums
// the same products in the same order as one thread walking its rows, with
// the loads spread over the device (a thread per output left 225 threads
// per plane busy at upsample_factor 10: 0.61 ms on a 24 MP luminance plane,
// H100). Outputs along grid.x, kRowWarps a block, strided by the grid.
constexpr int kRowWarps = 4;
__global__ void __launch_bounds__(kRowWarps * 32)
    upsample_rows_kernel(const float2* __restrict__ stage, const float2* __restrict__ row_twiddles,
                         int64_t planes, Dims d, double* __restrict__ magnitude) {
  __shared__ float2 sums[kRowWarps][32];
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int64_t outputs = planes * d.region * d.region;
  const int64_t tiles = (d.fft_rows + kTile - 1) / kTile;
  // Block-uniform bounds: every thread reaches every barrier.
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * kRowWarps; first < outputs;
       first += static_cast<int64_t>(gridDim.x) * kRowWarps) {
    const int64_t o = first + warp;
    const bool active = o < outputs;
    const int64_t g = o / (d.region * d.region);
    const int64_t v = (o / d.region) % d.region;
    const int64_t u = o % d.region;
    const float2* column = stage + g * d.fft_rows * d.region + u;
    const float2* twiddles = row_twiddles + (g * d.region + v) * d.fft_rows;
    double re = 0.0;
    double im = 0.0;
    for (int64_t t0 = 0; t0 < tiles; t0 += 32) {
      const int64_t t = t0 + lane;
      float part_re = 0.0f;
      float part_im = 0.0f;
      if (active && t < tiles) {
        const int64_t y0 = t * kTile;
        const int64_t y1 = y0 + kTile < d.fft_rows ? y0 + kTile : d.fft_rows;
#pragma unroll 8
        for (int64_t y = y0; y < y1; ++y) {
          const float2 e = twiddles[y];
          const float2 a = column[y * d.region];
          part_re += e.x * a.x - e.y * a.y;
          part_im += e.x * a.y + e.y * a.x;
        }
      }
      sums[warp][lane] = make_float2(part_re, part_im);
      __syncthreads();
      if (active && lane == 0) {
        const int64_t n = tiles - t0 < 32 ? tiles - t0 : 32;
        for (int64_t k = 0; k < n; ++k) {
          re += sums[warp][k].x;
          im += sums[warp][k].y;
        }
      }
      __syncthreads();  // the sums are free for the next 32 tiles
    }
    if (active && lane == 0) magnitude[o] = re * re + im * im;
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

// One block per plane of the group (grid.x, strided by gridDim.x): the
// first maximum of the plane's region x region squared magnitudes.
__global__ void __launch_bounds__(kThreads)
    upsample_peak_kernel(const double* __restrict__ magnitude, const Peak* __restrict__ peaks,
                         int64_t planes, Dims d, PlaneShift* __restrict__ results) {
  __shared__ IndexedMax shared[kThreads];
  const int64_t count = d.region * d.region;
  for (int64_t g = blockIdx.x; g < planes; g += gridDim.x) {
    const double* values = magnitude + g * count;
    IndexedMax best{-1.0, count};
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
      if (values[i] > best.value) best = IndexedMax{values[i], i};
    best = block_reduce<kThreads>(best, FirstMax(), shared);
    if (threadIdx.x == 0) {
      const Peak peak = peaks[g];
      const int64_t v = best.index / d.region;
      const int64_t u = best.index % d.region;
      const double shift_row = math::refined_shift(peak.shift_row, v, d.dftshift, d.upsample);
      const double shift_col = math::refined_shift(peak.shift_col, u, d.dftshift, d.upsample);
      write_result(d, peak, shift_row, shift_col, sqrt(best.value), results + g);
    }
  }
}

// Threads per block of the plane kernels: a narrow plane (X-Trans planes
// of small frames, tests) leaves most of 256 threads idle, each still
// reaching every barrier; the choice depends on the geometry alone.
constexpr int kNarrowThreads = 64;

template <int kBlock>
void launch_center_with(const float* frame, const Dims& d, const double* row_window,
                        const double* col_window, const FramePartials& partials, float* planes,
                        double* energy, cudaStream_t stream) {
  const dim3 each_plane(static_cast<unsigned>(d.row_blocks), grid_extent(d.planes, kMaxGridYZ));
  check_cuda(launch_kernel(&plane_sums_kernel<kBlock>, each_plane, dim3(kBlock), 0, stream, frame,
                           d, partials.sums),
             "launching the plane-sum kernel");
  check_cuda(launch_kernel(&center_kernel<kBlock>, each_plane, dim3(kBlock), 0, stream, frame, d,
                           row_window, col_window, partials.sums, planes, partials.squares,
                           partials.maxima),
             "launching the plane-centring kernel");
  check_cuda(launch_kernel(&finish_planes_kernel<kBlock>, each_plane, dim3(kBlock), 0, stream, d,
                           partials.squares, partials.maxima, planes, energy),
             "launching the plane-rescaling kernel");
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
  d.limit_fft_rows = d.transposed ? g.max_shift_cols : g.max_shift_rows;
  d.limit_fft_cols = d.transposed ? g.max_shift_rows : g.max_shift_cols;
  d.upsample = g.upsample;
  d.region = math::upsampled_region_size(g.upsample);
  d.dftshift = math::upsampled_dftshift(d.region);
  d.row_blocks = std::min<int64_t>(kRowBlocks, d.rows);
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
  s.planes_per_call =
      std::max<int64_t>(1, std::min<int64_t>(max_planes, (INT_MAX - 1) / d.plane_floats));
  const int64_t segments = s.planes_per_call * s.segments_per_plane;
  if (segments >= INT_MAX) fail(PTP_ERROR_INTERNAL, "too many peak-search segments");
  // One block per segment: grid.x (at most 2^31 - 1) holds them all.
  // peak_search_kernel needs no temporary storage; 1 byte keeps the
  // caller's buffer a valid allocation.
  s.temp_bytes = 1;
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

void center_frame(const float* frame, const Dims& d, const double* row_window,
                  const double* col_window, const FramePartials& partials, float* planes,
                  double* energy, cudaStream_t stream) {
  if (d.frame_dtype != PTP_DTYPE_FLOAT32 || d.period != 1)
    fail(PTP_ERROR_INTERNAL, "GPU alignment: plane kernels for a raw frame, not its image");
  if (d.cols <= kNarrowThreads)
    launch_center_with<kNarrowThreads>(frame, d, row_window, col_window, partials, planes, energy,
                                       stream);
  else
    launch_center_with<kThreads>(frame, d, row_window, col_window, partials, planes, energy,
                                 stream);
}

void find_peaks(const float* correlation, int64_t planes, const Dims& d, const PeakSearch& s,
                const int* offsets, void* partials, void* /*temp: none needed*/,
                const double* energy, const double* reference_energy, const double* bound,
                Peak* peaks, cudaStream_t stream) {
  auto* pairs = static_cast<PeakPair*>(partials);
  // Launches of at most planes_per_call planes: the offsets (ints) are
  // relative to the group's first plane.
  for (int64_t p0 = 0; p0 < planes; p0 += s.planes_per_call) {
    const int64_t count = std::min(s.planes_per_call, planes - p0);
    const int64_t segments = count * s.segments_per_plane;  // < INT_MAX (make_peak_search)
    check_cuda(launch_kernel(&peak_search_kernel, dim3(static_cast<unsigned>(segments)),
                             dim3(kThreads), 0, stream, correlation + p0 * d.plane_floats, offsets,
                             d, pairs + p0 * s.segments_per_plane),
               "launching the peak-search kernel");
  }
  check_cuda(launch_kernel(&finalize_peaks_kernel, dim3(blocks_for(planes, 128)), dim3(128), 0,
                           stream, pairs, planes, d, s.rows_per_segment, s.segments_per_plane,
                           energy, reference_energy, bound, peaks),
             "launching the peak kernel");
}

void spectrum_bounds(const float* spectra, int64_t planes, const Dims& d, double* partials,
                     double* bound, cudaStream_t stream) {
  check_cuda(launch_kernel(&bound_partials_kernel,
                           dim3(kBoundBlocks, grid_extent(planes, kMaxGridYZ)), dim3(kThreads), 0,
                           stream, reinterpret_cast<const float2*>(spectra), planes, d, partials),
             "launching the spectrum-bound kernel");
  check_cuda(launch_kernel(&bound_sums_kernel, dim3(blocks_for(planes, 128)), dim3(128), 0, stream,
                           partials, planes, bound),
             "launching the bound-sum kernel");
}

void tracked_joint(const float* unwindowed, const float* reference, const Peak* peaks,
                   const double* energy, const double* reference_energy, int64_t frames,
                   const Dims& d, float* joint, float* copy, double* used, cudaStream_t stream) {
  // Rows split over up to kRowBlocksPerFrame blocks: each thread then walks
  // many rows per frame, amortising its taps (a double-precision sincos).
  constexpr int64_t kRowBlocksPerFrame = 64;
  const dim3 grid(grid_extent((d.half + kThreads - 1) / kThreads, kMaxGridX),
                  grid_extent(std::min(d.fft_rows, kRowBlocksPerFrame), kMaxGridYZ),
                  grid_extent(frames, kMaxGridYZ));
  check_cuda(
      launch_kernel(&tracked_joint_kernel, grid, dim3(kThreads), 0, stream,
                    reinterpret_cast<const float2*>(unwindowed),
                    reinterpret_cast<const float2*>(reference), peaks, energy, reference_energy,
                    frames, d, reinterpret_cast<float2*>(joint), reinterpret_cast<float2*>(copy)),
      "launching the tracking pass kernel");
  check_cuda(launch_kernel(&joint_count_kernel, dim3(blocks_for(frames, 128)), dim3(128), 0, stream,
                           energy, reference_energy, frames, d, used),
             "launching the joint-count kernel");
}

void integer_results(const Peak* peaks, int64_t planes, const Dims& d, PlaneShift* results,
                     cudaStream_t stream) {
  check_cuda(launch_kernel(&integer_results_kernel, dim3(blocks_for(planes, 128)), dim3(128), 0,
                           stream, peaks, planes, d, results),
             "launching the result kernel");
}

size_t upsample_scratch_bytes(const Dims& d, int64_t planes) {
  const auto complex_bytes = [&](int64_t a, int64_t b, const char* what) {
    return static_cast<size_t>(
        checked_mul(checked_mul(checked_mul(planes, a, what), b, what), 8, what));
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
  // Every grid extent is capped at its axis's limit; the kernels stride
  // over the rest (e.g. the row tiles of a plane over 2^21 rows tall).
  const int64_t entries = d.region * (d.fft_cols + d.fft_rows);
  check_cuda(launch_kernel(&twiddle_kernel,
                           dim3(static_cast<unsigned>(grid_blocks(entries, kThreads)),
                                grid_extent(planes, kMaxGridYZ)),
                           dim3(kThreads), 0, stream, peaks, planes, d, col_twiddles, row_twiddles),
             "launching the twiddle kernel");
  // Region tiles of 16 where the region fits one (upsample_factor <= 10).
  const bool narrow = d.region <= 16;
  const int64_t region_tile = narrow ? 16 : kTile;
  const dim3 tiles(grid_extent((d.region + region_tile - 1) / region_tile, kMaxGridX),
                   grid_extent((d.fft_rows + kTile - 1) / kTile, kMaxGridYZ),
                   grid_extent(planes, kMaxGridYZ));
  check_cuda(
      launch_kernel(narrow ? &upsample_cols_kernel<16> : &upsample_cols_kernel<kTile>, tiles,
                    dim3(kTileThreads, kTileThreads), 0, stream,
                    reinterpret_cast<const float2*>(spectra), planes, d, col_twiddles, stage),
      "launching the upsampled DFT (columns)");
  const int64_t outputs = planes * d.region * d.region;
  check_cuda(launch_kernel(&upsample_rows_kernel,
                           dim3(grid_extent((outputs + kRowWarps - 1) / kRowWarps, kMaxGridX)),
                           dim3(kRowWarps * 32), 0, stream, stage, row_twiddles, planes, d,
                           scratch.magnitude),
             "launching the upsampled DFT (rows)");
  check_cuda(launch_kernel(&upsample_peak_kernel, dim3(grid_extent(planes, kMaxGridX)),
                           dim3(kThreads), 0, stream, scratch.magnitude, peaks, planes, d, results),
             "launching the upsampled peak kernel");
}

}  // namespace ptychopatch::impl::gpu::align
