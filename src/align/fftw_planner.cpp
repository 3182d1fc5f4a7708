// The one mutex every FFTW planner call of the library holds (FFTW's
// planner is not thread-safe; align/align_cpu.hpp). In a file of its own so
// that the internal tests, which compile a few of the library's sources,
// get it without the CPU backend.
#include <mutex>

#include "align/align_cpu.hpp"

namespace ptychopatch::impl::cpu {

std::mutex& fftw_planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace ptychopatch::impl::cpu
