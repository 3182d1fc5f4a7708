// The emulated CUDA runtime: see emulator.hpp for the model. Every entry
// point takes the one device lock (recursive: draining a stream can wait on
// another stream's event), so the device runs one thing at a time.
#include "emulator.hpp"

#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "fiber.hpp"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#define PTP_EMU_EXPORT __attribute__((visibility("default")))

PTP_EMU_EXPORT thread_local uint3 threadIdx;
PTP_EMU_EXPORT thread_local uint3 blockIdx;
PTP_EMU_EXPORT thread_local dim3 blockDim;
PTP_EMU_EXPORT thread_local dim3 gridDim;

using Work = std::function<void()>;

struct CUstream_st {
  std::deque<Work> queue;
  unsigned flags = 0;
  bool live = true;
  int draining = 0;
  // While capturing: the work recorded so far (null when not capturing),
  // and whether a refused call has invalidated the capture.
  std::shared_ptr<std::vector<Work>> capture;
  bool capture_invalid = false;
};

struct CUgraph_st {
  std::shared_ptr<const std::vector<Work>> nodes;
};

struct CUgraphExec_st {
  std::shared_ptr<const std::vector<Work>> nodes;
};

struct CUevent_st {
  CUstream_st* stream = nullptr;  // of the latest record
  uint64_t records = 0;           // records made
  uint64_t completed = 0;         // the latest record that ran
  unsigned flags = 0;
  bool live = true;
  std::chrono::steady_clock::time_point when{};
};

// One per device: the primary context the current-context calls hand out.
struct CUctx_st {
  int device;
};

namespace ptp_emu {
namespace {

enum class Order { forward, reverse, shuffle };

constexpr int kMultiprocessors = 4;  // small, so grid-stride loops wrap
constexpr size_t kMaxSharedBytes = 48 * 1024;
constexpr int kMaxDevices = 8;

struct Allocation {
  size_t bytes;
  cudaMemoryType type;
  int device;
};

size_t parse_bytes(const char* text, size_t fallback) {
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  unsigned shift = 0;
  if (end != nullptr && (*end == 'K' || *end == 'k')) shift = 10;
  if (end != nullptr && (*end == 'M' || *end == 'm')) shift = 20;
  if (end != nullptr && (*end == 'G' || *end == 'g')) shift = 30;
  return static_cast<size_t>(value) << shift;
}

struct Device {
  std::recursive_mutex lock;
  std::map<uintptr_t, Allocation> allocations;
  size_t total_bytes = size_t{4} << 30;
  size_t used_bytes = 0;
  size_t peak_used_bytes = 0;  // highest used_bytes since the last reset (benchmarks)
  int devices = 1;
  // What the device and its driver say of themselves; test hooks change
  // them to show the library's reasons for not using a GPU.
  size_t allocation_count = 0;  // successful cudaMalloc calls so far
  // Work accepted onto a stream (queued, run at once on the legacy default
  // stream, or recorded by a capture), and the kernel launches among it.
  size_t stream_operations = 0;
  size_t kernel_launches = 0;
  int driver_version = CUDART_VERSION;
  int cc_major = 9;
  int cc_minor = 0;
  bool has_kernel_image = true;
  Order order = Order::forward;
  std::mt19937_64 rng{1};
  cudaError_t sticky = cudaSuccess;
  // Owned for the process: a destroyed stream or event stays known, so a
  // later use is an invalid handle rather than a use after free.
  std::vector<std::unique_ptr<CUstream_st>> streams;
  std::vector<std::unique_ptr<CUevent_st>> events;
  std::map<const CUgraph_st*, std::unique_ptr<CUgraph_st>> graphs;
  std::map<const CUgraphExec_st*, std::unique_ptr<CUgraphExec_st>> graph_execs;
  int captures = 0;  // streams capturing now
  CUctx_st contexts[kMaxDevices];

