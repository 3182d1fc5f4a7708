// The one way this library starts a kernel. Every launch goes through
// launch_kernel, so the kernel text exists once and runs in two builds:
//  - nvcc: the <<<grid, block, shared, stream>>> launch, then
//    cudaGetLastError() for a bad configuration or a missing kernel image;
//  - the emulated device of the tests (tests/emulation/, host C++ compiled
//    with PTYCHOPATCH_EMULATED_GPU): the emulator queues the grid on the
//    stream and runs each block's threads as fibers when the stream is
//    drained, with the same configuration limits as a real device.
// The arguments are converted to the kernel's parameter types and copied at
// the call, as CUDA copies kernel parameters at launch.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace ptychopatch::impl::gpu {

template <class... Params, class... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                          cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "a kernel argument is missing or extra");
#if defined(PTYCHOPATCH_EMULATED_GPU)
  return ::ptp_emu::launch(kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
#else
  // clang-format reads the launch brackets as template brackets:
  // clang-format off
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  // clang-format on
  return cudaGetLastError();
#endif
}

}  // namespace ptychopatch::impl::gpu
