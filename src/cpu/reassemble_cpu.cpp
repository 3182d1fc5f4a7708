#include "cpu/reassemble_cpu.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/thread_pool.hpp"
#include "cpu/column_taps.hpp"
#include "cpu/fp_environment.hpp"
#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"
#include "math/patch_scatter.hpp"

namespace ptychopatch::impl::cpu {
namespace {

using math::AxisTap;

// One canvas row receiving one patch row whose corner columns are
// consecutive and all inside the object: float i of the row (i = column *
// lanes + lane, relative to the patch's first corner column) takes the
// "x1" term of patch pixel x - 1 and then the "x0" term of pixel x, which
// is the order in which the general path (pixel by pixel, corners 00, 01 or
// 10, 11) adds them. dst holds count + lanes floats; count = N * lanes.
// x_w0 / x_w1 hold each column weight once per lane; y_w is the row weight
// of this corner row (w0 for corners 00, 01; w1 for 10, 11).
PTP_ROW_KERNEL_CLONES
void scatter_row(const float* __restrict x_w0, const float* __restrict x_w1, float y_w,
                 const float* __restrict values, int64_t lanes, int64_t count,
                 float* __restrict dst) {
  for (int64_t i = 0; i < lanes; ++i)
    dst[i] = math::add_rn(dst[i], math::scatter_term(math::mul_rn(x_w0[i], y_w), values[i]));
  for (int64_t i = lanes; i < count; ++i) {
    const float from_left =
        math::scatter_term(math::mul_rn(x_w1[i - lanes], y_w), values[i - lanes]);
    const float from_here = math::scatter_term(math::mul_rn(x_w0[i], y_w), values[i]);
    dst[i] = math::add_rn(math::add_rn(dst[i], from_left), from_here);
  }
  for (int64_t i = count; i < count + lanes; ++i)
    dst[i] = math::add_rn(
        dst[i], math::scatter_term(math::mul_rn(x_w1[i - lanes], y_w), values[i - lanes]));
}

// The weights canvas of the same row: n + 1 floats, the corner weights
// themselves in the same order.
PTP_ROW_KERNEL_CLONES
void weight_row(const float* __restrict x_w0, const float* __restrict x_w1, float y_w, int64_t n,
                float* __restrict dst) {
  dst[0] = math::add_rn(dst[0], math::mul_rn(x_w0[0], y_w));
  for (int64_t x = 1; x < n; ++x)
    dst[x] = math::add_rn(math::add_rn(dst[x], math::mul_rn(x_w1[x - 1], y_w)),
                          math::mul_rn(x_w0[x], y_w));
  dst[n] = math::add_rn(dst[n], math::mul_rn(x_w1[n - 1], y_w));
}

// First y in [0, n) for which pred(y) holds, n if none; pred must be
// monotone (false ... false true ... true).
template <class Pred>
int64_t first_true(int64_t n, Pred pred) {
  int64_t lo = 0;
  int64_t hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (pred(mid))
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

// Per-thread tables for the patch being scattered: its column taps (once
// per column and once per lane) and one row of its values, contiguous.
// O(N) floats, allocated once per call and thread.
class PatchScratch {
 public:
  explicit PatchScratch(const ExtractGeometry& g)
      : g_(g),
        col_index_(g.n),
        col_w0_(g.n),
        col_w1_(g.n),
        lane_w0_(g.n * g.lanes),
        lane_w1_(g.n * g.lanes),
        values_(g.n * g.lanes) {}

  // Column taps of a patch at x offset `ox`. Returns false when no column
  // corner of the patch lies inside the object.
  bool build_columns(float ox) {
    const int64_t n = g_.n;
    const int lanes = g_.lanes;
    interior_ = column_taps(g_, ox, col_index_.data(), lane_w0_.data(), lane_w1_.data());
    for (int64_t x = 0; x < n; ++x) {
      col_w0_[x] = lane_w0_[x * lanes];
      col_w1_[x] = lane_w1_[x * lanes];
    }
    // Indices are monotone in x: the span [index[0], index[n-1] + 1] meets
    // the object [half, half + W) or no corner does.
    return col_index_[n - 1] + 1 >= g_.half && col_index_[0] - g_.half < g_.width;
  }

  // Row y of patch p as n * lanes contiguous floats.
  const float* row_values(const float* patches, int64_t p, int64_t y) {
    const int64_t n = g_.n;
    const int lanes = g_.lanes;
    const int64_t first = math::output_index(g_.channel_layout, p, y, 0, n, g_.group_size) * lanes;
    if (!g_.channel_layout || g_.group_size == 1) return patches + first;
    const int64_t stride = g_.group_size * lanes;
    for (int64_t x = 0; x < n; ++x)
      for (int lane = 0; lane < lanes; ++lane)
        values_[x * lanes + lane] = patches[first + x * stride + lane];
    return values_.data();
  }

  // Scatters row y of a patch (row tap ty, values v) into the rows
  // [band_lo, band_hi) of canvas and weights.
  template <int kLanes>
  void scatter(AxisTap ty, const float* v, int64_t band_lo, int64_t band_hi, float* canvas,
               float* weights) const {
    const int64_t n = g_.n;
    const int64_t width = g_.width;
    const int64_t row0 = ty.index0 - g_.half;  // no overflow: |index0| <= 2^62
    const int64_t row1 = row0 + 1;
    if (interior_) {
      const int64_t col = col_index_[0] - g_.half;
      if (row0 >= band_lo && row0 < band_hi) {
        scatter_row(lane_w0_.data(), lane_w1_.data(), ty.w0, v, kLanes, n * kLanes,
                    canvas + (row0 * width + col) * kLanes);
        if (weights != nullptr)
          weight_row(col_w0_.data(), col_w1_.data(), ty.w0, n, weights + row0 * width + col);
      }
      if (row1 >= band_lo && row1 < band_hi) {
        scatter_row(lane_w0_.data(), lane_w1_.data(), ty.w1, v, kLanes, n * kLanes,
                    canvas + (row1 * width + col) * kLanes);
        if (weights != nullptr)
          weight_row(col_w0_.data(), col_w1_.data(), ty.w1, n, weights + row1 * width + col);
      }
      return;
    }
    // General path: the shared per-pixel formula, keeping only the corners
    // in this band.
    const int64_t first_element = band_lo * width;
    const int64_t end_element = band_hi * width;
    for (int64_t x = 0; x < n; ++x) {
      const AxisTap tx{col_index_[x], col_w0_[x], col_w1_[x]};
      const float* value = v + x * kLanes;
      math::scatter_pixel(g_.height, width, g_.half, tx, ty, [&](int64_t element, float w) {
        if (element < first_element || element >= end_element) return;
        float* dst = canvas + element * kLanes;
        for (int lane = 0; lane < kLanes; ++lane)
          dst[lane] = math::add_rn(dst[lane], math::scatter_term(w, value[lane]));
        if (weights != nullptr) weights[element] = math::add_rn(weights[element], w);
      });
    }
  }

 private:
  const ExtractGeometry& g_;
  std::vector<int64_t> col_index_;
  std::vector<float> col_w0_;
  std::vector<float> col_w1_;
  std::vector<float> lane_w0_;
  std::vector<float> lane_w1_;
  std::vector<float> values_;
  bool interior_ = false;
};

// Rows [lo, hi) of band t of `bands` over `height` rows.
void band_rows(int64_t height, int t, int bands, int64_t& lo, int64_t& hi) {
  const int64_t base = height / bands;
  const int64_t extra = height % bands;
  lo = t * base + std::min<int64_t>(t, extra);
  hi = lo + base + (t < extra ? 1 : 0);
}

}  // namespace

template <class Offsets>
void reassemble(const ExtractGeometry& g, const float* patches, const Offsets& offsets,
                int64_t num_patches, float* canvas, float* weights, int32_t num_threads,
                const Progress& progress) {
  const int requested =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, g.height)));
  // Bands of rows, each a grain: four a thread, so a helper the machine
  // deschedules holds back a quarter of its share, not all of it. Every
  // pixel adds its terms in patch order whatever the bands.
  const int bands =
      static_cast<int>(std::min<int64_t>(g.height, requested > 1 ? int64_t{4} * requested : 1));
  const int64_t n = g.n;
  const int64_t half = g.half;
  const int lanes = g.lanes;

  // One per participant (slot). O(N) per thread, so none when there is nothing to add (a call with
  // no patches only clears the canvases, whatever N is).
  std::vector<PatchScratch> scratch;
  if (num_patches > 0) {
    scratch.reserve(requested);
    for (int t = 0; t < requested; ++t) scratch.emplace_back(g);
  }

  // Adds patches [p_begin, p_end) to the canvases, first zeroing them when
  // `zero`. Every pixel adds its terms in patch order whichever thread owns
  // its row in a pass, so splitting the patches into consecutive ranges
  // (progress chunks) gives bitwise the result of one pass.
  const auto scatter_patches = [&](int64_t p_begin, int64_t p_end, bool zero) {
    parallel_for(requested, 0, bands, 1, [&](int64_t band, int slot) {
      const IeeeSubnormals ieee;
      int64_t band_lo = 0;
      int64_t band_hi = 0;
      band_rows(g.height, static_cast<int>(band), bands, band_lo, band_hi);
      PatchScratch* const s = num_patches > 0 ? &scratch[slot] : nullptr;

      // Overwrite semantics: the band's owner zeroes its rows.
      if (zero && band_hi > band_lo) {
        std::memset(canvas + band_lo * g.width * lanes, 0,
                    static_cast<size_t>((band_hi - band_lo) * g.width * lanes) * sizeof(float));
        if (weights != nullptr)
          std::memset(weights + band_lo * g.width, 0,
                      static_cast<size_t>((band_hi - band_lo) * g.width) * sizeof(float));
      }

      for (int64_t p = p_begin; p < p_end && band_hi > band_lo; ++p) {
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get(p, ox, oy);
        // Patch row y writes object rows r and r + 1, r = axis_tap(y).index0
        // - half, which is monotone in y: the rows reaching this band are one
        // contiguous range [y_lo, y_hi).
        const auto row_of = [&](int64_t y) { return math::axis_tap(y, oy).index0 - half; };
        const int64_t y_lo = first_true(n, [&](int64_t y) { return row_of(y) >= band_lo - 1; });
        const int64_t y_hi = first_true(n, [&](int64_t y) { return row_of(y) >= band_hi; });
        if (y_lo >= y_hi) continue;
        if (!s->build_columns(ox)) continue;
        for (int64_t y = y_lo; y < y_hi; ++y) {
          const AxisTap ty = math::axis_tap(y, oy);
          const float* v = s->row_values(patches, p, y);
          if (lanes == 2)
            s->scatter<2>(ty, v, band_lo, band_hi, canvas, weights);
          else
            s->scatter<1>(ty, v, band_lo, band_hi, canvas, weights);
        }
      }
    });
  };
  if (!progress.enabled()) {
    scatter_patches(0, num_patches, true);
    return;
  }
  scatter_patches(0, 0, true);
  run_in_chunks(
      progress, num_patches, g.group_size,
      [&](int64_t p_begin, int64_t p_end) { scatter_patches(p_begin, p_end, false); },
      [](int64_t p_end) { return p_end; });
}

template void reassemble(const ExtractGeometry&, const float*, const math::PairOffsets<float>&,
                         int64_t, float*, float*, int32_t, const Progress&);
template void reassemble(const ExtractGeometry&, const float*, const math::PairOffsets<double>&,
                         int64_t, float*, float*, int32_t, const Progress&);

}  // namespace ptychopatch::impl::cpu
