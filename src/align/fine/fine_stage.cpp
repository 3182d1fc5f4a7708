#include "align/fine/fine_stage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "align/assess/assess.hpp"
#include "align/fine/align_verify.hpp"
#include "core/context.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {
namespace {

// How far (sensor pixels, on an axis) the least-squares polish must lie
// from the correlations' estimate to replace it (refine_crop): more than
// its own error on frames without noise (about 0.01 pixel), so exact
// whole-pixel estimates stay exact.
constexpr double kPolishDisagrees = 0.1;
// Below this crop probability (crop_probability) of the luminance fit,
// the polish fits the colour images too (luma_polish.hpp). Colour sees
// detail the luminance image averages away (on the robustness benchmark's
// Bayer sigma 16 row, about 1.5 more right crops of 288 a noise draw), at three
// images' cost; textured frames, whose crops are certain, are spared it.
// On that row the frames above it held no wrong crop (seeds 1-4: every
// wrong crop of the luminance fit scored below 0.9999, 34-57 of 288 did).
constexpr double kColourFitBelow = 0.9999;
// PTP_ALIGN_VERIFY_REFINE for one frame, after the check of its crop:
// the shift becomes the crop plus the residual of the two cuts (the fine
// estimate), and the crop the one nearest to it, polished last. The
// confidence is then the polish's crop probability (crop_probability);
// where the polish does not converge, a crop that changed must be
// confirmed (below) or gets confidence 0. Where the cuts could not be
// aligned or the new crop leaves max_shift's bound (the coarse estimate
// then stays), or the match check fails, confidence is 0. (The cuts are
// aligned under the Hann window, whose pull on a broad peak the polish
// takes out: cutting again nearer the content changed 1 crop of 2,352 on
// the robustness benchmark's 252-pixel and large-shift rows.)
//
// With `first` null, the quick polish alone from the coarse estimate (no
// loop; LumaPolish::kQuick): the gate (gate_crop), whose result is kept
// only where nothing doubts it. `slot`: the verifier's slot it runs in
// (CropVerifier::set_slots); the loop runs in slot 0.
void refine_crop(ptp_align_plan& plan, int64_t index, const void* frame, const int64_t (&crop)[2],
                 const CropVerifier::Outcome* first, FrameOutcome& out, double* match_out = nullptr,
                 int slot = 0) {
  const bool loop = first != nullptr;
  const AlignGeometry& g = plan.geometry;
  if (match_out != nullptr) *match_out = NAN;
  // A coarse peak at max_shift's bound keeps its confidence 0 (and its
  // note): the polish starts from the bound, and the content may lie
  // beyond the search, where a local fit need not reach it (a review saw
  // confidence 1 under a note that said 0).
  const bool at_bound = at_shift_bound(g, out.unsnapped[0], out.unsnapped[1]);
  if (loop && !first->aligned) {
    out.confidence = 0.0;
    out.add_note(PTP_ALIGN_FLAG_UNCHECKED, unchecked_note(index));
    return;
  }
  // The fine estimate: the crop plus the residual of its cuts, or the
  // coarse estimate without the loop.
  double fine[2] = {loop ? static_cast<double>(crop[0]) + first->residual[0] : out.unsnapped[0],
                    loop ? static_cast<double>(crop[1]) + first->residual[1] : out.unsnapped[1]};
  int64_t refined[2];
  crop_shift(g, fine[0], fine[1], &refined[0], &refined[1]);
  // The last step: least squares on smoothed luminance images, then on
  // colour images where the crop stays in doubt (luma_polish.hpp,
  // kColourFitBelow). Where they converge more than kPolishDisagrees from
  // the correlations' estimate on an axis, theirs replaces it, crop and
  // sub-pixel shift: its error is within its own variance on every row of
  // the robustness benchmark, the correlations' is not on noisy blurred
  // frames (there it was 2-10 times the polish's, also where both give
  // one crop: Bayer sigma 16, mean error 0.20 pixel against 0.10;
  // X-Trans 0.26 against 0.09). Otherwise the correlations' stays: exact
  // on whole-pixel motion without noise, which the smoothed fit reaches
  // only to about 0.01 pixel, and the crop of an estimate on the edge
  // between two (an odd shift for Bayer) does not flip for a hundredth of
  // a pixel.
  double polished[2] = {fine[0], fine[1]}, variance[2] = {0.0, 0.0};
  bool polish_converged =
      plan.verifier->polish(frame, polished[0], polished[1], variance, LumaPolish::kLuminance,
                            loop ? LumaPolish::kThorough : LumaPolish::kQuick, slot);
  if (!loop && !polish_converged) {
    out.flags |= PTP_ALIGN_FLAG_NO_FIT;  // doubted: the caller takes the loop
    return;
  }
  // Whether the luminance fit leaves the crop in doubt (kColourFitBelow):
  // then the colour images are fitted too, from there. Without the loop
  // such a frame is doubted at once: the loop fits the colours itself, and
  // a doubted frame must not pay for that fit twice.
  bool colour_doubt = false;
  if (polish_converged && (g.period > 1 || g.channels > 1)) {
    int64_t nearest[2];
    crop_shift(g, polished[0], polished[1], &nearest[0], &nearest[1]);
    colour_doubt = crop_probability(g, nearest, polished, variance) < kColourFitBelow;
  }
  if (!loop && colour_doubt) {
    out.flags |= PTP_ALIGN_FLAG_LOW_CONFIDENCE;  // doubted: the caller takes the loop
    return;
  }
  bool colour_fitted = false;  // whether the colour fit replaced it (below)
  double luminance_shift[2] = {0.0, 0.0}, luminance_variance[2] = {0.0, 0.0};
  if (colour_doubt) {
    double again[2] = {polished[0], polished[1]}, again_variance[2];
    if (plan.verifier->polish(frame, again[0], again[1], again_variance, LumaPolish::kColours)) {
      colour_fitted = true;
      std::copy(polished, polished + 2, luminance_shift);
      std::copy(variance, variance + 2, luminance_variance);
      std::copy(again, again + 2, polished);
      std::copy(again_variance, again_variance + 2, variance);
    }
  }
  // Without the loop the polish's estimate replaces the coarse one always:
  // the coarse peak keeps the window's pull (up to half a pixel on blurred
  // frames); the loop's residual, of cuts that share the content, less.
  if (polish_converged &&
      (!loop || std::max(std::fabs(polished[0] - fine[0]), std::fabs(polished[1] - fine[1])) >
                    kPolishDisagrees)) {
    // Given to 1 / upsample_factor of a sensor pixel: a grid that holds
    // every whole pixel (1 / upsample_factor of the luminance image's
    // pixel, 3 sensor pixels for X-Trans, would give a frame moved by 7
    // pixels as 6.9), finer than the fit's error only on sharp frames.
    // (Divided by u, not multiplied by 1 / u: 96 / 10 is the double
    // nearest 9.6, 96 * 0.1 is not, and a crop equally near two crops is
    // chosen by the tie rule, not by that rounding.)
    const double u = static_cast<double>(g.upsample);
    for (int axis = 0; axis < 2; ++axis) fine[axis] = std::round(polished[axis] * u) / u;
    crop_shift(g, fine[0], fine[1], &refined[0], &refined[1]);
  }
  // max_shift bounds the result as it bounds the search (in sensor pixels,
  // as the plan rounds it; the coarse crop may reach past it by rounding).
  const int64_t limits[2] = {g.max_shift_rows, g.max_shift_cols};
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t bound = std::max<int64_t>(limits[axis] * g.shift_unit(), std::llabs(crop[axis]));
    if (limits[axis] >= 0 && std::llabs(refined[axis]) > bound) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_AT_SHIFT_BOUND,
                   "frames[" + std::to_string(index) +
                       "]: refined, its shift lies beyond max_shift (confidence 0)");
      return;
    }
  }
  if (polish_converged) {
    // About the polish's own estimate, whose variance it is.
    out.confidence = crop_probability(g, refined, polished, variance);
    // Where the colour fit placed the shift, the luminance fit's doubt of
    // the crop stands too: the colour fit's variance claims too little on
    // a few noisy frames (on the robustness benchmark, seed 2, three wrong
    // crops at 0.958-0.995 where the luminance fit's crop was right), and
    // the smaller of the two probabilities keeps every wrong crop of seeds
    // 1 and 2 under 0.95 (docs/performance.md, "Colour").
    if (colour_fitted)
      out.confidence = std::min(out.confidence,
                                crop_probability(g, refined, luminance_shift, luminance_variance));
  } else if (refined[0] != crop[0] || refined[1] != crop[1]) {
    // Without the polish's variance, the peak's confidence stands where
    // the new crop is confirmed by its own loop.
    if (!plan.verifier->check(frame, refined[0], refined[1]).confirmed) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_UNCONFIRMED, unconfirmed_note(index));
    }
  }
  assess_fine(*plan.verifier, slot, index,
              {polish_converged,
               {fine[0], fine[1]},
               {polished[0], polished[1]},
               {variance[0], variance[1]},
               at_bound},
              out, match_out);
  set_frame_shift(g, fine[0], fine[1], out);
}

