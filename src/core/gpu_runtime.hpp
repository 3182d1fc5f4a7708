// What the rest of the library needs to know about CUDA. Implemented in
// cuda/gpu_runtime.cu when the library is built with CUDA, and by
// src/core/gpu_runtime_none.cpp otherwise, so no CPU source includes a CUDA
// header.
#pragma once

#include <cstdint>
#include <string>

#include "core/context.hpp"
#include "core/extract_plan.hpp"

namespace ptychopatch::impl::gpu {

bool built_with_cuda() noexcept;

// Usable CUDA devices; 0 when there is no CUDA support, driver or device.
int32_t device_count() noexcept;

// Empty when `device` can run this library's kernels, else the reason.
std::string device_problem(int32_t device);

// Patch extraction of validated host arrays on the context's device.
void extract(const ptp_context& context, const ExtractGeometry& geometry, const void* object,
             const OffsetArrays& offsets, int64_t num_patches, void* patches);

}  // namespace ptychopatch::impl::gpu
