// Allocation-failure injection: a representative call of each C entry
// point is run once per allocation the library itself makes during it, with
// exactly that allocation failing. Every run must return PTP_SUCCESS (with
// the right result) or PTP_ERROR_OUT_OF_MEMORY (with every output as it
// was), the same handles called again with nothing failing must give the
// undisturbed result bit for bit (a failed call leaves a plan's state as it
// was), and no block may be left behind (the blocks from operator new are
// counted, process-wide). Calls that make hundreds of allocations fail an
// evenly spaced sample of them (Scenario::max_points).
//
// The allocations swept are the library's own: operator new (every form)
// and aligned_alloc, counted when the code asking for them is in
// libptychopatch.so (its frames on the stack, found with backtrace).
// malloc is not failed: FFTW, FLANN's pool allocator and libgomp use it and
// do not survive a failure (docs/reliability.md, "What remains"; the
// address-space sweep of tests/python/test_reliability.py covers what the
// library does about them). Not built under the sanitizers, whose
// allocators this file would replace.
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <new>
#include <ostream>
#include <string>
#include <vector>

#include "ptychopatch.h"
#include "test_support.hpp"

extern "C" void* __libc_memalign(size_t alignment, size_t bytes);

namespace {

// -1: injection off. Else the number of library allocations to let through
// before failing one (once).
std::atomic<long> g_countdown{-1};
std::atomic<long> g_counted{0};
std::atomic<bool> g_counting{false};
uintptr_t g_library_begin = 0, g_library_end = 0;

int find_library(dl_phdr_info* info, size_t, void*) {
  if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, "libptychopatch.so") == nullptr)
    return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    if (segment.p_type == PT_LOAD && (segment.p_flags & PF_X)) {
      g_library_begin = info->dlpi_addr + segment.p_vaddr;
      g_library_end = g_library_begin + segment.p_memsz;
    }
  }
  return 1;
}

thread_local bool t_inside = false;  // backtrace may allocate: no recursion

// True when this allocation is the one to fail.
bool inject() {
  if (!g_counting.load(std::memory_order_relaxed) || t_inside) return false;
  t_inside = true;
  void* frames[6];
  const int depth = backtrace(frames, 6);
  bool from_library = false;
  for (int i = 1; i < depth; ++i) {
    const auto address = reinterpret_cast<uintptr_t>(frames[i]);
    if (address >= g_library_begin && address < g_library_end) from_library = true;
  }
  t_inside = false;
  if (!from_library) return false;
  g_counted.fetch_add(1, std::memory_order_relaxed);
  long expected = g_countdown.load();
  while (expected >= 0) {
    if (g_countdown.compare_exchange_weak(expected, expected - 1)) return expected == 0;
  }
  return false;
}

void* allocate(size_t bytes, size_t alignment) {
  if (inject()) return nullptr;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(bytes == 0 ? 1 : bytes);
  return __libc_memalign(alignment, bytes == 0 ? 1 : bytes);
}

// Blocks from operator new not yet deleted, in the whole process: the leak
// check (malloc's own statistics cover only the main thread's arena, and
// the library allocates on worker threads too).
std::atomic<long> g_live_blocks{0};

