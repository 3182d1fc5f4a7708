// The DFT of a few lines (rows or columns of an image) at once, by FFTW, or
// by Bluestein's chirp-z algorithm on FFTW where the length has a large
// prime factor.
//
// Why: FFTW transforms a length with a large prime factor slowly (Rader's
// algorithm, or generic codelets): one thread, lines of complex float32,
// 12.8 us a line for 1009 and 4.5-9 us for lengths near 1000 with a prime
// factor from 31 to 127, against 1.3 us for 2048 (docs/performance.md,
// "Prime sides"). Bluestein's algorithm writes the DFT of length n as a
// convolution with a chirp, computed by two transforms of a fast length
// m >= 2n - 1 (chirp_length):
//   X[k] = w[k] sum_j (x[j] w[j]) conj(w[k - j]),  w[j] = exp(s i pi j^2 / n)
// (jk = (j^2 + k^2 - (k - j)^2) / 2), so a line costs two transforms of m
// and three products: about 3.5 us for n = 1009, m = 2048.
//
// A LineDft<Real> (float or double: FFTW's fftwf_ or fftw_ plans)
// transforms lines() lines (up to 8, fewer for long ones, so
// that a block stays within 256 KiB of cache) held in a block
// (block_size() complex values, 64-byte aligned as every FFTW
// buffer of the library):
// line t's values at block[t * pitch() + j], j < n. Callers gather lines
// into the block, execute(), and scatter the n results from where
// execute() says (the block, or its second half: FFTW's transforms run
// out of place); the rest of the block is scratch. Unused lines of a block
// are transformed too (callers zero them: a tile that holds fewer lines).
#pragma once

#include <cstdint>

#include "cpu/aligned_array.hpp"

namespace ptychopatch::impl::cpu {

// Whether a length of n is transformed by Bluestein's algorithm: its
// largest prime factor is above kLargestDirectPrime (measured near
// n = 1000, one thread, float32: FFTW's own transform took 3.7 us a line
// for 17 x 64, 4.5 for 31 x 32, 5.6 for 37 x 27, Bluestein's about 3.5).
// The same rule for both precisions.
constexpr int64_t kLargestDirectPrime = 31;
bool uses_chirp(int64_t n);

template <class Real>
class LineDft {
 public:
  // Plans the transforms of length n (>= 1) with `sign` FFTW_FORWARD (-1)
  // or FFTW_BACKWARD (+1), unnormalised as FFTW's, with planner `flags`
  // (FFTW_ESTIMATE, FFTW_MEASURE, FFTW_MEASURE | FFTW_WISDOM_ONLY). The
  // caller holds fftw_planner_mutex(). Where FFTW_WISDOM_ONLY finds no
  // wisdom, the plan is made with FFTW_ESTIMATE. Throws std::bad_alloc,
  // or Error (PTP_ERROR_INTERNAL) where FFTW cannot plan.
  LineDft(int64_t n, int sign, unsigned flags);
  ~LineDft();
  LineDft(const LineDft&) = delete;
  LineDft& operator=(const LineDft&) = delete;

  int64_t length() const { return n_; }
  // Lines per block.
  int64_t lines() const { return lines_; }
  // The distance between lines in a block (n, or the padded length m).
  int64_t pitch() const { return pitch_; }
  // Complex values of a block (the lines, and as much scratch).
  int64_t block_size() const { return 2 * lines_ * pitch_; }

  // Transforms the block's lines(); returns where the results are
  // (line t's at result[t * pitch() + k], k < n: the block, or its second
  // half). block: block_size() complex values (interleaved Real pairs),
  // 64-byte aligned.
  const Real* execute(Real* block) const;

 private:
  int64_t n_ = 0;
  bool chirp_ = false;
  int64_t m_ = 0;  // the transforms' length: n, or the chirp's padded m
  int64_t pitch_ = 0;
  int64_t lines_ = 0;
  AlignedArray<Real> w_;       // chirp: w[j], j < n (interleaved pairs)
  AlignedArray<Real> filter_;  // chirp: the transform of conj w, times 1 / m
  void* forward_ = nullptr;    // Fftw<Real>::Plan: the direct plan, or the chirp's forward m
  void* inverse_ = nullptr;    // Fftw<Real>::Plan: the chirp's inverse m
};

extern template class LineDft<float>;
extern template class LineDft<double>;

// The chirp's length for n: the cheapest m >= 2n - 1 of the forms 2^a and
// 3, 5 or 9 times 2^a, counting the latter 1.25 times their length. FFTW
// is fastest on even lengths of small factors (one thread, ns per value of
// a line: 0.63 for 2048, 0.83 for 2304 and 2560, 0.69 for 4096, 0.88 for
// 4608, 0.93 for 8192; 3.7 for the odd 2025 = 3^4 5^2).
int64_t chirp_length(int64_t n);

}  // namespace ptychopatch::impl::cpu
