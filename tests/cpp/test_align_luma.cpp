// The luminance estimator (PTP_COMBINE_LUMA, the default), through the C
// ABI on the CPU backend.
//
// Oracle: the estimator written out from docs/semantics.md ("The
// luminance image") in double precision, independently of the library's
// arrangement of the sums: L(i, j) = fl32(weighted mean of the K x K window
// at (s i, s j) over the sites of the planes informative in both frames, 0
// for the others; Bayer: K = 3, weights (1, 2, 1) x (1, 2, 1) / 16, s = 2;
// X-Trans: the 6 x 6 mean, s = 3); the quadratic trend by least squares on the monomials 1, i, j,
// i^2, i j, j^2 (normal equations solved by Gaussian elimination, not the
// library's orthogonal basis); v = fl32(L - t); then the joint peak over
// one plane: Hann window (the moving one moved by the last pass's peak, up
// to three passes), X = R conj(M) / max(|X|, 100 eps_f32)^(1/4), naive
// DFTs, first max |c|, significance 1 - sqrt(2 ln N sum |Y|^2) / |c(peak)|.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "align_oracle_support.hpp"
#include "ptychopatch.h"
#include "ptychopatch.hpp"

namespace {

using cd = std::complex<double>;

// Fujifilm's X-Trans layout (0 R, 1 G, 2 B).
constexpr int32_t kXTrans[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
                                 1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1};

using naive::dft2;
using naive::hann;

// Least squares on the monomials 1, i, j, i^2, i j, j^2: the fitted values.
std::vector<double> quadratic_fit(const std::vector<double>& l, int64_t ny, int64_t nx) {
  constexpr int kTerms = 6;
  const auto basis = [](double i, double j) {
    return std::array<double, kTerms>{1.0, i, j, i * i, i * j, j * j};
  };
  double a[kTerms][kTerms + 1] = {};
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      const auto b = basis(double(i), double(j));
      for (int r = 0; r < kTerms; ++r) {
        for (int c = 0; c < kTerms; ++c) a[r][c] += b[r] * b[c];
        a[r][kTerms] += b[r] * l[i * nx + j];
      }
    }
  for (int c = 0; c < kTerms; ++c) {  // Gaussian elimination, partial pivoting
    int pivot = c;
    for (int r = c + 1; r < kTerms; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    for (int k = 0; k <= kTerms; ++k) std::swap(a[c][k], a[pivot][k]);
    for (int r = 0; r < kTerms; ++r) {
      if (r == c) continue;
      const double f = a[r][c] / a[c][c];
      for (int k = c; k <= kTerms; ++k) a[r][k] -= f * a[c][k];
    }
  }
  std::vector<double> fit(l.size());
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      const auto b = basis(double(i), double(j));
      double t = 0.0;
      for (int k = 0; k < kTerms; ++k) t += a[k][kTerms] / a[k][k] * b[k];
      fit[i * nx + j] = t;
    }
  return fit;
}

struct Pattern {
  int64_t period;
  std::vector<int32_t> codes;
};
const Pattern kBayer{2, {0, 1, 3, 2}};
const Pattern kXTransPattern{6, std::vector<int32_t>(kXTrans, kXTrans + 36)};

// The image's stride: windows every 2 (Bayer) or 3 (X-Trans) pixels.
int64_t stride_of(int64_t period) {
  return period == 6 ? 3 : period;
}

// The image's window side (the frames of these tests have at least 3 rows
// and columns): 3 for Bayer, with taps (1, 2, 1); the period otherwise,
// every tap 1.
int64_t window_of(int64_t period) {
  return period == 2 ? 3 : period;
}
double tap_of(int64_t period, int64_t a) {
  return period == 2 && a == 1 ? 2.0 : 1.0;
}

// Image side for a frame side n: windows at 0, s, 2s, ... inside the frame
// trimmed to a multiple of the period.
int64_t image_side(int64_t n, int64_t period) {
  return (n / period * period - window_of(period)) / stride_of(period) + 1;
}

// The luminance image (fl32 of the tap-weighted window means over the
// planes in `use`: every plane weighs a quarter of a Bayer window), trend
// removed, rounded to float32: ny x nx values.
std::vector<double> oracle_image(const std::vector<float>& f, int64_t w, int64_t period,
                                 const std::vector<char>& use, int64_t ny, int64_t nx,
                                 bool detrend = true) {
  const int64_t st = stride_of(period), k = window_of(period);
  double weights = 0.0;
  for (int64_t a = 0; a < k; ++a)
    for (int64_t b = 0; b < k; ++b) weights += tap_of(period, a) * tap_of(period, b);
  std::vector<double> l(static_cast<size_t>(ny * nx));
  for (int64_t i = 0; i < ny; ++i)
    for (int64_t j = 0; j < nx; ++j) {
      double s = 0.0;
      for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b) {
          const int64_t r = st * i + a, c = st * j + b;
          if (use[(r % period) * period + c % period])
            s += tap_of(period, a) * tap_of(period, b) * f[r * w + c];
        }
      l[i * nx + j] = float(s / weights);
    }
  if (!detrend) return l;
  const std::vector<double> t = quadratic_fit(l, ny, nx);
  for (size_t k2 = 0; k2 < l.size(); ++k2) l[k2] = float(l[k2] - t[k2]);
  return l;
}

