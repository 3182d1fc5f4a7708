#include "core/diagnostics.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace ptychopatch::impl {
namespace {

thread_local CallDiagnostics g_thread_diagnostics;

template <class T>
void count_offsets(const ExtractGeometry& g, const OffsetArrays& arrays, int64_t num_patches,
                   CallDiagnostics& found) {
  if (arrays.legacy) {
    const math::LegacyOffsets<T> source{static_cast<const T*>(arrays.global),
                                        static_cast<const T*>(arrays.local), g.group_size};
    count_outside(g, source, num_patches, found);
  } else {
    const math::PairOffsets<T> source{static_cast<const T*>(arrays.pairs)};
    count_outside(g, source, num_patches, found);
  }
}

// "patch 7" or, for the legacy form, "group 1 member 3".
void describe_patch(const CallDiagnostics& found, char* text, size_t size) {
  const int64_t p = found.first_outside;
  if (found.legacy)
    std::snprintf(text, size, "group %" PRId64 " member %" PRId64, p / found.group_size,
                  p % found.group_size);
  else
    std::snprintf(text, size, "patch %" PRId64, p);
}

}  // namespace

CallDiagnostics diagnose(const ExtractGeometry& g, int32_t call, const OffsetArrays& offsets,
                         int64_t num_patches) {
  CallDiagnostics found;
  found.call = call;
  found.legacy = offsets.legacy;
  found.total = num_patches;
  found.height = g.height;
  found.width = g.width;
  found.group_size = g.group_size;
  if (g.memory != PTP_MEMORY_HOST) return found;  // device offsets: not counted
  if (g.offset_dtype == PTP_DTYPE_FLOAT64)
    count_offsets<double>(g, offsets, num_patches, found);
  else
    count_offsets<float>(g, offsets, num_patches, found);
  return found;
}

void begin_diagnostics(const ptp_extract_plan& plan) noexcept {
  plan.diagnostics = CallDiagnostics{};
  g_thread_diagnostics = CallDiagnostics{};
}

void begin_diagnostics(const ptp_extract_plan* plan) noexcept {
  if (plan != nullptr) plan->diagnostics = CallDiagnostics{};
  g_thread_diagnostics = CallDiagnostics{};
}

void record_diagnostics(const ptp_extract_plan& plan, const CallDiagnostics& found) noexcept {
  plan.diagnostics = found;
  g_thread_diagnostics = found;
}

const CallDiagnostics& thread_diagnostics() noexcept {
  return g_thread_diagnostics;
}

void default_diagnostics(ptp_extract_diagnostics* out) {
  *out = ptp_extract_diagnostics{};
  out->struct_size = sizeof(ptp_extract_diagnostics);
  out->call = PTP_DIAGNOSED_NONE;
  out->patches_total = 0;
  out->patches_outside = -1;
  out->first_outside = -1;
  out->first_outside_offset[0] = std::numeric_limits<double>::quiet_NaN();
  out->first_outside_offset[1] = std::numeric_limits<double>::quiet_NaN();
  out->message[0] = '\0';
}

void fill_diagnostics(const CallDiagnostics& found, ptp_extract_diagnostics* out) {
  default_diagnostics(out);
  out->call = found.call;
  if (found.call == PTP_DIAGNOSED_NONE) return;
  out->patches_total = found.total;
  out->patches_outside = found.outside;
  if (found.outside < 0) {
    std::snprintf(out->message, sizeof out->message,
                  "patches outside the object not counted: the offsets are in device memory");
    return;
  }
  if (found.outside == 0) return;
  out->first_outside = found.first_outside;
  out->first_outside_offset[0] = found.first_x;
  out->first_outside_offset[1] = found.first_y;
  char which[64];
  describe_patch(found, which, sizeof which);
  const char* effect =
      found.call == PTP_DIAGNOSED_REASSEMBLE ? "add nothing to the canvas" : "are all zeros";
  std::snprintf(out->message, sizeof out->message,
                "%" PRId64 " of %" PRId64 " patches lie entirely outside the %" PRId64 " x %" PRId64
                " (H x W) object and %s; the first is %s at (x, y) = (%.9g, "
                "%.9g). Offsets are (x, y), x first: (y, x) pairs, or offsets in another "
                "frame (e.g. about the object's centre), put many outside",
                found.outside, found.total, found.height, found.width, effect, which,
                static_cast<double>(found.first_x), static_cast<double>(found.first_y));
}

}  // namespace ptychopatch::impl
