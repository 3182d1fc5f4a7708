#include "align/fine/fine_stage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

#include "align/assess/assess.hpp"
#include "align/fine/fine_fits.hpp"
#include "core/context.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {
namespace {

// How far (sensor pixels, on an axis) the polish must lie from the correlations' estimate to
// replace it: above its own error without noise (~0.01 pixel), so whole-pixel shifts stay exact.
constexpr double kPolishDisagrees = 0.1;
// Below this crop probability of the luminance fit the polish fits the colour images too, which
// see detail it averages away, at three images' cost; no wrong crop of the luminance fit scored
// above it (docs/notes/alignment.md, "The polish fits colours where the crop is in doubt").
constexpr double kColourFitBelow = 0.9999;
// REFINE for one frame from the estimate `start` (sensor pixels): the shift polished, and the
// crop the one nearest it. Confidence: the polish's crop probability, or the coarse peak's where
// the polish does not converge; 0 where the crop leaves max_shift's bound or the match check
// fails. *match_out (unless null): the match score, NaN if none. `thorough` false: the gate
// (gate_crop), the quick polish alone, kept only where nothing doubts it. `slot`: the fits' slot;
// thorough fits use slot 0.
void refine_crop(ptp_align_plan& plan, int64_t index, const void* frame, const double (&start)[2],
                 bool thorough, FrameOutcome& out, double* match_out = nullptr, int slot = 0) {
  const AlignGeometry& g = plan.geometry;
  if (match_out != nullptr) *match_out = NAN;
  // A coarse peak at max_shift's bound keeps confidence 0 and its note: the content may lie
  // beyond the search, where a local fit from the bound need not reach it.
  const bool at_bound = at_shift_bound(g, out.unsnapped[0], out.unsnapped[1]);
  double fine[2] = {start[0], start[1]};
  int64_t crop[2], refined[2];
  crop_shift(g, fine[0], fine[1], &crop[0], &crop[1]);
  refined[0] = crop[0];
  refined[1] = crop[1];
  // Least squares on smoothed luminance images, then colour images where the crop stays in
  // doubt. More than kPolishDisagrees off on an axis, the polish replaces the correlations'
  // crop and sub-pixel shift, which err more on noisy blurred frames (docs/notes/alignment.md, "The
  // polish places the shift, not only the crop"); within it an estimate on the edge between
  // two crops does not flip.
  double polished[2] = {fine[0], fine[1]}, variance[2] = {0.0, 0.0};
  bool polish_converged =
      plan.fits->polish(frame, polished[0], polished[1], variance, LumaPolish::kLuminance,
                        thorough ? LumaPolish::kThorough : LumaPolish::kQuick, slot);
  if (!thorough && !polish_converged) {
    out.flags |= PTP_ALIGN_FLAG_NO_FIT;  // doubted: the caller fits it thoroughly
    return;
  }
  // Where the luminance fit leaves the crop in doubt the colours are fitted too, from there;
  // the gate doubts the frame at once, so that it never pays for that fit twice.
  bool colour_doubt = false;
  if (polish_converged && (g.period > 1 || g.channels > 1)) {
    int64_t nearest[2];
    crop_shift(g, polished[0], polished[1], &nearest[0], &nearest[1]);
    colour_doubt = crop_probability(g, nearest, polished, variance) < kColourFitBelow;
  }
  if (!thorough && colour_doubt) {
    out.flags |= PTP_ALIGN_FLAG_LOW_CONFIDENCE;  // doubted: the caller fits it thoroughly
    return;
  }
  bool colour_fitted = false;  // whether the colour fit replaced it (below)
  double luminance_shift[2] = {0.0, 0.0}, luminance_variance[2] = {0.0, 0.0};
  if (colour_doubt) {
    double again[2] = {polished[0], polished[1]}, again_variance[2];
    if (plan.fits->polish(frame, again[0], again[1], again_variance, LumaPolish::kColours)) {
      colour_fitted = true;
      std::copy(polished, polished + 2, luminance_shift);
      std::copy(variance, variance + 2, luminance_variance);
      std::copy(again, again + 2, polished);
      std::copy(again_variance, again_variance + 2, variance);
    }
  }
  // The gate's polish always replaces the coarse estimate, which keeps the Hann window's pull
  // (up to half a pixel on blurred frames).
  if (polish_converged &&
      (!thorough || std::max(std::fabs(polished[0] - fine[0]), std::fabs(polished[1] - fine[1])) >
                        kPolishDisagrees)) {
    // Rounded to 1 / upsample_factor of a sensor pixel, a grid that holds every whole pixel (1 / u
    // of X-Trans's 3-pixel search unit would give 7 as 6.9). Divided by u: 96 / 10 is the
    // double nearest 9.6, 96 * 0.1 is not, so ties between crops go by the tie rule, not rounding.
    const double u = static_cast<double>(g.upsample);
    for (int axis = 0; axis < 2; ++axis) fine[axis] = std::round(polished[axis] * u) / u;
    crop_shift(g, fine[0], fine[1], &refined[0], &refined[1]);
  }
  // max_shift bounds the result as it bounds the search (in sensor pixels, as the plan rounds
  // it; the coarse crop may reach past it by rounding).
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
    // After a colour fit the luminance fit's doubt stands too: the colour fit's variance
    // claims too little on a few noisy frames (docs/notes/alignment.md, "The polish fits colours
    // where the crop is in doubt").
    if (colour_fitted)
      out.confidence = std::min(out.confidence,
                                crop_probability(g, refined, luminance_shift, luminance_variance));
  }
  assess_fine(*plan.fits, slot, index,
              {polish_converged,
               {fine[0], fine[1]},
               {polished[0], polished[1]},
               {variance[0], variance[1]},
               at_bound},
              out, match_out);
  set_frame_shift(g, fine[0], fine[1], out);
}

