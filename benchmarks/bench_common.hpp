// Helpers shared by the benchmarks in this folder: the PtychoPINN-sized
// workload, the rate counters, the legacy-loop benchmark, and a console
// reporter that keeps each benchmark's figures so a summary can give ratios
// between benchmarks of the same run.
#pragma once

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "legacy_oracle.hpp"

namespace bench {

// count (x, y) pairs, fractional, uniform over [n/2, extent - n/2) so that
// every patch lies inside a square object of `extent` pixels. The same seed
// gives the same leading pairs whatever the count.
inline std::vector<double> fractional_offsets(int64_t count, int64_t extent, int64_t n,
                                              uint32_t seed = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(static_cast<double>(n / 2),
                                           static_cast<double>(extent - n / 2));
  std::vector<double> xy(static_cast<size_t>(2 * count));
  for (double& v : xy) v = u(rng);
  return xy;
}

// PtychoPINN's sizes: 64 x 64 complex64 patches from a 1,024 x 1,024
// object, in groups of 4 (gridsize 2).
constexpr int64_t kObject = 1024;
constexpr int64_t kN = 64;
constexpr int64_t kGroupSize = 4;
constexpr int64_t kPatchBytes = kN * kN * 8;
constexpr int64_t kMaxPatches = 200000;  // the most patches any benchmark takes
constexpr int64_t kLegacyPatches = 4;    // per iteration: each one warps the whole object

// What every benchmark measures: the object, and kMaxPatches (x, y) offsets,
// fractional, inside it; a benchmark of fewer patches takes the leading
// ones. Made on first use.
struct Workload {
  oracle::Image object = oracle::random_image(kObject, kObject, 2, 1);
  std::vector<double> offsets = fractional_offsets(kMaxPatches, kObject, kN);
};

inline const Workload& workload() {
  static const Workload w;
  return w;
}

// items_per_second and bytes_per_second from what one iteration processes.
inline void set_rates(benchmark::State& state, int64_t items, int64_t bytes) {
  state.SetItemsProcessed(state.iterations() * items);
  state.SetBytesProcessed(state.iterations() * bytes);
}

// The legacy per-patch loop (tests/cpp/legacy_oracle.hpp) on the CPU, on all
// OpenMP threads: kLegacyPatches patches of the workload per iteration, in
// the channel layout.
inline void BM_LegacyLoop(benchmark::State& state) {
  const Workload& w = workload();
  const std::vector<float> xy(w.offsets.begin(), w.offsets.begin() + 2 * kLegacyPatches);
  for (auto _ : state) {
    auto out = oracle::extract(w.object, kN, xy, true, kGroupSize);
    benchmark::DoNotOptimize(out.data());
  }
  set_rates(state, kLegacyPatches, kLegacyPatches * kPatchBytes);
  state.counters["threads"] = omp_get_max_threads();
}

// Google Benchmark's console table, plus the counters of the run that stands
// for each benchmark: the median under --benchmark_repetitions, otherwise
// its single run. Keys are run names such as "BM_LegacyLoop/real_time".
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  using Counters = std::map<std::string, double>;

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      const std::string name = r.run_name.str();
      if (r.error_occurred) {
        errors_[name] = r.error_message;
        continue;
      }
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (!(median || r.run_type == Run::RT_Iteration)) continue;
      if (!median && medians_.count(name)) continue;
      if (median) medians_.insert(name);
      Counters& c = results_[name];
      c.clear();
      for (const auto& [key, counter] : r.counters) c[key] = counter.value;
    }
  }

  // The benchmark's counters, or null when it did not run or failed.
  const Counters* find(const std::string& name) const {
    const auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }

  // A counter's value, or `fallback` when the benchmark or counter is absent.
  double value(const std::string& name, const std::string& counter, double fallback = 0.0) const {
    const Counters* c = find(name);
    if (c == nullptr) return fallback;
    const auto it = c->find(counter);
    return it == c->end() ? fallback : it->second;
  }

  const std::map<std::string, Counters>& results() const { return results_; }
  // Benchmarks that called SkipWithError, with the message.
  const std::map<std::string, std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, Counters> results_;
  std::set<std::string> medians_;
  std::map<std::string, std::string> errors_;
};

}  // namespace bench
