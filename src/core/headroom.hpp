// A check, before calling into a library that cannot report allocation
// failure (FFTW's planner asserts, FLANN's pool allocator dereferences NULL),
// that the memory it will ask for exists: a block of the size it needs is
// allocated and freed at once. Under an address-space limit (ulimit -v,
// batch schedulers) this turns what would be an abort into
// PTP_ERROR_OUT_OF_MEMORY. It cannot help when memory runs out between the
// check and the call, or where the kernel overcommits and kills instead;
// docs/reliability.md lists what remains.
#pragma once

#include <pthread.h>
#include <sys/mman.h>

#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace ptychopatch::impl {

inline void require_headroom(size_t bytes, const std::string& what) {
  void* probe = std::malloc(bytes);
  if (probe == nullptr)
    fail(PTP_ERROR_OUT_OF_MEMORY,
         "not enough memory for " + what + " (" + std::to_string(bytes >> 20) + " MiB needed)");
  std::free(probe);
}

// The stack of one OpenMP worker thread: OMP_STACKSIZE (a number with an
// optional B, K, M or G suffix, K by default) or the process's default
// thread stack (glibc: the RLIMIT_STACK soft limit, 8 MiB as shipped).
inline size_t worker_stack_bytes() {
  if (const char* text = std::getenv("OMP_STACKSIZE")) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end != text) {
      while (*end == ' ') ++end;
      const int unit = std::toupper(static_cast<unsigned char>(*end));
      const int shift = unit == 'B' ? 0 : unit == 'M' ? 20 : unit == 'G' ? 30 : 10;
      return static_cast<size_t>(value) << shift;
    }
  }
  size_t bytes = size_t{8} << 20;
  pthread_attr_t attributes;
  if (pthread_getattr_default_np(&attributes) == 0) {
    size_t found = 0;
    if (pthread_attr_getstacksize(&attributes, &found) == 0 && found > 0) bytes = found;
    pthread_attr_destroy(&attributes);
  }
  return bytes;
}

// Before a parallel region of `threads` threads: the OpenMP runtime (libgomp)
// ends the process ("Thread creation failed") when it cannot make a worker,
// which happens first when their stacks do not fit in the address space.
// Address space for threads - 1 stacks is reserved (not committed) and
// released at once; without it the call fails with PTP_ERROR_OUT_OF_MEMORY.
// have_thread_headroom answers; require_thread_headroom throws.
inline size_t worker_stacks_bytes(int threads) {
  return static_cast<size_t>(threads - 1) * (worker_stack_bytes() + (size_t{64} << 10));
}

inline bool have_thread_headroom(int threads) {
  if (threads <= 1) return true;
  const size_t bytes = worker_stacks_bytes(threads);
  void* probe = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) return false;
  munmap(probe, bytes);
  return true;
}

inline void require_thread_headroom(int threads) {
  if (!have_thread_headroom(threads))
    fail(PTP_ERROR_OUT_OF_MEMORY,
         "not enough address space for the stacks of " + std::to_string(threads - 1) +
             " worker threads (" + std::to_string(worker_stacks_bytes(threads) >> 20) +
             " MiB); use fewer threads (num_threads) or a smaller OMP_STACKSIZE");
}

}  // namespace ptychopatch::impl
