// The CPU backend of scene alignment (FFTW3, single precision): the luminance images
// the luma backend makes (align_luma.hpp), one peak each; the factory
// make_cpu_align_backend() is declared in align/align_backend.hpp. The rule is
// docs/semantics.md, "The image's peak".
//  * One RealFft2d (fft/real_fft_2d.hpp); threads work on whole images, each with its
//    own 64-byte-aligned buffers; few large images share one transform (FftTeam).
//  * The reference's half spectrum (ny x (nx/2 + 1)) is made once in set_reference.
//  * Sub-pixel refinement evaluates scikit-image's upsampled DFT on the half
//    spectrum, rebuilding the missing half from X(-k) = conj(X(k)).
//  * The progress callback runs on the calling thread only.
#include <fftw3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <vector>

#include "align/align_backend.hpp"
#include "core/error.hpp"
#include "core/first_error.hpp"
#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"
#include "cpu/aligned_array.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "cpu/vector_lanes.hpp"
#include "fft/real_fft_2d.hpp"
#include "math/phase_math.hpp"

namespace ptychopatch::impl {
namespace cpu {

namespace {

// Memory the cross-power slots of a window of images may take beyond one image's.
constexpr int64_t kSlotBytes = int64_t{1} << 30;

int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// ------------------------------------------------------------ row kernels

// dst[j] = src[j]; returns the sum of dst in double (four lanes, a fixed order).
PTP_ROW_KERNEL_CLONES
double copy_row(const float* __restrict src, int64_t n, float* __restrict dst) {
  Doubles4 acc = {};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    Floats4 x;
    load_lanes(x, src + j);
    store_lanes(dst + j, x);
    acc += PTP_WIDEN4(x);
  }
  for (; j < n; ++j) {
    dst[j] = src[j];
    acc[0] += src[j];
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// v[j] = plane_value(v[j], mean, wy * wx[j]), four lanes at a time; adds sum v^2 to
// *sum_squares (lane j % 4 holds its terms, a fixed order) and raises *max_abs to max |v|.
PTP_ROW_KERNEL_CLONES
void center_row(float* __restrict v, int64_t n, double mean, double wy, const double* __restrict wx,
                double* sum_squares, float* max_abs) {
  Doubles4 acc = {};
  Floats4 top = {};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    Floats4 in;
    Doubles4 weight;
    load_lanes(in, v + j);
    load_lanes(weight, wx + j);
    const Floats4 x = PTP_NARROW4((PTP_WIDEN4(in) - mean) * (wy * weight));  // plane_value
    store_lanes(v + j, x);
    const Doubles4 wide = PTP_WIDEN4(x);
    acc += wide * wide;
    top = PTP_MAX_LANES(top, PTP_ABS_FLOATS4(x));
  }
  for (; j < n; ++j) {
    const float x = math::plane_value(v[j], mean, wy * wx[j]);
    v[j] = x;
    acc[0] += static_cast<double>(x) * x;
    top[0] = std::max(top[0], std::fabs(x));
  }
  *sum_squares += (acc[0] + acc[1]) + (acc[2] + acc[3]);
  *max_abs = std::max({*max_abs, top[0], top[1], top[2], top[3]});
}

// mov[k] = the partially whitened cross power of ref[k] and mov[k] over `bins`
// interleaved complex bins.
PTP_ROW_KERNEL_CLONES
void cross_power_pass(const float* __restrict ref, float* __restrict mov, int64_t bins) {
  for (int64_t k = 0; k < bins; ++k)
    math::partial_cross_power(ref[2 * k], ref[2 * k + 1], mov[2 * k], mov[2 * k + 1], &mov[2 * k],
                              &mov[2 * k + 1]);
}

// The energy of math::significance_confidence for one half spectrum x of
// ny x nxh bins: sum over the full spectrum of |x|^2, in double (per row, lane kx % 4
// holds its terms).
PTP_ROW_KERNEL_CLONES
double spectrum_energy(const fftwf_complex* x, int64_t ny, int64_t nxh, int64_t nx) {
  double total = 0.0;
  for (int64_t ky = 0; ky < ny; ++ky) {
    const float* row = &x[ky * nxh][0];
    Doubles4 acc = {};
    int64_t kx = 0;
    for (; kx + 4 <= nxh; kx += 4) {
      Floats4 low, high;  // bins kx, kx + 1 and kx + 2, kx + 3 (re, im)
      load_lanes(low, row + 2 * kx);
      load_lanes(high, row + 2 * kx + 4);
      const Doubles4 re = PTP_WIDEN4(__builtin_shufflevector(low, high, 0, 2, 4, 6));
      const Doubles4 im = PTP_WIDEN4(__builtin_shufflevector(low, high, 1, 3, 5, 7));
      Doubles4 weight = {2.0, 2.0, 2.0, 2.0};
      if (kx == 0 || 2 * (kx + 3) >= nx)  // column 0 or the Nyquist column among these
        for (int l = 0; l < 4; ++l) weight[l] = math::half_spectrum_weight(kx + l, nx);
      acc += weight * (re * re + im * im);
    }
    for (; kx < nxh; ++kx) {
      const double re = row[2 * kx];
      const double im = row[2 * kx + 1];
      acc[0] += math::half_spectrum_weight(kx, nx) * (re * re + im * im);
    }
    total += (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  return total;
}

// Elements per chunk of the element-wise passes that a FftTeam shares.
constexpr int64_t kBinChunk = int64_t{1} << 16;

// max |v[k]| over n values (std::max's rule per lane).
PTP_ROW_KERNEL_CLONES
float max_abs(const float* __restrict v, int64_t n) {
  Floats4 top[2] = {};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int h = 0; h < 2; ++h) {
      Floats4 x;
      load_lanes(x, v + k + 4 * h);
      top[h] = PTP_MAX_LANES(top[h], PTP_ABS_FLOATS4(x));
    }
  float m = 0.0f;
  for (; k < n; ++k) m = std::max(m, std::fabs(v[k]));
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 4; ++l) m = std::max(m, top[h][l]);
  return m;
}

inline double sum8(const Floats8& v) {
  double s = 0.0;
  for (int l = 0; l < 8; ++l) s += v[l];
  return s;
}

// The first k with |v[k]| == target (n if none): blocks of 64 are tested
// with a branch-free reduction, the matching block element by element.
PTP_ROW_KERNEL_CLONES
int64_t first_abs_equal(const float* __restrict v, int64_t n, float target) {
  constexpr int64_t kBlock = 64;
  int64_t k = 0;
  for (; k + kBlock <= n; k += kBlock) {
    int hit = 0;
    for (int64_t l = 0; l < kBlock; ++l) hit |= std::fabs(v[k + l]) == target;
    if (hit) break;
  }
  for (; k < n; ++k)
    if (std::fabs(v[k]) == target) return k;
  return n;
}

// Chunks of find_peak's search of a plane of `count` values.
int64_t peak_chunks(int64_t count) {
  return std::max<int64_t>(1, (count + kBinChunk - 1) / kBinChunk);
}

// The first (row-major) index of max |c| over an ny x nx plane, the maximum in *top; with
// limits >= 0, over the indices whose wrapped shifts are within them (always (0, 0) too;
// math::within_shift_limit). `tops`: peak_chunks(ny * nx) floats of scratch.
int64_t find_peak(const float* c, int64_t ny, int64_t nx, int64_t limit_y, int64_t limit_x,
                  float* top, int threads, float* tops) {
  const int64_t count = ny * nx;
  if (limit_y < 0 && limit_x < 0) {
    // Chunk by chunk, shared by the threads: the whole plane's (count - 1 if none).
    const int64_t chunks = peak_chunks(count);
    parallel_for(threads, 0, chunks, 1, [&](int64_t k, int) {
      tops[k] = max_abs(c + k * kBinChunk, std::min(kBinChunk, count - k * kBinChunk));
    });
    *top = *std::max_element(tops, tops + chunks);
    for (int64_t k = 0; k < chunks; ++k) {
      if (tops[k] != *top) continue;
      const int64_t first = k * kBinChunk;
      const int64_t n = std::min(kBinChunk, count - first);
      const int64_t at = first_abs_equal(c + first, n, *top);
      if (at < n) return first + at;  // (none: a chunk of NaN or zeros only)
    }
    return count - 1;
  }
  float best = -1.0f;
  int64_t best_index = 0;
  for (int64_t i = 0; i < ny; ++i) {
    if (!math::within_shift_limit(i, ny, limit_y)) continue;
    const float* row = c + i * nx;
    for (int64_t j = 0; j < nx; ++j) {
      if (!math::within_shift_limit(j, nx, limit_x)) continue;
      const float v = std::fabs(row[j]);
      if (v > best) {
        best = v;
        best_index = i * nx + j;
      }
    }
  }
  *top = best;
  return best_index;
}

// For each of `rows` tables e (re, im; `stride` floats apart), the complex
// dot product sum_k x[k] * e[k] over n (a multiple of 8) values, written to
// out[r * out_stride]. Two tables per pass share the loads of x.
PTP_ROW_KERNEL_CLONES
void complex_dots(const float* __restrict xr, const float* __restrict xi,
                  const float* __restrict er, const float* __restrict ei, int64_t rows,
                  int64_t stride, int64_t n, std::complex<float>* out, int64_t out_stride) {
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float* a0 = er + r * stride;
    const float* b0 = ei + r * stride;
    const float* a1 = a0 + stride;
    const float* b1 = b0 + stride;
    Floats8 sr0 = {}, si0 = {}, sr1 = {}, si1 = {};
    for (int64_t k = 0; k < n; k += 8) {
      Floats8 x, y, c0, s0, c1, s1;
      load_lanes(x, xr + k);
      load_lanes(y, xi + k);
      load_lanes(c0, a0 + k);
      load_lanes(s0, b0 + k);
      load_lanes(c1, a1 + k);
      load_lanes(s1, b1 + k);
      sr0 += x * c0 - y * s0;
      si0 += x * s0 + y * c0;
      sr1 += x * c1 - y * s1;
      si1 += x * s1 + y * c1;
    }
    out[r * out_stride] =
        std::complex<float>(static_cast<float>(sum8(sr0)), static_cast<float>(sum8(si0)));
    out[(r + 1) * out_stride] =
        std::complex<float>(static_cast<float>(sum8(sr1)), static_cast<float>(sum8(si1)));
  }
  for (; r < rows; ++r) {
    const float* a0 = er + r * stride;
    const float* b0 = ei + r * stride;
    Floats8 sr0 = {}, si0 = {};
    for (int64_t k = 0; k < n; k += 8) {
      Floats8 x, y, c0, s0;
      load_lanes(x, xr + k);
      load_lanes(y, xi + k);
      load_lanes(c0, a0 + k);
      load_lanes(s0, b0 + k);
      sr0 += x * c0 - y * s0;
      si0 += x * s0 + y * c0;
    }
    out[r * out_stride] =
        std::complex<float>(static_cast<float>(sum8(sr0)), static_cast<float>(sum8(si0)));
  }
}

// --------------------------------------------------------- upsampled DFT

// scikit-image's upsampled-DFT refinement (see math/phase_math.hpp) on a
// half spectrum X of ny x nxh. Splitting the full sum over kx into
// kx = 0, the positive frequencies 1..hx, their negatives (whose bins are
// conj(X(-ky, kx)) and whose twiddles are the conjugates), and the Nyquist
// column of an even nx:
//   T(b, ky) = X(ky, 0) + S(b, ky) + conj(S(b, -ky)) + X(ky, nx/2) Nyq(b)
//   S(b, ky) = sum_{kx=1..hx} X(ky, kx) Ex(b, kx)
//   CC(a, b) = sum_ky T(b, ky) Ey(a, ky)
// which is the full-spectrum sum, term for term, at half the work.
class Refiner {
 public:
  Refiner(const FftShape& d, int64_t upsample)
      : d_(d),
        upsample_(upsample),
        region_(math::upsampled_region_size(upsample)),
        dftshift_(math::upsampled_dftshift(region_)),
        hx_((d.nx - 1) / 2),
        hxp_(round_up(std::max<int64_t>(hx_, 1), 8)),
        ex_re_(region_ * hxp_),
        ex_im_(region_ * hxp_),
        nyquist_(region_),
        row_re_(hxp_),
        row_im_(hxp_),
        t_(region_ * d.ny),
        ey_(d.ny) {}

