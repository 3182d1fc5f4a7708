// The cross-correlation of one pair of real images; design notes in
// correlate_plan.hpp.
#include "correlate/correlate_plan.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "core/desc_versions.hpp"
#include "core/error.hpp"
#include "correlate/line_correlation.hpp"
#include "cpu/aligned_array.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "fft/fftw_planner.hpp"
#include "fft/fftw_precision.hpp"
#include "math/phase_math.hpp"

namespace ptychopatch::impl {
namespace {

using cpu::AlignedArray;
using cpu::Fftw;

// 0.4.0's struct, before dtype: float32 plans.
constexpr size_t kCorrelateDescSize040 = offsetof(ptp_correlate_desc, dtype);

void default_correlate_desc(ptp_correlate_desc* desc) {
  std::memset(desc, 0, sizeof *desc);
  desc->struct_size = sizeof *desc;
  desc->normalization = PTP_NORMALIZATION_PHASE;
  // A pair is usually correlated once or a few times per shape: never pay
  // FFTW_MEASURE's seconds unless the caller asks (or has wisdom).
  desc->fft_planning = PTP_FFT_PLANNING_WISDOM;
  desc->dtype = PTP_DTYPE_FLOAT32;
}

[[noreturn]] void bad_field(const char* field, int64_t value, const char* rule) {
  fail(PTP_ERROR_INVALID_ARGUMENT,
       std::string("desc->") + field + " = " + std::to_string(value) + ": " + rule);
}

// The largest |real| or |imaginary| part of a bin: the inverse of X / N
// sums N terms of at most this / N each, rotated (at most sqrt 2 times it),
// so no correlation value or partial sum of it can overflow (the fallback
// of execute_correlate_plan where the unscaled inverse does).
template <class Real>
constexpr Real kLargestBin = std::numeric_limits<Real>::max() / 4;

// One bin of the cross-power spectrum in float64, divided by max(|X|,
// 100 eps64) for phase normalisation (scikit-image's in double): |X| as
// s * h, s = max(|re|, |im|, DBL_MIN), h = |(re, im) / s| in [1, sqrt 2],
// so that no square overflows or underflows (math::scale_complex's way in
// float32, whose results are kept bit for bit there).
inline void cross_power64(double rr, double ri, double mr, double mi, bool phase, double* out_re,
                          double* out_im) {
  const double re = rr * mr + ri * mi;
  const double im = ri * mr - rr * mi;
  if (!phase) {
    *out_re = re;
    *out_im = im;
    return;
  }
  constexpr double kGuard = 100 * std::numeric_limits<double>::epsilon();
  double s = std::fmax(std::fabs(re), std::fabs(im));
  s = s > std::numeric_limits<double>::min() ? s : std::numeric_limits<double>::min();
  const double a = re / s, b = im / s;
  const double magnitude = s * std::sqrt(a * a + b * b);
  const double divisor = magnitude > kGuard ? magnitude : kGuard;
  *out_re = re / divisor;
  *out_im = im / divisor;
}

inline void cross_power_bin(float rr, float ri, float mr, float mi, bool phase, float* re,
                            float* im) {
  math::cross_power(rr, ri, mr, mi, false, re, im);
  if (phase) math::phase_normalized(*re, *im, re, im);
}

inline void cross_power_bin(double rr, double ri, double mr, double mi, bool phase, double* re,
                            double* im) {
  cross_power64(rr, ri, mr, mi, phase, re, im);
}

// a[k] = b[k] = X(k) for X = a[k] * conj(b[k]), phase normalised with
// `Phase`; returns whether any X is NaN, infinite or larger than
// kLargestBin (comparisons, false for NaN, ORed as integers, which unlike
// a float sum may be reordered: the loop vectorises). A template, so each
// normalisation is a loop of its own. (b is the inverse's input, which it
// destroys; a keeps X.)
template <bool Phase, class Real>
inline bool cross_power_impl(Real* __restrict a, Real* __restrict b, int64_t bins) {
  int bad = 0;
  for (int64_t k = 0; k < bins; ++k) {
    Real re, im;
    cross_power_bin(a[2 * k], a[2 * k + 1], b[2 * k], b[2 * k + 1], Phase, &re, &im);
    const bool in_range = (std::fabs(re) <= kLargestBin<Real>)&(std::fabs(im) <= kLargestBin<Real>);
    bad |= static_cast<int>(!in_range);
    a[2 * k] = re;
    a[2 * k + 1] = im;
    b[2 * k] = re;
    b[2 * k + 1] = im;
  }
  return bad != 0;
}

// x[i] *= scale; returns whether any result is not finite.
template <class Real>
inline bool scale_values_impl(Real* __restrict x, int64_t count, Real scale) {
  int bad = 0;
  for (int64_t i = 0; i < count; ++i) {
    x[i] *= scale;
    bad |= static_cast<int>(!(std::fabs(x[i]) <= std::numeric_limits<Real>::max()));
  }
  return bad != 0;
}

// x[i] = y[i] * scale.
template <class Real>
inline void scaled_copy_impl(Real* __restrict x, const Real* __restrict y, int64_t count,
                             Real scale) {
  for (int64_t i = 0; i < count; ++i) x[i] = y[i] * scale;
}

// The loops above, one function per precision (target_clones does not
// take templates).
PTP_ROW_KERNEL_CLONES
bool cross_power(float* __restrict a, float* __restrict b, int64_t bins, bool phase) {
  return phase ? cross_power_impl<true>(a, b, bins) : cross_power_impl<false>(a, b, bins);
}
PTP_ROW_KERNEL_CLONES
bool cross_power(double* __restrict a, double* __restrict b, int64_t bins, bool phase) {
  return phase ? cross_power_impl<true>(a, b, bins) : cross_power_impl<false>(a, b, bins);
}
PTP_ROW_KERNEL_CLONES
bool scale_values(float* __restrict x, int64_t count, float scale) {
  return scale_values_impl(x, count, scale);
}
PTP_ROW_KERNEL_CLONES
bool scale_values(double* __restrict x, int64_t count, double scale) {
  return scale_values_impl(x, count, scale);
}
PTP_ROW_KERNEL_CLONES
void scaled_copy(float* __restrict x, const float* __restrict y, int64_t count, float scale) {
  scaled_copy_impl(x, y, count, scale);
}
PTP_ROW_KERNEL_CLONES
void scaled_copy(double* __restrict x, const double* __restrict y, int64_t count, double scale) {
  scaled_copy_impl(x, y, count, scale);
}

template <class Real>
bool fftw_aligned(const void* p) {
  // The alignment of 0 for arrays with FFTW's SIMD alignment, as the
  // 64-byte aligned ones the plans were made with; another needs a copy.
  return Fftw<Real>::alignment_of(static_cast<Real*>(const_cast<void*>(p))) == 0;
}

// The plan's LineCorrelation of precision Real (const or not, as the plan).
template <class Real, class Plan>
auto& lines_of(Plan& plan) {
  if constexpr (std::is_same_v<Real, double>)
    return plan.lines64;
  else
    return plan.lines32;
}

unsigned line_flags(int32_t planning) {
  return planning == PTP_FFT_PLANNING_MEASURE    ? FFTW_MEASURE
         : planning == PTP_FFT_PLANNING_ESTIMATE ? FFTW_ESTIMATE
                                                 : FFTW_MEASURE | FFTW_WISDOM_ONLY;
}

// The plan's transforms in Real: a LineCorrelation where a side is
// transformed by Bluestein's algorithm, else FFTW's two-dimensional real
// plans (the caller holds nothing; this takes fftw_planner_mutex()).
template <class Real>
void plan_transforms(ptp_correlate_plan& plan, const ptp_correlate_desc& desc, int threads) {
  using F = Fftw<Real>;
  using Plan = typename F::Plan;
  std::lock_guard<std::mutex> lock(cpu::fftw_planner_mutex());
  struct NoTimeLimit {  // also where planning throws
    NoTimeLimit() { F::set_timelimit(cpu::kFftwPlanSeconds); }
    ~NoTimeLimit() { F::set_timelimit(FFTW_NO_TIMELIMIT); }
  } limit;
  if (cpu::transforms_by_lines(desc.height, desc.width)) {
    lines_of<Real>(plan) = std::make_unique<cpu::LineCorrelation<Real>>(
        desc.height, desc.width, line_flags(desc.fft_planning), threads);
    return;
  }
  // Planning arrays: FFTW_MEASURE writes them; their alignment (64 bytes)
  // is that of every workspace buffer, which execute() relies on.
  const int64_t half_width = desc.width / 2 + 1;
  AlignedArray<Real> real(desc.height * desc.width);
  AlignedArray<typename F::Complex> spectrum(plan.bins);
  const typename F::Dim forward[2] = {{desc.height, desc.width, half_width}, {desc.width, 1, 1}};
  const typename F::Dim inverse[2] = {{desc.height, half_width, desc.width}, {desc.width, 1, 1}};
  auto make = [&](unsigned effort) {
    plan.r2c = F::plan_r2c(2, forward, real.get(), spectrum.get(), effort);
    plan.c2r = F::plan_c2r(2, inverse, spectrum.get(), real.get(), effort | FFTW_DESTROY_INPUT);
  };
  auto destroy = [&] {
    if (plan.r2c != nullptr) F::destroy(static_cast<Plan>(plan.r2c));
    if (plan.c2r != nullptr) F::destroy(static_cast<Plan>(plan.c2r));
    plan.r2c = plan.c2r = nullptr;
  };
  switch (desc.fft_planning) {
    case PTP_FFT_PLANNING_MEASURE:
      make(FFTW_MEASURE);
      break;
    case PTP_FFT_PLANNING_ESTIMATE:
      make(FFTW_ESTIMATE);
      break;
    default:  // WISDOM: measured plans only where wisdom has them
      make(FFTW_MEASURE | FFTW_WISDOM_ONLY);
      if (plan.r2c == nullptr || plan.c2r == nullptr) {
        destroy();
        make(FFTW_ESTIMATE);
      }
  }
  if (plan.r2c == nullptr || plan.c2r == nullptr) {
    destroy();
    fail(PTP_ERROR_INTERNAL, "FFTW could not plan a " + std::to_string(desc.height) + " x " +
                                 std::to_string(desc.width) + " transform");
  }
}

}  // namespace

void init_correlate_desc(ptp_correlate_desc* desc, size_t struct_size) {
  // A program built against 0.4.0's header owns only the fields before
  // dtype (and gets float32 plans).
  init_desc(desc, "desc", struct_size, default_correlate_desc, kCorrelateDescSize040);
}

ptp_correlate_plan* create_correlate_plan(const ptp_correlate_desc* given, int threads) {
  ptp_correlate_desc widened;
  const ptp_correlate_desc* desc =
      current_desc(given, "desc", widened, kCorrelateDescSize040, default_correlate_desc);
  // Sizes out of range are PTP_ERROR_INVALID_SIZE, as everywhere in the
  // ABI (docs/api.md, "Sizes"); other bad fields INVALID_ARGUMENT.
  for (const auto& [field, side] :
       {std::pair{"height", desc->height}, std::pair{"width", desc->width}})
    if (side < 1)
      fail(PTP_ERROR_INVALID_SIZE,
           std::string("desc->") + field + " = " + std::to_string(side) + ": must be at least 1");
  if (desc->normalization != PTP_NORMALIZATION_PHASE &&
      desc->normalization != PTP_NORMALIZATION_NONE)
    bad_field("normalization", desc->normalization,
              "must be PTP_NORMALIZATION_PHASE or PTP_NORMALIZATION_NONE (scikit-image's "
              "two; partial whitening is scene alignment's)");
  if (desc->fft_planning != PTP_FFT_PLANNING_MEASURE &&
      desc->fft_planning != PTP_FFT_PLANNING_ESTIMATE &&
      desc->fft_planning != PTP_FFT_PLANNING_WISDOM)
    bad_field("fft_planning", desc->fft_planning,
              "must be PTP_FFT_PLANNING_MEASURE, _ESTIMATE or _WISDOM");
  if (desc->dtype != PTP_DTYPE_FLOAT32 && desc->dtype != PTP_DTYPE_FLOAT64)
    bad_field("dtype", desc->dtype,
              "must be PTP_DTYPE_FLOAT32 (ptp_correlate_execute) or PTP_DTYPE_FLOAT64 "
              "(ptp_correlate_execute_f64)");
  const bool f64 = desc->dtype == PTP_DTYPE_FLOAT64;
  const int64_t real_bytes = f64 ? 8 : 4;
  const int64_t half_width = desc->width / 2 + 1;
  const int64_t elements = checked_mul(desc->height, desc->width, "height * width");
  const int64_t bins = checked_mul(desc->height, half_width, "height * (width / 2 + 1)");
  // Byte counts of the largest buffers (complex bins: two reals each).
  checked_mul(bins, 2 * real_bytes, "the half spectrum's bytes");
  checked_mul(elements, real_bytes, "the image's bytes");

  auto plan = std::make_unique<ptp_correlate_plan>();
  plan->height = desc->height;
  plan->width = desc->width;
  plan->bins = bins;
  plan->phase = desc->normalization == PTP_NORMALIZATION_PHASE;
  plan->f64 = f64;
  if (f64)
    plan_transforms<double>(*plan, *desc, threads);
  else
    plan_transforms<float>(*plan, *desc, threads);
  return plan.release();
}

}  // namespace ptychopatch::impl

