// Eight threads calling every entry point at once: each thread with its own
// context and plans, and all of them through the shared default context
// (NULL) of one-shot calls, which the library serialises. Every result must
// equal the one computed alone, bit for bit. Run in the plain build by
// ctest, and under ThreadSanitizer by scripts/tsan.sh (the library's thread
// pool is plain C++ threads, mutexes and atomics, all visible to TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ptychopatch.h"
#include "test_support.hpp"

namespace {

using Complex = std::complex<float>;

struct Inputs {
  ptp_extract_desc extract{};
  std::vector<Complex> object;
  std::vector<double> offsets;
  ptp_group_desc group{};
  std::vector<double> x, y;
  ptp_align_desc align{};
  std::vector<uint16_t> reference;
  std::vector<std::vector<uint16_t>> frames;
  ptp_correlate_desc correlate{};
  std::vector<float> pair_reference, pair_moving;
  // A side of 257: Bluestein's algorithm, its passes on the context's
  // threads (2^16 pixels or more; src/correlate/line_correlation.hpp).
  ptp_correlate_desc bluestein{};
  std::vector<float> wide_reference, wide_moving;
  // A float64 plan (a side of 37: Bluestein's algorithm in double) that
  // every thread executes at once, its workspace shared as float32's.
  ptp_correlate_desc correlate64{};
  std::vector<double> pair64_reference, pair64_moving;
};

struct Results {
  std::vector<Complex> patches, canvas;
  std::vector<float> weights;
  std::vector<int64_t> groups;
  std::vector<double> shifts, offsets_gradient;
  std::vector<float> correlation, shared_correlation, bluestein_correlation;
  std::vector<double> shared_correlation64;
  bool operator==(const Results& o) const {
    return patches == o.patches && canvas == o.canvas && weights == o.weights &&
           groups == o.groups && shifts == o.shifts && offsets_gradient == o.offsets_gradient &&
           correlation == o.correlation && shared_correlation == o.shared_correlation &&
           bluestein_correlation == o.bluestein_correlation &&
           shared_correlation64 == o.shared_correlation64;
  }
};

Inputs make_inputs() {
  Inputs in;
  ptp_extract_desc_init(&in.extract, sizeof in.extract);
  in.extract.height = 48;
  in.extract.width = 40;
  in.extract.patch_size = 8;
  in.extract.group_size = 4;
  for (int i = 0; i < 48 * 40; ++i) in.object.push_back({std::sin(0.05f * i), std::cos(0.3f * i)});
  for (int p = 0; p < 96; ++p)
    in.offsets.insert(in.offsets.end(), {p * 0.41 - 4.0, 44.0 - p * 0.5});
  ptp_group_desc_init(&in.group, sizeof in.group);
  in.group.num_samples = 150;
  in.group.num_neighbors = 6;
  in.group.group_size = 4;
  in.group.seed = 3;
  for (int i = 0; i < 400; ++i) {
    in.x.push_back(std::fmod(i * 5.77, 60.0));
    in.y.push_back(std::fmod(i * 2.13, 45.0));
  }
  ptp_align_desc_init(&in.align, sizeof in.align);
  in.align.height = 36;
  in.align.width = 44;
  in.align.cfa = PTP_CFA_BAYER;
  in.align.upsample_factor = 8;
  for (int y = 0; y < 36; ++y)
    for (int x = 0; x < 44; ++x)
      in.reference.push_back(static_cast<uint16_t>((x * 37 + y * 91 + x * y) % 4000));
  for (int f = 1; f <= 3; ++f) {
    std::vector<uint16_t> frame(36 * 44);
    for (int y = 0; y < 36; ++y)
      for (int x = 0; x < 44; ++x) frame[y * 44 + x] = in.reference[((y + 2 * f) % 36) * 44 + x];
    in.frames.push_back(frame);
  }
  // A pair of height x width images: a sine of `frequency` plus a ramp
  // modulo `period`, the moving one `lag` samples along.
  const auto pair = [](ptp_correlate_desc* desc, std::vector<float>* reference,
                       std::vector<float>* moving, int height, int width, float frequency, int lag,
                       int period) {
    ptp_correlate_desc_init(desc, sizeof *desc);
    desc->height = height;
    desc->width = width;
    for (int i = 0; i < height * width; ++i) {
      reference->push_back(std::sin(frequency * i) + 0.01f * (i % period));
      moving->push_back(std::sin(frequency * (i + lag)) + 0.01f * ((i + lag / 10) % period));
    }
  };
  pair(&in.correlate, &in.pair_reference, &in.pair_moving, 24, 30, 0.11f, 61, 13);
  pair(&in.bluestein, &in.wide_reference, &in.wide_moving, 256, 257, 0.013f, 300, 17);
  ptp_correlate_desc_init(&in.correlate64, sizeof in.correlate64);
  in.correlate64.height = 24;
  in.correlate64.width = 37;
  in.correlate64.dtype = PTP_DTYPE_FLOAT64;
  for (int i = 0; i < 24 * 37; ++i) {
    in.pair64_reference.push_back(std::sin(0.07 * i) + 0.01 * (i % 11));
    in.pair64_moving.push_back(std::sin(0.07 * (i + 40)) + 0.01 * ((i + 4) % 11));
  }
  return in;
}

void check(ptp_status status, const char* what) {
  if (status != PTP_SUCCESS) {
    ADD_FAILURE() << what << ": " << ptp_last_error_message();
  }
}

// Every entry point once on `ctx` (NULL: the shared default context);
// `shared` and `shared64` (if any) are correlation plans (float32, float64)
// every thread executes at once.
Results run_all(ptp_context* ctx, const Inputs& in, const ptp_correlate_plan* shared = nullptr,
                const ptp_correlate_plan* shared64 = nullptr) {
  Results r;
  r.patches.resize(96 * 64);
  check(ptp_extract_patches(ctx, &in.extract, in.object.data(), in.offsets.data(), 96,
                            r.patches.data(), r.patches.size() * sizeof(Complex)),
        "ptp_extract_patches");
  r.canvas.resize(48 * 40);
  r.weights.resize(48 * 40);
  check(ptp_reassemble_patches(ctx, &in.extract, r.patches.data(), in.offsets.data(), 96,
                               r.canvas.data(), r.canvas.size() * sizeof(Complex), r.weights.data(),
                               r.weights.size() * sizeof(float)),
        "ptp_reassemble_patches");
  r.groups.resize(150 * 4);
  check(ptp_group_neighbors(ctx, &in.group, in.x.data(), in.y.data(), 400, r.groups.data(), nullptr,
                            nullptr, nullptr),
        "ptp_group_neighbors");
  if (ctx != nullptr) {  // plans need a context
    // The offsets gradient, the patches standing in for the upstream gradient.
    ptp_extract_plan* extract = nullptr;
    check(ptp_extract_plan_create(ctx, &in.extract, &extract), "ptp_extract_plan_create");
    r.offsets_gradient.resize(2 * 96);
    check(ptp_extract_offsets_gradient(extract, in.object.data(), in.offsets.data(), 96,
                                       r.patches.data(), r.patches.size() * sizeof(Complex),
                                       r.offsets_gradient.data(),
                                       r.offsets_gradient.size() * sizeof(double)),
          "ptp_extract_offsets_gradient");
    ptp_extract_plan_destroy(extract);
    ptp_align_plan* plan = nullptr;
    check(ptp_align_plan_create(ctx, &in.align, &plan), "ptp_align_plan_create");
    check(ptp_align_set_reference(plan, in.reference.data()), "ptp_align_set_reference");
    const void* frames[3] = {in.frames[0].data(), in.frames[1].data(), in.frames[2].data()};
    r.shifts.resize(6);
    check(ptp_align_execute(plan, frames, 3, r.shifts.data(), nullptr, nullptr),
          "ptp_align_execute");
    ptp_align_plan_destroy(plan);
    // A plan of its own on ctx, one call.
    const auto correlate = [&](const ptp_correlate_desc& desc, const std::vector<float>& reference,
                               const std::vector<float>& moving, std::vector<float>* out) {
      ptp_correlate_plan* pair = nullptr;
      check(ptp_correlate_plan_create(ctx, &desc, &pair), "ptp_correlate_plan_create");
      out->resize(reference.size());
      check(ptp_correlate_execute(pair, reference.data(), moving.data(), nullptr, out->data()),
            "ptp_correlate_execute");
      ptp_correlate_plan_destroy(pair);
    };
    correlate(in.correlate, in.pair_reference, in.pair_moving, &r.correlation);
    correlate(in.bluestein, in.wide_reference, in.wide_moving, &r.bluestein_correlation);
    if (shared != nullptr) {
      r.shared_correlation.resize(24 * 30);
      check(ptp_correlate_execute(shared, in.pair_reference.data(), in.pair_moving.data(), nullptr,
                                  r.shared_correlation.data()),
            "ptp_correlate_execute (shared plan)");
    }
    if (shared64 != nullptr) {
      r.shared_correlation64.resize(24 * 37);
      check(ptp_correlate_execute_f64(shared64, in.pair64_reference.data(), in.pair64_moving.data(),
                                      nullptr, r.shared_correlation64.data()),
            "ptp_correlate_execute_f64 (shared plan)");
    }
  }
  return r;
}

TEST(ThreadStress, EightThreadsGetTheResultsOfOne) {
  const Inputs in = make_inputs();
  const ptychopatch::Context plan_context = test_support::cpu_context(1);
  ptp_correlate_plan* shared = nullptr;
  ASSERT_EQ(ptp_correlate_plan_create(plan_context.get(), &in.correlate, &shared), PTP_SUCCESS);
  ptp_correlate_plan* shared64 = nullptr;
  ASSERT_EQ(ptp_correlate_plan_create(plan_context.get(), &in.correlate64, &shared64), PTP_SUCCESS);
  const Results expected = run_all(test_support::cpu_context(1).get(), in, shared, shared64);
  const Results expected_shared = run_all(nullptr, in);

  // PTYCHOPATCH_STRESS_SECONDS (default 2): how long the threads keep going.
  const char* seconds_text = std::getenv("PTYCHOPATCH_STRESS_SECONDS");
  const double seconds = seconds_text != nullptr ? std::atof(seconds_text) : 2.0;
  const auto stop = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::atomic<int> mismatches{0};
  std::atomic<long> rounds{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      // Thread counts 1-3 per context: the library's own OpenMP teams run
      // inside these threads.
      const ptychopatch::Context own = test_support::cpu_context(1 + t % 3);
      do {
        if (!(run_all(own.get(), in, shared, shared64) == expected)) ++mismatches;
        if (!(run_all(nullptr, in) == expected_shared)) ++mismatches;
        ++rounds;
      } while (std::chrono::steady_clock::now() < stop);
    });
  }
  for (std::thread& thread : threads) thread.join();
  ptp_correlate_plan_destroy(shared);
  ptp_correlate_plan_destroy(shared64);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GE(rounds.load(), 8);
  std::printf("[ stress   ] %ld rounds of every entry point on 8 threads\n", rounds.load());
}

}  // namespace
