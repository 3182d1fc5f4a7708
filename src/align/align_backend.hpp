// Scene alignment (SPEC §3; docs/semantics.md, "Scene alignment (CFA phase
// correlation)"): the validated geometry, the backend interface of the CPU (FFTW) and
// GPU (cuFFT) implementations, and the object behind the opaque ptp_align_plan handle.
// The core validates inputs and combines, scales and snaps shifts; the backends
// compute each frame's luminance-image shift (RawNIND's method: per-plane lags) and
// peak height.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "align/fine/fine_fits.hpp"
#include "math/phase_math.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

class SharedIsolatedSites;  // isolated_sites.hpp

struct AlignGeometry {
  int64_t height;    // frame rows as given
  int64_t width;     // frame columns as given
  int64_t channels;  // planar channels (PTP_CFA_NONE), else 1
  int64_t period;    // 1 (none), 2 (Bayer), 6 (X-Trans)
  int64_t planes;    // channels, 4 or 36
  // The plane the backend transforms: with `luma` the luminance image,
  // (height / period * period - luma_window) / luma_stride + 1 rows (columns alike), cut
  // to an FFT-friendly side; RawNIND's method: (height / period) x (width / period).
  int64_t plane_height;
  int64_t plane_width;
  ptp_dtype frame_dtype;  // PTP_DTYPE_UINT16 or PTP_DTYPE_FLOAT32
  ptp_cfa cfa;
  int32_t upsample;               // >= 1
  ptp_fft_planning fft_planning;  // the CPU backend's FFTW planning effort
  // PTP_ALIGN_METHOD_CORRELATION (align/coarse/align_luma.hpp): the frames' luminance
  // images are aligned, one pixel every luma_stride sensor pixels per axis
  // (math::luma_stride), one result per frame; else RawNIND's per-plane lags.
  bool luma = false;
  int64_t luma_stride = 1;
  int64_t luma_window = 1;  // math::luma_window: the window's side K
  // The coarse estimate's tracking passes, 1 to math::kTrackingPasses (docs/semantics.md,
  // "The image's peak"); one where the fine stage's polish sets the shift (validate_align_desc).
  int32_t tracking_passes = math::kTrackingPasses;
  bool snap;
  // Integer peak search bound per axis in plane pixels (math::within_shift_limit); -1: none.
  int64_t max_shift_rows;
  int64_t max_shift_cols;
  ptp_align_method method;
  ptp_align_verify verify;  // REFINE: the fine stage (align/fine/fine_stage.hpp)
  // Pattern-preserving shifts within one period: (dy, dx) in [0, period)^2 with
  // pattern[(r + dy) % P][(c + dx) % P] == pattern[r][c] for every site; (0, 0) always,
  // alone for Bayer.
  std::vector<std::pair<int64_t, int64_t>> crop_offsets;
  // Each pattern site's colour (row-major, period x period): 0 red, 1 green (code 3,
  // rawpy's second green, too), 2 blue; empty without a pattern (each channel a colour).
  std::vector<int32_t> site_colours;

  int64_t frame_elements() const { return channels * height * width; }
  size_t frame_bytes() const {
    return static_cast<size_t>(frame_elements()) * (frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4);
  }
  // Sensor pixels per pixel of the plane the backend aligns.
  int64_t shift_unit() const { return luma ? luma_stride : period; }
  // What a backend's align() writes per frame.
  int64_t results_per_frame() const { return luma ? 1 : planes; }
};

// Throws Error naming the offending field.
AlignGeometry validate_align_desc(const ptp_align_desc* desc);

void default_align_desc(ptp_align_desc* desc);

// One frame's result (luminance image), or one plane pair's (RawNIND), in plane pixels
// (unscaled).
struct PlaneShift {
  double dy;
  double dx;
  // Normalised peak height in [0, 1]; exactly 0 when the image (plane) is constant in
  // the reference or the frame.
  double confidence;
  // Planes that carried information: 0 or 1 per plane; 0 to planes for an image.
  int32_t planes_used;
};

class AlignBackend {
 public:
  virtual ~AlignBackend() = default;
  // frame: validated host frame of the plan's geometry.
  virtual void set_reference(const void* frame) = 0;
  // Aligns frames[0..num_frames) (validated host frames) to the reference, writing
  // num_frames * results_per_frame() results, frame-major. After each finished frame
  // calls keep_going(frames_done); when that returns false, stops and returns the
  // number of frames finished. Returns num_frames otherwise.
  virtual int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                        const std::function<bool(int64_t)>& keep_going) = 0;

  // True for a backend made for a g.luma geometry itself that makes the
  // luminance images from the raw frames (the GPU backend): the luma backend
  // (align_luma.hpp) then hands it raw frames and says which planes take part.
  virtual bool makes_luma_images() const { return false; }
  // The planes (one flag each) of the images of the set_reference and align calls that
  // follow; called only where makes_luma_images() (such a backend must override it).
  virtual void set_luma_planes(const std::vector<char>& planes);
};

std::unique_ptr<AlignBackend> make_cpu_align_backend(const AlignGeometry& geometry,
                                                     int32_t num_threads);

// PTP_ALIGN_METHOD_RAWNIND (align/coarse/align_rawnind.cpp): per-plane integer lags of
// RawNIND's linear correlation; the core combines them its way.
std::unique_ptr<AlignBackend> make_rawnind_align_backend(const AlignGeometry& geometry,
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
  // True while ptp_align_execute runs: its callback may not change it (require_not_executing).
  bool executing = false;
  ptp_progress_fn progress = nullptr;
  void* progress_user_data = nullptr;
  // Frames per round of correlations and fine stage; 0: from the frame size and the
  // threads. Set only by tests (test_align_rounds.cpp), to see several rounds.
  int64_t frames_per_round = 0;
  // REFINE's gate. Tests (test_align_verify.cpp) clear it: every frame takes the thorough fit.
  bool gate = true;
  // With ptp_align_desc::verify: the fine stage's fits.
  std::unique_ptr<ptychopatch::impl::FineFits> fits;
  // Colour mosaics: the isolated-site search (isolated_sites.hpp; a shared_ptr, so
  // code that destroys plans need not see the class), and the sites the backend's
  // reference is without.
  std::shared_ptr<ptychopatch::impl::SharedIsolatedSites> sites;
  std::vector<int64_t> sites_applied;
  // The reference as given (ptp_align_set_reference); the backend and the fine fits
  // take it, without sites_applied, at the next execute (reference_applied false until
  // then), so a set_reference that fails leaves them, and this copy, as they were.
  std::vector<unsigned char> reference;
  // That reference without sites_applied, where there are any (the fine fits read it).
  std::vector<unsigned char> cleaned_reference;
  bool reference_applied = false;
  // Set by ptp_align_set_reference where the reference does not look like a mosaic of
  // the plan's family, or, with no pattern, looks like one (pattern_family.hpp): every
  // frame's note, at confidence 0.
  std::string pattern_doubt;
};
