#include "core/gpu_runtime.hpp"

#include "core/error.hpp"

namespace ptychopatch::impl::gpu {

bool built_with_cuda() noexcept {
  return false;
}

int32_t device_count() noexcept {
  return 0;
}

DeviceCheck check_device(int32_t) {
  return {PTP_BACKEND_REASON_NO_CUDA_BUILD,
          "this build of libptychopatch has no CUDA support (built with PTYCHOPATCH_CUDA=OFF)"};
}

std::shared_ptr<void> make_workspace(int32_t, uint64_t) {
  return nullptr;
}

void extract(const ptp_context&, const ExtractGeometry&, const void*, const OffsetArrays&, int64_t,
             void*) {
  // Unreachable: without CUDA no context resolves to the GPU backend.
  fail(PTP_ERROR_INTERNAL, "GPU extraction requested from a build without CUDA");
}

void reassemble(const ptp_context&, const ExtractGeometry&, const void*, const void*, int64_t,
                void*, float*) {
  fail(PTP_ERROR_INTERNAL, "GPU reassembly requested from a build without CUDA");
}

void offsets_gradient(const ptp_context&, const ExtractGeometry&, const void*, const void*, int64_t,
                      const void*, void*) {
  fail(PTP_ERROR_INTERNAL, "GPU offset gradient requested from a build without CUDA");
}

void synchronize(const ptp_context&) {
  fail(PTP_ERROR_INTERNAL, "GPU synchronisation requested from a build without CUDA");
}

std::unique_ptr<AlignBackend> make_align_backend(const ptp_context&, const AlignGeometry&) {
  fail(PTP_ERROR_INTERNAL, "GPU alignment requested from a build without CUDA");
}

}  // namespace ptychopatch::impl::gpu
