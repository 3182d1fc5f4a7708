// The last step of PTP_ALIGN_VERIFY_REFINE (the default): the correlations'
// shift polished by least squares on smoothed luminance or colour images of
// the two frames. A correlation peak is only as sharp as the scene: on blurred
// noisy frames it wanders by pixels while the frames fix the shift to a
// fraction of one (docs/notes/alignment.md, "What an efficient estimator
// would get").
//
// Model: reference_c(y, x) = a * frame_c(y - dy, x - dx) + b_c for every image
// c (one shift and gain, an offset per image), fitted by Gauss-Newton coarse to
// fine at sigma ~11, ~6.5 and ~3.5 sensor pixels, then weighted by Tukey's
// biweight; samples where one frame clips what the other shows are left out.
// The full rule (windows, cuts, images, variance): docs/semantics.md, "Polish",
// "Clipped sites", "Robust weights", "Match" and "Moves as a whole".
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
  // The share of clipped sites (clipped_fraction) around each sample, smoothed
  // alike; empty where no site of the images' planes is clipped.
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

// The full-resolution luminance image of `window` of a frame (height x
// width, `planes` planes: its channels without a pattern (period 1), else
// one mosaic): the mean of every plane's values in each period x period
// window, (rows - P + 1) x (cols - P + 1), row-major. The polish's
// luminance image of planes that all vary; the search over every shift
// reads it too.
std::vector<float> luminance_image(const void* frame, bool uint16, int64_t height, int64_t width,
                                   int64_t planes, int64_t period, const PolishWindow& window,
                                   int threads);

class LumaPolish {
 public:
  // The images fitted: one luminance image (the mean of the planes that
  // vary in both frames), or one image per colour (an offset per colour).
  enum Images { kLuminance = 0, kColours = 1 };
  // How much of the frames a polish reads. kThorough: a window of up to
  // kMaxWindow pixels a side, up to 2^14 samples per fit. kQuick: its centre,
  // up to kQuickWindow a side and kQuickSamples per fit, with a variance that
  // grows as it reads less (refine_crop polishes a doubted frame thoroughly).
  enum Effort { kThorough = 0, kQuick = 1 };

  // `threads`: the images are made and smoothed one per thread, and the
  // fit's sums taken in fixed bands of rows on up to that many threads
  // (summed in order: the same result on any number).
  explicit LumaPolish(const AlignGeometry& geometry, int threads = 1);

  // The reference frame (a validated frame of the plan), read in place: it must
  // stay valid and unchanged until the next set_reference (FineFits keeps
  // its copy). polish() makes and smooths each frame's cut of its window.
  void set_reference(const void* frame);

  // (dy, dx), the shift that registers `frame` to the reference in sensor
  // pixels (reference(y) ~ frame(y - shift)), polished in place, and the
  // variance of each axis' estimate (sensor pixels squared; calibrated on
  // the robustness benchmark, docs/performance.md). Returns false, leaving
  // them unchanged, where what both frames show under the shift is too
  // small for the finest scale, the least squares do not converge, the fit
  // anticorrelates the frames (a <= 0), or the polished shift lies more than
  // kMaxMove pixels from the given one on an axis (another peak, not a
  // polish). `images`: the luminance or the colour images (the same with one
  // colour). Keeps the frame's smoothed images for match() and warp(), also
  // where it fails (so match() can tell a frame of another scene). Except: a
  // colour fit that fails right after the same frame's luminance fit
  // converged keeps the luminance fit's, so warp() still checks that frame,
  // unless it had to smooth the luminance fit's reference images again.
  bool polish(const void* frame, double& dy, double& dx, double (&variance)[2],
              Images images = kColours, Effort effort = kThorough);

  // The correlation coefficient of the reference's and the last polished
  // frame's luminance images, smoothed at sigma ~6.5 pixels (the finest scale
  // on frames too small for it and after a kQuick polish), over what they
  // share under the shift (dy, dx) (within a few pixels of the last cut
  // polish() made); NaN where it cannot be computed (too few samples, a flat
  // image). Near 1 for frames of one scene even at high gain, near 0 for
  // another scene or noise (docs/notes/alignment.md, "What the threshold does not
  // catch").
  double match(double dy, double dx) const;

  // How the last polished frame's motion varies over the reference's window:
  // its shift fitted again on each 2 x 2 quadrant alone (from (dy, dx), within
  // a few pixels of the last cut polish() made; at the scale that gave each
  // axis' estimate), and the linear motion of those four estimates,
  // extrapolated to the frame's farthest corners. A frame that moved as a
  // whole shows only noise; rotation, scaling, parallax or a part of the scene
  // that moved on its own shows its motion.
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

  // Largest move of a polish per axis (sensor pixels): the correlations can lie
  // 14 pixels off on blurred noisy frames, and a polish only descends its own basin.
  static constexpr double kMaxMove = 24.0;
  // The reference's window side on larger frames (sensor pixels): the fit reads at most
  // 2^14 samples a scale, and smoothing a whole 6 MP frame cost a third of its alignment.
  static constexpr int64_t kMaxWindow = 1024;
  // On larger frames the window moves to the most detail where that has
  // kDetailGain times the centre's (window_of): a flat centre gives only noise
  // (docs/notes/alignment.md, "Large frames: the check's window, and detail away
  // from the centre").
  static constexpr double kDetailGain = 2.0;
  static constexpr int64_t kDetailBlock = 16;  // blocks of detail: about this side, whole periods
  // kQuick's window side (the thorough window's centre) and samples per fit: a
  // tenth of the thorough cost, the same crops right (docs/notes/alignment.md, "The
  // quick polish"); half the samples left twice as many noisy frames unfitted.
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