void* new_block(size_t bytes, size_t alignment) noexcept {
  void* p = allocate(bytes, alignment);
  if (p != nullptr) g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void* new_block_or_throw(size_t bytes, size_t alignment) {
  void* p = new_block(bytes, alignment);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void delete_block(void* p) noexcept {
  if (p == nullptr) return;
  g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

// ---------------------------------------------- the replaced allocators
void* operator new(size_t n) {
  return new_block_or_throw(n, 0);
}
void* operator new[](size_t n) {
  return new_block_or_throw(n, 0);
}
void* operator new(size_t n, std::align_val_t a) {
  return new_block_or_throw(n, size_t(a));
}
void* operator new[](size_t n, std::align_val_t a) {
  return new_block_or_throw(n, size_t(a));
}
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return new_block(n, 0);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return new_block(n, 0);
}
void operator delete(void* p) noexcept {
  delete_block(p);
}
void operator delete[](void* p) noexcept {
  delete_block(p);
}
void operator delete(void* p, size_t) noexcept {
  delete_block(p);
}
void operator delete[](void* p, size_t) noexcept {
  delete_block(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  delete_block(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  delete_block(p);
}
void operator delete(void* p, size_t, std::align_val_t) noexcept {
  delete_block(p);
}
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  delete_block(p);
}
extern "C" void* aligned_alloc(size_t alignment, size_t bytes) {
  if (inject()) return nullptr;
  return __libc_memalign(alignment, bytes);
}

// fopen too, on demand: as when its FILE cannot be allocated (ENOMEM). It
// replaces the C library's for every caller in the process, FFTW's too.
namespace {
std::atomic<bool> g_fopen_out_of_memory{false};

FILE* open_file(const char* name, const char* path, const char* mode) {
  if (g_fopen_out_of_memory.load()) {
    errno = ENOMEM;
    return nullptr;
  }
  using Open = FILE* (*)(const char*, const char*);
  return reinterpret_cast<Open>(dlsym(RTLD_NEXT, name))(path, mode);
}
}  // namespace

extern "C" FILE* fopen(const char* path, const char* mode) {
  return open_file("fopen", path, mode);
}
extern "C" FILE* fopen64(const char* path, const char* mode) {
  return open_file("fopen64", path, mode);
}

namespace {

// One call of the sweep: `run` makes the call into outputs it owns and
// returns its status; `reset` refills the outputs with the sentinel;
// `untouched` and `matches` judge them after a failure and a success.
// After a failure the sweep calls `run` again with nothing failing (on the
// same handles, for a scenario that keeps its plan), and that call must
// give the undisturbed result.
struct Scenario {
  std::string name;
  // Optional: made before each run with failures (never failed itself),
  // not before the call that follows a failure.
  std::function<void()> setup;
  std::function<void()> reset;
  std::function<ptp_status()> run;
  std::function<bool()> untouched;
  std::function<bool()> matches;
  // The failing call's message (default: ptp_last_error_message()).
  std::function<std::string()> message;
  // At most this many of the call's allocations are failed per pass, evenly
  // spaced from the first to the last (0: every one): a count, not a time,
  // so every machine runs the same sweep.
  long max_points = 0;
};

long live_blocks() {
  return g_live_blocks.load();
}

void sweep(const Scenario& s) {
  if (g_library_begin == 0) dl_iterate_phdr(find_library, nullptr);
  ASSERT_NE(g_library_begin, 0u) << "libptychopatch.so not found in the process";
  // Twice without failures: caches (FFTW plans, thread pools, the shared
  // context) are filled, and the reference result is checked.
  for (int warm = 0; warm < 2; ++warm) {
    if (s.setup) s.setup();
    s.reset();
    ASSERT_EQ(s.run(), PTP_SUCCESS) << s.name << ": " << ptp_last_error_message();
    ASSERT_TRUE(s.matches()) << s.name << ": the undisturbed call is wrong";
  }
  g_counted = 0;
  if (s.setup) s.setup();
  g_counting = true;
  s.reset();
  ASSERT_EQ(s.run(), PTP_SUCCESS);
  g_counting = false;
  const long allocations = g_counted.load();
  ASSERT_GT(allocations, 0) << s.name << ": no library allocation seen (injection broken?)";

  std::vector<long> points;
  const long count = s.max_points > 0 ? std::min(allocations, s.max_points) : allocations;
  for (long k = 0; k < count; ++k)
    points.push_back(count == 1 ? 0 : k * (allocations - 1) / (count - 1));

  // Twice over those allocations: the first pass also fills what persists by
  // design (the thread-local message's buffer, the C++ runtime's exception
  // pool), so no block may stay live across the second.
  int failures = 0;
  long blocks_before = 0;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) blocks_before = live_blocks();
    for (const long i : points) {
      if (s.setup) s.setup();
      s.reset();
      g_countdown = i;
      g_counting = true;
      const ptp_status status = s.run();
      g_counting = false;
      const bool failed_one = g_countdown.load() < 0;
      g_countdown = -1;
      const std::string message = s.message ? s.message() : ptp_last_error_message();
      if (status == PTP_SUCCESS) {
        EXPECT_TRUE(s.matches()) << s.name << ", allocation " << i << ": wrong result";
        continue;
      }
      failures += pass == 0;
      EXPECT_EQ(status, PTP_ERROR_OUT_OF_MEMORY)
          << s.name << ", allocation " << i << ": " << ptp_status_name(status) << ": " << message;
      EXPECT_TRUE(failed_one) << s.name << ", allocation " << i << ": failed without an injection";
      EXPECT_TRUE(s.untouched()) << s.name << ", allocation " << i << ": outputs written";
      EXPECT_FALSE(message.empty());
      // The same handles again with nothing failing: a failed call leaves
      // their state as it was, so this call gives the undisturbed result.
      s.reset();
      const ptp_status again = s.run();
      EXPECT_EQ(again, PTP_SUCCESS) << s.name << ", allocation " << i
                                    << ": the next call failed: " << ptp_last_error_message();
      if (again == PTP_SUCCESS) {
        EXPECT_TRUE(s.matches()) << s.name << ", allocation " << i
                                 << ": the next call's result differs from an undisturbed call's";
      }
    }
  }
  // One block of slack: the thread pool's last job (src/core/thread_pool.cpp),
  // which a helper that woke late may hold a moment after the call returned.
  EXPECT_LE(live_blocks(), blocks_before + 1)
      << s.name << ": blocks from operator new still live after a second sweep (a leak)";
  EXPECT_GT(failures, 0) << s.name << ": no injected failure reached the caller";
  std::printf("[ sweep    ] %s: %ld allocations, %zu failed in turn, %d reported out of memory\n",
              s.name.c_str(), allocations, points.size(), failures);
}

// Whether two arrays hold the same bits (NaN included).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

constexpr double kSentinel = -12345.0;
// Allocations failed per pass of most alignment sweeps (Scenario::max_points):
// those calls make 100 to 4000, each run costs milliseconds, and CI has two
// cores for every test.
constexpr long kAlignPoints = 200;

TEST(FaultInjection, ContextCreation) {
  ptp_context* made = nullptr;
  Scenario s;
  s.name = "ptp_context_create";
  s.reset = [&] {
    if (made != nullptr) ptp_context_destroy(made);
    made = nullptr;
  };
  s.run = [&] {
    ptp_context_options o;
    ptp_context_options_init(&o, sizeof o);
    o.backend = PTP_BACKEND_CPU;
    return ptp_context_create(&o, &made);
  };
  s.untouched = [&] { return made == nullptr; };
  s.matches = [&] { return made != nullptr; };
  sweep(s);
  s.reset();
}

TEST(FaultInjection, ExtractionAndReassembly) {
  const ptychopatch::Context context = test_support::cpu_context(2);
  ptp_context* const ctx = context.get();
  ptp_extract_desc d;
  ptp_extract_desc_init(&d, sizeof d);
  d.height = 40;
  d.width = 36;
  d.patch_size = 8;
  d.group_size = 4;
  std::vector<std::complex<float>> object(40 * 36);
  for (size_t i = 0; i < object.size(); ++i) object[i] = {std::sin(0.1f * i), 0.5f};
  std::vector<double> offsets;
  for (int p = 0; p < 64; ++p) offsets.insert(offsets.end(), {p * 0.55 - 3.0, 30.0 - p * 0.4});
  std::vector<std::complex<float>> patches(64 * 64), expected;
  ASSERT_EQ(ptp_extract_patches(ctx, &d, object.data(), offsets.data(), 64, patches.data(),
                                patches.size() * 8),
            PTP_SUCCESS);
  expected = patches;

  Scenario e;
  e.name = "ptp_extract_patches";
  e.reset = [&] { std::fill(patches.begin(), patches.end(), std::complex<float>(-7.0f, -7.0f)); };
  e.run = [&] {
    return ptp_extract_patches(ctx, &d, object.data(), offsets.data(), 64, patches.data(),
                               patches.size() * 8);
  };
  e.untouched = [&] {
    for (const auto& v : patches)
      if (v != std::complex<float>(-7.0f, -7.0f)) return false;
    return true;
  };
  e.matches = [&] { return patches == expected; };
  sweep(e);

  std::vector<std::complex<float>> canvas(40 * 36), canvas_expected;
  std::vector<float> weights(40 * 36), weights_expected;
  ASSERT_EQ(ptp_reassemble_patches(ctx, &d, expected.data(), offsets.data(), 64, canvas.data(),
                                   canvas.size() * 8, weights.data(), weights.size() * 4),
            PTP_SUCCESS);
  canvas_expected = canvas;
  weights_expected = weights;
  Scenario r;
  r.name = "ptp_reassemble_patches";
  r.reset = [&] {
    std::fill(canvas.begin(), canvas.end(), std::complex<float>(-7.0f, -7.0f));
    std::fill(weights.begin(), weights.end(), -7.0f);
  };
  r.run = [&] {
    return ptp_reassemble_patches(ctx, &d, expected.data(), offsets.data(), 64, canvas.data(),
                                  canvas.size() * 8, weights.data(), weights.size() * 4);
  };
  r.untouched = [&] {
    for (const auto& v : canvas)
      if (v != std::complex<float>(-7.0f, -7.0f)) return false;
    for (float v : weights)
      if (v != -7.0f) return false;
    return true;
  };
  r.matches = [&] { return canvas == canvas_expected && weights == weights_expected; };
  sweep(r);
}

// What the thread's and a plan's diagnostics say (call, total, outside).
struct Diagnosed {
  int32_t call;
  int64_t total, outside;
  bool operator==(const Diagnosed& o) const {
    return call == o.call && total == o.total && outside == o.outside;
  }
};
Diagnosed diagnosed(const ptp_extract_plan* plan) {
  ptp_extract_diagnostics d;
  ptp_extract_diagnostics_init(&d, sizeof d);
  ptp_extract_plan_get_diagnostics(plan, &d);
  return {d.call, d.patches_total, d.patches_outside};
}

// The plan's calls: extraction (both offset forms) and reassembly on one
// plan, and plan creation. After a failure the plan's diagnostics and the
// thread's say no call; the plan's next call is the undisturbed one.
TEST(FaultInjection, ExtractionPlans) {
  const ptychopatch::Context context = test_support::cpu_context(2);
  ptp_context* const ctx = context.get();
  ptp_extract_desc d;
  ptp_extract_desc_init(&d, sizeof d);
  d.height = 40;
  d.width = 36;
  d.patch_size = 8;
  d.group_size = 4;
  using Complex = std::complex<float>;
  const Complex sentinel(-7.0f, -7.0f);
  std::vector<Complex> object(40 * 36);
  for (size_t i = 0; i < object.size(); ++i) object[i] = {std::sin(0.1f * i), 0.5f};
  // 16 groups of 4: (x, y) pairs, and the same offsets in the legacy form
  // (global [b][axis], local [b][axis][k]); some patches fall outside.
  std::vector<double> pairs, global, local;
  for (int b = 0; b < 16; ++b) {
    const double gx = b * 2.5 - 4.0, gy = 34.0 - b * 1.75;
    global.insert(global.end(), {gx, gy});
    for (int axis = 0; axis < 2; ++axis)
      for (int k = 0; k < 4; ++k) local.push_back((axis == 0 ? 0.5 : -0.25) * k);
    for (int k = 0; k < 4; ++k) pairs.insert(pairs.end(), {gx + 0.5 * k, gy - 0.25 * k});
  }
  pairs[0] = global[0] = 500.0;  // outside the object
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx, &d, &plan), PTP_SUCCESS);
  std::vector<Complex> patches(64 * 64), canvas(40 * 36);
  std::vector<float> weights(40 * 36);
  const size_t patch_bytes = patches.size() * 8;

  struct Call {
    std::string name;
    std::function<ptp_status(ptp_extract_plan*)> call;
  };
  const Call calls[] = {
      {"ptp_extract_execute",
       [&](ptp_extract_plan* p) {
         return ptp_extract_execute(p, object.data(), pairs.data(), 64, patches.data(),
                                    patch_bytes);
       }},
      {"ptp_extract_execute_legacy",
       [&](ptp_extract_plan* p) {
         return ptp_extract_execute_legacy(p, object.data(), global.data(), local.data(), 16,
                                           patches.data(), patch_bytes);
       }},
      {"ptp_reassemble_execute",
       [&](ptp_extract_plan* p) {
         return ptp_reassemble_execute(p, patches.data(), pairs.data(), 64, canvas.data(),
                                       canvas.size() * 8, weights.data(), weights.size() * 4);
       }},
  };
  for (const bool whole : {false, true})
    for (const Call& c : calls) {
      const auto reset = [&] {
        std::fill(patches.begin(), patches.end(), sentinel);
        std::fill(canvas.begin(), canvas.end(), sentinel);
        std::fill(weights.begin(), weights.end(), -7.0f);
      };
      const bool reassembly = c.name == "ptp_reassemble_execute";
      // Reassembly reads patches: theirs are the extraction's.
      std::vector<Complex> input;
      if (reassembly) {
        ASSERT_EQ(calls[0].call(plan), PTP_SUCCESS);
        input = patches;
      }
      Diagnosed found{};
      std::string message;
      Scenario s;
      s.name = whole ? "ptp_extract_plan_create + " + c.name : c.name + " (one plan)";
      s.reset = [&] {
        reset();
        if (reassembly) patches = input;
      };
      s.run = [&] {
        if (!whole) {
          const ptp_status status = c.call(plan);
          message = ptp_last_error_message();  // before the query clears it
          found = diagnosed(plan);
          return status;
        }
        ptp_extract_plan* made = nullptr;
        ptp_status status = ptp_extract_plan_create(ctx, &d, &made);
        if (status == PTP_SUCCESS) status = c.call(made);
        message = ptp_last_error_message();  // before destroy clears it
        found = made != nullptr ? diagnosed(made) : Diagnosed{PTP_DIAGNOSED_NONE, 0, -1};
        ptp_extract_plan_destroy(made);
        return status;
      };
      s.message = [&] { return message; };
      const auto outputs_untouched = [&] {
        for (const auto* values : {&canvas, reassembly ? &canvas : &patches})
          for (const Complex& v : *values)
            if (v != sentinel) return false;
        for (float v : weights)
          if (v != -7.0f) return false;
        return !reassembly || patches == input;
      };
      s.untouched = [&] {
        return outputs_untouched() && found.call == PTP_DIAGNOSED_NONE &&
               diagnosed(nullptr).call == PTP_DIAGNOSED_NONE;
      };
      s.reset();
      ASSERT_EQ(s.run(), PTP_SUCCESS) << ptp_last_error_message();
      const std::vector<Complex> want_patches = patches, want_canvas = canvas;
      const std::vector<float> want_weights = weights;
      const Diagnosed want_found = found;
      ASSERT_GT(want_found.outside, 0);
      s.matches = [&] {
        return same_bits(patches, want_patches) && same_bits(canvas, want_canvas) &&
               same_bits(weights, want_weights) && found == want_found &&
               diagnosed(nullptr) == want_found;
      };
      sweep(s);
    }
  ptp_extract_plan_destroy(plan);
}

