// Device discovery through the CUDA runtime (linked statically, so a machine
// without the toolkit can still load the library). With no driver or no
// device every query answers "none" instead of failing: that is the signal
// for the CPU fallback.
#include <cuda_runtime.h>

#include <string>

#include "core/gpu_runtime.hpp"

namespace ptychopatch::impl::gpu {

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
  if (prop.major < 7)
    return "CUDA device " + std::to_string(device) + " (" + prop.name +
           ") has compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + "; libptychopatch needs 7.0 or newer";
  return {};
}

}  // namespace ptychopatch::impl::gpu
