// GPU backend of reassembly (the adjoint of extraction).
//  - Device arrays: an offset check, then the tile binning (tile_bins.cuh)
//    and the gather kernel, which writes every canvas pixel once per patch
//    chunk, enqueued on the caller's stream without a host wait or an
//    allocation (offset_check.cuh; the bins are the context's, allocated
//    with it: Workspace::bins).
//  - Host arrays: the canvases stay on the device for the whole call; the
//    patches are streamed up in chunks under the memory budget over two
//    lanes (staged through pinned memory unless already pinned), and the
//    canvases come back once at the end. The chunks' kernels run one after
//    another (each adds to what the previous left), so the sums have the
//    CPU's order whatever the chunking.
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
#include "reassemble_kernel.cuh"
#include "workspace.cuh"

namespace ptychopatch::impl::gpu {
namespace {

constexpr uint64_t kTargetChunkBytes = uint64_t{64} << 20;
// The tile bins of a host-array call: at most what fits int32 list indices
// with room to spare.
constexpr uint64_t kMaxBinAreaBytes = uint64_t{1} << 30;

// An area of int32 slots for the tile bins (tile_bins.cuh).
struct BinArea {
  int* slots;
  int64_t size;
};

// The most tiles one patch's footprint overlaps (core/chunk_plan.hpp).
int64_t pairs_per_patch(const ExtractGeometry& g) {
  return patch_tile_span(g.n, g.half, g.height, kTileHeight) *
         patch_tile_span(g.n, g.half, g.width, kTileWidth);
}

// Writes every pixel of the canvases once per patch chunk (see
// reassemble_kernel.cuh): the sums of the given patches, added to the
// canvases' values when `accumulate`, else from +0, so a call with no
// patches gives zeros. The tiles are binned in ranges and the patches in
// chunks that fit `area` (plan_bins); for each range the chunks' gathers
// run in patch order, each adding to what the one before left, so every
// pixel sums its terms in patch order whatever the area. Everything is
// enqueued on `stream`: no host wait, no allocation.
template <class Offsets>
void launch_reassemble(const float* patches, const ExtractGeometry& g, const Offsets& offsets,
                       int64_t num_patches, bool accumulate, float* canvas, float* weights,
                       BinArea area, cudaStream_t stream, DeferredCheck* check = nullptr) {
  const CanvasTiles tiles = canvas_tiles(g.height, g.width);
  if (tiles.count == 0) return;
  auto* kernel = g.lanes == 2 ? &reassemble_kernel<2, Offsets> : &reassemble_kernel<1, Offsets>;
  bool record = true;  // the first gather records a rejection of the call's offsets
  const auto gather = [&](int64_t first_patch, const TileBins& bins, bool add) {
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(bins.tiles, 0x7fffffff)));
    check_cuda(launch_kernel(kernel, grid, dim3(kReassembleThreads), 0, stream, patches, g, offsets,
                             first_patch, bins, tiles, add, canvas, weights, check, record),
               "launching the reassembly kernel");
    record = false;
  };
  if (num_patches == 0) {
    gather(0, TileBins{0, tiles.count, nullptr, nullptr, nullptr, 0}, accumulate);
    return;
  }
  const BinPlan plan = plan_bins(tiles.count, pairs_per_patch(g), area.size, num_patches);
  const int64_t range = plan.tiles_per_range;
  for (int64_t t0 = 0; t0 < tiles.count; t0 += range) {
    const TileBins bins{t0,
                        std::min(range, tiles.count - t0),
                        area.slots,
                        area.slots + range + 1,
                        area.slots + 2 * range + 1,
                        plan.list_capacity};
    for (int64_t p0 = 0; p0 < num_patches; p0 += plan.patches_per_chunk) {
      const int64_t count = std::min(plan.patches_per_chunk, num_patches - p0);
      bin_tile_patches(g, offsets, p0, count, tiles, bins, stream, check);
      gather(p0, bins, accumulate || p0 > 0);
    }
  }
}

