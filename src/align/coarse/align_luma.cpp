#include "align/coarse/align_luma.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "align/prepare/varying_planes.hpp"
#include "core/headroom.hpp"
#include "core/parallel_work.hpp"
#include "core/thread_pool.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "cpu/vector_lanes.hpp"
#include "math/luma_math.hpp"

namespace ptychopatch::impl {
namespace {

using cpu::Doubles4;
using cpu::Floats4;
using cpu::load_lanes;
using cpu::store_lanes;

// Images per call of the inner backend: as many as fit in these bytes, and at least
// one per thread where those fit in four times that; at least one.
constexpr int64_t kChunkBytes = int64_t{256} << 20;

int32_t count_planes(const LumaPlanes& set) {
  return static_cast<int32_t>(std::count(set.begin(), set.end(), char{1}));
}

// out[j] = ((0 + tap[0] x[s j]) + tap[1] x[s j + 1]) + ... over `window` taps, in Sum:
// math::window_mean's order, a tap at a time over the whole row (one pass per tap vectorises).
template <class In, class Sum>
inline __attribute__((always_inline)) void tap_row(const In* __restrict x, int64_t n,
                                                   int64_t stride, int64_t window, const int* tap,
                                                   Sum* __restrict out) {
  std::fill(out, out + n, Sum{0});
  for (int64_t b = 0; b < window; ++b) {
    const Sum weight = static_cast<Sum>(tap[b]);
    const In* in = x + b;
    if (stride == 2) {  // Bayer's stride, a constant the loop vectorises with
      for (int64_t j = 0; j < n; ++j) out[j] += weight * static_cast<Sum>(in[2 * j]);
    } else {
      for (int64_t j = 0; j < n; ++j) out[j] += weight * static_cast<Sum>(in[stride * j]);
    }
  }
}

// As functions (target_clones takes no templates), per frame and sum type.
#define PTP_LUMA_TAPS(In, Sum)                                                          \
  PTP_ROW_KERNEL_CLONES void taps_along_row(const In* x, int64_t n, int64_t stride,     \
                                            int64_t window, const int* tap, Sum* out) { \
    tap_row(x, n, stride, window, tap, out);                                            \
  }
PTP_LUMA_TAPS(float, double)
PTP_LUMA_TAPS(double, double)
PTP_LUMA_TAPS(uint16_t, int32_t)
PTP_LUMA_TAPS(int32_t, int32_t)
#undef PTP_LUMA_TAPS

// out[j] = fl32(((0 + tap[0] rows[0][j]) + tap[1] rows[1][j]) + ... over `window` rows, times
// scale), the window's order (math::window_mean); Bayer's three rows in one pass, others a tap
// at a time over the row into column[].
#define PTP_LUMA_ROW_TAPS(Sum)                                                                   \
  PTP_ROW_KERNEL_CLONES void taps_across_rows(const Sum* const* rows, int64_t n, int64_t window, \
                                              const int* tap, double scale,                      \
                                              Sum* __restrict column, float* __restrict out) {   \
    if (window == 3) {                                                                           \
      const Sum t0 = static_cast<Sum>(tap[0]), t1 = static_cast<Sum>(tap[1]),                    \
                t2 = static_cast<Sum>(tap[2]);                                                   \
      const Sum* __restrict r0 = rows[0], * __restrict r1 = rows[1], * __restrict r2 = rows[2];  \
      for (int64_t j = 0; j < n; ++j) {                                                          \
        const Sum sum = ((Sum{0} + t0 * r0[j]) + t1 * r1[j]) + t2 * r2[j];                       \
        out[j] = static_cast<float>(math::mul_rn(static_cast<double>(sum), scale));              \
      }                                                                                          \
      return;                                                                                    \
    }                                                                                            \
    std::fill(column, column + n, Sum{0});                                                       \
    for (int64_t a = 0; a < window; ++a) {                                                       \
      const Sum weight = static_cast<Sum>(tap[a]);                                               \
      const Sum* __restrict in = rows[a];                                                        \
      for (int64_t j = 0; j < n; ++j) column[j] += weight * in[j];                               \
    }                                                                                            \
    for (int64_t j = 0; j < n; ++j)                                                              \
      out[j] = static_cast<float>(math::mul_rn(static_cast<double>(column[j]), scale));          \
  }
PTP_LUMA_ROW_TAPS(double)
PTP_LUMA_ROW_TAPS(int32_t)
#undef PTP_LUMA_ROW_TAPS

// The row's sums of the trend (math::add_to_row_sums) in math::fold_trend_lanes' tree: lane k
// adds columns k, k + 32, ... in column order, four lanes a vector; then the lanes fold.
PTP_ROW_KERNEL_CLONES
math::TrendRowSums trend_row_sums(const float* __restrict l, int64_t n, const double* __restrict b,
                                  const double* __restrict r) {
  constexpr int kVectors = math::kTrendLanes / 4;
  Doubles4 sum[kVectors] = {}, by_b[kVectors] = {}, by_r[kVectors] = {};
  int64_t j0 = 0;
  for (; j0 + math::kTrendLanes <= n; j0 += math::kTrendLanes)
    for (int v = 0; v < kVectors; ++v) {
      Floats4 x;
      Doubles4 bv, rv;
      load_lanes(x, l + j0 + 4 * v);
      load_lanes(bv, b + j0 + 4 * v);
      load_lanes(rv, r + j0 + 4 * v);
      const Doubles4 value = PTP_WIDEN4(x);
      sum[v] += value;
      by_b[v] += bv * value;
      by_r[v] += rv * value;
    }
  math::TrendRowSums lanes[math::kTrendLanes];
  for (int k = 0; k < math::kTrendLanes; ++k)
    lanes[k] = {sum[k / 4][k % 4], by_b[k / 4][k % 4], by_r[k / 4][k % 4]};
  for (int64_t k = 0; j0 + k < n; ++k)
    math::add_to_row_sums(lanes[k], l[j0 + k], b[j0 + k], r[j0 + k]);
  math::fold_trend_lanes(lanes);
  return lanes[0];
}

// Four lanes of math::trend_residual(t, row, l[j], b[j], r[j]) from column j, `value` the
// image's l[j .. j + 3] in double.
inline __attribute__((always_inline)) void trend_residual4(const math::Trend& t,
                                                           const math::TrendRow& row,
                                                           const Doubles4& value, const double* b,
                                                           const double* r, int64_t j,
                                                           Doubles4& out) {
  Doubles4 bv, rv;
  load_lanes(bv, b + j);
  load_lanes(rv, r + j);
  out = value - ((row.row + row.slope * bv) + t.c[5] * rv);
}

// Raises *value to max |l[j]| and *residual to max |math::trend_residual| over the row.
PTP_ROW_KERNEL_CLONES
void trend_row_tops(const float* __restrict l, int64_t n, const math::Trend& t,
                    const math::TrendRow& row, const double* __restrict b,
                    const double* __restrict r, double* value, double* residual) {
  Doubles4 top_value = {}, top_residual = {};
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    Floats4 x;
    load_lanes(x, l + j);
    const Doubles4 value = PTP_WIDEN4(x);
    Doubles4 res;
    trend_residual4(t, row, value, b, r, j, res);
    top_value = PTP_MAX_LANES(top_value, PTP_ABS_DOUBLES4(value));
    top_residual = PTP_MAX_LANES(top_residual, PTP_ABS_DOUBLES4(res));
  }
  for (; j < n; ++j) {
    top_value[0] = std::max(top_value[0], std::fabs(static_cast<double>(l[j])));
    top_residual[0] =
        std::max(top_residual[0], std::fabs(math::trend_residual(t, row, l[j], b[j], r[j])));
  }
  for (int k = 0; k < 4; ++k) {
    *value = std::max(*value, top_value[k]);
    *residual = std::max(*residual, top_residual[k]);
  }
}

// l[j] = fl32(math::trend_residual(...) * scale) over the row.
PTP_ROW_KERNEL_CLONES
void subtract_trend_row(float* __restrict l, int64_t n, const math::Trend& t,
                        const math::TrendRow& row, const double* __restrict b,
                        const double* __restrict r, double scale) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    Floats4 x;
    load_lanes(x, l + j);
    Doubles4 res;
    trend_residual4(t, row, PTP_WIDEN4(x), b, r, j, res);
    store_lanes(l + j, PTP_NARROW4(res * scale));
  }
  for (; j < n; ++j)
    l[j] = static_cast<float>(math::mul_rn(math::trend_residual(t, row, l[j], b[j], r[j]), scale));
}

}  // namespace

