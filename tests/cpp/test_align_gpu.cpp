// The cuFFT backend of scene alignment (ptp_align_* on a GPU context)
// against the CPU (FFTW) backend through the public C ABI: synthetic smooth
// scenes translated by known integer and fractional amounts, Bayer, X-Trans
// and planar frames, uint16 and float32, odd sizes, degenerate plane shapes,
// tiny memory budgets (many batches), constant frames, plan reuse, progress
// and cancellation. Integer shifts must equal the CPU's exactly; refined
// shifts within 1e-3 plane pixels; confidences closely. Skips, saying why,
// where no device is usable.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test_support.hpp"
#include "ptychopatch.h"
#include "ptychopatch.hpp"

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ------------------------------------------------------------ the scenes

// A continuous, non-periodic, broadband texture: the cubic B-spline of a
// random lattice of one sensor pixel's spacing. Being defined at every real
// position, a frame translated by a fractional amount is exact; being
// broadband (like a photograph, unlike a few smooth blobs), phase
// correlation finds its translations despite the open borders.
constexpr int64_t kLattice = 448;
constexpr double kLatticeOrigin = -96.0;

const std::vector<float>& lattice() {
  static const std::vector<float> values = [] {
    std::vector<float> v(static_cast<size_t>(kLattice * kLattice));
    uint32_t state = 2024;
    for (float& x : v) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(state >> 8) / 16777216.0f;
    }
    return v;
  }();
  return values;
}

double bspline3(double t) {
  t = std::fabs(t);
  if (t < 1.0) return 2.0 / 3.0 - t * t + 0.5 * t * t * t;
  if (t < 2.0) return (2.0 - t) * (2.0 - t) * (2.0 - t) / 6.0;
  return 0.0;
}

double texture(double y, double x) {
  const double gy = y - kLatticeOrigin;
  const double gx = x - kLatticeOrigin;
  const int64_t iy = static_cast<int64_t>(std::floor(gy));
  const int64_t ix = static_cast<int64_t>(std::floor(gx));
  const std::vector<float>& values = lattice();
  double v = 0.0;
  for (int64_t a = iy - 1; a <= iy + 2; ++a) {
    const double wy = bspline3(gy - static_cast<double>(a));
    const int64_t row = std::clamp<int64_t>(a, 0, kLattice - 1) * kLattice;
    for (int64_t b = ix - 1; b <= ix + 2; ++b)
      v += wy * bspline3(gx - static_cast<double>(b)) *
           values[static_cast<size_t>(row + std::clamp<int64_t>(b, 0, kLattice - 1))];
  }
  return v;
}

// The scene as one colour channel sees it (a per-channel gain and offset).
double scene(double y, double x, int channel) {
  return (0.5 + 2.0 * texture(y, x)) * (1.0 + 0.2 * channel) + 0.05 * channel;
}

struct Layout {
  ptp_cfa cfa;
  int64_t channels;
  int64_t period;
};

constexpr Layout kNone{PTP_CFA_NONE, 1, 1};
constexpr Layout kPlanar{PTP_CFA_NONE, 3, 1};
constexpr Layout kBayer{PTP_CFA_BAYER, 1, 2};
constexpr Layout kXTrans{PTP_CFA_XTRANS, 1, 6};

// X-Trans colour codes (Fujifilm's 6x6 layout).
constexpr int32_t kXTransPattern[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 2, 1, 1,
                                        1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 0, 1, 1};
constexpr int32_t kRggb[4] = {0, 1, 3, 2};

int colour_at(const Layout& layout, int64_t y, int64_t x) {
  if (layout.cfa == PTP_CFA_BAYER) return kRggb[(y % 2) * 2 + x % 2] % 3;
  if (layout.cfa == PTP_CFA_XTRANS) return kXTransPattern[(y % 6) * 6 + x % 6];
  return 0;
}

// A frame of the scene translated by (+ty, +tx): frame(y, x) =
// scene(y - ty, x - tx), so its registration shift is (-ty, -tx).
struct Frame {
  std::vector<uint16_t> u16;
  std::vector<float> f32;
  const void* data(ptp_dtype dtype) const {
    return dtype == PTP_DTYPE_UINT16 ? static_cast<const void*>(u16.data())
                                     : static_cast<const void*>(f32.data());
  }
};