struct ptp_correlate_plan::Workspace {
  // The buffers of one precision's calls.
  template <class Real>
  struct Buffers {
    ptychopatch::impl::cpu::AlignedArray<Real> a;  // half spectra, interleaved pairs
    ptychopatch::impl::cpu::AlignedArray<Real> b;
    ptychopatch::impl::cpu::AlignedArray<Real> image;  // made on first need
    ptychopatch::impl::cpu::AlignedArray<Real> block;  // LineCorrelation's
  };
  Buffers<float> single;
  Buffers<double> dual;
  template <class Real>
  Buffers<Real>& of() {
    if constexpr (std::is_same_v<Real, double>)
      return dual;
    else
      return single;
  }
};

ptp_correlate_plan::~ptp_correlate_plan() {
  std::lock_guard<std::mutex> lock(ptychopatch::impl::cpu::fftw_planner_mutex());
  lines32.reset();
  lines64.reset();
  using ptychopatch::impl::cpu::Fftw;
  for (void* p : {r2c, c2r}) {
    if (p == nullptr) continue;
    if (f64)
      Fftw<double>::destroy(static_cast<fftw_plan>(p));
    else
      Fftw<float>::destroy(static_cast<fftwf_plan>(p));
  }
}

namespace ptychopatch::impl {

template <class Real>
void execute_correlate_plan(const ptp_correlate_plan& plan, const Real* reference,
                            const Real* moving, void* spectrum, Real* correlation) {
  using F = Fftw<Real>;
  using Plan = typename F::Plan;
  constexpr bool kF64 = sizeof(Real) == 8;
  if (plan.f64 != kF64)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         plan.f64 ? "the plan is for float64 images (desc->dtype PTP_DTYPE_FLOAT64): execute it "
                    "with ptp_correlate_execute_f64"
                  : "the plan is for float32 images (desc->dtype PTP_DTYPE_FLOAT32): execute it "
                    "with ptp_correlate_execute");
  require_non_null(reference, "reference");
  require_non_null(moving, "moving");
  if (spectrum == nullptr && correlation == nullptr)
    fail(PTP_ERROR_INVALID_ARGUMENT, "spectrum and correlation are both NULL: nothing to compute");
  const int64_t elements = plan.height * plan.width;
  const auto* lines = lines_of<Real>(plan).get();

