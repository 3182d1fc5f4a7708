// Makes a device current for the lifetime of a scope and then restores the
// caller's: the library must not change which device the caller's own CUDA
// code runs on.
//
// The caller's state is the driver context current on the thread (which may
// be none, or a context of the caller's own), saved and restored through the
// driver entry points the runtime hands out. Restoring with cudaSetDevice
// instead would, on a thread that never chose a device, make device 0's
// primary context current (cudaGetDevice answers 0 there) and so create it,
// costing hundreds of MiB on a GPU the caller never used; and it would
// replace a caller's non-primary context with a primary one.
// cudaGetDevice / cudaSetDevice remain the fallback where the entry points
// cannot be had.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

namespace ptychopatch::impl::gpu {

namespace detail {

struct DriverContextApi {
  CUresult(CUDAAPI* get_current)(CUcontext*) = nullptr;
  CUresult(CUDAAPI* set_current)(CUcontext) = nullptr;
  bool usable() const { return get_current != nullptr && set_current != nullptr; }
};

inline DriverContextApi load_driver_context_api() {
  DriverContextApi api;
  void* get = nullptr;
  void* set = nullptr;
  cudaDriverEntryPointQueryResult get_found = cudaDriverEntryPointSymbolNotFound;
  cudaDriverEntryPointQueryResult set_found = cudaDriverEntryPointSymbolNotFound;
  // Both functions exist unchanged since CUDA 4.0.
  if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &get, 4000, cudaEnableDefault,
                                       &get_found) != cudaSuccess ||
      cudaGetDriverEntryPointByVersion("cuCtxSetCurrent", &set, 4000, cudaEnableDefault,
                                       &set_found) != cudaSuccess ||
      get_found != cudaDriverEntryPointSuccess || set_found != cudaDriverEntryPointSuccess) {
    cudaGetLastError();
    return api;
  }
  api.get_current = reinterpret_cast<CUresult(CUDAAPI*)(CUcontext*)>(get);
  api.set_current = reinterpret_cast<CUresult(CUDAAPI*)(CUcontext)>(set);
  return api;
}

inline const DriverContextApi& driver_context_api() {
  static const DriverContextApi api = load_driver_context_api();
  return api;
}

}  // namespace detail

class ScopedDevice {
 public:
  // status() tells whether the switch succeeded.
  explicit ScopedDevice(int device) {
    const detail::DriverContextApi& api = detail::driver_context_api();
    if (api.usable() && api.get_current(&saved_context_) == CUDA_SUCCESS) {
      restore_context_ = true;
    } else if (cudaGetDevice(&previous_) != cudaSuccess) {
      cudaGetLastError();
      previous_ = -1;
    }
    status_ = cudaSetDevice(device);
  }
  ~ScopedDevice() {
    if (restore_context_)
      detail::driver_context_api().set_current(saved_context_);
    else if (previous_ >= 0)
      cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  cudaError_t status() const { return status_; }

 private:
  bool restore_context_ = false;
  CUcontext saved_context_ = nullptr;
  int previous_ = -1;
  cudaError_t status_ = cudaSuccess;
};

}  // namespace ptychopatch::impl::gpu