  Device() {
    for (int i = 0; i < kMaxDevices; ++i) contexts[i].device = i;
    total_bytes = parse_bytes(std::getenv("PTYCHOPATCH_EMU_DEVICE_MEMORY"), total_bytes);
    if (const char* count = std::getenv("PTYCHOPATCH_EMU_DEVICES"))
      devices = std::clamp(std::atoi(count), 0, kMaxDevices);
    if (const char* order_text = std::getenv("PTYCHOPATCH_EMU_ORDER")) {
      const std::string text = order_text;
      if (text == "reverse") {
        order = Order::reverse;
      } else if (text.rfind("shuffle", 0) == 0) {
        order = Order::shuffle;
        if (text.size() > 8 && text[7] == ':')
          rng.seed(std::strtoull(text.c_str() + 8, nullptr, 10));
      } else if (text != "forward" && !text.empty()) {
        std::fprintf(stderr,
                     "ptychopatch CUDA emulator: PTYCHOPATCH_EMU_ORDER=%s is not forward, reverse "
                     "or shuffle[:seed]; using forward\n",
                     order_text);
      }
    }
  }
};

Device& device() {
  static Device* const d = new Device();  // never destroyed: used until exit
  return *d;
}

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = -1;  // -1: no context current
thread_local CUctx_st* current_context = nullptr;

using Lock = std::lock_guard<std::recursive_mutex>;

cudaError_t result(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

// The runtime creates the primary context of device 0 on first use.
void ensure_context() {
  if (current_device < 0) {
    current_device = 0;
    current_context = &device().contexts[0];
  }
}

const Allocation* find(const void* ptr, uintptr_t* start = nullptr) {
  Device& d = device();
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  auto it = d.allocations.upper_bound(address);
  if (it == d.allocations.begin()) return nullptr;
  --it;
  if (address >= it->first + std::max<size_t>(it->second.bytes, 1)) return nullptr;
  if (start != nullptr) *start = it->first;
  return &it->second;
}

bool is_device(const void* ptr) {
  const Allocation* a = find(ptr);
  return a != nullptr && a->type == cudaMemoryTypeDevice;
}

bool is_pinned(const void* ptr) {
  const Allocation* a = find(ptr);
  return a != nullptr && a->type == cudaMemoryTypeHost;
}

bool device_range(const void* ptr, size_t bytes) {
  uintptr_t start = 0;
  const Allocation* a = find(ptr, &start);
  if (a == nullptr || a->type != cudaMemoryTypeDevice) return false;
  return reinterpret_cast<uintptr_t>(ptr) - start + bytes <= a->bytes;
}

bool stream_known(cudaStream_t stream) {
  if (stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread) return true;
  for (const auto& s : device().streams)
    if (s.get() == stream) return s->live;
  return false;
}

bool event_known(cudaEvent_t event) {
  for (const auto& e : device().events)
    if (e.get() == event) return e->live;
  return false;
}

bool is_default_stream(cudaStream_t stream) {
  return stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread;
}

void drop_all_work() {
  for (auto& s : device().streams) s->queue.clear();
}

// Runs the stream's work in order until `done` holds or nothing is left.
template <class Done>
void drain(CUstream_st* stream, Done done) {
  Device& d = device();
  ++stream->draining;
  while (!stream->queue.empty() && !done()) {
    if (d.sticky != cudaSuccess) {
      drop_all_work();  // a faulted context runs nothing more
      break;
    }
    std::function<void()> work = std::move(stream->queue.front());
    stream->queue.pop_front();
    work();
  }
  --stream->draining;
}

void drain_stream(CUstream_st* stream) {
  drain(stream, [] { return false; });
}

void drain_all() {
  bool any = true;
  while (any && device().sticky == cudaSuccess) {
    any = false;
    for (size_t i = 0; i < device().streams.size(); ++i) {
      CUstream_st* s = device().streams[i].get();
      if (!s->queue.empty()) {
        any = true;
        drain_stream(s);
      }
    }
  }
  if (device().sticky != cudaSuccess) drop_all_work();
}

// A call CUDA refuses while any stream captures (in global mode): it fails,
// and every capture in progress is invalidated, as CUDA does.
cudaError_t refuse_if_capturing() {
  Device& d = device();
  if (d.captures == 0) return cudaSuccess;
  for (auto& s : d.streams)
    if (s->capture) s->capture_invalid = true;
  return result(cudaErrorStreamCaptureUnsupported);
}

// ------------------------------------------------------------- the grid

// IEEE arithmetic while a grid runs, as on a device (no flush to zero),
// whatever the host thread's floating-point environment.
class DeviceFloatingPoint {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  DeviceFloatingPoint() : saved_(_mm_getcsr()) {
    _mm_setcsr(0x1F80);
  }
  ~DeviceFloatingPoint() {
    _mm_setcsr(saved_);
  }

 private:
  unsigned saved_;
#endif
};

uint64_t gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    const uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// The i-th of n items in the configured order: identity, reversed, or an
// affine permutation (a * i + c) mod n with gcd(a, n) = 1, fresh per call
// of next_permutation.
struct Permutation {
  Order order;
  uint64_t n;
  uint64_t a = 1;
  uint64_t c = 0;
  uint64_t at(uint64_t i) const {
    switch (order) {
      case Order::reverse:
        return n - 1 - i;
      case Order::shuffle:
        return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * i + c) % n);
      default:
        return i;
    }
  }
};

Permutation next_permutation(uint64_t n) {
  Device& d = device();
  Permutation p{d.order, n};
  if (d.order == Order::shuffle && n > 1) {
    do p.a = d.rng() % n;
    while (p.a == 0 || gcd(p.a, n) != 1);
    p.c = d.rng() % n;
  }
  return p;
}

uint3 unflatten(uint64_t i, dim3 extent) {
  const uint64_t x = i % extent.x;
  const uint64_t y = (i / extent.x) % extent.y;
  const uint64_t z = i / (uint64_t{extent.x} * extent.y);
  return uint3{static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(z)};
}

void thread_body(void* work) {
  static_cast<GridWork*>(work)->run_thread();
}

struct BlockRunner {
  fiber::Stacks stacks {
#if defined(__SANITIZE_ADDRESS__)
    size_t{256} << 10
#else
    size_t{64} << 10
#endif
  };
  std::vector<std::unique_ptr<fiber::Fiber>> fibers;
  std::vector<uint3> indices;  // threadIdx of each linear thread of the block
  dim3 indexed{0, 0, 0};
  fiber::Scheduler scheduler;