  // Refines the integer shift (sy, sx); returns the refined shift and |CC| at its
  // first (row-major) maximum. `threads` share the rows of the first step (each
  // computed alike whoever computes it).
  void refine(const fftwf_complex* x, int64_t sy, int64_t sx, double* dy, double* dx,
              double* peak_abs, int threads = 1) {
    const int64_t ny = d_.ny;
    // A row buffer (real, imaginary parts) per thread, the first the refiner's own.
    while (static_cast<int>(more_rows_.size()) < 2 * (threads - 1))
      more_rows_.emplace_back(static_cast<size_t>(hxp_));
    const int64_t nx = d_.nx;
    const int64_t nxh = d_.nxh;
    const bool even_x = nx % 2 == 0;

    // Column twiddles of the region around sx.
    for (int64_t b = 0; b < region_; ++b) {
      const int64_t mb = math::upsampled_sample_index(b, sx, upsample_, dftshift_);
      float* re = &ex_re_[b * hxp_];
      float* im = &ex_im_[b * hxp_];
      for (int64_t kx = 1; kx <= hx_; ++kx) {
        double c = 0.0;
        double s = 0.0;
        math::dft_twiddle(mb, kx, nx, upsample_, &c, &s);
        re[kx - 1] = static_cast<float>(c);
        im[kx - 1] = static_cast<float>(s);
      }
      for (int64_t k = hx_; k < hxp_; ++k) re[k] = im[k] = 0.0f;
      double c = 0.0;
      double s = 0.0;
      if (even_x) math::dft_twiddle(mb, -nx / 2, nx, upsample_, &c, &s);
      nyquist_[b] = std::complex<double>(c, s);
    }

    // S(b, ky) for every row, into t_ (b-major).
    parallel_for(threads, 0, ny, 1, [&](int64_t ky, int t) {
      float* row_re = t == 0 ? row_re_.data() : more_rows_[2 * (t - 1)].data();
      float* row_im = t == 0 ? row_im_.data() : more_rows_[2 * (t - 1) + 1].data();
      const fftwf_complex* row = x + ky * nxh;
      for (int64_t kx = 1; kx <= hx_; ++kx) {
        row_re[kx - 1] = row[kx][0];
        row_im[kx - 1] = row[kx][1];
      }
      for (int64_t k = hx_; k < hxp_; ++k) row_re[k] = row_im[k] = 0.0f;
      complex_dots(row_re, row_im, ex_re_.data(), ex_im_.data(), region_, hxp_, hxp_, &t_[ky], ny);
    });

    // S -> T in place, pairing ky with -ky.
    auto bin = [&](int64_t ky, int64_t kx) {
      return std::complex<double>(x[ky * nxh + kx][0], x[ky * nxh + kx][1]);
    };
    for (int64_t b = 0; b < region_; ++b) {
      std::complex<float>* s = &t_[b * ny];
      for (int64_t ky = 0; ky <= ny / 2; ++ky) {
        const int64_t mirror = (ny - ky) % ny;
        const std::complex<double> s1(s[ky]);
        const std::complex<double> s2(s[mirror]);
        std::complex<double> t1 = bin(ky, 0) + s1 + std::conj(s2);
        std::complex<double> t2 = bin(mirror, 0) + s2 + std::conj(s1);
        if (even_x) {
          t1 += bin(ky, nx / 2) * nyquist_[b];
          t2 += bin(mirror, nx / 2) * nyquist_[b];
        }
        s[ky] = std::complex<float>(t1);
        s[mirror] = std::complex<float>(t2);
      }
    }

    // CC(a, b) and its first maximum of |CC|.
    double best = -1.0;
    int64_t best_a = 0;
    int64_t best_b = 0;
    for (int64_t a = 0; a < region_; ++a) {
      const int64_t ma = math::upsampled_sample_index(a, sy, upsample_, dftshift_);
      for (int64_t ky = 0; ky < ny; ++ky) {
        double c = 0.0;
        double s = 0.0;
        math::dft_twiddle(ma, math::signed_frequency(ky, ny), ny, upsample_, &c, &s);
        ey_[ky] = std::complex<double>(c, s);
      }
      for (int64_t b = 0; b < region_; ++b) {
        const std::complex<float>* t = &t_[b * ny];
        double re = 0.0;
        double im = 0.0;
        for (int64_t ky = 0; ky < ny; ++ky) {
          const double tr = t[ky].real();
          const double ti = t[ky].imag();
          re += tr * ey_[ky].real() - ti * ey_[ky].imag();
          im += tr * ey_[ky].imag() + ti * ey_[ky].real();
        }
        const double magnitude = re * re + im * im;
        if (magnitude > best) {
          best = magnitude;
          best_a = a;
          best_b = b;
        }
      }
    }
    *dy = math::refined_shift(sy, best_a, dftshift_, upsample_);
    *dx = math::refined_shift(sx, best_b, dftshift_, upsample_);
    *peak_abs = std::sqrt(best);
  }

