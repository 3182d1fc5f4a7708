#include "align/align_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"
#include "align/align_luma.hpp"
#include "align/fft_size.hpp"
#include "align/isolated_sites.hpp"
#include "align/pattern_family.hpp"
#include "core/context.hpp"
#include "core/desc_versions.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "core/headroom.hpp"
#include "core/thread_pool.hpp"
#include "cpu/parallel_copy.hpp"
#include "math/luma_math.hpp"

namespace ptychopatch::impl {
namespace {

// FFT sizes (plane rows and columns) stay below 2^31: what FFT libraries
// address with int, and what math::dft_twiddle's exact phase reduction
// assumes.
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

// The shifts (dy, dx) in [0, period)^2 that map the colour pattern onto
// itself (AlignGeometry::crop_offsets).
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

// 2^127: the smallest float32 magnitude alignment refuses.
constexpr float kLargestAlignable = 1.7014118346046923e38f;

// Throws PTP_ERROR_NON_FINITE naming the first NaN or infinity of a float32
// frame (every element, trimmed or not), and PTP_ERROR_INVALID_ARGUMENT for
// the first finite value of magnitude 2^127 (1.7e38) or more: there x - mean
// can exceed float32's range (+-3.4e38), and a plane of infinities has no
// shift to find.
void require_finite_frame(const AlignGeometry& g, const float* frame, const std::string& name,
                          int32_t num_threads) {
  const int64_t n = g.frame_elements();
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  // Each chunk's first bad element (n: none); the smallest is the first.
  std::vector<int64_t> firsts(static_cast<size_t>(chunks), n);
  parallel_for_each(num_threads, 0, chunks, 1, [&](int64_t chunk) {
    const int64_t begin = chunk * kChunk;
    const int64_t end = std::min(n, begin + kChunk);
    // Exponent field 254 (|x| >= 2^127) or 255 (inf, NaN).
    uint32_t bad = 0;
    for (int64_t k = begin; k < end; ++k) {
      uint32_t bits;
      std::memcpy(&bits, frame + k, sizeof bits);
      bad |= static_cast<uint32_t>((bits & 0x7f800000u) >= 0x7f000000u);
    }
    if (bad == 0) return;
    for (int64_t k = begin; k < end; ++k)
      if (!(std::fabs(frame[k]) < kLargestAlignable)) {
        firsts[static_cast<size_t>(chunk)] = k;
        return;
      }
  });
  const int64_t first = firsts.empty() ? n : *std::min_element(firsts.begin(), firsts.end());
  if (first == n) return;
  const int64_t plane = g.height * g.width;
  const bool finite = std::isfinite(frame[first]);
  char where[240];
  std::snprintf(where, sizeof where, " %s (%g) at row %lld, column %lld",
                finite ? "is too large" : "is not finite", static_cast<double>(frame[first]),
                static_cast<long long>((first % plane) / g.width),
                static_cast<long long>(first % g.width));
  std::string message = name + where;
  if (g.channels > 1) message += " of channel " + std::to_string(first / plane);
  if (!finite) fail(PTP_ERROR_NON_FINITE, message);
  fail(PTP_ERROR_INVALID_ARGUMENT,
       message +
           ": frame values must be below 2^127 (1.7e38) in magnitude, where a value minus "
           "the plane's mean stays within float32's range; scale the frames down");
}

void require_finite(const ptp_align_plan& plan, const void* frame, const std::string& name) {
  if (plan.geometry.frame_dtype == PTP_DTYPE_FLOAT32)
    require_finite_frame(plan.geometry, static_cast<const float*>(frame), name,
                         plan.context->num_threads);
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
  // Crops need sub-pixel estimates: an X-Trans (3, 3) crop is half a plane
  // pixel, and the nearest even Bayer crop of an odd shift depends on its
  // fraction.
  desc->upsample_factor = 10;
  // The most robust estimator of docs/performance.md's benchmark.
  desc->normalization = PTP_NORMALIZATION_PARTIAL;
  desc->window = PTP_WINDOW_HANN;
  desc->combine = PTP_COMBINE_LUMA;
  desc->snap = 0;
  desc->fft_planning = PTP_FFT_PLANNING_MEASURE;
  desc->max_shift = 0;
  desc->method = PTP_ALIGN_METHOD_CORRELATION;
  // Coarse to fine: the whitened peak of the whole frames finds the shift,
  // the fine stage places it where the assessment doubts it (the
  // benchmark of docs/performance.md: right on 99.5-100 % of its frames,
  // against 88-96 % without).
  desc->verify = PTP_ALIGN_VERIFY_REFINE;
}

// The defaults of the fields 0.3.0's struct lacks, for its callers: no
// closed loop (0.3.0 had none), so their results stay 0.3.0's.
namespace {
void default_align_desc_after_030(ptp_align_desc* desc) {
  default_align_desc(desc);
  desc->verify = PTP_ALIGN_VERIFY_NONE;
}
}  // namespace

void init_align_desc(ptp_align_desc* desc, size_t struct_size) {
  require_non_null(desc, "desc");
  if (struct_size == kAlignDescSize030) {
    // A program built against 0.3.0's header owns only the first fields,
    // and keeps 0.3.0's meaning of its defaults: per-plane phase
    // correlation, no window, median, whole pixels (it may read
    // plane_shifts, which the joint default does not fill).
    ptp_align_desc full;
    default_align_desc(&full);
    full.struct_size = kAlignDescSize030;
    full.upsample_factor = 1;
    full.normalization = PTP_NORMALIZATION_PHASE;
    full.window = PTP_WINDOW_NONE;
    full.combine = PTP_COMBINE_MEDIAN;
    std::memcpy(desc, &full, kAlignDescSize030);
    return;
  }
  require_known_struct_size("struct_size", struct_size, sizeof(ptp_align_desc));
  default_align_desc(desc);
}

AlignGeometry validate_align_desc(const ptp_align_desc* given) {
  require_non_null(given, "desc");
  // 0.3.0's shorter struct: its fields, and the defaults of the later ones.
  ptp_align_desc widened;
  const ptp_align_desc* desc =
      widen_older_desc(given, kAlignDescSize030, widened, default_align_desc_after_030);
  require_known_struct_size("desc->struct_size", desc->struct_size, sizeof(ptp_align_desc));
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
  // The compatibility mode has no closed loop: its default (REFINE) and
  // NONE both mean none; asking for a check or a correction is an error.
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
    // PTP_COMBINE_JOINT was the default before PTP_COMBINE_LUMA: callers
    // that set it explicitly keep working.
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
  // Every size below (the luminance image, the FFT-friendly trim, the padded
  // sides of RawNIND's method, the byte counts) is derived from the plane
  // sides: they are bounded first, so none of that arithmetic can overflow.
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
  g.normalization = static_cast<ptp_normalization>(desc->normalization);
  g.hann_window = desc->window == PTP_WINDOW_HANN;
  g.fft_planning = static_cast<ptp_fft_planning>(desc->fft_planning);
  // RawNIND's method has its own combination (per-plane shifts, median).
  const bool correlation = desc->method == PTP_ALIGN_METHOD_CORRELATION;
  g.luma = desc->combine == PTP_COMBINE_LUMA && correlation;
  g.joint = (desc->combine == PTP_COMBINE_JOINT && correlation) || g.luma;
  g.median = desc->combine == PTP_COMBINE_MEDIAN;
  g.snap = desc->snap == 1;
  g.method = static_cast<ptp_align_method>(desc->method);
  // CHECK and CORRECT are retired: they keep their values and run REFINE.
  g.verify = !correlation                            ? PTP_ALIGN_VERIFY_NONE
             : desc->verify == PTP_ALIGN_VERIFY_NONE ? PTP_ALIGN_VERIFY_NONE
                                                     : PTP_ALIGN_VERIFY_REFINE;
  if (g.luma) {
    // The luminance image: the weighted mean of the K x K window at every
    // s-th row and column of the frame trimmed to a multiple of the period
    // (align/align_luma.hpp, math::luma_stride, math::luma_window).
    const int64_t rows = g.plane_height * period;
    const int64_t cols = g.plane_width * period;
    g.luma_stride = math::luma_stride(period);
    g.luma_window = math::luma_window(period, rows, cols);
    g.plane_height = (rows - g.luma_window) / g.luma_stride + 1;
    g.plane_width = (cols - g.luma_window) / g.luma_stride + 1;
  }
  // The default estimators (luminance or joint, Hann window) transform
  // planes of FFT-friendly sides (align/fft_size.hpp): the last rows or
  // columns of a side with a large prime factor are left out, on every
  // backend alike.
  if (g.joint && g.hann_window && correlation) {
    g.plane_height = joint_plane_side(g.plane_height);
    g.plane_width = joint_plane_side(g.plane_width);
  }
  // max_shift in plane pixels per axis; a bound that reaches every wrapped
  // shift of the axis (|shift| <= n / 2) is no bound.
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
  // RawNIND's method transforms each plane zero-padded to at least 2n - 1
  // per side (align_rawnind.cpp).
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
  // The frame and everything a backend keeps per plane must be addressable:
  // frame bytes, and the half spectra of all planes (8-byte bins).
  const int64_t pixels = checked_mul(g.height, g.width, "desc->height * desc->width");
  const int64_t elements = checked_mul(pixels, g.channels, "desc->height * desc->width * channels");
  checked_mul(elements, 4, "the frame's byte size");
  const int64_t bins = checked_mul(g.plane_height, g.plane_width / 2 + 1, "a plane's spectrum");
  checked_mul(checked_mul(bins, g.luma ? 1 : g.planes, "the reference spectra"), 16,
              "the reference spectra's byte size");
  return g;
}

double combine_plane_shifts(std::vector<double>& values, bool median) {
  const size_t n = values.size();
  if (n == 0) return 0.0;
  if (!median) {
    double sum = 0.0;
    for (double v : values) sum += v;
    return sum / static_cast<double>(n);
  }
  std::sort(values.begin(), values.end());
  if (n % 2 == 1) return values[n / 2];
  return 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double snap_shift(double value, int64_t block) {
  const double b = static_cast<double>(block);
  return std::floor(value / b + 1e-9) * b + 0.0;  // + 0.0: no negative zero
}

std::unique_ptr<ptp_align_plan> create_align_plan(const ptp_context& context,
                                                  const ptp_align_desc* desc, bool isolated_sites) {
  const AlignGeometry geometry = validate_align_desc(desc);
  auto plan = std::make_unique<ptp_align_plan>();
  plan->context = &context;
  plan->geometry = geometry;
  if (geometry.method == PTP_ALIGN_METHOD_RAWNIND) {
    if (context.backend == PTP_BACKEND_GPU)
      plan->fallback_reason =
          "PTP_ALIGN_METHOD_RAWNIND runs on the CPU backend only (a compatibility mode)";
    plan->backend = make_rawnind_align_backend(geometry, context.num_threads);
    return plan;
  }
  // The luminance estimator runs a backend chosen as for any plan inside
  // the luma backend (align_luma.hpp): the GPU backend made for the plan's
  // geometry (it makes the images on its device), or the CPU backend made
  // for the images' (the luma backend makes them on the host).
  if (context.backend == PTP_BACKEND_GPU) {
    try {
      plan->backend = gpu::make_align_backend(context, geometry);
      plan->runs_on = PTP_BACKEND_GPU;
    } catch (const Error& e) {
      // A GPU backend that cannot serve this request (no cuFFT, a frame past
      // its limits) says UNSUPPORTED; the plan then runs on the CPU, results
      // the same up to FFT rounding, and says why
      // (ptp_align_plan_get_backend). Any other failure is reported.
      if (e.status() != PTP_ERROR_UNSUPPORTED) throw;
      plan->fallback_reason = e.what();
    }
  }
  if (!plan->backend)
    plan->backend = make_cpu_align_backend(geometry.luma ? luma_image_geometry(geometry) : geometry,
                                           context.num_threads);
  if (geometry.luma)
    plan->backend =
        make_luma_align_backend(geometry, std::move(plan->backend), context.num_threads);
  // Colour mosaics: the reference and the frames lose the isolated sites
  // (hot, stuck, dead pixels) they share (isolated_sites.hpp).
  if (isolated_sites && suppresses_isolated_sites(geometry))
    plan->sites = std::make_shared<SharedIsolatedSites>(geometry, context.num_threads);
  plan->checks_pattern = isolated_sites;
  if (geometry.verify != PTP_ALIGN_VERIFY_NONE) {
    ptp_align_desc widened;
    plan->verifier = std::make_unique<CropVerifier>(
        context, *widen_older_desc(desc, kAlignDescSize030, widened, default_align_desc_after_030),
        geometry);
  }
  return plan;
}

void require_not_executing(const ptp_align_plan& plan, const char* function) {
  if (plan.executing)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         std::string(function) +
             " was called on a plan whose ptp_align_execute is running (from its progress "
             "callback): the call would change the plan under the frames being aligned; "
             "return from the callback first");
}

void align_set_reference(ptp_align_plan& plan, const void* frame) {
  require_not_executing(plan, "ptp_align_set_reference");
  require_non_null(frame, "frame");
  require_finite(plan, frame, "argument 'frame': the reference frame");
  // Everything that can fail first, into locals: a failure leaves the plan
  // as it was. The caller's plans only check the pattern and find isolated
  // sites (the closed loop's own plans, on cuts of these frames, do not).
  std::string doubt = plan.checks_pattern
                          ? pattern_family_doubt(plan.geometry, frame, plan.context->num_threads)
                          : std::string();
  std::vector<int64_t> sites;
  if (plan.sites) sites = plan.sites->isolated(frame);
  plan.reference.resize(plan.geometry.frame_bytes());  // the same size after the first
  // Nothing below throws. The backend and the closed loop take the new
  // reference at the next execute (apply_reference).
  cpu::parallel_copy(plan.reference.data(), frame, plan.reference.size(),
                     plan.context->num_threads);
  if (plan.sites) plan.sites->set_reference_sites(std::move(sites));
  plan.pattern_doubt.swap(doubt);
  plan.reference_applied = false;
  plan.has_reference = true;
}

namespace {

constexpr double kNoShift = std::numeric_limits<double>::quiet_NaN();

// One frame's outcome, before it is written out.
struct FrameOutcome {
  ptp_status status = PTP_SUCCESS;
  std::string message;
  double shift[2] = {kNoShift, kNoShift};  // combined, snapped if asked
  double unsnapped[2] = {kNoShift, kNoShift};
  double confidence = 0.0;
  int32_t planes_used = 0;
  uint32_t flags = 0;  // enum ptp_align_flag

