// Shared by the GPU test files: the skip macro and small owners of CUDA
// memory and streams, so each test reads as what it checks.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "ptychopatch.hpp"

#define REQUIRE_GPU()                                                                   \
  do {                                                                                  \
    if (ptychopatch::cuda_device_count() == 0)                                          \
      GTEST_SKIP() << "no usable CUDA device (no driver, no GPU, or a CPU-only build)"; \
  } while (0)

namespace gpu_test {

// A device copy of a host vector (or uninitialised device memory).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t count) : count_(count) {
    EXPECT_EQ(cudaMalloc(&ptr_, bytes() == 0 ? 1 : bytes()), cudaSuccess);
  }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return count_ * sizeof(T); }
  void fill_bytes(int value) { EXPECT_EQ(cudaMemset(ptr_, value, bytes()), cudaSuccess); }
  std::vector<T> to_host() const {
    std::vector<T> host(count_);
    EXPECT_EQ(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t count_ = 0;
};

class UserStream {
 public:
  UserStream() { EXPECT_EQ(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), cudaSuccess); }
  ~UserStream() { cudaStreamDestroy(s_); }
  UserStream(const UserStream&) = delete;
  UserStream& operator=(const UserStream&) = delete;
  cudaStream_t get() const { return s_; }
  void sync() const { EXPECT_EQ(cudaStreamSynchronize(s_), cudaSuccess); }

 private:
  cudaStream_t s_ = nullptr;
};

}  // namespace gpu_test