  // Runs every thread of block blockIdx; false on a divergent barrier.
  bool run(GridWork& work, dim3 block) {
    const uint64_t n = uint64_t{block.x} * block.y * block.z;
    while (fibers.size() < n) fibers.push_back(std::make_unique<fiber::Fiber>());
    if (indexed.x != block.x || indexed.y != block.y || indexed.z != block.z) {
      indices.resize(n);
      for (uint64_t t = 0; t < n; ++t) indices[t] = unflatten(t, block);
      indexed = block;
    }
    uint64_t waiting = 0;
    Permutation order = next_permutation(n);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t t = order.at(i);
      threadIdx = indices[t];
      if (!scheduler.start(stacks.base(t), stacks.size(), &thread_body, &work, *fibers[t]))
        ++waiting;
    }
    while (waiting > 0) {
      if (waiting != n) return false;  // some threads ended, the others wait at a barrier
      waiting = 0;
      order = next_permutation(n);
      for (uint64_t i = 0; i < n; ++i) {
        const uint64_t t = order.at(i);
        threadIdx = indices[t];
        if (!scheduler.resume(*fibers[t])) ++waiting;
      }
    }
    return true;
  }
};

void run_grid(const std::shared_ptr<GridWork>& work, dim3 grid, dim3 block) {
  static thread_local BlockRunner runner;
  const DeviceFloatingPoint ieee;
  gridDim = grid;
  blockDim = block;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  const Permutation order = next_permutation(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    blockIdx = unflatten(order.at(i), grid);
    if (!runner.run(*work, block)) {
      device_fault(cudaErrorLaunchFailure,
                   "a barrier (__syncthreads) was reached by only some threads of block (" +
                       std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
                       std::to_string(blockIdx.z) + ")");
      return;
    }
  }
}

// -------------------------------------------------------- driver entries

CUresult CUDAAPI emu_cuCtxGetCurrent(CUcontext* context) {
  if (context == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *context = current_context;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI emu_cuCtxSetCurrent(CUcontext context) {
  const Lock lock(device().lock);
  if (context == nullptr) {
    current_context = nullptr;
    current_device = -1;
    return CUDA_SUCCESS;
  }
  for (CUctx_st& c : device().contexts)
    if (&c == context && c.device < device().devices) {
      current_context = context;
      current_device = c.device;
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_INVALID_CONTEXT;
}

CUresult CUDAAPI emu_cuMemGetAddressRange(CUdeviceptr* base, size_t* size, CUdeviceptr ptr) {
  const Lock lock(device().lock);
  uintptr_t start = 0;
  const Allocation* a = find(reinterpret_cast<const void*>(ptr), &start);
  if (a == nullptr || a->type != cudaMemoryTypeDevice) return CUDA_ERROR_NOT_FOUND;
  if (base != nullptr) *base = start;
  if (size != nullptr) *size = a->bytes;
  return CUDA_SUCCESS;
}

// ------------------------------------------------------------- copies

cudaMemcpyKind resolve_kind(const void* dst, const void* src, cudaMemcpyKind kind) {
  if (kind != cudaMemcpyDefault) return kind;
  const bool d = is_device(dst);
  const bool s = is_device(src);
  if (d && s) return cudaMemcpyDeviceToDevice;
  if (d) return cudaMemcpyHostToDevice;
  if (s) return cudaMemcpyDeviceToHost;
  return cudaMemcpyHostToHost;
}

// The checks a device makes before a copy: the device side inside one
// allocation, the host side not device memory.
cudaError_t check_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return cudaErrorInvalidValue;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      return device_range(dst, bytes) && !is_device(src) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost:
      return device_range(src, bytes) && !is_device(dst) ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice:
      return device_range(src, bytes) && device_range(dst, bytes) ? cudaSuccess
                                                                  : cudaErrorInvalidValue;
    case cudaMemcpyHostToHost:
      return !is_device(src) && !is_device(dst) ? cudaSuccess : cudaErrorInvalidValue;
    default:
      return cudaErrorInvalidMemcpyDirection;
  }
}

}  // namespace

