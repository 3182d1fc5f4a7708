#include "cuda_support.cuh"

#include <cuda.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {

namespace {

// The first sticky error seen on each device (a process-wide fact: every
// context on a device shares its CUDA primary context).
struct StickyErrors {
  std::mutex mutex;
  std::map<int, std::string> by_device;
};

StickyErrors& sticky_errors() {
  static StickyErrors* const registry = new StickyErrors();  // used until exit
  return *registry;
}

}  // namespace

bool is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
      return true;
    default:
      return false;
  }
}

std::string sticky_error(int device) {
  StickyErrors& registry = sticky_errors();
  const std::lock_guard<std::mutex> lock(registry.mutex);
  const auto found = registry.by_device.find(device);
  return found == registry.by_device.end() ? std::string() : found->second;
}

void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the context stays usable
  const ptp_status status =
      err == cudaErrorMemoryAllocation ? PTP_ERROR_OUT_OF_MEMORY : PTP_ERROR_CUDA;
  std::string message = std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                        cudaGetErrorString(err) + ")";
  if (is_sticky(err)) {
    int device = -1;
    if (cudaGetDevice(&device) != cudaSuccess) device = -1;
    const std::string where = device >= 0 ? "CUDA device " + std::to_string(device) : "the device";
    message += ". This error is sticky: the CUDA context of " + where +
               ", which the caller's own CUDA work shares, is unusable until the process "
               "ends, and every later GPU call there fails";
    if (device >= 0) {
      StickyErrors& registry = sticky_errors();
      const std::lock_guard<std::mutex> lock(registry.mutex);
      registry.by_device.emplace(device, where + " is unusable after a sticky CUDA error (" +
                                             cudaGetErrorName(err) + " in " + what +
                                             "); only a new process can use it again");
    }
  }
  fail(status, message);
}

void* DeviceMemory::allocate(size_t bytes) {
  void* ptr = nullptr;
  check_cuda(cudaMalloc(&ptr, bytes), "cudaMalloc");
  return ptr;
}

void DeviceMemory::release(void* ptr) noexcept {
  cudaFree(ptr);
}

void* PinnedMemory::allocate(size_t bytes) {
  void* ptr = nullptr;
  check_cuda(cudaMallocHost(&ptr, bytes), "cudaMallocHost");
  return ptr;
}

void PinnedMemory::release(void* ptr) noexcept {
  cudaFreeHost(ptr);
}

Stream::Stream() {
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
}

Stream::~Stream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

Event::Event() {
  check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
}

Event::~Event() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

uint64_t memory_budget(const ptp_context& context) {
  if (context.device_memory_budget > 0) return context.device_memory_budget;
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  // Half leaves room for the caller's own allocations and for fragmentation.
  return (free_bytes + reusable_scratch_bytes(context)) / 2;
}

cudaMemoryType memory_type(const void* ptr) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    cudaGetLastError();
    return cudaMemoryTypeUnregistered;
  }
  return attributes.type;
}

bool is_pinned_host(const void* host) {
  return memory_type(host) == cudaMemoryTypeHost;
}

cudaMemoryType require_host_pointer(const void* ptr, const char* argument) {
  const cudaMemoryType type = memory_type(ptr);
  if (type == cudaMemoryTypeDevice)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         std::string("argument '") + argument +
             "' is CUDA device memory, but desc->memory is PTP_MEMORY_HOST");
  return type;
}

void require_aligned(const void* ptr, size_t alignment, const char* argument) {
  if (reinterpret_cast<uintptr_t>(ptr) % alignment != 0)
    fail(PTP_ERROR_INVALID_ARGUMENT, std::string("argument '") + argument +
                                         "' is not aligned to its element size of " +
                                         std::to_string(alignment) + " bytes");
}

namespace {

using AddressRangeFn = CUresult(CUDAAPI*)(CUdeviceptr*, size_t*, CUdeviceptr);

// cuMemGetAddressRange (the 64-bit version, CUDA 3.2 on), through the entry
// point the runtime hands out; null where it cannot be had.
AddressRangeFn address_range_api() {
  static const AddressRangeFn fn = []() -> AddressRangeFn {
    void* found = nullptr;
    cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &found, 3020, cudaEnableDefault,
                                         &status) != cudaSuccess ||
        status != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return reinterpret_cast<AddressRangeFn>(found);
  }();
  return fn;
}

}  // namespace

void require_device_pointer(const void* ptr, uint64_t bytes, int device, const char* argument) {
  cudaPointerAttributes attributes{};
  const cudaError_t err = cudaPointerGetAttributes(&attributes, ptr);
  if (err != cudaSuccess) cudaGetLastError();
  const bool on_device = err == cudaSuccess && (attributes.type == cudaMemoryTypeDevice ||
                                                attributes.type == cudaMemoryTypeManaged);
  if (!on_device)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         std::string("argument '") + argument +
             "' is not CUDA device memory, but desc->memory is PTP_MEMORY_DEVICE");
  if (attributes.type == cudaMemoryTypeDevice && attributes.device != device)
    fail(PTP_ERROR_INVALID_ARGUMENT, std::string("argument '") + argument +
                                         "' is memory of CUDA device " +
                                         std::to_string(attributes.device) +
                                         ", but the context uses device " + std::to_string(device));
  const AddressRangeFn range = address_range_api();
  CUdeviceptr base = 0;
  size_t size = 0;
  if (bytes == 0 || range == nullptr ||
      range(&base, &size, reinterpret_cast<CUdeviceptr>(ptr)) != CUDA_SUCCESS)
    return;  // nothing to read, or no answer: the type checks above stand
  const uint64_t available = base + size - reinterpret_cast<CUdeviceptr>(ptr);
  if (available < bytes)
    fail(PTP_ERROR_BUFFER_TOO_SMALL,
         std::string("argument '") + argument + "' is a device allocation with " +
             std::to_string(available) + " bytes from that address on, but the call uses " +
             std::to_string(bytes) + " bytes");
}

int multiprocessor_count() {
  int device = 0;
  int sms = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute");
  return sms;
}

int grid_blocks(int64_t work_items, int threads_per_block) {
  const int sms = multiprocessor_count();
  const int64_t wanted = (work_items + threads_per_block - 1) / threads_per_block;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(wanted, int64_t{sms} * 32)));
}

}  // namespace ptychopatch::impl::gpu
