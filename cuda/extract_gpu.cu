// GPU backend of patch extraction.
//  - Device arrays: one launch on the caller's stream, without a host wait;
//    the kernel checks the offsets before it writes (offset_check.cuh).
//  - Host arrays: the object goes to the device once; the groups are cut
//    into chunks under the memory budget and pipelined over two lanes
//    (offsets up, one launch per chunk, patches down), so one lane's
//    transfer and the host-side copy out of pinned staging overlap the other
//    lane's kernel. Output that is already pinned is written directly.
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
#include "extract_kernel.cuh"
#include "launch.cuh"
#include "offset_check.cuh"
#include "offset_upload.cuh"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {
namespace {

// One pipeline slot of this size keeps a transfer long enough to amortise
// its latency while leaving several chunks to overlap.
constexpr uint64_t kTargetChunkBytes = uint64_t{64} << 20;

// `check`: the context's record for a device-array call, else null.
template <class Offsets>
void launch_extract(const float* object, const ExtractGeometry& g, const Offsets& offsets,
                    int64_t num_patches, float* patches, cudaStream_t stream,
                    DeferredCheck* check) {
  const ExtractLaunch launch = extract_launch(g, num_patches, multiprocessor_count());
  // 8-byte corner loads and stores need both arrays 8-byte aligned; device
  // arrays of the caller need only 4 (a float), so this is checked here.
  const bool pairs =
      reinterpret_cast<uintptr_t>(object) % 8 == 0 && reinterpret_cast<uintptr_t>(patches) % 8 == 0;
  using Kernel =
      void (*)(const float*, ExtractGeometry, Offsets, ExtractTraversal, float*, DeferredCheck*);
  Kernel kernel = nullptr;
  if (index32_fits(g))
    kernel = g.lanes == 1 ? &extract_patches_kernel<1, false, true, Offsets>
             : pairs      ? &extract_patches_kernel<2, true, true, Offsets>
                          : &extract_patches_kernel<2, false, true, Offsets>;
  else
    kernel = g.lanes == 1 ? &extract_patches_kernel<1, false, false, Offsets>
             : pairs      ? &extract_patches_kernel<2, true, false, Offsets>
                          : &extract_patches_kernel<2, false, false, Offsets>;
  check_cuda(launch_kernel(kernel, launch.grid, launch.block, 0, stream, object, g, offsets,
                           launch.traversal, patches, check),
             "launching the extraction kernel");
}

template <class Source>
void extract_from_host(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                       const float* object, const Source& source, int64_t num_patches,
                       float* patches) {
  require_host_pointer(object, "object");
  // Page-locked output is written by the copy engine directly.
  const bool direct = require_host_pointer(patches, "patches") == cudaMemoryTypeHost;
  const int64_t num_groups = num_patches / g.group_size;
  const uint64_t group_out = static_cast<uint64_t>(g.group_size * g.n * g.n * g.element_bytes);
  const uint64_t object_bytes = static_cast<uint64_t>(g.height * g.width * g.element_bytes);
  const ChunkPlan plan =
      plan_chunks(memory_budget(context), object_bytes, group_out + source.group_bytes(),
                  num_groups, Workspace::kLanes, kTargetChunkBytes);

  const size_t slot_out = plan.groups_per_chunk * group_out;
  const size_t slot_offsets = plan.groups_per_chunk * source.group_bytes();
  static_assert(Workspace::kLanes == 2, "one output and one offset slot per lane");
  const ScratchLease buffers(ws, {object_bytes, slot_out, slot_out, slot_offsets, slot_offsets});
  float* const d_object = buffers.get<float>(0);
  float* const d_out[Workspace::kLanes] = {buffers.get<float>(1), buffers.get<float>(2)};
  void* const d_offsets[Workspace::kLanes] = {buffers.get<void>(3), buffers.get<void>(4)};
  if (!direct) ws.reserve_staging(slot_out);
  const LaneDrain drain(ws);  // destroyed before the buffers above

  // The object goes up on a lane, not with cudaMemcpy on the legacy default
  // stream: from pageable memory that returns once the data is staged, with
  // the last DMA possibly still in flight, and the lanes are non-blocking
  // streams that would not wait for it. Both lanes read it: wait here.
  const cudaStream_t first = ws.streams[0].get();
  check_cuda(cudaMemcpyAsync(d_object, object, object_bytes, cudaMemcpyHostToDevice, first),
             "copying the object to the device");
  check_cuda(cudaStreamSynchronize(first), "copying the object to the device");

  auto* out = reinterpret_cast<unsigned char*>(patches);
  int64_t pending[Workspace::kLanes] = {-1, -1};
  auto groups_of = [&](int64_t chunk, int64_t& b0, int64_t& b1) {
    b0 = chunk * plan.groups_per_chunk;
    b1 = std::min(num_groups, b0 + plan.groups_per_chunk);
  };
  // Waits for a lane's chunk and, when staged, copies it to the caller.
  auto finish = [&](int lane) {
    if (pending[lane] < 0) return;
    check_cuda(cudaEventSynchronize(ws.done[lane].get()), "extracting a chunk of patches");
    if (!direct) {
      int64_t b0, b1;
      groups_of(pending[lane], b0, b1);
      cpu::parallel_copy(out + b0 * group_out, ws.staging[lane].as<void>(), (b1 - b0) * group_out,
                         context.num_threads);
    }
    pending[lane] = -1;
  };

  for (int64_t chunk = 0; chunk < plan.num_chunks; ++chunk) {
    const int lane = static_cast<int>(chunk % Workspace::kLanes);
    finish(lane);
    int64_t b0, b1;
    groups_of(chunk, b0, b1);
    const cudaStream_t stream = ws.streams[lane].get();
    const auto offsets = source.upload(d_offsets[lane], b0, b1, stream);
    launch_extract(d_object, g, offsets, (b1 - b0) * g.group_size, d_out[lane], stream, nullptr);
    void* destination = direct ? out + b0 * group_out : ws.staging[lane].as<void>();
    check_cuda(cudaMemcpyAsync(destination, d_out[lane], (b1 - b0) * group_out,
                               cudaMemcpyDeviceToHost, stream),
               "copying patches to the host");
    check_cuda(cudaEventRecord(ws.done[lane].get(), stream), "cudaEventRecord");
    pending[lane] = chunk;
  }
  // The older chunk first: the staged copies land in order.
  finish(static_cast<int>(plan.num_chunks % Workspace::kLanes));
  finish(static_cast<int>((plan.num_chunks + 1) % Workspace::kLanes));
}

template <class Offsets>
void extract_on_device(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                       const float* object, const Offsets& offsets, int64_t num_patches,
                       float* patches) {
  const auto stream = static_cast<cudaStream_t>(context.stream);
  launch_extract(object, g, offsets, num_patches, patches, stream, ws.check.as<DeferredCheck>());
}

template <class T>
void run(const ptp_context& context, Workspace& ws, const ExtractGeometry& g, const float* object,
         const OffsetArrays& arrays, int64_t num_patches, float* patches) {
  if (g.memory == PTP_MEMORY_DEVICE) {
    const auto u64 = [](int64_t v) { return static_cast<uint64_t>(v); };
    const uint64_t element = u64(g.element_bytes);
    require_device_pointer(object, u64(g.height) * u64(g.width) * element, context.device,
                           "object");
    require_device_pointer(patches, u64(num_patches) * u64(g.n) * u64(g.n) * element,
                           context.device, "patches");
    require_aligned(object, sizeof(float), "object");
    require_aligned(patches, sizeof(float), "patches");
    if (arrays.legacy) {
      require_device_pointer(arrays.global, 2 * u64(num_patches / g.group_size) * sizeof(T),
                             context.device, "global_offsets");
      require_device_pointer(arrays.local, 2 * u64(num_patches) * sizeof(T), context.device,
                             "local_offsets");
      require_aligned(arrays.global, sizeof(T), "global_offsets");
      require_aligned(arrays.local, sizeof(T), "local_offsets");
      const math::LegacyOffsets<T> offsets{static_cast<const T*>(arrays.global),
                                           static_cast<const T*>(arrays.local), g.group_size};
      extract_on_device(context, ws, g, object, offsets, num_patches, patches);
    } else {
      require_device_pointer(arrays.pairs, 2 * u64(num_patches) * sizeof(T), context.device,
                             "offsets");
      require_aligned(arrays.pairs, sizeof(T), "offsets");
      const math::PairOffsets<T> offsets{static_cast<const T*>(arrays.pairs)};
      extract_on_device(context, ws, g, object, offsets, num_patches, patches);
    }
    return;
  }
  if (arrays.legacy) {
    const LegacyUpload<T> source{static_cast<const T*>(arrays.global),
                                 static_cast<const T*>(arrays.local), g.group_size};
    extract_from_host(context, ws, g, object, source, num_patches, patches);
  } else {
    const PairUpload<T> source{static_cast<const T*>(arrays.pairs), g.group_size};
    extract_from_host(context, ws, g, object, source, num_patches, patches);
  }
}

}  // namespace

void extract(const ptp_context& context, const ExtractGeometry& geometry, const void* object,
             const OffsetArrays& offsets, int64_t num_patches, void* patches) {
  Workspace& ws = workspace_of(context);
  const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
  const ScopedDevice scoped(context.device);
  check_cuda(scoped.status(), "cudaSetDevice");
  const auto* obj = static_cast<const float*>(object);
  auto* out = static_cast<float*>(patches);
  if (geometry.offset_dtype == PTP_DTYPE_FLOAT64)
    run<double>(context, ws, geometry, obj, offsets, num_patches, out);
  else
    run<float>(context, ws, geometry, obj, offsets, num_patches, out);
}

}  // namespace ptychopatch::impl::gpu