 private:
  FftShape d_;
  int64_t upsample_;
  int64_t region_;
  int64_t dftshift_;
  int64_t hx_;   // positive non-Nyquist frequencies of nx: (nx - 1) / 2
  int64_t hxp_;  // hx_ rounded up to 8 (zero-padded tables)
  std::vector<float> ex_re_;
  std::vector<float> ex_im_;
  std::vector<std::complex<double>> nyquist_;
  std::vector<float> row_re_;
  std::vector<float> row_im_;
  std::vector<std::vector<float>> more_rows_;  // threads 1..: re, im
  std::vector<std::complex<float>> t_;         // S, then T: region x ny, b-major
  std::vector<std::complex<double>> ey_;
};

// The buffers one thread works in.
struct Workspace {
  Workspace(const FftShape& d, int64_t upsample)
      : real(d.count),
        spectrum(d.bins),
        kept(upsample > 1 ? d.bins : 0),
        columns(RealFft2d::column_buffer_bins(d)),
        column_pointer(columns.get()),
        row_values(static_cast<size_t>(d.ny)),
        row_tops(static_cast<size_t>(d.ny)),
        chunk_tops(static_cast<size_t>(peak_chunks(d.count))) {
    if (upsample > 1) refiner = std::make_unique<Refiner>(d, upsample);
  }
  // This thread alone as a FftTeam.
  FftTeam alone() const { return FftTeam{1, &column_pointer}; }
  AlignedArray<float> real;              // plane values, then the correlation
  AlignedArray<fftwf_complex> spectrum;  // moving spectrum, then X
  AlignedArray<fftwf_complex> kept;      // X for the refinement (c2r destroys it)
  AlignedArray<fftwf_complex> columns;   // RealFft2d's column blocks
  fftwf_complex* column_pointer;
  // Per plane row: sums (then sums of squares, energies) and maxima, added in row
  // order afterwards, so a plane's passes give the same values on a FftTeam of any size.
  std::vector<double> row_values;
  std::vector<float> row_tops;
  std::vector<float> chunk_tops;  // find_peak's scratch
  std::unique_ptr<Refiner> refiner;
};

class CpuAlignBackend final : public AlignBackend {
 public:
  CpuAlignBackend(const AlignGeometry& g, int32_t num_threads)
      : g_(g), threads_(std::max<int32_t>(1, num_threads)) {
    d_.ny = g.plane_height;
    d_.nx = g.plane_width;
    d_.nxh = g.plane_width / 2 + 1;
    d_.count = d_.ny * d_.nx;
    d_.bins = d_.ny * d_.nxh;
    window_y_.resize(static_cast<size_t>(d_.ny));
    window_x_.resize(static_cast<size_t>(d_.nx));
    for (int64_t i = 0; i < d_.ny; ++i) window_y_[i] = math::hann_weight(i, d_.ny);
    for (int64_t j = 0; j < d_.nx; ++j) window_x_[j] = math::hann_weight(j, d_.nx);
    reserve_workspaces(1);
    plans_ =
        std::make_unique<RealFft2d>(d_, workspaces_[0]->real.get(), workspaces_[0]->spectrum.get(),
                                    workspaces_[0]->columns.get(), g.fft_planning);
    reference_ = AlignedArray<fftwf_complex>(d_.bins);
  }