// Positions to patches in one call: every output (groups, coordinates,
// patches) untouched by a failure, and the thread's diagnostics say none.
TEST(FaultInjection, GroupedPatches) {
  const ptychopatch::Context context = test_support::cpu_context(2);
  ptp_context* const ctx = context.get();
  std::vector<double> x, y;
  for (int i = 0; i < 120; ++i) {
    x.push_back(4.0 + std::fmod(i * 7.31, 28.0));
    y.push_back(4.0 + std::fmod(i * 3.17, 32.0));
  }
  ptp_group_desc g;
  ptp_group_desc_init(&g, sizeof g);
  g.num_samples = 30;
  g.num_neighbors = 6;
  g.group_size = 4;
  g.seed = 7;
  ptp_extract_desc d;
  ptp_extract_desc_init(&d, sizeof d);
  d.height = 40;
  d.width = 36;
  d.patch_size = 8;
  d.group_size = 4;
  using Complex = std::complex<float>;
  std::vector<Complex> object(40 * 36);
  for (size_t i = 0; i < object.size(); ++i) object[i] = {std::cos(0.07f * i), -0.25f};
  std::vector<int64_t> nn(30 * 4);
  std::vector<double> coords(30 * 8), offsets(30 * 2), relative(30 * 8);
  std::vector<Complex> patches(30 * 4 * 64);
  Scenario s;
  s.name = "ptp_grouped_patches";
  s.reset = [&] {
    std::fill(nn.begin(), nn.end(), -7);
    for (auto* v : {&coords, &offsets, &relative}) std::fill(v->begin(), v->end(), kSentinel);
    std::fill(patches.begin(), patches.end(), Complex(-7.0f, -7.0f));
  };
  s.run = [&] {
    return ptp_grouped_patches(ctx, &g, &d, object.data(), x.data(), y.data(), 120, nn.data(),
                               coords.data(), offsets.data(), relative.data(), patches.data(),
                               patches.size() * 8);
  };
  s.untouched = [&] {
    for (int64_t v : nn)
      if (v != -7) return false;
    for (const auto* values : {&coords, &offsets, &relative})
      for (double v : *values)
        if (v != kSentinel) return false;
    for (const Complex& v : patches)
      if (v != Complex(-7.0f, -7.0f)) return false;
    return diagnosed(nullptr).call == PTP_DIAGNOSED_NONE;
  };
  s.reset();
  ASSERT_EQ(s.run(), PTP_SUCCESS) << ptp_last_error_message();
  const std::vector<int64_t> want_nn = nn;
  const std::vector<double> want_coords = coords, want_offsets = offsets, want_relative = relative;
  const std::vector<Complex> want_patches = patches;
  const Diagnosed want_found = diagnosed(nullptr);
  s.matches = [&] {
    return nn == want_nn && same_bits(coords, want_coords) && same_bits(offsets, want_offsets) &&
           same_bits(relative, want_relative) && same_bits(patches, want_patches) &&
           diagnosed(nullptr) == want_found;
  };
  sweep(s);
}

