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
#include <utility>
#include <vector>

#include "align/fine/align_verify.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

class SharedIsolatedSites;  // isolated_sites.hpp

struct AlignGeometry {
  int64_t height;    // frame rows as given
  int64_t width;     // frame columns as given
  int64_t channels;  // planar channels (PTP_CFA_NONE), else 1
  int64_t period;    // 1 (none), 2 (Bayer), 6 (X-Trans)
  int64_t planes;    // channels, 4 or 36
  // The plane the backend transforms: (height / period) x (width / period),
  // the frame trimmed to a multiple of the period; with `luma` the
  // luminance image, (height / period * period - luma_window) / luma_stride
  // + 1 rows (columns alike); either cut to an FFT-friendly side by the
  // default estimators.
  int64_t plane_height;
  int64_t plane_width;
  ptp_dtype frame_dtype;  // PTP_DTYPE_UINT16 or PTP_DTYPE_FLOAT32
  ptp_cfa cfa;
  int32_t upsample;  // >= 1
  ptp_normalization normalization;
  bool hann_window;
  ptp_fft_planning fft_planning;  // the CPU backend's FFTW planning effort
  // PTP_COMBINE_JOINT or _LUMA: the backend returns one result per frame,
  // the peak of the summed cross-power spectra of its informative planes.
  bool joint;
  // PTP_COMBINE_LUMA (src/align/coarse/align_luma.hpp): the frames' luminance
  // images are aligned, one pixel every luma_stride sensor pixels per axis
  // (math::luma_stride: 1, or 3 for X-Trans).
  bool luma = false;
  int64_t luma_stride = 1;
  int64_t luma_window = 1;  // math::luma_window: the window's side K
  bool median;              // else mean (per-plane combinations only)
  bool snap;
  // Bound of the integer peak search per plane axis, in plane pixels
  // (math::within_shift_limit); -1: unbounded.
  int64_t max_shift_rows;
  int64_t max_shift_cols;
  ptp_align_method method;
  ptp_align_verify verify;  // the closed-loop check of crops (align/fine/align_verify.hpp)
  // Pattern-preserving shifts within one period: (dy, dx) pairs in
  // [0, period)^2 with pattern[(r + dy) % P][(c + dx) % P] == pattern[r][c]
  // for every site; (0, 0) always, (0, 0) alone for Bayer.
  std::vector<std::pair<int64_t, int64_t>> crop_offsets;
  // The colour of each pattern site (row-major, period x period): 0 red,
  // 1 green (the pattern's code 3, rawpy's second green, counted as 1),
  // 2 blue; empty without a pattern (then each channel is a colour).
  std::vector<int32_t> site_colours;

  int64_t frame_elements() const { return channels * height * width; }
  size_t frame_bytes() const {
    return static_cast<size_t>(frame_elements()) * (frame_dtype == PTP_DTYPE_UINT16 ? 2 : 4);
  }
  // Sensor pixels per pixel of the plane the backend aligns.
  int64_t shift_unit() const { return luma ? luma_stride : period; }
  // What a backend's align() writes per frame.
  int64_t results_per_frame() const { return joint ? 1 : planes; }
};

// Throws Error naming the offending field.
AlignGeometry validate_align_desc(const ptp_align_desc* desc);

void default_align_desc(ptp_align_desc* desc);

// One plane pair's result, or with geometry.joint one frame's, in plane
// pixels (not yet scaled by the period).
struct PlaneShift {
  double dy;
  double dx;
  // Normalised peak height in [0, 1]; exactly 0 when the plane is constant
  // in the reference or the moving frame (it carries no information, and
  // the core drops it from the combination), or, joint, when every plane is.
  double confidence;
  // Planes that carried information: 0 or 1 per plane; 0 to planes joint.
  int32_t planes_used;
};

class AlignBackend {
 public:
  virtual ~AlignBackend() = default;
  // frame: validated host frame of the plan's geometry.
  virtual void set_reference(const void* frame) = 0;
  // Aligns frames[0..num_frames) (validated host frames) to the reference,
  // writing num_frames * results_per_frame() results, frame-major. After each finished
  // frame calls keep_going(frames_done); when it returns false, stops and
  // returns the number of frames finished. Returns num_frames otherwise.
  virtual int64_t align(const void* const* frames, int64_t num_frames, PlaneShift* results,
                        const std::function<bool(int64_t)>& keep_going) = 0;

  // True for a backend made for a PTP_COMBINE_LUMA geometry itself (not its
  // luma_image_geometry) that makes the luminance images from the raw
  // frames (the GPU backend): the luma backend (align_luma.hpp) then hands
  // it raw frames and says which planes take part.
  virtual bool makes_luma_images() const { return false; }
  // The planes (one flag each) of the images of the set_reference and align
  // calls that follow; called only where makes_luma_images() (which must
  // override it).
  virtual void set_luma_planes(const std::vector<char>& planes);
};

std::unique_ptr<AlignBackend> make_cpu_align_backend(const AlignGeometry& geometry,
                                                     int32_t num_threads);

// PTP_ALIGN_METHOD_RAWNIND (src/align/coarse/align_rawnind.cpp): per-plane integer
// lags of RawNIND's linear correlation; the core combines them its way.
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
  // True while ptp_align_execute runs: its progress callback may not change
  // or destroy the plan (require_not_executing).
  bool executing = false;
  ptp_progress_fn progress = nullptr;
  void* progress_user_data = nullptr;
  // Frames per round of correlations and closed loop (align_plan.cpp,
  // run_and_verify); 0: from the frame size and the threads. Set only by
  // tests (tests/cpp/test_align_rounds.cpp), to see several rounds of
  // small frames.
  int64_t frames_per_round = 0;
  // REFINE's gate (align_plan.cpp, verify_crops). Cleared only by tests
  // (tests/cpp/test_align_verify.cpp): every frame then takes the closed
  // loop, whose result they compare with its oracle.
  bool gate = true;
  // With ptp_align_desc::verify: checks every crop in a closed loop.
  std::unique_ptr<ptychopatch::impl::CropVerifier> verifier;
  // Colour mosaics: the isolated sites the reference shares with a call's
  // frames (isolated_sites.hpp), and those the backend's and the closed
  // loop's reference are without.
  // (A shared_ptr: its deleter is fixed where it is made, so the headers
  // that destroy plans need not see the class.)
  std::shared_ptr<ptychopatch::impl::SharedIsolatedSites> sites;
  std::vector<int64_t> sites_applied;
  // The reference as given (ptp_align_set_reference). The backend and the
  // closed loop take it, without sites_applied, at the next execute
  // (reference_applied false until then): a set_reference that fails leaves
  // them, and this copy, as they were.
  std::vector<unsigned char> reference;
  // That reference without sites_applied, where there are any: the
  // closed loop reads it (or `reference`) where it lies.
  std::vector<unsigned char> cleaned_reference;
  bool reference_applied = false;
  // Set by ptp_align_set_reference where the reference does not look like
  // a mosaic of the plan's family, or, with no pattern, looks like a mosaic
  // (pattern_family.hpp): every frame's note, at confidence 0. Empty
  // otherwise; always for the closed loop's own plans (checks_pattern).
  std::string pattern_doubt;
  bool checks_pattern = false;
};