  // Nothing here throws: buffers are allocated, FFTW execute does not.
  void set_reference(const void* image) override {
    const bool together = share_images(1);
    Workspace& w = *workspaces_[0];
    const FftTeam t = together ? whole_team() : w.alone();
    reference_sum_squares_ = load_image(static_cast<const float*>(image), w.real.get(),
                                        window_y_.data(), window_x_.data(), t, w);
    plans_->forward(w.real.get(), reference_.get(), t);
  }

  // In windows of W images: every image of the window in parallel (centred values,
  // forward transform, normalised cross power into its own slot), then every image in
  // parallel (peak_step). W = threads, capped so the slots stay within kSlotBytes (at
  // least one image). Up to g.tracking_passes passes (docs/semantics.md, "The image's peak").
  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    if (num_frames == 0) return 0;
    const int64_t slot_bytes = d_.bins * static_cast<int64_t>(sizeof(fftwf_complex));
    int64_t window = threads_;
    window = std::min(window, std::max<int64_t>(1, kSlotBytes / slot_bytes));
    window = std::min(window, num_frames);
    while (static_cast<int64_t>(slots_.size()) < window) slots_.emplace_back(d_.bins);
    std::vector<char> used(static_cast<size_t>(window));
    reserve_workspaces(static_cast<int>(std::min<int64_t>(threads_, window)));
    // Per image of the window: still iterating, and the shift its window is moved by.
    std::vector<char> active(static_cast<size_t>(window));
    std::vector<int64_t> moved_by(static_cast<size_t>(2 * window));
    // Image k's moved window: rows at moved[k * (ny + nx)], then columns.
    const int64_t stride = d_.ny + d_.nx;
    std::vector<double> moved(static_cast<size_t>(window * stride));
    FirstError errors;
    for (int64_t f0 = 0; f0 < num_frames; f0 += window) {
      const int64_t n = std::min(window, num_frames - f0);
      std::fill(active.begin(), active.end(), 1);
      std::fill(moved_by.begin(), moved_by.end(), 0);
      const int passes = g_.tracking_passes;
      for (int pass = 1; pass <= passes; ++pass) {
        for (int64_t k = 0; pass > 1 && k < n; ++k) {
          if (!active[k]) continue;
          move_window(window_y_, moved_by[2 * k], moved.data() + k * stride);
          move_window(window_x_, moved_by[2 * k + 1], moved.data() + k * stride + d_.ny);
        }
        // Few large images: one at a time, each on every thread (FftTeam).
        const bool together = share_images(n);
        const FftTeam team = together ? whole_team() : FftTeam{1, nullptr};
        const auto one = [&](int64_t k, Workspace& w) {
          try {
            if (!active[k] || (pass > 1 && !used[k])) return;
            const FftTeam t = together ? team : w.alone();
            const double* rows = pass == 1 ? window_y_.data() : moved.data() + k * stride;
            const double* cols = pass == 1 ? window_x_.data() : moved.data() + k * stride + d_.ny;
            const double sum_squares = load_image(static_cast<const float*>(frames[f0 + k]),
                                                  w.real.get(), rows, cols, t, w);
            if (pass == 1) {
              used[k] = sum_squares > 0.0 && reference_sum_squares_ > 0.0;
              if (!used[k]) return;
            }
            fftwf_complex* x = slots_[k].get();
            plans_->forward(w.real.get(), x, t);
            cross_power_spectrum(x, t);
          } catch (...) {
            errors.record(std::current_exception());
          }
        };
        for_each_item(n, together, one);
        errors.rethrow_if_any();
        if (!peak_step(f0, n, used, results, pass == passes, active, moved_by, errors)) break;
      }
      // Progress per frame, from the calling thread, outside the parallel regions.
      for (int64_t k = 0; k < n; ++k)
        if (!keep_going(f0 + k + 1)) return f0 + k + 1;
    }
    return num_frames;
  }