// The reference and moving frames as a mosaic's estimators see them
// (docs/semantics.md, "Isolated sites"): without the isolated sites they
// share, over the area the image reads.
struct Seen {
  std::vector<float> ref, mov;
};
Seen as_seen(const std::vector<float>& ref, const std::vector<float>& mov, int64_t w,
             int64_t period, int64_t ny, int64_t nx) {
  Seen out{ref, mov};
  if (period == 1) return out;
  const int64_t st = stride_of(period), k = window_of(period);
  naive::frames_without_shared_isolated_sites(out.ref, out.mov, w, period, st * (ny - 1) + k,
                                              st * (nx - 1) + k);
  return out;
}

struct Estimate {
  double dy, dx, confidence;
};

// The peak of one image pair with the tracking Hann window (up to three passes), refined
// by the upsampled DFT of the last pass's spectrum when upsample > 1.
Estimate oracle_peak(const std::vector<double>& ref, const std::vector<double>& mov, int64_t ny,
                     int64_t nx, int upsample = 1) {
  const bool window = true;
  const int64_t n = ny * nx;
  const auto wrap = [](int64_t i, int64_t len) { return i > len / 2 ? i - len : i; };
  const auto prepared = [&](const std::vector<double>& img, int64_t sy, int64_t sx) {
    double mean = 0.0;
    for (double v : img) mean += v;
    mean /= double(n);
    std::vector<cd> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < ny; ++i)
      for (int64_t j = 0; j < nx; ++j) {
        const double wgt =
            window ? hann(((i + sy) % ny + ny) % ny, ny) * hann(((j + sx) % nx + nx) % nx, nx)
                   : 1.0;
        v[i * nx + j] = float((img[i * nx + j] - mean) * wgt);
      }
    return dft2(v, ny, nx, -1);
  };
  const std::vector<cd> r = prepared(ref, 0, 0);
  Estimate e{0.0, 0.0, 0.0};
  for (int pass = 1; pass <= (window ? 3 : 1); ++pass) {
    const int64_t sy = int64_t(e.dy), sx = int64_t(e.dx);
    const std::vector<cd> m = prepared(mov, sy, sx);
    std::vector<cd> y(static_cast<size_t>(n));
    double energy = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      cd x = r[k] * std::conj(m[k]);
      x /= std::pow(std::max(std::abs(x), 100.0 * FLT_EPSILON), 0.25);
      if (!window && k == 0) x = 0.0;
      y[k] = x;
      energy += std::norm(x);
    }
    const std::vector<cd> c = dft2(y, ny, nx, +1);
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k)
      if (std::abs(c[k]) > std::abs(c[best])) best = k;
    const int64_t py = wrap(best / nx, ny), px = wrap(best % nx, nx);
    const bool last = pass == 3 || (pass > 1 && py == sy && px == sx);
    double peak = std::abs(c[best]);
    e = {double(py), double(px), 0.0};
    if (last && upsample > 1)
      naive::upsampled_peak(y, ny, nx, py, px, upsample, &e.dy, &e.dx, &peak);
    e.confidence = std::clamp(1.0 - std::sqrt(2.0 * std::log(double(n)) * energy) / peak, 0.0, 1.0);
    if (last) break;
  }
  return e;
}

// A smooth random field of h x w, translated by (ty, tx) (periodic), plus
// a gradient, values in the thousands.
std::vector<float> scene(int64_t h, int64_t w, int64_t ty, int64_t tx, uint32_t seed) {
  const std::vector<double> f = naive::smooth_field(h, w, seed);
  std::vector<float> out(f.size());
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      out[i * w + j] = float(1000.0 + 3000.0 * naive::translated(f, h, w, i, j, ty, tx) +
                             2.0 * double(i) - 1.5 * double(j));
  return out;
}

ptp_align_desc desc_for(const Pattern& p, int64_t h, int64_t w) {
  ptp_align_desc d;
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.height = h;
  d.width = w;
  d.frame_dtype = PTP_DTYPE_FLOAT32;
  d.cfa = p.period == 2 ? PTP_CFA_BAYER : PTP_CFA_XTRANS;
  std::copy(p.codes.begin(), p.codes.end(), d.pattern);
  d.fft_planning = PTP_FFT_PLANNING_ESTIMATE;
  d.verify = PTP_ALIGN_VERIFY_NONE;  // the estimator alone (test_align_verify.cpp)
  return d;
}

struct PlanFree {
  void operator()(ptp_align_plan* p) const noexcept { ptp_align_plan_destroy(p); }
};
using Plan = std::unique_ptr<ptp_align_plan, PlanFree>;

