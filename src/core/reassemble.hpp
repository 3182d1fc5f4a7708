// Reassembly: the adjoint of patch extraction on an extraction plan.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/extract_plan.hpp"

namespace ptychopatch::impl {

// Validates the call (arrays, sizes, finite host offsets), then runs the
// plan's backend. Writes nothing to canvas or weights unless every check
// passes. See ptp_reassemble_execute.
void execute_reassemble(const ptp_extract_plan& plan, const void* patches, const void* offsets,
                        int64_t num_patches, void* canvas, size_t canvas_bytes, float* weights,
                        size_t weights_bytes);

}  // namespace ptychopatch::impl
