// GPU backend of the offset gradient of extraction
// (ptp_extract_offsets_gradient).
//  - Device arrays: an offset check and one gradient launch enqueued on the
//    context's stream, without a host wait (offset_check.cuh).
//  - Host arrays: the object goes to the device once; the groups are cut
//    into chunks under the memory budget and pipelined over two lanes (the
//    upstream gradient and offsets up, one launch per chunk), the upstream
//    gradient staged through pinned memory unless it is pinned already;
//    the gradient pairs (16 bytes a patch at most) stay on the device and
//    come back once at the end. Each patch is computed whole by one launch,
//    so the chunking changes no bit.
// Every CUDA failure becomes a status, never an abort.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "core/chunk_plan.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "cpu/parallel_copy.hpp"
#include "cuda_support.cuh"
#include "device_guard.cuh"
#include "launch.cuh"
#include "offset_check.cuh"
#include "offset_upload.cuh"
#include "offsets_gradient_kernel.cuh"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {
namespace {

constexpr uint64_t kTargetChunkBytes = uint64_t{64} << 20;

template <class T>
void launch_gradient(const float* object, const ExtractGeometry& g, math::PairOffsets<T> offsets,
                     const float* grad_patches, int64_t num_patches, T* grad_offsets,
                     cudaStream_t stream, DeferredCheck* check) {
  const GradientLaunch launch = gradient_launch(g, num_patches);
  auto* kernel = g.lanes == 2 ? &offsets_gradient_kernel<2, T> : &offsets_gradient_kernel<1, T>;
  check_cuda(launch_kernel(kernel, launch.grid, launch.block, 0, stream, object, g, offsets,
                           grad_patches, num_patches, grad_offsets, check),
             "launching the offset gradient kernel");
}

template <class T>
void gradient_from_host(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                        const float* object, const T* offsets, int64_t num_patches,
                        const unsigned char* grad_patches, T* grad_offsets) {
  require_host_pointer(object, "object");
  require_host_pointer(grad_offsets, "grad_offsets");
  // A page-locked upstream gradient is read by the copy engine directly.
  const bool direct = require_host_pointer(grad_patches, "grad_patches") == cudaMemoryTypeHost;
  const int64_t num_groups = num_patches / g.group_size;
  const uint64_t object_bytes = static_cast<uint64_t>(g.height * g.width * g.element_bytes);
  const uint64_t group_patches = static_cast<uint64_t>(g.group_size * g.n * g.n * g.element_bytes);
  const uint64_t group_pairs = static_cast<uint64_t>(2 * g.group_size) * sizeof(T);
  const PairUpload<T> source{offsets, g.group_size};
  const uint64_t gradient_bytes = static_cast<uint64_t>(num_patches) * 2 * sizeof(T);
  const ChunkPlan plan =
      plan_chunks(memory_budget(context), object_bytes + gradient_bytes,
                  group_patches + group_pairs, num_groups, Workspace::kLanes, kTargetChunkBytes);

  const size_t slot_patches = plan.groups_per_chunk * group_patches;
  const size_t slot_pairs = plan.groups_per_chunk * group_pairs;
  static_assert(Workspace::kLanes == 2, "one slot of each kind per lane");
  const ScratchLease buffers(
      ws, {object_bytes, gradient_bytes, slot_patches, slot_patches, slot_pairs, slot_pairs});
  float* const d_object = buffers.get<float>(0);
  T* const d_gradient = buffers.get<T>(1);
  float* const d_patches[Workspace::kLanes] = {buffers.get<float>(2), buffers.get<float>(3)};
  void* const d_offsets[Workspace::kLanes] = {buffers.get<void>(4), buffers.get<void>(5)};
  if (!direct) ws.reserve_staging(slot_patches);
  const LaneDrain drain(ws);  // destroyed before the buffers above

  // The object goes up on a lane and is waited for: both lanes read it
  // (see extract_gpu.cu).
  const cudaStream_t first = ws.streams[0].get();
  check_cuda(cudaMemcpyAsync(d_object, object, object_bytes, cudaMemcpyHostToDevice, first),
             "copying the object to the device");
  check_cuda(cudaStreamSynchronize(first), "copying the object to the device");

  bool busy[Workspace::kLanes] = {false, false};
  for (int64_t chunk = 0; chunk < plan.num_chunks; ++chunk) {
    const int lane = static_cast<int>(chunk % Workspace::kLanes);
    const cudaStream_t stream = ws.streams[lane].get();
    // The lane's staging buffer and slots are free once its previous chunk
    // is done.
    if (busy[lane])
      check_cuda(cudaEventSynchronize(ws.done[lane].get()), "the offset gradient of a chunk");
    const int64_t b0 = chunk * plan.groups_per_chunk;
    const int64_t b1 = std::min(num_groups, b0 + plan.groups_per_chunk);
    const size_t bytes = (b1 - b0) * group_patches;
    const unsigned char* source_bytes = grad_patches + b0 * group_patches;
    if (!direct) {
      cpu::parallel_copy(ws.staging[lane].as<void>(), source_bytes, bytes, context.num_threads);
      source_bytes = ws.staging[lane].as<unsigned char>();
    }
    check_cuda(
        cudaMemcpyAsync(d_patches[lane], source_bytes, bytes, cudaMemcpyHostToDevice, stream),
        "copying grad_patches to the device");
    const math::PairOffsets<T> chunk_offsets = source.upload(d_offsets[lane], b0, b1, stream);
    const int64_t patches = (b1 - b0) * g.group_size;
    launch_gradient(d_object, g, chunk_offsets, d_patches[lane], patches,
                    d_gradient + 2 * g.group_size * b0, stream, nullptr);
    check_cuda(cudaEventRecord(ws.done[lane].get(), stream), "cudaEventRecord");
    busy[lane] = true;
  }
  for (const Stream& stream : ws.streams)
    check_cuda(cudaStreamSynchronize(stream.get()), "the offset gradient");
  // On a lane, not with cudaMemcpy on the legacy default stream (see
  // reassemble_gpu.cu).
  check_cuda(
      cudaMemcpyAsync(grad_offsets, d_gradient, gradient_bytes, cudaMemcpyDeviceToHost, first),
      "copying grad_offsets to the host");
  check_cuda(cudaStreamSynchronize(first), "copying grad_offsets to the host");
}

template <class T>
void gradient_on_device(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                        const float* object, const T* offsets, int64_t num_patches,
                        const float* grad_patches, T* grad_offsets) {
  const auto u64 = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t element = u64(g.element_bytes);
  require_device_pointer(object, u64(g.height) * u64(g.width) * element, context.device, "object");
  require_device_pointer(offsets, 2 * u64(num_patches) * sizeof(T), context.device, "offsets");
  require_device_pointer(grad_patches, u64(num_patches) * u64(g.n) * u64(g.n) * element,
                         context.device, "grad_patches");
  require_device_pointer(grad_offsets, 2 * u64(num_patches) * sizeof(T), context.device,
                         "grad_offsets");
  require_aligned(object, sizeof(float), "object");
  require_aligned(offsets, sizeof(T), "offsets");
  require_aligned(grad_patches, sizeof(float), "grad_patches");
  require_aligned(grad_offsets, sizeof(T), "grad_offsets");
  const math::PairOffsets<T> pairs{offsets};
  const auto stream = static_cast<cudaStream_t>(context.stream);
  // The check is enqueued, not waited for: the kernel then writes nothing
  // if an offset is not finite, and ptp_context_synchronize reports it.
  enqueue_offset_check(ws, pairs, num_patches, stream);
  launch_gradient(object, g, pairs, grad_patches, num_patches, grad_offsets, stream,
                  ws.check.as<DeferredCheck>());
}

template <class T>
void run(const ptp_context& context, Workspace& ws, const ExtractGeometry& g, const void* object,
         const void* offsets, int64_t num_patches, const void* grad_patches, void* grad_offsets) {
  const auto* obj = static_cast<const float*>(object);
  const auto* typed_offsets = static_cast<const T*>(offsets);
  auto* typed_gradient = static_cast<T*>(grad_offsets);
  if (g.memory == PTP_MEMORY_DEVICE)
    gradient_on_device(context, ws, g, obj, typed_offsets, num_patches,
                       static_cast<const float*>(grad_patches), typed_gradient);
  else
    gradient_from_host(context, ws, g, obj, typed_offsets, num_patches,
                       static_cast<const unsigned char*>(grad_patches), typed_gradient);
}

}  // namespace

void offsets_gradient(const ptp_context& context, const ExtractGeometry& geometry,
                      const void* object, const void* offsets, int64_t num_patches,
                      const void* grad_patches, void* grad_offsets) {
  Workspace& ws = workspace_of(context);
  const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
  const ScopedDevice scoped(context.device);
  check_cuda(scoped.status(), "cudaSetDevice");
  if (geometry.offset_dtype == PTP_DTYPE_FLOAT64)
    run<double>(context, ws, geometry, object, offsets, num_patches, grad_patches, grad_offsets);
  else
    run<float>(context, ws, geometry, object, offsets, num_patches, grad_patches, grad_offsets);
}

}  // namespace ptychopatch::impl::gpu
