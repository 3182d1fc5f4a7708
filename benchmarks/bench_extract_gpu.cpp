// GPU patch extraction and reassembly at PtychoPINN's sizes (20,000 and
// 200,000 patches of 64 x 64 complex64 from a 1,024 x 1,024 object), each
// against its floor and a plain copy of the same bytes, measured in the same
// run, and against the legacy per-patch loop (pad the whole object, warp all
// of it per patch, crop; on the CPU, as bench_extract_cpu measures it).
//
//   BM_DeviceExtract      device arrays (PTP_MEMORY_DEVICE) on a created
//                         stream; time from CUDA events around the call
//   BM_DeviceReassemble   ptp_reassemble_execute on device arrays, weights on
//   BM_WriteOnly          the write-only floor: a kernel that only writes the
//                         bytes (float4 stores; bandwidth_floors.cu),
//                         extraction's floor
//   BM_ReadOnly           the read-only floor: a kernel that only reads the
//                         bytes (float4 loads, one sum per block),
//                         reassembly's floor
//   BM_CopyD2D            cudaMemcpyAsync device to device of the same bytes
//   BM_HostExtract        host arrays (PTP_MEMORY_HOST), pageable or pinned
//                         output, wall time of the whole call
//   BM_CopyD2HPinned      cudaMemcpy device to pinned host of the same bytes
//   BM_LegacyLoop         the legacy loop on the CPU, 4 patches per iteration
//
// Counters: items_per_second (patches/s), bytes_per_second (output bytes;
// input bytes for reassembly), copy_ms (the reference copy of those bytes,
// median of a few, measured once per size in this run) and t_over_copy (this
// benchmark's time per call / copy_ms: 1.0 is as fast as copying the
// output); on device arrays also write_floor_ms and t_over_write_floor
// (extraction, BM_WriteOnly: the write-only kernel over the output's bytes)
// or read_floor_ms and t_over_read_floor (reassembly, BM_ReadOnly: the
// read-only kernel over the input patches' bytes), measured the same way.
// A copy reads and writes the bytes, where extraction only writes them and
// reassembly only reads them: the floors are the honest reference (issue
// 61; targets: extraction at >= 85 % of its floor, t_over_write_floor <=
// 1.18; reassembly within 2 x its floor). Prints Google Benchmark's table,
// then a summary with the speedup per patch over the legacy loop and a line
// "floors:" with the range of each ratio. Exits 0 without measuring where
// no CUDA device is usable.
//
//   build/benchmarks/bench_extract_gpu [--benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true] [--benchmark_filter=Device]
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bandwidth_floors.hpp"
#include "bench_common.hpp"
#include "bench_gpu_common.hpp"
#include "ptychopatch.h"

namespace {

using bench::kGroupSize;
using bench::kN;
using bench::kObject;
using bench::kPatchBytes;
constexpr int64_t kSmall = 20000;
constexpr int64_t kLarge = bench::kMaxPatches;
constexpr size_t kObjectBytes = kObject * kObject * 8;
constexpr size_t kWeightsBytes = kObject * kObject * 4;

// --------------------------------------------------------------- buffers

using bench::device_alloc;
using bench::DeviceBuffer;
using bench::PinnedBuffer;

// Grows the host `buffer` (`capacity` bytes so far) to at least `bytes` with
// `allocate(bytes)`, filled once with 0x5a: never time on zeros (nor on
// something a kernel would write), and fault the pages in before timing.
template <class Buffer, class Allocate>
void* grow_host(Buffer& buffer, size_t& capacity, size_t bytes, Allocate&& allocate) {
  if (bytes > capacity) {
    buffer.reset();
    capacity = 0;
    buffer = allocate(bytes);
    std::memset(buffer.get(), 0x5a, bytes);
    capacity = bytes;
  }
  return buffer.get();
}

// ------------------------------------------------------------------- timing

// Wall seconds of `body`.
template <class Body>
double wall_seconds(Body&& body) {
  const auto t0 = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The median of `runs` timings returned by `sample()`.
template <class Sample>
double median_of(int runs, Sample&& sample) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) t.push_back(sample());
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// Inputs in device memory, and output buffers that grow to the largest size
// asked for. Created on first use and never destroyed (the process exit
// releases it, after the CUDA runtime may already be gone), so allocation
// stays out of every measurement.
struct Rig {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  const oracle::Image& object = bench::workload().object;  // as bench_extract_cpu's
  const std::vector<double>& offsets = bench::workload().offsets;
  DeviceBuffer d_object, d_offsets, d_canvas, d_weights;
  DeviceBuffer d_out, d_copy;  // patches, and the D2D copy's (and write floor's) destination
  size_t d_out_bytes = 0;
  DeviceBuffer d_partials;  // the read floor's sums, one per block
  PinnedBuffer pinned_out;
  size_t pinned_bytes = 0;
  std::unique_ptr<char[]> pageable_out;
  size_t pageable_bytes = 0;
  std::map<size_t, double> d2d_seconds, d2h_seconds;     // reference copies by size
  std::map<size_t, double> write_seconds, read_seconds;  // floors by size

