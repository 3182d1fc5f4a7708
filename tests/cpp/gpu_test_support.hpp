// Shared by the GPU test files: the skip macro and small owners of CUDA
// memory and streams, so each test reads as what it checks.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "ptychopatch.hpp"

// Skips unless a GPU context can be made: a device that is present but
// cannot run this build's kernels (another architecture) skips too.
#define REQUIRE_GPU()                                                                   \
  do {                                                                                  \
    const std::string& gpu_problem = gpu_test::gpu_unusable_reason();                   \
    if (!gpu_problem.empty()) GTEST_SKIP() << "no usable CUDA device: " << gpu_problem; \
  } while (0)

namespace gpu_test {

// Empty when a PTP_BACKEND_GPU context can be created, else why not (asked
// once per test program).
inline const std::string& gpu_unusable_reason() {
  static const std::string reason = []() -> std::string {
    if (ptychopatch::cuda_device_count() == 0) return "no driver, no GPU, or a CPU-only build";
    ptp_context_options options;
    ptp_context_options_init(&options, sizeof options);
    options.backend = PTP_BACKEND_GPU;
    ptp_context* context = nullptr;
    if (ptp_context_create(&options, &context) != PTP_SUCCESS) return ptp_last_error_message();
    ptp_context_destroy(context);
    return {};
  }();
  return reason;
}

// A device copy of a host vector (or uninitialised device memory).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t count) : count_(count) {
    EXPECT_EQ(cudaMalloc(&ptr_, bytes() == 0 ? 1 : bytes()), cudaSuccess);
  }
  // The uploads and fills below run on the legacy default stream, while the
  // library may read these arrays on a non-blocking stream that does not
  // wait for it (and cudaMemcpy from pageable memory may return before its
  // last DMA lands; cudaMemset is asynchronous): each one waits until done.
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return count_ * sizeof(T); }
  void fill_bytes(int value) {
    EXPECT_EQ(cudaMemset(ptr_, value, bytes()), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  // Replaces the contents (same size), waiting until done.
  void upload(const std::vector<T>& host) {
    ASSERT_EQ(host.size(), count_);
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
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

// A CUDA graph of what `enqueue` puts on `stream` (captured in CUDA's
// global mode, so any host wait or allocation in it fails the capture),
// instantiated; `status` is what `enqueue` returned.
class CapturedGraph {
 public:
  template <class Enqueue>
  CapturedGraph(cudaStream_t stream, Enqueue&& enqueue) {
    EXPECT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
    status = enqueue();
    ended = cudaStreamEndCapture(stream, &graph_);
    if (ended == cudaSuccess) {
      EXPECT_EQ(cudaGraphInstantiate(&exec_, graph_, 0), cudaSuccess);
    }
  }
  ~CapturedGraph() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
  }
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;
  cudaError_t launch(cudaStream_t stream) const { return cudaGraphLaunch(exec_, stream); }

  ptp_status status = PTP_SUCCESS;
  cudaError_t ended = cudaSuccess;  // cudaStreamEndCapture's result

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace gpu_test
