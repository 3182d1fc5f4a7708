#include "core/offsets_gradient.hpp"

#include <cstdint>
#include <string>

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "cpu/offsets_gradient_cpu.hpp"
#include "math/patch_indexing.hpp"

namespace ptychopatch::impl {
namespace {

template <class T>
void run_backend(const ptp_extract_plan& plan, const void* object, const void* offsets,
                 int64_t num_patches, const void* grad_patches, void* grad_offsets) {
  const ExtractGeometry& g = plan.geometry;
  const math::PairOffsets<T> source{static_cast<const T*>(offsets)};
  if (g.memory == PTP_MEMORY_HOST)
    require_finite_offsets(source, num_patches, g.group_size, /*legacy=*/false);
  const Progress progress(plan.progress, num_patches, "patches");
  if (num_patches == 0) {
    progress.report(0);
    return;
  }
  if (plan.context->backend == PTP_BACKEND_GPU) {
    // One launch (per chunk of host arrays): progress before and after it.
    progress.report(0);
    gpu::offsets_gradient(*plan.context, g, object, offsets, num_patches, grad_patches,
                          grad_offsets);
    progress.report(num_patches);
    return;
  }
  cpu::offsets_gradient(g, static_cast<const float*>(object), source, num_patches,
                        static_cast<const float*>(grad_patches), static_cast<T*>(grad_offsets),
                        plan.context->num_threads, progress);
}

}  // namespace

void execute_offsets_gradient(const ptp_extract_plan& plan, const void* object, const void* offsets,
                              int64_t num_patches, const void* grad_patches,
                              size_t grad_patches_bytes, void* grad_offsets,
                              size_t grad_offsets_bytes) {
  const ExtractGeometry& g = plan.geometry;
  require_non_null(object, "object");
  require_patch_count(g, num_patches, "the patch count");
  const size_t needed = extract_output_bytes(g, num_patches);
  const int64_t offset_bytes = g.offset_dtype == PTP_DTYPE_FLOAT64 ? 8 : 4;
  const int64_t gradient_bytes =
      checked_mul(checked_mul(num_patches, int64_t{2}, "2 * num_patches"), offset_bytes,
                  "the offset gradient's byte size");
  if (num_patches > 0) {
    require_non_null(offsets, "offsets");
    require_non_null(grad_patches, "grad_patches");
    require_non_null(grad_offsets, "grad_offsets");
  }
  require_buffer_bytes("grad_patches_bytes", grad_patches_bytes, needed,
                       std::to_string(num_patches) + " patches need");
  require_buffer_bytes("grad_offsets_bytes", grad_offsets_bytes,
                       static_cast<uint64_t>(gradient_bytes),
                       std::to_string(num_patches) + " (x, y) pairs need");
  require_backend_for_memory(plan);
  if (g.offset_dtype == PTP_DTYPE_FLOAT64)
    run_backend<double>(plan, object, offsets, num_patches, grad_patches, grad_offsets);
  else
    run_backend<float>(plan, object, offsets, num_patches, grad_patches, grad_offsets);
}

}  // namespace ptychopatch::impl