TEST(FaultInjection, Grouping) {
  const ptychopatch::Context context = test_support::cpu_context(2);
  ptp_context* const ctx = context.get();
  std::vector<double> x, y;
  for (int i = 0; i < 300; ++i) {
    x.push_back(std::fmod(i * 7.31, 50.0));
    y.push_back(std::fmod(i * 3.17, 40.0));
  }
  for (const bool oversample : {false, true}) {
    ptp_group_desc g;
    ptp_group_desc_init(&g, sizeof g);
    g.num_samples = oversample ? 400 : 120;
    g.num_neighbors = 7;
    g.group_size = 4;
    g.seed = 99;
    g.oversample = oversample;
    const size_t b = static_cast<size_t>(g.num_samples);
    std::vector<int64_t> nn(b * 4), nn_expected;
    std::vector<double> coords(b * 8), offsets(b * 2), relative(b * 8), coords_expected;
    ASSERT_EQ(ptp_group_neighbors(ctx, &g, x.data(), y.data(), 300, nn.data(), coords.data(),
                                  offsets.data(), relative.data()),
              PTP_SUCCESS);
    nn_expected = nn;
    coords_expected = coords;
    const std::vector<double> offsets_expected = offsets, relative_expected = relative;
    Scenario s;
    s.name = oversample ? "ptp_group_neighbors (oversampled)" : "ptp_group_neighbors";
    s.reset = [&] {
      std::fill(nn.begin(), nn.end(), -7);
      for (auto* v : {&coords, &offsets, &relative}) std::fill(v->begin(), v->end(), kSentinel);
    };
    s.run = [&] {
      return ptp_group_neighbors(ctx, &g, x.data(), y.data(), 300, nn.data(), coords.data(),
                                 offsets.data(), relative.data());
    };
    s.untouched = [&] {
      for (int64_t v : nn)
        if (v != -7) return false;
      for (auto* values : {&coords, &offsets, &relative})
        for (double v : *values)
          if (v != kSentinel) return false;
      return true;
    };
    s.matches = [&] {
      return nn == nn_expected && same_bits(coords, coords_expected) &&
             same_bits(offsets, offsets_expected) && same_bits(relative, relative_expected);
    };
    sweep(s);
  }
}