  Rig() {
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    CUDA_OK(cudaEventCreate(&start));
    CUDA_OK(cudaEventCreate(&stop));
    d_object = device_alloc(kObjectBytes);
    d_offsets = device_alloc(offsets.size() * sizeof(double));
    d_canvas = device_alloc(kObjectBytes);
    d_weights = device_alloc(kWeightsBytes);
    d_partials = device_alloc(static_cast<size_t>(bench::floor_blocks()) * sizeof(float));
    CUDA_OK(cudaMemcpy(d_object.get(), object.data.data(), kObjectBytes, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(d_offsets.get(), offsets.data(), offsets.size() * sizeof(double),
                       cudaMemcpyHostToDevice));
  }

  void ensure_device_out(size_t bytes) {
    if (bytes <= d_out_bytes) return;
    d_out.reset();
    d_copy.reset();
    d_out_bytes = 0;
    d_out = device_alloc(bytes);
    d_copy = device_alloc(bytes);
    // Never time on zeros: fill with something a kernel would not write
    // (on the rig's stream, which does not wait for the legacy default one).
    CUDA_OK(cudaMemsetAsync(d_out.get(), 0x5a, bytes, stream));
    CUDA_OK(cudaMemsetAsync(d_copy.get(), 0x5a, bytes, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    d_out_bytes = bytes;
  }
  void* ensure_pinned(size_t bytes) {
    return grow_host(pinned_out, pinned_bytes, bytes, [](size_t size) {
      void* p = nullptr;
      CUDA_OK(cudaMallocHost(&p, size));
      return PinnedBuffer(p);
    });
  }
  void* ensure_pageable(size_t bytes) {
    return grow_host(pageable_out, pageable_bytes, bytes,
                     [](size_t size) { return std::unique_ptr<char[]>(new char[size]); });
  }

  // Seconds of the work `body` enqueues on the stream, from events.
  template <class Body>
  double event_seconds(Body&& body) {
    CUDA_OK(cudaEventRecord(start, stream));
    body();
    CUDA_OK(cudaEventRecord(stop, stream));
    CUDA_OK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_OK(cudaEventElapsedTime(&ms, start, stop));
    return ms * 1e-3;
  }

  // The median event time of `enqueue` (work over `bytes`: a reference copy
  // or a floor), measured once per size in this run and kept in `cache`.
  template <class Enqueue>
  double reference_seconds(std::map<size_t, double>& cache, size_t bytes, Enqueue enqueue) {
    auto it = cache.find(bytes);
    if (it != cache.end()) return it->second;
    ensure_device_out(bytes);
    enqueue();  // warm-up
    return cache[bytes] = median_of(9, [&] { return event_seconds(enqueue); });
  }

  // A device-to-device copy of `bytes`.
  double d2d_copy_seconds(size_t bytes) {
    return reference_seconds(d2d_seconds, bytes, [&] {
      CUDA_OK(cudaMemcpyAsync(d_copy.get(), d_out.get(), bytes, cudaMemcpyDeviceToDevice, stream));
    });
  }

  // Enqueues the write-only floor over `bytes` of d_copy (d_out keeps the
  // patches reassembly reads).
  void write_floor(size_t bytes) {
    CUDA_OK(bench::launch_write_floor(d_copy.get(), bytes, stream));
  }
  // Enqueues the read-only floor over `bytes` of d_out.
  void read_floor(size_t bytes) {
    CUDA_OK(bench::launch_read_floor(d_out.get(), bytes, static_cast<float*>(d_partials.get()),
                                     stream));
  }

  // The write-only and read-only floors over `bytes`.
  double write_floor_seconds(size_t bytes) {
    return reference_seconds(write_seconds, bytes, [&] { write_floor(bytes); });
  }
  double read_floor_seconds(size_t bytes) {
    return reference_seconds(read_seconds, bytes, [&] { read_floor(bytes); });
  }

  // Median wall time of a plain cudaMemcpy of `bytes` from the device to
  // pinned host memory, measured once per size in this run.
  double d2h_copy_seconds(size_t bytes) {
    auto it = d2h_seconds.find(bytes);
    if (it != d2h_seconds.end()) return it->second;
    ensure_device_out(bytes);
    void* host = ensure_pinned(bytes);
    auto copy = [&] { CUDA_OK(cudaMemcpy(host, d_out.get(), bytes, cudaMemcpyDeviceToHost)); };
    copy();  // warm-up
    return d2h_seconds[bytes] = median_of(5, [&] { return wall_seconds(copy); });
  }
};

Rig& rig() {
  static Rig* r = new Rig;
  return *r;
}

// --------------------------------------------------------- library handles

struct ContextFree {
  void operator()(ptp_context* c) const noexcept { ptp_context_destroy(c); }
};
struct PlanFree {
  void operator()(ptp_extract_plan* p) const noexcept { ptp_extract_plan_destroy(p); }
};
using ContextHandle = std::unique_ptr<ptp_context, ContextFree>;
using PlanHandle = std::unique_ptr<ptp_extract_plan, PlanFree>;

// A context of the given backend; its stream is `stream` when not null.
ContextHandle make_context(ptp_backend backend, cudaStream_t stream) {
  ptp_context_options options;
  PTP_OK(ptp_context_options_init(&options, sizeof options));
  options.backend = backend;
  ptp_context* raw = nullptr;
  PTP_OK(ptp_context_create(&options, &raw));
  ContextHandle ctx(raw);
  if (stream != nullptr) PTP_OK(ptp_context_set_stream(ctx.get(), stream));
  return ctx;
}

ptp_extract_desc make_desc(ptp_layout layout, ptp_memory memory) {
  ptp_extract_desc desc;
  PTP_OK(ptp_extract_desc_init(&desc, sizeof desc));
  desc.height = kObject;
  desc.width = kObject;
  desc.patch_size = kN;
  desc.group_size = layout == PTP_LAYOUT_CHANNEL ? kGroupSize : 1;
  desc.object_dtype = PTP_DTYPE_COMPLEX64;
  desc.offset_dtype = PTP_DTYPE_FLOAT64;
  desc.layout = layout;
  desc.memory = memory;
  return desc;
}

PlanHandle make_plan(ptp_context* ctx, const ptp_extract_desc& desc) {
  ptp_extract_plan* raw = nullptr;
  PTP_OK(ptp_extract_plan_create(ctx, &desc, &raw));
  return PlanHandle(raw);
}

size_t output_bytes(const ptp_extract_desc& desc, int64_t patches) {
  size_t bytes = 0;
  PTP_OK(ptp_extract_output_bytes(&desc, patches, &bytes));
  return bytes;
}

// The first group of patches from `gpu_patches` (host memory) must equal the
// CPU backend's, bit for bit (the library's contract): a guard against
// timing a path that does not compute the patches.
void check_first_group(const ptp_extract_desc& gpu_desc, const void* gpu_patches) {
  const bench::Workload& r = bench::workload();
  ptp_extract_desc desc = gpu_desc;
  desc.memory = PTP_MEMORY_HOST;
  const int64_t patches = desc.group_size;
  const size_t bytes = output_bytes(desc, patches);
  std::vector<char> cpu(bytes);
  ContextHandle ctx = make_context(PTP_BACKEND_CPU, nullptr);
  PTP_OK(ptp_extract_patches(ctx.get(), &desc, r.object.data.data(), r.offsets.data(), patches,
                             cpu.data(), bytes));
  if (std::memcmp(cpu.data(), gpu_patches, bytes) != 0)
    throw std::runtime_error("GPU patches differ from the CPU backend's (first group)");
}

// What one measured benchmark reports: patches and bytes per call, its mean
// seconds per call, the seconds of the reference copy of those bytes, and
// of its floor where it has one (0: none): the write-only kernel over the
// bytes (for what writes them) or the read-only one (for what reads them).
struct Measured {
  int64_t patches;
  size_t bytes;
  double per_call;
  double copy;
  double write_floor = 0.0;
  double read_floor = 0.0;
};

// Runs `measure()`, which sets up, runs the benchmark loop and returns its
// Measured, and sets the counters from it; an exception skips the benchmark
// with its message.
template <class Measure>
void run_measured(benchmark::State& state, Measure&& measure) {
  try {
    const Measured m = measure();
    bench::set_rates(state, m.patches, static_cast<int64_t>(m.bytes));
    state.counters["copy_ms"] = m.copy * 1e3;
    state.counters["t_over_copy"] = m.copy > 0 ? m.per_call / m.copy : 0.0;
    if (m.write_floor > 0) {
      state.counters["write_floor_ms"] = m.write_floor * 1e3;
      state.counters["t_over_write_floor"] = m.per_call / m.write_floor;
    }
    if (m.read_floor > 0) {
      state.counters["read_floor_ms"] = m.read_floor * 1e3;
      state.counters["t_over_read_floor"] = m.per_call / m.read_floor;
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Runs the benchmark loop on device work: `body` enqueues one call on the
// rig's stream; each iteration's time comes from CUDA events around it.
// Returns the mean seconds per call.
template <class Body>
double device_loop(benchmark::State& state, Body&& body) {
  Rig& r = rig();
  body();  // warm-up (module load, first-touch of the pages)
  CUDA_OK(cudaStreamSynchronize(r.stream));
  double total = 0.0;
  for (auto _ : state) {
    const double s = r.event_seconds(body);
    state.SetIterationTime(s);
    total += s;
  }
  CUDA_OK(cudaGetLastError());
  return state.iterations() > 0 ? total / static_cast<double>(state.iterations()) : 0.0;
}

// Runs the benchmark loop on calls that return when done: `body` makes one
// call; each iteration's wall time is measured around it. Returns the mean
// seconds per call.
template <class Body>
double host_loop(benchmark::State& state, Body&& body) {
  double total = 0.0;
  for (auto _ : state) {
    total += wall_seconds(body);
    benchmark::ClobberMemory();
  }
  return total / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

// A GPU plan on device arrays for a benchmark's (layout, patches) arguments,
// on the rig's stream, with the rig's output buffers grown to its output.
struct DevicePlan {
  explicit DevicePlan(const benchmark::State& state)
      : patches(state.range(1)),
        ctx(make_context(PTP_BACKEND_GPU, rig().stream)),
        desc(make_desc(static_cast<ptp_layout>(state.range(0)), PTP_MEMORY_DEVICE)),
        plan(make_plan(ctx.get(), desc)),
        bytes(output_bytes(desc, patches)) {
    rig().ensure_device_out(bytes);
  }

  // Enqueues the extraction of the rig's device object into its d_out.
  void extract() const {
    Rig& r = rig();
    PTP_OK(ptp_extract_execute(plan.get(), r.d_object.get(), r.d_offsets.get(), patches,
                               r.d_out.get(), bytes));
  }

  int64_t patches;
  ContextHandle ctx;
  ptp_extract_desc desc;
  PlanHandle plan;
  size_t bytes;
};

// --------------------------------------------------------------- benchmarks

void BM_DeviceExtract(benchmark::State& state) {
  run_measured(state, [&] {
    Rig& r = rig();
    const DevicePlan p(state);
    const double copy = r.d2d_copy_seconds(p.bytes);
    const double floor = r.write_floor_seconds(p.bytes);
    // Poison, run once, check the first group against the CPU backend.
    CUDA_OK(cudaMemsetAsync(r.d_out.get(), 0xff, p.bytes, r.stream));
    p.extract();
    std::vector<char> first(output_bytes(p.desc, p.desc.group_size));
    CUDA_OK(cudaMemcpyAsync(first.data(), r.d_out.get(), first.size(), cudaMemcpyDeviceToHost,
                            r.stream));
    CUDA_OK(cudaStreamSynchronize(r.stream));
    check_first_group(p.desc, first.data());
    return Measured{p.patches, p.bytes, device_loop(state, [&] { p.extract(); }), copy, floor};
  });
}

void BM_DeviceReassemble(benchmark::State& state) {
  run_measured(state, [&] {
    Rig& r = rig();
    const DevicePlan p(state);
    const double copy = r.d2d_copy_seconds(p.bytes);
    p.extract();  // real patches as input (never time on poison or zeros)
    const double floor = r.read_floor_seconds(p.bytes);
    const double per_call = device_loop(state, [&] {
      PTP_OK(ptp_reassemble_execute(p.plan.get(), r.d_out.get(), r.d_offsets.get(), p.patches,
                                    r.d_canvas.get(), kObjectBytes,
                                    static_cast<float*>(r.d_weights.get()), kWeightsBytes));
    });
    return Measured{p.patches, p.bytes, per_call, copy, 0.0, floor};
  });
}

// The floors themselves, over the bytes of `state.range(0)` patches, each
// against the D2D copy and its own median (t_over_*_floor near 1).
void BM_WriteOnly(benchmark::State& state) {
  run_measured(state, [&] {
    const int64_t patches = state.range(0);
    const size_t bytes = patches * kPatchBytes;
    Rig& r = rig();
    r.ensure_device_out(bytes);
    const double copy = r.d2d_copy_seconds(bytes);
    const double floor = r.write_floor_seconds(bytes);
    const double per_call = device_loop(state, [&] { r.write_floor(bytes); });
    return Measured{patches, bytes, per_call, copy, floor};
  });
}

void BM_ReadOnly(benchmark::State& state) {
  run_measured(state, [&] {
    const int64_t patches = state.range(0);
    const size_t bytes = patches * kPatchBytes;
    Rig& r = rig();
    r.ensure_device_out(bytes);
    const double copy = r.d2d_copy_seconds(bytes);
    const double floor = r.read_floor_seconds(bytes);
    const double per_call = device_loop(state, [&] { r.read_floor(bytes); });
    return Measured{patches, bytes, per_call, copy, 0.0, floor};
  });
}

void BM_CopyD2D(benchmark::State& state) {
  run_measured(state, [&] {
    const int64_t patches = state.range(0);
    const size_t bytes = patches * kPatchBytes;
    Rig& r = rig();
    r.ensure_device_out(bytes);
    const double copy = r.d2d_copy_seconds(bytes);
    const double per_call = device_loop(state, [&] {
      CUDA_OK(cudaMemcpyAsync(r.d_copy.get(), r.d_out.get(), bytes, cudaMemcpyDeviceToDevice,
                              r.stream));
    });
    return Measured{patches, bytes, per_call, copy};
  });
}

void BM_HostExtract(benchmark::State& state) {
  run_measured(state, [&] {
    const auto layout = static_cast<ptp_layout>(state.range(0));
    const bool pinned = state.range(1) != 0;
    const int64_t patches = state.range(2);
    Rig& r = rig();
    ContextHandle ctx = make_context(PTP_BACKEND_GPU, nullptr);
    const ptp_extract_desc desc = make_desc(layout, PTP_MEMORY_HOST);
    PlanHandle plan = make_plan(ctx.get(), desc);
    const size_t bytes = output_bytes(desc, patches);
    const double copy = r.d2h_copy_seconds(bytes);
    void* out = pinned ? r.ensure_pinned(bytes) : r.ensure_pageable(bytes);
    auto extract = [&] {
      PTP_OK(ptp_extract_execute(plan.get(), r.object.data.data(), r.offsets.data(), patches, out,
                                 bytes));
    };
    std::memset(out, 0xff, output_bytes(desc, desc.group_size));
    extract();  // warm-up, and the check below
    check_first_group(desc, out);
    return Measured{patches, bytes, host_loop(state, extract), copy};
  });
}

void BM_CopyD2HPinned(benchmark::State& state) {
  run_measured(state, [&] {
    const int64_t patches = state.range(0);
    const size_t bytes = patches * kPatchBytes;
    Rig& r = rig();
    const double copy = r.d2h_copy_seconds(bytes);
    void* host = r.ensure_pinned(bytes);
    const double per_call = host_loop(
        state, [&] { CUDA_OK(cudaMemcpy(host, r.d_out.get(), bytes, cudaMemcpyDeviceToHost)); });
    return Measured{patches, bytes, per_call, copy};
  });
}

// Registers `fn` as `name` with these argument names and values, timed in
// milliseconds.
auto register_with_args(const char* name, void (*fn)(benchmark::State&),
                        const std::vector<std::string>& arg_names,
                        const std::vector<int64_t>& args) {
  return benchmark::RegisterBenchmark(name, fn)->ArgNames(arg_names)->Args(args)->Unit(
      benchmark::kMillisecond);
}

void register_benchmarks() {
  for (int64_t patches : {kSmall, kLarge}) {
    for (int64_t layout : {PTP_LAYOUT_FLAT, PTP_LAYOUT_CHANNEL})
      register_with_args("BM_DeviceExtract", BM_DeviceExtract, {"layout", "patches"},
                         {layout, patches})
          ->UseManualTime();
    for (int64_t layout : {PTP_LAYOUT_FLAT, PTP_LAYOUT_CHANNEL})
      register_with_args("BM_DeviceReassemble", BM_DeviceReassemble, {"layout", "patches"},
                         {layout, patches})
          ->UseManualTime();
    register_with_args("BM_WriteOnly", BM_WriteOnly, {"patches"}, {patches})->UseManualTime();
    register_with_args("BM_ReadOnly", BM_ReadOnly, {"patches"}, {patches})->UseManualTime();
    register_with_args("BM_CopyD2D", BM_CopyD2D, {"patches"}, {patches})->UseManualTime();
  }
  for (int64_t patches : {kSmall, kLarge}) {
    for (int64_t pinned : {0, 1})
      register_with_args("BM_HostExtract", BM_HostExtract, {"layout", "pinned", "patches"},
                         {PTP_LAYOUT_CHANNEL, pinned, patches})
          ->UseRealTime();
    register_with_args("BM_CopyD2HPinned", BM_CopyD2HPinned, {"patches"}, {patches})->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_LegacyLoop", bench::BM_LegacyLoop)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

// Extraction's target against its write-only floor (issue 61: at least
// 85 % of its speed) and reassembly's against its read-only floor (within
// 2 x its time).
constexpr double kExtractFloorFraction = 0.85;
constexpr double kReassembleFloorFactor = 2.0;

// The range of `counter` over the results whose name starts with `prefix`;
// false if none has it.
bool counter_range(const bench::CollectingReporter& reporter, const std::string& prefix,
                   const char* counter, double& lo, double& hi) {
  bool any = false;
  for (const auto& [name, c] : reporter.results()) {
    const double v = bench::counter_or_zero(c, counter);
    if (name.rfind(prefix, 0) != 0 || v <= 0) continue;
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
  return any;
}

// One line per benchmark: patches/s, GB/s, time over the reference copy of
// the same bytes and over its floor, and the speedup per patch over the
// legacy loop; then the line "floors:", the range of each ratio to its floor
// against the target (scripts/gpu-validate.sh records it).
void summarise(const bench::CollectingReporter& reporter) {
  const double legacy = reporter.value("BM_LegacyLoop/real_time", "items_per_second");
  std::printf(
      "\n(medians where repetitions were run; GB = 1e9 bytes of output, or of input patches for "
      "reassembly;\n t/copy = time per call over a plain copy of those bytes in this run: D2D for "
      "device arrays,\n D2H into pinned memory for host arrays; 1.0 = as fast as the copy;\n"
      " t/write, t/read = time per call over the write-only (extraction) or read-only "
      "(reassembly) kernel\n over those bytes in this run: 1.0 = at the floor)\n");
  std::printf("%-50s %12s %9s %10s %8s %8s %8s %14s\n", "benchmark", "patches/s", "GB/s", "copy ms",
              "t/copy", "t/write", "t/read", "x legacy/patch");
  for (const auto& [name, c] : reporter.results()) {
    const auto get = [&c](const char* key) { return bench::counter_or_zero(c, key); };
    const auto ratio = [&get](const char* key) {
      char text[16] = "-";
      if (get(key) > 0) std::snprintf(text, sizeof text, "%.2f", get(key));
      return std::string(text);
    };
    const double items = get("items_per_second");
    std::printf("%-50s %12.0f %9.1f %10.3f %8.2f %8s %8s %14.0f\n", name.c_str(), items,
                get("bytes_per_second") / 1e9, get("copy_ms"), get("t_over_copy"),
                ratio("t_over_write_floor").c_str(), ratio("t_over_read_floor").c_str(),
                legacy > 0 ? items / legacy : 0.0);
  }
  std::string line = "floors:";
  char part[200];
  double lo = 0, hi = 0;
  if (counter_range(reporter, "BM_DeviceExtract", "t_over_write_floor", lo, hi)) {
    std::snprintf(part, sizeof part,
                  " extraction %.2f-%.2f x its write-only floor (%.0f-%.0f %% of it; target >= "
                  "%.0f %%: %s);",
                  lo, hi, 100 / hi, 100 / lo, 100 * kExtractFloorFraction,
                  hi * kExtractFloorFraction <= 1.0 ? "met" : "missed");
    line += part;
  } else {
    line += " extraction not run;";
  }
  if (counter_range(reporter, "BM_DeviceReassemble", "t_over_read_floor", lo, hi)) {
    std::snprintf(part, sizeof part,
                  " reassembly %.2f-%.2f x its read-only floor (target <= %.0f x: %s)", lo, hi,
                  kReassembleFloorFactor, hi <= kReassembleFloorFactor ? "met" : "missed");
    line += part;
  } else {
    line += " reassembly not run";
  }
  std::printf("%s\n", line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  cudaDeviceProp prop{};
  int exit_code = 0;
  if (!bench::start_gpu_benchmark(&argc, argv, "bench_extract_gpu", prop, exit_code))
    return exit_code;
  std::printf(
      "libptychopatch %s on %s (sm_%d%d, %d SMs, %.1f GiB); %lld and %lld patches of %lld x %lld "
      "complex64 from a %lld^2 object; offsets float64, fractional, inside the object\n",
      ptp_version_string(), prop.name, prop.major, prop.minor, prop.multiProcessorCount,
      static_cast<double>(prop.totalGlobalMem) / (1 << 30), static_cast<long long>(kSmall),
      static_cast<long long>(kLarge), static_cast<long long>(kN), static_cast<long long>(kN),
      static_cast<long long>(kObject));
  register_benchmarks();
  return bench::run_and_summarise(summarise);
}
