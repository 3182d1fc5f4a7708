// CUDA plumbing shared by the GPU paths: failures as statuses, RAII owners
// of device and pinned memory, streams and events, and the device memory
// budget. Nothing here may abort: every CUDA error becomes an impl::Error.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/context.hpp"

namespace ptychopatch::impl::gpu {

// Throws Error (PTP_ERROR_OUT_OF_MEMORY for allocation failures, else
// PTP_ERROR_CUDA) naming `what` and CUDA's own description. A sticky error
// (one after which CUDA documents the device's context as unusable for the
// rest of the process, e.g. an illegal address) is said to be so, and
// recorded for the current device: see sticky_error.
void check_cuda(cudaError_t err, const char* what);

// True for the errors after which every later CUDA call on the device's
// context fails (CUDA's "the process must be terminated and relaunched").
bool is_sticky(cudaError_t err);

// Empty, or the first sticky error recorded on `device` in this process,
// as a sentence. The library's contexts on that device then fail every GPU
// call with it (workspace_of), and new contexts do not choose that device
// (check_device), instead of reporting a CUDA call's failure without
// saying that nothing will work again.
std::string sticky_error(int device);

// Owns one allocation of `Memory`: DeviceMemory (cudaMalloc) or PinnedMemory
// (cudaMallocHost: page-locked host memory, for asynchronous copies).
template <class Memory>
class CudaBuffer {
 public:
  CudaBuffer() = default;
  explicit CudaBuffer(size_t bytes) { reset(bytes); }
  ~CudaBuffer() { reset(0); }
  CudaBuffer(CudaBuffer&& other) noexcept : ptr_(other.ptr_) { other.ptr_ = nullptr; }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  CudaBuffer& operator=(CudaBuffer&&) = delete;
  // Frees the current allocation, then allocates `bytes` (0: none).
  void reset(size_t bytes) {
    if (ptr_ != nullptr) Memory::release(ptr_);
    ptr_ = nullptr;
    if (bytes > 0) ptr_ = Memory::allocate(bytes);
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

// allocate() throws as check_cuda does; release() never fails.
struct DeviceMemory {
  static void* allocate(size_t bytes);
  static void release(void* ptr) noexcept;
};
struct PinnedMemory {
  static void* allocate(size_t bytes);
  static void release(void* ptr) noexcept;
};
using DeviceBuffer = CudaBuffer<DeviceMemory>;
using PinnedBuffer = CudaBuffer<PinnedMemory>;

// Owns a non-blocking stream of the current device.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Owns an event without timing (cheap to record and wait on).
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// The bytes one host-array call may allocate on the current device: the
// context's budget, or, when that is 0, half of the memory it could have:
// the device's free memory plus the scratch the context holds for reuse.
uint64_t memory_budget(const ptp_context& context);

// What CUDA knows of `ptr`: cudaMemoryTypeUnregistered for ordinary
// pageable memory (and whenever the query fails), else host (page-locked),
// device or managed.
cudaMemoryType memory_type(const void* ptr);

// True when `host` is page-locked memory the device can copy to directly.
bool is_pinned_host(const void* host);

// Throws PTP_ERROR_INVALID_ARGUMENT when `ptr` is CUDA device memory: the
// host-array paths read and write their arrays with the CPU, where a device
// address would crash the process. `argument` names it. Returns
// memory_type(ptr) otherwise.
cudaMemoryType require_host_pointer(const void* ptr, const char* argument);

// Throws PTP_ERROR_INVALID_ARGUMENT unless `ptr` is a multiple of
// `alignment` bytes (the element size the kernels load and store): a
// misaligned access is a sticky CUDA error that would poison the caller's
// whole CUDA context, not just this call.
void require_aligned(const void* ptr, size_t alignment, const char* argument);

// Throws PTP_ERROR_INVALID_ARGUMENT unless `ptr` is device or managed
// memory usable on `device` (the context's), and PTP_ERROR_BUFFER_TOO_SMALL
// unless the allocation holds `bytes` from `ptr` on (asked of the driver,
// cuMemGetAddressRange): a kernel that ran past it would raise a sticky
// illegal-address error and poison the caller's whole CUDA context.
// `argument` names it.
void require_device_pointer(const void* ptr, uint64_t bytes, int device, const char* argument);

// Streaming multiprocessors of the current device.
int multiprocessor_count();

// Blocks per launch of a grid-stride kernel: enough to fill the current
// device several times over, no more than the work needs.
int grid_blocks(int64_t work_items, int threads_per_block);

// `bytes` rounded up to 256: the alignment of the parts carved from one
// device buffer (cudaMalloc's own alignment).
inline size_t align_up(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

}  // namespace ptychopatch::impl::gpu
