// Which colour planes of a frame carry information over a window: the
// test of "flat, clipped or dead" for the polish's images (LumaPolish,
// which leaves such planes out).
#pragma once

#include <cstdint>
#include <vector>

namespace ptychopatch::impl {

// One flag per plane (pattern site r * period + c, or channel where period
// is 1): 1 where the plane takes a value other than its first over the
// window of rows x cols at (top, left), 0 where it is constant there. `x`
// holds the planes (channels) plane_stride values apart, rows row_stride
// values apart; the pattern's phase is that of the window's position in
// `x` (a site's plane is (row % period, column % period)).
template <class T>
std::vector<char> varying_planes(const T* x, int64_t plane_stride, int64_t row_stride, int64_t top,
                                 int64_t left, int64_t rows, int64_t cols, int64_t period,
                                 int64_t planes) {
  std::vector<char> varies(static_cast<size_t>(planes), 0);
  if (period == 1) {
    for (int64_t c = 0; c < planes; ++c) {
      const T* channel = x + c * plane_stride + top * row_stride + left;
      const T first = channel[0];
      for (int64_t r = 0; r < rows && !varies[c]; ++r)
        for (int64_t j = 0; j < cols; ++j)
          if (channel[r * row_stride + j] != first) {
            varies[c] = 1;
            break;
          }
    }
    return varies;
  }
  std::vector<T> first(static_cast<size_t>(planes));
  std::vector<char> seen(static_cast<size_t>(planes), 0);
  // Flags only turn on: stop once every plane varies (on real frames, in the first rows).
  int64_t varying = 0;
  const int64_t start_column = left % period;
  for (int64_t r = 0; r < rows && varying < planes; ++r) {
    const T* row = x + (top + r) * row_stride + left;
    const int64_t phase = ((top + r) % period) * period;
    int64_t column = start_column;  // (left + j) % period, without a division
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t p = phase + column;
      if (++column == period) column = 0;
      if (!seen[p]) {
        seen[p] = 1;
        first[p] = row[j];
      } else if (!varies[p] && row[j] != first[p]) {
        varies[p] = 1;
        ++varying;
      }
    }
  }
  return varies;
}

}  // namespace ptychopatch::impl