class LumaImages::Impl {
 public:
  Impl(const AlignGeometry& g, int32_t threads)
      : g_(g),
        threads_(std::max<int32_t>(1, threads)),
        ny_(g.plane_height),
        nx_(g.plane_width),
        // Frame rows and columns the images read: the last window ends at
        // s (ny - 1) + K (for channels, K = s = 1: the image's own).
        rows_read_(g.luma_stride * (g.plane_height - 1) + g.luma_window),
        cols_read_(g.luma_stride * (g.plane_width - 1) + g.luma_window) {
    row_a_.resize(static_cast<size_t>(ny_));
    row_q_.resize(row_a_.size());
    col_b_.resize(static_cast<size_t>(nx_));
    col_r_.resize(col_b_.size());
    math::trend_axis(ny_, row_a_.data(), row_q_.data());
    math::trend_axis(nx_, col_b_.data(), col_r_.data());
    na_ = math::trend_norm(ny_, false);
    nq_ = math::trend_norm(ny_, true);
    nb_ = math::trend_norm(nx_, false);
    nr_ = math::trend_norm(nx_, true);
  }

  // The planes of `frame` that are not constant over what the images read.
  // (By element type: a byte copy of a frame must come through here.)
  LumaPlanes informative_planes(const void* frame) const {
    if (g_.frame_dtype == PTP_DTYPE_UINT16)
      return informative_planes_of(static_cast<const uint16_t*>(frame));
    return informative_planes_of(static_cast<const float*>(frame));
  }