// A plan on a CPU context of `threads` threads (0: every core).
Plan make_plan(const ptp_align_desc& d, int32_t threads = 0) {
  static std::map<int32_t, ptychopatch::Context> contexts;
  auto it = contexts.find(threads);
  if (it == contexts.end()) {
    ptychopatch::ContextOptions options;
    options.backend = PTP_BACKEND_CPU;
    options.num_threads = threads;
    it = contexts.emplace(threads, ptychopatch::Context(options)).first;
  }
  ptp_align_plan* raw = nullptr;
  EXPECT_EQ(ptp_align_plan_create(it->second.get(), &d, &raw), PTP_SUCCESS)
      << ptp_last_error_message();
  return Plan(raw);
}

// set_reference + execute_frames on frames of any element type.
template <class T>
std::vector<ptp_align_result> run(const Plan& plan, const std::vector<T>& ref,
                                  const std::vector<const std::vector<T>*>& frames) {
  EXPECT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
  std::vector<const void*> pointers;
  for (const auto* f : frames) pointers.push_back(f->data());
  std::vector<ptp_align_result> out(frames.size());
  EXPECT_EQ(ptp_align_execute_frames(plan.get(), pointers.data(), int64_t(frames.size()),
                                     out.data(), nullptr),
            PTP_SUCCESS)
      << ptp_last_error_message();
  return out;
}

// The same through uint16 frames (values rounded to integers first).
std::vector<uint16_t> to_u16(const std::vector<float>& f) {
  std::vector<uint16_t> out(f.size());
  for (size_t k = 0; k < f.size(); ++k)
    out[k] = static_cast<uint16_t>(std::clamp(std::lround(f[k]), 0L, 65535L));
  return out;
}

std::vector<float> as_float(const std::vector<uint16_t>& f) {
  return std::vector<float>(f.begin(), f.end());
}

// Planes of a pattern set to a constant (clipped) in frame f.
void clip_planes(std::vector<float>& f, int64_t w, int64_t period, const std::vector<int>& planes) {
  for (size_t k = 0; k < f.size(); ++k) {
    const int64_t i = int64_t(k) / w, j = int64_t(k) % w;
    const int64_t p = (i % period) * period + j % period;
    if (std::find(planes.begin(), planes.end(), p) != planes.end()) f[k] = 16383.0f;
  }
}

// uint16 frames ref and mov (mov the scene moved by (ty, tx)) of pattern p:
// the library's shift and confidence equal the oracle's on the frames as
// the estimator sees them (without the isolated sites they share), and the
// shift is the truth. `shared_sites`: the frames must share some.
void expect_uint16_oracle(const Pattern& p, const std::vector<uint16_t>& ref,
                          const std::vector<uint16_t>& mov, int64_t h, int64_t w, int64_t ty,
                          int64_t tx, bool shared_sites) {
  ptp_align_desc d = desc_for(p, h, w);
  d.frame_dtype = PTP_DTYPE_UINT16;
  d.upsample_factor = 1;
  const auto got = run(make_plan(d), ref, {&mov});
  const int64_t ny = image_side(h, p.period), nx = image_side(w, p.period);
  const std::vector<char> all(static_cast<size_t>(p.period * p.period), 1);
  const Seen seen = as_seen(as_float(ref), as_float(mov), w, p.period, ny, nx);
  if (shared_sites) {
    ASSERT_NE(seen.mov, as_float(mov)) << "no shared site in the area the image reads";
    ASSERT_NE(seen.ref, as_float(ref));
  }
  const Estimate want = oracle_peak(oracle_image(seen.ref, w, p.period, all, ny, nx),
                                    oracle_image(seen.mov, w, p.period, all, ny, nx), ny, nx);
  const double st = double(stride_of(p.period));
  ASSERT_EQ(got[0].status, PTP_SUCCESS) << got[0].message;
  EXPECT_EQ(got[0].shift[0], want.dy * st) << p.period << " " << ty;
  EXPECT_EQ(got[0].shift[1], want.dx * st) << p.period << " " << ty;
  EXPECT_EQ(got[0].shift[0], double(-ty)) << p.period;
  EXPECT_EQ(got[0].shift[1], double(-tx)) << p.period;
  EXPECT_NEAR(got[0].confidence, want.confidence, 1e-4) << p.period;
}

// Hot (65535) and dead (0) sites at the same places in the reference and
// the frame: the library equals the oracle, which takes them out of both
// (docs/semantics.md, "Isolated sites"), and the shift is the true one.
TEST(AlignLuma, SharedIsolatedSitesMatchTheOracle) {
  for (const Pattern* p : {&kBayer, &kXTransPattern}) {
    const int64_t h = p->period == 2 ? 30 : 60, w = p->period == 2 ? 34 : 66;
    std::vector<uint16_t> ref = to_u16(scene(h, w, 0, 0, 40));
    const int64_t ty = p->period == 2 ? 4 : 3;  // whole image pixels (upsample 1)
    std::vector<uint16_t> mov = to_u16(scene(h, w, ty, -6, 40));
    std::mt19937 rng(5);
    for (int k = 0; k < 12; ++k) {
      const size_t at = rng() % ref.size();
      ref[at] = mov[at] = k % 2 ? 0 : 65535;
    }
    expect_uint16_oracle(*p, ref, mov, h, w, ty, -6, true);
  }
}

