// The sum over every channel of each u x u block of a frame, for where only structure on a
// block's scale matters (the polish's choice of window, the search over every shift). On blocks
// of whole colour-pattern periods the mosaic cancels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {

// (height / u) x (width / u) block sums of a frame of planar channels, row-major, of the first
// `taken` rows of each block (all its columns); rows and columns past the last whole block are
// left out. `taken` whole periods still cancel the mosaic at a fraction of the memory traffic.
// Rows are summed down in float (vectorises; exact for 16-bit data while taken < 256), then
// across in double; rows of blocks on up to `threads` threads (the same sums on any number).
template <class T>
std::vector<double> block_sums(const T* frame, int64_t channels, int64_t height, int64_t width,
                               int64_t u, int64_t taken, int threads) {
  const int64_t rows = height / u, cols = width / u, n = cols * u;
  taken = std::clamp<int64_t>(taken, 1, u);
  std::vector<double> out(static_cast<size_t>(rows * cols), 0.0);
  threads = threads_for_work(threads, rows * taken * width * channels);
  parallel_for_each(threads, 0, rows, 1, [&](int64_t i) {
    std::vector<float> down(static_cast<size_t>(n));
    double* sums = out.data() + i * cols;
    for (int64_t c = 0; c < channels; ++c) {
      std::fill(down.begin(), down.end(), 0.0f);
      for (int64_t y = i * u; y < i * u + taken; ++y) {
        const T* row = frame + (c * height + y) * width;
        for (int64_t k = 0; k < n; ++k) down[k] += static_cast<float>(row[k]);
      }
      for (int64_t j = 0; j < cols; ++j) {
        double sum = 0.0;
        for (int64_t k = j * u; k < (j + 1) * u; ++k) sum += down[k];
        sums[j] += sum;
      }
    }
  });
  return out;
}

// The same of a frame of the plan's dtype: 16-bit where `uint16`, else float32.
inline std::vector<double> block_sums(const void* frame, bool uint16, int64_t channels,
                                      int64_t height, int64_t width, int64_t u, int64_t taken,
                                      int threads) {
  return uint16 ? block_sums(static_cast<const uint16_t*>(frame), channels, height, width, u, taken,
                             threads)
                : block_sums(static_cast<const float*>(frame), channels, height, width, u, taken,
                             threads);
}

}  // namespace ptychopatch::impl
