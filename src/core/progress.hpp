// Progress reports and cancellation of long calls (ptp_progress_fn).
//
// The callback runs on the calling thread only, between pieces of work,
// never inside an OpenMP region: a backend with a callback splits its work
// into chunks (run_in_chunks) and runs its usual parallel loop per chunk.
// Without a callback nothing is split: the call runs its single pass.
// A callback that asks to stop throws Error(PTP_ERROR_CANCELLED) from the
// calling thread, where the C ABI turns it into the status.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

// A callback and its user_data, as installed on a plan or descriptor.
struct ProgressSink {
  ptp_progress_fn fn = nullptr;
  void* user_data = nullptr;
};

// The reports of one call (or one step of it): `done` of `total` units.
class Progress {
 public:
  // `unit` names the units in the cancellation message ("patches").
  Progress(ProgressSink sink, int64_t total, const char* unit)
      : sink_(sink), total_(total), unit_(unit) {}

  bool enabled() const { return sink_.fn != nullptr; }
  int64_t total() const { return total_; }

  // Calls the callback with (done, total); throws PTP_ERROR_CANCELLED when
  // it returns non-zero. Nothing without a callback.
  void report(int64_t done) const {
    if (sink_.fn == nullptr) return;
    if (sink_.fn(done, total_, sink_.user_data) != 0)
      fail(PTP_ERROR_CANCELLED, "the progress callback stopped the call at " +
                                    std::to_string(done) + " of " + std::to_string(total_) + " " +
                                    unit_ + "; the outputs are unspecified");
  }

 private:
  ProgressSink sink_;
  int64_t total_;
  const char* unit_;
};

// Chunks of a reported call: at most this share of the work each, so that
// there are about 100 reports...
constexpr int64_t kProgressChunks = 100;
// ... and at most about this much time between two reports.
constexpr double kProgressSecondsPerChunk = 0.1;

// Runs body(first, end) over [0, count) of work items: once over everything
// without a callback; else in chunks, reporting (0, total) first and
// done_after(end) after each chunk. A chunk is a multiple of `granule`
// items (at least one granule), at most about count / kProgressChunks
// items, and shrinks once it is timed so that a chunk takes about
// kProgressSecondsPerChunk.
template <class Body, class DoneAfter>
void run_in_chunks(const Progress& progress, int64_t count, int64_t granule, Body&& body,
                   DoneAfter&& done_after) {
  if (!progress.enabled()) {
    body(int64_t{0}, count);
    return;
  }
  progress.report(0);
  granule = std::max<int64_t>(1, granule);
  const int64_t granules = (count + granule - 1) / granule;
  // Upper bound in granules: about 1 / kProgressChunks of the work.
  const int64_t most = std::max<int64_t>(1, (granules + kProgressChunks - 1) / kProgressChunks);
  int64_t chunk = most;
  int64_t first = 0;
  while (first < count) {
    const int64_t end = std::min(count, first + chunk * granule);
    const auto start = std::chrono::steady_clock::now();
    body(first, end);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.report(done_after(end));
    if (seconds > 0.0) {
      const double rate = static_cast<double>(chunk) / seconds;  // granules per second
      const double fit = rate * kProgressSecondsPerChunk;
      chunk =
          fit >= static_cast<double>(most) ? most : std::max<int64_t>(1, static_cast<int64_t>(fit));
    }
    first = end;
  }
}

}  // namespace ptychopatch::impl
