// GPU scene alignment at RawNIND's sizes, each against the host-to-device
// copy of the same raw bytes measured in the same run:
//   24 MP: a Bayer uint16 reference of 4000 x 6000 (RGGB) and 8 moving frames;
//   60 MP: 6336 x 9504 and 15 moving frames (the largest scene of the
//          dataset), also under a 7 GiB budget: what a 16 GB card gives
//          (half its free memory).
// One iteration is what a pipeline does per scene: set the reference and
// align the moving frames (host arrays in, shifts out; pageable frames as
// a decoder produces them, or pinned). Integer (upsample 1) and sub-pixel
// (upsample 10) shifts. verify:3 is the default estimator (the coarse joint
// peak on the GPU, then the fine stage of the frames in doubt, which is host
// code: docs/semantics.md); verify:0 is the coarse GPU estimate alone.
//
//   BM_AlignScene  wall time per scene; frames_per_s counts moving frames
//   BM_CopyH2D     cudaMemcpy of the scene's raw bytes (reference + moving
//                  frames) from pinned memory, and from pageable memory
//
// Counters: frames_per_s; scene_ms; h2d_pinned_ms and h2d_pageable_ms (the
// copy of the same scene's raw bytes, median of a few, measured once per
// scene in this run); t_over_h2d (scene time / pinned copy time: 1.0 is as
// fast as the bus can deliver the frames). Results are checked against the
// known translations before timing. Exits 0 without measuring where no CUDA
// device is usable.
//
//   build/benchmarks/bench_align_gpu [--benchmark_filter=24MP]
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_align_common.hpp"
#include "bench_common.hpp"
#include "bench_gpu_common.hpp"
#include "ptychopatch.h"

namespace {

struct SceneSize {
  const char* name;
  int64_t height;
  int64_t width;
  int frames;
};

constexpr SceneSize kScenes[] = {{"24MP", 4000, 6000, 8}, {"60MP", 6336, 9504, 15}};

// ------------------------------------------------------------------ data

// A textured scene (noise blurred by a 3-tap box per axis) and frames: the
// scene translated by an even number of pixels (whole Bayer blocks, so the
// shifts are known exactly) with fresh sensor noise, uint16 counts.
struct Scene {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint16_t> reference;
  std::vector<std::vector<uint16_t>> frames;
  std::vector<std::pair<int64_t, int64_t>> translations;

  Scene(int64_t h, int64_t w, int count) : height(h), width(w) {
    const size_t n = static_cast<size_t>(h * w);
    std::vector<float> noise(n), blurred(n);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; ++i) {
      bench::Noise rng{0x9E3779B97F4A7C15ULL ^ static_cast<uint64_t>(i * 7919 + 1)};
      for (int64_t j = 0; j < w; ++j) noise[i * w + j] = static_cast<float>(rng.next());
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        float s = 0.0f;
        for (int64_t d = -1; d <= 1; ++d) s += noise[i * w + (j + d + w) % w];
        blurred[i * w + j] = s / 3.0f;
      }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        float s = 0.0f;
        for (int64_t d = -1; d <= 1; ++d) s += blurred[((i + d + h) % h) * w + j];
        noise[i * w + j] = s / 3.0f;
      }
    const std::vector<float>& field = noise;
    auto frame = [&](int64_t ty, int64_t tx, uint64_t seed) {
      std::vector<uint16_t> out(n);
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < h; ++i) {
        bench::Noise rng{seed ^ static_cast<uint64_t>(i * 104729 + 7)};
        const int64_t si = std::clamp<int64_t>(i - ty, 0, h - 1);  // open borders
        for (int64_t j = 0; j < w; ++j) {
          const int64_t sj = std::clamp<int64_t>(j - tx, 0, w - 1);
          const double counts = 4000.0 + 6000.0 * field[si * w + sj] + 30.0 * rng.next();
          out[i * w + j] = static_cast<uint16_t>(std::clamp(counts, 0.0, 65535.0));
        }
      }
      return out;
    };
    reference = frame(0, 0, 1);
    for (int f = 0; f < count; ++f) {
      const int64_t ty = 2 * (f % 5) - 4;
      const int64_t tx = 6 - 2 * (f % 7);
      translations.emplace_back(ty, tx);
      frames.push_back(frame(ty, tx, 1000 + f));
    }
  }

  size_t frame_bytes() const {
    return static_cast<size_t>(height * width) * sizeof(uint16_t);
  }
  size_t scene_bytes() const {
    return frame_bytes() * (frames.size() + 1);
  }
};

const Scene& scene(int index) {
  static std::map<int, std::unique_ptr<Scene>> cache;
  auto& s = cache[index];
  if (!s) {
    cache.clear();  // one scene in memory at a time (60 MP x 16 frames is 1.9 GB)
    const SceneSize& z = kScenes[index];
    auto made = std::make_unique<Scene>(z.height, z.width, z.frames);
    return *(cache[index] = std::move(made));
  }
  return *s;
}

