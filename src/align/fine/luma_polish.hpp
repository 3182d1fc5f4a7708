// The last step of PTP_ALIGN_VERIFY_REFINE (the default): the shift that
// the correlations found, polished by least squares on smoothed luminance
// or colour images of the two frames.
//
// Why: a correlation peak is only as sharp as the scene. On a blurred
// scene (Gaussian sigma 8-16 sensor pixels) with the photon noise of a
// high gain, the peaks of the Hann-windowed correlations wander by pixels
// (the robustness benchmark, Bayer sigma 16 at gain 1024: mean error 1.5
// pixels, 16 of 24 crops right), while the information in the frames
// fixes the shift to about 0.1-0.5 pixel (its Cramer-Rao bound there, the
// exposure's gain and offset unknown: benchmarks/bound_align_robustness.py).
// Smoothing removes the noise above the scene's own band, and least
// squares over every pixel the two frames share, with no window, come
// within 1.2-1.6 times that bound (mean error 0.2 pixel, 24 of 24 right in
// a numpy prototype); on luminance, at the bound of an estimator that
// sees no colour (docs/performance.md, "What an efficient estimator would
// get").
//
// The model: reference_c(y, x) = a * frame_c(y - dy, x - dx) + b_c for
// every image c, one shift and gain (a) for all, an offset per image.
// The images (Images): one luminance image, the mean of the pattern's
// sites in every period x period window (which weighs every site alike
// wherever it starts) or of the channels; or one image per colour of the
// pattern (red, green, blue; Bayer's two greens one colour) made of its
// sites the same way, or each channel. Either of the sites or channels
// that vary in both frames, so one clipped or dead in either is left out.
// They are cut from windows of the two frames that show the
// same part of the scene to within a pixel (cut to what both frames show
// under the whole-pixel shift nearest the estimate), smoothed by three
// centred box filters per axis (about Gaussian; cut at the images' edges,
// alike on both, so the borders are fitted too) at three scales, sigma
// ~11, ~6.5 and ~3.5 sensor pixels, each sampled every sigma / 3 pixels
// (no aliasing at that smoothing), coarse first. Gauss-Newton on
// (dy, dx, a) with each image's offset fitted exactly and Keys' cubic
// interpolation of the frame's images; the colours weighed by their sites
// per window (an image's noise variance goes as one over their number).
// Samples where one frame clips what the other shows (a brighter
// exposure, a GT that clips nowhere) are left out (kClipMismatch in
// luma_polish.cpp). Once those least squares converge at a scale, the fit goes on weighted
// by Tukey's biweight of each sample's residual (luma_polish.cpp,
// kTukey), so a part of the scene that moves on its own (a person, a
// car) is left out instead of pulling the shift toward its motion.
//
// Why colour images too: they see detail that the luminance image
// averages away. On the robustness benchmark's Bayer sigma 16 row, which
// the frames' information limits, they gave about 1.5 more right crops in
// 288 (docs/performance.md, "The polish fits colours where the crop is in
// doubt"). They cost three images' smoothing and fitting, so the caller
// (refine_crop) fits them only where the luminance fit leaves the crop
// in doubt.
//
// Why the borders: with "valid" boxes each image lost 3 sigma a side (18
// pixels at the middle scale), and on the robustness benchmark's blurred
// 252-pixel scenes much of the information lies there (Bayer sigma 16:
// 274-277 of 288 crops right with valid boxes, 280-283 now). Why the cut
// windows: boxes cut at the edges are not shift-equivariant, so the two
// images must be cut at the same content; and a frame moved circularly
// (np.roll) holds at its edge what the reference does not show, which
// the cut leaves out (boxes cut at the frames' own edges took a 128-pixel
// frame rolled by (2, -2) to (-3.9, 3.4)).
#pragma once

#include <cstdint>
#include <vector>

namespace ptychopatch::impl {

struct AlignGeometry;

// The colour images of a frame smoothed at one scale: per colour, values
// on a grid of `stride` sensor pixels (row-major, rows x cols).
struct SmoothedLuma {
  int64_t stride = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  double sigma = 0.0;  // of the smoothing, sensor pixels
  int64_t reach = 0;   // its boxes are cut within this many sensor pixels of an edge
  std::vector<std::vector<float>> colours;
  // The share of the pattern's sites clipped (clipped_fraction in
  // luma_polish.cpp) around each sample, smoothed alike; empty where no
  // site of the images' planes is clipped.
  std::vector<float> clipped;
  // Samples per fit at most (the grid is read every q-th point per axis
  // beyond it): the polish's effort (LumaPolish::Effort).
  double max_samples = 0.0;
};

// A window of a frame: rows x cols from (top, left).
struct PolishWindow {
  int64_t top = 0;
  int64_t left = 0;
  int64_t rows = 0;
  int64_t cols = 0;