// How much better the search's best shift must fit than the refined
// shift to be tried (reconsider_far_shift): its misfit, 1 - r, at most
// this share of the refined shift's (r the correlation coefficient over
// what the two frames share, global_search.hpp). A 128-pixel rocket at
// gain 1024 moved by (25, 23) and refined to (-16, 24) had 0.0182 against
// 0.0335 (0.54); 0.5 and 0.7 gave the same tables of the robustness
// benchmark (252 pixels, seeds 1 and 2: bitwise the results without the
// search; 128 pixels with --large-shifts 0.25), where the tried shift's
// own match check decides.
constexpr double kFarFitShare = 0.7;
// Where the refined frame's own confidence is under kFarDoubtful, the
// search's best shift is tried wherever it fits better by kFarScoreMargin
// (kFarFitShare does not apply): the refined shift is in doubt anyway, and
// the match check of the two results decides. Why: a 128-pixel rocket at
// gain 1024 moved by (25, 23) was refined to (-12.4, 24.0) with a row
// variance of 16 square pixels (confidence 0): its misfit was 0.76 of the
// refined shift's, not 0.7, and the frame kept the wrong crop.
constexpr double kFarDoubtful = 0.5;
// And by at least this much of the coefficient itself: two fits near 1 (a
// frame rolled circularly, whose wrapped edge the smoothing mixes in)
// differ by their edges' rounding, not by content. The least difference
// among the refines the benchmark's large shifts needed: a 128-pixel rocket
// at gain 16 moved by (25, 23), refined to (-12.4, 23.9), 0.9893 there and
// 0.9964 at the truth.
constexpr double kFarScoreMargin = 0.002;
// And only where the best shift itself explains the smoothed images
// (coefficient at least this): on a scene whose detail lies above the
// search's smoothing, its scores say nothing (a test's sawtooth pattern:
// 0.58 at the true shift, 0.78 at another), and the refine it would try
// is wasted. The refines tried on the benchmark's large shifts had 0.957
// or more.
constexpr double kFarMinScore = 0.9;

