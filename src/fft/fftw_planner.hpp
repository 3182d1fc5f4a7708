// The FFTW planner's one mutex (FFTW's planner is not thread-safe; only
// fftwf_execute_* is) and its time limit, shared by every FFTW user of the
// library: alignment's backends, the search over every shift and the
// correlations of ptp_correlate_*.
#pragma once

#include <mutex>

namespace ptychopatch::impl::cpu {

// Upper bound on the time FFTW_MEASURE spends planning one transform: it
// only binds for awkward sizes (large prime factors: ~10 s uncapped for a
// 1999 x 2999 plane). Lower caps cut the measurement short and, for 2000 x
// 3000 planes, give plans half as fast for little saving (2.2 s vs 2.4 s).
constexpr double kFftwPlanSeconds = 5.0;

// Held by every call into FFTW other than fftwf_execute_*.
std::mutex& fftw_planner_mutex();

}  // namespace ptychopatch::impl::cpu
