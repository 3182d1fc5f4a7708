// The transforms of ptp_correlate_* (correlate_plan.hpp) for image shapes
// with a side that FFTW transforms slowly (a large prime factor, as 997 x
// 1009): there FFTW's two-dimensional real plans took 51 ms for the three
// transforms at 997 x 1009 (one thread), and these 13 ms for the whole
// call (benchmarks/bench_correlate_cpu.cpp; docs/performance.md, "Prime
// sides").
//
// Design:
//  * Every transform is a pass of LineDft over rows or columns, a tile of
//    LineDft::lines() lines at a time, gathered into a block small enough
//    for the caches; sides with a large prime factor go by Bluestein's
//    algorithm (line_dft.hpp), the others by FFTW directly.
//  * Forward: the two real images are packed into one complex image,
//    z = reference + i s moving, whose rows are transformed once; each
//    row's half spectra are taken apart as R = (Z(k) + conj Z(-k)) / 2 and
//    M = (Z(k) - conj Z(-k)) / (2 i s) before the columns are transformed.
//    s is the power of two (exact) that brings the moving image's energy
//    to the reference's, so that neither spectrum drowns in the other's
//    rounding. Images whose energies are near the ends of float32's range
//    are transformed apart, and a constant (or zero) image is not
//    transformed at all: its transform is N x at the DC bin and exactly
//    zero elsewhere, as FFTW's is (Bluestein's algorithm, or packing, would
//    put rounding there, which phase normalisation makes a random
//    correlation of).
//  * Inverse: the columns of the half spectrum, then two rows at a time:
//    rows whose spectra are Hermitian (real signals), summed as X0 + i X1,
//    come back in the real and imaginary parts of one complex inverse. As
//    FFTW's c2r, the imaginary parts of the DC and Nyquist bins are ignored.
//  * Values equal separate real transforms' to rounding, not bitwise.
#pragma once

#include <cstdint>

#include "correlate/line_dft.hpp"

namespace ptychopatch::impl::cpu {

// Whether a height x width pair is correlated here: a side is
// transformed by Bluestein's algorithm (uses_chirp).
bool transforms_by_lines(int64_t height, int64_t width);

// Real: float or double, the images' and spectra's precision.
template <class Real>
class LineCorrelation {
 public:
  // Plans (the caller holds fftw_planner_mutex(); flags as LineDft's).
  // The passes run on `threads` threads (OpenMP) where the image has at
  // least kThreadedFrom pixels, else on one.
  LineCorrelation(int64_t height, int64_t width, unsigned flags, int threads);
  static constexpr int64_t kThreadedFrom = int64_t{1} << 16;

  // The threads the passes run on, and the complex values of the block
  // each works in: forward() and inverse() take threads() blocks, one
  // after the other.
  int threads() const { return threads_; }
  int64_t block_size() const;

  // a, b: height x (width / 2 + 1) complex values each (interleaved
  // pairs): the half spectra of the reference and the moving image.
  // Every tile is computed alike on any thread: results do not depend on
  // the thread count.
  void forward(const Real* reference, const Real* moving, Real* a, Real* b, Real* blocks) const;

  // out: height x width, the unscaled real inverse of the half spectrum x,
  // which it destroys.
  void inverse(Real* x, Real* out, Real* blocks) const;

 private:
  // body(tile, block) for tiles 0 .. tiles - 1, on threads() threads.
  template <class Body>
  void each_tile(int64_t tiles, Real* blocks, const Body& body) const;

  // The columns of a height x half_ complex array, transformed in place.
  void transform_columns(const LineDft<Real>& dft, Real* x, Real* blocks) const;

  // Column `column` (0, or width / 2 of an even width) of a real image's
  // half spectrum made Hermitian in ky, X(-ky) = conj X(ky), as it is
  // exactly: the transform of a real column. FFTW's r2c returns its bins
  // at ky = 0 (and height / 2) exactly real; Bluestein's algorithm leaves
  // rounding in their imaginary parts, which phase normalisation turns
  // into a phase of up to 3e-5 radians (measured, 37 x 38 noise).
  void make_hermitian(Real* x, int64_t column) const;

  int64_t height_ = 0;
  int64_t width_ = 0;
  int64_t half_ = 0;  // width / 2 + 1
  int threads_ = 1;
  LineDft<Real> rows_forward_;
  LineDft<Real> rows_inverse_;
  LineDft<Real> columns_forward_;
  LineDft<Real> columns_inverse_;
};

extern template class LineCorrelation<float>;
extern template class LineCorrelation<double>;

}  // namespace ptychopatch::impl::cpu
