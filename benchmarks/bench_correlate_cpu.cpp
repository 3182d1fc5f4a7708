// The cross-correlation of one pair (ptp_correlate_*) against FFTW's own
// two-dimensional real plans of the same shape (two r2c transforms and one
// c2r, FFTW_ESTIMATE, one thread: what the pair correlation ran on every
// shape before sides with a large prime factor went by Bluestein's
// algorithm, src/correlate/line_correlation.hpp). The baseline is timed in the
// same run, before each benchmark; the counter x_fftw_real_plans is its
// time over ours. 1024 x 1024 (no prime side: the library runs FFTW's real
// plans there too) is the control, near 1. Rows with f64:1 are float64
// plans (ptp_correlate_execute_f64) against FFTW's double real plans.
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

template <class Real>
std::vector<Real> image(int64_t height, int64_t width, Real phase) {
  std::vector<Real> x(static_cast<size_t>(height * width));
  for (int64_t i = 0; i < height * width; ++i)
    x[i] = std::sin(Real(0.0173) * static_cast<Real>(i % 9973) + phase) +
           Real(0.25) * std::sin(Real(0.31) * static_cast<Real>(i / width) + phase);
  return x;
}

// FFTW's real 2-D plans in one precision.
template <class Real>
struct RealPlans;
template <>
struct RealPlans<float> {
  fftwf_plan r2c, c2r;
  float *a, *b;
  fftwf_complex *fa, *fb;
  RealPlans(int64_t height, int64_t width) {
    const int64_t half = width / 2 + 1;
    a = fftwf_alloc_real(height * width);
    b = fftwf_alloc_real(height * width);
    fa = fftwf_alloc_complex(height * half);
    fb = fftwf_alloc_complex(height * half);
    const int h = static_cast<int>(height), w = static_cast<int>(width);
    r2c = fftwf_plan_dft_r2c_2d(h, w, a, fa, FFTW_ESTIMATE);
    c2r = fftwf_plan_dft_c2r_2d(h, w, fb, b, FFTW_ESTIMATE);
  }
  void run() {
    fftwf_execute_dft_r2c(r2c, a, fa);
    fftwf_execute_dft_r2c(r2c, b, fb);
    fftwf_execute_dft_c2r(c2r, fb, b);
  }
  ~RealPlans() {
    fftwf_destroy_plan(r2c);
    fftwf_destroy_plan(c2r);
    fftwf_free(a);
    fftwf_free(b);
    fftwf_free(fa);
    fftwf_free(fb);
  }
};
template <>
struct RealPlans<double> {
  fftw_plan r2c, c2r;
  double *a, *b;
  fftw_complex *fa, *fb;
  RealPlans(int64_t height, int64_t width) {
    const int64_t half = width / 2 + 1;
    a = fftw_alloc_real(height * width);
    b = fftw_alloc_real(height * width);
    fa = fftw_alloc_complex(height * half);
    fb = fftw_alloc_complex(height * half);
    const int h = static_cast<int>(height), w = static_cast<int>(width);
    r2c = fftw_plan_dft_r2c_2d(h, w, a, fa, FFTW_ESTIMATE);
    c2r = fftw_plan_dft_c2r_2d(h, w, fb, b, FFTW_ESTIMATE);
  }
  void run() {
    fftw_execute_dft_r2c(r2c, a, fa);
    fftw_execute_dft_r2c(r2c, b, fb);
    fftw_execute_dft_c2r(c2r, fb, b);
  }
  ~RealPlans() {
    fftw_destroy_plan(r2c);
    fftw_destroy_plan(c2r);
    fftw_free(a);
    fftw_free(b);
    fftw_free(fa);
    fftw_free(fb);
  }
};

// Best seconds of FFTW's r2c, r2c, c2r on one thread (at least 3 calls and
// 0.3 s), the cross-power product between them left out (it favours the
// baseline: the library's call includes it).
template <class Real>
double fftw_real_plans_seconds(int64_t height, int64_t width) {
  RealPlans<Real> plans(height, width);
  const auto ref = image<Real>(height, width, 0), mov = image<Real>(height, width, Real(0.7));
  std::copy(ref.begin(), ref.end(), plans.a);
  std::copy(mov.begin(), mov.end(), plans.b);
  double best = 1e300, total = 0;
  for (int call = 0; call < 3 || total < 0.3; ++call) {
    const auto start = Clock::now();
    plans.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::min(best, seconds);
    total += seconds;
    std::copy(mov.begin(), mov.end(), plans.b);
  }
  return best;
}

ptp_status execute(const ptp_correlate_plan* plan, const float* reference, const float* moving,
                   float* correlation) {
  return ptp_correlate_execute(plan, reference, moving, nullptr, correlation);
}
ptp_status execute(const ptp_correlate_plan* plan, const double* reference, const double* moving,
                   double* correlation) {
  return ptp_correlate_execute_f64(plan, reference, moving, nullptr, correlation);
}

template <class Real>
void correlate(benchmark::State& state) {
  const int64_t height = state.range(0), width = state.range(1);
  const double baseline = fftw_real_plans_seconds<Real>(height, width);
  ptychopatch::Context ctx(PTP_BACKEND_CPU, static_cast<int32_t>(state.range(2)));
  ptp_correlate_desc desc;
  ptp_correlate_desc_init(&desc, sizeof desc);
  desc.height = height;
  desc.width = width;
  desc.dtype = sizeof(Real) == 8 ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
  ptp_correlate_plan* plan = nullptr;
  if (ptp_correlate_plan_create(ctx.get(), &desc, &plan) != PTP_SUCCESS) {
    state.SkipWithError(ptp_last_error_message());
    return;
  }
  const auto ref = image<Real>(height, width, 0), mov = image<Real>(height, width, Real(0.7));
  std::vector<Real> correlation(static_cast<size_t>(height * width));
  double best = 1e300;
  for (auto _ : state) {
    const auto start = Clock::now();
    execute(plan, ref.data(), mov.data(), correlation.data());
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
    benchmark::DoNotOptimize(correlation.data());
  }
  ptp_correlate_plan_destroy(plan);
  state.counters["fftw_real_plans_ms"] = baseline * 1e3;
  state.counters["best_ms"] = best * 1e3;
  state.counters["x_fftw_real_plans"] = baseline / best;
  state.counters["threads"] = ctx.num_threads();
}

// Arguments: height, width, threads of the context (0: all cores), f64
// (0: float32, 1: float64).
void BM_Correlate(benchmark::State& state) {
  if (state.range(3) != 0)
    correlate<double>(state);
  else
    correlate<float>(state);
}
BENCHMARK(BM_Correlate)
    ->ArgNames({"height", "width", "threads", "f64"})
    ->Args({997, 1009, 1, 0})
    ->Args({997, 1009, 0, 0})
    ->Args({1024, 1009, 1, 0})
    ->Args({1009, 1024, 1, 0})
    ->Args({509, 509, 1, 0})
    ->Args({256, 257, 1, 0})
    ->Args({1024, 1024, 1, 0})
    ->Args({997, 1009, 1, 1})
    ->Args({997, 1009, 0, 1})
    ->Args({509, 509, 1, 1})
    ->Args({1024, 1024, 1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf(
      "libptychopatch %s; ptp_correlate_execute (_f64) against FFTW's real plans "
      "(ESTIMATE) of the same precision\n",
      ptychopatch::version().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
