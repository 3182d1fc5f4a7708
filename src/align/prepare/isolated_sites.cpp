#include "align/prepare/isolated_sites.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "math/isolated_sites.hpp"

namespace ptychopatch::impl {
namespace {

// Plane index i's (of n) neighbour one step back (-1) or on (+1), circularly.
inline int64_t wrapped(int64_t i, int64_t n, int sign) {
  return sign < 0 ? (i == 0 ? n - 1 : i - 1) : (i + 1 == n ? 0 : i + 1);
}

// Marks sites [begin, end) of one row whose plane neighbours lie `step` columns away
// on both sides without wrapping (the bulk of every row), in a vectorised loop.
template <class T>
inline __attribute__((always_inline)) void interior(const T* __restrict above,
                                                    const T* __restrict row,
                                                    const T* __restrict below,
                                                    unsigned char* __restrict marks, int64_t begin,
                                                    int64_t end, int64_t step) {
  for (int64_t x = begin; x < end; ++x) {
    const T a = std::min(std::min(above[x - step], above[x]), above[x + step]);
    const T b = std::max(std::max(above[x - step], above[x]), above[x + step]);
    const T c = std::min(std::min(below[x - step], below[x]), below[x + step]);
    const T d = std::max(std::max(below[x - step], below[x]), below[x + step]);
    const T lo = std::min(std::min(a, c), std::min(row[x - step], row[x + step]));
    const T hi = std::max(std::max(b, d), std::max(row[x - step], row[x + step]));
    marks[x] = math::is_isolated_site(row[x], lo, hi) ? 1 : 0;
  }
}

#define PTP_ISOLATED_INTERIOR(T)                                                                   \
  PTP_ROW_KERNEL_CLONES                                                                            \
  void mark_row(const T* above, const T* row, const T* below, unsigned char* marks, int64_t begin, \
                int64_t end, int64_t step) {                                                       \
    interior(above, row, below, marks, begin, end, step);                                          \
  }
PTP_ISOLATED_INTERIOR(uint16_t)
PTP_ISOLATED_INTERIOR(float)
#undef PTP_ISOLATED_INTERIOR

// The area of a frame the estimator reads (the luminance image's windows, or the
// first FFT-friendly rows and columns of each plane); pattern position (r, c) at rows
// r, r + step, ... and columns c, c + step, ... of it is a plane, wrapped around as the
// transforms see it. With PTP_ALIGN_VERIFY_REFINE the whole frame: the polish reads
// up to its edges (luma_polish.hpp).
struct Area {
  int64_t rows, cols, step;
  // Rows (columns) of the plane of pattern row r (column c).
  int64_t plane_rows(int64_t r) const { return (rows - r + step - 1) / step; }
  int64_t plane_cols(int64_t c) const { return (cols - c + step - 1) / step; }
};

Area area_of(const AlignGeometry& g) {
  const int64_t step = g.period;
  if (g.verify == PTP_ALIGN_VERIFY_REFINE) return {g.height, g.width, step};
  return {g.luma_stride * (g.plane_height - 1) + g.luma_window,
          g.luma_stride * (g.plane_width - 1) + g.luma_window, step};
}

// The isolated value of site (y, x) of a frame of `pitch` values per row
// (math::isolated_site_value of it and its eight plane neighbours; the value itself
// outside the area and in planes of fewer than 3 rows or columns).
template <class T>
T isolated_at(const T* in, int64_t pitch, const Area& a, int64_t y, int64_t x) {
  const T v = in[y * pitch + x];
  if (y >= a.rows || x >= a.cols) return v;
  const int64_t r = y % a.step, c = x % a.step;
  const int64_t plane_rows = a.plane_rows(r), plane_cols = a.plane_cols(c);
  if (plane_rows < 3 || plane_cols < 3) return v;
  const T* above = in + (wrapped(y / a.step, plane_rows, -1) * a.step + r) * pitch;
  const T* row = in + y * pitch;
  const T* below = in + (wrapped(y / a.step, plane_rows, +1) * a.step + r) * pitch;
  const int64_t left = wrapped(x / a.step, plane_cols, -1) * a.step + c;
  const int64_t right = wrapped(x / a.step, plane_cols, +1) * a.step + c;
  T lo = row[left], hi = row[left];
  const auto take = [&](T n) {
    lo = n < lo ? n : lo;
    hi = n > hi ? n : hi;
  };
  take(row[right]);
  for (const T* n : {above, below}) {
    take(n[left]);
    take(n[x]);
    take(n[right]);
  }
  return math::isolated_site_value(v, lo, hi);
}

// The sites of a frame of `height` x `pitch` values that isolated_at changes,
// increasing: each row's bulk in the vectorised loop, its ends and wrapped columns by
// isolated_at. Rows in parallel, each thread marking a row at a time into its own row
// buffer (faster than a frame of marks scanned on one thread; docs/gpu-validation.md).
template <class T>
std::vector<int64_t> find_isolated(const T* in, int64_t height, int64_t pitch, const Area& a,
                                   int threads) {
  const int64_t rows = std::min(height, a.rows);
  std::vector<std::vector<unsigned char>> marks(
      static_cast<size_t>(threads),
      std::vector<unsigned char>(static_cast<size_t>(std::max<int64_t>(1, a.cols))));
  // The indices of each grain of rows, joined in grain order: increasing.
  constexpr int64_t kRowsPerGrain = 16;
  std::vector<std::vector<int64_t>> found(
      static_cast<size_t>((rows + kRowsPerGrain - 1) / kRowsPerGrain));
  parallel_for(threads, 0, rows, kRowsPerGrain, [&](int64_t y, int slot) {
    const int64_t r = y % a.step;
    if (a.plane_rows(r) < 3) return;
    unsigned char* m = marks[static_cast<size_t>(slot)].data();
    const auto site = [&](int64_t x) {
      m[x] = isolated_at(in, pitch, a, y, x) != in[y * pitch + x];
    };
    // Interior: x - step and x + step both in [0, cols) (planes of at least 3 columns).
    const int64_t begin = std::min(a.step, a.cols);
    const int64_t end = std::max(begin, a.cols - a.step);
    for (int64_t x = 0; x < begin; ++x) site(x);
    if (end > begin) {
      const int64_t plane_rows = a.plane_rows(r);
      const T* above = in + (wrapped(y / a.step, plane_rows, -1) * a.step + r) * pitch;
      const T* below = in + (wrapped(y / a.step, plane_rows, +1) * a.step + r) * pitch;
      mark_row(above, in + y * pitch, below, m, begin, end, a.step);
    }
    for (int64_t x = end; x < a.cols; ++x) site(x);
    std::vector<int64_t>& mine = found[static_cast<size_t>(y / kRowsPerGrain)];
    for (int64_t x = 0; x < a.cols; ++x)
      if (m[x]) mine.push_back(y * pitch + x);
  });
  std::vector<int64_t> sites;
  for (std::vector<int64_t>& mine : found) sites.insert(sites.end(), mine.begin(), mine.end());
  return sites;
}

}  // namespace

bool suppresses_isolated_sites(const AlignGeometry& g) {
  return g.period > 1 && g.method != PTP_ALIGN_METHOD_RAWNIND;
}

SharedIsolatedSites::SharedIsolatedSites(const AlignGeometry& g, int32_t num_threads)
    : g_(g),
      threads_(std::max<int32_t>(1, num_threads)),
      sites_(static_cast<size_t>(g.frame_elements())),
      frame_bytes_(sites_ * (g.frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4)) {}

std::vector<int64_t> SharedIsolatedSites::isolated(const void* frame) const {
  const Area a = area_of(g_);
  const int threads = threads_for_work(static_cast<int>(std::min<int64_t>(threads_, g_.height)),
                                       g_.frame_elements());
  return g_.frame_dtype == PTP_DTYPE_UINT16
             ? find_isolated(static_cast<const uint16_t*>(frame), g_.height, g_.width, a, threads)
             : find_isolated(static_cast<const float*>(frame), g_.height, g_.width, a, threads);
}

template <class T>
bool SharedIsolatedSites::isolated_in(const void* frame, int64_t site) const {
  const auto* x = static_cast<const T*>(frame);
  return isolated_at(x, g_.width, area_of(g_), site / g_.width, site % g_.width) != x[site];
}

std::vector<int64_t> SharedIsolatedSites::shared(const std::vector<const void*>& frames) const {
  std::vector<int64_t> out;
  if (frames.empty()) return out;
  // Only the reference's isolated sites can be shared; the frames vote on each.
  const bool u16 = g_.frame_dtype == PTP_DTYPE_UINT16;
  for (const int64_t site : reference_sites_) {
    size_t votes = 0;
    for (const void* frame : frames)
      votes += u16 ? isolated_in<uint16_t>(frame, site) : isolated_in<float>(frame, site);
    if (2 * votes >= frames.size()) out.push_back(site);
  }
  return out;
}

void SharedIsolatedSites::clean(const void* frame, const std::vector<int64_t>& sites,
                                void* out) const {
  std::memcpy(out, frame, frame_bytes_);
  const Area a = area_of(g_);
  const auto patch = [&](auto* o, const auto* in) {
    for (const int64_t site : sites)
      o[site] = isolated_at(in, g_.width, a, site / g_.width, site % g_.width);
  };
  if (g_.frame_dtype == PTP_DTYPE_UINT16)
    patch(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(frame));
  else
    patch(static_cast<float*>(out), static_cast<const float*>(frame));
}

}  // namespace ptychopatch::impl