Frame make_frame(const Layout& layout, int64_t h, int64_t w, double ty, double tx,
                 double offset_y = 0.0, double offset_x = 0.0) {
  Frame f;
  const size_t n = static_cast<size_t>(layout.channels * h * w);
  f.u16.resize(n);
  f.f32.resize(n);
  for (int64_t c = 0; c < layout.channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const int channel = layout.channels > 1 ? static_cast<int>(c) : colour_at(layout, y, x);
        const double v = scene(y - ty + offset_y, x - tx + offset_x, channel);
        const size_t i = static_cast<size_t>((c * h + y) * w + x);
        f.u16[i] = static_cast<uint16_t>(std::lround(std::clamp(600.0 + 9000.0 * v, 0.0, 65535.0)));
        f.f32[i] = static_cast<float>(v);
      }
  return f;
}

Frame constant_frame(const Layout& layout, int64_t h, int64_t w, double value) {
  Frame f;
  const size_t n = static_cast<size_t>(layout.channels * h * w);
  f.u16.assign(n, static_cast<uint16_t>(value));
  f.f32.assign(n, static_cast<float>(value));
  return f;
}

// ----------------------------------------------------------- the library

struct Options {
  Layout layout = kBayer;
  int64_t height = 64;
  int64_t width = 64;
  ptp_dtype dtype = PTP_DTYPE_UINT16;
  int32_t upsample = 1;
  bool snap = false;
  int64_t max_shift = 0;
  int32_t verify = PTP_ALIGN_VERIFY_NONE;  // ptp_align_desc::verify
};

ptp_align_desc make_desc(const Options& o) {
  ptp_align_desc desc;
  ptychopatch::check(ptp_align_desc_init(&desc, sizeof desc));
  desc.height = o.height;
  desc.width = o.width;
  desc.channels = o.layout.channels;
  desc.frame_dtype = o.dtype;
  desc.cfa = o.layout.cfa;
  if (o.layout.cfa == PTP_CFA_BAYER) std::copy(kRggb, kRggb + 4, desc.pattern);
  if (o.layout.cfa == PTP_CFA_XTRANS) std::copy(kXTransPattern, kXTransPattern + 36, desc.pattern);
  desc.upsample_factor = o.upsample;
  desc.snap = o.snap ? 1 : 0;
  desc.max_shift = o.max_shift;
  desc.verify = o.verify;
  return desc;
}

struct PlanFree {
  void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
};
using Plan = std::unique_ptr<ptp_align_plan, PlanFree>;

Plan make_plan(ptychopatch::Context& ctx, const Options& o) {
  const ptp_align_desc desc = make_desc(o);
  ptp_align_plan* raw = nullptr;
  ptychopatch::check(ptp_align_plan_create(ctx.get(), &desc, &raw));
  return Plan(raw);
}

int64_t num_planes(const Plan& plan) {
  int64_t n = 0;
  ptychopatch::check(ptp_align_plan_num_planes(plan.get(), &n));
  return n;
}

struct Results {
  std::vector<double> shifts;        // frames x 2
  std::vector<double> plane_shifts;  // frames x planes x 2
  std::vector<double> confidence;    // frames
};

// Runs set_reference + execute; returns the status of execute, the outputs
// pre-filled with NaN.
ptp_status run(const Plan& plan, const Frame& reference, const std::vector<Frame>& moving,
               ptp_dtype dtype, Results& r) {
  const int64_t planes = num_planes(plan);
  const size_t n = moving.size();
  r.shifts.assign(2 * n, kNaN);
  r.plane_shifts.assign(2 * n * static_cast<size_t>(planes), kNaN);
  r.confidence.assign(n, kNaN);
  ptychopatch::check(ptp_align_set_reference(plan.get(), reference.data(dtype)));
  std::vector<const void*> frames;
  for (const Frame& f : moving) frames.push_back(f.data(dtype));
  return ptp_align_execute(plan.get(), frames.data(), static_cast<int64_t>(n), r.shifts.data(),
                           r.plane_shifts.data(), r.confidence.data());
}

Results align(ptychopatch::Context& ctx, const Options& o, const Frame& reference,
              const std::vector<Frame>& moving) {
  Plan plan = make_plan(ctx, o);
  Results r;
  ptychopatch::check(run(plan, reference, moving, o.dtype, r));
  return r;
}

ptychopatch::Context gpu_context(uint64_t budget = 0) {
  ptychopatch::ContextOptions options;
  options.backend = PTP_BACKEND_GPU;
  options.device_memory_budget = budget;
  return ptychopatch::Context(options);
}

