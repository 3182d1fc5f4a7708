#include "group/spatial_order.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ptychopatch::impl {
namespace {

// Interleaves the 16 bits of v with zeros: bit i goes to bit 2i.
uint32_t spread_bits(uint32_t v) {
  v = (v | (v << 8)) & 0x00FF00FFu;
  v = (v | (v << 4)) & 0x0F0F0F0Fu;
  v = (v | (v << 2)) & 0x33333333u;
  v = (v | (v << 1)) & 0x55555555u;
  return v;
}

// Maps [lo, hi] onto the integers [0, 65535].
struct Quantiser {
  double lo, extent, scale;
  // A zero or overflowing extent gives every point key 0 (index order). An
  // extent so small (subnormal) that 65535 / extent overflows divides first
  // instead: inf * 0 would be NaN, and NaN has no integer.
  Quantiser(double min, double max)
      : lo(min),
        extent(max - min),
        scale(std::isfinite(extent) && max > min ? 65535.0 / extent : 0.0) {}
  uint32_t operator()(double v) const {
    if (scale == 0.0) return 0;
    const double q = std::isfinite(scale) ? (v - lo) * scale  // in [0, 65535] up to rounding
                                          : (v - lo) / extent * 65535.0;
    return static_cast<uint32_t>(std::clamp(q, 0.0, 65535.0));
  }
};

}  // namespace

std::vector<int64_t> morton_order(const double* x, const double* y, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  if (n == 0) return order;
  const auto [xmin, xmax] = std::minmax_element(x, x + n);
  const auto [ymin, ymax] = std::minmax_element(y, y + n);
  const Quantiser qx(*xmin, *xmax), qy(*ymin, *ymax);

  std::vector<uint32_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys[i] = spread_bits(qx(x[i])) | (spread_bits(qy(y[i])) << 1);

  // LSD radix sort on the 32-bit key, two 16-bit digits: stable, linear.
  std::vector<int64_t> scratch(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scratch[i] = i;
  std::vector<int64_t> count(size_t{1} << 16);
  for (int shift : {0, 16}) {
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < n; ++i) ++count[(keys[scratch[i]] >> shift) & 0xFFFFu];
    int64_t start = 0;
    for (auto& c : count) start += std::exchange(c, start);
    for (int64_t i = 0; i < n; ++i)
      order[count[(keys[scratch[i]] >> shift) & 0xFFFFu]++] = scratch[i];
    if (shift == 0) scratch.swap(order);
  }
  return order;
}

}  // namespace ptychopatch::impl