  // A doubt (one flag) on a frame with a result, and its note after any
  // note before it.
  void add_note(ptp_align_flag flag, const std::string& note) {
    flags |= flag;
    message = message.empty() ? note : message + "; " + note;
  }
};

// Validates one frame: an empty string when it can be aligned, else the
// outcome's status and message.
void check_frame(const ptp_align_plan& plan, const void* frame, int64_t index,
                 FrameOutcome& outcome) {
  const std::string name = "frames[" + std::to_string(index) + "]";
  if (frame == nullptr) {
    outcome.status = PTP_ERROR_INVALID_ARGUMENT;
    outcome.message = name + " is NULL";
    return;
  }
  try {
    require_finite(plan, frame, name);
  } catch (const Error& e) {
    outcome.status = e.status();
    outcome.message = e.what();
  }
}

// A frame's shift (dy, dx): kept unsnapped (its crop is theirs), and as the
// result snapped to CFA blocks where the plan snaps.
void set_frame_shift(const AlignGeometry& g, double dy, double dx, FrameOutcome& out) {
  const int64_t block = g.cfa == PTP_CFA_BAYER ? 2 : 3;
  out.unsnapped[0] = dy;
  out.unsnapped[1] = dx;
  out.shift[0] = g.snap ? snap_shift(dy, block) : dy;
  out.shift[1] = g.snap ? snap_shift(dx, block) : dx;
}

// Whether a shift (dy, dx) in sensor pixels lies at max_shift's bound on
// an axis: its integer peak was the last one the bounded search allowed
// (within half a plane pixel of the bound), where the search stopped
// rather than where the content is. A review found a frame moved by
// (-4, 6), searched within 2, given as (-2, 2) at confidence 0.64.
bool at_shift_bound(const AlignGeometry& g, double dy, double dx) {
  const int64_t limits[2] = {g.max_shift_rows, g.max_shift_cols};
  const double shifts[2] = {dy, dx};
  const double unit = static_cast<double>(g.shift_unit());
  for (int axis = 0; axis < 2; ++axis)
    if (limits[axis] >= 0 &&
        std::fabs(shifts[axis] / unit) > static_cast<double>(limits[axis]) - 0.5)
      return true;
  return false;
}

// A frame the call did not reach: the progress callback stopped it first.
void set_cancelled(int64_t index, FrameOutcome& out) {
  out = FrameOutcome{};
  out.status = PTP_ERROR_CANCELLED;
  out.message = "frames[" + std::to_string(index) +
                "] was not aligned: the progress callback stopped the call";
}

// Aligns the frames [begin, end) whose outcome is PTP_SUCCESS (the others
// are skipped), fills their outcomes and, when plane_shifts is not null,
// their plane shifts (NaN rows for the others). `arrived(i)` is called on
// the calling thread as frame i's estimate arrives, in frame order; false
// stops the call: the outcomes of the range's frames not reached are then
// PTP_ERROR_CANCELLED, and run_frames returns false.
bool run_frames(ptp_align_plan& plan, const void* const* frames, int64_t begin, int64_t end,
                std::vector<FrameOutcome>& outcomes, double* plane_shifts,
                const std::function<bool(int64_t)>& arrived) {
  const AlignGeometry& g = plan.geometry;
  const int64_t planes = g.planes;
  std::vector<const void*> valid;
  std::vector<int64_t> origin;
  for (int64_t i = begin; i < end; ++i)
    if (outcomes[i].status == PTP_SUCCESS) {
      valid.push_back(frames[i]);
      origin.push_back(i);
    }
  const int64_t count = static_cast<int64_t>(valid.size());
  const int64_t per_frame = g.results_per_frame();
  std::vector<PlaneShift> results(static_cast<size_t>(count * per_frame));
  bool cancelled = false;
  const std::function<bool(int64_t)> keep_going = [&](int64_t done) {
    if (arrived(origin[done - 1])) return true;
    cancelled = true;
    return false;
  };
  const int64_t done =
      count == 0 ? 0 : plan.backend->align(valid.data(), count, results.data(), keep_going);

  // Plane shift rows of the frames with a result or a status of their own
  // (not of frames the callback kept from being reached): NaN unless set.
  const auto clear_plane_shifts = [&](int64_t i) {
    if (plane_shifts != nullptr)
      std::fill(plane_shifts + 2 * i * planes, plane_shifts + 2 * (i + 1) * planes, kNoShift);
  };
  for (int64_t i = begin; i < end; ++i)
    if (outcomes[i].status != PTP_SUCCESS) clear_plane_shifts(i);
  // Plane pixels to sensor pixels, then the combination per axis.
  const double period = static_cast<double>(g.shift_unit());
  const int64_t block = g.cfa == PTP_CFA_BAYER ? 2 : 3;
  const bool rawnind = g.method == PTP_ALIGN_METHOD_RAWNIND;
  std::vector<double> ys, xs;
  for (int64_t k = 0; k < count; ++k) {
    FrameOutcome& out = outcomes[origin[k]];
    if (k >= done) {
      set_cancelled(origin[k], out);
      continue;
    }
    clear_plane_shifts(origin[k]);
    double dy = kNoShift, dx = kNoShift;
    if (g.joint) {
      // One result per frame; no plane shifts.
      const PlaneShift& r = results[k];
      out.planes_used = r.planes_used;
      if (r.planes_used > 0) {
        dy = r.dy * period;
        dx = r.dx * period;
        out.confidence = r.confidence;
      }
    } else {
      // A plane that carries no information (constant in the reference or
      // the moving frame: fully clipped, dead, or flat; planes_used 0) has
      // no shift (NaN) and no vote: two flat planes of four must not pull a
      // median halfway to (0, 0). (A confidence of 0 alone is a peak no
      // higher than noise, still a vote.) RawNIND's method lets every plane
      // vote, as RawNIND does.
      double confidence_sum = 0.0;
      ys.clear();
      xs.clear();
      for (int64_t p = 0; p < planes; ++p) {
        const PlaneShift& r = results[k * planes + p];
        out.planes_used += r.planes_used;
        if (r.planes_used == 0 && !rawnind) continue;
        ys.push_back(r.dy * period);
        xs.push_back(r.dx * period);
        confidence_sum += r.confidence;
        if (plane_shifts != nullptr) {
          plane_shifts[2 * (origin[k] * planes + p)] = r.dy * period;
          plane_shifts[2 * (origin[k] * planes + p) + 1] = r.dx * period;
        }
      }
      if (!ys.empty()) {
        dy = combine_plane_shifts(ys, g.median || rawnind);
        dx = combine_plane_shifts(xs, g.median || rawnind);
        out.confidence = confidence_sum / static_cast<double>(ys.size());
      }
      if (rawnind && out.planes_used == 0) {
        // Every plane constant: RawNIND would return the lag its flat
        // correlations happen to peak at (a review saw (-120, -126) for a
        // constant frame); here, as for every estimator, no shift.
        dy = dx = kNoShift;
      } else if (rawnind) {
        // Then truncation toward zero and the floor to CFA blocks; that is
        // the method's crop too.
        out.shift[0] = out.unsnapped[0] = snap_shift(std::trunc(dy), block);
        out.shift[1] = out.unsnapped[1] = snap_shift(std::trunc(dx), block);
        continue;
      }
    }
    if (std::isnan(dy)) {
      out.status = PTP_ERROR_NO_INFORMATION;
      out.planes_used = 0;
      out.message = "frames[" + std::to_string(origin[k]) + "] has no shift: " +
                    (g.luma ? "its luminance image or the reference's is flat once the "
                              "quadratic trend is removed, or every plane is constant (flat, "
                              "clipped or dead) in it or in the reference"
                            : "every plane is constant (flat, clipped or dead) in it or in the "
                              "reference, so none carries information");
      continue;
    }
    set_frame_shift(g, dy, dx, out);
    if (at_shift_bound(g, dy, dx)) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_AT_SHIFT_BOUND,
                   "frames[" + std::to_string(origin[k]) +
                       "]: the peak lies at max_shift's bound, where the search stopped: the "
                       "shift may lie beyond it (confidence 0)");
    }
  }
  return !cancelled;
}

// The notes of the closed loop's confidence-0 verdicts that have no other
// (the message holds about two notes: these are short).
std::string unchecked_note(int64_t index) {
  return "frames[" + std::to_string(index) +
         "]: its crop could not be checked: cut to what the frames share under it, they are "
         "too small or show no detail (confidence 0)";
}
std::string peak_note(int64_t index) {
  return "frames[" + std::to_string(index) +
         "]: its correlation peak stands no higher than the correlation's noise (confidence 0)";
}
std::string unconfirmed_note(int64_t index) {
  return "frames[" + std::to_string(index) +
         "]: its crop is not confirmed: cut to what the frames share under it, they align "
         "again more than half a period away (confidence 0)";
}

// How far (sensor pixels, on an axis) the least-squares polish must lie
// from the correlations' estimate to replace it (refine_crop): more than
// its own error on frames without noise (about 0.01 pixel), so exact
// whole-pixel estimates stay exact.
constexpr double kPolishDisagrees = 0.1;
// The tolerance of the crop probability (crop_probability), in sensor
// pixels: a crop counts as right within half a period of the content, plus
// this. Without it a frame moved by an odd number of pixels (its content
// on the edge between two crops, both right) would score 0.5 per axis
// however well it is measured.
constexpr double kCropTolerance = 0.25;
// The crop probability from which a crop is trusted (docs/performance.md,
// "Confidence"): below it, PTP_ALIGN_FLAG_LOW_CONFIDENCE.
constexpr double kTrustedCrop = 0.95;
// Below this crop probability (crop_probability) of the luminance fit,
// the polish fits the colour images too (luma_polish.hpp). Colour sees
// detail the luminance image averages away (on the robustness benchmark's
// Bayer sigma 16 row, about 1.5 more right crops of 288 a noise draw), at three
// images' cost; textured frames, whose crops are certain, are spared it.
// On that row the frames above it held no wrong crop (seeds 1-4: every
// wrong crop of the luminance fit scored below 0.9999, 34-57 of 288 did).
constexpr double kColourFitBelow = 0.9999;
// The least correlation of the two frames' smoothed luminance images under
// the final shift (CropVerifier::match) for a frame of the reference's
// scene: below it, confidence 0 and a note. On the robustness benchmark
// with real noise every right crop scored >= 0.989, frames of noise
// <= 0.30 and 93 of 96 frames of other photographs < 0.5.
constexpr double kMinMatch = 0.5;
// A frame whose motion is not a translation (CropVerifier::warp: its
// shift fitted on the four quadrants of the polish's window): where the
// linear motion the quadrants show moves the frame's farthest corner on
// an axis more than kWarpPixels from where the translation puts it, and
// by more than kWarpSigmas of that deviation's own standard deviation,
// confidence 0 and a note: no crop registers such a frame as a whole.
// Two pixels is a Bayer period. On the robustness benchmark's frames,
// which are translations, the deviation reached 1.9 pixels at 6 standard
// deviations: sub-pixel moves of a sharp collage made by the Fourier
// shift theorem, which rings at the frames' edges (0.04 with a margin
// wide enough). A rotation of 1 degree moves a 252-pixel frame's corners
// by 2.2 pixels, a 6000-pixel frame's by 2 pixels at 0.04 degree
// (docs/performance.md, "Frames that do not move as a whole").
constexpr double kWarpPixels = 2.0;
constexpr double kWarpSigmas = 5.0;

// The default's confidence: the probability that the content lies within
// half a period (plus kCropTolerance) of the crop on both axes, with the
// content's position normal about the shift with the polish's variances
// (luma_polish.hpp). On the robustness benchmark with real noise, 0.95
// keeps 95-96 % of right crops above it and every wrong one below
// (docs/performance.md, "Confidence").
double crop_probability(const AlignGeometry& g, const int64_t (&crop)[2], const double (&shift)[2],
                        const double (&variance)[2]) {
  const double half = 0.5 * static_cast<double>(g.period) + kCropTolerance;
  double probability = 1.0;
  for (int axis = 0; axis < 2; ++axis) {
    const double spread = std::sqrt(2.0 * std::max(variance[axis], 1e-12));
    const double low = (static_cast<double>(crop[axis]) - half - shift[axis]) / spread;
    const double high = (static_cast<double>(crop[axis]) + half - shift[axis]) / spread;
    // Phi(high) - Phi(low), each side by the tail nearer it (no cancellation).
    probability *= high <= 0.0  ? 0.5 * (std::erfc(-high) - std::erfc(-low))
                   : low >= 0.0 ? 0.5 * (std::erfc(low) - std::erfc(high))
                                : 1.0 - 0.5 * (std::erfc(-low) + std::erfc(high));
  }
  return std::clamp(probability, 0.0, 1.0);
}

// PTP_ALIGN_VERIFY_REFINE for one frame, after the check of its crop:
// the shift becomes the crop plus the residual of the two cuts (the fine
// estimate), and the crop the one nearest to it, polished last. The
// confidence is then the polish's crop probability (crop_probability);
// where the polish does not converge, a crop that changed must be
// confirmed (below) or gets confidence 0. Where the cuts could not be
// aligned or the new crop leaves max_shift's bound (the coarse estimate
// then stays), or the match check fails, confidence is 0. (The cuts are
// aligned under the Hann window, whose pull on a broad peak the polish
// takes out: cutting again nearer the content changed 1 crop of 2,352 on
// the robustness benchmark's 252-pixel and large-shift rows.)
//
// With `first` null, the quick polish alone from the coarse estimate (no
// loop; LumaPolish::kQuick): the gate (gate_crop), whose result is kept
// only where nothing doubts it. `slot`: the verifier's slot it runs in
// (CropVerifier::set_slots); the loop runs in slot 0.
void refine_crop(ptp_align_plan& plan, int64_t index, const void* frame, const int64_t (&crop)[2],
                 const CropVerifier::Outcome* first, FrameOutcome& out, double* match_out = nullptr,
                 int slot = 0) {
  const bool loop = first != nullptr;
  const AlignGeometry& g = plan.geometry;
  if (match_out != nullptr) *match_out = NAN;
  // A coarse peak at max_shift's bound keeps its confidence 0 (and its
  // note): the polish starts from the bound, and the content may lie
  // beyond the search, where a local fit need not reach it (a review saw
  // confidence 1 under a note that said 0).
  const bool at_bound = at_shift_bound(g, out.unsnapped[0], out.unsnapped[1]);
  if (loop && !first->aligned) {
    out.confidence = 0.0;
    out.add_note(PTP_ALIGN_FLAG_UNCHECKED, unchecked_note(index));
    return;
  }
  // The fine estimate: the crop plus the residual of its cuts, or the
  // coarse estimate without the loop.
  double fine[2] = {loop ? static_cast<double>(crop[0]) + first->residual[0] : out.unsnapped[0],
                    loop ? static_cast<double>(crop[1]) + first->residual[1] : out.unsnapped[1]};
  int64_t refined[2];
  crop_shift(g, fine[0], fine[1], &refined[0], &refined[1]);
  // The last step: least squares on smoothed luminance images, then on
  // colour images where the crop stays in doubt (luma_polish.hpp,
  // kColourFitBelow). Where they converge more than kPolishDisagrees from
  // the correlations' estimate on an axis, theirs replaces it, crop and
  // sub-pixel shift: its error is within its own variance on every row of
  // the robustness benchmark, the correlations' is not on noisy blurred
  // frames (there it was 2-10 times the polish's, also where both give
  // one crop: Bayer sigma 16, mean error 0.20 pixel against 0.10;
  // X-Trans 0.26 against 0.09). Otherwise the correlations' stays: exact
  // on whole-pixel motion without noise, which the smoothed fit reaches
  // only to about 0.01 pixel, and the crop of an estimate on the edge
  // between two (an odd shift for Bayer) does not flip for a hundredth of
  // a pixel.
  double polished[2] = {fine[0], fine[1]}, variance[2] = {0.0, 0.0};
  bool polish_converged =
      plan.verifier->polish(frame, polished[0], polished[1], variance, LumaPolish::kLuminance,
                            loop ? LumaPolish::kThorough : LumaPolish::kQuick, slot);
  if (!loop && !polish_converged) {
    out.flags |= PTP_ALIGN_FLAG_NO_FIT;  // doubted: the caller takes the loop
    return;
  }
  // Whether the luminance fit leaves the crop in doubt (kColourFitBelow):
  // then the colour images are fitted too, from there. Without the loop
  // such a frame is doubted at once: the loop fits the colours itself, and
  // a doubted frame must not pay for that fit twice.
  bool colour_doubt = false;
  if (polish_converged && (g.period > 1 || g.channels > 1)) {
    int64_t nearest[2];
    crop_shift(g, polished[0], polished[1], &nearest[0], &nearest[1]);
    colour_doubt = crop_probability(g, nearest, polished, variance) < kColourFitBelow;
  }
  if (!loop && colour_doubt) {
    out.flags |= PTP_ALIGN_FLAG_LOW_CONFIDENCE;  // doubted: the caller takes the loop
    return;
  }
  bool colour_fitted = false;  // whether the colour fit replaced it (below)
  double luminance_shift[2] = {0.0, 0.0}, luminance_variance[2] = {0.0, 0.0};
  if (colour_doubt) {
    double again[2] = {polished[0], polished[1]}, again_variance[2];
    if (plan.verifier->polish(frame, again[0], again[1], again_variance, LumaPolish::kColours)) {
      colour_fitted = true;
      std::copy(polished, polished + 2, luminance_shift);
      std::copy(variance, variance + 2, luminance_variance);
      std::copy(again, again + 2, polished);
      std::copy(again_variance, again_variance + 2, variance);
    }
  }
  // Without the loop the polish's estimate replaces the coarse one always:
  // the coarse peak keeps the window's pull (up to half a pixel on blurred
  // frames); the loop's residual, of cuts that share the content, less.
  if (polish_converged &&
      (!loop || std::max(std::fabs(polished[0] - fine[0]), std::fabs(polished[1] - fine[1])) >
                    kPolishDisagrees)) {
    // Given to 1 / upsample_factor of a sensor pixel: a grid that holds
    // every whole pixel (1 / upsample_factor of the luminance image's
    // pixel, 3 sensor pixels for X-Trans, would give a frame moved by 7
    // pixels as 6.9), finer than the fit's error only on sharp frames.
    // (Divided by u, not multiplied by 1 / u: 96 / 10 is the double
    // nearest 9.6, 96 * 0.1 is not, and a crop equally near two crops is
    // chosen by the tie rule, not by that rounding.)
    const double u = static_cast<double>(g.upsample);
    for (int axis = 0; axis < 2; ++axis) fine[axis] = std::round(polished[axis] * u) / u;
    crop_shift(g, fine[0], fine[1], &refined[0], &refined[1]);
  }
  // max_shift bounds the result as it bounds the search (in sensor pixels,
  // as the plan rounds it; the coarse crop may reach past it by rounding).
  const int64_t limits[2] = {g.max_shift_rows, g.max_shift_cols};
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t bound = std::max<int64_t>(limits[axis] * g.shift_unit(), std::llabs(crop[axis]));
    if (limits[axis] >= 0 && std::llabs(refined[axis]) > bound) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_AT_SHIFT_BOUND,
                   "frames[" + std::to_string(index) +
                       "]: refined, its shift lies beyond max_shift (confidence 0)");
      return;
    }
  }
  if (polish_converged) {
    // About the polish's own estimate, whose variance it is.
    out.confidence = crop_probability(g, refined, polished, variance);
    // Where the colour fit placed the shift, the luminance fit's doubt of
    // the crop stands too: the colour fit's variance claims too little on
    // a few noisy frames (on the robustness benchmark, seed 2, three wrong
    // crops at 0.958-0.995 where the luminance fit's crop was right), and
    // the smaller of the two probabilities keeps every wrong crop of seeds
    // 1 and 2 under 0.95 (docs/performance.md, "Colour").
    if (colour_fitted)
      out.confidence = std::min(out.confidence,
                                crop_probability(g, refined, luminance_shift, luminance_variance));
  } else if (refined[0] != crop[0] || refined[1] != crop[1]) {
    // Without the polish's variance, the peak's confidence stands where
    // the new crop is confirmed by its own loop.
    if (!plan.verifier->check(frame, refined[0], refined[1]).confirmed) {
      out.confidence = 0.0;
      out.add_note(PTP_ALIGN_FLAG_UNCONFIRMED, unconfirmed_note(index));
    }
  }
  // Frames of another scene, or of nothing but noise, align somewhere with
  // a peak no lower than a blurred frame's right one (docs/performance.md,
  // "What the threshold does not catch"); what they share under the shift
  // does not correlate.
  const double match = plan.verifier->match(fine[0], fine[1], slot);
  if (match_out != nullptr) *match_out = match;
  if (match < kMinMatch) {
    out.confidence = 0.0;
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: at this shift its smoothed luminance correlates with the "
                  "reference's by only %.2f (under %.1f): it may not show the reference's "
                  "scene (confidence 0)",
                  static_cast<long long>(index), match, kMinMatch);
    out.add_note(PTP_ALIGN_FLAG_OTHER_SCENE, note);
  }
  // A frame of the scene that did not move as a whole: rotated, scaled
  // (focus breathing), seen from elsewhere (parallax), or a large part of
  // it moved on its own. (Checked where nothing has set the confidence to
  // 0: the message has room for about two notes.)
  if (polish_converged && out.confidence > 0.0 && !at_bound) {
    const LumaPolish::Warp warp = plan.verifier->warp(fine[0], fine[1], slot);
    const auto beyond = [&warp](int axis) {
      return warp.deviation[axis] > kWarpPixels &&
             warp.deviation[axis] > kWarpSigmas * warp.deviation_sd[axis];
    };
    if (warp.fitted && (beyond(0) || beyond(1))) {
      out.confidence = 0.0;
      char note[240];
      std::snprintf(note, sizeof note,
                    "frames[%lld]: it does not move as a whole (rotated, scaled or parallax?): "
                    "fitted on four quadrants, its shift leaves its corners up to %.1f rows and "
                    "%.1f columns off (confidence 0)",
                    static_cast<long long>(index), warp.deviation[0], warp.deviation[1]);
      out.add_note(PTP_ALIGN_FLAG_NOT_RIGID, note);
    }
  }
  if (at_bound) out.confidence = 0.0;
  // A fit that gives the crop no chance at all (an axis without detail,
  // whose variance is infinite, or a crop far from the fit's shift), said
  // where no other note says why (the match check's says more).
  if (polish_converged && out.confidence == 0.0 && out.message.empty()) {
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: its least-squares fit gives the crop no chance: shift (%.1f, "
                  "%.1f), standard deviation %.2g rows, %.2g columns (confidence 0)",
                  static_cast<long long>(index), polished[0], polished[1], std::sqrt(variance[0]),
                  std::sqrt(variance[1]));
    out.add_note(PTP_ALIGN_FLAG_LOW_CONFIDENCE, note);
  }
  // Without the fit, where nothing else set it, a 0 is the peak's own.
  if (!polish_converged && out.confidence == 0.0 && out.message.empty())
    out.add_note(PTP_ALIGN_FLAG_WEAK_PEAK, peak_note(index));
  // Without the fit the confidence is the peak's margin over the
  // correlation's noise, not a probability, and on small frames it does
  // not tell right crops from wrong ones (a review: 32-44-pixel Bayer and
  // X-Trans frames scored 0.1-0.23 either way): said per frame, where
  // nothing has set it to 0 (a frame the match check or max_shift flags
  // keeps that note alone: the message has room for about two).
  if (!polish_converged && out.confidence > 0.0) {
    char note[200];
    std::snprintf(note, sizeof note,
                  "frames[%lld]: no least-squares fit (under about 48 pixels a side, or too "
                  "little detail): confidence is the peak's margin, not a probability; treat "
                  "the crop as unverified",
                  static_cast<long long>(index));
    out.add_note(PTP_ALIGN_FLAG_NO_FIT, note);
  }
  // A probability under the documented threshold to trust a crop, where
  // nothing above says why (the fit's variance alone).
  if (polish_converged && out.flags == 0 && out.confidence < kTrustedCrop)
    out.flags |= PTP_ALIGN_FLAG_LOW_CONFIDENCE;
  set_frame_shift(g, fine[0], fine[1], out);
}

