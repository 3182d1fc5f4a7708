// What a GPU context keeps between calls: the two pipeline lanes (a stream
// and an event each), pinned staging buffers that only grow, and the small
// device flag used to check device-resident offsets. Allocating pinned
// memory costs milliseconds, so it is done once per context, not per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "core/context.hpp"
#include "cuda_support.cuh"

namespace ptychopatch::impl::gpu {

struct Workspace {
  static constexpr int kLanes = 2;

  explicit Workspace(int32_t device);

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
  DeviceBuffer flag;       // one unsigned long long
  PinnedBuffer flag_host;  // its host mirror
};

// The context's workspace; throws PTP_ERROR_INTERNAL if it has none.
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
