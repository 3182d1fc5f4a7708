#include "align/align_plan.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "align/align_backend.hpp"
#include "core/context.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "core/headroom.hpp"

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
  int64_t first = n;
  const int threads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, chunks)));
  require_thread_headroom(static_cast<int>(threads));
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t begin = chunk * kChunk;
    const int64_t end = std::min(n, begin + kChunk);
    // Exponent field 254 (|x| >= 2^127) or 255 (inf, NaN).
    uint32_t bad = 0;
    for (int64_t k = begin; k < end; ++k) {
      uint32_t bits;
      std::memcpy(&bits, frame + k, sizeof bits);
      bad |= static_cast<uint32_t>((bits & 0x7f800000u) >= 0x7f000000u);
    }
    if (bad == 0) continue;
    for (int64_t k = begin; k < end; ++k)
      if (!(std::fabs(frame[k]) < kLargestAlignable)) {
        first = std::min(first, k);
        break;
      }
  }
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
  desc->upsample_factor = 1;
  desc->normalization = PTP_NORMALIZATION_PHASE;
  desc->window = PTP_WINDOW_NONE;
  desc->combine = PTP_COMBINE_MEDIAN;
  desc->snap = 0;
  desc->fft_planning = PTP_FFT_PLANNING_MEASURE;
}

AlignGeometry validate_align_desc(const ptp_align_desc* desc) {
  require_non_null(desc, "desc");
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
      desc->normalization != PTP_NORMALIZATION_NONE)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("normalization", desc->normalization,
                     "must be PTP_NORMALIZATION_PHASE or PTP_NORMALIZATION_NONE"));
  if (desc->window != PTP_WINDOW_NONE && desc->window != PTP_WINDOW_HANN)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("window", desc->window, "must be PTP_WINDOW_NONE or PTP_WINDOW_HANN"));
  if (desc->combine != PTP_COMBINE_MEDIAN && desc->combine != PTP_COMBINE_MEAN)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         field_error("combine", desc->combine, "must be PTP_COMBINE_MEDIAN or PTP_COMBINE_MEAN"));
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
  g.phase_normalization = desc->normalization == PTP_NORMALIZATION_PHASE;
  g.hann_window = desc->window == PTP_WINDOW_HANN;
  g.fft_planning = static_cast<ptp_fft_planning>(desc->fft_planning);
  g.median = desc->combine == PTP_COMBINE_MEDIAN;
  g.snap = desc->snap == 1;

  if (g.plane_height > kMaxPlaneSide || g.plane_width > kMaxPlaneSide)
    fail(PTP_ERROR_INVALID_SIZE, "a plane of " + std::to_string(g.plane_height) + " x " +
                                     std::to_string(g.plane_width) +
                                     " exceeds the FFT size limit of 2^31 - 1 per side");
  // The frame and everything a backend keeps per plane must be addressable:
  // frame bytes, and the half spectra of all planes (8-byte bins).
  const int64_t pixels = checked_mul(g.height, g.width, "desc->height * desc->width");
  const int64_t elements = checked_mul(pixels, g.channels, "desc->height * desc->width * channels");
  checked_mul(elements, 4, "the frame's byte size");
  const int64_t bins = checked_mul(g.plane_height, g.plane_width / 2 + 1, "a plane's spectrum");
  checked_mul(checked_mul(bins, g.planes, "the reference spectra"), 16,
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
                                                  const ptp_align_desc* desc) {
  const AlignGeometry geometry = validate_align_desc(desc);
  auto plan = std::make_unique<ptp_align_plan>();
  plan->context = &context;
  plan->geometry = geometry;
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
  if (!plan->backend) plan->backend = make_cpu_align_backend(geometry, context.num_threads);
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
  // Until the backend has finished, the plan has no usable reference.
  plan.has_reference = false;
  plan.backend->set_reference(frame);
  plan.has_reference = true;
}