  bool operator!=(const PolishWindow& o) const {
    return top != o.top || left != o.left || rows != o.rows || cols != o.cols;
  }
};

class LumaPolish {
 public:
  // The images fitted: one luminance image (the mean of the planes that
  // vary in both frames), or one image per colour (an offset per colour).
  enum Images { kLuminance = 0, kColours = 1 };
  // How much of the frames a polish reads. kThorough: a window of up to
  // kMaxWindow pixels a side, up to 2^16 samples per fit. kQuick: its
  // centre, up to kQuickWindow a side, up to kQuickSamples per fit; the
  // fit's variance grows as it reads less, so a frame whose crop it leaves
  // in doubt is polished again thoroughly (refine_crop's gate).
  enum Effort { kThorough = 0, kQuick = 1 };

  // `threads`: the images are made and smoothed one per thread, and the
  // fit's sums taken in fixed bands of rows on up to that many threads
  // (summed in order: the same result on any number).
  explicit LumaPolish(const AlignGeometry& geometry, int threads = 1);

  // The reference frame (a validated frame of the plan), which must stay
  // valid and unchanged until the next set_reference (CropVerifier keeps
  // its copy): each frame's cut of its window is made into colour images
  // and smoothed in polish().
  void set_reference(const void* frame);

  // (dy, dx), the shift that registers `frame` to the reference in sensor
  // pixels (reference(y) ~ frame(y - shift)), polished in place, and the
  // variance of each axis' estimate (sensor pixels squared; calibrated on
  // the robustness benchmark, docs/performance.md). Returns false, leaving
  // them unchanged, where what both frames show under the shift is too
  // small for the finest scale, the least squares do not
  // converge, the fit anticorrelates the frames (a <= 0), or the polished
  // shift lies more than kMaxMove pixels from the given one on an axis
  // (then it is another peak, not a polish). `images`: the luminance image
  // or the colour images (the same with one colour). Keeps the frame's
  // smoothed images for match() and warp(), also where it fails (match()
  // then tells a frame of another scene, whose fit fails, from the
  // reference's). Except: a fit of the colour images that fails right
  // after the luminance image's fit of the same frame converged keeps the
  // luminance fit's (before, warp() then had nothing to fit and that
  // frame's motion went unchecked: refine_crop fits the colours where the
  // luminance fit leaves the crop in doubt), unless it had to smooth the
  // luminance fit's reference images again.
  bool polish(const void* frame, double& dy, double& dx, double (&variance)[2],
              Images images = kColours, Effort effort = kThorough);

  // The correlation coefficient of the reference's and the last polished
  // frame's luminance images, smoothed at sigma ~6.5 pixels (the finest
  // scale on frames too small for it, and after a kQuick polish, which
  // makes no other), over what they share under the
  // shift (dy, dx) (within a few pixels of the last cut polish() made); NaN
  // where it cannot be computed (too few samples, a flat image). Frames of
  // one scene score near 1 even at high gain; frames of other scenes or of
  // noise near 0 (docs/performance.md, "Frames of another scene").
  double match(double dy, double dx) const;

  // How the last polished frame's motion varies over the reference's
  // window: its shift fitted again on each 2 x 2 quadrant of the window,
  // alone (from (dy, dx), within a few pixels of the last cut polish()
  // made; at the scale that gave polish() each axis' estimate), and the
  // linear motion those four estimates show, extrapolated to the frame's
  // farthest corners. A frame that moved as a whole shows none but noise;
  // a rotation, a change of scale (focus breathing), parallax or a part of
  // the scene that moved on its own shows its motion.
  struct Warp {
    bool fitted = false;  // every quadrant's fit converged
    // d shift[axis] / d position[along] (pixels per pixel; 0 rows, 1
    // columns), from the quadrants' estimates.
    double gradient[2][2] = {{0.0, 0.0}, {0.0, 0.0}};
    // Per axis, how far that motion moves the frame's farthest corner
    // from where the window's centre's shift puts it (sensor pixels), and
    // its standard deviation from the quadrants' variances.
    double deviation[2] = {0.0, 0.0};
    double deviation_sd[2] = {0.0, 0.0};
  };
  Warp warp(double dy, double dx) const;