// Integer shifts exactly equal; refined ones within 1e-3 plane pixels
// (plane_shifts are in sensor pixels: period plane pixels each).
void expect_same(const Results& gpu, const Results& cpu, const Options& o,
                 const std::string& what) {
  ASSERT_EQ(gpu.plane_shifts.size(), cpu.plane_shifts.size());
  const double tolerance = o.upsample == 1 ? 0.0 : 1e-3 * static_cast<double>(o.layout.period);
  // NaN (a plane or frame without information) must be NaN on both.
  for (size_t i = 0; i < cpu.plane_shifts.size(); ++i) {
    ASSERT_EQ(std::isnan(gpu.plane_shifts[i]), std::isnan(cpu.plane_shifts[i]))
        << what << ": plane shift value " << i;
    if (std::isnan(cpu.plane_shifts[i])) continue;
    if (o.upsample == 1)
      ASSERT_EQ(gpu.plane_shifts[i], cpu.plane_shifts[i]) << what << ": plane shift value " << i;
    else
      ASSERT_NEAR(gpu.plane_shifts[i], cpu.plane_shifts[i], tolerance)
          << what << ": plane shift value " << i;
  }
  for (size_t i = 0; i < cpu.shifts.size(); ++i) {
    ASSERT_EQ(std::isnan(gpu.shifts[i]), std::isnan(cpu.shifts[i])) << what << ": shift " << i;
    if (std::isnan(cpu.shifts[i])) continue;
    ASSERT_NEAR(gpu.shifts[i], cpu.shifts[i], tolerance + 1e-12) << what << ": shift value " << i;
  }
  for (size_t i = 0; i < cpu.confidence.size(); ++i)
    ASSERT_NEAR(gpu.confidence[i], cpu.confidence[i], 2e-3) << what << ": confidence " << i;
}

// Sensor-pixel translations of the moving frames: whole plane pixels,
// fractions, both signs.
std::vector<std::pair<double, double>> translations(int64_t period) {
  const double p = static_cast<double>(period);
  return {{0.0, 0.0},          {2 * p, -3 * p},     {-p, p},
          {-1.3 * p, 0.6 * p}, {0.25 * p, 1.7 * p}, {-3.4, 2.2}};
}

struct Scene {
  Frame reference;
  std::vector<Frame> moving;
  std::vector<std::pair<double, double>> truth;
};

Scene make_scene(const Options& o) {
  Scene s;
  s.reference = make_frame(o.layout, o.height, o.width, 0.0, 0.0);
  s.truth = translations(o.layout.period);
  for (const auto& [ty, tx] : s.truth)
    s.moving.push_back(make_frame(o.layout, o.height, o.width, ty, tx));
  return s;
}

void compare_with_cpu(const Options& o, const std::string& what, uint64_t budget = 0) {
  const Scene s = make_scene(o);
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptychopatch::Context gpu = gpu_context(budget);
  const Results want = align(cpu, o, s.reference, s.moving);
  const Results got = align(gpu, o, s.reference, s.moving);
  expect_same(got, want, o, what);
  // The estimate itself: the moving frames were translated by +truth, so the shift is
  // -truth, within half an image pixel (2 sensor pixels for Bayer, 3 for X-Trans) at
  // whole image pixels, else within the coarse stage's reach.
  if (o.snap || o.height < 32 || o.width < 32) return;
  const double stride = o.layout.period == 6 ? 3.0 : static_cast<double>(o.layout.period);
  const double slack = o.upsample == 1 ? 0.5 * stride + 0.3 : 0.75;
  for (size_t f = 0; f < s.truth.size(); ++f) {
    EXPECT_NEAR(got.shifts[2 * f], -s.truth[f].first, slack) << what << ": frame " << f;
    EXPECT_NEAR(got.shifts[2 * f + 1], -s.truth[f].second, slack) << what << ": frame " << f;
  }
}

std::string describe(const Options& o) {
  const char* cfa = o.layout.cfa == PTP_CFA_BAYER    ? "bayer"
                    : o.layout.cfa == PTP_CFA_XTRANS ? "xtrans"
                    : o.layout.channels > 1          ? "planar"
                                                     : "none";
  return std::string(cfa) + " " + std::to_string(o.height) + "x" + std::to_string(o.width) + " " +
         (o.dtype == PTP_DTYPE_UINT16 ? "uint16" : "float32") + " up" + std::to_string(o.upsample) +
         (o.max_shift > 0 ? " max_shift " + std::to_string(o.max_shift) : "");
}

// The GPU's results equal the CPU's on o's scene (expect_same), nothing
// about the truth.
void expect_backends_agree(const Options& o) {
  const Scene s = make_scene(o);
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptychopatch::Context gpu = gpu_context();
  expect_same(align(gpu, o, s.reference, s.moving), align(cpu, o, s.reference, s.moving), o,
              describe(o));
}

