// The per-element arithmetic of CFA phase correlation (SPEC §3), written
// once for the CPU backend (src/align/coarse/align_cpu.cpp) and the CUDA backend
// (cuda/align_*). Everything here is a pure function of its arguments.
//
// What a backend computes for one (reference plane, moving plane) pair of
// ny x nx plane pixels, N = ny * nx (docs/semantics.md, "The image's peak"):
//
//  1. Plane values: v(i, j) = fl32((x(i, j) - mean) * w(i, j)) where x is
//     the frame element at plane_element_index(), mean is the mean of x over
//     the plane (a double sum of the values as read, divided by N), and w is
//     hann_weight(i, ny) * hann_weight(j, nx) in double (1 without window).
//     If plane_scale_exponent(max |v|, N) = e != 0 (huge or tiny float
//     values only), v is multiplied by 2^-e.
//  2. Spectra R = FFT(v_ref), M = FFT(v_mov), unnormalised forward
//     transforms (FFTW / cuFFT r2c give the half spectrum kx <= nx / 2).
//  3. Cross power X(k) = partial_cross_power(R(k), M(k)): R conj(M), partially
//     whitened (scene alignment); RawNIND's method and the scikit-image drop-in
//     use cross_power (plain, or phase-normalised).
//  4. c = unnormalised inverse transform of X (c2r): c = N * IFFT(X). The
//     integer peak is the first (row-major) index of max |c|; its signed
//     shift per axis is wrap_peak_index(index, n).
//  5. upsample > 1: refinement by the upsampled DFT of Guizar-Sicairos et
//     al. (2008) exactly as scikit-image does it:
//        region   = upsampled_region_size(upsample)   (ceil(1.5 upsample))
//        dftshift = upsampled_dftshift(region)         (region / 2)
//        CC(a, b) = sum over all (ky, kx) of the FULL spectrum of
//                   X(ky, kx) * dft_twiddle(ma, signed_frequency(ky, ny), ny, up)
//                             * dft_twiddle(mb, signed_frequency(kx, nx), nx, up)
//        with ma = upsampled_sample_index(a, shift_y, up, dftshift),
//             mb = upsampled_sample_index(b, shift_x, up, dftshift),
//        for 0 <= a, b < region; (a*, b*) = first row-major max of |CC|;
//        refined shift = refined_shift(shift, a* or b*, dftshift, up).
//     (The missing half of a half spectrum is X(-k) = conj(X(k)).)
//  6. A plane dimension of 1 gives shift 0 along it (as scikit-image).
//  7. confidence = significance_confidence(|peak|, E, N), where peak is c at the
//     integer peak, or CC(a*, b*) when refined (RawNIND's method:
//     xcorr_confidence).
//  A pair where either plane is all zero after step 1 (sum of squares 0:
//  a constant plane) gives shift (0, 0) and confidence 0 without steps 2-7.
//
// Bitwise agreement between the CPU and GPU backends is not a goal here
// (the FFT libraries differ); the functions below fix the formulas, their
// order of operations where it matters, and the integer arithmetic.
#pragma once

#include <cmath>
#include <cstdint>

#include "math/host_device.hpp"