 private:
  // align's per-image step for the active images f0 .. f0 + n: the slot's energy, one
  // inverse transform, the integer peak. An image is final in the `last` pass or when
  // its peak equals moved_by (its window's shift): its result is then the refined peak
  // and it turns inactive; otherwise moved_by becomes its peak. Returns whether any
  // image is still active.
  bool peak_step(int64_t f0, int64_t n, const std::vector<char>& used, PlaneShift* results,
                 bool last, std::vector<char>& active, std::vector<int64_t>& moved_by,
                 FirstError& errors) {
    const bool together = share_images(n);
    const FftTeam team = together ? whole_team() : FftTeam{1, nullptr};
    const auto one = [&](int64_t k, Workspace& w) {
      if (!active[k]) return;
      try {
        const FftTeam t = together ? team : w.alone();
        PlaneShift& out = results[f0 + k];
        if (!used[k]) {
          out = {0.0, 0.0, 0.0, 0};
          active[k] = 0;
          return;
        }
        fftwf_complex* x = slots_[k].get();
        const double energy = energy_of(x, t, w);
        bool final = false;
        out = peak_of(x, w, t, [&](int64_t peak_y, int64_t peak_x) {
          final = last || (peak_y == moved_by[2 * k] && peak_x == moved_by[2 * k + 1]);
          if (!final) {
            moved_by[2 * k] = peak_y;
            moved_by[2 * k + 1] = peak_x;
          }
          return final;
        });
        out.confidence = math::significance_confidence(out.confidence, energy, d_.count);
        out.planes_used = 1;
        if (final) active[k] = 0;
      } catch (...) {
        errors.record(std::current_exception());
      }
    };
    for_each_item(n, together, one);
    errors.rethrow_if_any();
    return std::find(active.begin(), active.begin() + n, char{1}) != active.begin() + n;
  }