template <class T>
void reassemble_from_host(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                          const unsigned char* patches, const T* offsets, int64_t num_patches,
                          void* canvas, float* weights) {
  require_host_pointer(canvas, "canvas");
  if (weights != nullptr) require_host_pointer(weights, "weights");
  // Page-locked patches are read by the copy engine directly.
  const bool direct =
      num_patches == 0 || require_host_pointer(patches, "patches") == cudaMemoryTypeHost;
  const int64_t num_groups = num_patches / g.group_size;
  const uint64_t canvas_bytes = static_cast<uint64_t>(g.height * g.width * g.element_bytes);
  const uint64_t weights_bytes =
      weights != nullptr ? static_cast<uint64_t>(g.height * g.width) * sizeof(float) : 0;
  const uint64_t group_patches = static_cast<uint64_t>(g.group_size * g.n * g.n * g.element_bytes);
  const PairUpload<T> source{offsets, g.group_size};
  const uint64_t budget = memory_budget(context);
  const ChunkPlan plan =
      plan_chunks(budget, canvas_bytes + weights_bytes, group_patches + source.group_bytes(),
                  num_groups, Workspace::kLanes, kTargetChunkBytes);

  const size_t slot_patches = plan.groups_per_chunk * group_patches;
  const size_t slot_offsets = plan.groups_per_chunk * source.group_bytes();
  // The tile bins, shared by the lanes (the chunks' kernels run one after
  // another): what one chunk needs, from what the budget has left, and at
  // least kMinBinAreaBytes (then the chunk is binned in parts).
  uint64_t bin_bytes = 0;
  if (plan.num_chunks > 0) {
    const uint64_t used = canvas_bytes + weights_bytes + 2 * (slot_patches + slot_offsets);
    const uint64_t spare = budget > used ? budget - used : 0;
    const uint64_t wanted =
        sizeof(int) * static_cast<uint64_t>(bin_area_slots(canvas_tiles(g.height, g.width).count,
                                                           pairs_per_patch(g),
                                                           plan.groups_per_chunk * g.group_size));
    bin_bytes = std::max(kMinBinAreaBytes, std::min({wanted, spare, kMaxBinAreaBytes}));
  }
  static_assert(Workspace::kLanes == 2, "one patch and one offset slot per lane");
  const ScratchLease buffers(ws, {canvas_bytes, weights_bytes, slot_patches, slot_patches,
                                  slot_offsets, slot_offsets, bin_bytes});
  float* const d_canvas = buffers.get<float>(0);
  float* const d_weights = buffers.get<float>(1);
  float* const d_patches[Workspace::kLanes] = {buffers.get<float>(2), buffers.get<float>(3)};
  void* const d_offsets[Workspace::kLanes] = {buffers.get<void>(4), buffers.get<void>(5)};
  const BinArea area{buffers.get<int>(6), static_cast<int64_t>(bin_bytes / sizeof(int))};
  if (!direct) ws.reserve_staging(slot_patches);
  const LaneDrain drain(ws);

  // The chunks' kernels run in chunk order, each adding to what the one
  // before left (the first starts from +0), so every pixel sums its terms
  // in patch order as on the CPU; the uploads of a lane still overlap the
  // other lane's kernel. ws.done[lane] is recorded after each kernel.
  const cudaStream_t first = ws.streams[0].get();
  float* const weights_or_null = weights != nullptr ? d_weights : nullptr;
  if (plan.num_chunks == 0)  // no patches: the kernel writes zeros
    launch_reassemble(d_patches[0], g, math::PairOffsets<T>{nullptr}, 0, false, d_canvas,
                      weights_or_null, area, first);

  bool busy[Workspace::kLanes] = {false, false};
  for (int64_t chunk = 0; chunk < plan.num_chunks; ++chunk) {
    const int lane = static_cast<int>(chunk % Workspace::kLanes);
    const cudaStream_t stream = ws.streams[lane].get();
    // The lane's staging buffer is free once its previous upload finished.
    if (busy[lane])
      check_cuda(cudaEventSynchronize(ws.done[lane].get()), "reassembling a chunk of patches");
    const int64_t b0 = chunk * plan.groups_per_chunk;
    const int64_t b1 = std::min(num_groups, b0 + plan.groups_per_chunk);
    const size_t bytes = (b1 - b0) * group_patches;
    const unsigned char* source_bytes = patches + b0 * group_patches;
    if (!direct) {
      cpu::parallel_copy(ws.staging[lane].as<void>(), source_bytes, bytes, context.num_threads);
      source_bytes = ws.staging[lane].as<unsigned char>();
    }
    check_cuda(
        cudaMemcpyAsync(d_patches[lane], source_bytes, bytes, cudaMemcpyHostToDevice, stream),
        "copying patches to the device");
    const auto chunk_offsets = source.upload(d_offsets[lane], b0, b1, stream);
    if (chunk > 0)  // after the previous chunk's kernel, on the other lane
      check_cuda(cudaStreamWaitEvent(stream, ws.done[1 - lane].get(), 0),
                 "ordering the reassembly chunks");
    launch_reassemble(d_patches[lane], g, chunk_offsets, (b1 - b0) * g.group_size, chunk > 0,
                      d_canvas, weights_or_null, area, stream);
    check_cuda(cudaEventRecord(ws.done[lane].get(), stream), "cudaEventRecord");
    busy[lane] = true;
  }
  for (const Stream& stream : ws.streams)
    check_cuda(cudaStreamSynchronize(stream.get()), "reassembling patches");
  // On a lane, not with cudaMemcpy on the legacy default stream, which would
  // also wait for the caller's unrelated work on blocking streams.
  check_cuda(cudaMemcpyAsync(canvas, d_canvas, canvas_bytes, cudaMemcpyDeviceToHost, first),
             "copying the canvas to the host");
  if (weights != nullptr)
    check_cuda(cudaMemcpyAsync(weights, d_weights, weights_bytes, cudaMemcpyDeviceToHost, first),
               "copying the weights to the host");
  check_cuda(cudaStreamSynchronize(first), "copying the canvas to the host");
}