// REFINE's last step (refine_crop's result in `out`, `match` its match
// check; `before`, the frame's outcome as the correlations left it;
// `searched`, the search at `out`'s shift where the gate made it, else
// null):
// where the search over every shift finds one more than two of its steps
// (and more than a period) from the refined shift that fits clearly
// better (kFarFitShare), the frame is refined again from there, and that
// result replaces the first where its own match check scores higher.
// Why: under the Hann window a large shift's peak can sink below an
// alias's (global_search.hpp); the polish places the peak it is given,
// and its confidence cannot tell that another lies elsewhere.
void reconsider_far_shift(ptp_align_plan& plan, int64_t index, const void* frame,
                          const FrameOutcome& before, double match, FrameOutcome& out,
                          const GlobalSearch::Result* searched) {
  const AlignGeometry& g = plan.geometry;
  if (out.status != PTP_SUCCESS || !std::isfinite(out.unsnapped[0]) ||
      !std::isfinite(out.unsnapped[1]))
    return;
  const GlobalSearch::Result found =
      searched != nullptr ? *searched
                          : plan.verifier->search(frame, out.unsnapped[0], out.unsnapped[1]);
  if (!found.found || !(found.score >= kFarMinScore)) return;
  const double away =
      std::max(std::fabs(found.dy - out.unsnapped[0]), std::fabs(found.dx - out.unsnapped[1]));
  const double step = static_cast<double>(plan.verifier->search_unit());
  if (!(away > std::max(2.0 * step, static_cast<double>(g.period)))) return;
  // NaN at the refined shift (it shares too little with the reference, or
  // lies past the bound): any shift the search found fits better.
  const double share = out.confidence < kFarDoubtful ? 1.0 : kFarFitShare;
  if (std::isfinite(found.score_at_given) &&
      !(1.0 - found.score <= share * (1.0 - found.score_at_given) &&
        found.score >= found.score_at_given + kFarScoreMargin))
    return;
  int64_t crop[2];
  crop_shift(g, found.dy, found.dx, &crop[0], &crop[1]);
  FrameOutcome again = before;
  double again_match = NAN;
  const CropVerifier::Outcome first = plan.verifier->check(frame, crop[0], crop[1]);
  refine_crop(plan, index, frame, crop, &first, again, &again_match);
  if (again.status == PTP_SUCCESS && again_match > (std::isfinite(match) ? match : -1.0))
    out = std::move(again);
}