// The search's rule for trying its best shift (reconsider_far_shift; docs/performance.md, "Large
// shifts of small frames"), r the correlation over what the frames share (global_search.hpp).
// Misfit 1 - r at most this share of the refined shift's: a wrong refine it corrected had 0.54,
// and 0.5 and 0.7 gave the same benchmark tables (the tried shift's match check decides).
constexpr double kFarFitShare = 0.7;
// Under this confidence the refined shift is in doubt anyway: the best shift is tried wherever it
// fits better by kFarScoreMargin (a wrong refine at confidence 0 had a misfit share of 0.76).
constexpr double kFarDoubtful = 0.5;
// And r higher by at least this: fits near 1 differ by their edges' rounding, not by content
// (the least gain a needed refine had was 0.007).
constexpr double kFarScoreMargin = 0.002;
// And r at least this: where the detail lies above the search's smoothing its scores say nothing
// (a sawtooth test scene: 0.58 at the truth); the refines needed had 0.957 or more.
constexpr double kFarMinScore = 0.9;

// Whether the search's best shift fits better than the estimate it was given, whose confidence
// is `confidence`: by kFarScoreMargin, and where that estimate is not in doubt anyway by the
// misfit share too; any found shift where the given one has no score.
bool fits_better(const GlobalSearch::Result& found, double confidence) {
  if (!std::isfinite(found.score_at_given)) return true;
  const double share = confidence < kFarDoubtful ? 1.0 : kFarFitShare;
  return 1.0 - found.score <= share * (1.0 - found.score_at_given) &&
         found.score >= found.score_at_given + kFarScoreMargin;
}

// REFINE's last step (`out`: refine_crop's result, `match` its match score; `before`: the
// frame's outcome as the correlations left it; `searched`: the gate's search at `out`'s shift,
// else null). Where the search finds a shift more than two steps (and a period) away that fits
// clearly better, the frame is refined again from there, kept if its match scores higher. Why:
// under the Hann window a large shift's peak can sink below an alias's, and the polish's
// confidence cannot tell that another peak lies elsewhere.
void reconsider_far_shift(ptp_align_plan& plan, int64_t index, const void* frame,
                          const FrameOutcome& before, double match, FrameOutcome& out,
                          const GlobalSearch::Result* searched) {
  const AlignGeometry& g = plan.geometry;
  if (out.status != PTP_SUCCESS || !std::isfinite(out.unsnapped[0]) ||
      !std::isfinite(out.unsnapped[1]))
    return;
  const GlobalSearch::Result found =
      searched != nullptr ? *searched
                          : plan.fits->search(frame, out.unsnapped[0], out.unsnapped[1]);
  if (!found.found || !(found.score >= kFarMinScore)) return;
  const double away =
      std::max(std::fabs(found.dy - out.unsnapped[0]), std::fabs(found.dx - out.unsnapped[1]));
  const double step = static_cast<double>(plan.fits->search_unit());
  if (!(away > std::max(2.0 * step, static_cast<double>(g.period)))) return;
  if (!fits_better(found, out.confidence)) return;
  FrameOutcome again = before;
  double again_match = NAN;
  refine_crop(plan, index, frame, {found.dy, found.dx}, true, again, &again_match);
  if (again.status == PTP_SUCCESS && again_match > (std::isfinite(match) ? match : -1.0))
    out = std::move(again);
}

