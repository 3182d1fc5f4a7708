// The gradient of extraction with respect to the offsets
// (ptp_extract_offsets_gradient) on an extraction plan.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/extract_plan.hpp"

namespace ptychopatch::impl {

// Validates the call (arrays, sizes, finite host offsets), then runs the
// plan's backend. Writes nothing to grad_offsets unless every check passes.
// See ptp_extract_offsets_gradient.
void execute_offsets_gradient(const ptp_extract_plan& plan, const void* object, const void* offsets,
                              int64_t num_patches, const void* grad_patches,
                              size_t grad_patches_bytes, void* grad_offsets,
                              size_t grad_offsets_bytes);

}  // namespace ptychopatch::impl