// How much better the search's best shift must fit than the refined
// shift to be tried (reconsider_far_shift): its misfit, 1 - r, at most
// this share of the refined shift's (r the correlation coefficient over
// what the two frames share, global_search.hpp). A 128-pixel rocket at
// gain 1024 moved by (25, 23) and refined to (-16, 24) had 0.0182 against
// 0.0335 (0.54); 0.5 and 0.7 gave the same tables of the robustness
// benchmark (252 pixels, seeds 1 and 2: bitwise the results without the
// search; 128 pixels with --large-shifts 0.25), where the tried shift's
// own match check decides.
constexpr double kFarFitShare = 0.7;
// Where the refined frame's own confidence is under kFarDoubtful, the
// search's best shift is tried wherever it fits better by kFarScoreMargin
// (kFarFitShare does not apply): the refined shift is in doubt anyway, and
// the match check of the two results decides. Why: a 128-pixel rocket at
// gain 1024 moved by (25, 23) was refined to (-12.4, 24.0) with a row
// variance of 16 square pixels (confidence 0): its misfit was 0.76 of the
// refined shift's, not 0.7, and the frame kept the wrong crop.
constexpr double kFarDoubtful = 0.5;
// And by at least this much of the coefficient itself: two fits near 1 (a
// frame rolled circularly, whose wrapped edge the smoothing mixes in)
// differ by their edges' rounding, not by content. The least difference
// among the refines the benchmark's large shifts needed: a 128-pixel rocket
// at gain 16 moved by (25, 23), refined to (-12.4, 23.9), 0.9893 there and
// 0.9964 at the truth.
constexpr double kFarScoreMargin = 0.002;
// And only where the best shift itself explains the smoothed images
// (coefficient at least this): on a scene whose detail lies above the
// search's smoothing, its scores say nothing (a test's sawtooth pattern:
// 0.58 at the true shift, 0.78 at another), and the refine it would try
// is wasted. The refines tried on the benchmark's large shifts had 0.957
// or more.
constexpr double kFarMinScore = 0.9;

