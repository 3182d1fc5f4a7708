// Makes a device current for the lifetime of a scope and then restores the
// caller's: the library must not change which device the caller's own CUDA
// code runs on.
#pragma once

#include <cuda_runtime.h>

namespace ptychopatch::impl::gpu {

class ScopedDevice {
 public:
  // status() tells whether the switch succeeded.
  explicit ScopedDevice(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) {
      cudaGetLastError();
      previous_ = -1;
    }
    status_ = cudaSetDevice(device);
  }
  ~ScopedDevice() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  cudaError_t status() const { return status_; }

 private:
  int previous_ = -1;
  cudaError_t status_ = cudaSuccess;
};

}  // namespace ptychopatch::impl::gpu
