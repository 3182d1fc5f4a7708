#include "core/extract_plan.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/context.hpp"
#include "core/desc_versions.hpp"
#include "core/diagnostics.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "cpu/extract_cpu.hpp"
#include "math/patch_indexing.hpp"

namespace ptychopatch::impl {
namespace {

// Patch sizes stay below 2^24 so every pixel position x < N is exact in
// float32, as the formula fl32(x + offset) assumes.
constexpr int64_t kMaxPatchSize = int64_t{1} << 24;

std::string field_error(const char* field, int64_t value, const char* rule) {
  return std::string("desc->") + field + " is " + std::to_string(value) + ", " + rule;
}

template <class Offsets>
void run_backend(const ptp_extract_plan& plan, const void* object, const OffsetArrays& arrays,
                 const Offsets& offsets, int64_t num_patches, void* patches) {
  const ExtractGeometry& g = plan.geometry;
  if (g.memory == PTP_MEMORY_HOST)
    require_finite_offsets(offsets, num_patches, g.group_size, arrays.legacy);
  const Progress progress(plan.progress, num_patches, "patches");
  if (num_patches == 0) {
    progress.report(0);
    return;
  }
  if (plan.context->backend == PTP_BACKEND_GPU) {
    // One launch (per pipeline chunk) for all patches, by design: progress
    // is reported before and after it.
    progress.report(0);
    gpu::extract(*plan.context, g, object, arrays, num_patches, patches);
    progress.report(num_patches);
    return;
  }
  cpu::extract(g, static_cast<const float*>(object), offsets, num_patches,
               static_cast<float*>(patches), plan.context->num_threads, progress);
}

template <class T>
void dispatch_offsets(const ptp_extract_plan& plan, const void* object, const OffsetArrays& arrays,
                      int64_t num_patches, void* patches) {
  if (arrays.legacy) {
    const math::LegacyOffsets<T> source{static_cast<const T*>(arrays.global),
                                        static_cast<const T*>(arrays.local),
                                        plan.geometry.group_size};
    run_backend(plan, object, arrays, source, num_patches, patches);
  } else {
    const math::PairOffsets<T> source{static_cast<const T*>(arrays.pairs)};
    run_backend(plan, object, arrays, source, num_patches, patches);
  }
}

}  // namespace

std::string describe_offset(int64_t patch, int64_t group_size, bool legacy) {
  if (!legacy) return "argument 'offsets': the offset of patch " + std::to_string(patch);
  return "arguments 'global_offsets' + 'local_offsets': the float32 offset of group " +
         std::to_string(patch / group_size) + " member " + std::to_string(patch % group_size);
}

void require_patch_count(const ExtractGeometry& g, int64_t num_patches, const char* count) {
  if (num_patches < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         std::string(count) + " is " + std::to_string(num_patches) + ", must be >= 0");
  if (num_patches % g.group_size != 0)
    fail(PTP_ERROR_INVALID_SIZE, "argument 'num_patches' is " + std::to_string(num_patches) +
                                     ", not a multiple of the plan's group_size " +
                                     std::to_string(g.group_size));
}

void require_buffer_bytes(const char* argument, size_t bytes, uint64_t needed,
                          const std::string& needs) {
  if (static_cast<uint64_t>(bytes) < needed)
    fail(PTP_ERROR_BUFFER_TOO_SMALL, std::string("argument '") + argument + "' is " +
                                         std::to_string(bytes) + " but " + needs + " " +
                                         std::to_string(needed) + " bytes");
}

void require_backend_for_memory(const ptp_extract_plan& plan) {
  if (plan.geometry.memory == PTP_MEMORY_DEVICE && plan.context->backend != PTP_BACKEND_GPU)
    fail(PTP_ERROR_UNSUPPORTED,
         "desc->memory is PTP_MEMORY_DEVICE but the context runs on the CPU; device arrays need "
         "a GPU context");
}

void default_extract_desc(ptp_extract_desc* desc) {
  *desc = ptp_extract_desc{};
  desc->struct_size = sizeof(ptp_extract_desc);
  desc->group_size = 1;
  desc->object_dtype = PTP_DTYPE_COMPLEX64;
  desc->offset_dtype = PTP_DTYPE_FLOAT64;
  desc->layout = PTP_LAYOUT_CHANNEL;
  desc->memory = PTP_MEMORY_HOST;
}

ExtractGeometry validate_extract_desc(const ptp_extract_desc* given) {
  const ptp_extract_desc* desc = current_desc(given, "desc");
  if (desc->height < 1)
    fail(PTP_ERROR_INVALID_SIZE, field_error("height", desc->height, "must be >= 1"));
  if (desc->width < 1)
    fail(PTP_ERROR_INVALID_SIZE, field_error("width", desc->width, "must be >= 1"));
  if (desc->patch_size < 1)
    fail(PTP_ERROR_INVALID_SIZE, field_error("patch_size", desc->patch_size, "must be >= 1"));
  if (desc->patch_size > kMaxPatchSize)
    fail(PTP_ERROR_INVALID_SIZE,
         field_error("patch_size", desc->patch_size, "must be <= 16777216 (2^24)"));
  if (desc->group_size < 1)
    fail(PTP_ERROR_INVALID_SIZE, field_error("group_size", desc->group_size, "must be >= 1"));
  if (desc->object_dtype != PTP_DTYPE_COMPLEX64 && desc->object_dtype != PTP_DTYPE_FLOAT32)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("object_dtype", desc->object_dtype,
                     "must be PTP_DTYPE_COMPLEX64 or PTP_DTYPE_FLOAT32"));
  if (desc->offset_dtype != PTP_DTYPE_FLOAT64 && desc->offset_dtype != PTP_DTYPE_FLOAT32)
    fail(PTP_ERROR_INVALID_ARGUMENT, field_error("offset_dtype", desc->offset_dtype,
                                                 "must be PTP_DTYPE_FLOAT64 or PTP_DTYPE_FLOAT32"));
  if (desc->layout != PTP_LAYOUT_CHANNEL && desc->layout != PTP_LAYOUT_FLAT)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("layout", desc->layout, "must be PTP_LAYOUT_CHANNEL or PTP_LAYOUT_FLAT"));
  if (desc->memory != PTP_MEMORY_HOST && desc->memory != PTP_MEMORY_DEVICE)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("memory", desc->memory, "must be PTP_MEMORY_HOST or PTP_MEMORY_DEVICE"));

  ExtractGeometry g{};
  g.height = desc->height;
  g.width = desc->width;
  g.n = desc->patch_size;
  g.half = desc->patch_size / 2;
  g.group_size = desc->group_size;
  g.lanes = desc->object_dtype == PTP_DTYPE_COMPLEX64 ? 2 : 1;
  g.channel_layout = desc->layout == PTP_LAYOUT_CHANNEL;
  g.offset_dtype = static_cast<ptp_dtype>(desc->offset_dtype);
  g.memory = static_cast<ptp_memory>(desc->memory);
  g.element_bytes = 4 * g.lanes;
  // The object and one patch must be addressable; the per-call output size
  // is checked against the call's patch count.
  const int64_t object_elements = checked_mul(g.height, g.width, "desc->height * desc->width");
  checked_mul(object_elements, g.element_bytes, "the object's byte size");
  const int64_t patch_elements = checked_mul(g.n, g.n, "desc->patch_size * desc->patch_size");
  checked_mul(checked_mul(patch_elements, g.group_size, "N * N * group_size"), g.element_bytes,
              "one group's byte size");
  return g;
}

