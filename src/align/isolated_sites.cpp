#include "align/isolated_sites.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/headroom.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "math/isolated_sites.hpp"

namespace ptychopatch::impl {
namespace {

// The neighbour index of plane index i (of n) one step back (-1) or on
// (+1), circularly, as the transforms see the plane.
inline int64_t wrapped(int64_t i, int64_t n, int sign) {
  return sign < 0 ? (i == 0 ? n - 1 : i - 1) : (i + 1 == n ? 0 : i + 1);
}

// What a pass over a frame does with each site's isolated value c (the
// site's value brought back to its neighbours' range, or the value itself
// where it is not isolated): mark it (marks[x] = c != v), keep a mark only
// where it is isolated here too (marks[x] &= c != v), or take it where the
// mark is set (out[x] = marks[x] ? c : v).
enum class Pass { kMark, kNarrow, kClean };

// Sites [begin, end) of one row whose plane neighbours lie `step` columns
// away on both sides without wrapping (the bulk of every row): eight loads,
// min and max, one select per site, in a loop the compiler vectorises.
template <Pass kPass, class T>
inline __attribute__((always_inline)) void interior(const T* __restrict above,
                                                    const T* __restrict row,
                                                    const T* __restrict below, T* __restrict out,
                                                    unsigned char* __restrict marks, int64_t begin,
                                                    int64_t end, int64_t step) {
  for (int64_t x = begin; x < end; ++x) {
    const T a = std::min(std::min(above[x - step], above[x]), above[x + step]);
    const T b = std::max(std::max(above[x - step], above[x]), above[x + step]);
    const T c = std::min(std::min(below[x - step], below[x]), below[x + step]);
    const T d = std::max(std::max(below[x - step], below[x]), below[x + step]);
    const T lo = std::min(std::min(a, c), std::min(row[x - step], row[x + step]));
    const T hi = std::max(std::max(b, d), std::max(row[x - step], row[x + step]));
    const T v = row[x];
    const T isolated = math::isolated_site_value(v, lo, hi);
    if constexpr (kPass == Pass::kMark)
      marks[x] = isolated != v ? 1 : 0;
    else if constexpr (kPass == Pass::kNarrow)
      marks[x] = marks[x] & (isolated != v ? 1 : 0);
    else
      out[x] = marks[x] ? isolated : v;
  }
}

#define PTP_ISOLATED_INTERIOR(name, pass, T)                                            \
  PTP_ROW_KERNEL_CLONES                                                                 \
  void name(const T* above, const T* row, const T* below, T* out, unsigned char* marks, \
            int64_t begin, int64_t end, int64_t step) {                                 \
    interior<pass>(above, row, below, out, marks, begin, end, step);                    \
  }
PTP_ISOLATED_INTERIOR(mark_row, Pass::kMark, uint16_t)
PTP_ISOLATED_INTERIOR(mark_row, Pass::kMark, float)
PTP_ISOLATED_INTERIOR(narrow_row, Pass::kNarrow, uint16_t)
PTP_ISOLATED_INTERIOR(narrow_row, Pass::kNarrow, float)
PTP_ISOLATED_INTERIOR(clean_row, Pass::kClean, uint16_t)
PTP_ISOLATED_INTERIOR(clean_row, Pass::kClean, float)
#undef PTP_ISOLATED_INTERIOR

// The interior loop's clone for the pass (overloaded by element type).
template <Pass kPass, class T>
void interior_of(const T* above, const T* row, const T* below, T* out, unsigned char* marks,
                 int64_t begin, int64_t end, int64_t step) {
  if constexpr (kPass == Pass::kMark)
    mark_row(above, row, below, out, marks, begin, end, step);
  else if constexpr (kPass == Pass::kNarrow)
    narrow_row(above, row, below, out, marks, begin, end, step);
  else
    clean_row(above, row, below, out, marks, begin, end, step);
}

// One frame of `pitch` values per row whose first rows x cols values hold
// the planes the estimator reads: pattern position (r, c) at rows r,
// r + step, ... and columns c, c + step, ... of that area, each plane
// wrapped around as the transforms see it. kMark sets marks[] for every
// site (0 outside the area and in planes of fewer than 3 rows or columns),
// kNarrow clears the marks of sites not isolated here, kClean writes out[]
// (what lies outside the area, or is unmarked, as it is).
template <Pass kPass, class T>
void pass_over(const T* in, T* out, unsigned char* marks, int64_t height, int64_t pitch,
               int64_t rows, int64_t cols, int64_t step, int threads) {
  int64_t wide = 0;  // pattern columns whose plane has at least 3 columns
  for (int64_t c = 0; c < std::min(step, cols); ++c) wide += (cols - c + step - 1) / step >= 3;
  require_thread_headroom(threads);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t y = 0; y < height; ++y) {
    const T* row = in + y * pitch;
    T* o = kPass == Pass::kClean ? out + y * pitch : nullptr;
    constexpr bool kMarks = kPass != Pass::kClean;
    unsigned char* m = marks + y * pitch;
    const int64_t r = y % step;
    const int64_t plane_rows = y < rows ? (rows - r + step - 1) / step : 0;
    if (plane_rows < 3 || wide == 0) {
      if constexpr (kMarks)
        std::memset(m, 0, static_cast<size_t>(pitch));
      else
        std::copy(row, row + pitch, o);
      continue;
    }
    if constexpr (kMarks)
      std::memset(m + cols, 0, static_cast<size_t>(pitch - cols));
    else
      std::copy(row + cols, row + pitch, o + cols);
    const T* above = in + (wrapped(y / step, plane_rows, -1) * step + r) * pitch;
    const T* below = in + (wrapped(y / step, plane_rows, +1) * step + r) * pitch;
    const auto site = [&](int64_t x) {
      const int64_t c = x % step;
      const int64_t plane_cols = (cols - c + step - 1) / step;
      T value = row[x];
      if (plane_cols >= 3) {
        const int64_t left = wrapped(x / step, plane_cols, -1) * step + c;
        const int64_t right = wrapped(x / step, plane_cols, +1) * step + c;
        T lo = row[left], hi = row[left];
        const auto take = [&](T v) {
          lo = v < lo ? v : lo;
          hi = v > hi ? v : hi;
        };
        take(row[right]);
        for (const T* n : {above, below}) {
          take(n[left]);
          take(n[x]);
          take(n[right]);
        }
        value = math::isolated_site_value(row[x], lo, hi);
      }
      if constexpr (kPass == Pass::kMark)
        m[x] = value != row[x] ? 1 : 0;
      else if constexpr (kPass == Pass::kNarrow)
        m[x] = m[x] & (value != row[x] ? 1 : 0);
      else
        o[x] = m[x] ? value : row[x];
    };
    // Interior: x - step and x + step both within [0, cols).
    const int64_t begin = std::min(step, cols);
    const int64_t end = std::max(begin, cols - step);
    for (int64_t x = 0; x < begin; ++x) site(x);
    if (end > begin) interior_of<kPass>(above, row, below, o, m, begin, end, step);
    for (int64_t x = end; x < cols; ++x) site(x);
  }
}

// The area the estimator reads: the luminance image's windows, or the
// planes it transforms (the first FFT-friendly rows and columns of each).
template <Pass kPass, class T>
void pass_over_frame(const AlignGeometry& g, const T* in, T* out, unsigned char* marks,
                     int32_t num_threads) {
  const int64_t step = g.period;
  const int64_t rows =
      g.luma ? g.luma_stride * (g.plane_height - 1) + g.luma_window : g.plane_height * step;
  const int64_t cols =
      g.luma ? g.luma_stride * (g.plane_width - 1) + g.luma_window : g.plane_width * step;
  const int threads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, g.height)));
  pass_over<kPass>(in, out, marks, g.height, g.width, rows, cols, step, threads);
}

