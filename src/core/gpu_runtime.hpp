// What the rest of the library needs to know about CUDA. Implemented in
// cuda/gpu_runtime.cu when the library is built with CUDA, and by
// src/core/gpu_runtime_none.cpp otherwise, so no CPU source includes a CUDA
// header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "align/align_backend.hpp"
#include "core/context.hpp"
#include "core/extract_plan.hpp"

namespace ptychopatch::impl::gpu {

bool built_with_cuda() noexcept;

// Usable CUDA devices; 0 when there is no CUDA support, driver or device.
int32_t device_count() noexcept;

// Whether `device` can run this build's GPU backend.
struct DeviceCheck {
  // PTP_BACKEND_REASON_GPU when it can; else NO_CUDA_BUILD, NO_GPU or
  // GPU_UNUSABLE.
  ptp_backend_reason reason;
  // A sentence: the device (and whether alignment has cuFFT) when usable,
  // else why not.
  std::string message;
};
DeviceCheck check_device(int32_t device);

// The reusable per-context resources of the GPU backend on `device`, sized
// for the context's device_memory_budget (0: the default).
std::shared_ptr<void> make_workspace(int32_t device, uint64_t device_memory_budget);

// Patch extraction on the context's device, num_patches > 0, arguments
// validated by the core. Host arrays (geometry.memory == PTP_MEMORY_HOST)
// have had their offsets checked for finiteness; device arrays are checked
// on the device, in stream order, and a call with a bad offset writes
// nothing and is reported by synchronize().
void extract(const ptp_context& context, const ExtractGeometry& geometry, const void* object,
             const OffsetArrays& offsets, int64_t num_patches, void* patches);

// Reassembly (the adjoint of extract) on the context's device, same
// contract: canvas (H x W of the object's type) and weights (H x W float32,
// or nullptr) are overwritten; num_patches >= 0. Offsets are (x, y) pairs of
// geometry.offset_dtype.
void reassemble(const ptp_context& context, const ExtractGeometry& geometry, const void* patches,
                const void* offsets, int64_t num_patches, void* canvas, float* weights);

// The offset gradient of extraction (ptp_extract_offsets_gradient) on the
// context's device, num_patches > 0, arguments validated by the core; host
// and device arrays as for extract (device offsets checked on the device,
// a call with a bad one writing nothing). Offsets and grad_offsets are
// (x, y) pairs of geometry.offset_dtype; bitwise the CPU path's result.
void offsets_gradient(const ptp_context& context, const ExtractGeometry& geometry,
                      const void* object, const void* offsets, int64_t num_patches,
                      const void* grad_patches, void* grad_offsets);

// ptp_context_synchronize on a GPU context: waits for the context's stream
// and throws PTP_ERROR_NON_FINITE if a device-array call since the last
// synchronize found a non-finite offset (and so wrote nothing).
void synchronize(const ptp_context& context);

// The cuFFT backend of scene alignment on the context's device
// (cuda/align_gpu.cu).
std::unique_ptr<AlignBackend> make_align_backend(const ptp_context& context,
                                                 const AlignGeometry& geometry);

}  // namespace ptychopatch::impl::gpu