  std::unique_lock<std::mutex> lock(plan.workspace_mutex, std::try_to_lock);
  ptp_correlate_plan::Workspace own;
  ptp_correlate_plan::Workspace* workspace = &own;
  if (lock.owns_lock()) {
    if (!plan.workspace) plan.workspace = std::make_unique<ptp_correlate_plan::Workspace>();
    workspace = plan.workspace.get();
  }
  auto& w = workspace->template of<Real>();
  // Every buffer this call needs, before anything is written: a failed
  // allocation leaves the outputs and the workspace as they were.
  const bool copy_image =
      lines == nullptr && (!fftw_aligned<Real>(reference) || !fftw_aligned<Real>(moving) ||
                           (correlation != nullptr && !fftw_aligned<Real>(correlation)));
  if (w.a.get() == nullptr || w.b.get() == nullptr) {
    AlignedArray<Real> a(2 * plan.bins), b(2 * plan.bins);
    w.a = std::move(a);
    w.b = std::move(b);
  }
  if (copy_image && w.image.get() == nullptr) w.image = AlignedArray<Real>(elements);
  if (lines != nullptr && w.block.get() == nullptr)
    w.block = AlignedArray<Real>(2 * lines->threads() * lines->block_size());

  auto complex = [](Real* x) { return reinterpret_cast<typename F::Complex*>(x); };
  auto aligned = [&](const Real* image) -> Real* {
    if (fftw_aligned<Real>(image)) return const_cast<Real*>(image);  // r2c reads it only
    std::memcpy(w.image.get(), image, static_cast<size_t>(elements) * sizeof(Real));
    return w.image.get();
  };
  Real* a = w.a.get();
  Real* b = w.b.get();
  if (lines != nullptr) {
    lines->forward(reference, moving, a, b, w.block.get());
  } else {
    const auto r2c = static_cast<Plan>(plan.r2c);
    F::execute_r2c(r2c, aligned(reference), complex(a));
    F::execute_r2c(r2c, aligned(moving), complex(b));
  }
  if (cross_power(a, b, plan.bins, plan.phase))
    fail(PTP_ERROR_NON_FINITE,
         kF64 ? "the cross-power spectrum is not finite (or within a factor 4 of float64's "
                "largest value): the reference or the moving image holds NaN or infinity, or "
                "its transform overflows float64 (scale the images down)"
              : "the cross-power spectrum is not finite (or within a factor 4 of float32's "
                "largest value): the reference or the moving image holds NaN or infinity, or "
                "its transform overflows float32 (scale the images down)");