// ------------------------------------------------------------------ tests

TEST(GpuAlign, BackendIsTheGpu) {
  REQUIRE_GPU();
  // The CPU backend ignores the device budget; the GPU backend cannot
  // transform a reference under 1 KiB (at the first execute, which takes
  // the reference), so this status shows the plan did not fall back to the
  // CPU.
  Options o;
  ptychopatch::Context gpu = gpu_context(1024);
  Plan plan = make_plan(gpu, o);
  const Frame f = make_frame(o.layout, o.height, o.width, 0, 0);
  ASSERT_EQ(ptp_align_set_reference(plan.get(), f.data(o.dtype)), PTP_SUCCESS);
  const void* frames[] = {f.data(o.dtype)};
  double shift[2];
  EXPECT_EQ(ptp_align_execute(plan.get(), frames, 1, shift, nullptr, nullptr),
            PTP_ERROR_OUT_OF_MEMORY);
  EXPECT_NE(std::string(ptp_last_error_message()).find("budget"), std::string::npos)
      << ptp_last_error_message();
}

struct Case {
  Layout layout;
  int64_t height;
  int64_t width;
};

// The luminance image, made on the device (cuda/luma_kernels.cu) and aligned as one
// float32 plane, against the CPU's, made on the host. (526 x 518: an image of
// 262 x 258, transformed as 256 x 256, src/fft/fft_size.hpp.)
class GpuAlignMatchesCpu : public ::testing::TestWithParam<std::tuple<Case, ptp_dtype, int32_t>> {};

TEST_P(GpuAlignMatchesCpu, ShiftsAndConfidence) {
  REQUIRE_GPU();
  const auto& [c, dtype, upsample] = GetParam();
  Options o;
  o.layout = c.layout;
  o.height = c.height;
  o.width = c.width;
  o.dtype = dtype;
  o.upsample = upsample;
  compare_with_cpu(o, describe(o));
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, GpuAlignMatchesCpu,
    ::testing::Combine(::testing::Values(Case{kBayer, 128, 160}, Case{kBayer, 97, 131},
                                         Case{kBayer, 526, 518}, Case{kXTrans, 192, 216},
                                         Case{kXTrans, 101, 167}, Case{kNone, 64, 80},
                                         Case{kNone, 45, 77}, Case{kPlanar, 48, 70}),
                       ::testing::Values(PTP_DTYPE_UINT16, PTP_DTYPE_FLOAT32),
                       ::testing::Values(1, 10)));

// The luminance image made on the device, for frames whose planes change
// within a call (the GPU backend is handed the planes and the reference
// again for each run: full, then blue constant in frames 2 and 3, then full
// again), uint16 and float32 frames: the CPU's results.
TEST(GpuAlign, LumaPlanesChangingWithinACall) {
  REQUIRE_GPU();
  for (ptp_dtype dtype : {PTP_DTYPE_UINT16, PTP_DTYPE_FLOAT32})
    for (int32_t upsample : {1, 10}) {
      Options o;
      o.height = 128;
      o.width = 160;
      o.dtype = dtype;
      o.upsample = upsample;
      Scene s = make_scene(o);
      for (size_t k : {size_t{2}, size_t{3}})
        for (int64_t y = 1; y < o.height; y += 2)
          for (int64_t x = 1; x < o.width; x += 2) {  // RGGB's blue sites
            const size_t i = static_cast<size_t>(y * o.width + x);
            s.moving[k].u16[i] = 1000;
            s.moving[k].f32[i] = 0.1f;
          }
      ptychopatch::Context cpu(PTP_BACKEND_CPU);
      ptychopatch::Context gpu = gpu_context();
      const Results want = align(cpu, o, s.reference, s.moving);
      const Results got = align(gpu, o, s.reference, s.moving);
      const std::string what = describe(o) + " blue flat in frames 2 and 3";
      expect_same(got, want, o, what);
      for (double v : want.shifts) EXPECT_TRUE(std::isfinite(v)) << what;
    }
}

// Options of a bounded search.
Options bounded(const Layout& layout, int64_t height, int64_t width, int64_t bound) {
  Options o;
  o.layout = layout;
  o.height = height;
  o.width = width;
  o.max_shift = bound;
  return o;
}

