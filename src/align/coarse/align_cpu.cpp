// The CPU backend of scene alignment (FFTW3, single precision); the factory
// make_cpu_align_backend() is declared in align/align_backend.hpp. The rule is
// docs/semantics.md, "One plane pair" and "The joint peak".
//  * One RealFft2d per plane size (fft/real_fft_2d.hpp); threads work on whole
//    (frame, plane) pairs, each with its own 64-byte-aligned buffers; large planes
//    share one transform instead (FftTeam).
//  * The reference's half spectra (ny x (nx/2 + 1)) are made once in set_reference.
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
#include "fft/real_fft_2d.hpp"
#include "math/phase_math.hpp"

// Hot loops are cloned for AVX2 where GCC can dispatch at load time (AVX2
// without FMA: every target computes the same IEEE operations).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PTP_ALIGN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PTP_ALIGN_CLONES
#endif

namespace ptychopatch::impl {
namespace cpu {

namespace {

// Independent accumulators, so the compiler vectorises reductions without reassociating.
constexpr int64_t kLanes = 8;
// Memory the joint path's cross-power slots may take beyond one frame's.
constexpr int64_t kJointSlotBytes = int64_t{1} << 30;

int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// ------------------------------------------------------------ row kernels

// dst[j] = src[j * stride] as float32; returns the sum of dst in double.
template <class T>
inline double gather_row_impl(const T* __restrict src, int64_t stride, int64_t n,
                              float* __restrict dst) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int l = 0; l < 4; ++l) {
      const float v = static_cast<float>(src[(j + l) * stride]);
      dst[j + l] = v;
      acc[l] += v;
    }
  for (; j < n; ++j) {
    const float v = static_cast<float>(src[j * stride]);
    dst[j] = v;
    acc[0] += v;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

PTP_ALIGN_CLONES
double gather_row(const uint16_t* src, int64_t stride, int64_t n, float* dst) {
  return gather_row_impl(src, stride, n, dst);
}

PTP_ALIGN_CLONES
double gather_row(const float* src, int64_t stride, int64_t n, float* dst) {
  return gather_row_impl(src, stride, n, dst);
}

// v[j] = plane_value(v[j], mean, wy * wx[j]) (weight 1 when wx is null);
// adds sum v^2 to *sum_squares and raises *max_abs to max |v|.
PTP_ALIGN_CLONES
void center_row(float* __restrict v, int64_t n, double mean, double wy, const double* __restrict wx,
                double* sum_squares, float* max_abs) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  float top[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int64_t j = 0;
  if (wx == nullptr) {
    for (; j + 4 <= n; j += 4)
      for (int l = 0; l < 4; ++l) {
        const float x = math::plane_value(v[j + l], mean, 1.0);
        v[j + l] = x;
        acc[l] += static_cast<double>(x) * x;
        top[l] = std::max(top[l], std::fabs(x));
      }
  } else {
    for (; j + 4 <= n; j += 4)
      for (int l = 0; l < 4; ++l) {
        const float x = math::plane_value(v[j + l], mean, wy * wx[j + l]);
        v[j + l] = x;
        acc[l] += static_cast<double>(x) * x;
        top[l] = std::max(top[l], std::fabs(x));
      }
  }
  for (; j < n; ++j) {
    const float x = math::plane_value(v[j], mean, wx == nullptr ? 1.0 : wy * wx[j]);
    v[j] = x;
    acc[0] += static_cast<double>(x) * x;
    top[0] = std::max(top[0], std::fabs(x));
  }
  *sum_squares += (acc[0] + acc[1]) + (acc[2] + acc[3]);
  *max_abs = std::max({*max_abs, top[0], top[1], top[2], top[3]});
}

// mov[k] = normalized_cross_power(ref[k], mov[k]) over `bins` interleaved
// complex bins (one loop per normalisation, so each vectorises).
PTP_ALIGN_CLONES
void cross_power_pass(const float* __restrict ref, float* __restrict mov, int64_t bins,
                      int normalization) {
  switch (normalization) {
    case math::kNormalizationPhase:
      for (int64_t k = 0; k < bins; ++k)
        math::normalized_cross_power(ref[2 * k], ref[2 * k + 1], mov[2 * k], mov[2 * k + 1],
                                     math::kNormalizationPhase, &mov[2 * k], &mov[2 * k + 1]);
      break;
    case math::kNormalizationPartial:
      for (int64_t k = 0; k < bins; ++k)
        math::normalized_cross_power(ref[2 * k], ref[2 * k + 1], mov[2 * k], mov[2 * k + 1],
                                     math::kNormalizationPartial, &mov[2 * k], &mov[2 * k + 1]);
      break;
    default:
      for (int64_t k = 0; k < bins; ++k)
        math::normalized_cross_power(ref[2 * k], ref[2 * k + 1], mov[2 * k], mov[2 * k + 1],
                                     math::kNormalizationNone, &mov[2 * k], &mov[2 * k + 1]);
  }
}

// The energy of math::significance_confidence for one half spectrum x of
// ny x nxh bins: sum over the full spectrum of |x|^2, in double.
PTP_ALIGN_CLONES
double spectrum_energy(const fftwf_complex* x, int64_t ny, int64_t nxh, int64_t nx) {
  double total = 0.0;
  for (int64_t ky = 0; ky < ny; ++ky) {
    const fftwf_complex* row = x + ky * nxh;
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t kx = 0;
    for (; kx + 4 <= nxh; kx += 4)
      for (int l = 0; l < 4; ++l) {
        const double re = row[kx + l][0];
        const double im = row[kx + l][1];
        acc[l] += math::half_spectrum_weight(kx + l, nx) * (re * re + im * im);
      }
    for (; kx < nxh; ++kx) {
      const double re = row[kx][0];
      const double im = row[kx][1];
      acc[0] += math::half_spectrum_weight(kx, nx) * (re * re + im * im);
    }
    total += (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  return total;
}

// acc[k] += x[k] over n floats.
PTP_ALIGN_CLONES
void add_to(float* __restrict acc, const float* __restrict x, int64_t n) {
  for (int64_t k = 0; k < n; ++k) acc[k] += x[k];
}

// Elements per chunk of the element-wise passes that a FftTeam shares.
constexpr int64_t kBinChunk = int64_t{1} << 16;

// add_to in chunks shared by `threads` (the same sums).
void add_to(float* acc, const float* x, int64_t n, int threads) {
  const int64_t chunks = (n + kBinChunk - 1) / kBinChunk;
  parallel_for(threads, 0, chunks, 1, [&](int64_t c, int) {
    add_to(acc + c * kBinChunk, x + c * kBinChunk, std::min(kBinChunk, n - c * kBinChunk));
  });
}

// max |v[k]| over n values.
PTP_ALIGN_CLONES
float max_abs(const float* __restrict v, int64_t n) {
  float top[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) top[l] = std::max(top[l], std::fabs(v[k + l]));
  for (; k < n; ++k) top[0] = std::max(top[0], std::fabs(v[k]));
  float m = top[0];
  for (int64_t l = 1; l < kLanes; ++l) m = std::max(m, top[l]);
  return m;
}

// Eight float lanes (GCC/Clang vector extension): one AVX register, two SSE ones.
typedef float Lanes8 __attribute__((vector_size(32)));

// (Vectors go by reference: passing 32-byte vectors by value depends on AVX.)
inline void load8(Lanes8& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}

inline double sum8(const Lanes8& v) {
  double s = 0.0;
  for (int l = 0; l < 8; ++l) s += v[l];
  return s;
}

// The first k with |v[k]| == target (n if none): blocks of 64 are tested
// with a branch-free reduction, the matching block element by element.
PTP_ALIGN_CLONES
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
PTP_ALIGN_CLONES
void complex_dots(const float* __restrict xr, const float* __restrict xi,
                  const float* __restrict er, const float* __restrict ei, int64_t rows,
                  int64_t stride, int64_t n, std::complex<float>* out, int64_t out_stride) {
  int64_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float* a0 = er + r * stride;
    const float* b0 = ei + r * stride;
    const float* a1 = a0 + stride;
    const float* b1 = b0 + stride;
    Lanes8 sr0 = {}, si0 = {}, sr1 = {}, si1 = {};
    for (int64_t k = 0; k < n; k += 8) {
      Lanes8 x, y, c0, s0, c1, s1;
      load8(x, xr + k);
      load8(y, xi + k);
      load8(c0, a0 + k);
      load8(s0, b0 + k);
      load8(c1, a1 + k);
      load8(s1, b1 + k);
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
    Lanes8 sr0 = {}, si0 = {};
    for (int64_t k = 0; k < n; k += 8) {
      Lanes8 x, y, c0, s0;
      load8(x, xr + k);
      load8(y, xi + k);
      load8(c0, a0 + k);
      load8(s0, b0 + k);
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
    if (g.hann_window) {
      window_y_.resize(static_cast<size_t>(d_.ny));
      window_x_.resize(static_cast<size_t>(d_.nx));
      for (int64_t i = 0; i < d_.ny; ++i) window_y_[i] = math::hann_weight(i, d_.ny);
      for (int64_t j = 0; j < d_.nx; ++j) window_x_[j] = math::hann_weight(j, d_.nx);
    }
    reserve_workspaces(1);
    plans_ =
        std::make_unique<RealFft2d>(d_, workspaces_[0]->real.get(), workspaces_[0]->spectrum.get(),
                                    workspaces_[0]->columns.get(), g.fft_planning);
    reference_.reserve(static_cast<size_t>(g.planes));
    for (int64_t p = 0; p < g.planes; ++p) reference_.emplace_back(d_.bins);
    reference_sum_squares_.assign(static_cast<size_t>(g.planes), 0.0);
  }

  void set_reference(const void* frame) override {
    const bool together = share_planes(g_.planes);
    const int threads = together ? 1 : static_cast<int>(std::min<int64_t>(threads_, g_.planes));
    reserve_workspaces(threads);
    const FftTeam team = together ? whole_team() : FftTeam{1, nullptr};
    const auto one = [&](int64_t p, Workspace& w) {
      const FftTeam t = together ? team : w.alone();
      reference_sum_squares_[p] = load_plane(frame, p, w.real.get(), t, w);
      plans_->forward(w.real.get(), reference_[p].get(), t);
    };
    // Nothing below throws: buffers are allocated, FFTW execute does not.
    for_each_item(g_.planes, together, one);
  }

  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    if (g_.joint) return align_joint(frames, num_frames, results, keep_going);
    const int64_t planes = g_.planes;
    const int64_t items = num_frames * planes;
    if (items == 0) return num_frames;
    // (threads_for_work runs small frames' planes one after another; 16 operations a sample.)
    const int threads = threads_for_work(static_cast<int>(std::min<int64_t>(threads_, items)),
                                         items * d_.count * 16);
    reserve_workspaces(threads);
    // Threads take (frame, plane) items frame-major; the calling thread (slot 0) also reports,
    // in frame order, each frame whose planes are done: callbacks never run on a worker.
    std::unique_ptr<std::atomic<int64_t>[]> remaining(new std::atomic<int64_t>[num_frames]);
    for (int64_t f = 0; f < num_frames; ++f) remaining[f].store(planes, std::memory_order_relaxed);
    std::atomic<bool> stop{false};
    FirstError errors;
    int64_t reported = 0;
    auto record_error = [&](std::exception_ptr e) {
      errors.record(std::move(e));
      stop.store(true);
    };
    auto report = [&] {
      while (reported < num_frames && !stop.load() &&
             remaining[reported].load(std::memory_order_acquire) == 0) {
        ++reported;
        try {
          if (!keep_going(reported)) stop.store(true);
        } catch (...) {
          record_error(std::current_exception());
        }
      }
    };

    parallel_for(threads, 0, items, 1, [&](int64_t item, int slot) {
      if (stop.load(std::memory_order_relaxed)) return;
      const int64_t f = item / planes;
      try {
        results[item] = align_plane(frames[f], item % planes, *workspaces_[slot]);
      } catch (...) {
        record_error(std::current_exception());
      }
      remaining[f].fetch_sub(1, std::memory_order_release);
      if (slot == 0) report();
    });
    report();
    errors.rethrow_if_any();
    return reported;
  }

 private:
  // PTP_COMBINE_JOINT, in windows of W frames: every (frame, plane) pair of the window
  // in parallel (plane values, forward transform, normalised cross power into its own
  // slot), then every frame in parallel (combine_frames). W = threads, so both steps
  // have work for every thread, capped so the W * planes slots stay within
  // kJointSlotBytes (at least one frame). With the Hann window, up to
  // math::kTrackingPasses passes (docs/semantics.md, "The joint peak").
  int64_t align_joint(const void* const* frames, int64_t num_frames, PlaneShift* results,
                      const std::function<bool(int64_t)>& keep_going) {
    const int64_t planes = g_.planes;
    if (num_frames == 0) return 0;
    const int64_t slot_bytes = d_.bins * static_cast<int64_t>(sizeof(fftwf_complex));
    int64_t window = threads_;
    window = std::min(window, std::max<int64_t>(1, kJointSlotBytes / (slot_bytes * planes)));
    window = std::min(window, num_frames);
    while (static_cast<int64_t>(slots_.size()) < window * planes) slots_.emplace_back(d_.bins);
    std::vector<char> used(static_cast<size_t>(window * planes));
    const int item_threads = static_cast<int>(std::min<int64_t>(threads_, window * planes));
    reserve_workspaces(item_threads);
    const int passes = g_.hann_window ? math::kTrackingPasses : 1;
    // Per frame of the window: still iterating, and the shift its window is moved by.
    std::vector<char> active(static_cast<size_t>(window));
    std::vector<int64_t> moved_by(static_cast<size_t>(2 * window));
    // Frame k's moved window: rows at moved[k * (ny + nx)], then columns.
    const int64_t stride = d_.ny + d_.nx;
    std::vector<double> moved(g_.hann_window ? static_cast<size_t>(window * stride) : 0);
    FirstError errors;
    for (int64_t f0 = 0; f0 < num_frames; f0 += window) {
      const int64_t n = std::min(window, num_frames - f0);
      const int64_t items = n * planes;
      std::fill(active.begin(), active.end(), 1);
      std::fill(moved_by.begin(), moved_by.end(), 0);
      for (int pass = 1; pass <= passes; ++pass) {
        if (pass > 1) {
          for (int64_t k = 0; k < n; ++k) {
            if (!active[k]) continue;
            move_window(window_y_, moved_by[2 * k], moved.data() + k * stride);
            move_window(window_x_, moved_by[2 * k + 1], moved.data() + k * stride + d_.ny);
          }
        }
        // Few items of large planes: one at a time, each on every thread (FftTeam).
        const bool together = share_planes(items);
        const FftTeam team = together ? whole_team() : FftTeam{1, nullptr};
        const auto one = [&](int64_t item, Workspace& w) {
          try {
            const int64_t k = item / planes;
            if (!active[k] || (pass > 1 && !used[item])) return;
            const FftTeam t = together ? team : w.alone();
            const int64_t p = item % planes;
            if (pass == 1) {
              const double sum_squares = load_plane(frames[f0 + k], p, w.real.get(), t, w);
              used[item] = sum_squares > 0.0 && reference_sum_squares_[p] > 0.0;
              if (!used[item]) return;
            } else {
              const double* rows = moved.data() + k * stride;
              load_plane(frames[f0 + k], p, w.real.get(), rows, rows + d_.ny, t, w);
            }
            fftwf_complex* x = slots_[item].get();
            plans_->forward(w.real.get(), x, t);
            cross_power_spectrum(p, x, t);
          } catch (...) {
            errors.record(std::current_exception());
          }
        };
        for_each_item(items, together, one);
        errors.rethrow_if_any();
        if (!combine_frames(f0, n, used, results, pass == passes, active, moved_by, errors)) break;
      }
      // Progress per frame, from the calling thread, outside the parallel regions.
      for (int64_t k = 0; k < n; ++k)
        if (!keep_going(f0 + k + 1)) return f0 + k + 1;
    }
    return num_frames;
  }

  // align_joint's per-frame step for the active frames f0 .. f0 + n: the informative
  // planes' slots summed in plane order into the first (independent of the thread
  // count), the sum's energy, one inverse transform, the integer peak. A frame is
  // final in the `last` pass, without the window, or when its peak equals moved_by
  // (its window's shift): its result is then the refined peak and it turns inactive;
  // otherwise moved_by becomes its peak. Returns whether any frame is still active.
  bool combine_frames(int64_t f0, int64_t n, const std::vector<char>& used, PlaneShift* results,
                      bool last, std::vector<char>& active, std::vector<int64_t>& moved_by,
                      FirstError& errors) {
    const int64_t planes = g_.planes;
    const bool together = share_planes(n);
    const FftTeam team = together ? whole_team() : FftTeam{1, nullptr};
    const auto one = [&](int64_t k, Workspace& w) {
      if (!active[k]) return;
      try {
        const FftTeam t = together ? team : w.alone();
        fftwf_complex* sum = nullptr;
        int32_t count = 0;
        for (int64_t p = 0; p < planes; ++p) {
          const int64_t item = k * planes + p;
          if (!used[item]) continue;
          ++count;
          if (sum == nullptr)
            sum = slots_[item].get();
          else
            add_to(reinterpret_cast<float*>(sum),
                   reinterpret_cast<const float*>(slots_[item].get()), 2 * d_.bins, t.threads);
        }
        PlaneShift& out = results[f0 + k];
        if (count == 0) {
          out = {0.0, 0.0, 0.0, 0};
          active[k] = 0;
          return;
        }
        const double energy = energy_of(sum, t, w);
        bool final = false;
        out = peak_of(sum, w, t, [&](int64_t peak_y, int64_t peak_x) {
          final = last || !g_.hann_window ||
                  (peak_y == moved_by[2 * k] && peak_x == moved_by[2 * k + 1]);
          if (!final) {
            moved_by[2 * k] = peak_y;
            moved_by[2 * k + 1] = peak_x;
          }
          return final;
        });
        out.confidence = math::significance_confidence(out.confidence, energy, d_.count);
        out.planes_used = count;
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

  // Step 1 of math/phase_math.hpp: plane p of `frame` into `out` (ny x nx), mean
  // removed, windowed, rescaled if huge or tiny (math::plane_scale_exponent); returns
  // sum out^2 in double. window_y / window_x: the window's rows and columns (default
  // the plan's Hann window; the tracking pass gives it circularly shifted).
  double load_plane(const void* frame, int64_t p, float* out, const FftTeam& team,
                    Workspace& w) const {
    return load_plane(frame, p, out, window_y_.data(), window_x_.data(), team, w);
  }
  double load_plane(const void* frame, int64_t p, float* out, const double* window_y,
                    const double* window_x, const FftTeam& team, Workspace& w) const {
    double* row_values = w.row_values.data();
    float* row_tops = w.row_tops.data();
    parallel_for(team.threads, 0, d_.ny, 1, [&](int64_t i, int) {
      const int64_t first = math::plane_element_index(p, i, 0, g_.period, g_.height, g_.width);
      float* row = out + i * d_.nx;
      row_values[i] =
          g_.frame_dtype == PTP_DTYPE_UINT16
              ? gather_row(static_cast<const uint16_t*>(frame) + first, g_.period, d_.nx, row)
              : gather_row(static_cast<const float*>(frame) + first, g_.period, d_.nx, row);
    });
    double sum = 0.0;
    for (int64_t i = 0; i < d_.ny; ++i) sum += row_values[i];
    const double mean = sum / static_cast<double>(d_.count);
    parallel_for(team.threads, 0, d_.ny, 1, [&](int64_t i, int) {
      double squares = 0.0;
      float top = 0.0f;
      center_row(out + i * d_.nx, d_.nx, mean, g_.hann_window ? window_y[i] : 1.0,
                 g_.hann_window ? window_x : nullptr, &squares, &top);
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

  // Whether a step over `items` (frame, plane) items runs them one at a time, each on
  // every thread: fewer items than threads, of planes transformed in two passes.
  bool share_planes(int64_t items) const {
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

  // One (reference plane, moving plane) pair: steps 1-7 of math/phase_math.hpp, in plane pixels.
  PlaneShift align_plane(const void* frame, int64_t p, Workspace& w) const {
    const double sum_squares = load_plane(frame, p, w.real.get(), w.alone(), w);
    const double reference_sum_squares = reference_sum_squares_[p];
    if (!(sum_squares > 0.0) || !(reference_sum_squares > 0.0)) return {0.0, 0.0, 0.0, 0};

    plans_->forward(w.real.get(), w.spectrum.get(), w.alone());
    cross_power_spectrum(p, w.spectrum.get(), w.alone());
    const double energy = g_.normalization == PTP_NORMALIZATION_PARTIAL
                              ? energy_of(w.spectrum.get(), w.alone(), w)
                              : 0.0;
    PlaneShift result = peak_of(w.spectrum.get(), w, w.alone());
    result.confidence =
        g_.normalization == PTP_NORMALIZATION_PARTIAL
            ? math::significance_confidence(result.confidence, energy, d_.count)
        : g_.normalization == PTP_NORMALIZATION_PHASE
            ? math::phase_confidence(result.confidence,
                                     math::phase_confidence_bins(d_.count, g_.hann_window))
            : math::xcorr_confidence(result.confidence, d_.count, reference_sum_squares,
                                     sum_squares);
    result.planes_used = 1;
    return result;
  }

  // Step 3's normalisation and DC rule: spectrum = X of plane p (chunks shared by the team).
  void cross_power_spectrum(int64_t p, fftwf_complex* spectrum, const FftTeam& team) const {
    const float* reference = reinterpret_cast<const float*>(reference_[p].get());
    float* x = reinterpret_cast<float*>(spectrum);
    const int64_t chunks = (d_.bins + kBinChunk - 1) / kBinChunk;
    parallel_for(team.threads, 0, chunks, 1, [&](int64_t c, int) {
      const int64_t first = c * kBinChunk;
      cross_power_pass(reference + 2 * first, x + 2 * first, std::min(kBinChunk, d_.bins - first),
                       g_.normalization);
    });
    if (math::zero_dc_bin(g_.hann_window)) spectrum[0][0] = spectrum[0][1] = 0.0f;
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
  PlaneShift peak_of(fftwf_complex* x, Workspace& w, const FftTeam& team) const {
    return peak_of(x, w, team, [](int64_t, int64_t) { return true; });
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
  std::vector<AlignedArray<fftwf_complex>> reference_;
  std::vector<double> reference_sum_squares_;
  // The joint path's per-(frame, plane) cross-power spectra, grown on demand.
  std::vector<AlignedArray<fftwf_complex>> slots_;
  // whole_team()'s column buffers for threads 1 .. threads_ - 1, and its pointers.
  std::vector<AlignedArray<fftwf_complex>> team_columns_;
  std::vector<fftwf_complex*> team_column_pointers_;
};

}  // namespace
}  // namespace cpu

std::unique_ptr<AlignBackend> make_cpu_align_backend(const AlignGeometry& geometry,
                                                     int32_t num_threads) {
  // The CPU backend aligns images the luma backend made: a luma geometry
  // here would run the joint peak over the raw planes.
  if (geometry.luma)
    fail(PTP_ERROR_INTERNAL,
         "the CPU alignment backend made for a luminance geometry instead of its images'");
  return std::make_unique<cpu::CpuAlignBackend>(geometry, num_threads);
}

void AlignBackend::set_luma_planes(const std::vector<char>& /*planes*/) {
  fail(PTP_ERROR_INTERNAL, "luminance planes for an alignment backend that does not make images");
}

}  // namespace ptychopatch::impl
