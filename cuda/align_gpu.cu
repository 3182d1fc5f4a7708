#include "core/error.hpp"
#include "core/gpu_runtime.hpp"

namespace ptychopatch::impl::gpu {

// Placeholder until the cuFFT backend lands (issue 4, in progress).
std::unique_ptr<AlignBackend> make_align_backend(const ptp_context&, const AlignGeometry&) {
  fail(PTP_ERROR_UNSUPPORTED, "GPU scene alignment is not implemented yet");
}

}  // namespace ptychopatch::impl::gpu