// Both backends find the same peak of `s` under o's bound, and it lies
// within the bound: a shift beyond it is never returned.
void expect_bounded_alike(const Options& o, const Scene& s) {
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptychopatch::Context gpu = gpu_context();
  const Results want = align(cpu, o, s.reference, s.moving);
  const Results got = align(gpu, o, s.reference, s.moving);
  expect_same(got, want, o, describe(o));
  for (double v : got.shifts) {
    if (std::isnan(v)) continue;
    EXPECT_LE(std::fabs(v), static_cast<double>(o.max_shift)) << describe(o);
  }
}

// A bounded peak search finds the same peak on both backends, and on each
// it is the bounded one.
TEST(GpuAlign, MaxShiftBoundsThePeakSearch) {
  REQUIRE_GPU();
  for (const Layout& layout : {kBayer, kNone})
    for (int64_t bound : {2, 4, 9}) {
      const Options o = bounded(layout, 80, 96, bound);
      expect_bounded_alike(o, make_scene(o));
    }
}

// The bound on planes the peak search splits into several segments (its
// blocks cover about 2^16 floats: 217 rows of this 600 x 300 plane each).
// The frames move by 160 and -225 rows, so the unbounded peaks lie at rows
// 440 and 225, a few rows into the third and second segments: a search
// that tested rows by their place within a segment would take them.
TEST(GpuAlign, MaxShiftBoundsRowsAcrossPeakSearchSegments) {
  REQUIRE_GPU();
  const Options o = bounded(kNone, 600, 300, 9);
  Scene s;
  s.reference = make_frame(o.layout, o.height, o.width, 0.0, 0.0);
  for (const double ty : {160.0, -225.0})
    s.moving.push_back(make_frame(o.layout, o.height, o.width, ty, 0.0));
  expect_bounded_alike(o, s);
}

// The fine stage (ptp_align_desc::verify, REFINE) on the device: its
// check plans run on the GPU too and decide as the CPU's do (a confidence
// of 0 against a trusted one would differ by far more than the tolerance).
// Without a bound no crop of these textured scenes loses its confidence.
TEST(GpuAlign, VerifiedCropsMatchTheCpu) {
  REQUIRE_GPU();
  for (const Layout& layout : {kBayer, kXTrans, kPlanar})
    for (int64_t bound : {0, 3}) {
      Options o;
      o.layout = layout;
      o.height = layout.period == 6 ? 144 : 96;
      o.width = layout.period == 6 ? 156 : 112;
      o.upsample = 10;
      o.max_shift = bound;
      o.verify = PTP_ALIGN_VERIFY_REFINE;
      const Scene s = make_scene(o);
      ptychopatch::Context cpu(PTP_BACKEND_CPU);
      ptychopatch::Context gpu = gpu_context();
      const Results want = align(cpu, o, s.reference, s.moving);
      const Results got = align(gpu, o, s.reference, s.moving);
      expect_same(got, want, o, describe(o) + " refined");
      if (bound != 0) continue;
      o.verify = PTP_ALIGN_VERIFY_NONE;
      const Results unchecked = align(cpu, o, s.reference, s.moving);
      for (size_t i = 0; i < want.confidence.size(); ++i)
        EXPECT_FALSE(want.confidence[i] == 0.0 && unchecked.confidence[i] > 0.0)
            << describe(o) << ": frame " << i;
    }
}

TEST(GpuAlign, FinerUpsampling) {
  REQUIRE_GPU();
  for (int32_t upsample : {2, 20}) {
    Options o;
    o.height = 120;
    o.width = 136;
    o.upsample = upsample;
    compare_with_cpu(o, describe(o));
  }
}

TEST(GpuAlign, Snap) {
  REQUIRE_GPU();
  for (const Layout& layout : {kBayer, kXTrans}) {
    Options o;
    o.layout = layout;
    o.height = layout.period == 6 ? 144 : 96;
    o.width = layout.period == 6 ? 162 : 110;
    o.snap = true;
    o.upsample = 10;
    compare_with_cpu(o, describe(o) + " snap");
  }
}

// Planes of one column (transformed as one transposed row), of one row (a
// batch of 1-D transforms), and of one pixel (nothing to transform).
TEST(GpuAlign, DegeneratePlaneShapes) {
  REQUIRE_GPU();
  const std::pair<int64_t, int64_t> shapes[] = {{64, 2}, {65, 3}, {2, 64}, {3, 71}, {2, 2}, {3, 3}};
  for (const auto& [h, w] : shapes)
    for (int32_t upsample : {1, 10})
      for (ptp_dtype dtype : {PTP_DTYPE_UINT16, PTP_DTYPE_FLOAT32}) {
        Options o;
        o.height = h;
        o.width = w;
        o.upsample = upsample;
        o.dtype = dtype;
        expect_backends_agree(o);
      }
  // Planar single-column and single-row channels.
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{40, 1}, {1, 40}}) {
    Options o;
    o.layout = kPlanar;
    o.height = h;
    o.width = w;
    o.upsample = 10;
    expect_backends_agree(o);
  }
}

