#include "workspace.cuh"

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "core/extract_plan.hpp"
#include "core/gpu_runtime.hpp"
#include "deferred_check.cuh"
#include "device_guard.cuh"

namespace ptychopatch::impl::gpu {
namespace {

// The streams and events are created on the device current at construction,
// and released with that device current again (ptp_context_destroy may run
// on any thread, with any device current, or none).
std::shared_ptr<Workspace> make_on(int32_t device, uint64_t device_memory_budget) {
  const ScopedDevice scoped(device);
  check_cuda(scoped.status(), "cudaSetDevice");
  auto owned = std::make_unique<Workspace>(device, device_memory_budget);
  return std::shared_ptr<Workspace>(owned.release(), [](Workspace* ws) {
    const ScopedDevice release_on(ws->device);
    delete ws;
  });
}

}  // namespace

uint64_t device_bin_area_bytes(uint64_t device_memory_budget) {
  if (device_memory_budget == 0) return kBinAreaBytes;
  return std::max(kMinBinAreaBytes, std::min(kBinAreaBytes, device_memory_budget / 8));
}

Workspace::Workspace(int32_t device_ordinal, uint64_t device_memory_budget)
    : device(device_ordinal),
      check(sizeof(DeferredCheck)),
      check_host(sizeof(DeferredCheck)),
      bins(device_bin_area_bytes(device_memory_budget)),
      bin_slots(static_cast<int64_t>(device_bin_area_bytes(device_memory_budget) / sizeof(int))) {
  *check_host.as<DeferredCheck>() = kDeferredCheckInitial;
  check_cuda(cudaMemcpy(check.as<void>(), check_host.as<void>(), sizeof(DeferredCheck),
                        cudaMemcpyHostToDevice),
             "initialising the offset check record");
}

void deferred_status(Workspace& ws, cudaStream_t stream) {
  check_cuda(cudaStreamSynchronize(stream), "waiting for the context's stream");
  auto* host = ws.check_host.as<DeferredCheck>();
  check_cuda(
      cudaMemcpyAsync(host, ws.check.as<void>(), sizeof *host, cudaMemcpyDeviceToHost, stream),
      "reading the offset check record");
  check_cuda(cudaStreamSynchronize(stream), "reading the offset check record");
  const DeferredCheck found = *host;
  if (found.rejected_calls == 0) return;
  *host = kDeferredCheckInitial;
  check_cuda(
      cudaMemcpyAsync(ws.check.as<void>(), host, sizeof *host, cudaMemcpyHostToDevice, stream),
      "clearing the offset check record");
  check_cuda(cudaStreamSynchronize(stream), "clearing the offset check record");
  const auto calls = static_cast<int64_t>(found.rejected_calls);
  const std::string operation = found.operation == kDeferredReassemble ? "a reassembly"
                                : found.operation == kDeferredOffsetsGradient
                                    ? "an offsets gradient"
                                    : "an extraction";
  fail(PTP_ERROR_NON_FINITE,
       std::to_string(calls) + (calls == 1 ? " call" : " calls") +
           " on device arrays since the last ptp_context_synchronize wrote nothing, as a "
           "non-finite offset was found; the first, " +
           operation + ": " +
           describe_offset(static_cast<int64_t>(found.first_bad), found.group_size,
                           found.legacy != 0) +
           " is not finite");
}

void Workspace::reserve_staging(size_t bytes) {
  if (bytes <= staging_bytes) return;
  // Free every old buffer before allocating the larger ones.
  staging_bytes = 0;
  for (PinnedBuffer& buffer : staging) buffer.reset(0);
  for (PinnedBuffer& buffer : staging) buffer.reset(bytes);
  staging_bytes = bytes;
}

void synchronize(const ptp_context& context) {
  Workspace& ws = workspace_of(context);
  const std::lock_guard<std::recursive_mutex> lock(ws.mutex);
  const ScopedDevice scoped(context.device);
  check_cuda(scoped.status(), "cudaSetDevice");
  deferred_status(ws, static_cast<cudaStream_t>(context.stream));
}

Workspace& workspace_of(const ptp_context& context) {
  if (!context.gpu_workspace) fail(PTP_ERROR_INTERNAL, "a GPU context without its workspace");
  const std::string lost = sticky_error(context.device);
  if (!lost.empty()) fail(PTP_ERROR_CUDA, lost);
  return *static_cast<Workspace*>(context.gpu_workspace.get());
}

uint64_t reusable_scratch_bytes(const ptp_context& context) {
  if (!context.gpu_workspace) return 0;
  const Workspace& ws = *static_cast<const Workspace*>(context.gpu_workspace.get());
  return ws.scratch_in_use ? 0 : ws.scratch_bytes;
}

ScratchLease::ScratchLease(Workspace& ws, std::initializer_list<uint64_t> sizes) : ws_(ws) {
  constexpr uint64_t kAlignment = 256;  // what cudaMalloc guarantees
  std::vector<uint64_t> offsets;
  uint64_t total = 0;
  for (const uint64_t size : sizes) {
    offsets.push_back(total);
    const uint64_t padded = (size + kAlignment - 1) / kAlignment * kAlignment;
    if (padded < size || total + padded < total)
      fail(PTP_ERROR_SIZE_OVERFLOW, "the device buffers of one call exceed 2^64 bytes");
    total += padded;
  }
  char* base = nullptr;
  if (total > 0 && !ws.scratch_in_use) {
    if (total > ws.scratch_bytes) {
      // Free first: the old and new scratch need not fit side by side.
      ws.scratch_bytes = 0;
      ws.scratch.reset(0);
      ws.scratch.reset(total);
      ws.scratch_bytes = total;
    }
    base = ws.scratch.as<char>();
    ws.scratch_in_use = true;
    holds_scratch_ = true;
  } else if (total > 0) {
    own_.reset(total);
    base = own_.as<char>();
  }
  size_t i = 0;
  for (const uint64_t size : sizes) {
    buffers_.push_back(size == 0 ? nullptr : base + offsets[i]);
    ++i;
  }
}

ScratchLease::~ScratchLease() {
  if (holds_scratch_) ws_.scratch_in_use = false;
}

LaneDrain::~LaneDrain() {
  for (const Stream& stream : ws_.streams) cudaStreamSynchronize(stream.get());
}

std::shared_ptr<void> make_workspace(int32_t device, uint64_t device_memory_budget) {
  return make_on(device, device_memory_budget);
}

}  // namespace ptychopatch::impl::gpu
