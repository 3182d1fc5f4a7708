// The cross-correlation of one pair (ptp_correlate_*) against FFTW's own
// two-dimensional real plans of the same shape (two r2c transforms and one
// c2r, FFTW_ESTIMATE, one thread: what the pair correlation ran on every
// shape before sides with a large prime factor went by Bluestein's
// algorithm, src/align/line_correlation.hpp). The baseline is timed in the
// same run, before each benchmark; the counter x_fftw_real_plans is its
// time over ours. 1024 x 1024 (no prime side: the library runs FFTW's real
// plans there too) is the control, near 1.
//
//   build/benchmarks/bench_correlate_cpu [--benchmark_min_time=1]
// scikit-image's phase_cross_correlation on such shapes:
// benchmarks/bench_pcc_skimage.py.
#include <benchmark/benchmark.h>
#include <fftw3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "ptychopatch.h"
#include "ptychopatch.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<float> image(int64_t height, int64_t width, float phase) {
  std::vector<float> x(static_cast<size_t>(height * width));
  for (int64_t i = 0; i < height * width; ++i)
    x[i] = std::sin(0.0173f * static_cast<float>(i % 9973) + phase) +
           0.25f * std::sin(0.31f * static_cast<float>(i / width) + phase);
  return x;
}

// Best seconds of FFTW's r2c, r2c, c2r on one thread (at least 3 calls and
// 0.3 s), the cross-power product between them left out (it favours the
// baseline: the library's call includes it).
double fftw_real_plans_seconds(int64_t height, int64_t width) {
  const int64_t half = width / 2 + 1;
  float* a = fftwf_alloc_real(height * width);
  float* b = fftwf_alloc_real(height * width);
  fftwf_complex* fa = fftwf_alloc_complex(height * half);
  fftwf_complex* fb = fftwf_alloc_complex(height * half);
  const auto ref = image(height, width, 0.0f), mov = image(height, width, 0.7f);
  const int h = static_cast<int>(height), w = static_cast<int>(width);
  fftwf_plan r2c = fftwf_plan_dft_r2c_2d(h, w, a, fa, FFTW_ESTIMATE);
  fftwf_plan c2r = fftwf_plan_dft_c2r_2d(h, w, fb, b, FFTW_ESTIMATE);
  std::copy(ref.begin(), ref.end(), a);
  std::copy(mov.begin(), mov.end(), b);
  double best = 1e300, total = 0;
  for (int call = 0; call < 3 || total < 0.3; ++call) {
    const auto start = Clock::now();
    fftwf_execute_dft_r2c(r2c, a, fa);
    fftwf_execute_dft_r2c(r2c, b, fb);
    fftwf_execute_dft_c2r(c2r, fb, b);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::min(best, seconds);
    total += seconds;
    std::copy(mov.begin(), mov.end(), b);
  }
  fftwf_destroy_plan(r2c);
  fftwf_destroy_plan(c2r);
  fftwf_free(a);
  fftwf_free(b);
  fftwf_free(fa);
  fftwf_free(fb);
  return best;
}

// Arguments: height, width, threads of the context (0: all cores).
void BM_Correlate(benchmark::State& state) {
  const int64_t height = state.range(0), width = state.range(1);
  const double baseline = fftw_real_plans_seconds(height, width);
  ptychopatch::Context ctx(PTP_BACKEND_CPU, static_cast<int32_t>(state.range(2)));
  ptp_correlate_desc desc;
  ptp_correlate_desc_init(&desc, sizeof desc);
  desc.height = height;
  desc.width = width;
  ptp_correlate_plan* plan = nullptr;
  if (ptp_correlate_plan_create(ctx.get(), &desc, &plan) != PTP_SUCCESS) {
    state.SkipWithError(ptp_last_error_message());
    return;
  }
  const auto ref = image(height, width, 0.0f), mov = image(height, width, 0.7f);
  std::vector<float> correlation(static_cast<size_t>(height * width));
  double best = 1e300;
  for (auto _ : state) {
    const auto start = Clock::now();
    ptp_correlate_execute(plan, ref.data(), mov.data(), nullptr, correlation.data());
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
    benchmark::DoNotOptimize(correlation.data());
  }
  ptp_correlate_plan_destroy(plan);
  state.counters["fftw_real_plans_ms"] = baseline * 1e3;
  state.counters["best_ms"] = best * 1e3;
  state.counters["x_fftw_real_plans"] = baseline / best;
  state.counters["threads"] = ctx.num_threads();
}
BENCHMARK(BM_Correlate)
    ->ArgNames({"height", "width", "threads"})
    ->Args({997, 1009, 1})
    ->Args({997, 1009, 0})
    ->Args({1024, 1009, 1})
    ->Args({1009, 1024, 1})
    ->Args({509, 509, 1})
    ->Args({256, 257, 1})
    ->Args({1024, 1024, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("libptychopatch %s; ptp_correlate_execute against FFTW's real plans (ESTIMATE)\n",
              ptychopatch::version().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