// Budgets that leave room for a few frames, then for one frame per batch:
// many batches (and both pipeline parities), the same results.
TEST(GpuAlign, TinyBudgetsForceManyBatches) {
  REQUIRE_GPU();
  for (int32_t upsample : {1, 10}) {
    Options o;
    o.height = 256;
    o.width = 256;
    o.upsample = upsample;
    Scene s = make_scene(o);
    for (int k = 0; k < 6; ++k)  // 11 moving frames
      s.moving.push_back(make_frame(o.layout, o.height, o.width, 0.7 * k - 2, 1.0 - 0.45 * k));
    ptychopatch::Context cpu(PTP_BACKEND_CPU);
    const Results want = align(cpu, o, s.reference, s.moving);
    for (uint64_t budget : {uint64_t{0}, uint64_t{9} << 20, uint64_t{7} << 20, uint64_t{6} << 20,
                            uint64_t{5500} << 10}) {
      ptychopatch::Context gpu = gpu_context(budget);
      Results got;
      Plan plan = make_plan(gpu, o);
      const ptp_status status = run(plan, s.reference, s.moving, o.dtype, got);
      if (status == PTP_ERROR_OUT_OF_MEMORY) {
        // Only the smallest budgets may be too small (the refinement's
        // scratch needs ~1 MiB more); the message has figures.
        EXPECT_LE(budget, uint64_t{6} << 20) << ptp_last_error_message();
        EXPECT_NE(budget, 0u);
        EXPECT_NE(std::string(ptp_last_error_message()).find("budget"), std::string::npos);
        continue;
      }
      ASSERT_EQ(status, PTP_SUCCESS) << ptp_last_error_message();
      expect_same(got, want, o, describe(o) + " budget " + std::to_string(budget));
    }
  }
}

TEST(GpuAlign, BudgetTooSmallForOneFrameIsAClearStatus) {
  REQUIRE_GPU();
  Options o;
  o.height = 512;
  o.width = 512;
  const Scene s = make_scene(o);
  // The smallest budget (in 256 KiB steps) that transforms the reference
  // cannot hold an alignment call's frame slots plus one frame (over 1 MiB
  // more): a clear status, nothing written.
  for (uint64_t budget = uint64_t{4} << 20; budget < (uint64_t{64} << 20); budget += 256 << 10) {
    ptychopatch::Context gpu = gpu_context(budget);
    Plan plan = make_plan(gpu, o);
    const ptp_status status = ptp_align_set_reference(plan.get(), s.reference.data(o.dtype));
    if (status == PTP_ERROR_OUT_OF_MEMORY) continue;
    ASSERT_EQ(status, PTP_SUCCESS) << ptp_last_error_message();
    std::vector<double> shifts(2 * s.moving.size(), kNaN);
    std::vector<const void*> frames;
    for (const Frame& f : s.moving) frames.push_back(f.data(o.dtype));
    EXPECT_EQ(ptp_align_execute(plan.get(), frames.data(), static_cast<int64_t>(frames.size()),
                                shifts.data(), nullptr, nullptr),
              PTP_ERROR_OUT_OF_MEMORY);
    EXPECT_NE(std::string(ptp_last_error_message()).find("budget"), std::string::npos);
    for (double v : shifts) EXPECT_TRUE(std::isnan(v));
    return;
  }
  FAIL() << "no budget under 64 MiB transformed the reference";
}

TEST(GpuAlign, ConstantFramesHaveNoShiftAndZeroConfidence) {
  REQUIRE_GPU();
  for (int32_t upsample : {1, 10})
    for (ptp_dtype dtype : {PTP_DTYPE_UINT16, PTP_DTYPE_FLOAT32}) {
      Options o;
      o.upsample = upsample;
      o.dtype = dtype;
      const Frame flat = constant_frame(o.layout, o.height, o.width, 1000.0);
      const Frame textured = make_frame(o.layout, o.height, o.width, 1.0, -2.0);
      ptychopatch::Context cpu(PTP_BACKEND_CPU);
      ptychopatch::Context gpu = gpu_context();
      // Constant moving frames against a textured reference, and the reverse.
      for (const auto& [ref, mov] : {std::pair<const Frame*, const Frame*>{&textured, &flat},
                                     {&flat, &textured},
                                     {&flat, &flat}}) {
        const Results got = align(gpu, o, *ref, {*mov, *mov});
        const Results want = align(cpu, o, *ref, {*mov, *mov});
        expect_same(got, want, o, describe(o) + " constant");
        for (double v : got.plane_shifts) EXPECT_TRUE(std::isnan(v));
        for (double v : got.shifts) EXPECT_TRUE(std::isnan(v));
        for (double c : got.confidence) EXPECT_EQ(c, 0.0);
      }
    }
}