// uint16 frames (the box means as exact integer running sums): the oracle
// on the same integer values, Bayer and X-Trans, with the window.
TEST(AlignLuma, Uint16FramesMatchTheOracle) {
  for (const Pattern* p : {&kBayer, &kXTransPattern})
    for (const auto& [ty, tx] : p->period == 2
                                    ? std::vector<std::pair<int64_t, int64_t>>{{4, -6}, {-6, 4}}
                                    : std::vector<std::pair<int64_t, int64_t>>{{3, -6}, {-6, 3}}) {
      const int64_t h = p->period == 2 ? 30 : 60, w = p->period == 2 ? 34 : 66;
      expect_uint16_oracle(*p, to_u16(scene(h, w, 0, 0, 40)), to_u16(scene(h, w, ty, tx, 40)), h, w,
                           ty, tx, false);
    }
}

// Planes constant in the reference only are left out of both images too
// (the same bytes as with them constant in both frames); a dark scene
// (uint16 values under 256) keeps every plane: whether a plane carries
// information is decided on its values, not on the bytes of the frame.
TEST(AlignLuma, PlanesFlatInTheReferenceOnlyAndDarkScenes) {
  const int64_t h = 40, w = 48;
  std::vector<float> ref = scene(h, w, 0, 0, 13);
  const std::vector<float> mov = scene(h, w, 4, -6, 13);
  std::vector<float> mov_clipped = mov;
  clip_planes(ref, w, 2, {0, 3});
  clip_planes(mov_clipped, w, 2, {0, 3});
  ptp_align_desc d = desc_for(kBayer, h, w);
  const auto ref_only = run(make_plan(d), ref, {&mov});
  const auto both = run(make_plan(d), ref, {&mov_clipped});
  ASSERT_EQ(ref_only[0].status, PTP_SUCCESS) << ref_only[0].message;
  EXPECT_EQ(ref_only[0].planes_used, 2);
  EXPECT_EQ(ref_only[0].shift[0], both[0].shift[0]);
  EXPECT_EQ(ref_only[0].shift[1], both[0].shift[1]);
  EXPECT_EQ(ref_only[0].confidence, both[0].confidence);
  EXPECT_EQ(ref_only[0].crop[0], -4);
  EXPECT_EQ(ref_only[0].crop[1], 6);
  // Dark: values 1..~200 (high bytes 0), every plane informative.
  for (const Pattern* p : {&kBayer, &kXTransPattern}) {
    const int64_t dh = 48, dw = 54;
    std::vector<float> dark_ref = scene(dh, dw, 0, 0, 14), dark_mov = scene(dh, dw, 3, -3, 14);
    for (auto* f : {&dark_ref, &dark_mov})
      for (float& v : *f) v = std::round(v / 25.0f);
    ptp_align_desc dd = desc_for(*p, dh, dw);
    dd.frame_dtype = PTP_DTYPE_UINT16;
    const std::vector<uint16_t> a = to_u16(dark_ref), b = to_u16(dark_mov);
    const auto r = run(make_plan(dd), a, {&a, &b});
    EXPECT_EQ(r[0].planes_used, p->period * p->period);
    EXPECT_EQ(r[1].planes_used, p->period * p->period);
    EXPECT_EQ(r[0].crop[0], 0);
  }
}

// A progress callback that stops on the last frame of a run of frames
// sharing their planes (or of a chunk) stops the call there: no later
// callback, no later result.
TEST(AlignLuma, StopOnTheLastFrameOfARunEndsTheCall) {
  const int64_t h = 32, w = 36;
  const std::vector<float> ref = scene(h, w, 0, 0, 6);
  std::vector<std::vector<float>> frames;
  for (int k = 0; k < 6; ++k) {
    frames.push_back(scene(h, w, 2, -2, 6));
    if (k % 2 == 1) clip_planes(frames.back(), w, 2, {0});  // runs of one frame
  }
  for (int64_t stop_at = 1; stop_at <= 6; ++stop_at) {
    const Plan plan = make_plan(desc_for(kBayer, h, w));
    struct Calls {
      std::vector<int64_t> seen;
      int64_t stop_at;
    } calls{{}, stop_at};
    ASSERT_EQ(ptp_align_set_progress(
                  plan.get(),
                  [](int64_t done, int64_t, void* user) -> int32_t {
                    auto* c = static_cast<Calls*>(user);
                    c->seen.push_back(done);
                    return done >= c->stop_at ? 1 : 0;
                  },
                  &calls),
              PTP_SUCCESS);
    ASSERT_EQ(ptp_align_set_reference(plan.get(), ref.data()), PTP_SUCCESS);
    std::vector<const void*> pointers;
    for (const auto& f : frames) pointers.push_back(f.data());
    std::vector<ptp_align_result> out(frames.size());
    const ptp_status st =
        ptp_align_execute_frames(plan.get(), pointers.data(), 6, out.data(), nullptr);
    std::vector<int64_t> want;
    for (int64_t k = 1; k <= stop_at; ++k) want.push_back(k);
    EXPECT_EQ(calls.seen, want) << "stop at " << stop_at;
    EXPECT_EQ(st, PTP_ERROR_CANCELLED) << "stop at " << stop_at;
    for (int64_t k = 0; k < 6; ++k)
      EXPECT_EQ(out[k].status, k < stop_at ? PTP_SUCCESS : PTP_ERROR_CANCELLED)
          << "stop at " << stop_at << ", frame " << k;
  }
}