  template <class T>
  LumaPlanes informative_planes_of(const T* x) const {
    const int64_t planes = g_.planes;
    const int64_t period = g_.period;
    LumaPlanes differs(static_cast<size_t>(planes), 0);
    if (g_.cfa == PTP_CFA_NONE) {
      // Channel c: the image's ny x nx pixels of it.
      for (int64_t c = 0; c < planes; ++c) {
        const T* channel = x + c * g_.height * g_.width;
        const T first = channel[0];
        for (int64_t i = 0; i < ny_ && !differs[c]; ++i)
          for (int64_t j = 0; j < nx_; ++j)
            if (channel[i * g_.width + j] != first) {
              differs[c] = 1;
              break;
            }
      }
      return differs;
    }
    // Pattern position (r, b): frame[r::P, b::P] within the area read. The top rows first:
    // on real frames every position varies there, and the rest need not be read.
    {
      const LumaPlanes top =
          varying_planes(x, 0, g_.width, 0, 0, std::min<int64_t>(rows_read_, 8 * period),
                         cols_read_, period, planes);
      if (std::find(top.begin(), top.end(), char{0}) == top.end()) return top;
    }
    // Rows in parallel, one flag set per thread.
    const int threads = threads_for_work(static_cast<int>(std::min<int64_t>(threads_, rows_read_)),
                                         rows_read_ * cols_read_);
    std::vector<LumaPlanes> found(static_cast<size_t>(threads), LumaPlanes(differs.size(), 0));
    parallel_for(threads, 0, rows_read_, 16, [&](int64_t i, int slot) {
      LumaPlanes& mine = found[slot];
      const T* row = x + i * g_.width;
      const int64_t r = i % period;
      for (int64_t b = 0; b < period; ++b) {
        const int64_t p = r * period + b;
        const T first = x[r * g_.width + b];
        bool same = true;
        for (int64_t j = b; j < cols_read_; j += period) same &= row[j] == first;
        if (!same) mine[p] = 1;
      }
    });
    for (const LumaPlanes& mine : found)
      for (int64_t p = 0; p < planes; ++p) differs[p] |= mine[p];
    return differs;
  }