TEST(GpuAlign, ExactCircularShiftIsAPerfectPeak) {
  REQUIRE_GPU();
  // White noise rolled circularly by whole pixels: the window follows the content, so
  // the shift is exact and the peak far above the noise.
  Options o;
  o.layout = kNone;
  o.height = 64;
  o.width = 96;
  o.dtype = PTP_DTYPE_FLOAT32;
  Frame ref;
  Frame mov;
  ref.f32.resize(64 * 96);
  mov.f32.resize(64 * 96);
  uint32_t state = 12345;
  for (float& v : ref.f32) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / 16777216.0f;
  }
  for (int64_t y = 0; y < 64; ++y)
    for (int64_t x = 0; x < 96; ++x)  // mov = ref translated by (+5, -9)
      mov.f32[y * 96 + x] = ref.f32[((y - 5 + 64) % 64) * 96 + (x + 9) % 96];
  ptychopatch::Context gpu = gpu_context();
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  for (int32_t upsample : {1, 10}) {
    o.upsample = upsample;
    const Results got = align(gpu, o, ref, {mov});
    expect_same(got, align(cpu, o, ref, {mov}), o, "circular");
    EXPECT_EQ(got.shifts[0], -5.0);
    EXPECT_EQ(got.shifts[1], 9.0);
    EXPECT_GT(got.confidence[0], 0.8);
  }
}

TEST(GpuAlign, PlanReuseAcrossScenesAndCalls) {
  REQUIRE_GPU();
  Options o;
  o.upsample = 10;
  o.height = 96;
  o.width = 128;
  ptychopatch::Context gpu = gpu_context();
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  Plan g = make_plan(gpu, o);
  Plan c = make_plan(cpu, o);
  for (int scene_index = 0; scene_index < 2; ++scene_index) {
    const double oy = 17.0 * scene_index;
    const double ox = -11.0 * scene_index;
    const Frame ref = make_frame(o.layout, o.height, o.width, 0, 0, oy, ox);
    std::vector<Frame> moving;
    for (int k = 0; k < 3; ++k)
      moving.push_back(make_frame(o.layout, o.height, o.width, 1.5 * k, -0.8 * k, oy, ox));
    Results want;
    ASSERT_EQ(run(c, ref, moving, o.dtype, want), PTP_SUCCESS);
    // The same frames in one call, and in calls of one and two frames.
    Results all;
    ASSERT_EQ(run(g, ref, moving, o.dtype, all), PTP_SUCCESS) << ptp_last_error_message();
    expect_same(all, want, o, "reuse, one call");
    Results first;
    ASSERT_EQ(run(g, ref, {moving[0]}, o.dtype, first), PTP_SUCCESS);
    Results rest;
    ASSERT_EQ(run(g, ref, {moving[1], moving[2]}, o.dtype, rest), PTP_SUCCESS);
    Results split;
    split.shifts = first.shifts;
    split.shifts.insert(split.shifts.end(), rest.shifts.begin(), rest.shifts.end());
    split.plane_shifts = first.plane_shifts;
    split.plane_shifts.insert(split.plane_shifts.end(), rest.plane_shifts.begin(),
                              rest.plane_shifts.end());
    split.confidence = first.confidence;
    split.confidence.insert(split.confidence.end(), rest.confidence.begin(), rest.confidence.end());
    expect_same(split, want, o, "reuse, split calls");
  }
}

