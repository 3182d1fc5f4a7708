// Patch extraction: the validated geometry, the object behind the opaque
// ptp_extract_plan handle, and the backend-independent execute step.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/call_diagnostics.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

// A ptp_extract_desc after validation, with the derived sizes.
struct ExtractGeometry {
  int64_t height;
  int64_t width;
  int64_t n;           // patch size N
  int64_t half;        // N / 2: the zero padding of the legacy frame
  int64_t group_size;  // c
  int lanes;           // floats per element: 1 (float32) or 2 (complex64)
  bool channel_layout;
  ptp_dtype offset_dtype;
  ptp_memory memory;
  int64_t element_bytes;
};

// Throws Error naming the offending field.
ExtractGeometry validate_extract_desc(const ptp_extract_desc* desc);

void default_extract_desc(ptp_extract_desc* desc);

// Bytes of the patch array of num_patches patches (checked for overflow).
size_t extract_output_bytes(const ExtractGeometry& geometry, int64_t num_patches);

// The offsets of one call: either (x, y) pairs or the legacy global + local
// arrays.
struct OffsetArrays {
  bool legacy = false;
  const void* pairs = nullptr;   // when !legacy
  const void* global = nullptr;  // when legacy
  const void* local = nullptr;   // when legacy
};

}  // namespace ptychopatch::impl

struct ptp_extract_plan {
  const ptp_context* context;
  ptychopatch::impl::ExtractGeometry geometry;
  // ptp_extract_set_progress; none by default.
  ptychopatch::impl::ProgressSink progress{};
  // What the plan's last call found (ptp_extract_plan_get_diagnostics);
  // written by calls, which take the plan as const (core/diagnostics.hpp).
  mutable ptychopatch::impl::CallDiagnostics diagnostics{};
};

namespace ptychopatch::impl {

// Throws PTP_ERROR_UNSUPPORTED when the plan's arrays are device memory and
// its context is not a GPU context.
void require_backend_for_memory(const ptp_extract_plan& plan);

// Throws PTP_ERROR_INVALID_SIZE unless num_patches is >= 0 and a multiple
// of the plan's group_size. `count` names the count in the message when it
// is negative (extraction says "the patch count").
void require_patch_count(const ExtractGeometry& geometry, int64_t num_patches,
                         const char* count = "argument 'num_patches'");

// Throws PTP_ERROR_BUFFER_TOO_SMALL unless `bytes`, the value of the
// argument named `argument`, is at least `needed`: "argument 'ARGUMENT' is
// BYTES but NEEDS NEEDED bytes", where `needs` says who needs them ("the
// H x W canvas needs", "4 patches need").
void require_buffer_bytes(const char* argument, size_t bytes, uint64_t needed,
                          const std::string& needs);

// "argument 'offsets': the offset of patch P" or, for the legacy form, the
// group and member: the subject of a message about one patch's offset.
std::string describe_offset(int64_t patch, int64_t group_size, bool legacy);

// Throws PTP_ERROR_NON_FINITE naming the first patch whose float32 offset
// (as the formula sees it) is not finite. Host arrays only.
template <class Offsets>
void require_finite_offsets(const Offsets& offsets, int64_t num_patches, int64_t group_size,
                            bool legacy) {
  for (int64_t p = 0; p < num_patches; ++p) {
    float x = 0.0f;
    float y = 0.0f;
    offsets.get(p, x, y);
    if (std::isfinite(x) && std::isfinite(y)) continue;
    char values[96];
    std::snprintf(values, sizeof values, " is not finite (x = %g, y = %g)", static_cast<double>(x),
                  static_cast<double>(y));
    fail(PTP_ERROR_NON_FINITE, describe_offset(p, group_size, legacy) + values);
  }
}

// Validates the call's arrays and sizes, checks every offset is finite, and
// runs the context's backend. Writes nothing to `patches` unless all checks
// pass.
void execute_extract(const ptp_extract_plan& plan, const void* object, const OffsetArrays& offsets,
                     int64_t num_patches, void* patches, size_t patches_bytes);

}  // namespace ptychopatch::impl