// One scene of h x w float32 Bayer frames: a reference and up to three
// frames moved circularly by whole pixels.
struct Scene {
  int h, w, count;
  std::vector<float> reference;
  std::vector<std::vector<float>> moved;
  const void* frames[3];

  Scene(int rows, int cols, int frames_count = 3)
      : h(rows), w(cols), count(frames_count), reference(static_cast<size_t>(rows * cols)) {
    for (int yy = 0; yy < h; ++yy)
      for (int xx = 0; xx < w; ++xx)
        reference[yy * w + xx] = float((xx * 7 + yy * 13) % 23) + float(xx * yy % 5);
    moved.assign(count, std::vector<float>(reference.size()));
    for (int f = 0; f < count; ++f) {
      for (int yy = 0; yy < h; ++yy)
        for (int xx = 0; xx < w; ++xx)
          moved[f][yy * w + xx] = reference[((yy + 2 * f) % h) * w + (xx + w - 2) % w];
      frames[f] = moved[f].data();
    }
  }
};

// An estimator of ptp_align_desc (combine, method, verify).
struct Estimator {
  const char* id;  // the test's name
  const char* name;
  int32_t combine;
  int32_t method;
  int32_t verify;
};

// Its name in gtest's messages.
void PrintTo(const Estimator& e, std::ostream* os) {
  *os << e.name;
}

ptp_align_desc align_desc(const Scene& scene, const Estimator& e) {
  ptp_align_desc d;
  ptp_align_desc_init(&d, sizeof d);
  d.height = scene.h;
  d.width = scene.w;
  d.cfa = PTP_CFA_BAYER;
  d.frame_dtype = PTP_DTYPE_FLOAT32;
  d.fft_planning = PTP_FFT_PLANNING_ESTIMATE;
  d.method = e.method;
  if (e.method != PTP_ALIGN_METHOD_RAWNIND) {
    d.combine = e.combine;
    d.verify = e.verify;
    d.upsample_factor = 4;
  }
  return d;
}

// Every output of an alignment call, filled with a sentinel before each
// run, and their undisturbed values.
struct AlignOutputs {
  std::vector<double> shifts, planes, confidence;
  std::vector<ptp_align_result> results, sentinel_results;

  AlignOutputs(int64_t num_frames, int64_t num_planes)
      : shifts(static_cast<size_t>(2 * num_frames)),
        planes(static_cast<size_t>(num_frames * num_planes * 2)),
        confidence(static_cast<size_t>(num_frames)),
        results(static_cast<size_t>(num_frames)) {
    ptp_align_result r;
    std::memset(&r, 0xA5, sizeof r);
    sentinel_results.assign(results.size(), r);
  }
  void reset() {
    for (auto* v : {&shifts, &planes, &confidence}) std::fill(v->begin(), v->end(), kSentinel);
    results = sentinel_results;
  }
  bool untouched() const {
    for (const auto* values : {&shifts, &planes, &confidence})
      for (double v : *values)
        if (v != kSentinel) return false;
    return same_bits(results, sentinel_results);
  }
  bool same_as(const AlignOutputs& o) const {
    return same_bits(shifts, o.shifts) && same_bits(planes, o.planes) &&
           same_bits(confidence, o.confidence) && same_bits(results, o.results);
  }
};