// ------------------------------------------------------- internal API

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  if (is_default_stream(stream)) {
    if (d.captures > 0) {
      // The legacy default stream would wait for the capturing stream.
      for (auto& s : d.streams)
        if (s->capture) s->capture_invalid = true;
      return result(cudaErrorStreamCaptureImplicit);
    }
    ++d.stream_operations;
    drain_all();
    if (d.sticky == cudaSuccess) work();
    return d.sticky;
  }
  if (stream->capture) {
    if (stream->capture_invalid) return result(cudaErrorStreamCaptureInvalidated);
    ++d.stream_operations;
    stream->capture->push_back(std::move(work));
    return cudaSuccess;
  }
  ++d.stream_operations;
  stream->queue.push_back(std::move(work));
  return cudaSuccess;
}

bool is_device_range(const void* ptr, size_t bytes) {
  const Lock lock(device().lock);
  return device_range(ptr, bytes);
}

void device_fault(cudaError_t error, const std::string& what) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky == cudaSuccess) {
    std::fprintf(stderr, "ptychopatch CUDA emulator: device fault (%s): %s\n",
                 cudaGetErrorName(error), what.c_str());
    d.sticky = error;
  }
}

cudaError_t submit_grid(const void* kernel, dim3 grid, dim3 block, size_t shared_bytes,
                        cudaStream_t stream, std::shared_ptr<GridWork> work) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  ensure_context();
  if (kernel == nullptr) return result(cudaErrorInvalidDeviceFunction);
  if (!d.has_kernel_image) return result(cudaErrorNoKernelImageForDevice);
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const bool block_ok = block.x >= 1 && block.y >= 1 && block.z >= 1 && block.x <= 1024 &&
                        block.y <= 1024 && block.z <= 64 && threads <= 1024;
  const bool grid_ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu &&
                       grid.y <= 65535 && grid.z <= 65535;
  if (!block_ok || !grid_ok || shared_bytes > kMaxSharedBytes)
    return result(cudaErrorInvalidConfiguration);
  const cudaError_t queued =
      enqueue(stream, [work = std::move(work), grid, block] { run_grid(work, grid, block); });
  if (queued == cudaSuccess) ++d.kernel_launches;
  return queued;
}

}  // namespace ptp_emu

using namespace ptp_emu;  // NOLINT: the C entry points below

