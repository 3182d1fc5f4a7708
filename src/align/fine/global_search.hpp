// The search over every shift (docs/semantics.md, "Search over every
// shift"), with which the fine stage reconsiders a result: under the Hann
// window the peak of a frame moved by a fifth of its side or more can sink
// below an alias's, and the polish places the peak it is given.
//
// Both frames become one smoothed image each: the full-resolution
// luminance image (luminance_image, luma_polish.hpp) of frames up to
// kMaxGrid pixels a side, else block means of `unit` sensor pixels
// (block_sums.hpp). For every shift under which the images share at least
// kMinOverlap of their area, their correlation coefficient over what they
// share (mean and scale removed per shift): sums and squares from
// summed-area tables, products from one zero-padded FFT correlation.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace ptychopatch::impl {

struct AlignGeometry;

class GlobalSearch {
 public:
  // Images of at most this many pixels a side: a 252-pixel Bayer frame's
  // in blocks of 2 costs a quarter, the blocks' step smoothed over.
  static constexpr int64_t kMaxGrid = 128;
  // The least shared area: smooth parts of two views correlate at almost
  // any small overlap.
  static constexpr double kMinOverlap = 0.5;

  explicit GlobalSearch(const AlignGeometry& geometry);
  ~GlobalSearch();
  GlobalSearch(const GlobalSearch&) = delete;
  GlobalSearch& operator=(const GlobalSearch&) = delete;

  // Whether frames of the geometry are large enough to search (images of
  // at least 16 pixels a side).
  bool usable() const { return usable_; }
  // Sensor pixels per pixel of the images (the step between shifts tried).
  int64_t unit() const { return unit_; }

  // The reference frame (a validated frame of the plan); read here, not
  // kept.
  void set_reference(const void* frame);

  struct Result {
    bool found = false;
    // The best shift (sensor pixels; reference(y) ~ frame(y - shift)) and
    // its correlation coefficient.
    double dy = 0.0, dx = 0.0, score = 0.0;
    // That shift refined by a parabola through its neighbours' scores per
    // axis (within half a step of it).
    double peak[2] = {0.0, 0.0};
    // The coefficient at the shift given to best(), interpolated between
    // the four shifts tried around it; NaN where any of them shares too
    // little or lies beyond the bound.
    double score_at_given = 0.0;
  };
  // The best shift for `frame` (a validated frame of the plan) with |dy|,
  // |dx| at most `bound_rows`, `bound_cols` sensor pixels (negative: no
  // bound), and the score at (given_dy, given_dx).
  Result best(const void* frame, double given_dy, double given_dx, int64_t bound_rows,
              int64_t bound_cols);

 private:
  struct Transforms;
  // The smoothed, standardised image of a frame (rows_ x cols_, row-major);
  // false where it is flat.
  bool image_of(const void* frame, std::vector<double>& out) const;
  // The half spectrum of an image zero-padded to the transforms' size, into
  // `spectrum` (an fftwf_complex array of the transforms).
  void transform(const std::vector<double>& image, void* spectrum);

  bool usable_ = false;
  int64_t height_, width_, channels_, period_;
  bool uint16_;
  bool sliding_;  // every sensor pixel (period window means), else blocks
  int64_t unit_ = 1;
  int64_t rows_ = 0, cols_ = 0;  // the images
  int64_t padded_rows_ = 0, padded_cols_ = 0;
  bool have_reference_ = false;
  // Summed-area tables of the reference's image and of its square
  // ((rows_ + 1) x (cols_ + 1)); its half spectrum is in transforms_.
  std::vector<double> reference_sums_, reference_squares_;
  std::unique_ptr<Transforms> transforms_;
};

}  // namespace ptychopatch::impl