// The calls an alignment sweep makes, each run on the same context.
enum class AlignCall {
  // ptp_align_execute on one plan, its reference set again before each run
  // (not failed): the call that fills the plan's caches of the reference.
  kExecute,
  kExecuteFrames,  // ptp_align_execute_frames, the same
  kReference,      // ptp_align_set_reference + ptp_align_execute on one plan
  kWhole,          // a new plan each run: create + set_reference + execute
  // ptp_align_set_reference with another frame, on a plan that has one;
  // where it fails, an execute (nothing failing) must give the result of
  // the reference the plan had.
  kAnotherReference,
};

void alignment_sweep(const Scene& scene, const Estimator& estimator, AlignCall call,
                     long max_points) {
  const ptychopatch::Context context = test_support::cpu_context(2);
  ptp_context* const ctx = context.get();
  const ptp_align_desc d = align_desc(scene, estimator);
  ptp_align_plan* plan = nullptr;
  ASSERT_EQ(ptp_align_plan_create(ctx, &d, &plan), PTP_SUCCESS) << ptp_last_error_message();
  ASSERT_EQ(ptp_align_set_reference(plan, scene.reference.data()), PTP_SUCCESS);
  int64_t num_planes = 0;
  ASSERT_EQ(ptp_align_plan_num_planes(plan, &num_planes), PTP_SUCCESS);
  AlignOutputs out(scene.count, num_planes);

  // kAnotherReference: the plan's first reference is the scene's, the
  // other a moved frame of it; `kept` is the execute after a failed switch.
  const void* const other = scene.moved.back().data();
  AlignOutputs kept(scene.count, num_planes);
  AlignOutputs with_first(scene.count, num_planes);
  bool kept_first = true;

  std::string message;
  const auto execute_into = [&](ptp_align_plan* p, AlignOutputs& o) {
    return call == AlignCall::kExecuteFrames
               ? ptp_align_execute_frames(p, scene.frames, scene.count, o.results.data(),
                                          o.planes.data())
               : ptp_align_execute(p, scene.frames, scene.count, o.shifts.data(), o.planes.data(),
                                   o.confidence.data());
  };
  const auto execute = [&](ptp_align_plan* p) {
    return call == AlignCall::kExecuteFrames
               ? ptp_align_execute_frames(p, scene.frames, scene.count, out.results.data(),
                                          out.planes.data())
               : ptp_align_execute(p, scene.frames, scene.count, out.shifts.data(),
                                   out.planes.data(), out.confidence.data());
  };
  Scenario s;
  s.max_points = max_points;
  s.name = std::string(call == AlignCall::kExecute         ? "ptp_align_execute"
                       : call == AlignCall::kExecuteFrames ? "ptp_align_execute_frames"
                       : call == AlignCall::kReference     ? "ptp_align_set_reference + execute"
                       : call == AlignCall::kAnotherReference
                           ? "ptp_align_set_reference to another frame + execute"
                           : "ptp_align_plan_create + set_reference + execute") +
           " (" + estimator.name + ", " + std::to_string(scene.h) + " x " +
           std::to_string(scene.w) + ")";
  if (call == AlignCall::kExecute || call == AlignCall::kExecuteFrames ||
      call == AlignCall::kAnotherReference)
    s.setup = [&] {
      ASSERT_EQ(ptp_align_set_reference(plan, scene.reference.data()), PTP_SUCCESS);
    };
  s.reset = [&] { out.reset(); };
  s.run = [&] {
    ptp_status status = PTP_SUCCESS;
    if (call == AlignCall::kWhole) {
      ptp_align_plan* made = nullptr;
      status = ptp_align_plan_create(ctx, &d, &made);
      if (status == PTP_SUCCESS) status = ptp_align_set_reference(made, scene.reference.data());
      if (status == PTP_SUCCESS) status = execute(made);
      message = ptp_last_error_message();  // before destroy clears it
      ptp_align_plan_destroy(made);
      return status;
    }
    if (call == AlignCall::kReference)
      status = ptp_align_set_reference(plan, scene.reference.data());
    if (call == AlignCall::kAnotherReference) {
      kept_first = true;
      status = ptp_align_set_reference(plan, other);
      if (status != PTP_SUCCESS) {
        message = ptp_last_error_message();
        kept.reset();
        kept_first = execute_into(plan, kept) == PTP_SUCCESS && kept.same_as(with_first);
        return status;
      }
    }
    if (status == PTP_SUCCESS) status = execute(plan);
    message = ptp_last_error_message();
    return status;
  };
  s.message = [&] { return message; };
  s.untouched = [&] { return out.untouched() && kept_first; };
  if (call == AlignCall::kAnotherReference) {
    with_first.reset();
    ASSERT_EQ(execute_into(plan, with_first), PTP_SUCCESS) << ptp_last_error_message();
  }
  out.reset();
  ASSERT_EQ(s.run(), PTP_SUCCESS) << message;
  const AlignOutputs expected = out;
  if (call == AlignCall::kAnotherReference) {
    ASSERT_FALSE(expected.same_as(with_first)) << "the other reference must change the result";
  }
  s.matches = [&] { return out.same_as(expected); };
  sweep(s);
  ptp_align_plan_destroy(plan);
}