extern "C" {

PTP_EMU_EXPORT void ptp_emu_set_device_memory(size_t bytes) {
  const Lock lock(device().lock);
  device().total_bytes = bytes;
}

PTP_EMU_EXPORT size_t ptp_emu_device_allocations(void) {
  const Lock lock(device().lock);
  return device().allocation_count;
}

PTP_EMU_EXPORT size_t ptp_emu_stream_operations(void) {
  const Lock lock(device().lock);
  return device().stream_operations;
}

PTP_EMU_EXPORT size_t ptp_emu_kernel_launches(void) {
  const Lock lock(device().lock);
  return device().kernel_launches;
}

PTP_EMU_EXPORT size_t ptp_emu_device_memory_in_use(void) {
  const Lock lock(device().lock);
  return device().used_bytes;
}

// The benchmark suite's peak device memory per case (ptychopatch bench):
// the reset starts a new peak from what is allocated now.
PTP_EMU_EXPORT size_t ptp_emu_device_memory_peak(void) {
  const Lock lock(device().lock);
  return device().peak_used_bytes;
}

PTP_EMU_EXPORT void ptp_emu_reset_device_memory_peak(void) {
  const Lock lock(device().lock);
  device().peak_used_bytes = device().used_bytes;
}

PTP_EMU_EXPORT void ptp_emu_clear_sticky_error(void) {
  const Lock lock(device().lock);
  device().sticky = cudaSuccess;
}

PTP_EMU_EXPORT void ptp_emu_misaligned_access(const void* address, unsigned alignment) {
  char what[96];
  std::snprintf(what, sizeof what, "a %u-byte vector access at %p, not %u-byte aligned", alignment,
                address, alignment);
  device_fault(cudaErrorMisalignedAddress, what);
}

PTP_EMU_EXPORT void ptp_emu_kernel_fault(const char* what) {
  device_fault(cudaErrorLaunchFailure, what);
}

PTP_EMU_EXPORT void ptp_emu_raise_sticky_error(int error) {
  device_fault(static_cast<cudaError_t>(error), "raised by a test (ptp_emu_raise_sticky_error)");
}

PTP_EMU_EXPORT void ptp_emu_set_driver_version(int version) {
  const Lock lock(device().lock);
  device().driver_version = version;
}

PTP_EMU_EXPORT void ptp_emu_set_compute_capability(int major, int minor, int has_kernel_image) {
  const Lock lock(device().lock);
  device().cc_major = major;
  device().cc_minor = minor;
  device().has_kernel_image = has_kernel_image != 0;
}

PTP_EMU_EXPORT void __syncthreads(void) {
  fiber::yield();
}

// ------------------------------------------------------------- errors

PTP_EMU_EXPORT const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
#define PTP_EMU_NAME(e) \
  case e:               \
    return #e;
    PTP_EMU_NAME(cudaSuccess)
    PTP_EMU_NAME(cudaErrorInvalidValue)
    PTP_EMU_NAME(cudaErrorMemoryAllocation)
    PTP_EMU_NAME(cudaErrorInitializationError)
    PTP_EMU_NAME(cudaErrorStubLibrary)
    PTP_EMU_NAME(cudaErrorInsufficientDriver)
    PTP_EMU_NAME(cudaErrorNoKernelImageForDevice)
    PTP_EMU_NAME(cudaErrorECCUncorrectable)
    PTP_EMU_NAME(cudaErrorLaunchTimeout)
    PTP_EMU_NAME(cudaErrorAssert)
    PTP_EMU_NAME(cudaErrorHardwareStackError)
    PTP_EMU_NAME(cudaErrorInvalidAddressSpace)
    PTP_EMU_NAME(cudaErrorInvalidPc)
    PTP_EMU_NAME(cudaErrorInvalidConfiguration)
    PTP_EMU_NAME(cudaErrorInvalidDevicePointer)
    PTP_EMU_NAME(cudaErrorInvalidMemcpyDirection)
    PTP_EMU_NAME(cudaErrorInvalidDeviceFunction)
    PTP_EMU_NAME(cudaErrorNoDevice)
    PTP_EMU_NAME(cudaErrorInvalidDevice)
    PTP_EMU_NAME(cudaErrorInvalidResourceHandle)
    PTP_EMU_NAME(cudaErrorNotReady)
    PTP_EMU_NAME(cudaErrorIllegalAddress)
    PTP_EMU_NAME(cudaErrorLaunchOutOfResources)
    PTP_EMU_NAME(cudaErrorIllegalInstruction)
    PTP_EMU_NAME(cudaErrorMisalignedAddress)
    PTP_EMU_NAME(cudaErrorLaunchFailure)
    PTP_EMU_NAME(cudaErrorStreamCaptureUnsupported)
    PTP_EMU_NAME(cudaErrorStreamCaptureInvalidated)
    PTP_EMU_NAME(cudaErrorStreamCaptureImplicit)
    PTP_EMU_NAME(cudaErrorIllegalState)
#undef PTP_EMU_NAME
    default:
      return "cudaErrorUnknown";
  }
}

PTP_EMU_EXPORT const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoKernelImageForDevice:
      return "no kernel image is available for execution on the device";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    default:
      return "an error of the emulated CUDA device";
  }
}

PTP_EMU_EXPORT cudaError_t cudaGetLastError(void) {
  const Lock lock(device().lock);
  const cudaError_t error = device().sticky != cudaSuccess ? device().sticky : last_error;
  last_error = cudaSuccess;
  return error;
}

PTP_EMU_EXPORT cudaError_t cudaPeekAtLastError(void) {
  const Lock lock(device().lock);
  return device().sticky != cudaSuccess ? device().sticky : last_error;
}

// -------------------------------------------------------------- devices

