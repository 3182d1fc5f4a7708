// What a GPU context keeps between calls: the two pipeline lanes (a stream
// and an event each), pinned staging buffers that only grow, the small
// device record of offset checks on device arrays (deferred_check.cuh) and
// the tile bins of reassembly on device arrays (tile_bins.cuh).
// Allocating pinned
// memory costs milliseconds, so it is done once per context, not per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <vector>

#include "core/context.hpp"
#include "cuda_support.cuh"

namespace ptychopatch::impl::gpu {

// The tile bins of a reassembly: a context holds kBinAreaBytes for its
// device-array calls (less under a small device_memory_budget: an eighth of
// it, at least kMinBinAreaBytes); a host-array call takes what one chunk
// needs from its budget, at least kMinBinAreaBytes. A smaller area only
// bins the canvas's tiles in ranges and the patches in chunks.
constexpr uint64_t kBinAreaBytes = uint64_t{8} << 20;
constexpr uint64_t kMinBinAreaBytes = uint64_t{1} << 10;

// The device-array bin area of a context with this budget (0: the default).
uint64_t device_bin_area_bytes(uint64_t device_memory_budget);

struct Workspace {
  static constexpr int kLanes = 2;

  Workspace(int32_t device, uint64_t device_memory_budget);

  // Grows every lane's staging buffer to at least `bytes`.
  void reserve_staging(size_t bytes);

  // Serialises calls: plans made from one context share this workspace.
  // Recursive: an alignment's progress callback may call the library on the
  // same context (from the same thread) without deadlocking.
  std::recursive_mutex mutex;
  int32_t device;
  Stream streams[kLanes];
  Event done[kLanes];
  PinnedBuffer staging[kLanes];
  size_t staging_bytes = 0;
  // One DeferredCheck, allocated here so that device-array calls allocate
  // nothing (they may be captured in a CUDA graph), and its host mirror.
  DeviceBuffer check;
  PinnedBuffer check_host;
  // The tile bins of device-array reassemblies (int32 slots), allocated
  // here for the same reason; ordered like `check` (one stream).
  DeviceBuffer bins;
  int64_t bin_slots = 0;
  // The device buffers of host-array calls (ScratchLease): one allocation,
  // kept between calls and only grown.
  DeviceBuffer scratch;
  uint64_t scratch_bytes = 0;
  bool scratch_in_use = false;
};

// Device scratch the context holds but no call is using: memory_budget
// counts it as available. 0 for a context without a workspace.
uint64_t reusable_scratch_bytes(const ptp_context& context);

// The device buffers of one call, carved from the workspace's scratch,
// which grows (freed, then allocated at the new size) when the call needs
// more, and is otherwise reused: cudaMalloc and cudaFree cost time on every
// call, and cudaFree may synchronise the whole device, stalling the
// caller's other streams. A call made while the scratch is leased (from a
// progress callback of a call on the same context) gets an allocation of
// its own instead. Buffers are 256-byte aligned; a size of 0 gives nullptr.
// Declare it before the scope's LaneDrain or stream drain, so that the work
// using the buffers ends before they are handed back.
class ScratchLease {
 public:
  ScratchLease(Workspace& ws, std::initializer_list<uint64_t> sizes);
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  template <class T>
  T* get(size_t index) const {
    return static_cast<T*>(buffers_.at(index));
  }

 private:
  Workspace& ws_;
  bool holds_scratch_ = false;
  DeviceBuffer own_;
  std::vector<void*> buffers_;
};

// The context's workspace; throws PTP_ERROR_INTERNAL if it has none, and
// PTP_ERROR_CUDA (saying so) once its device has had a sticky error.
Workspace& workspace_of(const ptp_context& context);

// Waits for both lanes when a scope ends, so that no buffer is released
// while a copy or kernel of an interrupted call still uses it.
class LaneDrain {
 public:
  explicit LaneDrain(Workspace& ws) : ws_(ws) {}
  ~LaneDrain();
  LaneDrain(const LaneDrain&) = delete;
  LaneDrain& operator=(const LaneDrain&) = delete;

 private:
  Workspace& ws_;
};

}  // namespace ptychopatch::impl::gpu
