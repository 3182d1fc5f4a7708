#include "align/isolated_sites.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
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

// Sites [begin, end) of one row whose plane neighbours lie `step` columns
// away on both sides without wrapping (the bulk of every row): eight loads,
// min and max, one select per site, in a loop the compiler vectorises.
template <class T>
inline __attribute__((always_inline)) void suppress_interior(const T* __restrict above,
                                                             const T* __restrict row,
                                                             const T* __restrict below,
                                                             T* __restrict out, int64_t begin,
                                                             int64_t end, int64_t step) {
  for (int64_t x = begin; x < end; ++x) {
    const T a = std::min(std::min(above[x - step], above[x]), above[x + step]);
    const T b = std::max(std::max(above[x - step], above[x]), above[x + step]);
    const T c = std::min(std::min(below[x - step], below[x]), below[x + step]);
    const T d = std::max(std::max(below[x - step], below[x]), below[x + step]);
    const T lo = std::min(std::min(a, c), std::min(row[x - step], row[x + step]));
    const T hi = std::max(std::max(b, d), std::max(row[x - step], row[x + step]));
    out[x] = math::isolated_site_value(row[x], lo, hi);
  }
}

PTP_ROW_KERNEL_CLONES
void suppress_interior_u16(const uint16_t* above, const uint16_t* row, const uint16_t* below,
                           uint16_t* out, int64_t begin, int64_t end, int64_t step) {
  suppress_interior(above, row, below, out, begin, end, step);
}

PTP_ROW_KERNEL_CLONES
void suppress_interior_f32(const float* above, const float* row, const float* below, float* out,
                           int64_t begin, int64_t end, int64_t step) {
  suppress_interior(above, row, below, out, begin, end, step);
}

inline void suppress_interior_of(const uint16_t* above, const uint16_t* row, const uint16_t* below,
                                 uint16_t* out, int64_t begin, int64_t end, int64_t step) {
  suppress_interior_u16(above, row, below, out, begin, end, step);
}
inline void suppress_interior_of(const float* above, const float* row, const float* below,
                                 float* out, int64_t begin, int64_t end, int64_t step) {
  suppress_interior_f32(above, row, below, out, begin, end, step);
}

// One image of `pitch` values per row (a frame, or one planar channel)
// whose first rows x cols values hold the planes the estimator reads:
// pattern position (r, c) at rows r, r + step, ... and columns c,
// c + step, ... of that area, each plane wrapped around as the transforms
// see it. A plane of fewer than 3 rows or columns, and what lies outside
// the area, keep their values.
template <class T>
void suppress_image(const T* in, T* out, int64_t height, int64_t pitch, int64_t rows, int64_t cols,
                    int64_t step, int threads) {
  // Columns whose plane has at least 3 columns; with them, sites of the
  // first and last plane columns wrap, the others do not.
  const int64_t narrow = std::min(step, cols);
  int64_t wide = 0;  // positions c < step with (cols - c + step - 1) / step >= 3
  for (int64_t c = 0; c < narrow; ++c) wide += (cols - c + step - 1) / step >= 3 ? 1 : 0;
  require_thread_headroom(threads);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t y = 0; y < height; ++y) {
    const T* row = in + y * pitch;
    T* o = out + y * pitch;
    const int64_t r = y % step;
    const int64_t plane_rows = y < rows ? (rows - r + step - 1) / step : 0;
    if (plane_rows < 3 || wide == 0) {
      std::copy(row, row + pitch, o);
      continue;
    }
    std::copy(row + cols, row + pitch, o + cols);
    const T* above = in + (wrapped(y / step, plane_rows, -1) * step + r) * pitch;
    const T* below = in + (wrapped(y / step, plane_rows, +1) * step + r) * pitch;
    const auto site = [&](int64_t x) {
      const int64_t c = x % step;
      const int64_t plane_cols = (cols - c + step - 1) / step;
      if (plane_cols < 3) {
        o[x] = row[x];
        return;
      }
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
      o[x] = math::isolated_site_value(row[x], lo, hi);
    };
    // Interior: x - step and x + step both within [0, cols).
    const int64_t begin = std::min(step, cols);
    const int64_t end = std::max(begin, cols - step);
    for (int64_t x = 0; x < begin; ++x) site(x);
    if (end > begin) suppress_interior_of(above, row, below, o, begin, end, step);
    for (int64_t x = end; x < cols; ++x) site(x);
  }
}

