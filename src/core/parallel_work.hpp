// How many threads a parallel pass gets for the work it has.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace ptychopatch::impl {

// Below this much work (elements a pass touches, times the operations per
// element where they are many) a pass runs on the calling thread alone.
// Why: a parallel pass costs a helper's wake-up (microseconds idle, a
// scheduler time slice where other processes hold the cores) and a helper
// that starts a grain and is then descheduled holds the pass back until it
// runs again. Small frames make thousands of such passes per frame, each
// worth less than that risk. (Measured with the OpenMP team this replaced,
// docs/performance.md "Threads on a busy machine": 2^20 did as well under
// load and lost up to a third idle at 252-512 pixels; 2^16 left most of the
// stalls.)
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
