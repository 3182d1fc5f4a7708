// The CPU backend's threads: a small pool whose helpers join a loop the
// calling thread runs, never the other way round.
//
// parallel_for splits [0, count) into fixed grains. The caller claims
// grains itself from the start and keeps claiming until none is left; a
// helper that wakes in time claims some too. The caller then waits only for
// grains a helper has started, never for a helper that has not run yet, so
// a helper descheduled by a busy machine costs at most the grain it holds
// (a fork-join team waits for its slowest member: up to 270x slower on two
// threads than one beside other load, docs/performance.md "Threads on a
// busy machine"). Nothing spins: idle helpers sleep on a condition variable.
//
// The grains, and so any per-grain results, do not depend on the thread
// count, so results are bitwise identical for every thread count whenever a
// grain's work does not depend on the slot that runs it. A helper that
// cannot be created (no memory, no address space for its stack) is simply
// not there: the loop runs on fewer threads, never ends the process.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace ptychopatch::impl {

// One grain's work: call(object, grain, slot). Not owning.
struct GrainWork {
  void* object;
  void (*call)(void* object, int64_t grain, int slot);
};

// Runs work on grains [0, grains) with up to `threads` participants (the
// caller is slot 0; helpers take slots 1, 2, ... as they join). The first
// exception thrown by a grain is rethrown here after every started grain
// has ended; the grains not yet started are skipped. A call made from inside
// a grain (nested) runs on its caller alone.
void run_grains(int threads, int64_t grains, GrainWork work);

// The processors this process may run on (its CPU affinity mask, so a
// cgroup or taskset limit counts), at least 1.
int available_processors();

// The helpers the pool holds now (tests; 0 before the first parallel loop).
int pool_helpers();

// body(i, slot) for every i in [first, end), in grains of `grain`
// consecutive items, on up to `threads` threads; slot < threads names the
// participant (for per-thread scratch). One thread, or one grain, runs a
// plain loop on the caller.
template <class Body>
void parallel_for(int threads, int64_t first, int64_t end, int64_t grain, Body&& body) {
  if (end <= first) return;
  if (grain < 1) grain = 1;
  const int64_t count = end - first;
  const int64_t grains = (count + grain - 1) / grain;
  if (threads <= 1 || grains <= 1) {
    for (int64_t i = first; i < end; ++i) body(i, 0);
    return;
  }
  struct Bound {
    std::remove_reference_t<Body>* body;
    int64_t first, end, grain;
  } bound{&body, first, end, grain};
  GrainWork work{&bound, [](void* object, int64_t g, int slot) {
                   const Bound& b = *static_cast<Bound*>(object);
                   const int64_t lo = b.first + g * b.grain;
                   const int64_t hi = lo + b.grain < b.end ? lo + b.grain : b.end;
                   for (int64_t i = lo; i < hi; ++i) (*b.body)(i, slot);
                 }};
  run_grains(threads, grains, work);
}

// The same, for a body that ignores the slot: body(i).
template <class Body>
void parallel_for_each(int threads, int64_t first, int64_t end, int64_t grain, Body&& body) {
  parallel_for(threads, first, end, grain, [&](int64_t i, int) { body(i); });
}

}  // namespace ptychopatch::impl