  if (spectrum != nullptr)
    std::memcpy(spectrum, a, static_cast<size_t>(plan.bins) * 2 * sizeof(Real));
  if (correlation == nullptr) return;
  // The inverse unscaled, then times 1/N, as scipy.fft's irfftn scales: X / N
  // first would put the bins of tiny images (|X| < N * the smallest normal)
  // among the subnormals and lose their precision. Where the unscaled
  // inverse overflows, it is redone from X / N, which cannot (kLargestBin).
  const Real scale = static_cast<Real>(1.0 / static_cast<double>(elements));
  Real* out = copy_image && !fftw_aligned<Real>(correlation) ? w.image.get() : correlation;
  auto invert = [&] {
    if (lines != nullptr)
      lines->inverse(b, out, w.block.get());
    else
      F::execute_c2r(static_cast<Plan>(plan.c2r), complex(b), out);
  };
  invert();
  if (scale_values(out, elements, scale)) {
    scaled_copy(b, a, 2 * plan.bins, scale);
    invert();
  }
  if (out != correlation)
    std::memcpy(correlation, out, static_cast<size_t>(elements) * sizeof(Real));
}

template void execute_correlate_plan<float>(const ptp_correlate_plan&, const float*, const float*,
                                            void*, float*);
template void execute_correlate_plan<double>(const ptp_correlate_plan&, const double*,
                                             const double*, void*, double*);

}  // namespace ptychopatch::impl
