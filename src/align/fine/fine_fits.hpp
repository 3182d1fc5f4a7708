// What the fine stage fits a frame with (docs/semantics.md, "The fine stage"): per slot, the
// least-squares polish (luma_polish.hpp) and the search over every shift (global_search.hpp),
// each holding the plan's reference.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "align/fine/global_search.hpp"
#include "align/fine/luma_polish.hpp"

namespace ptychopatch::impl {

struct AlignGeometry;

class FineFits {
 public:
  FineFits(const AlignGeometry& geometry, int threads);
  ~FineFits();
  FineFits(const FineFits&) = delete;
  FineFits& operator=(const FineFits&) = delete;

  // The (validated) reference frame, read where it lies (the plan's own copy); it must
  // stay valid and unchanged until the next set_reference.
  void set_reference(const void* frame);

  // The polish and the search keep their state per slot (slot 0 for frames taken one
  // after another). Makes slots 0..n-1 so that n runs of frames can go side by side, one
  // run per slot; call it before that pass, from one thread.
  void set_slots(int slots);

  // (dy, dx) polished in place by least squares on smoothed luminance or colour images of
  // the reference and `frame`, with each axis' variance, where that converges; returns
  // whether it did.
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
  std::unique_ptr<const AlignGeometry> geometry_;  // a copy
  int threads_;
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
};

}  // namespace ptychopatch::impl
