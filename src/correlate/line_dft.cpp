// Lines transformed by FFTW or by Bluestein's algorithm on FFTW; design
// notes in line_dft.hpp.
#include "correlate/line_dft.hpp"

#include "fft/fftw_precision.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "cpu/aligned_array.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES

namespace ptychopatch::impl::cpu {
namespace {

int64_t largest_prime_factor(int64_t n) {
  int64_t largest = 1;
  for (int64_t factor = 2; factor * factor <= n; ++factor)
    while (n % factor == 0) {
      largest = factor;
      n /= factor;
    }
  return n > 1 ? n : largest;
}

// Lines start at multiples of 8 complex values (64 bytes), as the block.
int64_t padded_pitch(int64_t length) {
  return (length + 7) / 8 * 8;
}

// x[j] *= y[j], j < count, complex values as interleaved pairs (spelled
// out: std::complex's product checks for NaN and does not vectorise). One
// function per precision: target_clones does not take templates.
template <class Real>
inline void multiply_impl(Real* __restrict x, const Real* __restrict y, int64_t count) {
  for (int64_t j = 0; j < count; ++j) {
    const Real re = x[2 * j] * y[2 * j] - x[2 * j + 1] * y[2 * j + 1];
    const Real im = x[2 * j] * y[2 * j + 1] + x[2 * j + 1] * y[2 * j];
    x[2 * j] = re;
    x[2 * j + 1] = im;
  }
}

PTP_ROW_KERNEL_CLONES
void multiply(float* __restrict x, const float* __restrict y, int64_t count) {
  multiply_impl(x, y, count);
}

PTP_ROW_KERNEL_CLONES
void multiply(double* __restrict x, const double* __restrict y, int64_t count) {
  multiply_impl(x, y, count);
}

// `count` transforms from `in` to `out` (out of place: in place, FFTW's
// plans copied the lines through a buffer, 10 % of a call's time).
template <class Real>
typename Fftw<Real>::Plan plan_lines(int64_t length, int64_t count, int64_t pitch, int sign,
                                     Real* in, Real* out, unsigned flags) {
  using F = Fftw<Real>;
  const typename F::Dim dim = {length, 1, 1};
  const typename F::Dim lines = {count, pitch, pitch};
  auto* i = reinterpret_cast<typename F::Complex*>(in);
  auto* o = reinterpret_cast<typename F::Complex*>(out);
  typename F::Plan plan = F::plan_dft(1, &dim, 1, &lines, i, o, sign, flags);
  if (plan == nullptr && (flags & FFTW_WISDOM_ONLY) != 0)
    plan = F::plan_dft(1, &dim, 1, &lines, i, o, sign, FFTW_ESTIMATE);
  if (plan == nullptr)
    fail(PTP_ERROR_INTERNAL, "FFTW could not plan " + std::to_string(count) +
                                 " transforms of length " + std::to_string(length));
  return plan;
}

}  // namespace

bool uses_chirp(int64_t n) {
  // (n below 2^31: j^2 mod 2n of the chirp stays within 64 bits.)
  return n > kLargestDirectPrime && n < (int64_t{1} << 31) &&
         largest_prime_factor(n) > kLargestDirectPrime;
}

int64_t chirp_length(int64_t n) {
  const int64_t least = 2 * n - 1;
  int64_t best = 0;
  double best_cost = 0;
  for (const int64_t odd : {1, 3, 5, 9}) {
    int64_t m = odd;
    while (m < least) m *= 2;
    const double cost = static_cast<double>(m) * (odd == 1 ? 1.0 : 1.25);
    if (best == 0 || cost < best_cost) {
      best = m;
      best_cost = cost;
    }
  }
  return best;
}

template <class Real>
LineDft<Real>::LineDft(int64_t n, int sign, unsigned flags)
    : n_(n),
      chirp_(uses_chirp(n)),
      m_(chirp_ ? chirp_length(n) : n),
      pitch_(padded_pitch(m_)),
      // Blocks (lines and as much scratch, 2 sizeof(Real) bytes a value)
      // of at most 256 KiB: in float32 8 lines up to a pitch of 2048, fewer
      // above; in float64 half as many.
      lines_(std::clamp<int64_t>(
          int64_t{256 * 1024} / (4 * static_cast<int64_t>(sizeof(Real)) * pitch_), 1, 8)) {
  const int64_t m = m_;
  AlignedArray<Real> planning(2 * block_size());
  std::memset(planning.get(), 0, sizeof(Real) * 2 * block_size());
  Real* lines = planning.get();
  Real* scratch = lines + 2 * lines_ * pitch_;
  if (!chirp_) {
    forward_ = plan_lines(n, lines_, pitch_, sign, lines, scratch, flags);
    return;
  }
  // w[j] = exp(sign i pi j^2 / n), from j^2 mod 2n (exact) in double.
  AlignedArray<Real> w(2 * n);
  const double pi = 3.14159265358979323846;
  for (int64_t j = 0; j < n; ++j) {
    const auto q = static_cast<uint64_t>(j) * static_cast<uint64_t>(j) % (2 * uint64_t(n));
    const double angle = sign * pi * static_cast<double>(q) / static_cast<double>(n);
    w.get()[2 * j] = static_cast<Real>(std::cos(angle));
    w.get()[2 * j + 1] = static_cast<Real>(std::sin(angle));
  }
  // The filter conj w[|d|] for d in (-n, n), wrapped onto m, transformed
  // (one line of a block), with the inverse's 1 / m.
  AlignedArray<Real> filter(2 * pitch_);
  Real* h = lines;
  for (int64_t j = 0; j < n; ++j) {
    h[2 * j] = w.get()[2 * j];
    h[2 * j + 1] = -w.get()[2 * j + 1];
    if (j > 0) {
      h[2 * (m - j)] = h[2 * j];
      h[2 * (m - j) + 1] = h[2 * j + 1];
    }
  }
  {
    const auto once = plan_lines(m, lines_, pitch_, FFTW_FORWARD, lines, scratch, FFTW_ESTIMATE);
    Fftw<Real>::execute(once);
    Fftw<Real>::destroy(once);
  }
  const Real scale = static_cast<Real>(1.0 / static_cast<double>(m));
  for (int64_t k = 0; k < 2 * m; ++k) filter.get()[k] = scratch[k] * scale;
  std::memset(filter.get() + 2 * m, 0, sizeof(Real) * 2 * (pitch_ - m));
  // (FFTW_MEASURE overwrites the planning block: the filter is taken first.)
  forward_ = plan_lines(m, lines_, pitch_, FFTW_FORWARD, lines, scratch, flags);
  try {
    inverse_ = plan_lines(m, lines_, pitch_, FFTW_BACKWARD, scratch, lines, flags);
  } catch (...) {
    Fftw<Real>::destroy(static_cast<typename Fftw<Real>::Plan>(forward_));
    throw;
  }
  w_ = std::move(w);
  filter_ = std::move(filter);
}

template <class Real>
LineDft<Real>::~LineDft() {
  using Plan = typename Fftw<Real>::Plan;
  if (forward_ != nullptr) Fftw<Real>::destroy(static_cast<Plan>(forward_));
  if (inverse_ != nullptr) Fftw<Real>::destroy(static_cast<Plan>(inverse_));
}

template <class Real>
const Real* LineDft<Real>::execute(Real* block) const {
  using F = Fftw<Real>;
  using Plan = typename F::Plan;
  Real* scratch = block + 2 * lines_ * pitch_;
  auto complex = [](Real* x) { return reinterpret_cast<typename F::Complex*>(x); };
  if (!chirp_) {
    F::execute_dft(static_cast<Plan>(forward_), complex(block), complex(scratch));
    return scratch;
  }
  for (int64_t t = 0; t < lines_; ++t) {
    Real* line = block + 2 * t * pitch_;
    multiply(line, w_.get(), n_);
    std::memset(line + 2 * n_, 0, sizeof(Real) * 2 * (m_ - n_));
  }
  F::execute_dft(static_cast<Plan>(forward_), complex(block), complex(scratch));
  for (int64_t t = 0; t < lines_; ++t) multiply(scratch + 2 * t * pitch_, filter_.get(), m_);
  F::execute_dft(static_cast<Plan>(inverse_), complex(scratch), complex(block));
  for (int64_t t = 0; t < lines_; ++t) multiply(block + 2 * t * pitch_, w_.get(), n_);
  return block;
}

template class LineDft<float>;
template class LineDft<double>;

}  // namespace ptychopatch::impl::cpu
