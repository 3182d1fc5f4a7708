#include "workspace.cuh"

#include <memory>

#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "device_guard.cuh"

namespace ptychopatch::impl::gpu {
namespace {

// The streams and events are created on the device current at construction,
// and released with that device current again (ptp_context_destroy may run
// on any thread, with any device current, or none).
std::shared_ptr<Workspace> make_on(int32_t device) {
  const ScopedDevice scoped(device);
  check_cuda(scoped.status(), "cudaSetDevice");
  auto owned = std::make_unique<Workspace>(device);
  return std::shared_ptr<Workspace>(owned.release(), [](Workspace* ws) {
    const ScopedDevice release_on(ws->device);
    delete ws;
  });
}

}  // namespace

Workspace::Workspace(int32_t device_ordinal)
    : device(device_ordinal),
      flag(sizeof(unsigned long long)),
      flag_host(sizeof(unsigned long long)) {}

void Workspace::reserve_staging(size_t bytes) {
  if (bytes <= staging_bytes) return;
  // Free every old buffer before allocating the larger ones.
  staging_bytes = 0;
  for (PinnedBuffer& buffer : staging) buffer.reset(0);
  for (PinnedBuffer& buffer : staging) buffer.reset(bytes);
  staging_bytes = bytes;
}

Workspace& workspace_of(const ptp_context& context) {
  if (!context.gpu_workspace) fail(PTP_ERROR_INTERNAL, "a GPU context without its workspace");
  return *static_cast<Workspace*>(context.gpu_workspace.get());
}

LaneDrain::~LaneDrain() {
  for (const Stream& stream : ws_.streams) cudaStreamSynchronize(stream.get());
}

std::shared_ptr<void> make_workspace(int32_t device) {
  return make_on(device);
}

}  // namespace ptychopatch::impl::gpu
