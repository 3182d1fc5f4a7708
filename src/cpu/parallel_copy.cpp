#include "cpu/parallel_copy.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/headroom.hpp"

namespace ptychopatch::impl::cpu {

void parallel_copy(void* dst, const void* src, size_t bytes, int num_threads) {
  // Below a few MiB the thread start-up costs more than it saves.
  constexpr size_t kMinBytesPerThread = size_t{4} << 20;
  const int threads = static_cast<int>(std::max<size_t>(
      1,
      std::min<size_t>(static_cast<size_t>(std::max(1, num_threads)), bytes / kMinBytesPerThread)));
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  // Without room for worker threads, one thread: a copy must not fail (the
  // GPU paths copy results out chunk by chunk).
  if (threads == 1 || !have_thread_headroom(threads)) {
    std::memcpy(d, s, bytes);
    return;
  }
  const size_t slice = (bytes + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const size_t begin = std::min(bytes, slice * static_cast<size_t>(t));
    const size_t end = std::min(bytes, begin + slice);
    std::memcpy(d + begin, s + begin, end - begin);
  }
}

}  // namespace ptychopatch::impl::cpu
