// CPU patch extraction at PtychoPINN's sizes (20,000 patches of 64 x 64,
// complex64, from a 1,024 x 1,024 object) against the legacy per-patch loop
// (pad the whole object, warp all of it per patch, crop), measured in the
// same run. Prints Google Benchmark's table, then the figures and ratios.
//
//   build/benchmarks/bench_extract_cpu [--benchmark_min_time=2]
#include <benchmark/benchmark.h>

#include <complex>
#include <cstdio>
#include <vector>

#include "bench_common.hpp"
#include "ptychopatch.hpp"

namespace {

using bench::kGroupSize;
using bench::kN;
using bench::kObject;
using bench::kPatchBytes;
constexpr int64_t kPatches = 20000;

// The library's CPU context and plan for a benchmark's (layout, threads)
// arguments.
struct LibraryPlan {
  explicit LibraryPlan(const benchmark::State& state)
      : layout(static_cast<ptp_layout>(state.range(0))),
        ctx(PTP_BACKEND_CPU, static_cast<int>(state.range(1))),
        plan(ctx, kObject, kObject, kN, layout == PTP_LAYOUT_CHANNEL ? kGroupSize : 1, layout) {}

  // Rates of kPatches patches per iteration, and the threads that ran them.
  void report(benchmark::State& state) const {
    bench::set_rates(state, kPatches, kPatches * kPatchBytes);
    state.counters["threads"] = ctx.num_threads();
  }

  ptp_layout layout;
  ptychopatch::Context ctx;
  ptychopatch::ExtractPlan<std::complex<float>> plan;
};

void BM_Library(benchmark::State& state) {
  const bench::Workload& w = bench::workload();
  LibraryPlan lib(state);
  std::vector<std::complex<float>> out(lib.plan.output_size(kPatches));
  const auto* object = reinterpret_cast<const std::complex<float>*>(w.object.data.data());
  for (auto _ : state) {
    lib.plan.execute(object, w.offsets.data(), kPatches, out.data(), out.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  lib.report(state);
}
BENCHMARK(BM_Library)
    ->ArgNames({"layout", "threads"})
    ->Args({PTP_LAYOUT_CHANNEL, 1})
    ->Args({PTP_LAYOUT_CHANNEL, 0})
    ->Args({PTP_LAYOUT_FLAT, 1})
    ->Args({PTP_LAYOUT_FLAT, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The adjoint at the same sizes: the same patches scattered back into a
// 1,024^2 canvas with the weights canvas (what averaging needs).
void BM_Reassemble(benchmark::State& state) {
  const bench::Workload& w = bench::workload();
  LibraryPlan lib(state);
  std::vector<std::complex<float>> patches(lib.plan.output_size(kPatches), {0.5f, -0.25f});
  std::vector<std::complex<float>> canvas(kObject * kObject);
  std::vector<float> weights(kObject * kObject);
  for (auto _ : state) {
    lib.plan.reassemble(patches.data(), w.offsets.data(), kPatches, canvas.data(), canvas.size(),
                        weights.data(), weights.size());
    benchmark::DoNotOptimize(canvas.data());
    benchmark::ClobberMemory();
  }
  lib.report(state);
}
BENCHMARK(BM_Reassemble)
    ->ArgNames({"layout", "threads"})
    ->Args({PTP_LAYOUT_CHANNEL, 0})
    ->Args({PTP_LAYOUT_FLAT, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

using bench::BM_LegacyLoop;
BENCHMARK(BM_LegacyLoop)->Unit(benchmark::kMillisecond)->UseRealTime();

// Patches/s of every benchmark, and the ratio to the legacy loop, from the
// same run.
void Summarise(const bench::CollectingReporter& reporter) {
  const double legacy = reporter.value("BM_LegacyLoop/real_time", "items_per_second");
  std::printf("\n(medians where repetitions were run; GB = 1e9 bytes of output)");
  std::printf("\n%-44s %12s %10s %12s %14s\n", "benchmark", "patches/s", "GB/s", "GB/s/core",
              "x legacy loop");
  for (const auto& [name, c] : reporter.results()) {
    const auto it = c.find("items_per_second");
    if (it == c.end()) continue;
    const auto th = c.find("threads");
    const double gbs = it->second * kPatchBytes / 1e9;
    // The legacy loop is an extraction; the adjoint rows get no ratio.
    const bool adjoint = name.rfind("BM_Reassemble", 0) == 0;
    const double ratio = legacy > 0 && !adjoint ? it->second / legacy : 0.0;
    std::printf("%-44s %12.0f %10.2f %12.2f %14.1f\n", name.c_str(), it->second, gbs,
                gbs / (th != c.end() ? th->second : 1.0), ratio);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("libptychopatch %s; %lld patches of %lld x %lld complex64 from a %lld^2 object\n",
              ptychopatch::version().c_str(), static_cast<long long>(kPatches),
              static_cast<long long>(kN), static_cast<long long>(kN),
              static_cast<long long>(kObject));
  bench::CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Summarise(reporter);
  benchmark::Shutdown();
  return 0;
}