  // The Hann window's rows (or columns) moved with a frame's content by its
  // integer shift: out[i] = window[tracking_window_index(i, shift, n)].
  static void move_window(const std::vector<double>& window, int64_t shift, double* out) {
    const int64_t n = static_cast<int64_t>(window.size());
    for (int64_t i = 0; i < n; ++i) out[i] = window[math::tracking_window_index(i, shift, n)];
  }

  void reserve_workspaces(int count) {
    while (static_cast<int>(workspaces_.size()) < count)
      workspaces_.push_back(std::make_unique<Workspace>(d_, g_.upsample));
  }

  // Step 1 of math/phase_math.hpp: the ny x nx image into `out`, mean removed, windowed
  // (rows window_y, columns window_x: the Hann window, or in a tracking pass shifted
  // circularly), rescaled if huge or tiny (math::plane_scale_exponent); returns sum
  // out^2 in double.
  double load_image(const float* image, float* out, const double* window_y, const double* window_x,
                    const FftTeam& team, Workspace& w) const {
    double* row_values = w.row_values.data();
    float* row_tops = w.row_tops.data();
    parallel_for(team.threads, 0, d_.ny, 1, [&](int64_t i, int) {
      row_values[i] = copy_row(image + i * d_.nx, d_.nx, out + i * d_.nx);
    });
    double sum = 0.0;
    for (int64_t i = 0; i < d_.ny; ++i) sum += row_values[i];
    const double mean = sum / static_cast<double>(d_.count);
    parallel_for(team.threads, 0, d_.ny, 1, [&](int64_t i, int) {
      double squares = 0.0;
      float top = 0.0f;
      center_row(out + i * d_.nx, d_.nx, mean, window_y[i], window_x, &squares, &top);
      row_values[i] = squares;
      row_tops[i] = top;
    });
    double sum_squares = 0.0;
    float top = 0.0f;
    for (int64_t i = 0; i < d_.ny; ++i) {
      sum_squares += row_values[i];
      top = std::max(top, row_tops[i]);
    }
    const int e = math::plane_scale_exponent(top, d_.count);
    if (e != 0) {
      for (int64_t k = 0; k < d_.count; ++k) out[k] = std::ldexp(out[k], -e);
      sum_squares = std::ldexp(sum_squares, -2 * e);
    }
    return sum_squares;
  }