  void make(const void* frame, const LumaPlanes& planes, float* out) const {
    if (g_.frame_dtype == PTP_DTYPE_UINT16)
      box_means(static_cast<const uint16_t*>(frame), planes, out);
    else
      box_means(static_cast<const float*>(frame), planes, out);
    remove_trend(out);
  }

  // out(i, j) = fl32(the luma_tap weighted mean of the K x K window at (i, j) over the sites
  // of `planes`, the others counted as 0: math::window_mean), or for channels the mean over
  // the channels of `planes` at (i, j). Computed in double, or exactly in integers.
  template <class T>
  void box_means(const T* x, const LumaPlanes& planes, float* out) const {
    const int64_t period = g_.period;
    const auto* use = reinterpret_cast<const unsigned char*>(planes.data());
    if (g_.cfa == PTP_CFA_NONE) {
      const int64_t channel = g_.height * g_.width;
      const int threads = threads_for_work(static_cast<int>(std::min<int64_t>(threads_, ny_)),
                                           ny_ * nx_ * g_.planes);
      parallel_for(threads, 0, ny_, 16, [&](int64_t i, int) {
        for (int64_t j = 0; j < nx_; ++j)
          out[i * nx_ + j] = math::channel_mean(x, channel, i * g_.width + j, g_.planes, use);
      });
      return;
    }
    // Image pixel (i, j) is the window at frame row s i, column s j (s the stride, K
    // the window). Per frame row r, the tap-weighted sums at the image's columns (other
    // planes' sites weighted 0) go into a ring of K rows (row r at r % K); image row i
    // adds rows s i .. s i + K - 1, each times its tap; a thread takes a band of rows.
    // uint16 frames add exactly in int32 (at most 36 x 65535 < 2^22), so with unit taps
    // running sums equal each window's sum; float32 frames and the Bayer (1, 2, 1)
    // taps add each window's terms in math::window_mean's order (b, then a).
    using Sum = std::conditional_t<std::is_same_v<T, uint16_t>, int32_t, double>;
    constexpr bool kExact = std::is_same_v<Sum, int32_t>;
    const int64_t stride = g_.luma_stride;
    const int64_t window = g_.luma_window;
    const bool running = kExact && window == period;  // uniform taps, exact sums
    int tap[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (int64_t a = 0; a < window; ++a) tap[a] = math::luma_tap(window, period, a);
    const int tap_sum = math::luma_tap_sum(window, period);
    const double scale = 1.0 / static_cast<double>(tap_sum * tap_sum);
    const int64_t band = 32;
    const int64_t bands = (ny_ + band - 1) / band;
    const int threads = threads_for_work(static_cast<int>(std::min<int64_t>(threads_, bands)),
                                         rows_read_ * cols_read_);
    // Every participant's buffers (one per slot).
    struct Scratch {
      std::vector<Sum> weighted, ring, column;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(threads));
    for (Scratch& t : scratch) {
      t.weighted.resize(static_cast<size_t>(cols_read_));
      t.ring.resize(static_cast<size_t>(window * nx_));
      t.column.resize(static_cast<size_t>(nx_));
    }
    std::vector<char> keep(planes.begin(), planes.end());
    parallel_for(threads, 0, bands, 1, [&](int64_t k, int slot) {
      Scratch& t = scratch[slot];
      Sum* const ring = t.ring.data();
      Sum* const column = t.column.data();
      const auto row_sums = [&](int64_t r) {
        const T* row = x + r * g_.width;
        const char* sites = keep.data() + (r % period) * period;
        Sum* out_row = ring + (r % window) * nx_;
        const bool every_site = std::all_of(sites, sites + period, [](char s) { return s != 0; });
        if (!running && every_site) {
          taps_along_row(row, nx_, stride, window, tap, out_row);
          return;
        }
        Sum* w = t.weighted.data();
        if (every_site) {
          for (int64_t c = 0; c < cols_read_; ++c) w[c] = static_cast<Sum>(row[c]);
        } else {
          for (int64_t c0 = 0; c0 < cols_read_; c0 += period)
            for (int64_t b = 0; b < period && c0 + b < cols_read_; ++b)
              w[c0 + b] = sites[b] ? static_cast<Sum>(row[c0 + b]) : Sum{0};
        }
        if (running) {
          Sum sum = 0;
          for (int64_t b = 0; b < window; ++b) sum += w[b];
          out_row[0] = sum;
          for (int64_t j = 1; j < nx_; ++j) {
            const int64_t left = stride * (j - 1);
            for (int64_t b = 0; b < stride; ++b) sum += w[left + window + b] - w[left + b];
            out_row[j] = sum;
          }
        } else {
          taps_along_row(static_cast<const Sum*>(w), nx_, stride, window, tap, out_row);
        }
      };
      const auto add_row = [&](int64_t r, int sign) {
        const Sum* in = ring + (r % window) * nx_;
        for (int64_t j = 0; j < nx_; ++j) column[j] += sign > 0 ? in[j] : -in[j];
      };
      const int64_t i0 = k * band;
      const int64_t i1 = std::min(ny_, i0 + band);
      if (running) std::fill(column, column + nx_, Sum{0});
      for (int64_t a = 0; a < window; ++a) {
        row_sums(stride * i0 + a);
        if (running) add_row(stride * i0 + a, +1);
      }
      for (int64_t i = i0; i < i1; ++i) {
        if (i > i0) {
          // Rows s (i - 1) .. s i - 1 leave the ring; rows s (i - 1) + K .. s i + K - 1 enter.
          for (int64_t q = stride * (i - 1); q < stride * i; ++q) {
            if (running) add_row(q, -1);
            row_sums(q + window);
            if (running) add_row(q + window, +1);
          }
        }
        float* o = out + i * nx_;
        if (running) {
          for (int64_t j = 0; j < nx_; ++j)
            o[j] = static_cast<float>(math::mul_rn(static_cast<double>(column[j]), scale));
        } else {
          // Rows s i .. s i + K - 1, in that order (taps_across_rows): the same sums as
          // pixel by pixel, without a division per tap and pixel.
          const Sum* rows[8];
          for (int64_t a = 0; a < window; ++a) rows[a] = ring + ((stride * i + a) % window) * nx_;
          taps_across_rows(rows, nx_, window, tap, scale, column, o);
        }
      }
    });
  }

  // image -= its least-squares quadratic trend (math::trend_coefficients), in double,
  // rounded once; images under math::kTrendMinSide are kept. An image with nothing left
  // beyond rounding (math::kFlatLuma) becomes all zeros (no information). Values that
  // would reach 2^126 are scaled by a power of two (which leaves the estimate alone).
  void remove_trend(float* image) const {
    if (!math::luma_has_trend(ny_, nx_)) return;
    const int threads =
        threads_for_work(static_cast<int>(std::min<int64_t>(threads_, ny_)), ny_ * nx_);
    // Per row: sum L, sum b L, sum r L; then weighted by a, q in row order (any thread count).
    std::vector<math::TrendRowSums> rows(static_cast<size_t>(ny_));
    parallel_for(threads, 0, ny_, 16, [&](int64_t i, int) {
      rows[i] = trend_row_sums(image + i * nx_, nx_, col_b_.data(), col_r_.data());
    });
    double sums[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (int64_t i = 0; i < ny_; ++i)
      math::add_row_to_trend_sums(sums, rows[i], row_a_[i], row_q_[i]);
    const math::Trend trend = math::trend_coefficients(sums, ny_, nx_, na_, nq_, nb_, nr_);
    // The residual's and the image's largest magnitudes, per row.
    std::vector<double> top_residual(static_cast<size_t>(ny_), 0.0), top_value(rows.size(), 0.0);
    parallel_for(threads, 0, ny_, 16, [&](int64_t i, int) {
      trend_row_tops(image + i * nx_, nx_, trend, math::trend_row(trend, row_a_[i], row_q_[i]),
                     col_b_.data(), col_r_.data(), &top_value[i], &top_residual[i]);
    });
    const double residual = *std::max_element(top_residual.begin(), top_residual.end());
    const double value = *std::max_element(top_value.begin(), top_value.end());
    if (!math::luma_informative(residual, value)) {
      std::fill(image, image + ny_ * nx_, 0.0f);
      return;
    }
    const double scale = std::ldexp(1.0, -math::luma_scale_exponent(residual));
    parallel_for(threads, 0, ny_, 16, [&](int64_t i, int) {
      subtract_trend_row(image + i * nx_, nx_, trend, math::trend_row(trend, row_a_[i], row_q_[i]),
                         col_b_.data(), col_r_.data(), scale);
    });
  }

 private:
  AlignGeometry g_;
  int32_t threads_;
  int64_t ny_;
  int64_t nx_;
  int64_t rows_read_;
  int64_t cols_read_;
  // The trend's basis along the rows (a, q) and columns (b, r), and their sums of squares.
  std::vector<double> row_a_, row_q_, col_b_, col_r_;
  double na_ = 0.0, nq_ = 0.0, nb_ = 0.0, nr_ = 0.0;
};

LumaImages::LumaImages(const AlignGeometry& g, int32_t threads)
    : impl_(std::make_unique<Impl>(g, threads)) {}

LumaImages::~LumaImages() = default;

LumaPlanes LumaImages::informative_planes(const void* frame) const {
  return impl_->informative_planes(frame);
}

void LumaImages::make(const void* frame, const LumaPlanes& planes, float* out) const {
  impl_->make(frame, planes, out);
}

namespace {

class LumaAlignBackend final : public AlignBackend {
 public:
  LumaAlignBackend(const AlignGeometry& g, std::unique_ptr<AlignBackend> inner, int32_t threads)
      : g_(g),
        inner_(std::move(inner)),
        threads_(std::max<int32_t>(1, threads)),
        ny_(g.plane_height),
        nx_(g.plane_width),
        on_device_(inner_->makes_luma_images()),
        images_(g, threads) {}

  // Reads the frame in place: the plan's copy, unchanged until it sets another
  // (align_plan.cpp, apply_reference), so no second copy of a frame is made.
  void set_reference(const void* frame) override {
    reference_ = frame;
    reference_planes_ = images_.informative_planes(frame);
    use_reference(reference_planes_);
  }

  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    const int64_t image_bytes = ny_ * nx_ * static_cast<int64_t>(sizeof(float));
    const int64_t fit = std::max<int64_t>(1, kChunkBytes / image_bytes);
    // An on-device image maker takes a whole run's raw frames at once (it batches uploads).
    const int64_t chunk =
        on_device_
            ? std::max<int64_t>(1, num_frames)
            : std::max<int64_t>(
                  1, std::min(num_frames, std::max(fit, std::min<int64_t>(threads_, 4 * fit))));
    if (!on_device_) {
      require_headroom(static_cast<size_t>(chunk * image_bytes),
                       std::to_string(chunk) + " luminance images");
      while (static_cast<int64_t>(frame_images_.size()) < chunk)
        frame_images_.push_back(new_image());
    }
    std::vector<const void*> pointers(static_cast<size_t>(chunk));
    std::vector<LumaPlanes> sets(static_cast<size_t>(chunk));
    for (int64_t f0 = 0; f0 < num_frames; f0 += chunk) {
      const int64_t n = std::min(chunk, num_frames - f0);
      for (int64_t k = 0; k < n; ++k) {
        sets[k] = images_.informative_planes(frames[f0 + k]);
        for (size_t p = 0; p < sets[k].size(); ++p) sets[k][p] &= reference_planes_[p];
      }
      // Runs of frames with the same planes, in order (progress is reported in order).
      for (int64_t k0 = 0; k0 < n;) {
        int64_t k1 = k0 + 1;
        while (k1 < n && sets[k1] == sets[k0]) ++k1;
        const int64_t first = f0 + k0;
        const int32_t used = count_planes(sets[k0]);
        if (used == 0) {
          for (int64_t k = k0; k < k1; ++k) {
            results[f0 + k] = {0.0, 0.0, 0.0, 0};
            if (!keep_going(f0 + k + 1)) return f0 + k + 1;
          }
          k0 = k1;
          continue;
        }
        if (sets[k0] != current_planes_) use_reference(sets[k0]);
        for (int64_t k = k0; k < k1; ++k) {
          if (on_device_) {
            pointers[k] = frames[f0 + k];  // the inner backend makes the image
          } else {
            images_.make(frames[f0 + k], sets[k0], frame_images_[k].get());
            pointers[k] = frame_images_[k].get();
          }
        }
        // A stop on the run's last frame ends the call too (nothing left for the inner backend).
        bool stopped = false;
        const int64_t done =
            inner_->align(pointers.data() + k0, k1 - k0, results + first, [&](int64_t d) {
              if (keep_going(first + d)) return true;
              stopped = true;
              return false;
            });
        for (int64_t k = 0; k < done; ++k)
          results[first + k].planes_used = results[first + k].planes_used > 0 ? used : 0;
        if (stopped || done < k1 - k0) return first + done;
        k0 = k1;
      }
    }
    return num_frames;
  }

 private:
  // An uninitialised image buffer (make writes every value), kept for the plan's later calls.
  std::unique_ptr<float[]> new_image() const {
    return std::unique_ptr<float[]>(new float[static_cast<size_t>(ny_ * nx_)]);
  }

  // Sets the inner backend's reference: the reference frame's image of `planes`.
  void use_reference(const LumaPlanes& planes) {
    current_planes_.clear();  // no usable inner reference until it is set
    if (on_device_) {
      inner_->set_luma_planes(planes);
      inner_->set_reference(reference_);
    } else {
      if (!reference_image_) reference_image_ = new_image();
      images_.make(reference_, planes, reference_image_.get());
      inner_->set_reference(reference_image_.get());
    }
    current_planes_ = planes;
  }

  AlignGeometry g_;
  std::unique_ptr<AlignBackend> inner_;
  int32_t threads_;
  int64_t ny_;
  int64_t nx_;
  // The inner backend (GPU) makes the images from the raw frames; else they are made here.
  bool on_device_;
  LumaImages images_;
  const void* reference_ = nullptr;  // the reference frame (set_reference)
  std::unique_ptr<float[]> reference_image_;
  std::vector<std::unique_ptr<float[]>> frame_images_;  // the frames' images, a chunk's
  LumaPlanes reference_planes_;
  LumaPlanes current_planes_;  // the planes of the inner backend's reference image
};

}  // namespace

AlignGeometry luma_image_geometry(const AlignGeometry& g) {
  AlignGeometry inner = g;
  inner.height = g.plane_height;
  inner.width = g.plane_width;
  inner.channels = 1;
  inner.period = 1;
  inner.planes = 1;
  inner.frame_dtype = PTP_DTYPE_FLOAT32;
  inner.cfa = PTP_CFA_NONE;
  inner.luma = false;
  inner.snap = false;
  inner.crop_offsets = {{0, 0}};
  return inner;
}

std::unique_ptr<AlignBackend> make_luma_align_backend(const AlignGeometry& g,
                                                      std::unique_ptr<AlignBackend> inner,
                                                      int32_t num_threads) {
  return std::make_unique<LumaAlignBackend>(g, std::move(inner), num_threads);
}

}  // namespace ptychopatch::impl