// REFINE's last step (refine_crop's result in `out`, `match` its match
// check; `before`, the frame's outcome as the correlations left it;
// `searched`, the search at `out`'s shift where the gate made it, else
// null):
// where the search over every shift finds one more than two of its steps
// (and more than a period) from the refined shift that fits clearly
// better (kFarFitShare), the frame is refined again from there, and that
// result replaces the first where its own match check scores higher.
// Why: under the Hann window a large shift's peak can sink below an
// alias's (global_search.hpp); the polish places the peak it is given,
// and its confidence cannot tell that another lies elsewhere.
void reconsider_far_shift(ptp_align_plan& plan, int64_t index, const void* frame,
                          const FrameOutcome& before, double match, FrameOutcome& out,
                          const GlobalSearch::Result* searched) {
  const AlignGeometry& g = plan.geometry;
  if (out.status != PTP_SUCCESS || !std::isfinite(out.unsnapped[0]) ||
      !std::isfinite(out.unsnapped[1]))
    return;
  const GlobalSearch::Result found =
      searched != nullptr ? *searched
                          : plan.verifier->search(frame, out.unsnapped[0], out.unsnapped[1]);
  if (!found.found || !(found.score >= kFarMinScore)) return;
  const double away =
      std::max(std::fabs(found.dy - out.unsnapped[0]), std::fabs(found.dx - out.unsnapped[1]));
  const double step = static_cast<double>(plan.verifier->search_unit());
  if (!(away > std::max(2.0 * step, static_cast<double>(g.period)))) return;
  // NaN at the refined shift (it shares too little with the reference, or
  // lies past the bound): any shift the search found fits better.
  const double share = out.confidence < kFarDoubtful ? 1.0 : kFarFitShare;
  if (std::isfinite(found.score_at_given) &&
      !(1.0 - found.score <= share * (1.0 - found.score_at_given) &&
        found.score >= found.score_at_given + kFarScoreMargin))
    return;
  int64_t crop[2];
  crop_shift(g, found.dy, found.dx, &crop[0], &crop[1]);
  FrameOutcome again = before;
  double again_match = NAN;
  const CropVerifier::Outcome first = plan.verifier->check(frame, crop[0], crop[1]);
  refine_crop(plan, index, frame, crop, &first, again, &again_match);
  if (again.status == PTP_SUCCESS && again_match > (std::isfinite(match) ? match : -1.0))
    out = std::move(again);
}