TEST(GpuAlign, PinnedFramesAreUploadedDirectly) {
  REQUIRE_GPU();
  Options o;
  o.dtype = PTP_DTYPE_FLOAT32;
  o.upsample = 10;
  const Scene s = make_scene(o);
  // The same frames copied into page-locked memory.
  const size_t bytes = s.reference.f32.size() * sizeof(float);
  std::vector<void*> pinned;
  for (size_t i = 0; i < s.moving.size(); ++i) {
    void* p = nullptr;
    ASSERT_EQ(cudaMallocHost(&p, bytes), cudaSuccess);
    std::memcpy(p, s.moving[i].f32.data(), bytes);
    pinned.push_back(p);
  }
  ptychopatch::Context gpu = gpu_context();
  Plan plan = make_plan(gpu, o);
  ptychopatch::check(ptp_align_set_reference(plan.get(), s.reference.data(o.dtype)));
  const int64_t planes = num_planes(plan);
  Results got;
  got.shifts.assign(2 * pinned.size(), kNaN);
  got.plane_shifts.assign(2 * pinned.size() * planes, kNaN);
  got.confidence.assign(pinned.size(), kNaN);
  ptychopatch::check(ptp_align_execute(plan.get(), pinned.data(),
                                       static_cast<int64_t>(pinned.size()), got.shifts.data(),
                                       got.plane_shifts.data(), got.confidence.data()));
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  expect_same(got, align(cpu, o, s.reference, s.moving), o, "pinned frames");
  for (void* p : pinned) cudaFreeHost(p);
}

struct ProgressLog {
  std::vector<std::pair<int64_t, int64_t>> calls;
  int64_t stop_after = -1;
};

int32_t record_progress(int64_t done, int64_t total, void* user) {
  auto* log = static_cast<ProgressLog*>(user);
  log->calls.emplace_back(done, total);
  return log->stop_after >= 0 && done >= log->stop_after ? 1 : 0;
}

TEST(GpuAlign, ProgressIsReportedPerFrameInOrder) {
  REQUIRE_GPU();
  Options o;
  Scene s = make_scene(o);
  ptychopatch::Context gpu = gpu_context(uint64_t{6} << 20);  // several batches
  Plan plan = make_plan(gpu, o);
  ProgressLog log;
  ptychopatch::check(ptp_align_set_progress(plan.get(), record_progress, &log));
  Results r;
  ASSERT_EQ(run(plan, s.reference, s.moving, o.dtype, r), PTP_SUCCESS) << ptp_last_error_message();
  const int64_t n = static_cast<int64_t>(s.moving.size());
  ASSERT_EQ(log.calls.size(), static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(log.calls[i].first, i + 1);
    EXPECT_EQ(log.calls[i].second, n);
  }
}

TEST(GpuAlign, CancelKeepsFinishedFrames) {
  REQUIRE_GPU();
  for (uint64_t budget : {uint64_t{0}, uint64_t{6} << 20}) {
    Options o;
    o.upsample = 10;
    const Scene s = make_scene(o);
    ptychopatch::Context gpu = gpu_context(budget);
    Plan plan = make_plan(gpu, o);
    Results full;
    ASSERT_EQ(run(plan, s.reference, s.moving, o.dtype, full), PTP_SUCCESS);
    ProgressLog log;
    log.stop_after = 2;
    ptychopatch::check(ptp_align_set_progress(plan.get(), record_progress, &log));
    Results part;
    EXPECT_EQ(run(plan, s.reference, s.moving, o.dtype, part), PTP_ERROR_CANCELLED);
    ASSERT_EQ(log.calls.size(), 2u);
    const int64_t planes = num_planes(plan);
    for (size_t f = 0; f < s.moving.size(); ++f) {
      const bool finished = f < 2;
      for (int k = 0; k < 2; ++k) {
        if (finished)
          EXPECT_EQ(part.shifts[2 * f + k], full.shifts[2 * f + k]);
        else
          EXPECT_TRUE(std::isnan(part.shifts[2 * f + k])) << "frame " << f;
      }
      for (int64_t q = 0; q < 2 * planes; ++q)
        EXPECT_TRUE(std::isnan(part.plane_shifts[f * 2 * planes + q]));  // one estimate a frame
    }
    // The plan is still good afterwards.
    ptychopatch::check(ptp_align_set_progress(plan.get(), nullptr, nullptr));
    Results again;
    ASSERT_EQ(run(plan, s.reference, s.moving, o.dtype, again), PTP_SUCCESS);
    EXPECT_EQ(again.shifts, full.shifts);
  }
}

TEST(GpuAlign, CallerDeviceIsRestored) {
  REQUIRE_GPU();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  const int mine = count - 1;
  ASSERT_EQ(cudaSetDevice(mine), cudaSuccess);
  Options o;
  const Scene s = make_scene(o);
  ptychopatch::ContextOptions options;
  options.backend = PTP_BACKEND_GPU;
  options.device = 0;
  ptychopatch::Context gpu(options);
  align(gpu, o, s.reference, s.moving);
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, mine);
}

}  // namespace
