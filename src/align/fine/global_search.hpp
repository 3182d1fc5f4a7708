// A search over every shift for where a frame matches the reference best,
// for PTP_ALIGN_VERIFY_REFINE (the default) to reconsider its result.
//
// Why: the correlations run under a Hann window, which weighs what the
// two frames share at a shift s by the window's own overlap there, so
// on small frames moved by a fifth of their side or more the content's
// peak sinks below an alias, or below the peak of what the windows share
// at no shift at all (a review: a 128-pixel rocket moved by (26, -13)
// came back as (-12, -12) at confidence 0.999, where what the frames share
// under that shift matched no better than under none; on 768 frames of
// 128 pixels moved by up to a quarter of their side, 19 crops wrong).
// The polish that follows descends from that peak, and its confidence is
// how well it placed that peak, not whether another lies elsewhere.
//
// What: both frames become one image each, smoothed (Gaussian sigma of
// about two of its pixels), the mean of every period x period window
// (the mosaic cancels) at every sensor pixel for frames up to kMaxGrid
// pixels a side, else the mean of blocks of `unit` sensor pixels (a
// multiple of the period: the mosaic cancels too) for at most kMaxGrid
// blocks a side, each block's first period of rows (block_sums.hpp: the
// smoothing spans blocks, and at 1 MP reading the frame was most of the
// search's time). For every shift under which the two images share at
// least kMinOverlap of their area, their correlation coefficient over what
// they share (mean and scale removed per shift: an exposure change between
// frames costs nothing): the sums of each image and its square over the
// shared rectangle from summed-area tables, the sum of products from one
// zero-padded FFT correlation.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace ptychopatch::impl {

struct AlignGeometry;

class GlobalSearch {
 public:
  // Images of at most this many pixels a side (a 252-pixel Bayer frame's
  // in blocks of 2: a search a quarter of the cost, the blocks' step
  // smoothed over).
  static constexpr int64_t kMaxGrid = 128;
  // The least share of the image area two images must share at a shift:
  // below it, few samples correlate by chance (smooth parts of two views
  // of a scene correlate at almost any small overlap).
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
