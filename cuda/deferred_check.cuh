// The context's record of device-array calls that found a non-finite
// offset and wrote nothing (offset_check.cuh enqueues the check; the work
// kernels write this record), and the host side that reports it: host code
// only, so the host-compiled sources (workspace.cu) can include it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ptychopatch::impl::gpu {

struct Workspace;

constexpr unsigned long long kNoBadOffset = ~0ull;

// Which call recorded a rejection.
enum DeferredOperation : uint32_t {
  kDeferredExtract = 1,
  kDeferredReassemble = 2,
  kDeferredOffsetsGradient = 3  // ptp_extract_offsets_gradient
};

// Device memory, one per context (Workspace::check). Initial state:
// call_first_bad = scan_first_bad = kNoBadOffset, everything else 0.
struct DeferredCheck {
  unsigned long long call_first_bad;  // the call in flight: first bad patch, or kNoBadOffset
  // The check a work kernel makes itself (scan_offsets_in_launch): its first
  // bad patch, chunks of offsets taken and checked, and blocks that have
  // read the verdict. The kernel's last block puts them back to the
  // initial state, so they hold it between calls.
  unsigned long long scan_first_bad;
  unsigned long long scan_taken;
  unsigned long long scan_done;
  unsigned long long scan_exited;
  unsigned long long rejected_calls;  // calls that wrote nothing since the last synchronize
  // The first of those calls (written once, by whoever sets `claimed`).
  unsigned long long first_bad;  // its first patch with a non-finite offset
  long long group_size;          // its c, to name the group and member
  unsigned int operation;        // DeferredOperation
  unsigned int legacy;           // 1: legacy global + local offsets
  unsigned int claimed;
  unsigned int padding;
};

constexpr DeferredCheck kDeferredCheckInitial{
    kNoBadOffset, kNoBadOffset, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

// Waits for `stream`, then reports and clears what the context's
// device-array calls recorded since the last call: throws
// PTP_ERROR_NON_FINITE naming the first rejected call, PTP_ERROR_CUDA if
// the stream's work failed, or returns.
void deferred_status(Workspace& ws, cudaStream_t stream);

}  // namespace ptychopatch::impl::gpu