// REFINE's gate for one frame (frames[index], whose crop is `crop` and
// coarse outcome `coarse`), in the verifier's slot `slot`: the quick polish
// from the coarse estimate alone, and where that result carries no flag,
// the search over every shift at it. Frames go through it side by side
// (verify_crops); everything else, one after another.
struct Gated {
  FrameOutcome quick;
  double match = NAN;
  GlobalSearch::Result found;
};
void gate_crop(ptp_align_plan& plan, int64_t index, const void* frame, const int64_t (&crop)[2],
               const FrameOutcome& coarse, Gated& gated, int slot) {
  gated.quick = coarse;
  refine_crop(plan, index, frame, crop, nullptr, gated.quick, &gated.match, slot);
  const FrameOutcome& quick = gated.quick;
  if (quick.flags == 0 && quick.status == PTP_SUCCESS && std::isfinite(quick.unsnapped[0]) &&
      std::isfinite(quick.unsnapped[1]))
    gated.found = plan.verifier->search(frame, quick.unsnapped[0], quick.unsnapped[1], slot);
}

// verify_crops' step for one frame (frames[index], whose crop is `crop`;
// `gated`, its gate_crop, or null without the gate). The fine stage only where the assessment
// doubts the coarse estimate: where the gate's result carries no flag, it stands; else the closed
// loop and the thorough polish.
void verify_crop(ptp_align_plan& plan, const void* frame, int64_t index, const int64_t (&crop)[2],
                 FrameOutcome& out, Gated* gated) {
  const FrameOutcome before = out;
  if (gated != nullptr && gated->quick.flags == 0) {
    out = std::move(gated->quick);
    reconsider_far_shift(plan, index, frame, before, gated->match, out, &gated->found);
    return;
  }
  double match = NAN;
  const CropVerifier::Outcome first = plan.verifier->check(frame, crop[0], crop[1]);
  refine_crop(plan, index, frame, crop, &first, out, &match);
  reconsider_far_shift(plan, index, frame, before, match, out, nullptr);
}