size_t extract_output_bytes(const ExtractGeometry& g, int64_t num_patches) {
  const int64_t elements =
      checked_mul(checked_mul(g.n, g.n, "N * N"), num_patches, "num_patches * N * N");
  const int64_t bytes = checked_mul(elements, g.element_bytes, "the patch array's byte size");
  if constexpr (sizeof(size_t) < sizeof(int64_t)) {
    if (static_cast<uint64_t>(bytes) > static_cast<uint64_t>(SIZE_MAX))
      fail(PTP_ERROR_SIZE_OVERFLOW, "the patch array's byte size exceeds this platform's size_t");
  }
  return static_cast<size_t>(bytes);
}

void execute_extract(const ptp_extract_plan& plan, const void* object, const OffsetArrays& offsets,
                     int64_t num_patches, void* patches, size_t patches_bytes) {
  const ExtractGeometry& g = plan.geometry;
  begin_diagnostics(plan);
  require_non_null(object, "object");
  require_patch_count(g, num_patches, "the patch count");
  const size_t needed = extract_output_bytes(g, num_patches);
  if (num_patches > 0) {
    if (offsets.legacy) {
      require_non_null(offsets.global, "global_offsets");
      require_non_null(offsets.local, "local_offsets");
    } else {
      require_non_null(offsets.pairs, "offsets");
    }
    require_non_null(patches, "patches");
  }
  require_buffer_bytes("patches_bytes", patches_bytes, needed,
                       std::to_string(num_patches) + " patches need");
  require_backend_for_memory(plan);
  if (g.offset_dtype == PTP_DTYPE_FLOAT64)
    dispatch_offsets<double>(plan, object, offsets, num_patches, patches);
  else
    dispatch_offsets<float>(plan, object, offsets, num_patches, patches);
  record_diagnostics(plan, diagnose(g, PTP_DIAGNOSED_EXTRACT, offsets, num_patches));
}

}  // namespace ptychopatch::impl
