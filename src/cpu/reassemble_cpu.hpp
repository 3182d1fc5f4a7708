// CPU backend of reassembly (the adjoint of extraction): the canvas is split
// into bands of rows, one per thread; every thread visits all patches in
// order and applies only the contributions that land in its band, so each
// canvas pixel sums its terms in one fixed order whatever the thread count.
#pragma once

#include <cstdint>

#include "core/extract_plan.hpp"
#include "core/progress.hpp"

namespace ptychopatch::impl::cpu {

// All arguments already validated (num_patches >= 0, a multiple of the
// group size; patches and offsets non-null when num_patches > 0). Overwrites
// canvas (H x W elements) and, when non-null, weights (H x W float32) with
// the float32 sums. The result is bitwise independent of num_threads: every
// canvas pixel adds its terms in patch order, then pixel (y, x) order, then
// corner order 00, 01, 10, 11 (see math/patch_scatter.hpp).
// With a progress callback the patches are added in chunks of consecutive
// patches (whole groups), reported between chunks; the result is bitwise
// that of one pass, since every pixel still adds its terms in patch order.
template <class Offsets>
void reassemble(const ExtractGeometry& geometry, const float* patches, const Offsets& offsets,
                int64_t num_patches, float* canvas, float* weights, int32_t num_threads,
                const Progress& progress);

}  // namespace ptychopatch::impl::cpu
