// An emulated CUDA device, for tests only (never installed). It lets the
// whole GPU backend of libptychopatch (cuda/) run, and be tested, on
// machines without a GPU: the .cu files are compiled a second time as host
// C++ against include/cuda_runtime.h, include/cuda.h and include/cufft.h,
// into a test-only copy of the library.
//
// What it models:
//  - launches: grid and block limits checked as on a device; blocks run one
//    after another, the threads of a block as fibers of one host thread, so
//    __syncthreads is a real barrier and __shared__ is shared by the block;
//    the order of blocks, and of threads between barriers, is forward,
//    reversed or a seeded shuffle (PTYCHOPATCH_EMU_ORDER), so a missing
//    barrier or a cross-thread dependency changes results; a barrier that
//    some threads of a block skip is a launch failure;
//  - memory: device and pinned allocations are host allocations registered
//    by address, so cudaPointerGetAttributes answers as CUDA does (device,
//    pinned host, or unregistered pageable memory); copies and fills check
//    that their device ranges lie inside one allocation; the device has a
//    fixed size (PTYCHOPATCH_EMU_DEVICE_MEMORY, default 4 GiB) that
//    cudaMalloc and cudaMemGetInfo respect, so budgets and out-of-memory
//    paths run;
//  - streams and events: work is queued per stream and runs, in stream
//    order, only when the host waits (stream, event or device
//    synchronisation, a synchronous copy, cudaFree) or a stream waits on an
//    event; copies from pageable memory take their bytes at the call and
//    copies to pageable memory complete before the call returns, as CUDA
//    documents; pinned copies happen when the stream runs, so a host that
//    reuses a pinned buffer too early sees it;
//  - stream capture (cudaStreamBeginCapture ... cudaStreamEndCapture,
//    cudaGraphInstantiate, cudaGraphLaunch): work enqueued on a capturing
//    stream is recorded, not run, and runs in order at each launch of the
//    graph; while any stream captures, the calls CUDA refuses during a
//    capture in global mode (every mode is treated as global) fail with
//    cudaErrorStreamCaptureUnsupported and invalidate the capture: host
//    waits (stream, event or device synchronisation, stream and event
//    queries), cudaMalloc, cudaFree, cudaMallocHost, cudaFreeHost,
//    synchronous copies and fills, and copies to or from pageable memory;
//    work on the legacy default stream fails with
//    cudaErrorStreamCaptureImplicit. So a library call that is capturable
//    here waits for nothing and allocates nothing;
//  - errors: configuration errors at the launch, faults inside a grid as
//    sticky errors returned by every later call;
//  - cuFFT (cufft_emulation.cpp): the batched in-place padded R2C/C2R plans
//    of the 64-bit API, by FFTW, with cuFFT's layouts, work-area rules and
//    streams;
//  - the driver entry points the library asks for (current context, address
//    range of an allocation).
// What it cannot show: real concurrency (one grid, one block, one thread
// at a time), the memory model and its fences, device floating point (the
// host's IEEE arithmetic runs; __CUDA_ARCH__ code paths, fused multiply-adds
// and flushed subnormals are not exercised), speed, and reads of device
// memory by host code (host code can read the emulated device's memory,
// where a real device would fault). Those need a real GPU:
// scripts/gpu-validate.sh.
//
// Settings (environment, read at first use):
//   PTYCHOPATCH_EMU_ORDER          forward (default), reverse, shuffle[:seed]
//   PTYCHOPATCH_EMU_DEVICE_MEMORY  device bytes (suffix K, M or G allowed)
//   PTYCHOPATCH_EMU_DEVICES        device count (default 1; 0: no device)
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <string>

namespace ptp_emu {

// Queues `work` on `stream` (null: the legacy default stream, which runs it
// at once after all other work); it runs when the stream is drained.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> work);

// True when [ptr, ptr + bytes) lies inside one live device allocation.
bool is_device_range(const void* ptr, size_t bytes);

// Records a fault of queued work: a sticky error that every later runtime
// call returns; `what` is printed once to stderr.
void device_fault(cudaError_t error, const std::string& what);

}  // namespace ptp_emu

// Test hooks, callable from test programs (C linkage).
extern "C" {
// Sets the emulated device's size in bytes (allocations already made stay).
void ptp_emu_set_device_memory(size_t bytes);
// Bytes currently allocated on the emulated device.
size_t ptp_emu_device_memory_in_use(void);
// Successful cudaMalloc calls since the process started.
size_t ptp_emu_device_allocations(void);
// Work accepted onto streams since the process started: kernel launches,
// copies, fills, event records and waits, each counted once whether queued, run
// at once or recorded by a stream capture (a graph launch counts once).
size_t ptp_emu_stream_operations(void);
// Kernel launches accepted since the process started (a subset of the above).
size_t ptp_emu_kernel_launches(void);
// Successful cufftMakePlanMany64 calls since the process started.
size_t ptp_emu_cufft_plans_made(void);
// Clears a sticky error (a fresh process in all but allocations).
void ptp_emu_clear_sticky_error(void);
// Makes the device fail as if a kernel had faulted with `error` (a
// cudaError_t), e.g. the caller's own kernel with an illegal address.
void ptp_emu_raise_sticky_error(int error);
// The CUDA version the driver supports (CUDA's encoding, 13000 = 13.0;
// 0: no driver installed). Older than the runtime: no device is usable.
void ptp_emu_set_driver_version(int version);
// The device's compute capability, and whether this build carries code it
// can run (if not, kernels fail with cudaErrorNoKernelImageForDevice).
void ptp_emu_set_compute_capability(int major, int minor, int has_kernel_image);
}
