#include "cpu/parallel_copy.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/thread_pool.hpp"

namespace ptychopatch::impl::cpu {

void parallel_copy(void* dst, const void* src, size_t bytes, int num_threads) {
  // Slices of 4 MiB: below that a helper's wake-up costs more than it saves.
  constexpr size_t kSlice = size_t{4} << 20;
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  const auto slices = static_cast<int64_t>((bytes + kSlice - 1) / kSlice);
  parallel_for_each(num_threads, 0, slices, 1, [&](int64_t k) {
    const size_t begin = static_cast<size_t>(k) * kSlice;
    std::memcpy(d + begin, s + begin, std::min(kSlice, bytes - begin));
  });
}

}  // namespace ptychopatch::impl::cpu