// Pinned copies of a scene's frames (for the pinned variant and the copy).
using Pinned = bench::PinnedBuffer;

struct PinnedScene {
  int index = -1;
  std::vector<Pinned> frames;  // reference first
};

const PinnedScene& pinned_scene(int index) {
  static PinnedScene p;
  if (p.index == index) return p;
  p.frames.clear();
  p.index = -1;
  const Scene& s = scene(index);
  auto copy = [&](const std::vector<uint16_t>& f) {
    void* ptr = nullptr;
    CUDA_OK(cudaMallocHost(&ptr, s.frame_bytes()));
    std::memcpy(ptr, f.data(), s.frame_bytes());
    p.frames.emplace_back(ptr);
  };
  copy(s.reference);
  for (const auto& f : s.frames) copy(f);
  p.index = index;
  return p;
}

// ------------------------------------------------------ the copy baseline

// Median wall time of copying the scene's frames to the device, frame by
// frame into one device buffer, from pinned or pageable memory; measured
// once per scene and kind in this run.
double h2d_seconds(int index, bool pinned) {
  static std::map<std::pair<int, bool>, double> measured;
  const auto key = std::make_pair(index, pinned);
  const auto it = measured.find(key);
  if (it != measured.end()) return it->second;
  const Scene& s = scene(index);
  std::vector<const void*> sources;
  if (pinned) {
    for (const Pinned& f : pinned_scene(index).frames) sources.push_back(f.get());
  } else {
    sources.push_back(s.reference.data());
    for (const auto& f : s.frames) sources.push_back(f.data());
  }
  const bench::DeviceBuffer device = bench::device_alloc(s.frame_bytes());
  auto copy_all = [&] {
    for (const void* src : sources)
      CUDA_OK(cudaMemcpy(device.get(), src, s.frame_bytes(), cudaMemcpyHostToDevice));
  };
  copy_all();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    copy_all();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return measured[key] = t[t.size() / 2];
}

// --------------------------------------------------------- library handles

struct ContextFree {
  void operator()(ptp_context* c) const noexcept { ptp_context_destroy(c); }
};
struct PlanFree {
  void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
};

std::unique_ptr<ptp_context, ContextFree> gpu_context(uint64_t budget) {
  ptp_context_options options;
  PTP_OK(ptp_context_options_init(&options, sizeof options));
  options.backend = PTP_BACKEND_GPU;
  options.device_memory_budget = budget;
  ptp_context* raw = nullptr;
  PTP_OK(ptp_context_create(&options, &raw));
  return std::unique_ptr<ptp_context, ContextFree>(raw);
}

std::unique_ptr<ptp_align_plan, PlanFree> bayer_plan(ptp_context* ctx, const Scene& s,
                                                     int32_t upsample, int32_t verify) {
  ptp_align_desc desc;
  PTP_OK(ptp_align_desc_init(&desc, sizeof desc));
  desc.height = s.height;
  desc.width = s.width;
  desc.frame_dtype = PTP_DTYPE_UINT16;
  desc.cfa = PTP_CFA_BAYER;  // RGGB by default
  desc.upsample_factor = upsample;
  desc.verify = verify;
  ptp_align_plan* raw = nullptr;
  PTP_OK(ptp_align_plan_create(ctx, &desc, &raw));
  return std::unique_ptr<ptp_align_plan, PlanFree>(raw);
}

// ------------------------------------------------------------- benchmarks

