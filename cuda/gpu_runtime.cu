// Device discovery through the CUDA runtime (linked statically, so a machine
// without the toolkit can still load the library). With no driver or no
// device every query answers "none" instead of failing: that is the signal
// for the CPU fallback.
#include <cuda_runtime.h>

#include <string>

#include "core/gpu_runtime.hpp"
#include "device_guard.cuh"

namespace ptychopatch::impl::gpu {
namespace {

// Compiled with the same architecture list as every kernel of the library:
// if the device can load this, it can load them.
__global__ void architecture_probe_kernel() {}

}  // namespace

bool built_with_cuda() noexcept {
  return true;
}

int32_t device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return count;
}

std::string device_problem(int32_t device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  }
  if (device < 0 || device >= count)
    return "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
           " device(s) present)";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    return "CUDA device " + std::to_string(device) + " cannot be queried";
  }
  const ScopedDevice scoped(device);
  cudaFuncAttributes attributes{};
  if (scoped.status() != cudaSuccess ||
      cudaFuncGetAttributes(&attributes, architecture_probe_kernel) != cudaSuccess) {
    cudaGetLastError();
    return "CUDA device " + std::to_string(device) + " (" + prop.name + ", compute capability " +
           std::to_string(prop.major) + "." + std::to_string(prop.minor) +
           ") cannot run this build's kernels; rebuild with CMAKE_CUDA_ARCHITECTURES including " +
           std::to_string(prop.major * 10 + prop.minor);
  }
  return {};
}

}  // namespace ptychopatch::impl::gpu