PTP_EMU_EXPORT cudaError_t cudaDriverGetVersion(int* version) {
  const Lock lock(device().lock);
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = device().driver_version;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return result(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaGetDeviceCount(int* count) {
  const Lock lock(device().lock);
  if (count == nullptr) return result(cudaErrorInvalidValue);
  // As CUDA does: no driver, or one older than the runtime, is this error
  // (cudaDriverGetVersion tells which).
  if (device().driver_version < CUDART_VERSION) {
    *count = 0;
    return result(cudaErrorInsufficientDriver);
  }
  *count = device().devices;
  return device().devices == 0 ? result(cudaErrorNoDevice) : cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaGetDevice(int* index) {
  const Lock lock(device().lock);
  if (index == nullptr) return result(cudaErrorInvalidValue);
  if (device().devices == 0) return result(cudaErrorNoDevice);
  *index = current_device < 0 ? 0 : current_device;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaSetDevice(int index) {
  const Lock lock(device().lock);
  if (device().devices == 0) return result(cudaErrorNoDevice);
  if (index < 0 || index >= device().devices) return result(cudaErrorInvalidDevice);
  current_device = index;
  current_context = &device().contexts[index];
  return device().sticky;
}

PTP_EMU_EXPORT cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int index) {
  const Lock lock(device().lock);
  if (prop == nullptr) return result(cudaErrorInvalidValue);
  if (index < 0 || index >= device().devices) return result(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "ptychopatch emulated CUDA device");
  prop->totalGlobalMem = device().total_bytes;
  prop->sharedMemPerBlock = kMaxSharedBytes;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->major = device().cc_major;
  prop->minor = device().cc_minor;
  prop->multiProcessorCount = kMultiprocessors;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int index) {
  const Lock lock(device().lock);
  if (value == nullptr) return result(cudaErrorInvalidValue);
  if (index < 0 || index >= device().devices) return result(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount:
      *value = kMultiprocessors;
      return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock:
      *value = 1024;
      return cudaSuccess;
    default:
      return result(cudaErrorInvalidValue);
  }
}

PTP_EMU_EXPORT cudaError_t cudaDeviceSynchronize(void) {
  const Lock lock(device().lock);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_all();
  return result(device().sticky);
}

PTP_EMU_EXPORT cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  const Lock lock(device().lock);
  if (device().sticky != cudaSuccess) return device().sticky;
  if (free_bytes == nullptr || total_bytes == nullptr) return result(cudaErrorInvalidValue);
  ensure_context();
  const Device& d = device();
  *total_bytes = d.total_bytes;
  *free_bytes = d.used_bytes < d.total_bytes ? d.total_bytes - d.used_bytes : 0;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t
cudaGetDriverEntryPointByVersion(const char* symbol, void** function, unsigned int,
                                 unsigned long long, cudaDriverEntryPointQueryResult* status) {
  if (symbol == nullptr || function == nullptr) return result(cudaErrorInvalidValue);
  const std::string name = symbol;
  void* found = nullptr;
  if (name == "cuCtxGetCurrent") found = reinterpret_cast<void*>(&emu_cuCtxGetCurrent);
  if (name == "cuCtxSetCurrent") found = reinterpret_cast<void*>(&emu_cuCtxSetCurrent);
  if (name == "cuMemGetAddressRange" || name == "cuMemGetAddressRange_v2")
    found = reinterpret_cast<void*>(&emu_cuMemGetAddressRange);
  *function = found;
  if (status != nullptr)
    *status = found != nullptr ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes,
                                                 const void* function) {
  const Lock lock(device().lock);
  if (device().sticky != cudaSuccess) return device().sticky;
  if (attributes == nullptr || function == nullptr) return result(cudaErrorInvalidValue);
  ensure_context();
  if (!device().has_kernel_image) return result(cudaErrorNoKernelImageForDevice);
  *attributes = cudaFuncAttributes{};
  attributes->maxThreadsPerBlock = 1024;
  attributes->ptxVersion = 90;
  attributes->binaryVersion = 90;
  return cudaSuccess;
}

// --------------------------------------------------------------- memory

PTP_EMU_EXPORT cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (ptr == nullptr) return result(cudaErrorInvalidValue);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  ensure_context();
  if (bytes == 0) {
    *ptr = nullptr;
    return cudaSuccess;
  }
  if (bytes > d.total_bytes || d.used_bytes > d.total_bytes - bytes)
    return result(cudaErrorMemoryAllocation);
  void* memory = nullptr;
  if (posix_memalign(&memory, 256, bytes) != 0) return result(cudaErrorMemoryAllocation);
  d.allocations[reinterpret_cast<uintptr_t>(memory)] =
      Allocation{bytes, cudaMemoryTypeDevice, current_device};
  d.used_bytes += bytes;
  d.peak_used_bytes = std::max(d.peak_used_bytes, d.used_bytes);
  ++d.allocation_count;
  *ptr = memory;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaFree(void* ptr) {
  Device& d = device();
  const Lock lock(d.lock);
  if (ptr == nullptr) return cudaSuccess;
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_all();  // cudaFree synchronises the device
  const auto it = d.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == d.allocations.end() || it->second.type != cudaMemoryTypeDevice)
    return result(cudaErrorInvalidValue);
  d.used_bytes -= it->second.bytes;
  d.allocations.erase(it);
  std::free(ptr);
  return d.sticky;
}

PTP_EMU_EXPORT cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (ptr == nullptr) return result(cudaErrorInvalidValue);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  ensure_context();
  void* memory = nullptr;
  if (posix_memalign(&memory, 64, std::max<size_t>(bytes, 1)) != 0)
    return result(cudaErrorMemoryAllocation);
  d.allocations[reinterpret_cast<uintptr_t>(memory)] =
      Allocation{bytes, cudaMemoryTypeHost, current_device};
  *ptr = memory;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaFreeHost(void* ptr) {
  Device& d = device();
  const Lock lock(d.lock);
  if (ptr == nullptr) return cudaSuccess;
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_all();
  const auto it = d.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == d.allocations.end() || it->second.type != cudaMemoryTypeHost)
    return result(cudaErrorInvalidValue);
  d.allocations.erase(it);
  std::free(ptr);
  return d.sticky;
}

PTP_EMU_EXPORT cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes,
                                                    const void* ptr) {
  const Lock lock(device().lock);
  if (attributes == nullptr) return result(cudaErrorInvalidValue);
  *attributes = cudaPointerAttributes{};
  attributes->device = -2;
  const Allocation* a = find(ptr);
  if (a == nullptr) {
    attributes->type = cudaMemoryTypeUnregistered;
    return cudaSuccess;
  }
  attributes->type = a->type;
  attributes->device = a->device < 0 ? 0 : a->device;
  attributes->devicePointer = const_cast<void*>(ptr);
  if (a->type == cudaMemoryTypeHost) attributes->hostPointer = const_cast<void*>(ptr);
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes,
                                      cudaMemcpyKind kind) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  ensure_context();
  kind = resolve_kind(dst, src, kind);
  const cudaError_t checked = check_copy(dst, src, bytes, kind);
  if (checked != cudaSuccess) return result(checked);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_all();  // the legacy default stream waits for all blocking work
  if (d.sticky != cudaSuccess) return d.sticky;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes,
                                           cudaMemcpyKind kind, cudaStream_t stream) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  ensure_context();
  kind = resolve_kind(dst, src, kind);
  const cudaError_t checked = check_copy(dst, src, bytes, kind);
  if (checked != cudaSuccess) return result(checked);
  if (bytes == 0) return cudaSuccess;
  const bool pageable = (kind == cudaMemcpyHostToDevice && !is_pinned(src)) ||
                        (kind == cudaMemcpyDeviceToHost && !is_pinned(dst));
  if (pageable && refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (kind == cudaMemcpyHostToDevice && !is_pinned(src)) {
    // Pageable source: CUDA stages it before returning, so the caller may
    // reuse it at once; the device side lands when the stream runs.
    auto staged = std::make_shared<std::vector<unsigned char>>(
        static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + bytes);
    return result(
        enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); }));
  }
  const cudaError_t queued = enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  if (queued != cudaSuccess) return result(queued);
  if (kind == cudaMemcpyDeviceToHost && !is_pinned(dst) && !is_default_stream(stream)) {
    // Pageable destination: the call returns once the copy is done.
    drain_stream(stream);
    return result(d.sticky);
  }
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (bytes > 0 && !device_range(ptr, bytes)) return result(cudaErrorInvalidValue);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_all();
  if (bytes > 0) std::memset(ptr, value, bytes);
  return d.sticky;
}

