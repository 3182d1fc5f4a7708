#include "align/fine/align_verify.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "align/align_backend.hpp"
#include "align/align_plan.hpp"
#include "core/context.hpp"
#include "core/error.hpp"

namespace ptychopatch::impl {
namespace {

// Check plans kept per plan (each a backend's buffers: ~240 MB at 24 MP Bayer, or device memory);
// three checked a 24 MP scene in frame order within 2 % of margin-sorted order (two: 10 % slower).
constexpr size_t kMaxCheckPlans = 3;

// Side (sensor pixels, whole periods) of the cuts' central window the check aligns first: it
// places a residual of a pixel or two at a fraction of the whole cut's cost; the whole cut is
// checked where it does not confirm (docs/performance.md, "Large frames: the check's window").
constexpr int64_t kCheckWindow = 2048;

}  // namespace

struct CropVerifier::Check {
  int64_t margin_y = 0;
  int64_t margin_x = 0;
  bool whole = false;  // the whole cut, else its central window
  // The part of the cut checked: rows x cols at (inset_y, inset_x) of it.
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t inset_y = 0;
  int64_t inset_x = 0;
  // Null where the cuts are too small for a plan (never confirmed).
  std::unique_ptr<ptp_align_plan> plan;
  uint64_t reference_generation = 0;  // 0: no reference set yet
  uint64_t last_use = 0;
};

CropVerifier::CropVerifier(const ptp_context& context, const ptp_align_desc& desc,
                           const AlignGeometry& geometry)
    : context_(context),
      desc_(desc),
      height_(geometry.height),
      width_(geometry.width),
      channels_(geometry.channels),
      period_(geometry.period),
      element_size_(geometry.frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4),
      geometry_(std::make_unique<const AlignGeometry>(geometry)) {
  // The check plans: the plan's options without verify or snap, whitened partially (plain
  // correlation of an over-exposed GT's cuts followed its clipped edges; docs/performance.md,
  // "The loop's whitening").
  desc_.normalization = PTP_NORMALIZATION_PARTIAL;
  desc_.verify = 0;
  desc_.snap = 0;
  quantum_ = verify_margin_quantum(height_, width_, period_);
  set_slots(1);
}

CropVerifier::Slot::Slot(const AlignGeometry& geometry, int threads) : polish(geometry, threads) {
  auto made = std::make_unique<GlobalSearch>(geometry);
  if (made->usable()) search = std::move(made);
}

void CropVerifier::set_slots(int slots) {
  while (static_cast<int>(slots_.size()) < slots)
    slots_.push_back(std::make_unique<Slot>(*geometry_, context_.num_threads));
}

CropVerifier::~CropVerifier() = default;

void CropVerifier::set_reference(const void* frame) {
  reference_ = frame;
  ++reference_generation_;
}

bool CropVerifier::polish(const void* frame, double& dy, double& dx, double (&variance)[2],
                          LumaPolish::Images images, LumaPolish::Effort effort, int slot) {
  Slot& s = *slots_[slot];
  if (s.polish_generation != reference_generation_) {
    s.polish.set_reference(reference_);
    s.polish_generation = reference_generation_;
  }
  return s.polish.polish(frame, dy, dx, variance, images, effort);
}

GlobalSearch::Result CropVerifier::search(const void* frame, double dy, double dx, int slot) {
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

void CropVerifier::cut(const void* frame, int64_t top, int64_t left, int64_t rows, int64_t cols,
                       std::vector<unsigned char>& out) const {
  out.resize(static_cast<size_t>(channels_ * rows * cols * element_size_));
  const auto* src = static_cast<const unsigned char*>(frame);
  const size_t row_bytes = static_cast<size_t>(cols * element_size_);
  for (int64_t c = 0; c < channels_; ++c)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out.data() + ((c * rows + r) * cols) * element_size_,
                  src + ((c * height_ + top + r) * width_ + left) * element_size_, row_bytes);
}

CropVerifier::Check& CropVerifier::check_for(int64_t margin_y, int64_t margin_x, bool whole) {
  ++clock_;
  for (auto& check : checks_)
    if (check->margin_y == margin_y && check->margin_x == margin_x && check->whole == whole) {
      check->last_use = clock_;
      return *check;
    }
  if (checks_.size() >= kMaxCheckPlans) {
    // Release the least recently used plan (and its buffers) first.
    const auto oldest =
        std::min_element(checks_.begin(), checks_.end(),
                         [](const auto& a, const auto& b) { return a->last_use < b->last_use; });
    checks_.erase(oldest);
  }
  auto check = std::make_unique<Check>();
  check->margin_y = margin_y;
  check->margin_x = margin_x;
  check->whole = whole;
  check->last_use = clock_;
  const int64_t rows = height_ - 2 * margin_y;
  const int64_t cols = width_ - 2 * margin_x;
  // Side and inset in whole periods keep the pattern's phase.
  const int64_t side = whole ? std::max(rows, cols) : kCheckWindow / period_ * period_;
  check->rows = std::min(rows, side);
  check->cols = std::min(cols, side);
  check->inset_y = (rows - check->rows) / 2 / period_ * period_;
  check->inset_x = (cols - check->cols) / 2 / period_ * period_;
  if (rows >= period_ && cols >= period_) {
    ptp_align_desc desc = desc_;
    desc.height = check->rows;
    desc.width = check->cols;
    try {
      check->plan = create_align_plan(context_, &desc, /*isolated_sites=*/false);
    } catch (const Error& e) {
      // Cuts too small for the estimator: the crop cannot be confirmed.
      if (e.status() != PTP_ERROR_INVALID_SIZE) throw;
    }
  }
  checks_.push_back(std::move(check));
  return *checks_.back();
}

CropVerifier::Outcome CropVerifier::check(const void* frame, int64_t crop_y, int64_t crop_x) {
  const auto [margin_y, margin_x] = margins(crop_y, crop_x);
  Check& window = check_for(margin_y, margin_x, false);
  const bool part = window.rows < height_ - 2 * margin_y || window.cols < width_ - 2 * margin_x;
  const Outcome windowed = check_with(window, frame, crop_y, crop_x);
  if (windowed.confirmed || !part) return windowed;
  return check_with(check_for(margin_y, margin_x, true), frame, crop_y, crop_x);
}

CropVerifier::Outcome CropVerifier::check_with(Check& check, const void* frame, int64_t crop_y,
                                               int64_t crop_x) {
  Outcome outcome;
  if (!check.plan) return outcome;
  const int64_t rows = check.rows;
  const int64_t cols = check.cols;
  const int64_t top = check.margin_y + check.inset_y;
  const int64_t left = check.margin_x + check.inset_x;
  if (check.reference_generation != reference_generation_) {
    // The reference's cut depends on the margins (and the window) only.
    cut(reference_, top, left, rows, cols, frame_cut_);
    check.reference_generation = 0;
    align_set_reference(*check.plan, frame_cut_.data());
    check.reference_generation = reference_generation_;
  }
  // reference[y, x] ~ frame[y - crop_y, x - crop_x] under the crop.
  cut(frame, top - crop_y, left - crop_x, rows, cols, frame_cut_);
  const void* cut_frame = frame_cut_.data();
  ptp_align_result result{};
  align_execute_frames(*check.plan, &cut_frame, 1, &result, nullptr, nullptr);
  if (result.status != PTP_SUCCESS) return outcome;
  outcome.aligned = true;
  outcome.residual[0] = result.shift[0];
  outcome.residual[1] = result.shift[1];
  // Half a period (half a pixel without a pattern); 1e-9 absorbs the rounding of shifts
  // scaled from plane or image pixels.
  const double limit = 0.5 * static_cast<double>(period_) + 1e-9;
  outcome.confirmed = std::fabs(result.shift[0]) <= limit && std::fabs(result.shift[1]) <= limit;
  return outcome;
}

}  // namespace ptychopatch::impl
