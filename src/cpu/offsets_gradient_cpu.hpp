// CPU backend of the offset gradient of extraction
// (ptp_extract_offsets_gradient): threads over patches, each patch summed
// in the fixed order of math/patch_gradient.hpp, so the result is the CUDA
// kernel's bit for bit whatever the thread count.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "core/progress.hpp"

namespace ptychopatch::impl::cpu {

// All arguments already validated (num_patches > 0, a multiple of the
// group size). Writes grad_offsets[2p] (x) and [2p + 1] (y) of every patch,
// each a double sum rounded once to T. With a progress callback the patches
// are cut in chunks of whole groups, reported between chunks.
template <class Offsets, class T>
void offsets_gradient(const ExtractGeometry& geometry, const float* object, const Offsets& offsets,
                      int64_t num_patches, const float* grad_patches, T* grad_offsets,
                      int32_t num_threads, const Progress& progress);

}  // namespace ptychopatch::impl::cpu