// REFINE's gate for one frame (frames[index], whose crop is `crop` and
// coarse outcome `coarse`), in the verifier's slot `slot`: the quick polish
// from the coarse estimate alone, and where that result carries no flag,
// the search over every shift at it. Frames go through it side by side
// (verify_crops); everything else, one after another.
struct Gated {
  FrameOutcome quick;
  double match = NAN;
  GlobalSearch::Result found;
};
void gate_crop(ptp_align_plan& plan, int64_t index, const void* frame, const int64_t (&crop)[2],
               const FrameOutcome& coarse, Gated& gated, int slot) {
  gated.quick = coarse;
  refine_crop(plan, index, frame, crop, nullptr, gated.quick, &gated.match, slot);
  const FrameOutcome& quick = gated.quick;
  if (quick.flags == 0 && quick.status == PTP_SUCCESS && std::isfinite(quick.unsnapped[0]) &&
      std::isfinite(quick.unsnapped[1]))
    gated.found = plan.verifier->search(frame, quick.unsnapped[0], quick.unsnapped[1], slot);
}

// verify_crops' step for one frame (frames[index], whose crop is `crop`;
// `gated`, its gate_crop, or null without the gate). The fine stage only where the assessment
// doubts the coarse estimate: where the gate's result carries no flag, it stands; else the closed
// loop and the thorough polish.
void verify_crop(ptp_align_plan& plan, const void* frame, int64_t index, const int64_t (&crop)[2],
                 FrameOutcome& out, Gated* gated) {
  const FrameOutcome before = out;
  if (gated != nullptr && gated->quick.flags == 0) {
    out = std::move(gated->quick);
    reconsider_far_shift(plan, index, frame, before, gated->match, out, &gated->found);
    return;
  }
  double match = NAN;
  const CropVerifier::Outcome first = plan.verifier->check(frame, crop[0], crop[1]);
  refine_crop(plan, index, frame, crop, &first, out, &match);
  reconsider_far_shift(plan, index, frame, before, match, out, nullptr);
}

}  // namespace

bool run_fine_stage(ptp_align_plan& plan, const void* const* frames,
                    std::vector<FrameOutcome>& outcomes, const std::vector<int64_t>& arrived,
                    const std::function<bool(int64_t)>& finished) {
  const auto crop_of = [&plan](const FrameOutcome& out, int64_t(&crop)[2]) {
    crop_shift(plan.geometry, out.unsnapped[0], out.unsnapped[1], &crop[0], &crop[1]);
  };
  const auto count = static_cast<int64_t>(plan.gate ? arrived.size() : 0);
  const int runs = static_cast<int>(std::min<int64_t>(plan.context->num_threads, count));
  plan.verifier->set_slots(std::max(runs, 1));
  std::vector<Gated> gated(static_cast<size_t>(count));
  parallel_for_each(runs, 0, runs, 1, [&](int64_t run) {
    for (int64_t n = run * count / runs; n < (run + 1) * count / runs; ++n) {
      const FrameOutcome& coarse = outcomes[arrived[n]];
      if (coarse.status != PTP_SUCCESS) continue;
      int64_t crop[2];
      crop_of(coarse, crop);
      gate_crop(plan, arrived[n], frames[arrived[n]], crop, coarse, gated[n],
                static_cast<int>(run));
    }
  });
  for (size_t n = 0; n < arrived.size(); ++n) {
    const int64_t i = arrived[n];
    FrameOutcome& out = outcomes[i];
    if (out.status == PTP_SUCCESS) {
      int64_t crop[2];
      crop_of(out, crop);
      verify_crop(plan, frames[i], i, crop, out, gated.empty() ? nullptr : &gated[n]);
    }
    if (finished(i)) continue;
    for (size_t later = n + 1; later < arrived.size(); ++later)
      set_cancelled(arrived[later], outcomes[arrived[later]]);
    return false;
  }
  return true;
}

}  // namespace ptychopatch::impl