namespace ptychopatch::math {

// ------------------------------------------------------------ addressing

// Index into the frame array of element (row, col) of plane `plane`.
//  period == 1 (PTP_CFA_NONE): the frame is (channels, height, width) and
//    plane p is channel p: p * height * width + row * width + col.
//  period 2 or 6 (Bayer / X-Trans): the frame is (height, width) and plane
//    p is the pattern position (r, c) = (p / period, p % period), i.e.
//    frame[r::period, c::period] of the frame trimmed to a multiple of the
//    period: (row * period + r) * width + col * period + c.
// Requires 0 <= row < height / period and 0 <= col < width / period.
PTP_HD int64_t plane_element_index(int64_t plane, int64_t row, int64_t col, int64_t period,
                                   int64_t height, int64_t width) {
  if (period == 1) return (plane * height + row) * width + col;
  return (row * period + plane / period) * width + col * period + plane % period;
}

// ---------------------------------------------------------------- window

// Periodic (DFT-even) Hann weight of sample i of n: 0.5 - 0.5 cos(2 pi i / n),
// as scipy.signal.get_window("hann", n) (fftbins=True); n == 1 gives 1, as
// scipy does. The 2-D window is separable: hann_weight(i, ny) *
// hann_weight(j, nx), multiplied in double.
PTP_HD double hann_weight(int64_t i, int64_t n) {
  if (n == 1) return 1.0;
  const double pi = 3.14159265358979323846;
  return 0.5 - 0.5 * cos(2.0 * pi * static_cast<double>(i) / static_cast<double>(n));
}

// The tracking passes of the joint estimator (PTP_COMBINE_JOINT with the
// Hann window). A window fixed on both frames biases the peak toward zero
// shift: the windowed moving plane is not a shifted copy of the windowed
// reference plane, the more so the larger the shift and the smoother the
// scene. So the first pass gives only the integer peak (sy, sx), and the
// next windows every moving plane again with the window moved by it,
// circularly: row i gets hann_weight(tracking_window_index(i, sy, ny), ny)
// (columns alike), so the window follows the content the reference window
// sees.
//
// Up to kTrackingPasses passes: pass k > 1 moves the window by pass k - 1's
// integer peak, and the result is the refined peak of the last pass. (A
// frame whose peak equals its window's shift is final early: another pass
// would repeat that one.) The third pass is for large shifts of smooth
// scenes, where the first pass's peak is pulled far enough toward zero that
// the second pass's window still lags the content.
//
// tracking_window_index(i, s, n) = (i + s) mod n, in [0, n).
constexpr int kTrackingPasses = 3;

PTP_HD int64_t tracking_window_index(int64_t i, int64_t shift, int64_t n) {
  const int64_t r = (i + shift % n) % n;
  return r < 0 ? r + n : r;
}

// The same window in the frequency domain, for a backend that transforms
// the plane once unwindowed (M0) and windows its spectrum: the periodic Hann
// window is 1/2 - e^(+2 pi i j / n) / 4 - e^(-2 pi i j / n) / 4, so along
// one axis of n > 1 samples the spectrum of v(j) * w((j + s) mod n) is
//   M(k) = M0(k) / 2 + tap * M0(k - 1) + conj(tap) * M0(k + 1)
// with tap = -e^(+2 pi i s / n) / 4 (bins mod n); n == 1 has weight 1 and
// M = M0. tracking_window_tap gives tap (cos, sin parts; the angle reduced
// in integers first, as dft_twiddle).
PTP_HD void tracking_window_tap(int64_t shift, int64_t n, double* re, double* im) {
  const double pi = 3.14159265358979323846;
  const int64_t r = tracking_window_index(0, shift, n);
  const double angle = 2.0 * pi * static_cast<double>(r) / static_cast<double>(n);
  *re = -0.25 * cos(angle);
  *im = -0.25 * sin(angle);
}

// The value a plane pixel enters the FFT with: (x - mean) * weight in
// double, rounded once to float32. weight is 1.0 without a window.
PTP_HD float plane_value(double x, double mean, double weight) {
  return static_cast<float>((x - mean) * weight);
}

// Scaling of a plane's values v by 2^-e (exact), from the largest |v| of a
// plane after step 1 (max_abs) and its N (count), with bound = N max_abs:
//  * Huge planes (bound > 2^60): the smallest e > 0 with bound 2^-e <=
//    2^60, which bounds every spectrum bin by 2^60 and every cross-power
//    and correlation value by 2^120 < FLT_MAX.
//  * Tiny planes (0 < bound < 1): the e < 0 with bound 2^-e in [2^20,
//    2^21). Without it the shift and confidence depended on the frames'
//    units: phase normalisation's guard (kPhaseGuard, an absolute floor)
//    covered every bin of frames scaled by 1e-10 (a review: the
//    confidence of a right crop fell from 0.91 to 0.38, that of plain
//    correlation), and at 1e-30 the cross power underflowed float32 (a
//    wrong crop at confidence 0).
//  * Otherwise e = 0: frames of uint16 (without a window a plane that
//    varies has max_abs >= 1/2) and float frames of ordinary magnitude are
//    never rescaled.
// Apply it as ldexp(v, -e) per value: 2^-e itself can lie outside float32
// (a plane whose largest value is subnormal needs e < -127).
// The frames reaching it are bounded (|x| < 2^127, align_plan.cpp), so
// max_abs < 2^129 and e < 2^10; the cap only guarantees that no input, not
// even an infinite one, can make the loop run forever. A plane of zeros
// (bound 0) or NaN keeps e = 0.
PTP_HD int plane_scale_exponent(double max_abs, int64_t count) {
  constexpr int kMaxExponent = 4096;
  double bound = max_abs * static_cast<double>(count);
  int e = 0;
  while (bound > 1152921504606846976.0 && e < kMaxExponent) {  // 2^60
    bound *= 0.5;
    ++e;
  }
  if (bound > 0.0 && bound < 1.0) {
    while (bound < 1048576.0 && e > -kMaxExponent) {  // 2^20
      bound *= 2.0;
      --e;
    }
  }
  return e;
}

// ---------------------------------------------------------- cross power

// Guard of phase normalisation: X / max(|X|, kPhaseGuard), scikit-image's
// 100 * eps with the float32 epsilon (2^-23).
constexpr float kPhaseGuard = 100.0f * 1.1920928955078125e-07f;

// One bin of the cross-power spectrum X = R * conj(M), in float32:
//   re = rr * mr + ri * mi,  im = ri * mr - rr * mi.
// With phase != 0 it is then divided by max(|X|, kPhaseGuard), in float32
// and without any square that could overflow or underflow:
//   s = max(|re|, |im|, FLT_MIN),  a = re / s,  b = im / s,
//   h = sqrt(a^2 + b^2)            (so |X| = s * h, h in [1, sqrt 2])
//   s * h > kPhaseGuard:  (a / h, b / h)       (= X / |X|)
//   otherwise:            (re / kPhaseGuard, im / kPhaseGuard)
// where a / h is computed as a * (1 / h). Both candidates are computed and
// one is selected, so the CPU loop vectorises (no division under a branch).
// re + i im = s * (a + i b) with s = max(|re|, |im|, FLT_MIN) and h =
// |a + i b| in [1, sqrt 2] (0 for 0): |re + i im| = s * h without squaring
// anything large or small.
struct ScaledComplex {
  float s;
  float a;
  float b;
  float h;
};

PTP_HD ScaledComplex scale_complex(float re, float im) {
  const float are = fabsf(re);
  const float aim = fabsf(im);
  float s = are > aim ? are : aim;
  s = s > 1.17549435e-38f ? s : 1.17549435e-38f;  // FLT_MIN: 0 stays 0
  const float inv_s = 1.0f / s;
  const float a = re * inv_s;
  const float b = im * inv_s;
  return {s, a, b, sqrtf(a * a + b * b)};
}

PTP_HD void cross_power(float rr, float ri, float mr, float mi, bool phase, float* out_re,
                        float* out_im) {
  const float re = rr * mr + ri * mi;
  const float im = ri * mr - rr * mi;
  if (!phase) {
    *out_re = re;
    *out_im = im;
    return;
  }
  const ScaledComplex x = scale_complex(re, im);
  const float a = x.a;
  const float b = x.b;
  const float inv_h = 1.0f / x.h;
  const bool above_guard = x.s * x.h > kPhaseGuard;
  const float guarded_re = re / kPhaseGuard;
  const float guarded_im = im / kPhaseGuard;
  *out_re = above_guard ? a * inv_h : guarded_re;
  *out_im = above_guard ? b * inv_h : guarded_im;
}

// X / max(|X|, kPhaseGuard) for the cross-correlation of one pair
// (ptp_correlate_*), in two divisions and a square root where cross_power
// takes four and one: above the guard as cross_power, a * (1 / h); at or
// under it X * (1 / kPhaseGuard), the product with the rounded reciprocal
// (as numpy divides a complex value by a real one, scikit-image's
// normalisation) instead of two divisions. NaN and infinite X give NaN or
// infinity (the plan's finiteness check reads them).
constexpr float kInversePhaseGuard = 1.0f / kPhaseGuard;

PTP_HD void phase_normalized(float re, float im, float* out_re, float* out_im) {
  const ScaledComplex x = scale_complex(re, im);
  const float inv_h = 1.0f / x.h;
  const bool above_guard = x.s * x.h > kPhaseGuard;
  *out_re = above_guard ? x.a * inv_h : re * kInversePhaseGuard;
  *out_im = above_guard ? x.b * inv_h : im * kInversePhaseGuard;
}

// Step 3 of scene alignment, partial whitening: X divided by
// max(|X|, kPhaseGuard)^(1/4), with |X| computed as in cross_power (s * h, no
// square of a large value):
//   |X| > kPhaseGuard:  X * (1 / sqrt(sqrt(|X|)))
//   otherwise:          X / sqrt(sqrt(kPhaseGuard))
// so |result| = |X|^(3/4) above the guard: a weighting between plain
// correlation (the better estimator where blur leaves little but low
// frequencies) and phase correlation (which flattens the spectrum of
// textured scenes); of the exponents 0, 0.25, 0.35 and 0.5 it was right most
// often on benchmarks/bench_align_robustness.py (docs/notes/alignment.md,
// "The joint peak, the former default").
// Every |X| <= 2^120 (see plane_scale_exponent), so |result| <= 2^90, and
// a correlation value, a sum of at most 36 planes' N bins, stays below
// FLT_MAX for every plane of N < 2^32 pixels.
PTP_HD void partial_cross_power(float rr, float ri, float mr, float mi, float* out_re,
                                float* out_im) {
  const float re = rr * mr + ri * mi;
  const float im = ri * mr - rr * mi;
  const ScaledComplex x = scale_complex(re, im);
  const float magnitude = x.s * x.h;
  const float scale = 1.0f / sqrtf(sqrtf(magnitude > kPhaseGuard ? magnitude : kPhaseGuard));
  *out_re = re * scale;
  *out_im = im * scale;
}

// Weight of half-spectrum column kx (0 <= kx <= nx / 2) of an nx-column
// plane in a sum over the full spectrum: the columns 0 and (even nx) nx / 2
// stand for themselves, every other one also for its mirror image.
PTP_HD double half_spectrum_weight(int64_t kx, int64_t nx) {
  return (kx == 0 || 2 * kx == nx) ? 1.0 : 2.0;
}

// ------------------------------------------------------------------ peak

// Signed shift of peak index `index` (0 <= index < n) along an axis of n:
// index > n / 2 (integer division, numpy's fix(n / 2)) wraps to index - n,
// so shifts lie in (-n/2, n/2] for even n and [-(n-1)/2, (n-1)/2] for odd.
PTP_HD int64_t wrap_peak_index(int64_t index, int64_t n) {
  return index > n / 2 ? index - n : index;
}

// --------------------------------------------------------- upsampled DFT

// Side of the square upsampled region: ceil(1.5 * upsample).
PTP_HD int64_t upsampled_region_size(int64_t upsample) {
  return (3 * upsample + 1) / 2;
}

// Index of the region's centre: fix(region / 2).
PTP_HD int64_t upsampled_dftshift(int64_t region) {
  return region / 2;
}

// Signed frequency numerator of bin k of n, numpy's fftfreq(n) * n:
// k for k <= (n - 1) / 2, else k - n (so the Nyquist bin of an even n is
// -n / 2).
PTP_HD int64_t signed_frequency(int64_t k, int64_t n) {
  return k <= (n - 1) / 2 ? k : k - n;
}

// The integer m of region sample `pos` (0 <= pos < region) around the
// integer shift `shift`: m / upsample is the position, in plane pixels, at
// which the upsampled DFT samples the correlation:
// m = pos - dftshift + shift * upsample (scikit-image's pos -
// sample_region_offset).
PTP_HD int64_t upsampled_sample_index(int64_t pos, int64_t shift, int64_t upsample,
                                      int64_t dftshift) {
  return pos - dftshift + shift * upsample;
}

// exp(+2 pi i * m * f / (n * upsample)) as (*c, *s) = (cos, sin), for any
// integers m, f with |f| <= n, 1 <= n < 2^31, 1 <= upsample <= 2^16 (the
// core validates both). The phase m * f is reduced exactly in integers
// modulo n * upsample before the one floating-point division, so the
// result is as accurate as cos/sin of an angle in (-pi, pi].
PTP_HD void dft_twiddle(int64_t m, int64_t f, int64_t n, int64_t upsample, double* c, double* s) {
  // m = q * upsample + r with 0 <= r < upsample; m * f = upsample * (q * f)
  // + r * f, and upsample * (q * f) mod (n * upsample) = upsample * ((q * f)
  // mod n).
  int64_t q = m / upsample;
  int64_t r = m - q * upsample;
  if (r < 0) {
    r += upsample;
    q -= 1;
  }
  int64_t qn = q % n;
  if (qn < 0) qn += n;
  int64_t a = (qn * f) % n;  // |qn * f| < n * n < 2^62
  if (a < 0) a += n;
  const int64_t period = n * upsample;
  int64_t t = (a * upsample + r * f) % period;
  if (t < 0) t += period;
  if (2 * t > period) t -= period;  // angle in (-pi, pi]
  const double turns = static_cast<double>(t) / static_cast<double>(period);
#if defined(__CUDA_ARCH__)
  sincospi(2.0 * turns, s, c);
#else
  const double pi = 3.14159265358979323846;
  *c = cos(2.0 * pi * turns);
  *s = sin(2.0 * pi * turns);
#endif
}

// The refined shift along one axis: shift + (peak_pos - dftshift) /
// upsample, in double.
PTP_HD double refined_shift(int64_t shift, int64_t peak_pos, int64_t dftshift, int64_t upsample) {
  return static_cast<double>(shift) +
         static_cast<double>(peak_pos - dftshift) / static_cast<double>(upsample);
}

// ------------------------------------------------------------ confidence

// No normalisation: the correlation coefficient |peak| / (N * sqrt(sum
// v_ref^2 * sum v_mov^2)) of the mean-removed (windowed) planes, peak as
// above (N * the circular cross-correlation). 0 when either sum is 0.
// Clamped to [0, 1] (Cauchy-Schwarz bounds it by 1 up to rounding); NaN
// gives 0.
PTP_HD double xcorr_confidence(double peak_abs, int64_t count, double ref_sum_squares,
                               double mov_sum_squares) {
  if (!(ref_sum_squares > 0.0) || !(mov_sum_squares > 0.0)) return 0.0;
  const double v =
      peak_abs / (static_cast<double>(count) * sqrt(ref_sum_squares) * sqrt(mov_sum_squares));
  return !(v > 0.0) ? 0.0 : (v > 1.0 ? 1.0 : v);  // NaN gives 0
}

// Significance, the confidence of partial whitening and of the joint peak:
// 1 - s / |peak|, where peak is as above (the c2r of the (summed)
// normalised cross-power spectrum Y at the peak, or the upsampled CC) and
// s = sqrt(2 ln N * E), E = sum over the full spectrum of |Y(k)|^2. By
// Parseval E is the mean square of the correlation c over its N samples,
// and sqrt(2 ln N) times the root mean square is about as high as the
// largest of N independent noise values reaches: a peak no higher than
// that is indistinguishable from noise (0), one far above it is certain
// (towards 1). A tie between equal peaks of a tiny plane scores low. 0 when
// E is 0 or N < 2; clamped to [0, 1]; NaN gives 0.
PTP_HD double significance_confidence(double peak_abs, double energy, int64_t count) {
  if (!(energy > 0.0) || count < 2) return 0.0;
  const double noise = sqrt(2.0 * log(static_cast<double>(count)) * energy);
  const double v = 1.0 - noise / peak_abs;
  return !(v > 0.0) ? 0.0 : (v > 1.0 ? 1.0 : v);  // NaN gives 0
}

// Whether a (reference, moving) plane pair is searched for a shift along an
// axis of n samples bounded to |shift| <= limit (limit < 0: unbounded):
// the wrapped shift of FFT index `index` (wrap_peak_index) is within it.
PTP_HD bool within_shift_limit(int64_t index, int64_t n, int64_t limit) {
  if (limit < 0) return true;
  const int64_t shift = wrap_peak_index(index, n);
  return shift <= limit && -shift <= limit;
}

}  // namespace ptychopatch::math
