#include "core/reassemble.hpp"

#include <cstdint>
#include <string>

#include "core/context.hpp"
#include "core/diagnostics.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "cpu/reassemble_cpu.hpp"
#include "math/patch_indexing.hpp"

namespace ptychopatch::impl {
namespace {

template <class T>
void run_backend(const ptp_extract_plan& plan, const void* patches, const void* offsets,
                 int64_t num_patches, void* canvas, float* weights) {
  const ExtractGeometry& g = plan.geometry;
  const math::PairOffsets<T> source{static_cast<const T*>(offsets)};
  if (g.memory == PTP_MEMORY_HOST)
    require_finite_offsets(source, num_patches, g.group_size, /*legacy=*/false);
  const Progress progress(plan.progress, num_patches, "patches");
  if (plan.context->backend == PTP_BACKEND_GPU) {
    // Progress before and after the GPU's work, which is not split for it.
    progress.report(0);
    gpu::reassemble(*plan.context, g, patches, offsets, num_patches, canvas, weights);
    if (num_patches > 0) progress.report(num_patches);
    return;
  }
  cpu::reassemble(g, static_cast<const float*>(patches), source, num_patches,
                  static_cast<float*>(canvas), weights, plan.context->num_threads, progress);
}

}  // namespace

void execute_reassemble(const ptp_extract_plan& plan, const void* patches, const void* offsets,
                        int64_t num_patches, void* canvas, size_t canvas_bytes, float* weights,
                        size_t weights_bytes) {
  const ExtractGeometry& g = plan.geometry;
  begin_diagnostics(plan);
  require_patch_count(g, num_patches);
  // The patch array must be addressable (its size is implied by the count).
  extract_output_bytes(g, num_patches);
  if (num_patches > 0) {
    require_non_null(patches, "patches");
    require_non_null(offsets, "offsets");
  }
  require_non_null(canvas, "canvas");
  const int64_t pixels = checked_mul(g.height, g.width, "desc->height * desc->width");
  require_buffer_bytes("canvas_bytes", canvas_bytes,
                       checked_mul(pixels, g.element_bytes, "the canvas's byte size"),
                       "the H x W canvas needs");
  if (weights != nullptr)
    require_buffer_bytes("weights_bytes", weights_bytes,
                         checked_mul(pixels, int64_t{4}, "the weights canvas's byte size"),
                         "the H x W float32 weights canvas needs");
  require_backend_for_memory(plan);
  if (g.offset_dtype == PTP_DTYPE_FLOAT64)
    run_backend<double>(plan, patches, offsets, num_patches, canvas, weights);
  else
    run_backend<float>(plan, patches, offsets, num_patches, canvas, weights);
  OffsetArrays pairs;
  pairs.pairs = offsets;
  record_diagnostics(plan, diagnose(g, PTP_DIAGNOSED_REASSEMBLE, pairs, num_patches));
}

}  // namespace ptychopatch::impl