// Arguments: scene index, upsample, pinned frames (0/1), budget in GiB (0:
// the default, half the free memory), verify (ptp_align_verify).
void BM_AlignScene(benchmark::State& state) {
  try {
    const int index = static_cast<int>(state.range(0));
    const int32_t upsample = static_cast<int32_t>(state.range(1));
    const bool pinned = state.range(2) != 0;
    const uint64_t budget = static_cast<uint64_t>(state.range(3)) << 30;
    const int32_t verify = static_cast<int32_t>(state.range(4));
    const Scene& s = scene(index);
    auto ctx = gpu_context(budget);
    auto plan = bayer_plan(ctx.get(), s, upsample, verify);
    const void* reference = s.reference.data();
    std::vector<const void*> frames;
    if (pinned) {
      const PinnedScene& p = pinned_scene(index);
      reference = p.frames[0].get();
      for (size_t i = 1; i < p.frames.size(); ++i) frames.push_back(p.frames[i].get());
    } else {
      for (const auto& f : s.frames) frames.push_back(f.data());
    }
    const int64_t n = static_cast<int64_t>(frames.size());
    std::vector<double> shifts(2 * frames.size());
    auto align_scene = [&] {
      PTP_OK(ptp_align_set_reference(plan.get(), reference));
      PTP_OK(ptp_align_execute(plan.get(), frames.data(), n, shifts.data(), nullptr, nullptr));
    };
    align_scene();  // warm-up (cuFFT plans, pinned staging), and the check
    for (int64_t f = 0; f < n; ++f) {
      const auto [ty, tx] = s.translations[static_cast<size_t>(f)];
      if (shifts[2 * f] != static_cast<double>(-ty) ||
          shifts[2 * f + 1] != static_cast<double>(-tx))
        throw std::runtime_error("frame " + std::to_string(f) + ": shift (" +
                                 std::to_string(shifts[2 * f]) + ", " +
                                 std::to_string(shifts[2 * f + 1]) + "), expected (" +
                                 std::to_string(-ty) + ", " + std::to_string(-tx) + ")");
    }
    double total = 0.0;
    for (auto _ : state) {
      const auto t0 = std::chrono::steady_clock::now();
      align_scene();
      total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const double per_scene = total / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
    const double h2d_pinned = h2d_seconds(index, true);
    const double h2d_pageable = h2d_seconds(index, false);
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(s.scene_bytes()));
    state.counters["frames_per_s"] = static_cast<double>(n) / per_scene;
    state.counters["scene_ms"] = per_scene * 1e3;
    state.counters["h2d_pinned_ms"] = h2d_pinned * 1e3;
    state.counters["h2d_pageable_ms"] = h2d_pageable * 1e3;
    state.counters["t_over_h2d"] = per_scene / h2d_pinned;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Arguments: scene index, pinned (0/1).
void BM_CopyH2D(benchmark::State& state) {
  try {
    const int index = static_cast<int>(state.range(0));
    const bool pinned = state.range(1) != 0;
    const Scene& s = scene(index);
    const double seconds = h2d_seconds(index, pinned);
    for (auto _ : state) state.SetIterationTime(seconds);  // measured once above
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(s.scene_bytes()));
    state.counters["frames_per_s"] = static_cast<double>(s.frames.size()) / seconds;
    state.counters["scene_ms"] = seconds * 1e3;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void register_benchmarks() {
  for (int index = 0; index < 2; ++index) {
    const std::string name = kScenes[index].name;
    for (int64_t verify : {int64_t{PTP_ALIGN_VERIFY_REFINE}, int64_t{PTP_ALIGN_VERIFY_NONE}})
      for (int64_t upsample : {1, 10})
        for (int64_t pinned : {0, 1})
          benchmark::RegisterBenchmark(("BM_AlignScene/" + name).c_str(), BM_AlignScene)
              ->ArgNames({"scene", "upsample", "pinned", "budget_gib", "verify"})
              ->Args({index, upsample, pinned, 0, verify})
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
    if (index == 1)  // the largest scene within a 16 GB card's default budget
      benchmark::RegisterBenchmark(("BM_AlignScene/" + name).c_str(), BM_AlignScene)
          ->ArgNames({"scene", "upsample", "pinned", "budget_gib", "verify"})
          ->Args({index, 1, 0, 7, PTP_ALIGN_VERIFY_NONE})
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    for (int64_t pinned : {1, 0})
      benchmark::RegisterBenchmark(("BM_CopyH2D/" + name).c_str(), BM_CopyH2D)
          ->ArgNames({"scene", "pinned"})
          ->Args({index, pinned})
          ->Iterations(1)
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime();
  }
}

void summarise(const bench::CollectingReporter& reporter) {
  std::printf("\n%-76s %10s %10s %12s %10s\n", "scene alignment (frames are moving frames)",
              "frames/s", "scene ms", "H2D pin ms", "t/H2D");
  for (const auto& [name, counters] : reporter.results()) {
    auto get = [&](const char* key) { return bench::counter_or_zero(counters, key); };
    std::printf("%-76s %10.2f %10.1f %12.1f %10.2f\n", name.c_str(), get("frames_per_s"),
                get("scene_ms"), get("h2d_pinned_ms"), get("t_over_h2d"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  cudaDeviceProp prop{};
  int exit_code = 0;
  if (!bench::start_gpu_benchmark(&argc, argv, "bench_align_gpu", prop, exit_code))
    return exit_code;
  std::printf(
      "libptychopatch %s on %s (sm_%d%d, %d SMs, %.1f GiB), %d host threads; Bayer uint16 "
      "scenes: 24 MP (4000 x 6000) x 8 moving frames, 60 MP (6336 x 9504) x 15\n",
      ptp_version_string(), prop.name, prop.major, prop.minor, prop.multiProcessorCount,
      static_cast<double>(prop.totalGlobalMem) / (1 << 30), omp_get_max_threads());
  register_benchmarks();
  return bench::run_and_summarise(summarise);
}