TEST(AlignLuma, IsTheDefault) {
  ptp_align_desc d;
  ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(d.combine, PTP_COMBINE_LUMA);
  EXPECT_EQ(d.normalization, PTP_NORMALIZATION_PARTIAL);
  EXPECT_EQ(d.window, PTP_WINDOW_HANN);
}

TEST(AlignLuma, MatchesTheDoublePrecisionOracle) {
  struct Size {
    const Pattern* pattern;
    int64_t h, w;
  };
  for (const Size& s :
       {Size{&kBayer, 20, 28}, Size{&kBayer, 26, 18}, Size{&kXTransPattern, 36, 42}})
    for (int up : {1, 10})
      for (uint32_t seed : {1u, 2u})
        for (const auto& [ty, tx] :
             {std::pair<int64_t, int64_t>{0, 0}, {2, -4}, {3, 5}, {-5, 1}, {-3, 6}}) {
          const int64_t period = s.pattern->period;
          const std::vector<float> ref = scene(s.h, s.w, 0, 0, seed);
          std::vector<float> mov = scene(s.h, s.w, ty, tx, seed);
          std::mt19937 rng(seed * 7 + 1);
          std::normal_distribution<float> noise(0.0f, 20.0f);
          for (float& v : mov) v += noise(rng);
          ptp_align_desc d = desc_for(*s.pattern, s.h, s.w);
          d.upsample_factor = up;
          const auto got = run(make_plan(d), ref, {&mov});
          const int64_t ny = image_side(s.h, period), nx = image_side(s.w, period);
          const double st = double(stride_of(period));
          const std::vector<char> all(static_cast<size_t>(period * period), 1);
          const Seen seen = as_seen(ref, mov, s.w, period, ny, nx);
          const Estimate want =
              oracle_peak(oracle_image(seen.ref, s.w, period, all, ny, nx),
                          oracle_image(seen.mov, s.w, period, all, ny, nx), ny, nx, up);
          const std::string what = std::to_string(s.h) + "x" + std::to_string(s.w) + " seed " +
                                   std::to_string(seed) + " shift " + std::to_string(ty) + "," +
                                   std::to_string(tx) + " up " + std::to_string(up);
          ASSERT_EQ(got[0].status, PTP_SUCCESS) << what << got[0].message;
          // Sensor pixels: s of them per image pixel.
          EXPECT_EQ(got[0].shift[0], want.dy * st) << what;
          EXPECT_EQ(got[0].shift[1], want.dx * st) << what;
          EXPECT_NEAR(got[0].confidence, want.confidence, 1e-4) << what;
          EXPECT_EQ(got[0].planes_used, period * period) << what;
          if (up == 1 && ty != 0 && ty % int64_t(st) == 0 && tx % int64_t(st) == 0 &&
              4 * std::abs(ty) <= s.h && 4 * std::abs(tx) <= s.w) {
            // A textured scene: the true shift (-ty, -tx).
            EXPECT_EQ(got[0].shift[0], double(-ty)) << what;
            EXPECT_EQ(got[0].shift[1], double(-tx)) << what;
          }
        }
}

// Two Bayer planes clipped in the moving frame only: they leave both images
// (the reference's is made again of the two others), so the result is
// bitwise the one with those planes clipped in the reference too, and the
// oracle's of the two planes.
TEST(AlignLuma, PlanesFlatInTheFrameAreLeftOutOfBothImages) {
  const int64_t h = 40, w = 48;
  const std::vector<float> ref = scene(h, w, 0, 0, 9);
  std::vector<float> mov = scene(h, w, 4, -6, 9);
  clip_planes(mov, w, 2, {0, 3});
  std::vector<float> ref_clipped = ref;
  clip_planes(ref_clipped, w, 2, {0, 3});
  ptp_align_desc d = desc_for(kBayer, h, w);
  d.upsample_factor = 1;
  const auto got = run(make_plan(d), ref, {&mov});
  const auto both = run(make_plan(d), ref_clipped, {&mov});
  ASSERT_EQ(got[0].status, PTP_SUCCESS) << got[0].message;
  EXPECT_EQ(got[0].planes_used, 2);
  EXPECT_EQ(got[0].shift[0], both[0].shift[0]);
  EXPECT_EQ(got[0].shift[1], both[0].shift[1]);
  EXPECT_EQ(got[0].confidence, both[0].confidence);
  const std::vector<char> two = {0, 1, 1, 0};
  const int64_t ny = image_side(h, 2), nx = image_side(w, 2);
  const Seen seen = as_seen(ref, mov, w, 2, ny, nx);
  const Estimate want = oracle_peak(oracle_image(seen.ref, w, 2, two, ny, nx),
                                    oracle_image(seen.mov, w, 2, two, ny, nx), ny, nx);
  EXPECT_EQ(got[0].shift[0], 2 * want.dy);
  EXPECT_EQ(got[0].shift[1], 2 * want.dx);
  EXPECT_EQ(got[0].shift[0], -4.0);
  EXPECT_EQ(got[0].shift[1], 6.0);
}

