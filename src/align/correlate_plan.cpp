// The cross-correlation of one pair of real images; design notes in
// correlate_plan.hpp.
#include "align/correlate_plan.hpp"

#include <fftw3.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "align/align_cpu.hpp"
#include "align/line_correlation.hpp"
#include "core/error.hpp"
#include "cpu/aligned_array.hpp"
#include "cpu/fp_environment.hpp"  // PTP_ROW_KERNEL_CLONES
#include "math/phase_math.hpp"

namespace ptychopatch::impl {
namespace {

using cpu::AlignedArray;

void default_correlate_desc(ptp_correlate_desc* desc) {
  std::memset(desc, 0, sizeof *desc);
  desc->struct_size = sizeof *desc;
  desc->normalization = PTP_NORMALIZATION_PHASE;
  // A pair is usually correlated once or a few times per shape: never pay
  // FFTW_MEASURE's seconds unless the caller asks (or has wisdom).
  desc->fft_planning = PTP_FFT_PLANNING_WISDOM;
}

[[noreturn]] void bad_field(const char* field, int64_t value, const char* rule) {
  fail(PTP_ERROR_INVALID_ARGUMENT,
       std::string("desc->") + field + " = " + std::to_string(value) + ": " + rule);
}

// The largest |real| or |imaginary| part of a bin: the inverse of X / N
// sums N terms of at most this / N each, rotated (at most sqrt 2 times it),
// so no correlation value or partial sum of it can overflow float32 (the
// fallback of execute_correlate_plan where the unscaled inverse does).
constexpr float kLargestBin = std::numeric_limits<float>::max() / 4;

// a[k] = b[k] = X(k) for X = a[k] * conj(b[k]), phase normalised
// (math::phase_normalized) with `Phase`; returns whether any X is NaN,
// infinite or larger than kLargestBin (comparisons, false for NaN, ORed as
// integers, which unlike a float sum may be reordered: the loop
// vectorises). A template, so each normalisation is a loop of its own.
// (b is the inverse's input, which it destroys; a keeps X.)
template <bool Phase>
inline bool cross_power_impl(float* __restrict a, float* __restrict b, int64_t bins) {
  int bad = 0;
  for (int64_t k = 0; k < bins; ++k) {
    float re, im;
    math::cross_power(a[2 * k], a[2 * k + 1], b[2 * k], b[2 * k + 1], false, &re, &im);
    if (Phase) math::phase_normalized(re, im, &re, &im);
    const bool in_range = (std::fabs(re) <= kLargestBin) & (std::fabs(im) <= kLargestBin);
    bad |= static_cast<int>(!in_range);
    a[2 * k] = re;
    a[2 * k + 1] = im;
    b[2 * k] = re;
    b[2 * k + 1] = im;
  }
  return bad != 0;
}

PTP_ROW_KERNEL_CLONES
bool cross_power(float* __restrict a, float* __restrict b, int64_t bins, bool phase) {
  return phase ? cross_power_impl<true>(a, b, bins) : cross_power_impl<false>(a, b, bins);
}

// x[i] *= scale; returns whether any result is not finite.
PTP_ROW_KERNEL_CLONES
bool scale_values(float* __restrict x, int64_t count, float scale) {
  int bad = 0;
  for (int64_t i = 0; i < count; ++i) {
    x[i] *= scale;
    bad |= static_cast<int>(!(std::fabs(x[i]) <= std::numeric_limits<float>::max()));
  }
  return bad != 0;
}

// x[i] = y[i] * scale.
PTP_ROW_KERNEL_CLONES
void scaled_copy(float* __restrict x, const float* __restrict y, int64_t count, float scale) {
  for (int64_t i = 0; i < count; ++i) x[i] = y[i] * scale;
}

bool fftw_aligned(const void* p) {
  // fftwf_alignment_of is 0 for arrays with FFTW's SIMD alignment, as the
  // 64-byte aligned ones the plans were made with; another needs a copy.
  return fftwf_alignment_of(static_cast<float*>(const_cast<void*>(p))) == 0;
}

}  // namespace

void init_correlate_desc(ptp_correlate_desc* desc, size_t struct_size) {
  require_non_null(desc, "desc");
  require_known_struct_size("struct_size", struct_size, sizeof(ptp_correlate_desc));
  default_correlate_desc(desc);
}

ptp_correlate_plan* create_correlate_plan(const ptp_correlate_desc* desc, int threads) {
  require_non_null(desc, "desc");
  require_known_struct_size("desc->struct_size", desc->struct_size, sizeof(ptp_correlate_desc));
  if (desc->height < 1) bad_field("height", desc->height, "must be at least 1");
  if (desc->width < 1) bad_field("width", desc->width, "must be at least 1");
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
  const int64_t half_width = desc->width / 2 + 1;
  const int64_t elements = checked_mul(desc->height, desc->width, "height * width");
  const int64_t bins = checked_mul(desc->height, half_width, "height * (width / 2 + 1)");
  // Byte counts of the largest buffers (complex bins: 8 bytes each).
  checked_mul(bins, 8, "the half spectrum's bytes");
  checked_mul(elements, 4, "the image's bytes");

  auto plan = std::make_unique<ptp_correlate_plan>();
  plan->height = desc->height;
  plan->width = desc->width;
  plan->bins = bins;
  plan->phase = desc->normalization == PTP_NORMALIZATION_PHASE;

  if (cpu::LineCorrelation::pays(desc->height, desc->width)) {
    const unsigned effort = desc->fft_planning == PTP_FFT_PLANNING_MEASURE ? FFTW_MEASURE
                            : desc->fft_planning == PTP_FFT_PLANNING_ESTIMATE
                                ? FFTW_ESTIMATE
                                : FFTW_MEASURE | FFTW_WISDOM_ONLY;
    std::lock_guard<std::mutex> lock(cpu::fftw_planner_mutex());
    struct NoTimeLimit {  // also where planning throws
      NoTimeLimit() { fftwf_set_timelimit(cpu::kFftwPlanSeconds); }
      ~NoTimeLimit() { fftwf_set_timelimit(FFTW_NO_TIMELIMIT); }
    } limit;
    plan->lines =
        std::make_unique<cpu::LineCorrelation>(desc->height, desc->width, effort, threads);
    return plan.release();
  }

  // Planning arrays: FFTW_MEASURE writes them; their alignment (64 bytes)
  // is that of every workspace buffer, which execute() relies on.
  AlignedArray<float> real(elements);
  AlignedArray<fftwf_complex> spectrum(bins);
  const fftwf_iodim64 forward[2] = {{desc->height, desc->width, half_width}, {desc->width, 1, 1}};
  const fftwf_iodim64 inverse[2] = {{desc->height, half_width, desc->width}, {desc->width, 1, 1}};
  {
    std::lock_guard<std::mutex> lock(cpu::fftw_planner_mutex());
    fftwf_set_timelimit(cpu::kFftwPlanSeconds);
    auto make = [&](unsigned effort) {
      plan->r2c =
          fftwf_plan_guru64_dft_r2c(2, forward, 0, nullptr, real.get(), spectrum.get(), effort);
      plan->c2r = fftwf_plan_guru64_dft_c2r(2, inverse, 0, nullptr, spectrum.get(), real.get(),
                                            effort | FFTW_DESTROY_INPUT);
    };
    switch (desc->fft_planning) {
      case PTP_FFT_PLANNING_MEASURE:
        make(FFTW_MEASURE);
        break;
      case PTP_FFT_PLANNING_ESTIMATE:
        make(FFTW_ESTIMATE);
        break;
      default:  // WISDOM: measured plans only where wisdom has them
        make(FFTW_MEASURE | FFTW_WISDOM_ONLY);
        if (plan->r2c == nullptr || plan->c2r == nullptr) {
          if (plan->r2c != nullptr) fftwf_destroy_plan(static_cast<fftwf_plan>(plan->r2c));
          if (plan->c2r != nullptr) fftwf_destroy_plan(static_cast<fftwf_plan>(plan->c2r));
          make(FFTW_ESTIMATE);
        }
    }
    fftwf_set_timelimit(FFTW_NO_TIMELIMIT);
  }
  if (plan->r2c == nullptr || plan->c2r == nullptr)
    fail(PTP_ERROR_INTERNAL, "FFTW could not plan a " + std::to_string(desc->height) + " x " +
                                 std::to_string(desc->width) + " transform");
  return plan.release();
}

}  // namespace ptychopatch::impl

