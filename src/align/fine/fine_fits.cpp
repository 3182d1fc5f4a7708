#include "align/fine/fine_fits.hpp"

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

FineFits::FineFits(const AlignGeometry& geometry, int threads)
    : geometry_(std::make_unique<const AlignGeometry>(geometry)), threads_(threads) {
  set_slots(1);
}

FineFits::Slot::Slot(const AlignGeometry& geometry, int threads) : polish(geometry, threads) {
  auto made = std::make_unique<GlobalSearch>(geometry);
  if (made->usable()) search = std::move(made);
}

void FineFits::set_slots(int slots) {
  while (static_cast<int>(slots_.size()) < slots)
    slots_.push_back(std::make_unique<Slot>(*geometry_, threads_));
}

FineFits::~FineFits() = default;

void FineFits::set_reference(const void* frame) {
  reference_ = frame;
  ++reference_generation_;
}

bool FineFits::polish(const void* frame, double& dy, double& dx, double (&variance)[2],
                      LumaPolish::Images images, LumaPolish::Effort effort, int slot) {
  Slot& s = *slots_[slot];
  if (s.polish_generation != reference_generation_) {
    s.polish.set_reference(reference_);
    s.polish_generation = reference_generation_;
  }
  return s.polish.polish(frame, dy, dx, variance, images, effort);
}

GlobalSearch::Result FineFits::search(const void* frame, double dy, double dx, int slot) {
  Slot& s = *slots_[slot];
  if (!s.search) return {};
  if (s.search_generation != reference_generation_) {
    s.search->set_reference(reference_);
    s.search_generation = reference_generation_;
  }
  // max_shift in sensor pixels, as the plan rounds it (-1: no bound).
  const AlignGeometry& g = *geometry_;
  const int64_t unit = g.shift_unit();
  return s.search->best(frame, dy, dx, g.max_shift_rows < 0 ? -1 : g.max_shift_rows * unit,
                        g.max_shift_cols < 0 ? -1 : g.max_shift_cols * unit);
}

}  // namespace ptychopatch::impl