  // The largest move of a polish per axis, in sensor pixels: on blurred
  // noisy frames the correlations' estimate can lie 14 pixels off (the
  // robustness benchmark's rocket at sigma 16, gain 1024: 2 of 32 frames
  // moved by (-4, 6) and (12, -8) lay 12.7 and 14 pixels off, and were
  // left wrong at 12). A polish descends from the estimate, so a larger
  // bound moves only estimates whose own basin lies that far.
  static constexpr double kMaxMove = 24.0;
  // The reference's window (its centre) on larger frames, per side in
  // sensor pixels: the fit reads at most 2^16 samples a scale anyway, and
  // a 6-megapixel frame's smoothing would cost a third of its alignment.
  static constexpr int64_t kMaxWindow = 1024;
  // On larger frames the window leaves the centre for the place of the
  // most detail where that has at least kDetailGain times the centre's
  // (window_of): a scene whose centre is smooth or flat (a sky, a wall)
  // gave the polish nothing but noise to fit there, and it moved right
  // estimates by up to 22 pixels (docs/performance.md, "Large frames:
  // the check's window, and detail away from the centre"). Detail is measured on blocks of about
  // kDetailBlock pixels (whole periods).
  static constexpr double kDetailGain = 2.0;
  static constexpr int64_t kDetailBlock = 16;
  // kQuick's window side (the thorough window's centre) and samples per
  // fit: on a textured 1 MP frame a tenth of the thorough polish's cost,
  // and on the robustness benchmark and its hard classes the same crops
  // right, none wrong at confidence >= 0.95 (docs/performance.md, "The
  // quick polish"). Half the samples saved 8 % more at 1 MP but left twice
  // as many noisy frames unfitted (QuickVarianceMatchesItsSpread: 4 of 24).
  static constexpr int64_t kQuickWindow = 256;
  static constexpr double kQuickSamples = 4096.0;

 private:
  // At most this many cuts of the windows per polish (prepare()).
  static constexpr int kMaxCuts = 3;

  // Pattern sites, or channels.
  int64_t planes() const { return period_ > 1 ? period_ * period_ : channels_; }
  // The groups of the planes `used` flags (one flag per plane), one per
  // image: kColours, per colour of the pattern its sites that are used, or
  // each used channel (colours with none left out); kLuminance, one group
  // of every used plane.
  std::vector<std::vector<int64_t>> colour_groups(const std::vector<char>& used,
                                                  Images images) const;
  // The colour images of `window` of a frame of the plan's dtype, one per
  // group, and which planes vary in that window.
  std::vector<std::vector<float>> colour_images_of(
      const void* frame, const PolishWindow& window,
      const std::vector<std::vector<int64_t>>& groups) const;
  std::vector<char> varying_of(const void* frame, const PolishWindow& window) const;
  // The reference's window (set_reference).
  PolishWindow window_of(const void* frame) const;
  std::vector<SmoothedLuma> smooth(std::vector<std::vector<float>> images,
                                   std::vector<float> clipped, int64_t rows, int64_t cols,
                                   Effort effort) const;
  // The share of clipped sites of the planes in `groups` in every
  // period x period window of `window` (as colour_images_of), or empty.
  std::vector<float> clipped_of(const void* frame, const PolishWindow& window,
                                const std::vector<std::vector<int64_t>>& groups) const;
  // The smoothed colour images of the reference's window and of the
  // frame's, each cut to what both frames show under the whole-pixel shift
  // (wy, wx), of the planes that vary in both; moving_ empty where the
  // scales do not fit or no plane varies in both.
  void prepare(const void* frame, int64_t wy, int64_t wx, Images images, Effort effort);
  // polish() itself, which leaves moving_ empty or another cut's where it
  // fails.
  bool polish_once(const void* frame, double& dy, double& dx, double (&variance)[2], Images images,
                   Effort effort);

  // The reference's smoothed images for one kind of images, kept while
  // the frames' cuts and planes are the same.
  struct ReferenceImages {
    uint64_t generation = 0;                   // counts the smoothings (polish())
    PolishWindow cut;                          // the part of the window they smooth
    std::vector<std::vector<int64_t>> groups;  // the planes of each image
    std::vector<double> luma_weights;          // each group's share of their planes
    std::vector<SmoothedLuma> scales;          // coarse first
  };

  int threads_;
  int64_t height_, width_, channels_, period_;
  bool uint16_;
  std::vector<int32_t> site_colours_;           // AlignGeometry::site_colours
  PolishWindow reference_windows_[2];           // indexed by Effort
  const void* reference_frame_ = nullptr;       // set_reference's frame
  std::vector<char> reference_varies_;          // its planes that vary there
  ReferenceImages references_[2][2];            // indexed by Effort, Images
  const ReferenceImages* reference_ = nullptr;  // the last prepared frame's
  std::vector<SmoothedLuma> moving_;            // the last prepared frame's
  // The frame and images of the last polish that converged, while moving_
  // still holds its images (polish()); null otherwise.
  const void* converged_frame_ = nullptr;
  Images converged_images_ = kLuminance;
  Effort converged_effort_ = kThorough;
  // The scale (index into moving_) that gave each axis' estimate of the
  // last polish that converged; -1 before one.
  int64_t best_scale_[2] = {-1, -1};
  double moving_offset_[2] = {0.0, 0.0};  // its window's start - the reference's
};

}  // namespace ptychopatch::impl
