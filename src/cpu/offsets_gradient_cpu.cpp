#include "cpu/offsets_gradient_cpu.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/thread_pool.hpp"
#include "cpu/fp_environment.hpp"
#include "math/patch_gradient.hpp"
#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"

namespace ptychopatch::impl::cpu {
namespace {

using math::AxisTap;
using math::OffsetGradientTerm;

// One thread's scratch, reused across patches: O(N).
struct PatchScratch {
  explicit PatchScratch(int64_t n) : column_taps(n), column_sums(n) {}
  std::vector<AxisTap> column_taps;
  std::vector<OffsetGradientTerm> column_sums;
};

// The gradient of one patch in the order of math/patch_gradient.hpp: the
// rows are walked in order (row-major reads), each adding its pixel's term
// to its column's sum, so that every column sums its rows in order.
template <int kLanes>
OffsetGradientTerm patch_gradient(const ExtractGeometry& g, const float* object, int64_t patch,
                                  float ox, float oy, const float* grad_patches,
                                  PatchScratch& scratch) {
  const int64_t n = g.n;
  for (int64_t x = 0; x < n; ++x) {
    scratch.column_taps[x] = math::axis_tap(x, ox);
    scratch.column_sums[x] = OffsetGradientTerm{0.0, 0.0};
  }
  const int64_t row_stride = math::gradient_row_stride(g.channel_layout, n, g.group_size);
  const int64_t column_step = g.channel_layout ? g.group_size : 1;
  const float* row =
      grad_patches +
      math::gradient_column_start(g.channel_layout, patch, 0, n, g.group_size) * kLanes;
  for (int64_t y = 0; y < n; ++y, row += row_stride * kLanes) {
    const AxisTap ty = math::axis_tap(y, oy);
    for (int64_t x = 0; x < n; ++x)
      math::accumulate(scratch.column_sums[x],
                       math::offset_gradient_pixel<kLanes>(object, g.height, g.width, g.half,
                                                           scratch.column_taps[x], ty,
                                                           row + x * column_step * kLanes));
  }
  const int64_t partials = std::min(n, math::kGradientColumnStride);
  OffsetGradientTerm total{0.0, 0.0};
  for (int64_t t = 0; t < partials; ++t) {
    OffsetGradientTerm partial{0.0, 0.0};
    for (int64_t x = t; x < n; x += math::kGradientColumnStride)
      math::accumulate(partial, scratch.column_sums[x]);
    math::accumulate(total, partial);
  }
  return total;
}

}  // namespace

template <class Offsets, class T>
void offsets_gradient(const ExtractGeometry& g, const float* object, const Offsets& offsets,
                      int64_t num_patches, const float* grad_patches, T* grad_offsets,
                      int32_t num_threads, const Progress& progress) {
  const int threads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, num_patches)));
  std::vector<PatchScratch> scratch;
  scratch.reserve(threads);
  for (int t = 0; t < threads; ++t) scratch.emplace_back(g.n);
  const auto run_patches = [&](int64_t first, int64_t end) {
    parallel_for(threads, first, end, 4, [&](int64_t p, int slot) {
      const IeeeSubnormals ieee;
      float ox = 0.0f;
      float oy = 0.0f;
      offsets.get(p, ox, oy);
      const OffsetGradientTerm sum =
          g.lanes == 2 ? patch_gradient<2>(g, object, p, ox, oy, grad_patches, scratch[slot])
                       : patch_gradient<1>(g, object, p, ox, oy, grad_patches, scratch[slot]);
      grad_offsets[2 * p] = static_cast<T>(sum.x);
      grad_offsets[2 * p + 1] = static_cast<T>(sum.y);
    });
  };
  run_in_chunks(progress, num_patches, g.group_size, run_patches, [](int64_t end) { return end; });
}

template void offsets_gradient(const ExtractGeometry&, const float*,
                               const math::PairOffsets<float>&, int64_t, const float*, float*,
                               int32_t, const Progress&);
template void offsets_gradient(const ExtractGeometry&, const float*,
                               const math::PairOffsets<double>&, int64_t, const float*, double*,
                               int32_t, const Progress&);

}  // namespace ptychopatch::impl::cpu
