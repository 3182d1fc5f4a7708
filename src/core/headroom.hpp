// A check, before calling into a library that cannot report allocation
// failure (FFTW's planner asserts, FLANN's pool allocator dereferences NULL),
// that the memory it will ask for exists: a block of the size it needs is
// allocated and freed at once. Under an address-space limit (ulimit -v,
// batch schedulers) this turns what would be an abort into
// PTP_ERROR_OUT_OF_MEMORY. It cannot help when memory runs out between the
// check and the call, or where the kernel overcommits and kills instead;
// docs/reliability.md lists what remains.
#pragma once

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

}  // namespace ptychopatch::impl
