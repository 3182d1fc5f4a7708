// The assessment: how sure the library is of a frame's crop, as a confidence (the probability
// that the crop is right, where the polish measured it) and flags (enum ptp_align_flag) with
// their notes (docs/semantics.md, "The fine stage"). The fine stage calls it on each
// result it makes.
#pragma once

#include <cstdint>
#include <string>

#include "align/frame_outcome.hpp"

namespace ptychopatch::impl {

class FineFits;

// Whether a shift (dy, dx) in sensor pixels lies at max_shift's bound on an axis (within half a
// plane pixel of it): where the bounded search stopped rather than where the content is.
bool at_shift_bound(const AlignGeometry& g, double dy, double dx);

// The default's confidence: the probability that the content lies within half a period (plus a
// tolerance) of `crop` on both axes, its position normal about `shift` with `variance` per axis.
double crop_probability(const AlignGeometry& g, const int64_t (&crop)[2], const double (&shift)[2],
                        const double (&variance)[2]);

// A fine estimate as the assessment reads it.
struct FineEstimate {
  bool converged;      // the polish converged
  double shift[2];     // the frame's shift
  double polished[2];  // the polish's own estimate
  double variance[2];  // and its variance per axis
  bool at_bound;       // the coarse peak lies at max_shift's bound
};

// The checks of a fine estimate of frames[index] (polished in `fits`' slot `slot`) on
// `out`, whose confidence the fine stage has set: the match with the reference's scene (its
// score to *match_out unless null), motion as a whole, the bound, and a note or flag per doubt.
void assess_fine(const FineFits& fits, int slot, int64_t index, const FineEstimate& e,
                 FrameOutcome& out, double* match_out);

}  // namespace ptychopatch::impl
