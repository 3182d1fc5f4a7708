#include "cpu/extract_cpu.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/thread_pool.hpp"
#include "cpu/column_taps.hpp"
#include "cpu/fp_environment.hpp"
#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"

namespace ptychopatch::impl::cpu {
namespace {

using math::AxisTap;

// One row of an interior patch: both corner rows and all corner columns are
// inside the object and the columns are consecutive, so every corner is a
// contiguous load. Lanes (re, im) are just more floats here, which is why
// the column weights are stored once per lane.
PTP_ROW_KERNEL_CLONES
void blend_row(const float* __restrict x_w0, const float* __restrict x_w1, float y_w0, float y_w1,
               const float* __restrict row0, const float* __restrict row1, int64_t lanes,
               float* __restrict dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    dst[i] = math::blend(x_w0[i], x_w1[i], y_w0, y_w1, row0[i], row0[i + lanes], row1[i],
                         row1[i + lanes]);
}

// Writes row y of the c patches of a group, computed one after another in
// `rows`, as one contiguous row of the (B, N, N, c) output, so the stores run
// in order. The fixed-size memcpy compiles to one move per element; a
// compile-time group size (kGroup > 0) lets the compiler unroll and
// vectorise the transpose.
template <int kLanes, int kGroup>
void interleave_rows(const float* rows, int64_t c, int64_t n, float* out_row) {
  const int64_t group = kGroup > 0 ? kGroup : c;
  for (int64_t x = 0; x < n; ++x)
    for (int64_t k = 0; k < group; ++k)
      std::memcpy(out_row + (x * group + k) * kLanes, rows + (k * n + x) * kLanes,
                  kLanes * sizeof(float));
}

template <int kLanes>
void interleave_group_rows(const float* rows, int64_t c, int64_t n, float* out_row) {
  if (c == 4)  // gridsize 2, PtychoPINN's usual case
    interleave_rows<kLanes, 4>(rows, c, n, out_row);
  else
    interleave_rows<kLanes, 0>(rows, c, n, out_row);
}

// Sampling tables of the patches of one work unit, reused across units by
// one thread: O(c*N) floats, never proportional to the object or output.
class UnitTables {
 public:
  UnitTables(const ExtractGeometry& g, int64_t patches_per_unit)
      : g_(g),
        col_index_(patches_per_unit * g.n),
        col_w0_(patches_per_unit * g.n * g.lanes),
        col_w1_(patches_per_unit * g.n * g.lanes),
        row_taps_(patches_per_unit * g.n),
        interior_columns_(patches_per_unit),
        row_buffer_(patches_per_unit * g.n * g.lanes) {}

  void build(int64_t k, float offset_x, float offset_y) {
    const int64_t n = g_.n;
    const int lanes = g_.lanes;
    interior_columns_[k] = column_taps(g_, offset_x, &col_index_[k * n], &col_w0_[k * n * lanes],
                                       &col_w1_[k * n * lanes]);
    for (int64_t y = 0; y < n; ++y) row_taps_[k * n + y] = math::axis_tap(y, offset_y);
  }

  // Row y of patch k of the unit, written contiguously to dst (N * lanes).
  void compute_row(const float* object, int64_t k, int64_t y, float* dst) const {
    const int64_t n = g_.n;
    const int lanes = g_.lanes;
    const AxisTap ty = row_taps_[k * n + y];
    const int64_t* index = &col_index_[k * n];
    const float* w0 = &col_w0_[k * n * lanes];
    const float* w1 = &col_w1_[k * n * lanes];
    if (interior_columns_[k] && math::inside(ty.index0, g_.half, g_.height) &&
        math::inside(ty.index0 + 1, g_.half, g_.height)) {
      const float* row0 =
          object + ((ty.index0 - g_.half) * g_.width + (index[0] - g_.half)) * lanes;
      blend_row(w0, w1, ty.w0, ty.w1, row0, row0 + g_.width * lanes, lanes, dst, n * lanes);
      return;
    }
    for (int64_t x = 0; x < n; ++x) {
      const AxisTap tx{index[x], w0[x * lanes], w1[x * lanes]};
      if (lanes == 2)
        math::sample_pixel<2>(object, g_.height, g_.width, g_.half, tx, ty, dst + 2 * x);
      else
        math::sample_pixel<1>(object, g_.height, g_.width, g_.half, tx, ty, dst + x);
    }
  }

