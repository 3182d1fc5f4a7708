// Scene alignment (SPEC §3): the validated geometry, the backend interface
// that the CPU (FFTW) and GPU (cuFFT) implementations provide, and the
// object behind the opaque ptp_align_plan handle. The core validates
// inputs, combines plane shifts (median/mean), scales and snaps them; the
// backends compute per-plane shifts and peak heights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ptychopatch.h"

namespace ptychopatch::impl {

struct AlignGeometry {
  int64_t height;         // frame rows as given
  int64_t width;          // frame columns as given
  int64_t channels;       // planar channels (PTP_CFA_NONE), else 1
  int64_t period;         // 1 (none), 2 (Bayer), 6 (X-Trans)
  int64_t planes;         // channels, 4 or 36
  int64_t plane_height;   // (height / period): the frame trimmed to a multiple of the period
  int64_t plane_width;    // (width / period)
  ptp_dtype frame_dtype;  // PTP_DTYPE_UINT16 or PTP_DTYPE_FLOAT32
  ptp_cfa cfa;
  int32_t upsample;  // >= 1
  bool phase_normalization;
  bool hann_window;
  ptp_fft_planning fft_planning;  // the CPU backend's FFTW planning effort
  bool median;
  bool snap;

  int64_t frame_elements() const { return channels * height * width; }
};

// Throws Error naming the offending field.
AlignGeometry validate_align_desc(const ptp_align_desc* desc);

void default_align_desc(ptp_align_desc* desc);

// One plane pair's result, in plane pixels (not yet scaled by the period).
struct PlaneShift {
  double dy;
  double dx;
  // Normalised peak height in [0, 1]; exactly 0 when the plane is constant
  // in the reference or the moving frame (it carries no information, and
  // the core drops it from the combination).
  double confidence;
};

class AlignBackend {
 public:
  virtual ~AlignBackend() = default;
  // frame: validated host frame of the plan's geometry.
  virtual void set_reference(const void* frame) = 0;
  // Aligns frames[0..num_frames) (validated host frames) to the reference,
  // writing num_frames * planes results, frame-major. After each finished
  // frame calls keep_going(frames_done); when it returns false, stops and
  // returns the number of frames finished. Returns num_frames otherwise.
  virtual int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                        const std::function<bool(int64_t)>& keep_going) = 0;
};

std::unique_ptr<AlignBackend> make_cpu_align_backend(const AlignGeometry& geometry,
                                                     int32_t num_threads);

}  // namespace ptychopatch::impl

struct ptp_align_plan {
  const ptp_context* context;
  ptychopatch::impl::AlignGeometry geometry;
  std::unique_ptr<ptychopatch::impl::AlignBackend> backend;
  ptp_backend runs_on = PTP_BACKEND_CPU;
  // Empty when the plan runs on its context's backend, else why not.
  std::string fallback_reason;
  bool has_reference = false;
  // True while ptp_align_execute runs: its progress callback may not change
  // or destroy the plan (require_not_executing).
  bool executing = false;
  ptp_progress_fn progress = nullptr;
  void* progress_user_data = nullptr;
};