// REFINE's fine stage for the frames `arrived` (those run_frames took, in
// order; align/align_verify.hpp): first the gate of every frame, side by
// side (on one thread it held two-thread calls at 1 MP to 1.8 times the
// coarse stage's time): the frames in as many runs as threads, run g in
// the verifier's slot g whichever thread takes it, so what each slot holds
// after the call does not depend on which threads woke in time. Then, in
// frame order, the loop of the frames the gate doubts. `finished(i)` is
// called after frame i, for every frame taken, one without a shift
// (PTP_ERROR_NO_INFORMATION) too, as run_frames reports them; false stops
// the call: the later frames are then PTP_ERROR_CANCELLED, and
// verify_crops returns false.
bool verify_crops(ptp_align_plan& plan, const void* const* frames,
                  std::vector<FrameOutcome>& outcomes, const std::vector<int64_t>& arrived,
                  const std::function<bool(int64_t)>& finished) {
  const auto crop_of = [&plan](const FrameOutcome& out, int64_t(&crop)[2]) {
    crop_shift(plan.geometry, out.unsnapped[0], out.unsnapped[1], &crop[0], &crop[1]);
  };
  const auto count = static_cast<int64_t>(plan.gate ? arrived.size() : 0);
  const int runs = static_cast<int>(std::min<int64_t>(plan.context->num_threads, count));
  plan.verifier->set_slots(std::max(runs, 1));
  std::vector<Gated> gated(static_cast<size_t>(count));
  parallel_for_each(runs, 0, runs, 1, [&](int64_t run) {
    for (int64_t n = run * count / runs; n < (run + 1) * count / runs; ++n) {
      const FrameOutcome& coarse = outcomes[arrived[n]];
      if (coarse.status != PTP_SUCCESS) continue;
      int64_t crop[2];
      crop_of(coarse, crop);
      gate_crop(plan, arrived[n], frames[arrived[n]], crop, coarse, gated[n],
                static_cast<int>(run));
    }
  });
  for (size_t n = 0; n < arrived.size(); ++n) {
    const int64_t i = arrived[n];
    FrameOutcome& out = outcomes[i];
    if (out.status == PTP_SUCCESS) {
      int64_t crop[2];
      crop_of(out, crop);
      verify_crop(plan, frames[i], i, crop, out, gated.empty() ? nullptr : &gated[n]);
    }
    if (finished(i)) continue;
    for (size_t later = n + 1; later < arrived.size(); ++later)
      set_cancelled(arrived[later], outcomes[arrived[later]]);
    return false;
  }
  return true;
}