void align_execute(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                   double* shifts, double* plane_shifts, double* confidence) {
  require_not_executing(plan, "ptp_align_execute");
  const AlignGeometry& g = plan.geometry;
  if (num_frames < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "argument 'num_frames' is " + std::to_string(num_frames) + ", must be >= 0");
  if (!plan.has_reference)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "the plan has no reference frame: call ptp_align_set_reference first");
  if (num_frames == 0) return;
  require_non_null(frames, "frames");
  require_non_null(shifts, "shifts");
  const int64_t planes = g.planes;
  checked_mul(checked_mul(num_frames, planes, "num_frames * planes"), 16,
              "the plane_shifts byte size");
  for (int64_t i = 0; i < num_frames; ++i)
    if (frames[i] == nullptr)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "argument 'frames': frames[" + std::to_string(i) + "] is NULL");
  for (int64_t i = 0; i < num_frames; ++i)
    require_finite(plan, frames[i], "argument 'frames': frames[" + std::to_string(i) + "]");

  std::vector<PlaneShift> results(static_cast<size_t>(num_frames * planes));
  bool cancelled = false;
  const std::function<bool(int64_t)> keep_going = [&](int64_t done) {
    if (plan.progress == nullptr) return true;
    if (plan.progress(done, num_frames, plan.progress_user_data) == 0) return true;
    cancelled = true;
    return false;
  };
  struct Executing {
    bool& flag;
    explicit Executing(bool& f) : flag(f) { flag = true; }
    ~Executing() { flag = false; }
  } executing(plan.executing);
  const int64_t done = plan.backend->align(frames, num_frames, results.data(), keep_going);

  // Plane pixels to sensor pixels, then the combination per axis.
  const double period = static_cast<double>(g.period);
  const int64_t block = g.cfa == PTP_CFA_BAYER ? 2 : 3;
  std::vector<double> ys, xs;
  ys.reserve(static_cast<size_t>(planes));
  xs.reserve(static_cast<size_t>(planes));
  // A plane that carries no information (constant in the reference or the
  // moving frame: fully clipped, dead, or flat; its confidence is exactly 0)
  // has no shift (NaN) and no vote: two flat planes of four must not pull a
  // median halfway to (0, 0). A frame with no informative plane has no
  // shift either (NaN, confidence 0) rather than a plausible (0, 0).
  constexpr double kNoShift = std::numeric_limits<double>::quiet_NaN();
  for (int64_t f = 0; f < done; ++f) {
    double confidence_sum = 0.0;
    ys.clear();
    xs.clear();
    for (int64_t p = 0; p < planes; ++p) {
      const PlaneShift& r = results[f * planes + p];
      const bool informative = r.confidence > 0.0;
      const double y = informative ? r.dy * period : kNoShift;
      const double x = informative ? r.dx * period : kNoShift;
      if (informative) {
        ys.push_back(y);
        xs.push_back(x);
        confidence_sum += r.confidence;
      }
      if (plane_shifts != nullptr) {
        plane_shifts[2 * (f * planes + p)] = y;
        plane_shifts[2 * (f * planes + p) + 1] = x;
      }
    }
    double dy = kNoShift, dx = kNoShift;
    if (!ys.empty()) {
      dy = combine_plane_shifts(ys, g.median);
      dx = combine_plane_shifts(xs, g.median);
      if (g.snap) {
        dy = snap_shift(dy, block);
        dx = snap_shift(dx, block);
      }
    }
    shifts[2 * f] = dy;
    shifts[2 * f + 1] = dx;
    if (confidence != nullptr)
      confidence[f] = ys.empty() ? 0.0 : confidence_sum / static_cast<double>(ys.size());
  }
  if (cancelled)
    fail(PTP_ERROR_CANCELLED, "the progress callback stopped the call after " +
                                  std::to_string(done) + " of " + std::to_string(num_frames) +
                                  " frames; their results are written");
}

}  // namespace ptychopatch::impl
