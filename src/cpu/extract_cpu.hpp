// CPU backend of patch extraction: threads over groups of patches, a
// vectorised row kernel for rows whose four corners are all inside the
// object, and the bounds-checked shared formula everywhere else.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "core/progress.hpp"

namespace ptychopatch::impl::cpu {

// All arguments already validated; writes exactly num_patches patches.
// With a progress callback the patches are cut in chunks of whole groups,
// reported between chunks (core/progress.hpp); without, in one pass.
template <class Offsets>
void extract(const ExtractGeometry& geometry, const float* object, const Offsets& offsets,
             int64_t num_patches, float* patches, int32_t num_threads, const Progress& progress);

}  // namespace ptychopatch::impl::cpu
