// The closed-loop check of a frame's crop (ptp_align_desc::verify; docs/semantics.md,
// "The closed-loop check"): the reference and the frame, cut to what they share under
// the crop, are aligned again, and the crop is confirmed when that residual is within half
// a pattern period on both axes. REFINE's fine estimate is the crop plus the residual.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "align/fine/global_search.hpp"
#include "align/fine/luma_polish.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

struct AlignGeometry;

// Margins are whole multiples of this quantum: a multiple of the period (the cuts keep
// the reference's pattern layout) and about 1/64 of the smaller side, so that a scene's
// frames, whose crops differ by a few pixels, share one check plan.
inline int64_t verify_margin_quantum(int64_t height, int64_t width, int64_t period) {
  const int64_t side = (height < width ? height : width) / period;
  return period * (side > 64 ? (side + 63) / 64 : 1);
}

// The margin cut from each side of the reference along an axis for a crop
// of that axis: |crop| rounded up to a multiple of the quantum.
inline int64_t verify_margin(int64_t crop, int64_t quantum) {
  const int64_t magnitude = crop < 0 ? -crop : crop;
  return (magnitude + quantum - 1) / quantum * quantum;
}

class CropVerifier {
 public:
  // desc: the plan's validated descriptor (its full size), with verify set.
  CropVerifier(const ptp_context& context, const ptp_align_desc& desc,
               const AlignGeometry& geometry);
  ~CropVerifier();
  CropVerifier(const CropVerifier&) = delete;
  CropVerifier& operator=(const CropVerifier&) = delete;

  // The (validated) reference frame, read where it lies (the plan's own copy); it must
  // stay valid and unchanged until the next set_reference.
  void set_reference(const void* frame);

  // The margins (rows, columns) cut from each side of the reference for a
  // crop (verify_margin).
  std::pair<int64_t, int64_t> margins(int64_t crop_y, int64_t crop_x) const {
    return {verify_margin(crop_y, quantum_), verify_margin(crop_x, quantum_)};
  }

  struct Outcome {
    // The residual shift of the two cuts is at most half a period per axis.
    bool confirmed = false;
    // The residual (dy, dx) in sensor pixels where the cuts were aligned
    // (false where they are too small for a plan or carry no information).
    bool aligned = false;
    double residual[2] = {0.0, 0.0};
  };
  // The closed loop of crop (crop_y, crop_x) of `frame` (a validated frame of the plan), a
  // crop that preserves the colour pattern (crop_shift's). Throws only what the check
  // plan's calls throw (out of memory, a CUDA error).
  Outcome check(const void* frame, int64_t crop_y, int64_t crop_x);

  // The polish and the search keep their state per slot (slot 0 for frames taken one
  // after another). Makes slots 0..n-1 so that n runs of frames can go side by side, one
  // run per slot; call it before that pass, from one thread.
  void set_slots(int slots);

  // REFINE's last step (luma_polish.hpp): (dy, dx) polished in place by least squares on
  // smoothed luminance or colour images of the reference and `frame`, with each axis'
  // variance, where that converges; returns whether it did.
  bool polish(const void* frame, double& dy, double& dx, double (&variance)[2],
              LumaPolish::Images images, LumaPolish::Effort effort = LumaPolish::kThorough,
              int slot = 0);
  // LumaPolish::match of the slot's last polished frame.
  double match(double dy, double dx, int slot = 0) const {
    return slots_[slot]->polish.match(dy, dx);
  }
  // LumaPolish::warp of the slot's last polished frame.
  LumaPolish::Warp warp(double dy, double dx, int slot = 0) const {
    return slots_[slot]->polish.warp(dy, dx);
  }
  // The shift within max_shift under which `frame` matches the reference best
  // (global_search.hpp), and the score of (dy, dx); not found without the search (frames
  // too small, a flat image).
  GlobalSearch::Result search(const void* frame, double dy, double dx, int slot = 0);
  // Sensor pixels between the shifts the search tries (0 without it).
  int64_t search_unit() const { return slots_[0]->search ? slots_[0]->search->unit() : 0; }

 private:
  struct Check;
  // The check plan of a margin pair: of the cut's central window (whole = false; the
  // whole cut where it is no larger), or of the whole cut.
  Check& check_for(int64_t margin_y, int64_t margin_x, bool whole);
  // check()'s work with one check plan.
  Outcome check_with(Check& check, const void* frame, int64_t crop_y, int64_t crop_x);
  // Copies the rows x cols window at (top, left) of every channel of a plan's frame into
  // `out` (contiguous).
  void cut(const void* frame, int64_t top, int64_t left, int64_t rows, int64_t cols,
           std::vector<unsigned char>& out) const;

  const ptp_context& context_;
  ptp_align_desc desc_;  // the plan's, for the check plans
  int64_t height_, width_, channels_, period_, element_size_;
  std::unique_ptr<const AlignGeometry> geometry_;  // a copy
  int64_t quantum_;
  const void* reference_ = nullptr;
  uint64_t reference_generation_ = 0;
  // One slot's polish and search (frames large enough), each with the reference
  // generation it holds.
  struct Slot {
    Slot(const AlignGeometry& geometry, int threads);
    LumaPolish polish;
    uint64_t polish_generation = 0;
    std::unique_ptr<GlobalSearch> search;
    uint64_t search_generation = 0;
  };
  std::vector<std::unique_ptr<Slot>> slots_;  // at least one
  uint64_t clock_ = 0;
  std::vector<std::unique_ptr<Check>> checks_;
  std::vector<unsigned char> frame_cut_;
};

}  // namespace ptychopatch::impl