// Frames whose informative planes differ, in one call: each gets the result
// it gets alone (the reference image is remade for the run of frames that
// needs it, and again for the next), in order, with its plane count.
TEST(AlignLuma, FramesWithOtherPlanesInOneCall) {
  const int64_t h = 36, w = 36;
  const std::vector<float> ref = scene(h, w, 0, 0, 4);
  std::vector<std::vector<float>> frames;
  for (int k = 0; k < 5; ++k) frames.push_back(scene(h, w, 2 * k - 4, 6 - 2 * k, 4));
  clip_planes(frames[1], w, 2, {1});
  clip_planes(frames[2], w, 2, {1});
  clip_planes(frames[3], w, 2, {0, 1, 2, 3});  // nothing left
  const ptp_align_desc d = desc_for(kBayer, h, w);
  const Plan plan = make_plan(d);
  std::vector<const std::vector<float>*> all;
  for (const auto& f : frames) all.push_back(&f);
  const auto together = run(plan, ref, all);
  for (size_t k = 0; k < frames.size(); ++k) {
    const auto alone = run(make_plan(d), ref, {&frames[k]});
    EXPECT_EQ(together[k].status, alone[0].status) << k;
    EXPECT_EQ(together[k].planes_used, alone[0].planes_used) << k;
    if (k == 3) {
      EXPECT_EQ(together[k].status, PTP_ERROR_NO_INFORMATION);
      EXPECT_EQ(together[k].planes_used, 0);
      continue;
    }
    EXPECT_EQ(together[k].planes_used, k == 1 || k == 2 ? 3 : 4) << k;
    EXPECT_EQ(together[k].shift[0], alone[0].shift[0]) << k;
    EXPECT_EQ(together[k].shift[1], alone[0].shift[1]) << k;
    EXPECT_EQ(together[k].confidence, alone[0].confidence) << k;
    EXPECT_EQ(together[k].crop[0], -(2 * int64_t(k) - 4)) << k;
    EXPECT_EQ(together[k].crop[1], -(6 - 2 * int64_t(k))) << k;
  }
}

// A field fixed to the sensor (vignetting, uneven light: a strong
// quadratic, different in the two frames) leaves the image with the
// trend: the same integer shift as without it. Without the trend's removal
// the field's broad peak wins (the joint peak of the planes, checked
// below, is pulled away by it).
TEST(AlignLuma, QuadraticFieldsFixedToTheSensorAreRemoved) {
  const int64_t h = 64, w = 72;
  const std::vector<float> ref = scene(h, w, 0, 0, 12);
  const std::vector<float> mov = scene(h, w, 6, -4, 12);
  const auto shaded = [&](std::vector<float> f, double strength, double cy, double cx) {
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        const double y = (double(i) - cy) / h, x = (double(j) - cx) / w;
        f[i * w + j] += float(strength * (1.0 - 2.0 * (x * x + y * y)));
      }
    return f;
  };
  const std::vector<float> ref_shaded = shaded(ref, 60000.0, 30.0, 40.0);
  const std::vector<float> mov_shaded = shaded(mov, 45000.0, 34.0, 30.0);
  ptp_align_desc d = desc_for(kBayer, h, w);
  d.upsample_factor = 1;
  const auto plain = run(make_plan(d), ref, {&mov});
  const auto with_field = run(make_plan(d), ref_shaded, {&mov_shaded});
  EXPECT_EQ(plain[0].shift[0], -6.0);
  EXPECT_EQ(plain[0].shift[1], 4.0);
  EXPECT_EQ(with_field[0].shift[0], -6.0);
  EXPECT_EQ(with_field[0].shift[1], 4.0);
  EXPECT_NEAR(with_field[0].confidence, plain[0].confidence, 1e-3);
  // Without the trend's removal the field would win.
  const int64_t ny = image_side(h, 2), nx = image_side(w, 2);
  const std::vector<char> all(4, 1);
  const Seen seen = as_seen(ref_shaded, mov_shaded, w, 2, ny, nx);
  const Estimate kept = oracle_peak(oracle_image(seen.ref, w, 2, all, ny, nx, false),
                                    oracle_image(seen.mov, w, 2, all, ny, nx, false), ny, nx);
  EXPECT_FALSE(kept.dy * 2 == -6.0 && kept.dx * 2 == 4.0)
      << "the field no longer tests the trend's removal";
}