template <class T>
void reassemble_on_device(const ptp_context& context, Workspace& ws, const ExtractGeometry& g,
                          const float* patches, const T* offsets, int64_t num_patches,
                          float* canvas, float* weights) {
  const auto u64 = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t pixels = u64(g.height) * u64(g.width);
  require_device_pointer(canvas, pixels * u64(g.element_bytes), context.device, "canvas");
  require_aligned(canvas, sizeof(float), "canvas");
  if (weights != nullptr) {
    require_device_pointer(weights, pixels * sizeof(float), context.device, "weights");
    require_aligned(weights, sizeof(float), "weights");
  }
  const math::PairOffsets<T> pairs{offsets};
  const auto stream = static_cast<cudaStream_t>(context.stream);
  if (num_patches > 0) {
    require_device_pointer(patches, u64(num_patches) * u64(g.n) * u64(g.n) * u64(g.element_bytes),
                           context.device, "patches");
    require_device_pointer(offsets, 2 * u64(num_patches) * sizeof(T), context.device, "offsets");
    require_aligned(patches, sizeof(float), "patches");
    require_aligned(offsets, sizeof(T), "offsets");
    // The check is enqueued, not waited for: the kernel then writes nothing
    // if an offset is not finite, and ptp_context_synchronize reports it.
    enqueue_offset_check(ws, pairs, num_patches, stream);
  }
  // The kernel writes every pixel once (zeros when there are no patches).
  launch_reassemble(patches, g, pairs, num_patches, false, canvas, weights,
                    BinArea{ws.bins.as<int>(), ws.bin_slots}, stream,
                    num_patches > 0 ? ws.check.as<DeferredCheck>() : nullptr);
}

template <class T>
void run(const ptp_context& context, Workspace& ws, const ExtractGeometry& g, const void* patches,
         const void* offsets, int64_t num_patches, void* canvas, float* weights) {
  const auto* typed_offsets = static_cast<const T*>(offsets);
  if (g.memory == PTP_MEMORY_DEVICE)
    reassemble_on_device(context, ws, g, static_cast<const float*>(patches), typed_offsets,
                         num_patches, static_cast<float*>(canvas), weights);
  else
    reassemble_from_host(context, ws, g, static_cast<const unsigned char*>(patches), typed_offsets,
                         num_patches, canvas, weights);
}

}  // namespace

void reassemble(const ptp_context& context, const ExtractGeometry& geometry, const void* patches,
                const void* offsets, int64_t num_patches, void* canvas, float* weights) {
  Workspace& ws = workspace_of(context);
  const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
  const ScopedDevice scoped(context.device);
  check_cuda(scoped.status(), "cudaSetDevice");
  if (geometry.offset_dtype == PTP_DTYPE_FLOAT64)
    run<double>(context, ws, geometry, patches, offsets, num_patches, canvas, weights);
  else
    run<float>(context, ws, geometry, patches, offsets, num_patches, canvas, weights);
}

}  // namespace ptychopatch::impl::gpu