template <class T>
void suppress(const AlignGeometry& g, const T* in, T* out, int32_t num_threads) {
  // The area the estimator reads: the luminance image's windows, or the
  // planes it transforms (the first FFT-friendly rows and columns of each).
  const int64_t step = g.cfa == PTP_CFA_NONE ? 1 : g.period;
  const int64_t rows =
      g.luma ? g.luma_stride * (g.plane_height - 1) + g.luma_window : g.plane_height * step;
  const int64_t cols =
      g.luma ? g.luma_stride * (g.plane_width - 1) + g.luma_window : g.plane_width * step;
  const int64_t image = g.height * g.width;
  const int threads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, g.height)));
  for (int64_t c = 0; c < g.channels; ++c)
    suppress_image(in + c * image, out + c * image, g.height, g.width, rows, cols, step, threads);
}

// Frames cleaned at once per call of the inner backend, by memory: as many
// as fit in kChunkBytes, at least one. (The inner backend batches within a
// chunk; the GPU backend overlaps a chunk's uploads.)
constexpr int64_t kChunkBytes = int64_t{256} << 20;

class IsolatedSitesBackend final : public AlignBackend {
 public:
  IsolatedSitesBackend(const AlignGeometry& g, std::unique_ptr<AlignBackend> inner, int32_t threads)
      : g_(g),
        inner_(std::move(inner)),
        threads_(std::max<int32_t>(1, threads)),
        frame_bytes_(static_cast<size_t>(g.frame_elements()) *
                     (g.frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4)) {}

  void set_reference(const void* frame) override {
    // The inner backend keeps what it needs of the reference.
    const std::unique_ptr<unsigned char[]> clean = new_frame();
    suppress_isolated_sites(g_, frame, clean.get(), threads_);
    inner_->set_reference(clean.get());
  }

  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    const int64_t fit = std::max<int64_t>(1, kChunkBytes / static_cast<int64_t>(frame_bytes_));
    const int64_t chunk = std::max<int64_t>(1, std::min(num_frames, fit));
    require_headroom(static_cast<size_t>(chunk) * frame_bytes_,
                     std::to_string(chunk) + " frames without their isolated sites");
    while (static_cast<int64_t>(frames_.size()) < chunk) frames_.push_back(new_frame());
    std::vector<const void*> pointers(static_cast<size_t>(chunk));
    const int64_t per_frame = g_.results_per_frame();
    for (int64_t f0 = 0; f0 < num_frames; f0 += chunk) {
      const int64_t n = std::min(chunk, num_frames - f0);
      for (int64_t k = 0; k < n; ++k) {
        suppress_isolated_sites(g_, frames[f0 + k], frames_[k].get(), threads_);
        pointers[k] = frames_[k].get();
      }
      bool stopped = false;
      const int64_t done =
          inner_->align(pointers.data(), n, results + f0 * per_frame, [&](int64_t d) {
            if (keep_going(f0 + d)) return true;
            stopped = true;
            return false;
          });
      if (stopped || done < n) return f0 + done;
    }
    return num_frames;
  }

 private:
  std::unique_ptr<unsigned char[]> new_frame() const {
    return std::unique_ptr<unsigned char[]>(new unsigned char[frame_bytes_]);
  }

  AlignGeometry g_;
  std::unique_ptr<AlignBackend> inner_;
  int32_t threads_;
  size_t frame_bytes_;
  std::vector<std::unique_ptr<unsigned char[]>> frames_;  // a chunk's, cleaned; kept by the plan
};

}  // namespace

void suppress_isolated_sites(const AlignGeometry& g, const void* frame, void* out,
                             int32_t num_threads) {
  if (g.frame_dtype == PTP_DTYPE_UINT16)
    suppress(g, static_cast<const uint16_t*>(frame), static_cast<uint16_t*>(out), num_threads);
  else
    suppress(g, static_cast<const float*>(frame), static_cast<float*>(out), num_threads);
}

std::unique_ptr<AlignBackend> make_isolated_sites_backend(const AlignGeometry& g,
                                                          std::unique_ptr<AlignBackend> inner,
                                                          int32_t num_threads) {
  return std::make_unique<IsolatedSitesBackend>(g, std::move(inner), num_threads);
}

}  // namespace ptychopatch::impl