// The backend's and the closed loop's reference: the plan's, without
// `sites` (set again where they hold another, or none since
// ptp_align_set_reference).
void apply_reference(ptp_align_plan& plan, const std::vector<int64_t>& sites) {
  if (plan.reference_applied && sites == plan.sites_applied) return;
  // Unapplied first: should anything below throw, the next call sets both
  // again (the plan keeps its reference).
  plan.reference_applied = false;
  const void* reference = plan.reference.data();
  if (!sites.empty()) {
    plan.cleaned_reference.resize(plan.reference.size());
    plan.sites->clean(reference, sites, plan.cleaned_reference.data());
    reference = plan.cleaned_reference.data();
  }
  plan.backend->set_reference(reference);
  if (plan.verifier) plan.verifier->set_reference(reference);
  plan.sites_applied = sites;
  plan.reference_applied = true;
}

// The frames of a call (their outcomes say which are valid) as the
// backend and the closed loop see them: without the isolated sites the
// reference shares with at least half of them, which the reference loses
// too (apply_reference). Returns the frames to use; `copies` holds those
// that changed.
std::vector<const void*> without_shared_isolated_sites(
    ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
    const std::vector<FrameOutcome>& outcomes, std::vector<std::vector<unsigned char>>& copies) {
  std::vector<const void*> out(frames, frames + num_frames);
  std::vector<const void*> valid;
  for (int64_t i = 0; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) valid.push_back(frames[i]);
  if (valid.empty()) return out;
  const std::vector<int64_t> shared =
      plan.sites ? plan.sites->shared(valid) : std::vector<int64_t>();
  apply_reference(plan, shared);
  if (shared.empty()) return out;
  require_headroom(valid.size() * plan.sites->frame_bytes(),
                   std::to_string(valid.size()) + " frames without their isolated sites");
  copies.resize(static_cast<size_t>(num_frames));
  for (int64_t i = 0; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) {
      copies[i].resize(plan.sites->frame_bytes());
      plan.sites->clean(frames[i], shared, copies[i].data());
      out[i] = copies[i].data();
    }
  return out;
}

// Frames per round of run_and_verify: about 2^25 sensor pixels, enough to
// keep a GPU's batches and every thread busy in the correlations, and at
// least one per thread. Progress counts frames through both stages, so a
// stop (a progress callback's, or Ctrl-C in Python, which it relays) waits
// at most for one round's correlations and gates or one frame's closed
// loop. (One
// round for the whole call reported every frame done once its correlations
// were, then ran the closed loop, 93 % of a call on an H200, without a
// report: a Ctrl-C waited for the whole scene.)
int64_t frames_per_round(const ptp_align_plan& plan) {
  const AlignGeometry& g = plan.geometry;
  // In double: the product of the sides may pass 2^63 before any check of
  // the memory a frame needs.
  const double pixels = static_cast<double>(g.height) * static_cast<double>(g.width) *
                        static_cast<double>(g.channels);
  const double fit = std::floor(static_cast<double>(int64_t{1} << 25) / pixels);
  return std::max<int64_t>(
      {int64_t{1}, int64_t{plan.context->num_threads}, static_cast<int64_t>(std::min(fit, 1e9))});
}

// run_frames, then verify_crops, in rounds of frames_per_round frames
// (without a closed loop, one round). The progress callback is called as
// each frame is finished, with (its index + 1, num_frames). plane_shifts is
// run_and_verify's scratch copy. Returns false when the callback stopped
// the call.
bool run_and_verify_frames(ptp_align_plan& plan, const void* const* given, int64_t num_frames,
                           std::vector<FrameOutcome>& outcomes, double* plane_shifts) {
  std::vector<std::vector<unsigned char>> copies;
  const std::vector<const void*> seen =
      without_shared_isolated_sites(plan, given, num_frames, outcomes, copies);
  const void* const* frames = seen.data();
  struct Executing {
    bool& flag;
    explicit Executing(bool& f) : flag(f) { flag = true; }
    ~Executing() { flag = false; }
  } executing(plan.executing);
  const std::function<bool(int64_t)> report = [&](int64_t index) {
    return plan.progress == nullptr ||
           plan.progress(index + 1, num_frames, plan.progress_user_data) == 0;
  };
  if (!plan.verifier)
    return run_frames(plan, frames, 0, num_frames, outcomes, plane_shifts, report);

  const int64_t round = plan.frames_per_round > 0 ? plan.frames_per_round : frames_per_round(plan);
  bool finished = true;
  int64_t begin = 0;
  for (; begin < num_frames && finished; begin += round) {
    const int64_t end = std::min(num_frames, begin + round);
    std::vector<int64_t> arrived;  // the frames whose estimates run_frames gave
    run_frames(plan, frames, begin, end, outcomes, plane_shifts, [&](int64_t i) {
      arrived.push_back(i);
      return true;
    });
    finished = verify_crops(plan, frames, outcomes, arrived, report);
  }
  // The rounds a stop kept from running.
  for (int64_t i = begin; i < num_frames; ++i)
    if (outcomes[i].status == PTP_SUCCESS) set_cancelled(i, outcomes[i]);
  return finished;
}

