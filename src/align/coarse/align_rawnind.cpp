// PTP_ALIGN_METHOD_RAWNIND: RawNIND's fft_phase_correlate_cfa (rawnind_jddc, branch
// performance-optimizations, src/rawnind/libs/raw.py), reproduced for comparing with
// datasets it aligned (docs/semantics.md, "RawNIND's method"). Per plane:
//  1. v = x - mean(x) (float32 values, the mean in double), zero-padded to the smallest
//     FFT-friendly sides >= 2n - 1 (fft/fft_size.hpp): the circular correlation then
//     equals the linear one at every lag read (any padding gives the same to rounding);
//  2. C = c2r(R * conj(M)): C[s] = sum_x v_ref[x + s] v_mov[x] (times the padded
//     size), no normalisation, no window;
//  3. over the lags [-(n / 2), n - 1 - n / 2] per axis (scipy's fftconvolve "same"
//     window), in increasing row-major order, the first maximum of the SIGNED value;
//  4. the plane's shift is s (plane pixels); the core scales it by the period, takes the
//     median over ALL planes, truncates toward zero and floors to multiples of 2 or 3.
// The PlaneShift confidence is the correlation coefficient at the peak
// (math::xcorr_confidence), 0 for a constant plane; it does not decide which planes vote.
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "align/align_backend.hpp"
#include "core/thread_pool.hpp"
#include "cpu/aligned_array.hpp"
#include "fft/fft_size.hpp"
#include "fft/real_fft_2d.hpp"
#include "math/phase_math.hpp"

namespace ptychopatch::impl {
namespace {

class RawnindAlignBackend final : public AlignBackend {
 public:
  RawnindAlignBackend(const AlignGeometry& g, int32_t num_threads)
      : g_(g),
        threads_(std::max<int32_t>(1, num_threads)),
        ny_(g.plane_height),
        nx_(g.plane_width),
        py_(smallest_fft_friendly_size(2 * ny_ - 1)),
        px_(smallest_fft_friendly_size(2 * nx_ - 1)),
        pxh_(px_ / 2 + 1),
        bins_(py_ * pxh_) {
    cpu::AlignedArray<float> real(py_ * px_);
    cpu::AlignedArray<fftwf_complex> spectrum(bins_);
    // The method is a compatibility mode, not a hot path: estimated plans.
    fft_ = std::make_unique<cpu::RealFft2d>(cpu::FftShape::of(py_, px_), real.get(), spectrum.get(),
                                            nullptr, PTP_FFT_PLANNING_ESTIMATE,
                                            /*split=*/false);
    for (int64_t p = 0; p < g.planes; ++p) reference_.emplace_back(bins_);
    reference_energy_.assign(static_cast<size_t>(g.planes), 0.0);
  }
  RawnindAlignBackend(const RawnindAlignBackend&) = delete;
  RawnindAlignBackend& operator=(const RawnindAlignBackend&) = delete;

  void set_reference(const void* frame) override {
    cpu::AlignedArray<float> real(py_ * px_);
    for (int64_t p = 0; p < g_.planes; ++p) {
      reference_energy_[p] = load_plane(frame, p, real.get());
      fft_->forward(real.get(), reference_[p].get());
    }
  }

  int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                const std::function<bool(int64_t)>& keep_going) override {
    const int64_t planes = g_.planes;
    for (int64_t f = 0; f < num_frames; ++f) {
      const int threads = static_cast<int>(std::min<int64_t>(threads_, planes));
      // Each participant's buffers, made when it runs its first plane.
      std::vector<cpu::AlignedArray<float>> reals(static_cast<size_t>(threads));
      std::vector<cpu::AlignedArray<fftwf_complex>> spectra(static_cast<size_t>(threads));
      parallel_for(threads, 0, planes, 1, [&](int64_t p, int slot) {
        if (reals[slot].get() == nullptr) {
          spectra[slot] = cpu::AlignedArray<fftwf_complex>(bins_);
          reals[slot] = cpu::AlignedArray<float>(py_ * px_);
        }
        results[f * planes + p] = align_plane(frames[f], p, reals[slot].get(), spectra[slot].get());
      });
      if (!keep_going(f + 1)) return f + 1;
    }
    return num_frames;
  }

 private:
  // Step 1 into the padded buffer; returns the plane's sum of squares.
  double load_plane(const void* frame, int64_t p, float* out) const {
    std::fill(out, out + py_ * px_, 0.0f);
    const auto value = [&](int64_t i, int64_t j) {
      const int64_t k = math::plane_element_index(p, i, j, g_.period, g_.height, g_.width);
      return g_.frame_dtype == PTP_DTYPE_UINT16
                 ? static_cast<double>(static_cast<const uint16_t*>(frame)[k])
                 : static_cast<double>(static_cast<const float*>(frame)[k]);
    };
    double sum = 0.0;
    for (int64_t i = 0; i < ny_; ++i)
      for (int64_t j = 0; j < nx_; ++j) sum += value(i, j);
    const double mean = sum / static_cast<double>(ny_ * nx_);
    double squares = 0.0;
    for (int64_t i = 0; i < ny_; ++i)
      for (int64_t j = 0; j < nx_; ++j) {
        const float v = static_cast<float>(value(i, j) - mean);
        out[i * px_ + j] = v;
        squares += static_cast<double>(v) * v;
      }
    return squares;
  }

  PlaneShift align_plane(const void* frame, int64_t p, float* real, fftwf_complex* x) const {
    const double energy = load_plane(frame, p, real);
    fft_->forward(real, x);
    const fftwf_complex* r = reference_[p].get();
    for (int64_t k = 0; k < bins_; ++k) {
      float re = 0.0f, im = 0.0f;
      math::cross_power(r[k][0], r[k][1], x[k][0], x[k][1], false, &re, &im);
      x[k][0] = re;
      x[k][1] = im;
    }
    fft_->inverse(x, real);
    // Step 3: lags in increasing order, strict '>' keeps the first maximum.
    bool first = true;
    float best = 0.0f;
    int64_t best_y = 0, best_x = 0;
    for (int64_t sy = -(ny_ / 2); sy <= ny_ - 1 - ny_ / 2; ++sy) {
      const float* row = real + ((sy + py_) % py_) * px_;
      for (int64_t sx = -(nx_ / 2); sx <= nx_ - 1 - nx_ / 2; ++sx) {
        const float v = row[(sx + px_) % px_];
        if (first || v > best) {
          first = false;
          best = v;
          best_y = sy;
          best_x = sx;
        }
      }
    }
    // best is the padded size times the correlation; the confidence takes
    // the plane's size times it.
    const double scale = static_cast<double>(ny_ * nx_) / static_cast<double>(py_ * px_);
    const double confidence = math::xcorr_confidence(
        std::max(0.0, static_cast<double>(best)) * scale, ny_ * nx_, reference_energy_[p], energy);
    return {static_cast<double>(best_y), static_cast<double>(best_x), confidence,
            confidence > 0.0 ? 1 : 0};
  }

  AlignGeometry g_;
  int32_t threads_;
  int64_t ny_, nx_;  // plane
  int64_t py_, px_;  // padded
  int64_t pxh_;
  int64_t bins_;
  std::unique_ptr<cpu::RealFft2d> fft_;
  std::vector<cpu::AlignedArray<fftwf_complex>> reference_;
  std::vector<double> reference_energy_;
};

}  // namespace

std::unique_ptr<AlignBackend> make_rawnind_align_backend(const AlignGeometry& geometry,
                                                         int32_t num_threads) {
  return std::make_unique<RawnindAlignBackend>(geometry, num_threads);
}

}  // namespace ptychopatch::impl