// The cross-correlation of one pair: plan creation and a call whose
// inputs and output lack FFTW's alignment (so it also copies them), from a
// fresh plan each run (its workspace is made by the call).
// ptp_correlate_execute, or _f64 for a float64 plan.
ptp_status execute_pair(const ptp_correlate_plan* plan, const float* reference, const float* moving,
                        void* spectrum, float* correlation) {
  return ptp_correlate_execute(plan, reference, moving, spectrum, correlation);
}
ptp_status execute_pair(const ptp_correlate_plan* plan, const double* reference,
                        const double* moving, void* spectrum, double* correlation) {
  return ptp_correlate_execute_f64(plan, reference, moving, spectrum, correlation);
}

template <class Real>
void pair_correlation_sweep(int64_t ny, int64_t nx) {
  const int64_t n = ny * nx, bins = ny * (nx / 2 + 1);
  ptp_context* ctx = nullptr;
  ptp_context_options o;
  ptp_context_options_init(&o, sizeof o);
  o.backend = PTP_BACKEND_CPU;
  ASSERT_EQ(ptp_context_create(&o, &ctx), PTP_SUCCESS);
  std::vector<Real> ref(n + 1), mov(n + 1), spectrum(2 * bins), correlation(n + 1);
  for (int64_t i = 0; i < n; ++i) {
    ref[i + 1] = std::sin(Real(0.3) * Real(i));
    mov[i + 1] = std::cos(Real(0.7) * Real(i)) + Real(0.1) * Real(i % 5);
  }
  std::vector<Real> want_spectrum, want_correlation;
  std::string last_message;  // the failing call's (destroy clears it)
  bool retry_ok = true;
  Scenario s;
  s.name = sizeof(Real) == 8 ? "ptp_correlate_plan_create + ptp_correlate_execute_f64"
                             : "ptp_correlate_plan_create + ptp_correlate_execute";
  s.reset = [&] {
    std::fill(spectrum.begin(), spectrum.end(), Real(kSentinel));
    std::fill(correlation.begin(), correlation.end(), Real(kSentinel));
  };
  s.run = [&] {
    ptp_correlate_desc desc;
    ptp_correlate_desc_init(&desc, sizeof desc);
    desc.height = ny;
    desc.width = nx;
    desc.fft_planning = PTP_FFT_PLANNING_ESTIMATE;
    desc.dtype = sizeof(Real) == 8 ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
    ptp_correlate_plan* plan = nullptr;
    ptp_status status = ptp_correlate_plan_create(ctx, &desc, &plan);
    if (status != PTP_SUCCESS) {
      last_message = ptp_last_error_message();
      return status;
    }
    status =
        execute_pair(plan, ref.data() + 1, mov.data() + 1, spectrum.data(), correlation.data() + 1);
    retry_ok = true;
    if (status != PTP_SUCCESS) {
      last_message = ptp_last_error_message();
      // The same plan again (the failure is injected once): it must work,
      // whatever half of its workspace the failed call had made.
      std::vector<Real> again_spectrum(spectrum.size()), again_correlation(correlation.size());
      retry_ok = execute_pair(plan, ref.data() + 1, mov.data() + 1, again_spectrum.data(),
                              again_correlation.data() + 1) == PTP_SUCCESS &&
                 again_spectrum == want_spectrum &&
                 std::equal(again_correlation.begin() + 1, again_correlation.end(),
                            want_correlation.begin() + 1);
    }
    ptp_correlate_plan_destroy(plan);
    return status;
  };
  s.untouched = [&] {
    if (!retry_ok) return false;
    for (Real v : spectrum)
      if (v != Real(kSentinel)) return false;
    for (Real v : correlation)
      if (v != Real(kSentinel)) return false;
    return true;
  };
  s.matches = [&] {
    if (want_spectrum.empty()) {
      want_spectrum = spectrum;
      want_correlation = correlation;
    }
    return spectrum == want_spectrum && correlation == want_correlation &&
           correlation[0] == Real(kSentinel);
  };
  s.message = [&] { return last_message; };
  sweep(s);
  ptp_context_destroy(ctx);
}

TEST(FaultInjection, PairCorrelation) {
  pair_correlation_sweep<float>(12, 10);
}

// A side of 37: Bluestein's algorithm, both images in one transform
// (src/correlate/line_correlation.hpp), its chirp tables and blocks.
TEST(FaultInjection, PairCorrelationByBluestein) {
  pair_correlation_sweep<float>(12, 37);
}

// The same in float64: FFTW's double plans, and Bluestein's algorithm in
// double.
TEST(FaultInjection, PairCorrelationInFloat64) {
  pair_correlation_sweep<double>(12, 10);
  pair_correlation_sweep<double>(12, 37);
}

constexpr Estimator kDefault{"Default", "luma, refine (the default)", PTP_COMBINE_LUMA,
                             PTP_ALIGN_METHOD_CORRELATION, PTP_ALIGN_VERIFY_REFINE};

// Plan creation, the reference and a call, on a new plan and on one plan.
TEST(FaultInjection, Alignment) {
  const Scene scene(32, 40);
  alignment_sweep(scene, kDefault, AlignCall::kWhole, kAlignPoints);
  alignment_sweep(scene, kDefault, AlignCall::kReference, kAlignPoints);
}

// The default estimator makes its images in bands of 32 rows, one band per
// thread: with two bands on two threads, a failure in either thread's
// buffers must come back as a status (it once left the other thread waiting
// at the region's barrier for ever).
TEST(FaultInjection, AlignmentImagesInSeveralBands) {
  alignment_sweep(Scene(72, 40), kDefault, AlignCall::kWhole, kAlignPoints);
}

