#include "align/fine/global_search.hpp"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "align/align_backend.hpp"
#include "align/fine/block_sums.hpp"
#include "align/fine/luma_polish.hpp"
#include "cpu/aligned_array.hpp"
#include "fft/real_fft_2d.hpp"

namespace ptychopatch::impl {
namespace {

// Three centred boxes of this width per axis, a Gaussian of sigma 2.45 image
// pixels: the coefficient varies smoothly between the shifts tried, and a
// high gain's photon noise averages out.
constexpr int64_t kBox = 5;
constexpr int kBoxPasses = 3;
// The fewest image pixels a side worth searching.
constexpr int64_t kMinSide = 16;

// The smallest n >= m whose only prime factors are 2, 3 and 5.
int64_t smooth_size(int64_t m) {
  for (int64_t n = std::max<int64_t>(m, 1);; ++n) {
    int64_t r = n;
    for (const int64_t p : {2, 3, 5})
      while (r % p == 0) r /= p;
    if (r == 1) return n;
  }
}

// The mean of the window of kBox centred on each element of every column
// of a rows x cols image, over the part of it that lies inside: each
// column's prefix sums, then their differences over the window, taken for
// all columns at once (a row at a time, which vectorises). Each column
// adds and divides as it would alone.
void centred_box_down(std::vector<double>& data, int64_t rows, int64_t cols) {
  const int64_t half = kBox / 2;
  std::vector<double> prefix(static_cast<size_t>((rows + 1) * cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      prefix[(r + 1) * cols + c] = prefix[r * cols + c] + data[r * cols + c];
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t lo = std::max<int64_t>(r - half, 0), hi = std::min(r + half + 1, rows);
    const double n = static_cast<double>(hi - lo);
    for (int64_t c = 0; c < cols; ++c)
      data[r * cols + c] = (prefix[hi * cols + c] - prefix[lo * cols + c]) / n;
  }
}

// out (cols x rows) = in (rows x cols) transposed.
void transpose(const std::vector<double>& in, int64_t rows, int64_t cols,
               std::vector<double>& out) {
  out.resize(in.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

// Summed-area table of a rows x cols image: (rows + 1) x (cols + 1), with
// table[(y + 1) (cols + 1) + x + 1] the sum of image[0..y][0..x]; of the
// squares with `square`.
void summed_area(const std::vector<double>& image, int64_t rows, int64_t cols, bool square,
                 std::vector<double>& table) {
  table.assign(static_cast<size_t>((rows + 1) * (cols + 1)), 0.0);
  for (int64_t y = 0; y < rows; ++y) {
    double row = 0.0;
    for (int64_t x = 0; x < cols; ++x) {
      const double v = image[y * cols + x];
      row += square ? v * v : v;
      table[(y + 1) * (cols + 1) + x + 1] = table[y * (cols + 1) + x + 1] + row;
    }
  }
}

// The sum over rows [top, top + h) and columns [left, left + w) from a
// summed-area table of an image `cols` wide.
double rectangle(const std::vector<double>& table, int64_t cols, int64_t top, int64_t left,
                 int64_t h, int64_t w) {
  const int64_t stride = cols + 1;
  return table[(top + h) * stride + left + w] - table[top * stride + left + w] -
         table[(top + h) * stride + left] + table[top * stride + left];
}

}  // namespace

struct GlobalSearch::Transforms {
  int64_t bins;
  cpu::AlignedArray<float> real;
  cpu::AlignedArray<fftwf_complex> reference, frame;
  cpu::RealFft2d fft;  // estimated: a few small transforms per frame, not worth measuring

  Transforms(int64_t rows, int64_t cols)
      : bins(rows * (cols / 2 + 1)),
        real(rows * cols),
        reference(bins),
        frame(bins),
        fft(cpu::FftShape::of(rows, cols), real.get(), frame.get(), nullptr,
            PTP_FFT_PLANNING_ESTIMATE, /*split=*/false, /*destroy_input=*/false) {}
};

GlobalSearch::GlobalSearch(const AlignGeometry& g)
    : height_(g.height),
      width_(g.width),
      channels_(g.channels),
      period_(std::max<int64_t>(g.period, 1)),
      uint16_(g.frame_dtype == PTP_DTYPE_UINT16) {
  const int64_t p = period_;
  sliding_ = std::max(height_, width_) - p + 1 <= kMaxGrid;
  if (sliding_) {
    unit_ = 1;
    rows_ = height_ - p + 1;
    cols_ = width_ - p + 1;
  } else {
    const int64_t blocks = (std::max(height_, width_) + p * kMaxGrid - 1) / (p * kMaxGrid);
    unit_ = p * blocks;
    rows_ = height_ / unit_;
    cols_ = width_ / unit_;
  }
  usable_ = rows_ >= kMinSide && cols_ >= kMinSide;
  if (!usable_) return;
  // Shifts that keep half the area shared lie within half a side per
  // axis; padded to a side and a half, no two of them alias (the linear
  // correlation reaches a side less one either way).
  padded_rows_ = smooth_size(rows_ + (rows_ + 1) / 2);
  padded_cols_ = smooth_size(cols_ + (cols_ + 1) / 2);
  transforms_ = std::make_unique<Transforms>(padded_rows_, padded_cols_);
}

GlobalSearch::~GlobalSearch() = default;

bool GlobalSearch::image_of(const void* frame, std::vector<double>& out) const {
  if (sliding_) {
    const std::vector<float> image = luminance_image(frame, uint16_, height_, width_, channels_,
                                                     period_, {0, 0, height_, width_}, 1);
    out.assign(image.begin(), image.end());
  } else {
    // Block means of one period of rows per block (each holds every
    // pattern site alike; the smoothing below spans blocks anyway).
    const int64_t u = unit_, p = period_;
    out = block_sums(frame, uint16_, channels_, height_, width_, u, p, 1);
    const double scale = 1.0 / static_cast<double>(p * u * channels_);
    for (double& v : out) v *= scale;
  }
  std::vector<double> across;
  for (int pass = 0; pass < kBoxPasses; ++pass) {
    transpose(out, rows_, cols_, across);  // along rows: down the transpose's columns
    centred_box_down(across, cols_, rows_);
    transpose(across, cols_, rows_, out);
    centred_box_down(out, rows_, cols_);  // along columns
  }
  // Standardised: mean 0, mean square 1 (scale-free sums below).
  double mean = 0.0;
  for (const double v : out) mean += v;
  mean /= static_cast<double>(out.size());
  double square = 0.0;
  for (double& v : out) {
    v -= mean;
    square += v * v;
  }
  const double rms = std::sqrt(square / static_cast<double>(out.size()));
  if (!(rms > 0.0) || !std::isfinite(rms)) return false;
  for (double& v : out) v /= rms;
  return true;
}

void GlobalSearch::transform(const std::vector<double>& image, void* spectrum) {
  Transforms& t = *transforms_;
  std::fill(t.real.get(), t.real.get() + padded_rows_ * padded_cols_, 0.0f);
  for (int64_t y = 0; y < rows_; ++y)
    for (int64_t x = 0; x < cols_; ++x)
      t.real.get()[y * padded_cols_ + x] = static_cast<float>(image[y * cols_ + x]);
  t.fft.forward(t.real.get(), static_cast<fftwf_complex*>(spectrum));
}

void GlobalSearch::set_reference(const void* frame) {
  have_reference_ = false;
  if (!usable_) return;
  std::vector<double> reference;
  if (!image_of(frame, reference)) return;
  summed_area(reference, rows_, cols_, false, reference_sums_);
  summed_area(reference, rows_, cols_, true, reference_squares_);
  transform(reference, transforms_->reference.get());
  have_reference_ = true;
}

GlobalSearch::Result GlobalSearch::best(const void* frame, double given_dy, double given_dx,
                                        int64_t bound_rows, int64_t bound_cols) {
  Result result;
  std::vector<double> image;
  if (!have_reference_ || !image_of(frame, image)) return result;
  std::vector<double> sums, squares;
  summed_area(image, rows_, cols_, false, sums);
  summed_area(image, rows_, cols_, true, squares);
  // sum_y reference(y) image(y - d) for every d: the inverse of
  // R(k) conj(M(k)), zero-padded so that no two shifts alias.
  Transforms& t = *transforms_;
  transform(image, t.frame.get());
  for (int64_t k = 0; k < t.bins; ++k) {
    const float ar = t.reference.get()[k][0], ai = t.reference.get()[k][1];
    const float br = t.frame.get()[k][0], bi = t.frame.get()[k][1];
    t.frame.get()[k][0] = ar * br + ai * bi;
    t.frame.get()[k][1] = ai * br - ar * bi;
  }
  t.fft.inverse(t.frame.get(), t.real.get());
  const double inverse_size = 1.0 / static_cast<double>(padded_rows_ * padded_cols_);
  const double least = kMinOverlap * static_cast<double>(rows_ * cols_);
  const int64_t reach_rows = bound_rows >= 0 ? bound_rows / unit_ : rows_ - 1;
  const int64_t reach_cols = bound_cols >= 0 ? bound_cols / unit_ : cols_ - 1;
  // The coefficient at shift (dy, dx) in image pixels; NaN where the
  // images share too little there, lie beyond the bound, or one is flat.
  const auto score = [&](int64_t dy, int64_t dx) -> double {
    if (std::llabs(dy) > std::min(reach_rows, rows_ / 2) ||
        std::llabs(dx) > std::min(reach_cols, cols_ / 2))
      return NAN;
    const int64_t h = rows_ - std::llabs(dy), w = cols_ - std::llabs(dx);
    const double n = static_cast<double>(h * w);
    if (n < least) return NAN;
    const int64_t ry = std::max<int64_t>(dy, 0), rx = std::max<int64_t>(dx, 0);
    const int64_t my = std::max<int64_t>(-dy, 0), mx = std::max<int64_t>(-dx, 0);
    const double sr = rectangle(reference_sums_, cols_, ry, rx, h, w);
    const double srr = rectangle(reference_squares_, cols_, ry, rx, h, w);
    const double sm = rectangle(sums, cols_, my, mx, h, w);
    const double smm = rectangle(squares, cols_, my, mx, h, w);
    const int64_t iy = (dy % padded_rows_ + padded_rows_) % padded_rows_;
    const int64_t ix = (dx % padded_cols_ + padded_cols_) % padded_cols_;
    const double srm = static_cast<double>(t.real.get()[iy * padded_cols_ + ix]) * inverse_size;
    const double vr = srr - sr * sr / n, vm = smm - sm * sm / n;
    // Flat there (to the float transform's rounding of the products).
    if (!(vr > 1e-6 * n) || !(vm > 1e-6 * n)) return NAN;
    return std::clamp((srm - sr * sm / n) / std::sqrt(vr * vm), -1.0, 1.0);
  };
  double best_score = -HUGE_VAL;
  int64_t best_dy = 0, best_dx = 0;
  for (int64_t dy = -(rows_ / 2); dy <= rows_ / 2; ++dy)
    for (int64_t dx = -(cols_ / 2); dx <= cols_ / 2; ++dx) {
      const double s = score(dy, dx);
      if (s > best_score) {
        best_score = s;
        best_dy = dy;
        best_dx = dx;
      }
    }
  if (!(best_score > -HUGE_VAL)) return result;
  result.found = true;
  result.dy = static_cast<double>(best_dy * unit_);
  result.dx = static_cast<double>(best_dx * unit_);
  result.score = best_score;
  // A parabola through the best score and its two neighbours per axis; at a
  // neighbour without a score, or no peak, the best shift itself.
  const auto vertex = [&](int64_t ay, int64_t ax) {
    const double before = score(best_dy - ay, best_dx - ax);
    const double after = score(best_dy + ay, best_dx + ax);
    const double curvature = before - 2.0 * best_score + after;
    if (!std::isfinite(curvature) || !(curvature < 0.0)) return 0.0;
    return std::clamp(0.5 * (before - after) / curvature, -0.5, 0.5);
  };
  result.peak[0] = (static_cast<double>(best_dy) + vertex(1, 0)) * static_cast<double>(unit_);
  result.peak[1] = (static_cast<double>(best_dx) + vertex(0, 1)) * static_cast<double>(unit_);
  // Bilinear between the four shifts tried around the given one.
  const double gy = given_dy / static_cast<double>(unit_),
               gx = given_dx / static_cast<double>(unit_);
  if (!std::isfinite(gy) || !std::isfinite(gx) || std::fabs(gy) > static_cast<double>(rows_) ||
      std::fabs(gx) > static_cast<double>(cols_)) {
    result.score_at_given = NAN;
    return result;
  }
  const auto y0 = static_cast<int64_t>(std::floor(gy)), x0 = static_cast<int64_t>(std::floor(gx));
  const double fy = gy - static_cast<double>(y0), fx = gx - static_cast<double>(x0);
  double sum = 0.0;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      const double weight = (i ? fy : 1.0 - fy) * (j ? fx : 1.0 - fx);
      if (weight > 0.0) sum += weight * score(y0 + i, x0 + j);  // NaN stays NaN
    }
  result.score_at_given = sum;
  return result;
}

}  // namespace ptychopatch::impl