// run_and_verify_frames, then the reference's doubt about its pattern
// family (pattern_family.hpp) on every frame with a result. Any step can
// still fail (out of memory in the closed loop, in a note, in the
// combination of the plane shifts; a CUDA error) after plane shifts were
// found, so they go to a copy of the caller's array, written back as the
// last step, which cannot fail: a failed call leaves every output
// untouched. The caller writes the other outputs from `outcomes` after
// this returns.
bool run_and_verify(ptp_align_plan& plan, const void* const* given, int64_t num_frames,
                    std::vector<FrameOutcome>& outcomes, double* plane_shifts) {
  const int64_t row = plan.geometry.planes * 2;
  std::vector<double> staged;
  if (plane_shifts != nullptr)
    staged.assign(plane_shifts, plane_shifts + static_cast<size_t>(num_frames * row));
  const bool finished = run_and_verify_frames(plan, given, num_frames, outcomes,
                                              plane_shifts != nullptr ? staged.data() : nullptr);
  if (!plan.pattern_doubt.empty())
    for (int64_t i = 0; i < num_frames; ++i) {
      FrameOutcome& out = outcomes[i];
      if (out.status != PTP_SUCCESS) continue;
      out.confidence = 0.0;
      out.flags |= PTP_ALIGN_FLAG_PATTERN_DOUBT;
      // First: the other notes matter less where the pattern is wrong.
      const std::string note = "frames[" + std::to_string(i) + "]: " + plan.pattern_doubt;
      out.message = out.message.empty() ? note : note + "; " + out.message;
    }
  // Rows of frames the call did not finish stay the caller's.
  if (plane_shifts != nullptr)
    for (int64_t i = 0; i < num_frames; ++i)
      if (outcomes[i].status != PTP_ERROR_CANCELLED)
        std::copy(staged.begin() + i * row, staged.begin() + (i + 1) * row, plane_shifts + i * row);
  return finished;
}

void require_execute_arguments(const ptp_align_plan& plan, const char* function,
                               const void* const* frames, int64_t num_frames) {
  require_not_executing(plan, function);
  if (num_frames < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "argument 'num_frames' is " + std::to_string(num_frames) + ", must be >= 0");
  if (!plan.has_reference)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "the plan has no reference frame: call ptp_align_set_reference first");
  if (num_frames == 0) return;
  require_non_null(frames, "frames");
  checked_mul(checked_mul(num_frames, plan.geometry.planes, "num_frames * planes"), 16,
              "the plane_shifts byte size");
}

void fail_cancelled(int64_t done, int64_t num_frames) {
  fail(PTP_ERROR_CANCELLED, "the progress callback stopped the call after " + std::to_string(done) +
                                " of " + std::to_string(num_frames) +
                                " frames; their results are written");
}

}  // namespace

void crop_shift(const AlignGeometry& g, double dy, double dx, int64_t* crop_y, int64_t* crop_x) {
  const int64_t period = g.period;
  bool have = false;
  double best_distance = 0.0;
  int64_t best_y = 0, best_x = 0;
  const auto better = [&](int64_t y, int64_t x, double distance) {
    if (!have) return true;
    if (distance != best_distance) return distance < best_distance;
    const int64_t size = std::llabs(y) + std::llabs(x);
    const int64_t best_size = std::llabs(best_y) + std::llabs(best_x);
    if (size != best_size) return size < best_size;
    return y != best_y ? y < best_y : x < best_x;
  };
  for (const auto& [oy, ox] : g.crop_offsets) {
    // The two lattice values of this offset around dy (and dx).
    const double ky = std::floor((dy - static_cast<double>(oy)) / static_cast<double>(period));
    const double kx = std::floor((dx - static_cast<double>(ox)) / static_cast<double>(period));
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        const int64_t y = oy + period * (static_cast<int64_t>(ky) + a);
        const int64_t x = ox + period * (static_cast<int64_t>(kx) + b);
        const double ey = static_cast<double>(y) - dy;
        const double ex = static_cast<double>(x) - dx;
        const double distance = ey * ey + ex * ex;
        if (better(y, x, distance)) {
          have = true;
          best_distance = distance;
          best_y = y;
          best_x = x;
        }
      }
  }
  *crop_y = best_y;
  *crop_x = best_x;
}

void align_execute(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                   double* shifts, double* plane_shifts, double* confidence) {
  require_execute_arguments(plan, "ptp_align_execute", frames, num_frames);
  if (num_frames == 0) return;
  require_non_null(shifts, "shifts");
  for (int64_t i = 0; i < num_frames; ++i)
    if (frames[i] == nullptr)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "argument 'frames': frames[" + std::to_string(i) + "] is NULL");
  for (int64_t i = 0; i < num_frames; ++i)
    require_finite(plan, frames[i], "argument 'frames': frames[" + std::to_string(i) + "]");

  std::vector<FrameOutcome> outcomes(static_cast<size_t>(num_frames));
  const bool finished = run_and_verify(plan, frames, num_frames, outcomes, plane_shifts);
  int64_t done = 0;
  for (int64_t f = 0; f < num_frames; ++f) {
    if (outcomes[f].status == PTP_ERROR_CANCELLED) break;
    ++done;
    shifts[2 * f] = outcomes[f].shift[0];
    shifts[2 * f + 1] = outcomes[f].shift[1];
    if (confidence != nullptr) confidence[f] = outcomes[f].confidence;
  }
  if (!finished) fail_cancelled(done, num_frames);
}

void align_execute_frames(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                          ptp_align_result* results, double* plane_shifts, uint32_t* flags) {
  require_execute_arguments(plan, "ptp_align_execute_frames", frames, num_frames);
  if (num_frames == 0) return;
  require_non_null(results, "results");
  std::vector<FrameOutcome> outcomes(static_cast<size_t>(num_frames));
  for (int64_t i = 0; i < num_frames; ++i) check_frame(plan, frames[i], i, outcomes[i]);
  const bool finished = run_and_verify(plan, frames, num_frames, outcomes, plane_shifts);
  int64_t done = 0;
  for (int64_t f = 0; f < num_frames; ++f) {
    const FrameOutcome& out = outcomes[f];
    ptp_align_result r{};
    r.status = out.status;
    r.planes_used = out.planes_used;
    r.shift[0] = out.shift[0];
    r.shift[1] = out.shift[1];
    if (out.status == PTP_SUCCESS) {
      r.confidence = out.confidence;
      crop_shift(plan.geometry, out.unsnapped[0], out.unsnapped[1], &r.crop[0], &r.crop[1]);
    } else {
      r.shift[0] = r.shift[1] = kNoShift;
    }
    std::snprintf(r.message, sizeof r.message, "%s", out.message.c_str());
    results[f] = r;
    if (flags != nullptr) flags[f] = out.status == PTP_SUCCESS ? out.flags : 0;
    if (out.status != PTP_ERROR_CANCELLED) done = f + 1;
  }
  if (!finished) fail_cancelled(done, num_frames);
}

}  // namespace ptychopatch::impl
