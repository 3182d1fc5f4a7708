// Device discovery through the CUDA runtime (linked statically, so a machine
// without the toolkit can still load the library). With no driver or no
// device every query answers "none" instead of failing: that is the signal
// for the CPU fallback, and check_device says which of the reasons in
// ptp_backend_reason applies, in words a user can act on.
#include <cuda_runtime.h>

#include <sstream>
#include <string>

#include "align_cufft.cuh"
#include "core/gpu_runtime.hpp"
#include "cuda_support.cuh"
#include "device_guard.cuh"

#ifndef PTYCHOPATCH_CUDA_ARCHITECTURES
#error "PTYCHOPATCH_CUDA_ARCHITECTURES (CMAKE_CUDA_ARCHITECTURES) must be defined by the build"
#endif

namespace ptychopatch::impl::gpu {
namespace {

// Compiled with the same architecture list as every kernel of the library:
// if the device can load this, it can load them.
__global__ void architecture_probe_kernel() {}

// "13.0" from CUDA's 13000.
std::string cuda_version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// The oldest Linux driver branch that runs a CUDA runtime of this major
// version (CUDA's minor version compatibility).
std::string minimum_driver(int runtime_version) {
  switch (runtime_version / 1000) {
    case 12:
      return "525";
    case 13:
      return "580";
    default:
      return "one for CUDA " + cuda_version_text(runtime_version);
  }
}

// "sm_75, sm_80, ... and PTX for compute_120" from CMake's list, joined
// with spaces: "75-real 80-real ... 120" (a bare number carries both).
std::string carried_code() {
  const std::string archs = PTYCHOPATCH_CUDA_ARCHITECTURES;
  if (archs.empty() || archs[0] < '0' || archs[0] > '9')
    return "the code of CMAKE_CUDA_ARCHITECTURES=" + archs;  // e.g. native
  std::stringstream list(archs);
  std::string item, sass, ptx;
  while (list >> item) {
    const size_t dash = item.find('-');
    const std::string arch = item.substr(0, dash);
    const std::string kind = dash == std::string::npos ? "" : item.substr(dash + 1);
    if (kind != "virtual") sass += (sass.empty() ? "sm_" : ", sm_") + arch;
    if (kind != "real") ptx += (ptx.empty() ? "compute_" : ", compute_") + arch;
  }
  if (sass.empty()) sass = "no architecture";
  return ptx.empty() ? sass + " only" : sass + " and PTX for " + ptx;
}

std::string describe(int32_t device, const cudaDeviceProp& prop) {
  return "CUDA device " + std::to_string(device) + " (" + prop.name + ", compute capability " +
         std::to_string(prop.major) + "." + std::to_string(prop.minor) + ")";
}

DeviceCheck unusable(std::string message) {
  return {PTP_BACKEND_REASON_GPU_UNUSABLE, std::move(message)};
}

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

DeviceCheck check_device(int32_t device) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) cudaGetLastError();
    if (driver == 0) return {PTP_BACKEND_REASON_NO_GPU, "no NVIDIA driver is installed"};
    if (err == cudaErrorInsufficientDriver)
      return unusable("the NVIDIA driver supports CUDA " + cuda_version_text(driver) +
                      ", older than the CUDA " + cuda_version_text(CUDART_VERSION) +
                      " this build needs: install driver " + minimum_driver(CUDART_VERSION) +
                      " or newer");
    if (err == cudaErrorNoDevice)
      return {PTP_BACKEND_REASON_NO_GPU, "the NVIDIA driver reports no CUDA device"};
    return unusable(std::string("the CUDA driver cannot be used: ") + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ")");
  }
  if (count == 0) return {PTP_BACKEND_REASON_NO_GPU, "the NVIDIA driver reports no CUDA device"};
  if (device < 0 || device >= count)
    return unusable("CUDA device " + std::to_string(device) + " does not exist (" +
                    std::to_string(count) + " device(s) present)");
  const std::string lost = sticky_error(device);
  if (!lost.empty()) return unusable(lost);
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    return unusable("CUDA device " + std::to_string(device) + " cannot be queried");
  }
  const ScopedDevice scoped(device);
  if (scoped.status() != cudaSuccess) {
    const cudaError_t set = scoped.status();
    cudaGetLastError();
    return unusable(describe(device, prop) + " cannot be made current: " + cudaGetErrorName(set) +
                    " (" + cudaGetErrorString(set) + ")");
  }
  cudaFuncAttributes attributes{};
  const cudaError_t probe = cudaFuncGetAttributes(&attributes, architecture_probe_kernel);
  if (probe != cudaSuccess) {
    cudaGetLastError();
    if (probe != cudaErrorNoKernelImageForDevice && probe != cudaErrorInvalidDeviceFunction)
      return unusable(describe(device, prop) + " cannot load this build's kernels: " +
                      cudaGetErrorName(probe) + " (" + cudaGetErrorString(probe) + ")");
    return unusable(describe(device, prop) + " cannot run this build's kernels: it carries " +
                    carried_code() + "; rebuild with CMAKE_CUDA_ARCHITECTURES including " +
                    std::to_string(prop.major * 10 + prop.minor));
  }
  std::string message = describe(device, prop);
  const std::string no_fft = cufft::load_problem();
  if (!no_fft.empty()) message += "; " + no_fft;
  return {PTP_BACKEND_REASON_GPU, message};
}

}  // namespace ptychopatch::impl::gpu