  // Whether a step over `items` images runs them one at a time, each on every thread:
  // fewer images than threads, transformed in two passes.
  bool share_images(int64_t items) const {
    return items < threads_ && threads_ > 1 && RealFft2d::two_pass(d_);
  }

  // one(item, workspace) for every item in [0, count): one at a time on the first workspace
  // when `together` (its FftTeam shares each), else in parallel, a workspace per thread (as
  // many as reserved: up to threads_). `one` must not throw.
  template <class One>
  void for_each_item(int64_t count, bool together, const One& one) {
    const int threads =
        together
            ? 1
            : threads_for_work(static_cast<int>(std::min<int64_t>(
                                   {threads_, count, static_cast<int64_t>(workspaces_.size())})),
                               count * d_.count * 16);
    if (threads <= 1) {
      for (int64_t item = 0; item < count; ++item) one(item, *workspaces_[0]);
      return;
    }
    parallel_for(threads, 0, count, 1,
                 [&](int64_t item, int slot) { one(item, *workspaces_[slot]); });
  }

  // Every thread as one FftTeam (the first workspace's column buffer and threads_ - 1 more).
  FftTeam whole_team() {
    while (static_cast<int64_t>(team_columns_.size()) < threads_ - 1)
      team_columns_.emplace_back(RealFft2d::column_buffer_bins(d_));
    team_column_pointers_.assign(1, workspaces_[0]->columns.get());
    for (const auto& c : team_columns_) team_column_pointers_.push_back(c.get());
    return FftTeam{threads_, team_column_pointers_.data()};
  }

  // math::significance_confidence's energy of half spectrum x, rows added in row order.
  double energy_of(const fftwf_complex* x, const FftTeam& team, Workspace& w) const {
    double* row_values = w.row_values.data();
    parallel_for(team.threads, 0, d_.ny, 1, [&](int64_t ky, int) {
      row_values[ky] = spectrum_energy(x + ky * d_.nxh, 1, d_.nxh, d_.nx);
    });
    double total = 0.0;
    for (int64_t ky = 0; ky < d_.ny; ++ky) total += row_values[ky];
    return total;
  }