PTP_EMU_EXPORT cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes,
                                           cudaStream_t stream) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (bytes > 0 && !device_range(ptr, bytes)) return result(cudaErrorInvalidValue);
  if (bytes == 0) return cudaSuccess;
  return result(enqueue(stream, [ptr, value, bytes] { std::memset(ptr, value, bytes); }));
}

// -------------------------------------------------------------- streams

PTP_EMU_EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (stream == nullptr) return result(cudaErrorInvalidValue);
  ensure_context();
  d.streams.push_back(std::make_unique<CUstream_st>());
  d.streams.back()->flags = flags;
  *stream = d.streams.back().get();
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

PTP_EMU_EXPORT cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  const Lock lock(device().lock);
  if (is_default_stream(stream) || !stream_known(stream))
    return result(cudaErrorInvalidResourceHandle);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  drain_stream(stream);  // its work completes, as CUDA lets it
  stream->live = false;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  const Lock lock(device().lock);
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (is_default_stream(stream))
    drain_all();
  else
    drain_stream(stream);
  return result(device().sticky);
}

PTP_EMU_EXPORT cudaError_t cudaStreamQuery(cudaStream_t stream) {
  const Lock lock(device().lock);
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (device().sticky != cudaSuccess) return device().sticky;
  if (is_default_stream(stream)) return cudaSuccess;
  return stream->queue.empty() ? cudaSuccess : cudaErrorNotReady;
}

PTP_EMU_EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                               unsigned int) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (!stream_known(stream) || !event_known(event)) return result(cudaErrorInvalidResourceHandle);
  const uint64_t target = event->records;
  if (target == 0 || event->completed >= target) return cudaSuccess;
  CUstream_st* source = event->stream;
  return result(enqueue(stream, [event, source, target] {
    drain(source, [event, target] { return event->completed >= target; });
  }));
}

// ------------------------------------------------------- stream capture

