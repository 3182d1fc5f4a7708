// The object behind the opaque ptp_context handle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ptychopatch.h"

struct ptp_context {
  ptp_backend backend;  // resolved: PTP_BACKEND_CPU or PTP_BACKEND_GPU
  // Why (ptp_context_get_backend_reason): a ptp_backend_reason and a
  // sentence naming the device, or the reason a GPU was not used.
  ptp_backend_reason backend_reason = PTP_BACKEND_REASON_CPU_REQUESTED;
  std::string backend_message;
  int32_t num_threads;  // resolved: >= 1
  int32_t device;
  uint64_t device_memory_budget;  // 0 = the backend's default
  void* stream = nullptr;         // cudaStream_t for device-array calls
  // GPU backend only: the streams, events and pinned staging buffers its
  // calls reuse (cuda/workspace.cuh), created with the context.
  std::shared_ptr<void> gpu_workspace;
};

namespace ptychopatch::impl {

// Validates options (NULL = defaults) and resolves the backend and thread
// count; throws Error on bad options or an unavailable GPU.
ptp_context make_context(const ptp_context_options* options);

void default_context_options(ptp_context_options* options);

// The context of one-shot calls given NULL: made on first use (a GPU
// context owns streams and pinned buffers, too costly to rebuild per call)
// and never destroyed, so no CUDA resource is released after the runtime
// has shut down at exit. Its workspace lock serialises concurrent one-shot
// calls.
ptp_context& shared_default_context();

}  // namespace ptychopatch::impl