// Frames large enough for the polish's least squares to run (at 32 x 40
// its coarsest scale has too few samples, and it stops before it reads
// what it cached of the reference): a failure while it caches the
// reference's smoothed images must leave that cache whole for the plan's
// next call (it once kept the new cut without its weights, which the next
// call read: SIGSEGV).
TEST(FaultInjection, AlignmentPolishOnTheSamePlan) {
  alignment_sweep(Scene(64, 64, 1), kDefault, AlignCall::kExecute, 0);
}

// The file's bytes ("" where it cannot be read).
std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// FFTW's wisdom to a file: an allocation that fails is
// PTP_ERROR_OUT_OF_MEMORY and leaves the file as it was.
TEST(FaultInjection, WisdomExport) {
  // Some wisdom to export: a measured plan.
  {
    const Scene scene(32, 40);
    ptp_align_desc d = align_desc(scene, kDefault);
    d.fft_planning = PTP_FFT_PLANNING_MEASURE;
    const ptychopatch::Context context = test_support::cpu_context(1);
    ptp_align_plan* plan = nullptr;
    ASSERT_EQ(ptp_align_plan_create(context.get(), &d, &plan), PTP_SUCCESS)
        << ptp_last_error_message();
    ptp_align_plan_destroy(plan);
  }
  const std::string path = ::testing::TempDir() + "ptychopatch_fault_injection.wisdom";
  const std::string sentinel = "the file as it was\n";
  ASSERT_EQ(ptp_fft_wisdom_export(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  const std::string expected = file_text(path);
  ASSERT_NE(expected.find("fftw"), std::string::npos);
  Scenario s;
  s.name = "ptp_fft_wisdom_export";
  s.reset = [&] { write_file(path, sentinel); };
  s.run = [&] { return ptp_fft_wisdom_export(path.c_str()); };
  s.untouched = [&] { return file_text(path) == sentinel; };
  s.matches = [&] { return file_text(path) == expected; };
  sweep(s);

  // The C library's fopen out of memory (ENOMEM): out of memory too.
  write_file(path, sentinel);
  g_fopen_out_of_memory = true;
  const ptp_status status = ptp_fft_wisdom_export(path.c_str());
  g_fopen_out_of_memory = false;
  EXPECT_EQ(status, PTP_ERROR_OUT_OF_MEMORY)
      << ptp_status_name(status) << ": " << ptp_last_error_message();
  EXPECT_EQ(file_text(path), sentinel);
  std::remove(path.c_str());
}

// Reading it back: an allocation that fails, or fopen's ENOMEM, is
// PTP_ERROR_OUT_OF_MEMORY, not a file that is not wisdom; the next call
// reads it.
TEST(FaultInjection, WisdomImport) {
  const std::string path = ::testing::TempDir() + "ptychopatch_fault_injection_import.wisdom";
  ASSERT_EQ(ptp_fft_wisdom_export(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  write_file(path, file_text(path) + std::string(8192, ' '));  // more than one read's block
  ASSERT_EQ(ptp_fft_wisdom_import(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  Scenario s;
  s.name = "ptp_fft_wisdom_import";
  s.reset = [] {};
  s.run = [&] { return ptp_fft_wisdom_import(path.c_str()); };
  s.untouched = [] { return true; };
  s.matches = [] { return true; };
  sweep(s);

  g_fopen_out_of_memory = true;
  const ptp_status status = ptp_fft_wisdom_import(path.c_str());
  g_fopen_out_of_memory = false;
  EXPECT_EQ(status, PTP_ERROR_OUT_OF_MEMORY)
      << ptp_status_name(status) << ": " << ptp_last_error_message();
  EXPECT_EQ(ptp_fft_wisdom_import(path.c_str()), PTP_SUCCESS) << ptp_last_error_message();
  std::remove(path.c_str());
}

// Each estimator's calls on one plan: after a failure the same plan gives
// the undisturbed result (what a failed call cached must not be read).
class FaultInjectionAlignment : public testing::TestWithParam<Estimator> {};

TEST_P(FaultInjectionAlignment, ExecuteOnTheSamePlan) {
  const Scene scene(32, 40);
  alignment_sweep(scene, GetParam(), AlignCall::kExecute, kAlignPoints);
  alignment_sweep(scene, GetParam(), AlignCall::kExecuteFrames, kAlignPoints);
}

// A reference that fails to replace the plan's leaves the plan's in place:
// the next execute aligns to it, bit for bit (it once left the plan with
// no reference at all).
TEST_P(FaultInjectionAlignment, AFailedReferenceKeepsThePlansReference) {
  alignment_sweep(Scene(32, 40), GetParam(), AlignCall::kAnotherReference, kAlignPoints);
}

INSTANTIATE_TEST_SUITE_P(
    Estimators, FaultInjectionAlignment,
    testing::Values(kDefault,
                    Estimator{"LumaNoLoop", "luma, no loop", PTP_COMBINE_LUMA,
                              PTP_ALIGN_METHOD_CORRELATION, PTP_ALIGN_VERIFY_NONE},
                    Estimator{"RawNind", "RawNIND's method", PTP_COMBINE_LUMA,
                              PTP_ALIGN_METHOD_RAWNIND, PTP_ALIGN_VERIFY_NONE}),
    [](const testing::TestParamInfo<Estimator>& info) { return std::string(info.param.id); });

}  // namespace
