#include "fft/real_fft_2d.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "core/headroom.hpp"
#include "core/thread_pool.hpp"
#include "fft/fftw_planner.hpp"

namespace ptychopatch::impl::cpu {

RealFft2d::RealFft2d(const FftShape& s, float* real, fftwf_complex* spectrum,
                     fftwf_complex* columns, ptp_fft_planning planning, bool split,
                     bool destroy_input)
    : shape_(s),
      two_pass_(split && two_pass(s)),
      block_rows_(std::min(kRowBlock, s.ny)),
      row_blocks_((s.ny + block_rows_ - 1) / block_rows_),
      tail_rows_(s.ny - (row_blocks_ - 1) * block_rows_) {
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  // FFTW's planner aborts on a failed allocation; its needs stay well within four spectra.
  require_headroom(
      static_cast<size_t>(4 * s.bins) * sizeof(fftwf_complex) + (size_t{16} << 20),
      "FFTW to plan a " + std::to_string(s.ny) + " x " + std::to_string(s.nx) + " transform");
  // MEASURE: up to kFftwPlanSeconds once per size and process (then wisdom).
  fftwf_set_timelimit(kFftwPlanSeconds);
  // Rows: blocks of block_rows_ transforms of nx reals (nx floats, nxh bins apart).
  const fftwf_iodim64 row[1] = {{s.nx, 1, 1}};
  const fftwf_iodim64 rows_r2c[1] = {{block_rows_, s.nx, s.nxh}};
  const fftwf_iodim64 rows_c2r[1] = {{block_rows_, s.nxh, s.nx}};
  const fftwf_iodim64 tail_r2c[1] = {{tail_rows_, s.nx, s.nxh}};
  const fftwf_iodim64 tail_c2r[1] = {{tail_rows_, s.nxh, s.nx}};
  // Columns, in place in the buffer: kColumnBlock interleaved transforms of ny bins.
  const fftwf_iodim64 column[1] = {{s.ny, kColumnBlock, kColumnBlock}};
  const fftwf_iodim64 block[1] = {{kColumnBlock, 1, 1}};
  // One pass: the plane as a whole.
  const fftwf_iodim64 forward[2] = {{s.ny, s.nx, s.nxh}, {s.nx, 1, 1}};
  const fftwf_iodim64 inverse[2] = {{s.ny, s.nxh, s.nx}, {s.nx, 1, 1}};
  const auto plan = [&](unsigned effort) {
    const unsigned flags = effort | FFTW_DESTROY_INPUT;
    const unsigned forward_flags = destroy_input ? flags : effort;
    if (!two_pass_) {
      r2c_ = fftwf_plan_guru64_dft_r2c(2, forward, 0, nullptr, real, spectrum, forward_flags);
      c2r_ = fftwf_plan_guru64_dft_c2r(2, inverse, 0, nullptr, spectrum, real, flags);
      return;
    }
    r2c_ = fftwf_plan_guru64_dft_r2c(1, row, 1, rows_r2c, real, spectrum, forward_flags);
    c2r_ = fftwf_plan_guru64_dft_c2r(1, row, 1, rows_c2r, spectrum, real, flags);
    if (tail_rows_ != block_rows_) {
      r2c_tail_ = fftwf_plan_guru64_dft_r2c(1, row, 1, tail_r2c, real, spectrum, forward_flags);
      c2r_tail_ = fftwf_plan_guru64_dft_c2r(1, row, 1, tail_c2r, spectrum, real, flags);
    }
    columns_forward_ =
        fftwf_plan_guru64_dft(1, column, 1, block, columns, columns, FFTW_FORWARD, effort);
    columns_inverse_ =
        fftwf_plan_guru64_dft(1, column, 1, block, columns, columns, FFTW_BACKWARD, effort);
  };
  if (planning == PTP_FFT_PLANNING_WISDOM) {
    plan(FFTW_MEASURE | FFTW_WISDOM_ONLY);
    if (!planned()) {
      destroy();
      plan(FFTW_ESTIMATE);
    }
  } else {
    plan(planning == PTP_FFT_PLANNING_ESTIMATE ? FFTW_ESTIMATE : FFTW_MEASURE);
  }
  fftwf_set_timelimit(FFTW_NO_TIMELIMIT);
  if (!planned()) {
    destroy();
    fail(PTP_ERROR_INTERNAL, "FFTW could not plan a " + std::to_string(s.ny) + " x " +
                                 std::to_string(s.nx) + " real transform");
  }
}

RealFft2d::~RealFft2d() {
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  destroy();
}

void RealFft2d::forward(float* real, fftwf_complex* spectrum, const FftTeam& team) const {
  if (!two_pass_) {
    fftwf_execute_dft_r2c(r2c_, real, spectrum);
    return;
  }
  transform_rows(real, spectrum, team, true);
  transform_columns(columns_forward_, spectrum, team);
}

void RealFft2d::inverse(fftwf_complex* spectrum, float* real, const FftTeam& team) const {
  if (!two_pass_) {
    fftwf_execute_dft_c2r(c2r_, spectrum, real);
    return;
  }
  transform_columns(columns_inverse_, spectrum, team);
  transform_rows(real, spectrum, team, false);
}

void RealFft2d::transform_rows(float* real, fftwf_complex* spectrum, const FftTeam& team,
                               bool forward) const {
  parallel_for(team.threads, 0, row_blocks_, 1, [&](int64_t b, int) {
    const bool tail = b == row_blocks_ - 1 && tail_rows_ != block_rows_;
    float* r = real + b * block_rows_ * shape_.nx;
    fftwf_complex* x = spectrum + b * block_rows_ * shape_.nxh;
    if (forward)
      fftwf_execute_dft_r2c(tail ? r2c_tail_ : r2c_, r, x);
    else
      fftwf_execute_dft_c2r(tail ? c2r_tail_ : c2r_, x, r);
  });
}

// The last block's columns beyond nxh are zeros, transformed and dropped.
void RealFft2d::transform_columns(fftwf_plan plan, fftwf_complex* spectrum,
                                  const FftTeam& team) const {
  constexpr size_t kBin = sizeof(fftwf_complex);
  const int64_t blocks = (shape_.nxh + kColumnBlock - 1) / kColumnBlock;
  parallel_for(team.threads, 0, blocks, 1, [&](int64_t k, int t) {
    fftwf_complex* columns = team.columns[t];
    const int64_t j0 = k * kColumnBlock;
    const int64_t width = std::min(kColumnBlock, shape_.nxh - j0);
    if (width < kColumnBlock)
      std::memset(columns, 0, static_cast<size_t>(column_buffer_bins()) * kBin);
    for (int64_t i = 0; i < shape_.ny; ++i)
      std::memcpy(columns[i * kColumnBlock], spectrum[i * shape_.nxh + j0],
                  static_cast<size_t>(width) * kBin);
    fftwf_execute_dft(plan, columns, columns);
    for (int64_t i = 0; i < shape_.ny; ++i)
      std::memcpy(spectrum[i * shape_.nxh + j0], columns[i * kColumnBlock],
                  static_cast<size_t>(width) * kBin);
  });
}

bool RealFft2d::planned() const {
  const bool tails = tail_rows_ == block_rows_ || (r2c_tail_ != nullptr && c2r_tail_ != nullptr);
  return r2c_ != nullptr && c2r_ != nullptr &&
         (!two_pass_ || (columns_forward_ != nullptr && columns_inverse_ != nullptr && tails));
}

void RealFft2d::destroy() {
  for (fftwf_plan* p :
       {&r2c_, &c2r_, &r2c_tail_, &c2r_tail_, &columns_forward_, &columns_inverse_}) {
    if (*p != nullptr) fftwf_destroy_plan(*p);
    *p = nullptr;
  }
}

}  // namespace ptychopatch::impl::cpu
