#include "core/error.hpp"
#include "core/gpu_runtime.hpp"

namespace ptychopatch::impl::gpu {

// Placeholder until the GPU path lands (issue 3, in progress).
void reassemble(const ptp_context&, const ExtractGeometry&, const void*, const void*, int64_t,
                void*, float*) {
  fail(PTP_ERROR_UNSUPPORTED, "GPU reassembly is not implemented yet");
}

}  // namespace ptychopatch::impl::gpu