// REFINE's gate for frames[index] (coarse outcome `coarse`) in the fits' slot `slot`: the quick
// polish from the coarse estimate, and where that result carries no flag, the search over every
// shift at it. The only step that takes frames side by side.
struct Gated {
  FrameOutcome quick;
  double match = NAN;
  GlobalSearch::Result found;
};
void gate_crop(ptp_align_plan& plan, int64_t index, const void* frame, const FrameOutcome& coarse,
               Gated& gated, int slot) {
  gated.quick = coarse;
  refine_crop(plan, index, frame, {coarse.unsnapped[0], coarse.unsnapped[1]}, false, gated.quick,
              &gated.match, slot);
  const FrameOutcome& quick = gated.quick;
  if (quick.flags == 0 && quick.status == PTP_SUCCESS && std::isfinite(quick.unsnapped[0]) &&
      std::isfinite(quick.unsnapped[1]))
    gated.found = plan.fits->search(frame, quick.unsnapped[0], quick.unsnapped[1], slot);
}

// The fine stage for frames[index] (`gated`: its gate_crop, null without the gate): a gate
// result without a flag stands; else the thorough polish from the coarse estimate.
void verify_crop(ptp_align_plan& plan, const void* frame, int64_t index, FrameOutcome& out,
                 Gated* gated) {
  const FrameOutcome before = out;
  if (gated != nullptr && gated->quick.flags == 0) {
    out = std::move(gated->quick);
    reconsider_far_shift(plan, index, frame, before, gated->match, out, &gated->found);
    return;
  }
  double match = NAN;
  refine_crop(plan, index, frame, {before.unsnapped[0], before.unsnapped[1]}, true, out, &match);
  // Without a fit (frames too small for the polish) the coarse peak is all there is. Where the
  // search steps by a sensor pixel (frames of up to kMaxGrid pixels a side) and fits better away
  // from it, the frame starts again from the search's best: on 36- and 48-pixel frames it was
  // right on 64 % and 70 % against 31 % and 64 % (docs/notes/alignment.md, "The fine stage without
  // the closed loop"); with coarser steps it cannot place a crop.
  if (out.status == PTP_SUCCESS &&
      (out.flags & (PTP_ALIGN_FLAG_NO_FIT | PTP_ALIGN_FLAG_WEAK_PEAK)) != 0 &&
      plan.fits->search_unit() == 1) {
    const GlobalSearch::Result found =
        plan.fits->search(frame, before.unsnapped[0], before.unsnapped[1]);
    // reconsider_far_shift's rule, at any distance.
    if (found.found && fits_better(found, before.confidence)) {
      // On the grid of 1 / upsample_factor sensor pixel, as a polished shift.
      const double u = static_cast<double>(plan.geometry.upsample);
      const double start[2] = {std::round(found.peak[0] * u) / u,
                               std::round(found.peak[1] * u) / u};
      out = before;
      refine_crop(plan, index, frame, start, true, out, &match);
      return;
    }
  }
  reconsider_far_shift(plan, index, frame, before, match, out, nullptr);
}

}  // namespace

bool run_fine_stage(ptp_align_plan& plan, const void* const* frames,
                    std::vector<FrameOutcome>& outcomes, const std::vector<int64_t>& arrived,
                    const std::function<bool(int64_t)>& finished) {
  const auto count = static_cast<int64_t>(plan.gate ? arrived.size() : 0);
  const int runs = static_cast<int>(std::min<int64_t>(plan.context->num_threads, count));
  plan.fits->set_slots(std::max(runs, 1));
  std::vector<Gated> gated(static_cast<size_t>(count));
  parallel_for_each(runs, 0, runs, 1, [&](int64_t run) {
    for (int64_t n = run * count / runs; n < (run + 1) * count / runs; ++n) {
      const FrameOutcome& coarse = outcomes[arrived[n]];
      if (coarse.status != PTP_SUCCESS) continue;
      gate_crop(plan, arrived[n], frames[arrived[n]], coarse, gated[n], static_cast<int>(run));
    }
  });
  for (size_t n = 0; n < arrived.size(); ++n) {
    const int64_t i = arrived[n];
    FrameOutcome& out = outcomes[i];
    if (out.status == PTP_SUCCESS)
      verify_crop(plan, frames[i], i, out, gated.empty() ? nullptr : &gated[n]);
    if (finished(i)) continue;
    for (size_t later = n + 1; later < arrived.size(); ++later)
      set_cancelled(arrived[later], outcomes[arrived[later]]);
    return false;
  }
  return true;
}

}  // namespace ptychopatch::impl
