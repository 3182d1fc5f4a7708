// CPU scene alignment at RawNIND's sizes: one scene of a 24 MP Bayer uint16
// reference (4000 x 6000, RGGB) and 8 moving frames, integer (upsample 1)
// and sub-pixel (upsample 10) shifts, on one thread and on all cores. One
// iteration sets the reference and aligns the 8 frames, as a pipeline does
// per scene; frames/s counts the moving frames. Plan creation (FFTW
// planning, once per plane size and process) is measured on its own.
// scikit-image on the same planes: benchmarks/bench_align_skimage.py.
//
//   build/benchmarks/bench_align_cpu [--benchmark_min_time=2]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "bench_align_common.hpp"
#include "ptychopatch.hpp"

namespace {

constexpr int64_t kHeight = 4000;
constexpr int64_t kWidth = 6000;
constexpr int kFrames = 8;

// A smooth scene (noise blurred by a 5-tap box along each axis, twice) in
// raw-count units, and frames: the scene translated by an even number of
// pixels (whole Bayer blocks) with fresh sensor noise.
struct Scene {
  std::vector<uint16_t> reference;
  std::vector<std::vector<uint16_t>> frames;

  Scene() {
    std::vector<float> scene(static_cast<size_t>(kHeight * kWidth));
    bench::Noise noise{0x9E3779B97F4A7C15ULL};
    for (float& v : scene) v = static_cast<float>(noise.next());
    std::vector<float> tmp(scene.size());
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t i = 0; i < kHeight; ++i)
        for (int64_t j = 0; j < kWidth; ++j) {
          float s = 0.0f;
          for (int64_t d = -2; d <= 2; ++d) s += scene[i * kWidth + (j + d + kWidth) % kWidth];
          tmp[i * kWidth + j] = s / 5.0f;
        }
      for (int64_t i = 0; i < kHeight; ++i)
        for (int64_t j = 0; j < kWidth; ++j) {
          float s = 0.0f;
          for (int64_t d = -2; d <= 2; ++d) s += tmp[((i + d + kHeight) % kHeight) * kWidth + j];
          scene[i * kWidth + j] = s / 5.0f;
        }
    }
    auto frame = [&](int64_t ty, int64_t tx) {
      std::vector<uint16_t> out(scene.size());
      for (int64_t i = 0; i < kHeight; ++i)
        for (int64_t j = 0; j < kWidth; ++j) {
          const float v =
              scene[((i - ty + kHeight) % kHeight) * kWidth + (j - tx + kWidth) % kWidth];
          const double counts = 4000.0 + 6000.0 * v + 40.0 * noise.next();
          out[i * kWidth + j] = static_cast<uint16_t>(counts < 0       ? 0
                                                      : counts > 65535 ? 65535
                                                                       : counts);
        }
      return out;
    };
    reference = frame(0, 0);
    for (int f = 0; f < kFrames; ++f) frames.push_back(frame(2 * (f % 5) - 4, 6 - 2 * f));
  }
};

const Scene& scene() {
  static const Scene s;
  return s;
}

ptychopatch::AlignDesc bayer_desc(int32_t upsample) {
  ptychopatch::AlignDesc d;
  d.height = kHeight;
  d.width = kWidth;
  d.frame_dtype = PTP_DTYPE_UINT16;
  d.cfa = PTP_CFA_BAYER;  // RGGB by default
  d.upsample_factor = upsample;
  return d;
}

// Plan creation for the 2000 x 3000 planes, registered first so that its one
// iteration is the process's first FFTW_MEASURE planning of that size (later
// plans of the size take FFTW's wisdom at once).
void BM_PlanCreate(benchmark::State& state) {
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  for (auto _ : state) {
    ptychopatch::AlignPlan plan(ctx, bayer_desc(1));
    benchmark::DoNotOptimize(plan.get());
  }
}
BENCHMARK(BM_PlanCreate)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Arguments: upsample factor, threads (0 = all cores).
void BM_AlignScene(benchmark::State& state) {
  const Scene& s = scene();
  ptychopatch::Context ctx(PTP_BACKEND_CPU, static_cast<int32_t>(state.range(1)));
  ptychopatch::AlignPlan plan(ctx, bayer_desc(static_cast<int32_t>(state.range(0))));
  std::vector<const uint16_t*> frames;
  for (const auto& f : s.frames) frames.push_back(f.data());
  for (auto _ : state) {
    plan.set_reference(s.reference.data());
    const ptychopatch::AlignResult r = plan.execute(frames);
    benchmark::DoNotOptimize(r.shifts.data());
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
  state.counters["frames_per_s"] = benchmark::Counter(
      static_cast<double>(kFrames), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = ctx.num_threads();
}
BENCHMARK(BM_AlignScene)
    ->ArgNames({"upsample", "threads"})
    ->Args({1, 1})
    ->Args({1, 0})
    ->Args({10, 1})
    ->Args({10, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("libptychopatch %s; a scene of 1 + %d Bayer uint16 frames of %lld x %lld (24 MP)\n",
              ptychopatch::version().c_str(), kFrames, static_cast<long long>(kHeight),
              static_cast<long long>(kWidth));
  scene();  // build the data before timing
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
