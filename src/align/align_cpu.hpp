// The CPU backend of scene alignment (FFTW3, single precision); the factory
// make_cpu_align_backend() is declared in align/align_backend.hpp.
//
// Design:
//  * One r2c and one c2r transform per backend, for the plan's plane size,
//    planned under fftw_planner_mutex() (FFTW's planner is not thread-safe;
//    only fftwf_execute_* is) with FFTW_MEASURE, at most
//    kFftwPlanSeconds per plan. FFTW keeps what it measured (wisdom)
//    for the life of the process, so a second backend of the same plane size
//    plans at once. Planes whose half spectrum exceeds 8 MiB are
//    transformed in two passes of one-dimensional plans (rows, then blocks
//    of 8 columns copied into a contiguous buffer), not by FFTW's
//    two-dimensional plans, whose in-place column walk misses the cache and
//    the TLB on every bin of such planes (FftPlans in align_cpu.cpp).
//  * Planes are small and many (4 per Bayer frame, 36 per X-Trans frame,
//    several frames per call), so threads work on whole (frame, plane)
//    pairs, each with its own buffers, running the single-threaded plans
//    through the new-array interface; every buffer is 64-byte aligned, so
//    any buffer can stand in for the one planned with.
//  * The reference spectra (half spectra, ny x (nx/2 + 1) complex) are
//    computed once in set_reference and kept.
//  * Sub-pixel refinement evaluates scikit-image's upsampled DFT on the half
//    spectrum, rebuilding the missing half from X(-k) = conj(X(k)).
//  * The progress callback runs on the calling thread only.
#pragma once

#include <mutex>

#include "align/align_backend.hpp"

namespace ptychopatch::impl::cpu {

// Upper bound on the time FFTW_MEASURE spends planning one transform: it
// only binds for awkward sizes (large prime factors: ~10 s uncapped for a
// 1999 x 2999 plane). Lower caps cut the measurement short and, for 2000 x
// 3000 planes, give plans half as fast for little saving (2.2 s vs 2.4 s).
constexpr double kFftwPlanSeconds = 5.0;

// Held by every call into FFTW other than fftwf_execute_*.
std::mutex& fftw_planner_mutex();

}  // namespace ptychopatch::impl::cpu