  // Step 3's partial whitening: spectrum = X (chunks shared by the team); the
  // windowed image's DC bin is signal and stays.
  void cross_power_spectrum(fftwf_complex* spectrum, const FftTeam& team) const {
    const float* reference = reinterpret_cast<const float*>(reference_.get());
    float* x = reinterpret_cast<float*>(spectrum);
    const int64_t chunks = (d_.bins + kBinChunk - 1) / kBinChunk;
    parallel_for(team.threads, 0, chunks, 1, [&](int64_t c, int) {
      const int64_t first = c * kBinChunk;
      cross_power_pass(reference + 2 * first, x + 2 * first, std::min(kBinChunk, d_.bins - first));
    });
  }

  // Steps 4-6 on the cross-power spectrum x (destroyed): the shift in plane pixels, and in
  // `confidence` the peak's magnitude (the caller makes it a confidence). Refined (upsample
  // > 1) where refine(integer peak row, column) is true; else the integer peak.
  template <class RefineIf>
  PlaneShift peak_of(fftwf_complex* x, Workspace& w, const FftTeam& team, RefineIf refine) const {
    const bool may_refine = g_.upsample > 1;
    if (may_refine) copy_bins(w.kept.get(), x, team.threads);
    plans_->inverse(x, w.real.get(), team);
    float top = 0.0f;
    const int64_t index = find_peak(w.real.get(), d_.ny, d_.nx, g_.max_shift_rows,
                                    g_.max_shift_cols, &top, team.threads, w.chunk_tops.data());
    const int64_t sy = math::wrap_peak_index(index / d_.nx, d_.ny);
    const int64_t sx = math::wrap_peak_index(index % d_.nx, d_.nx);
    double dy = static_cast<double>(sy);
    double dx = static_cast<double>(sx);
    double peak = top;
    if (refine(sy, sx) && may_refine)
      w.refiner->refine(w.kept.get(), sy, sx, &dy, &dx, &peak, team.threads);
    if (d_.ny == 1) dy = 0.0;
    if (d_.nx == 1) dx = 0.0;
    return {dy, dx, peak, 0};
  }

  // dst = src over the plane's bins, in chunks shared by `threads`.
  void copy_bins(fftwf_complex* dst, const fftwf_complex* src, int threads) const {
    const int64_t chunks = (d_.bins + kBinChunk - 1) / kBinChunk;
    parallel_for(threads, 0, chunks, 1, [&](int64_t c, int) {
      const int64_t first = c * kBinChunk;
      std::memcpy(
          dst + first, src + first,
          static_cast<size_t>(std::min(kBinChunk, d_.bins - first)) * sizeof(fftwf_complex));
    });
  }

  AlignGeometry g_;
  int32_t threads_;
  FftShape d_{};
  std::vector<double> window_y_;
  std::vector<double> window_x_;
  std::vector<std::unique_ptr<Workspace>> workspaces_;
  std::unique_ptr<RealFft2d> plans_;
  AlignedArray<fftwf_complex> reference_;
  double reference_sum_squares_ = 0.0;
  // The window's images' cross-power spectra, grown on demand.
  std::vector<AlignedArray<fftwf_complex>> slots_;
  // whole_team()'s column buffers for threads 1 .. threads_ - 1, and its pointers.
  std::vector<AlignedArray<fftwf_complex>> team_columns_;
  std::vector<fftwf_complex*> team_column_pointers_;
};

}  // namespace
}  // namespace cpu

std::unique_ptr<AlignBackend> make_cpu_align_backend(const AlignGeometry& geometry,
                                                     int32_t num_threads) {
  // The CPU backend aligns the images the luma backend made (luma_image_geometry).
  if (geometry.luma || geometry.planes != 1 || geometry.frame_dtype != PTP_DTYPE_FLOAT32)
    fail(PTP_ERROR_INTERNAL,
         "the CPU alignment backend made for raw frames instead of their luminance images");
  return std::make_unique<cpu::CpuAlignBackend>(geometry, num_threads);
}

void AlignBackend::set_luma_planes(const std::vector<char>& /*planes*/) {
  fail(PTP_ERROR_INTERNAL, "luminance planes for an alignment backend that does not make images");
}

}  // namespace ptychopatch::impl
