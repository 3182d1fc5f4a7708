// ptp_align_desc: its defaults and its validation into an AlignGeometry (align_plan.hpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "align/align_plan.hpp"
#include "core/desc_versions.hpp"
#include "core/error.hpp"
#include "fft/fft_size.hpp"
#include "math/luma_math.hpp"

namespace ptychopatch::impl {
namespace {

// FFT sides stay below 2^31: FFT libraries index with int, and math::dft_twiddle's
// exact phase reduction assumes it.
constexpr int64_t kMaxPlaneSide = (int64_t{1} << 31) - 1;

std::string field_error(const char* field, int64_t value, const char* rule) {
  return std::string("desc->") + field + " is " + std::to_string(value) + ", " + rule;
}

std::string pattern_text(const int32_t* codes, int count) {
  std::string s = "{";
  for (int i = 0; i < count; ++i) s += (i ? ", " : "") + std::to_string(codes[i]);
  return s + "}";
}

void validate_pattern(const ptp_align_desc& desc) {
  if (desc.cfa == PTP_CFA_BAYER) {
    int count[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
      const int32_t code = desc.pattern[i];
      if (code < 0 || code > 3)
        fail(PTP_ERROR_INVALID_ARGUMENT,
             "desc->pattern[" + std::to_string(i) + "] is " + std::to_string(code) +
                 ", a Bayer colour code must be 0 (R), 1 (G), 2 (B) or 3 (second G)");
      ++count[code];
    }
    if (count[0] != 1 || count[2] != 1 || count[1] < 1 || count[1] + count[3] != 2)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "desc->pattern " + pattern_text(desc.pattern, 4) +
               " is not a Bayer pattern: it needs one R (0), one B (2) and two greens (1 and 1, "
               "or 1 and 3)");
    return;
  }
  if (desc.cfa == PTP_CFA_XTRANS) {
    int count[3] = {0, 0, 0};
    for (int i = 0; i < 36; ++i) {
      const int32_t code = desc.pattern[i];
      if (code < 0 || code > 2)
        fail(PTP_ERROR_INVALID_ARGUMENT,
             "desc->pattern[" + std::to_string(i) + "] is " + std::to_string(code) +
                 ", an X-Trans colour code must be 0 (R), 1 (G) or 2 (B)");
      ++count[code];
    }
    for (int c = 0; c < 3; ++c)
      if (count[c] == 0)
        fail(PTP_ERROR_INVALID_ARGUMENT, "desc->pattern " + pattern_text(desc.pattern, 36) +
                                             " is not an X-Trans pattern: colour " +
                                             std::to_string(c) +
                                             (c == 0   ? " (R)"
                                              : c == 1 ? " (G)"
                                                       : " (B)") +
                                             " is missing");
  }
}

// The shifts in [0, period)^2 that map the colour pattern onto itself (crop_offsets).
std::vector<std::pair<int64_t, int64_t>> pattern_preserving_shifts(const ptp_align_desc& desc,
                                                                   int64_t period) {
  std::vector<std::pair<int64_t, int64_t>> offsets;
  for (int64_t dy = 0; dy < period; ++dy)
    for (int64_t dx = 0; dx < period; ++dx) {
      bool same = true;
      for (int64_t r = 0; r < period && same; ++r)
        for (int64_t c = 0; c < period && same; ++c)
          same = desc.pattern[((r + dy) % period) * period + (c + dx) % period] ==
                 desc.pattern[r * period + c];
      if (same) offsets.emplace_back(dy, dx);
    }
  return offsets;
}

const char* cfa_name(ptp_cfa cfa) {
  return cfa == PTP_CFA_BAYER ? "Bayer" : cfa == PTP_CFA_XTRANS ? "X-Trans" : "none";
}

}  // namespace

void default_align_desc(ptp_align_desc* desc) {
  *desc = ptp_align_desc{};
  desc->struct_size = sizeof(ptp_align_desc);
  desc->channels = 1;
  desc->frame_dtype = PTP_DTYPE_UINT16;
  desc->cfa = PTP_CFA_NONE;
  // RGGB as rawpy's raw_pattern gives it: [[0, 1], [3, 2]].
  desc->pattern[0] = 0;
  desc->pattern[1] = 1;
  desc->pattern[2] = 3;
  desc->pattern[3] = 2;
  // Crops need sub-pixel estimates: an X-Trans (3, 3) crop is half a plane pixel, and
  // the nearest even Bayer crop of an odd shift depends on its fraction.
  desc->upsample_factor = 10;
  // Partial whitening was right most often on the robustness benchmark
  // (docs/performance.md, "Is it right? Robustness on synthetic RAW scenes").
  desc->normalization = PTP_NORMALIZATION_PARTIAL;
  desc->window = PTP_WINDOW_HANN;
  desc->combine = PTP_COMBINE_LUMA;
  desc->snap = 0;
  desc->fft_planning = PTP_FFT_PLANNING_MEASURE;
  desc->max_shift = 0;
  desc->method = PTP_ALIGN_METHOD_CORRELATION;
  // Coarse to fine: the whitened peak finds the shift, the fine stage places it where
  // the assessment doubts it (docs/notes/alignment.md, "The fine stage only where the
  // result is in doubt").
  desc->verify = PTP_ALIGN_VERIFY_REFINE;
}