// kMark or kNarrow over a frame's sites (marks: g.frame_elements()).
void mark_sites(const AlignGeometry& g, const void* frame, unsigned char* marks,
                int32_t num_threads, Pass pass) {
  const bool narrow = pass == Pass::kNarrow;
  if (g.frame_dtype == PTP_DTYPE_UINT16) {
    const auto* x = static_cast<const uint16_t*>(frame);
    if (narrow)
      pass_over_frame<Pass::kNarrow>(g, x, static_cast<uint16_t*>(nullptr), marks, num_threads);
    else
      pass_over_frame<Pass::kMark>(g, x, static_cast<uint16_t*>(nullptr), marks, num_threads);
  } else {
    const auto* x = static_cast<const float*>(frame);
    if (narrow)
      pass_over_frame<Pass::kNarrow>(g, x, static_cast<float*>(nullptr), marks, num_threads);
    else
      pass_over_frame<Pass::kMark>(g, x, static_cast<float*>(nullptr), marks, num_threads);
  }
}

}  // namespace

bool suppresses_isolated_sites(const AlignGeometry& g) {
  return g.period > 1 && g.method != PTP_ALIGN_METHOD_RAWNIND;
}

void suppress_isolated_sites(const AlignGeometry& g, const void* frame,
                             const unsigned char* marks_given, void* out, int32_t num_threads) {
  // kClean reads the marks only.
  auto* marks = const_cast<unsigned char*>(marks_given);
  if (g.frame_dtype == PTP_DTYPE_UINT16)
    pass_over_frame<Pass::kClean>(g, static_cast<const uint16_t*>(frame),
                                  static_cast<uint16_t*>(out), marks, num_threads);
  else
    pass_over_frame<Pass::kClean>(g, static_cast<const float*>(frame), static_cast<float*>(out),
                                  marks, num_threads);
}

SharedIsolatedSites::SharedIsolatedSites(const AlignGeometry& g, int32_t num_threads)
    : g_(g),
      threads_(std::max<int32_t>(1, num_threads)),
      sites_(static_cast<size_t>(g.frame_elements())),
      frame_bytes_(sites_ * (g.frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4)) {}

void SharedIsolatedSites::set_reference(const void* frame) {
  const auto* bytes = static_cast<const unsigned char*>(frame);
  std::vector<unsigned char> copy(bytes, bytes + frame_bytes_);
  std::vector<unsigned char> marks(sites_);
  mark_sites(g_, frame, marks.data(), threads_, Pass::kMark);
  reference_ = std::move(copy);
  reference_marks_ = std::move(marks);
}

std::vector<unsigned char> SharedIsolatedSites::shared(
    const std::vector<const void*>& frames) const {
  // Votes per site: the frames in which it is isolated.
  std::vector<uint32_t> votes(sites_, 0);
  std::vector<unsigned char> marks(sites_);
  for (const void* frame : frames) {
    mark_sites(g_, frame, marks.data(), threads_, Pass::kMark);
    for (size_t i = 0; i < sites_; ++i) votes[i] += marks[i];
  }
  const size_t count = frames.size();
  for (size_t i = 0; i < sites_; ++i)
    marks[i] = reference_marks_[i] && count > 0 && 2 * static_cast<size_t>(votes[i]) >= count;
  return marks;
}

void SharedIsolatedSites::clean(const void* frame, const std::vector<unsigned char>& marks,
                                void* out) const {
  suppress_isolated_sites(g_, frame, marks.data(), out, threads_);
}

}  // namespace ptychopatch::impl