PTP_EMU_EXPORT cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  if (is_default_stream(stream)) return result(cudaErrorStreamCaptureUnsupported);
  if (mode < cudaStreamCaptureModeGlobal || mode > cudaStreamCaptureModeRelaxed)
    return result(cudaErrorInvalidValue);
  if (stream->capture) return result(cudaErrorIllegalState);
  stream->capture = std::make_shared<std::vector<Work>>();
  stream->capture_invalid = false;
  ++d.captures;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  Device& d = device();
  const Lock lock(d.lock);
  if (graph == nullptr) return result(cudaErrorInvalidValue);
  if (!stream_known(stream) || is_default_stream(stream))
    return result(cudaErrorInvalidResourceHandle);
  if (!stream->capture) return result(cudaErrorIllegalState);
  std::shared_ptr<std::vector<Work>> nodes = std::move(stream->capture);
  stream->capture.reset();
  --d.captures;
  *graph = nullptr;
  if (stream->capture_invalid) return result(cudaErrorStreamCaptureInvalidated);
  auto made = std::make_unique<CUgraph_st>();
  made->nodes = std::move(nodes);
  *graph = made.get();
  d.graphs.emplace(made.get(), std::move(made));
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
                                                 cudaStreamCaptureStatus* status) {
  const Lock lock(device().lock);
  if (status == nullptr) return result(cudaErrorInvalidValue);
  if (!stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  *status = is_default_stream(stream) || !stream->capture ? cudaStreamCaptureStatusNone
            : stream->capture_invalid                     ? cudaStreamCaptureStatusInvalidated
                                                          : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                                unsigned long long) {
  Device& d = device();
  const Lock lock(d.lock);
  if (exec == nullptr) return result(cudaErrorInvalidValue);
  const auto found = d.graphs.find(graph);
  if (found == d.graphs.end()) return result(cudaErrorInvalidResourceHandle);
  auto made = std::make_unique<CUgraphExec_st>();
  made->nodes = found->second->nodes;
  *exec = made.get();
  d.graph_execs.emplace(made.get(), std::move(made));
  return cudaSuccess;
}

// The graph's work runs in capture order, as one item of the stream.
PTP_EMU_EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  const auto found = d.graph_execs.find(exec);
  if (found == d.graph_execs.end()) return result(cudaErrorInvalidResourceHandle);
  return result(enqueue(stream, [nodes = found->second->nodes] {
    for (const Work& work : *nodes) {
      if (device().sticky != cudaSuccess) return;  // a faulted context runs nothing more
      work();
    }
  }));
}

PTP_EMU_EXPORT cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  const Lock lock(device().lock);
  return result(device().graph_execs.erase(exec) == 1 ? cudaSuccess
                                                      : cudaErrorInvalidResourceHandle);
}

PTP_EMU_EXPORT cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  const Lock lock(device().lock);
  return result(device().graphs.erase(graph) == 1 ? cudaSuccess : cudaErrorInvalidResourceHandle);
}

// --------------------------------------------------------------- events

PTP_EMU_EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (event == nullptr) return result(cudaErrorInvalidValue);
  ensure_context();
  d.events.push_back(std::make_unique<CUevent_st>());
  d.events.back()->flags = flags;
  *event = d.events.back().get();
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}

PTP_EMU_EXPORT cudaError_t cudaEventDestroy(cudaEvent_t event) {
  const Lock lock(device().lock);
  if (!event_known(event)) return result(cudaErrorInvalidResourceHandle);
  event->live = false;
  return cudaSuccess;
}

PTP_EMU_EXPORT cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Device& d = device();
  const Lock lock(d.lock);
  if (d.sticky != cudaSuccess) return d.sticky;
  if (!event_known(event) || !stream_known(stream)) return result(cudaErrorInvalidResourceHandle);
  const uint64_t record = ++event->records;
  event->stream = is_default_stream(stream) ? nullptr : stream;
  return result(enqueue(stream, [event, record] {
    event->completed = std::max(event->completed, record);
    event->when = std::chrono::steady_clock::now();
  }));
}

PTP_EMU_EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  const Lock lock(device().lock);
  if (!event_known(event)) return result(cudaErrorInvalidResourceHandle);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  const uint64_t target = event->records;
  if (event->stream != nullptr && event->completed < target)
    drain(event->stream, [event, target] { return event->completed >= target; });
  return result(device().sticky);
}

PTP_EMU_EXPORT cudaError_t cudaEventQuery(cudaEvent_t event) {
  const Lock lock(device().lock);
  if (!event_known(event)) return result(cudaErrorInvalidResourceHandle);
  if (refuse_if_capturing() != cudaSuccess) return cudaErrorStreamCaptureUnsupported;
  if (device().sticky != cudaSuccess) return device().sticky;
  return event->completed >= event->records ? cudaSuccess : cudaErrorNotReady;
}

PTP_EMU_EXPORT cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  const Lock lock(device().lock);
  if (ms == nullptr) return result(cudaErrorInvalidValue);
  if (!event_known(start) || !event_known(end)) return result(cudaErrorInvalidResourceHandle);
  if ((start->flags | end->flags) & cudaEventDisableTiming)
    return result(cudaErrorInvalidResourceHandle);
  if (start->records == 0 || end->records == 0) return result(cudaErrorInvalidResourceHandle);
  if (start->completed < start->records || end->completed < end->records)
    return result(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}

}  // extern "C"
