// The r2c and c2r transforms of one real 2-D shape (FFTW, single precision), for every
// 2-D correlation of the library: alignment's CPU backend, RawNIND's method and the
// search over every shift. Thread-safe execution through FFTW's new-array interface on
// any buffers with the alignment of those planned with (cpu::AlignedArray's 64 bytes).
#pragma once

#include <fftw3.h>

#include <cstdint>

#include "ptychopatch.h"

namespace ptychopatch::impl::cpu {

// One real plane and its half spectrum.
struct FftShape {
  int64_t ny;     // rows
  int64_t nx;     // columns
  int64_t nxh;    // nx / 2 + 1: columns of the half spectrum
  int64_t count;  // ny * nx
  int64_t bins;   // ny * nxh

  static FftShape of(int64_t rows, int64_t cols) {
    return {rows, cols, cols / 2 + 1, rows * cols, rows * (cols / 2 + 1)};
  }
};

// The threads one transform may use, and each one's column buffer (columns[t] for slot
// t, RealFft2d::column_buffer_bins() each). Threads > 1 only outside another parallel loop.
struct FftTeam {
  int threads;
  fftwf_complex* const* columns;
};

// FFTW's 2-D plans up to kTwoPassSpectrumBytes of half spectrum; beyond (where `split`),
// blocks of kRowBlock rows' real transforms, then blocks of kColumnBlock columns' complex
// ones in a per-thread buffer: FFTW's 2-D plans walk columns in place, a cache and TLB miss
// per bin. Blocks come out alike whoever runs them: results do not depend on the team.
class RealFft2d {
 public:
  // Half spectra above this (bytes) go in two passes: from 16 MP Bayer frames on, faster
  // (docs/performance.md, "Large frames").
  static constexpr int64_t kTwoPassSpectrumBytes = int64_t{8} << 20;
  static constexpr int64_t kColumnBlock = 8;  // 8 bins: 64 bytes of a spectrum row
  static constexpr int64_t kRowBlock = 16;    // keeps each block 64-byte aligned

  // Planned on `real`, `spectrum` and `columns` (column_buffer_bins()) with `planning`'s
  // effort (WISDOM: measured where wisdom exists, else estimated); `split`: two passes
  // allowed; `destroy_input`: the forward transform may overwrite its input. Throws
  // PTP_ERROR_OUT_OF_MEMORY where FFTW's planner could not allocate, _INTERNAL where it fails.
  RealFft2d(const FftShape& shape, float* real, fftwf_complex* spectrum, fftwf_complex* columns,
            ptp_fft_planning planning, bool split = true, bool destroy_input = true);
  RealFft2d(const RealFft2d&) = delete;
  RealFft2d& operator=(const RealFft2d&) = delete;
  ~RealFft2d();

  static bool two_pass(const FftShape& s) {
    return s.bins * static_cast<int64_t>(sizeof(fftwf_complex)) > kTwoPassSpectrumBytes;
  }
  // Bins of each thread's column buffer (none for one pass).
  int64_t column_buffer_bins() const { return two_pass_ ? shape_.ny * kColumnBlock : 0; }
  static int64_t column_buffer_bins(const FftShape& s, bool split = true) {
    return split && two_pass(s) ? s.ny * kColumnBlock : 0;
  }

  void forward(float* real, fftwf_complex* spectrum, fftwf_complex* columns = nullptr) const {
    forward(real, spectrum, FftTeam{1, &columns});
  }
  void forward(float* real, fftwf_complex* spectrum, const FftTeam& team) const;
  // Unnormalised inverse: real = N * IFFT(spectrum). `spectrum` is destroyed.
  void inverse(fftwf_complex* spectrum, float* real, fftwf_complex* columns = nullptr) const {
    inverse(spectrum, real, FftTeam{1, &columns});
  }
  void inverse(fftwf_complex* spectrum, float* real, const FftTeam& team) const;

 private:
  void transform_rows(float* real, fftwf_complex* spectrum, const FftTeam& team,
                      bool forward) const;
  void transform_columns(fftwf_plan plan, fftwf_complex* spectrum, const FftTeam& team) const;
  bool planned() const;
  void destroy();

  FftShape shape_;
  bool two_pass_;
  int64_t block_rows_;  // two passes: rows per block of the row pass
  int64_t row_blocks_;
  int64_t tail_rows_;  // rows of the last block
  fftwf_plan r2c_ = nullptr;
  fftwf_plan c2r_ = nullptr;
  fftwf_plan r2c_tail_ = nullptr;
  fftwf_plan c2r_tail_ = nullptr;
  fftwf_plan columns_forward_ = nullptr;
  fftwf_plan columns_inverse_ = nullptr;
};

}  // namespace ptychopatch::impl::cpu
