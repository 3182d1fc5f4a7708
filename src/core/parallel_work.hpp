// How many threads a parallel pass gets for the work it has.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace ptychopatch::impl {

// Below this much work (elements a pass touches, times the operations per
// element where they are many) a pass runs on the calling thread alone.
// Why: every OpenMP region costs a fork and a barrier, microseconds on an
// idle machine; on one whose cores are busy with other processes (a second
// job, a Dask worker per core, CI) a barrier waits until every thread of
// the team has run, while libgomp's spinning waiters hold the cores the
// others need. A scene of four 72 x 72 frames took 0.6-2.4 s on two threads
// against 18-22 ms on one while another process kept both cores busy
// (docs/performance.md, "Threads on a busy machine"). Passes over small
// frames stay under this; those over large frames are far above it, where
// a late thread costs little against the pass. (2^20 did as well under
// load and lost up to a third on an idle machine at 252-512 pixels; 2^16
// left most of the stalls.)
inline constexpr int64_t kMinParallelWork = int64_t{1} << 18;

// kMinParallelWork, or the environment's PTYCHOPATCH_MIN_PARALLEL_WORK (a
// decimal count; 0 makes every pass parallel, as the thread-count and
// fault-injection tests and ThreadSanitizer's run want), read once.
inline int64_t min_parallel_work() {
  static const int64_t value = [] {
    const char* text = std::getenv("PTYCHOPATCH_MIN_PARALLEL_WORK");
    if (text == nullptr || *text == '\0') return kMinParallelWork;
    char* end = nullptr;
    const long long parsed = std::strtoll(text, &end, 10);
    return *end == '\0' && parsed >= 0 ? static_cast<int64_t>(parsed) : kMinParallelWork;
  }();
  return value;
}

// `threads`, or 1 where `work` is below min_parallel_work().
inline int threads_for_work(int threads, int64_t work) {
  return work < min_parallel_work() ? 1 : threads;
}

}  // namespace ptychopatch::impl
