#include "align/assess/assess.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "align/fine/fine_fits.hpp"

namespace ptychopatch::impl {
namespace {

// Sensor pixels beyond half a period within which a crop counts as right: else a frame moved by an
// odd number of pixels (between two crops, both right) would score 0.5 per axis.
constexpr double kCropTolerance = 0.25;
// The crop probability from which a crop is trusted, else PTP_ALIGN_FLAG_LOW_CONFIDENCE
// (docs/performance.md, "Confidence: the crop probability").
constexpr double kTrustedCrop = 0.95;
// The least match (FineFits::match) of a frame of the reference's scene, else confidence 0
// and a note: right crops scored >= 0.989, noise <= 0.30 (docs/notes/alignment.md, "The match
// check").
constexpr double kMinMatch = 0.5;
// Not a translation (FineFits::warp) where the quadrants' linear motion moves the farthest
// corner on an axis more than kWarpPixels (a Bayer period) and kWarpSigmas standard deviations
// off: confidence 0 and a note. Translated benchmark frames reached 1.9 pixels at 6 sigmas
// (docs/notes/alignment.md, "Frames that do not move as a whole").
constexpr double kWarpPixels = 2.0;
constexpr double kWarpSigmas = 5.0;

std::string peak_note(int64_t index) {
  return "frames[" + std::to_string(index) +
         "]: its correlation peak stands no higher than the correlation's noise (confidence 0)";
}

}  // namespace

bool at_shift_bound(const AlignGeometry& g, double dy, double dx) {
  const int64_t limits[2] = {g.max_shift_rows, g.max_shift_cols};
  const double shifts[2] = {dy, dx};
  const double unit = static_cast<double>(g.shift_unit());
  for (int axis = 0; axis < 2; ++axis)
    if (limits[axis] >= 0 &&
        std::fabs(shifts[axis] / unit) > static_cast<double>(limits[axis]) - 0.5)
      return true;
  return false;
}

double crop_probability(const AlignGeometry& g, const int64_t (&crop)[2], const double (&shift)[2],
                        const double (&variance)[2]) {
  const double half = 0.5 * static_cast<double>(g.period) + kCropTolerance;
  double probability = 1.0;
  for (int axis = 0; axis < 2; ++axis) {
    const double spread = std::sqrt(2.0 * std::max(variance[axis], 1e-12));
    const double low = (static_cast<double>(crop[axis]) - half - shift[axis]) / spread;
    const double high = (static_cast<double>(crop[axis]) + half - shift[axis]) / spread;
    // Phi(high) - Phi(low), each side by the tail nearer it (no cancellation).
    probability *= high <= 0.0  ? 0.5 * (std::erfc(-high) - std::erfc(-low))
                   : low >= 0.0 ? 0.5 * (std::erfc(low) - std::erfc(high))
                                : 1.0 - 0.5 * (std::erfc(-low) + std::erfc(high));
  }
  return std::clamp(probability, 0.0, 1.0);
}

void assess_fine(const FineFits& fits, int slot, int64_t index, const FineEstimate& e,
                 FrameOutcome& out, double* match_out) {
  // Frames of another scene or of noise still align with a peak as high as a blurred frame's,
  // but what they share does not correlate (docs/notes/alignment.md, "What the threshold does not
  // catch").
  const double match = fits.match(e.shift[0], e.shift[1], slot);
  if (match_out != nullptr) *match_out = match;
  if (match < kMinMatch) {
    out.confidence = 0.0;
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: at this shift its smoothed luminance correlates with the "
                  "reference's by only %.2f (under %.1f): it may not show the reference's "
                  "scene (confidence 0)",
                  static_cast<long long>(index), match, kMinMatch);
    out.add_note(PTP_ALIGN_FLAG_OTHER_SCENE, note);
  }
  // A frame that did not move as a whole (rotated, scaled, parallax, a large part moved on its
  // own); checked only where nothing set confidence 0: the message has room for about two notes.
  if (e.converged && out.confidence > 0.0 && !e.at_bound) {
    const LumaPolish::Warp warp = fits.warp(e.shift[0], e.shift[1], slot);
    const auto beyond = [&warp](int axis) {
      return warp.deviation[axis] > kWarpPixels &&
             warp.deviation[axis] > kWarpSigmas * warp.deviation_sd[axis];
    };
    if (warp.fitted && (beyond(0) || beyond(1))) {
      out.confidence = 0.0;
      char note[240];
      std::snprintf(note, sizeof note,
                    "frames[%lld]: it does not move as a whole (rotated, scaled or parallax?): "
                    "fitted on four quadrants, its shift leaves its corners up to %.1f rows and "
                    "%.1f columns off (confidence 0)",
                    static_cast<long long>(index), warp.deviation[0], warp.deviation[1]);
      out.add_note(PTP_ALIGN_FLAG_NOT_RIGID, note);
    }
  }
  if (e.at_bound) out.confidence = 0.0;
  // A fit that gives the crop no chance (an axis without detail, or a crop far from the fit's
  // shift), said where no other note says why.
  if (e.converged && out.confidence == 0.0 && out.message.empty()) {
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: its least-squares fit gives the crop no chance: shift (%.1f, "
                  "%.1f), standard deviation %.2g rows, %.2g columns (confidence 0)",
                  static_cast<long long>(index), e.polished[0], e.polished[1],
                  std::sqrt(e.variance[0]), std::sqrt(e.variance[1]));
    out.add_note(PTP_ALIGN_FLAG_LOW_CONFIDENCE, note);
  }
  // Without the fit, where nothing else set it, a 0 is the peak's own.
  if (!e.converged && out.confidence == 0.0 && out.message.empty())
    out.add_note(PTP_ALIGN_FLAG_WEAK_PEAK, peak_note(index));
  // Without the fit the confidence is the peak's margin, not a probability, and on small frames
  // does not tell right crops from wrong: said where nothing set it to 0 (a flagged frame keeps
  // its own note alone).
  if (!e.converged && out.confidence > 0.0) {
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: no least-squares fit (under about 48 pixels a side, or too "
                  "little detail): confidence is the peak's margin, not a probability; treat "
                  "the crop as unverified",
                  static_cast<long long>(index));
    out.add_note(PTP_ALIGN_FLAG_NO_FIT, note);
  }
  // A probability under the trusted threshold where nothing above says why (the variance alone).
  if (e.converged && out.flags == 0 && out.confidence < kTrustedCrop)
    out.flags |= PTP_ALIGN_FLAG_LOW_CONFIDENCE;
}

}  // namespace ptychopatch::impl
