// The numbers behind ptp_extract_diagnostics for one call, kept on the
// plan (ptp_extract_plan::diagnostics) and per thread; core/diagnostics.hpp
// counts and reports them.
#pragma once

#include <cstdint>

#include "ptychopatch.h"

namespace ptychopatch::impl {

// What one call found, in numbers; the message is written when queried.
struct CallDiagnostics {
  int32_t call = PTP_DIAGNOSED_NONE;  // ptp_diagnosed_call
  bool legacy = false;                // offsets in the global + local form
  int64_t total = 0;                  // patches of the call
  int64_t outside = -1;               // -1: not counted
  int64_t first_outside = -1;
  float first_x = 0.0f;  // float32 offset of the first one, as the formula used it
  float first_y = 0.0f;
  int64_t height = 0;
  int64_t width = 0;
  int64_t group_size = 1;
};

}  // namespace ptychopatch::impl
