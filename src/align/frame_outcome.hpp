// One frame's outcome inside ptp_align_execute*: what the coarse stage finds, the fine
// stage and the assessment change, and the caller's outputs are written from.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "align/align_backend.hpp"
#include "align/align_plan.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

inline constexpr double kNoShift = std::numeric_limits<double>::quiet_NaN();

// One frame's outcome, before it is written out.
struct FrameOutcome {
  ptp_status status = PTP_SUCCESS;
  std::string message;
  double shift[2] = {kNoShift, kNoShift};  // combined, snapped if asked
  double unsnapped[2] = {kNoShift, kNoShift};
  double confidence = 0.0;
  int32_t planes_used = 0;
  uint32_t flags = 0;  // enum ptp_align_flag

  // A doubt (one flag) on a frame with a result, its note after any earlier note.
  void add_note(ptp_align_flag flag, const std::string& note) {
    flags |= flag;
    message = message.empty() ? note : message + "; " + note;
  }
};

// A frame's shift (dy, dx): kept unsnapped (its crop is theirs), and as the
// result snapped to CFA blocks where the plan snaps.
inline void set_frame_shift(const AlignGeometry& g, double dy, double dx, FrameOutcome& out) {
  const int64_t block = g.cfa == PTP_CFA_BAYER ? 2 : 3;
  out.unsnapped[0] = dy;
  out.unsnapped[1] = dx;
  out.shift[0] = g.snap ? snap_shift(dy, block) : dy;
  out.shift[1] = g.snap ? snap_shift(dx, block) : dx;
}

// A frame the call did not reach: the progress callback stopped it first.
inline void set_cancelled(int64_t index, FrameOutcome& out) {
  out = FrameOutcome{};
  out.status = PTP_ERROR_CANCELLED;
  out.message = "frames[" + std::to_string(index) +
                "] was not aligned: the progress callback stopped the call";
}

}  // namespace ptychopatch::impl
