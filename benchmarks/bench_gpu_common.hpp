// Helpers shared by the GPU benchmarks in this folder (bench_extract_gpu,
// bench_align_gpu): errors as exceptions, owned CUDA buffers, the check for
// a usable device at start-up, and the run that ends in a summary.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "bench_common.hpp"
#include "ptychopatch.h"

namespace bench {

// ---------------------------------------------------------------- errors

inline void cuda_ok(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(err) + ": " +
                             cudaGetErrorString(err));
}
#define CUDA_OK(call) bench::cuda_ok((call), #call)

inline void ptp_ok(ptp_status status, const char* what) {
  if (status != PTP_SUCCESS)
    throw std::runtime_error(std::string(what) + ": " + ptp_status_name(status) + ": " +
                             ptp_last_error_message());
}
#define PTP_OK(call) bench::ptp_ok((call), #call)

// --------------------------------------------------------------- buffers

struct DeviceFree {
  void operator()(void* p) const noexcept { cudaFree(p); }
};
struct HostFree {
  void operator()(void* p) const noexcept { cudaFreeHost(p); }
};
using DeviceBuffer = std::unique_ptr<void, DeviceFree>;
using PinnedBuffer = std::unique_ptr<void, HostFree>;

inline DeviceBuffer device_alloc(size_t bytes) {
  void* p = nullptr;
  CUDA_OK(cudaMalloc(&p, bytes));
  return DeviceBuffer(p);
}

// --------------------------------------------------------------- main()

// Initialises Google Benchmark from the command line and checks that the
// library and this program's CUDA runtime both see a device; if so, `prop`
// describes it and the result is true. If not, says why (naming `program`)
// and sets `exit_code` to what main() returns: 0 where no device is usable
// at all (nothing to measure), 1 for an unknown argument or where only this
// program's runtime misses the device.
inline bool start_gpu_benchmark(int* argc, char** argv, const char* program, cudaDeviceProp& prop,
                                int& exit_code) {
  exit_code = 1;
  benchmark::Initialize(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(*argc, argv)) return false;
  int32_t devices = 0;
  const ptp_status status = ptp_cuda_device_count(&devices);
  if (status != PTP_SUCCESS || devices == 0) {
    std::printf(
        "%s: no usable CUDA device (no driver, no GPU, or a library built without CUDA: "
        "libptychopatch %s); nothing measured.\n",
        program, ptp_version_string());
    exit_code = 0;
    return false;
  }
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    std::printf(
        "%s: the library sees a device but this program's CUDA runtime does not; nothing "
        "measured.\n",
        program);
    return false;
  }
  return true;
}

// Runs the registered benchmarks into a CollectingReporter, prints
// `summarise(reporter)` and the failed benchmarks, and returns main()'s exit
// status: 1 if any benchmark failed.
template <class Summarise>
int run_and_summarise(Summarise&& summarise) {
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  summarise(reporter);
  for (const auto& [name, message] : reporter.errors())
    std::printf("FAILED %s: %s\n", name.c_str(), message.c_str());
  benchmark::Shutdown();
  return reporter.errors().empty() ? 0 : 1;
}

// A counter of a CollectingReporter's results, 0 where absent.
inline double counter_or_zero(const CollectingReporter::Counters& counters, const char* key) {
  const auto it = counters.find(key);
  return it == counters.end() ? 0.0 : it->second;
}

}  // namespace bench