namespace {
// 0.3.0's defaults, which a program built against its header keeps: whole pixels, and
// the retired per-plane phase correlation's values (they run the default estimator).
void default_align_desc_030(ptp_align_desc* desc) {
  default_align_desc(desc);
  desc->upsample_factor = 1;
  desc->normalization = PTP_NORMALIZATION_PHASE;
  desc->window = PTP_WINDOW_NONE;
  desc->combine = PTP_COMBINE_MEDIAN;
}
// The defaults of fields 0.3.0's struct lacks: no fine stage, so results stay 0.3.0's.
void default_align_desc_after_030(ptp_align_desc* desc) {
  default_align_desc(desc);
  desc->verify = PTP_ALIGN_VERIFY_NONE;
}
}  // namespace

void init_align_desc(ptp_align_desc* desc, size_t struct_size) {
  init_desc(desc, "desc", struct_size, default_align_desc, kAlignDescSize030,
            default_align_desc_030);
}

AlignGeometry validate_align_desc(const ptp_align_desc* given) {
  ptp_align_desc widened;
  const ptp_align_desc* desc =
      current_desc(given, "desc", widened, kAlignDescSize030, default_align_desc_after_030);
  if (desc->fft_planning != PTP_FFT_PLANNING_MEASURE &&
      desc->fft_planning != PTP_FFT_PLANNING_ESTIMATE &&
      desc->fft_planning != PTP_FFT_PLANNING_WISDOM)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("fft_planning", desc->fft_planning,
                     "must be PTP_FFT_PLANNING_MEASURE, _ESTIMATE or _WISDOM"));
  if (desc->cfa != PTP_CFA_NONE && desc->cfa != PTP_CFA_BAYER && desc->cfa != PTP_CFA_XTRANS)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("cfa", desc->cfa, "must be PTP_CFA_NONE, PTP_CFA_BAYER or PTP_CFA_XTRANS"));
  if (desc->frame_dtype != PTP_DTYPE_UINT16 && desc->frame_dtype != PTP_DTYPE_FLOAT32)
    fail(PTP_ERROR_INVALID_ARGUMENT, field_error("frame_dtype", desc->frame_dtype,
                                                 "must be PTP_DTYPE_UINT16 or PTP_DTYPE_FLOAT32"));
  if (desc->normalization != PTP_NORMALIZATION_PHASE &&
      desc->normalization != PTP_NORMALIZATION_NONE &&
      desc->normalization != PTP_NORMALIZATION_PARTIAL)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("normalization", desc->normalization,
                     "must be PTP_NORMALIZATION_PHASE, _NONE or _PARTIAL"));
  if (desc->window != PTP_WINDOW_NONE && desc->window != PTP_WINDOW_HANN)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("window", desc->window, "must be PTP_WINDOW_NONE or PTP_WINDOW_HANN"));
  if (desc->combine != PTP_COMBINE_MEDIAN && desc->combine != PTP_COMBINE_MEAN &&
      desc->combine != PTP_COMBINE_JOINT && desc->combine != PTP_COMBINE_LUMA)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("combine", desc->combine,
                     "must be PTP_COMBINE_LUMA, PTP_COMBINE_JOINT, PTP_COMBINE_MEDIAN or "
                     "PTP_COMBINE_MEAN"));
  if (desc->max_shift < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         field_error("max_shift", desc->max_shift, "must be >= 0 (0: unbounded)"));
  if (desc->verify != PTP_ALIGN_VERIFY_NONE && desc->verify != PTP_ALIGN_VERIFY_CHECK &&
      desc->verify != PTP_ALIGN_VERIFY_CORRECT && desc->verify != PTP_ALIGN_VERIFY_REFINE)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("verify", desc->verify,
                     "must be PTP_ALIGN_VERIFY_NONE, _CHECK, _CORRECT or _REFINE (0, 1, 2 or 3)"));
  // The compatibility mode has no fine stage: REFINE (the default) and NONE both mean
  // none; asking for a check or a correction is an error.
  if (desc->verify != PTP_ALIGN_VERIFY_NONE && desc->verify != PTP_ALIGN_VERIFY_REFINE &&
      desc->method == PTP_ALIGN_METHOD_RAWNIND)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->verify is PTP_ALIGN_VERIFY_CHECK or _CORRECT but desc->method is "
         "PTP_ALIGN_METHOD_RAWNIND: the compatibility mode reproduces RawNIND's results, which "
         "have no confidence to check");
  if (desc->method != PTP_ALIGN_METHOD_CORRELATION && desc->method != PTP_ALIGN_METHOD_RAWNIND)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("method", desc->method,
                     "must be PTP_ALIGN_METHOD_CORRELATION or PTP_ALIGN_METHOD_RAWNIND"));
  if (desc->method == PTP_ALIGN_METHOD_RAWNIND) {
    if (desc->cfa == PTP_CFA_NONE)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "desc->method is PTP_ALIGN_METHOD_RAWNIND but desc->cfa is PTP_CFA_NONE: RawNIND's "
           "method aligns Bayer or X-Trans mosaics");
    ptp_align_desc defaults;
    default_align_desc(&defaults);
    // PTP_COMBINE_JOINT, the former default, is accepted too.
    if (desc->normalization != defaults.normalization || desc->window != defaults.window ||
        (desc->combine != defaults.combine && desc->combine != PTP_COMBINE_JOINT) ||
        desc->snap != 0 ||
        (desc->upsample_factor != 1 && desc->upsample_factor != defaults.upsample_factor) ||
        desc->max_shift != 0)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "desc->method is PTP_ALIGN_METHOD_RAWNIND: normalization, window, combine (or "
           "PTP_COMBINE_JOINT), snap and max_shift must keep their defaults and "
           "upsample_factor be its default or 1 "
           "(the method fixes them: plain linear correlation, no window, whole-pixel lags, "
           "median, truncation and snap)");
  }
  if (desc->snap != 0 && desc->snap != 1)
    fail(PTP_ERROR_INVALID_ARGUMENT, field_error("snap", desc->snap, "must be 0 or 1"));
  if (desc->snap == 1 && desc->cfa == PTP_CFA_NONE)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "desc->snap is 1 but desc->cfa is PTP_CFA_NONE: snapping floors to CFA blocks (2 for "
         "Bayer, 3 for X-Trans) and plain images have none");
  if (desc->upsample_factor < 1 || desc->upsample_factor > kMaxUpsampleFactor)
    fail(PTP_ERROR_INVALID_SIZE,
         field_error("upsample_factor", desc->upsample_factor, "must be in [1, 1000]"));
  if (desc->cfa == PTP_CFA_NONE) {
    if (desc->channels < 1)
      fail(PTP_ERROR_INVALID_SIZE, field_error("channels", desc->channels, "must be >= 1"));
  } else if (desc->channels != 1) {
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("channels", desc->channels,
                     "must be 1 with a colour filter pattern (the planes are the pattern "
                     "positions)"));
  }
  validate_pattern(*desc);

  const ptp_cfa cfa = static_cast<ptp_cfa>(desc->cfa);
  const int64_t period = cfa == PTP_CFA_BAYER ? 2 : cfa == PTP_CFA_XTRANS ? 6 : 1;
  const std::string rule = "must be >= " + std::to_string(period) +
                           (period > 1 ? std::string(" (the ") + cfa_name(cfa) + " period)" : "");
  if (desc->height < period)
    fail(PTP_ERROR_INVALID_SIZE, field_error("height", desc->height, rule.c_str()));
  if (desc->width < period)
    fail(PTP_ERROR_INVALID_SIZE, field_error("width", desc->width, rule.c_str()));
  // Every size below derives from the plane sides, so bounding them first rules out overflow.
  for (const auto& [field, side] :
       {std::pair{"height", desc->height}, std::pair{"width", desc->width}})
    if (side / period > kMaxPlaneSide)
      fail(PTP_ERROR_INVALID_SIZE,
           field_error(field, side,
                       ("gives planes of " + std::to_string(side / period) +
                        " pixels per side, over the FFT size limit of 2^31 - 1")
                           .c_str()));

  AlignGeometry g{};
  g.height = desc->height;
  g.width = desc->width;
  g.channels = desc->channels;
  g.period = period;
  g.planes = cfa == PTP_CFA_NONE ? desc->channels : period * period;
  g.plane_height = desc->height / period;
  g.plane_width = desc->width / period;
  g.frame_dtype = static_cast<ptp_dtype>(desc->frame_dtype);
  g.cfa = cfa;
  g.upsample = desc->upsample_factor;
  g.fft_planning = static_cast<ptp_fft_planning>(desc->fft_planning);
  // The retired normalizations, windows and combinations keep their values and run the
  // default estimator (CHANGELOG.md, "Deprecated"); RawNIND's method has its own (per-plane
  // shifts, median).
  const bool correlation = desc->method == PTP_ALIGN_METHOD_CORRELATION;
  g.luma = correlation;
  g.snap = desc->snap == 1;
  g.method = static_cast<ptp_align_method>(desc->method);
  // CHECK and CORRECT are retired: they keep their values and run REFINE.
  g.verify = !correlation                            ? PTP_ALIGN_VERIFY_NONE
             : desc->verify == PTP_ALIGN_VERIFY_NONE ? PTP_ALIGN_VERIFY_NONE
                                                     : PTP_ALIGN_VERIFY_REFINE;
  // Where the polish sets the shift the coarse estimate need only land within its reach: one
  // tracking pass. Under kOnePassFromSide pixels a side frames often get no fit and the coarse
  // peak stands (48-pixel frames with one pass: 749 of 1080 right against 769;
  // docs/notes/alignment.md, "One tracking pass before the polish").
  constexpr int64_t kOnePassFromSide = 128;
  g.tracking_passes =
      g.verify == PTP_ALIGN_VERIFY_REFINE && std::min(g.height, g.width) >= kOnePassFromSide
          ? 1
          : math::kTrackingPasses;
  if (g.luma) {
    // The luminance image: the weighted mean of the K x K window at every s-th row and
    // column of the frame trimmed to the period (math::luma_stride, math::luma_window).
    const int64_t rows = g.plane_height * period;
    const int64_t cols = g.plane_width * period;
    g.luma_stride = math::luma_stride(period);
    g.luma_window = math::luma_window(period, rows, cols);
    // Cut to FFT-friendly sides on every backend alike (docs/semantics.md, "Planes";
    // fft/fft_size.hpp).
    g.plane_height = fft_friendly_side((rows - g.luma_window) / g.luma_stride + 1);
    g.plane_width = fft_friendly_side((cols - g.luma_window) / g.luma_stride + 1);
  }
  // max_shift in plane pixels per axis; one reaching every wrapped shift (n / 2) is no bound.
  const auto plane_limit = [&](int64_t n) -> int64_t {
    if (desc->max_shift == 0) return -1;
    const int64_t limit = desc->max_shift / g.shift_unit();
    return limit >= n / 2 ? -1 : limit;
  };
  g.max_shift_rows = plane_limit(g.plane_height);
  g.max_shift_cols = plane_limit(g.plane_width);
  g.crop_offsets = pattern_preserving_shifts(*desc, period);
  if (cfa != PTP_CFA_NONE)
    for (int64_t i = 0; i < period * period; ++i)
      g.site_colours.push_back(desc->pattern[i] == 3 ? 1 : desc->pattern[i]);

  if (g.plane_height > kMaxPlaneSide || g.plane_width > kMaxPlaneSide)
    fail(PTP_ERROR_INVALID_SIZE, "a plane of " + std::to_string(g.plane_height) + " x " +
                                     std::to_string(g.plane_width) +
                                     " exceeds the FFT size limit of 2^31 - 1 per side");
  // RawNIND's method zero-pads each plane to at least 2n - 1 per side.
  if (g.method == PTP_ALIGN_METHOD_RAWNIND)
    for (const int64_t side : {g.plane_height, g.plane_width}) {
      const int64_t padded = smallest_fft_friendly_size(2 * side - 1);
      if (padded > kMaxPlaneSide)
        fail(PTP_ERROR_INVALID_SIZE, "desc->method is PTP_ALIGN_METHOD_RAWNIND, whose planes of " +
                                         std::to_string(g.plane_height) + " x " +
                                         std::to_string(g.plane_width) + " are zero-padded to " +
                                         std::to_string(padded) +
                                         " pixels per side, over the FFT size limit of 2^31 - 1");
    }
  // The frame's bytes and every plane's half spectrum (8-byte bins) must be addressable.
  const int64_t pixels = checked_mul(g.height, g.width, "desc->height * desc->width");
  const int64_t elements = checked_mul(pixels, g.channels, "desc->height * desc->width * channels");
  checked_mul(elements, 4, "the frame's byte size");
  const int64_t bins = checked_mul(g.plane_height, g.plane_width / 2 + 1, "a plane's spectrum");
  checked_mul(checked_mul(bins, g.luma ? 1 : g.planes, "the reference spectra"), 16,
              "the reference spectra's byte size");
  return g;
}

}  // namespace ptychopatch::impl