struct ptp_correlate_plan::Workspace {
  ptychopatch::impl::cpu::AlignedArray<fftwf_complex> a;
  ptychopatch::impl::cpu::AlignedArray<fftwf_complex> b;
  ptychopatch::impl::cpu::AlignedArray<float> image;  // made on first need
  ptychopatch::impl::cpu::AlignedArray<float> block;  // LineCorrelation's
};

ptp_correlate_plan::~ptp_correlate_plan() {
  std::lock_guard<std::mutex> lock(ptychopatch::impl::cpu::fftw_planner_mutex());
  lines.reset();
  if (r2c != nullptr) fftwf_destroy_plan(static_cast<fftwf_plan>(r2c));
  if (c2r != nullptr) fftwf_destroy_plan(static_cast<fftwf_plan>(c2r));
}

namespace ptychopatch::impl {

void execute_correlate_plan(const ptp_correlate_plan& plan, const float* reference,
                            const float* moving, void* spectrum, float* correlation) {
  require_non_null(reference, "reference");
  require_non_null(moving, "moving");
  if (spectrum == nullptr && correlation == nullptr)
    fail(PTP_ERROR_INVALID_ARGUMENT, "spectrum and correlation are both NULL: nothing to compute");
  const int64_t elements = plan.height * plan.width;

  std::unique_lock<std::mutex> lock(plan.workspace_mutex, std::try_to_lock);
  ptp_correlate_plan::Workspace own;
  ptp_correlate_plan::Workspace* w = &own;
  if (lock.owns_lock()) {
    if (!plan.workspace) plan.workspace = std::make_unique<ptp_correlate_plan::Workspace>();
    w = plan.workspace.get();
  }
  // Every buffer this call needs, before anything is written: a failed
  // allocation leaves the outputs and the workspace as they were.
  const bool copy_image = !plan.lines && (!fftw_aligned(reference) || !fftw_aligned(moving) ||
                                          (correlation != nullptr && !fftw_aligned(correlation)));
  if (w->a.get() == nullptr || w->b.get() == nullptr) {
    cpu::AlignedArray<fftwf_complex> a(plan.bins), b(plan.bins);
    w->a = std::move(a);
    w->b = std::move(b);
  }
  if (copy_image && w->image.get() == nullptr) w->image = cpu::AlignedArray<float>(elements);
  if (plan.lines && w->block.get() == nullptr)
    w->block = cpu::AlignedArray<float>(2 * plan.lines->threads() * plan.lines->block_size());

  auto aligned = [&](const float* image) -> float* {
    if (fftw_aligned(image)) return const_cast<float*>(image);  // r2c reads it only
    std::memcpy(w->image.get(), image, static_cast<size_t>(elements) * sizeof(float));
    return w->image.get();
  };
  float* a = &w->a.get()[0][0];
  float* b = &w->b.get()[0][0];
  if (plan.lines) {
    plan.lines->forward(reference, moving, a, b, w->block.get());
  } else {
    const auto r2c = static_cast<fftwf_plan>(plan.r2c);
    fftwf_execute_dft_r2c(r2c, aligned(reference), w->a.get());
    fftwf_execute_dft_r2c(r2c, aligned(moving), w->b.get());
  }
  if (cross_power(a, b, plan.bins, plan.phase))
    fail(PTP_ERROR_NON_FINITE,
         "the cross-power spectrum is not finite (or within a factor 4 of float32's largest "
         "value): the reference or the moving image holds NaN or infinity, or its transform "
         "overflows float32 (scale the images down)");

  if (spectrum != nullptr)
    std::memcpy(spectrum, a, static_cast<size_t>(plan.bins) * sizeof(fftwf_complex));
  if (correlation == nullptr) return;
  // The inverse unscaled, then times 1/N, as scipy.fft's irfftn scales: X / N
  // first would put the bins of tiny images (|X| < N FLT_MIN) among the
  // subnormals and lose their precision. Where the unscaled inverse
  // overflows, it is redone from X / N, which cannot (kLargestBin).
  const auto c2r = static_cast<fftwf_plan>(plan.c2r);
  const float scale = static_cast<float>(1.0 / static_cast<double>(elements));
  float* out = copy_image && !fftw_aligned(correlation) ? w->image.get() : correlation;
  auto invert = [&] {
    if (plan.lines)
      plan.lines->inverse(b, out, w->block.get());
    else
      fftwf_execute_dft_c2r(c2r, w->b.get(), out);
  };
  invert();
  if (scale_values(out, elements, scale)) {
    scaled_copy(b, a, 2 * plan.bins, scale);
    invert();
  }
  if (out != correlation)
    std::memcpy(correlation, out, static_cast<size_t>(elements) * sizeof(float));
}

}  // namespace ptychopatch::impl