// An image that is its own trend (a plane, a paraboloid) carries nothing:
// the frame gets PTP_ERROR_NO_INFORMATION with a message naming the
// luminance image; a reference that is one leaves every frame without a
// result.
TEST(AlignLuma, AFrameThatIsItsOwnTrendHasNoInformation) {
  const int64_t h = 24, w = 30;
  std::vector<float> bowl(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      bowl[i * w + j] = float(500.0 + 3.0 * i - 2.0 * j + 0.5 * i * i - 0.25 * i * j + 0.1 * j * j);
  const std::vector<float> textured = scene(h, w, 2, 2, 3);
  const std::vector<float> ref = scene(h, w, 0, 0, 3);
  const ptp_align_desc d = desc_for(kBayer, h, w);
  const auto r = run(make_plan(d), ref, {&bowl, &textured});
  EXPECT_EQ(r[0].status, PTP_ERROR_NO_INFORMATION);
  EXPECT_EQ(r[0].planes_used, 0);
  EXPECT_TRUE(std::isnan(r[0].shift[0]));
  EXPECT_NE(std::string(r[0].message).find("luminance image"), std::string::npos) << r[0].message;
  EXPECT_EQ(r[1].status, PTP_SUCCESS) << r[1].message;
  EXPECT_EQ(r[1].crop[0], -2);
  const auto flat_ref = run(make_plan(d), bowl, {&textured, &ref});
  EXPECT_EQ(flat_ref[0].status, PTP_ERROR_NO_INFORMATION);
  EXPECT_EQ(flat_ref[1].status, PTP_ERROR_NO_INFORMATION);
}

// X-Trans: shifts in sensor pixels (refined to 1/10 of the image's 3),
// crops on the layout's lattice (multiples of 6 and (3, 3) + multiples of
// 6); max_shift bounds the search in sensor pixels (not plane pixels).
TEST(AlignLuma, XTransShiftsAndBoundsAreInSensorPixels) {
  const int64_t h = 96, w = 108;
  const std::vector<float> ref = scene(h, w, 0, 0, 21);
  const std::vector<float> mov = scene(h, w, 9, -3, 21);
  ptp_align_desc d = desc_for(kXTransPattern, h, w);
  const auto r = run(make_plan(d), ref, {&mov});
  ASSERT_EQ(r[0].status, PTP_SUCCESS) << r[0].message;
  EXPECT_NEAR(r[0].shift[0], -9.0, 0.31);
  EXPECT_NEAR(r[0].shift[1], 3.0, 0.31);
  EXPECT_EQ(r[0].crop[0], -9);  // (3, 3) + 6 * (-2, 0)
  EXPECT_EQ(r[0].crop[1], 3);
  EXPECT_EQ(r[0].planes_used, 36);
  d.max_shift = 5;  // |dy| <= 5 sensor pixels: -9 is out of reach
  const auto bounded = run(make_plan(d), ref, {&mov});
  EXPECT_LE(std::fabs(bounded[0].shift[0]), 6.0);
  d.max_shift = 10;
  const auto wider = run(make_plan(d), ref, {&mov});
  EXPECT_EQ(wider[0].shift[0], r[0].shift[0]);
  EXPECT_EQ(wider[0].shift[1], r[0].shift[1]);
}

// snap = 1 floors each shift to whole CFA blocks (2 for Bayer, 3 for X-Trans), a value
// within 1e-9 of a block counting as that block: odd Bayer shifts of about -3 and 3
// become -4 and 2, an X-Trans shift of about 4 becomes 3 and one of about -4, -6.
TEST(AlignLuma, SnapFloorsToWholeBlocks) {
  struct Case {
    const Pattern* pattern;
    int64_t h, w, ty, tx;
    double want_y, want_x;
  };
  for (const Case& c : {Case{&kBayer, 64, 72, 3, -3, -4.0, 2.0},
                        Case{&kXTransPattern, 96, 108, -4, 4, 3.0, -6.0}}) {
    const std::vector<float> ref = scene(c.h, c.w, 0, 0, 31);
    const std::vector<float> mov = scene(c.h, c.w, c.ty, c.tx, 31);
    ptp_align_desc d = desc_for(*c.pattern, c.h, c.w);
    const auto free = run(make_plan(d), ref, {&mov});
    ASSERT_EQ(free[0].status, PTP_SUCCESS) << free[0].message;
    EXPECT_NEAR(free[0].shift[0], double(-c.ty), 0.35);
    EXPECT_NEAR(free[0].shift[1], double(-c.tx), 0.35);
    d.snap = 1;
    const auto snapped = run(make_plan(d), ref, {&mov});
    ASSERT_EQ(snapped[0].status, PTP_SUCCESS) << snapped[0].message;
    EXPECT_EQ(snapped[0].shift[0], c.want_y) << c.pattern->period;
    EXPECT_EQ(snapped[0].shift[1], c.want_x) << c.pattern->period;
    EXPECT_FALSE(std::signbit(snapped[0].shift[0]) && snapped[0].shift[0] == 0.0);
  }
}

// The image side the default estimator transforms, (H - 3) / 2 + 1 for
// Bayer, cut from 256 on (fft_size.hpp): 278 rows to 270 = 2 3^3 5, 330
// columns to 320 = 2^6 5 (not 330 = 2 3 5 11, the largest FFT-friendly
// size). A 558 x 662 frame and its first 542 x 642 give bitwise the same
// results.
TEST(AlignLuma, ImageUsesTheFirstFftFriendlyRowsAndColumns) {
  const int64_t h = 558, w = 662, kept_h = 542, kept_w = 642;
  std::vector<float> a = scene(h, w, 0, 0, 31), b = scene(h, w, 6, -10, 31);
  const auto cut = [&](const std::vector<float>& f) {
    std::vector<float> out;
    for (int64_t i = 0; i < kept_h; ++i)
      out.insert(out.end(), f.begin() + i * w, f.begin() + i * w + kept_w);
    return out;
  };
  const std::vector<float> ca = cut(a), cb = cut(b);
  for (const int up : {1, 10}) {
    ptp_align_desc whole = desc_for(kBayer, h, w), part = desc_for(kBayer, kept_h, kept_w);
    whole.upsample_factor = part.upsample_factor = up;
    const auto x = run(make_plan(whole), a, {&b});
    const auto y = run(make_plan(part), ca, {&cb});
    ASSERT_EQ(x[0].status, PTP_SUCCESS) << x[0].message;
    EXPECT_EQ(x[0].shift[0], y[0].shift[0]) << up;
    EXPECT_EQ(x[0].shift[1], y[0].shift[1]) << up;
    EXPECT_EQ(x[0].confidence, y[0].confidence) << up;
    EXPECT_NEAR(x[0].shift[0], -6.0, 0.15) << up;
    EXPECT_NEAR(x[0].shift[1], 10.0, 0.15) << up;
  }
}

// The images are made by bands of rows on every thread: the results do not
// depend on the thread count, nor on how many frames a call holds.
TEST(AlignLuma, ResultsDoNotDependOnThreadsOrBatching) {
  const int64_t h = 72, w = 90;
  const std::vector<float> ref = scene(h, w, 0, 0, 17);
  std::vector<std::vector<float>> frames;
  for (int k = 0; k < 7; ++k) frames.push_back(scene(h, w, k - 3, 2 * k - 5, 17));
  std::vector<const std::vector<float>*> all;
  for (const auto& f : frames) all.push_back(&f);
  for (const Pattern* p : {&kBayer, &kXTransPattern}) {
    const ptp_align_desc d = desc_for(*p, h, w);
    const auto many = run(make_plan(d, 0), ref, all);
    const auto one_thread = run(make_plan(d, 1), ref, all);
    for (size_t k = 0; k < frames.size(); ++k) {
      const auto alone = run(make_plan(d, 1), ref, {&frames[k]});
      for (const auto* other : {&one_thread[k], &alone[0]}) {
        EXPECT_EQ(many[k].shift[0], other->shift[0]) << k;
        EXPECT_EQ(many[k].shift[1], other->shift[1]) << k;
        EXPECT_EQ(many[k].confidence, other->confidence) << k;
      }
    }
  }
}

// Images large enough for the two-pass transform (a half spectrum over 8
// MiB: 1400 x 1500 here) in calls with fewer frames than threads: each
// frame's passes and transforms are shared by the threads, with bitwise
// the results of one thread (Bayer frames, and one channel alike).
TEST(AlignLuma, LargeImagesShareTheirTransformsAmongThreads) {
  const int64_t h = 1402, w = 1502;
  const std::vector<float> ref = scene(h, w, 0, 0, 77);
  const std::vector<float> a = scene(h, w, 4, -6, 77), b = scene(h, w, -8, 2, 77);
  for (const bool plain : {false, true}) {
    ptp_align_desc d = desc_for(kBayer, h, w);
    if (plain) d.cfa = PTP_CFA_NONE;  // one channel: the image is the frame
    std::vector<std::vector<ptp_align_result>> by_threads;
    for (const int32_t threads : {1, 2, 3})
      by_threads.push_back(run(make_plan(d, threads), ref, {&a, &b}));
    const auto single = run(make_plan(d, 3), ref, {&a});
    for (const auto& r : by_threads)
      for (size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(r[k].shift[0], by_threads[0][k].shift[0]) << plain << " " << k;
        EXPECT_EQ(r[k].shift[1], by_threads[0][k].shift[1]) << plain << " " << k;
        EXPECT_EQ(r[k].confidence, by_threads[0][k].confidence) << plain << " " << k;
      }
    EXPECT_EQ(single[0].shift[0], by_threads[0][0].shift[0]);
    EXPECT_EQ(single[0].confidence, by_threads[0][0].confidence);
    EXPECT_NEAR(by_threads[0][0].shift[0], -4.0, 0.15);
    EXPECT_NEAR(by_threads[0][0].shift[1], 6.0, 0.15);
    EXPECT_NEAR(by_threads[0][1].shift[0], 8.0, 0.15);
    EXPECT_NEAR(by_threads[0][1].shift[1], -2.0, 0.15);
  }
}

}  // namespace
