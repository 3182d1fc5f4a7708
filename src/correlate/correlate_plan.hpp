// The cross-power spectrum and cross-correlation of one pair of real images
// (ptp_correlate_*, ptychopatch.h): scikit-image's phase_cross_correlation
// up to its peak search, with FFTW on the CPU.
//
// Design:
//  * A plan is for float32 or float64 images (desc->dtype), executed by
//    ptp_correlate_execute or ptp_correlate_execute_f64: the same code in
//    both precisions (FFTW's fftwf_ or fftw_ plans, fftw_precision.hpp).
//  * A plan holds one r2c and one c2r two-dimensional FFTW plan of the
//    image shape, planned under cpu::fftw_planner_mutex() with the desc's
//    planning effort (WISDOM by default: measured plans only where the
//    process already has wisdom, so a one-off call never pays seconds).
//    Where a side has a large prime factor (FFTW's real plans of 997 x 1009
//    took 51 ms for their three transforms, 3.9 times the whole call
//    instead), it holds a cpu::LineCorrelation: both images in one complex
//    transform, by lines, Bluestein's algorithm on the prime sides
//    (line_correlation.hpp), on the context's threads (images of 2^16
//    pixels or more; FFTW's plans stay on one thread).
//  * execute() works in the plan's workspace (two half spectra, and an
//    aligned image where a caller's array lacks the alignment FFTW planned
//    with), taken under a try-lock: a call that finds it busy (another
//    thread executing the same plan) allocates its own, so threads may
//    share a plan. Allocating per call instead cost 40 % more at 256 x 256
//    (the pages of freed blocks are returned and faulted in again).
//  * The cross-power loop is math::cross_power (shared with scene
//    alignment) and math::phase_normalized (scikit-image's normalisation);
//    every bin is checked (finite, at most a quarter of the precision's
//    largest value) before anything is
//    written, so a NaN or an overflowing transform leaves the outputs as
//    they were. In float64 the normalisation is X / max(|X|, 100 eps64),
//    with |X| scaled as in math::scale_complex (no square can overflow). Every buffer a call needs
//    is allocated before it writes.
//  * The correlation is the unscaled inverse of X times 1 / N, in that
//    order as scipy.fft's irfftn (1 / N first would make the bins of tiny
//    images subnormal and lose their precision); where the unscaled
//    inverse overflows, it is redone from X / N, which cannot
//    (every part of a bin is at most FLT_MAX / 4, else NON_FINITE).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "ptychopatch.h"

namespace ptychopatch::impl {

namespace cpu {
template <class Real>
class LineCorrelation;
}

void init_correlate_desc(ptp_correlate_desc* desc, size_t struct_size);

}  // namespace ptychopatch::impl

struct ptp_correlate_plan {
  int64_t height = 0;
  int64_t width = 0;
  int64_t bins = 0;  // height * (width / 2 + 1)
  bool phase = true;
  bool f64 = false;     // desc->dtype PTP_DTYPE_FLOAT64
  void* r2c = nullptr;  // fftwf_plan or fftw_plan (fftw3.h stays out of this header)
  void* c2r = nullptr;
  // Instead of r2c and c2r, for sides with a large prime factor: the one
  // of the plan's precision.
  std::unique_ptr<ptychopatch::impl::cpu::LineCorrelation<float>> lines32;
  std::unique_ptr<ptychopatch::impl::cpu::LineCorrelation<double>> lines64;
  // The workspace of execute() (see above): scratch memory of a call, not
  // part of the plan's meaning, hence mutable under a const plan.
  struct Workspace;
  mutable std::unique_ptr<Workspace> workspace;
  mutable std::mutex workspace_mutex;

  ptp_correlate_plan() = default;
  ptp_correlate_plan(const ptp_correlate_plan&) = delete;
  ptp_correlate_plan& operator=(const ptp_correlate_plan&) = delete;
  ~ptp_correlate_plan();
};

namespace ptychopatch::impl {

// Throws Error (PTP_ERROR_INVALID_ARGUMENT naming the field, or
// PTP_ERROR_SIZE_OVERFLOW) for a bad desc. `threads`: the context's, used
// by the passes of a LineCorrelation (one thread otherwise).
ptp_correlate_plan* create_correlate_plan(const ptp_correlate_desc* desc, int threads);

// Real: float for ptp_correlate_execute, double for _f64; a plan of the
// other precision is PTP_ERROR_INVALID_ARGUMENT.
template <class Real>
void execute_correlate_plan(const ptp_correlate_plan& plan, const Real* reference,
                            const Real* moving, void* spectrum, Real* correlation);

}  // namespace ptychopatch::impl