  float* row_buffer() { return row_buffer_.data(); }

 private:
  const ExtractGeometry& g_;
  std::vector<int64_t> col_index_;
  std::vector<float> col_w0_;
  std::vector<float> col_w1_;
  std::vector<AxisTap> row_taps_;
  std::vector<char> interior_columns_;
  std::vector<float> row_buffer_;
};

}  // namespace

template <class Offsets>
void extract(const ExtractGeometry& g, const float* object, const Offsets& offsets,
             int64_t num_patches, float* patches, int32_t num_threads, const Progress& progress) {
  // In the channel layout with c > 1 the c patches of a group interleave in
  // memory, so a group is one unit of work and its rows are computed patch
  // by patch into a buffer, then interleaved. Otherwise a patch is a unit
  // and its rows are written in place.
  const bool interleave = g.channel_layout && g.group_size > 1;
  const int64_t per_unit = interleave ? g.group_size : 1;
  const int64_t units = num_patches / per_unit;
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, units)));
  const int64_t n = g.n;
  const int lanes = g.lanes;
  const int64_t row_floats = n * lanes;

  // One set of tables per participant (slot).
  std::vector<UnitTables> tables;
  tables.reserve(threads);
  for (int t = 0; t < threads; ++t) tables.emplace_back(g, per_unit);

  // Units [unit_begin, unit_end): all of them in one pass without a
  // progress callback, else chunk by chunk. Grains of 4 units: a helper the
  // machine deschedules holds back at most 4 patches.
  const auto run_units = [&](int64_t unit_begin, int64_t unit_end) {
    parallel_for(threads, unit_begin, unit_end, 4, [&](int64_t unit, int slot) {
      const IeeeSubnormals ieee;
      UnitTables& t = tables[slot];
      const int64_t first = unit * per_unit;
      for (int64_t k = 0; k < per_unit; ++k) {
        float ox = 0.0f;
        float oy = 0.0f;
        offsets.get(first + k, ox, oy);
        t.build(k, ox, oy);
      }
      if (!interleave) {
        float* out = patches + first * n * row_floats;
        for (int64_t y = 0; y < n; ++y) t.compute_row(object, 0, y, out + y * row_floats);
        return;
      }
      const int64_t c = g.group_size;
      float* rows = t.row_buffer();
      for (int64_t y = 0; y < n; ++y) {
        for (int64_t k = 0; k < c; ++k) t.compute_row(object, k, y, rows + k * row_floats);
        float* out_row = patches + math::output_index(true, first, y, 0, n, c) * lanes;
        if (lanes == 2)
          interleave_group_rows<2>(rows, c, n, out_row);
        else
          interleave_group_rows<1>(rows, c, n, out_row);
      }
    });
  };
  // Chunks of whole groups: a unit is a group or a patch.
  const int64_t units_per_group = g.group_size / per_unit;
  run_in_chunks(progress, units, units_per_group, run_units,
                [&](int64_t unit_end) { return unit_end * per_unit; });
}

template void extract(const ExtractGeometry&, const float*, const math::PairOffsets<float>&,
                      int64_t, float*, int32_t, const Progress&);
template void extract(const ExtractGeometry&, const float*, const math::PairOffsets<double>&,
                      int64_t, float*, int32_t, const Progress&);
template void extract(const ExtractGeometry&, const float*, const math::LegacyOffsets<float>&,
                      int64_t, float*, int32_t, const Progress&);
template void extract(const ExtractGeometry&, const float*, const math::LegacyOffsets<double>&,
                      int64_t, float*, int32_t, const Progress&);

}  // namespace ptychopatch::impl::cpu
