// GPU backend of patch extraction for host arrays: copy the object and the
// offsets to the device, run the one-launch kernel over all patches, copy
// the patches back. Every CUDA failure becomes a status, never an abort.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "device_guard.cuh"
#include "extract_kernel.cuh"

namespace ptychopatch::impl::gpu {
namespace {

void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the context stays usable
  const ptp_status status =
      err == cudaErrorMemoryAllocation ? PTP_ERROR_OUT_OF_MEMORY : PTP_ERROR_CUDA;
  fail(status, std::string(what) + " failed: " + cudaGetErrorName(err) + " (" +
                   cudaGetErrorString(err) + ")");
}

// Owns one device allocation.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (bytes > 0) check_cuda(cudaMalloc(&ptr_, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_) { other.ptr_ = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

DeviceBuffer upload(const void* host, size_t bytes) {
  DeviceBuffer buffer(bytes);
  if (bytes > 0)
    check_cuda(cudaMemcpy(buffer.as<void>(), host, bytes, cudaMemcpyHostToDevice),
               "copying inputs to the device");
  return buffer;
}

template <int kLanes, class Offsets>
void launch(const float* object, const ExtractGeometry& g, const Offsets& offsets,
            int64_t num_elements, float* patches) {
  constexpr int kThreads = 256;
  int device = 0;
  int sms = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
             "cudaDeviceGetAttribute");
  // Enough blocks to fill the device several times over; the grid-stride
  // loop covers the rest.
  const int64_t wanted = (num_elements + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(std::min<int64_t>(wanted, int64_t{sms} * 32));
  extract_patches_kernel<kLanes><<<blocks, kThreads>>>(object, g, offsets, num_elements, patches);
  check_cuda(cudaGetLastError(), "launching the extraction kernel");
}

// Runs the kernel for device-resident offsets and copies the patches home.
template <class Offsets>
void extract_to_host(const ExtractGeometry& g, const DeviceBuffer& d_object, const Offsets& offsets,
                     int64_t num_patches, float* out) {
  const size_t out_bytes = extract_output_bytes(g, num_patches);
  const int64_t num_elements = num_patches * g.n * g.n;
  const DeviceBuffer d_out(out_bytes);
  if (g.lanes == 2)
    launch<2>(d_object.as<float>(), g, offsets, num_elements, d_out.as<float>());
  else
    launch<1>(d_object.as<float>(), g, offsets, num_elements, d_out.as<float>());
  check_cuda(cudaMemcpy(out, d_out.as<void>(), out_bytes, cudaMemcpyDeviceToHost),
             "copying patches to the host");
}

template <class T>
void run(const ExtractGeometry& g, const float* object, const OffsetArrays& offsets,
         int64_t num_patches, float* out) {
  const DeviceBuffer d_object =
      upload(object, static_cast<size_t>(g.height * g.width * g.element_bytes));
  if (offsets.legacy) {
    const int64_t num_groups = num_patches / g.group_size;
    const DeviceBuffer d_global = upload(offsets.global, 2 * num_groups * sizeof(T));
    const DeviceBuffer d_local = upload(offsets.local, 2 * num_patches * sizeof(T));
    extract_to_host(g, d_object,
                    math::LegacyOffsets<T>{d_global.as<T>(), d_local.as<T>(), g.group_size},
                    num_patches, out);
  } else {
    const DeviceBuffer d_pairs = upload(offsets.pairs, 2 * num_patches * sizeof(T));
    extract_to_host(g, d_object, math::PairOffsets<T>{d_pairs.as<T>()}, num_patches, out);
  }
}

}  // namespace

void extract(const ptp_context& context, const ExtractGeometry& geometry, const void* object,
             const OffsetArrays& offsets, int64_t num_patches, void* patches) {
  const ScopedDevice scoped(context.device);
  check_cuda(scoped.status(), "cudaSetDevice");
  const auto* obj = static_cast<const float*>(object);
  auto* out = static_cast<float*>(patches);
  if (geometry.offset_dtype == PTP_DTYPE_FLOAT64)
    run<double>(geometry, obj, offsets, num_patches, out);
  else
    run<float>(geometry, obj, offsets, num_patches, out);
}

}  // namespace ptychopatch::impl::gpu
