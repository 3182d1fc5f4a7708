// Device side of the cuFFT alignment backend (SPEC §3): the plane geometry
// the kernels share, and host launchers for each step of a batch. Every
// launcher enqueues on `stream` and throws Error on a launch failure.
//
// Layout. A batch holds B = frames * planes planes. Plane b occupies
// plane_floats floats: fft_rows rows of `pitch` = 2 * half floats, which is
// cuFFT's in-place layout: the real plane (fft_cols values per row, the rest
// padding) and, after the forward transform, its half spectrum (half =
// fft_cols / 2 + 1 complex values per row) in the same bytes.
//
// The FFT grid is the plane itself, or its transpose for planes that are a
// single column (fft_rows = cols, fft_cols = 1 would be a 2-D transform over
// a length-1 axis): then the FFT runs over one row, which cuFFT does as a
// batch of 1-D transforms, and shifts are swapped back at the end.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "align/align_backend.hpp"

namespace ptychopatch::impl::gpu::align {

// Row blocks per plane of the plane-reduction kernels: fixed, so that the
// sums (and hence the means and every result) do not depend on the device.
constexpr int kRowBlocks = 128;

struct Dims {
  // Frame.
  int64_t height;
  int64_t width;
  int64_t channels;
  int64_t period;
  int64_t planes;  // P
  int64_t frame_elements;
  int32_t frame_dtype;  // PTP_DTYPE_UINT16 or PTP_DTYPE_FLOAT32
  // Plane (frame[r::period, c::period] trimmed, or one channel).
  int64_t rows;  // ny
  int64_t cols;  // nx
  // FFT grid.
  bool transposed;  // cols == 1 < rows: the FFT runs over the transposed plane
  int64_t fft_rows;
  int64_t fft_cols;
  int64_t half;          // fft_cols / 2 + 1
  int64_t pitch;         // 2 * half
  int64_t plane_floats;  // fft_rows * pitch
  // Bounds of the integer peak search along the FFT grid's rows and columns
  // (math::within_shift_limit; -1: unbounded).
  int64_t limit_fft_rows;
  int64_t limit_fft_cols;
  int64_t upsample;  // >= 1
  int64_t region;    // ceil(1.5 * upsample): side of the upsampled DFT region
  int64_t dftshift;  // region / 2 (truncated): the region's centre
  // Blocks per plane of the plane kernels: min(kRowBlocks, rows), a function
  // of the geometry alone, so the partial sums (and every result) are the
  // same on every device; no block is launched without a row to read.
  int64_t row_blocks;
};

Dims make_dims(const AlignGeometry& geometry);

// Throws PTP_ERROR_UNSUPPORTED for images this backend does not handle (a padded
// plane of 2^31 values or more: the peak search's int offsets), so that the plan
// falls back to the CPU.
void check_supported(const Dims& d);

// A frame's integer peak (FFT grid, wrapped to signed shifts), its correlation
// magnitude, and in both "energies" its count of informative planes (0: none, whose
// result is (0, 0) with confidence 0); bound: math::significance_confidence's energy.
struct Peak {
  int64_t shift_row;
  int64_t shift_col;
  double magnitude;
  double reference_energy;
  double moving_energy;
  double bound;
};

// Sub-segments of the peak search: each plane is cut into chunks of whole
// FFT rows so that the segmented arg-max has enough segments to fill the
// device (one block per segment); offsets are in floats of the padded
// layout, relative to a group of planes starting at a plane boundary, and fit
// in int.
struct PeakSearch {
  int64_t rows_per_segment;
  int64_t segments_per_plane;
  int64_t planes_per_call;  // planes one arg-max launch may cover (int offsets)
  size_t temp_bytes;        // temporary storage of one launch (1: none is needed)
};

PeakSearch make_peak_search(const Dims& d, int64_t max_planes);

// The segments_per_plane of make_peak_search (no device needed).
int64_t peak_segments_per_plane(const Dims& d);

// The separable window along one axis of n samples (math::hann_weight), as
// the kernels apply it.
void window_table(int64_t n, double* out);

// --------------------------------------------------------------- launchers

// Per-frame scratch of centre_frame: partial sums, sums of squares and
// maxima of every plane (P * kRowBlocks each).
struct FramePartials {
  double* sums;
  double* squares;
  float* maxima;
};
size_t frame_partials_bytes(const Dims& d);
FramePartials carve_frame_partials(const Dims& d, void* base);

// Step 1 of math/phase_math.hpp for every plane of one frame of float32 images (the
// luminance images the luma kernels made: period 1): the mean-subtracted (windowed,
// and if huge rescaled) plane values into `planes` (P planes in the padded layout) and
// the planes' sums of squares into energy[0..P). Windows: row and column tables
// (window_table), or null without a window.
void center_frame(const float* frame, const Dims& d, const double* row_window,
                  const double* col_window, const FramePartials& partials, float* planes,
                  double* energy, cudaStream_t stream);

// Arg-max of |correlation| over each of `planes` planes (in the padded real
// layout after the inverse transform) into peaks[0..planes): the wrapped
// integer shift and magnitude, the energies energy[b] and reference_energy[b], and
// bound[b] (null: 0).
// `offsets`: device copy of peak_offsets(); `partials`: planes *
// segments_per_plane pairs; `temp`: search.temp_bytes.
void find_peaks(const float* correlation, int64_t planes, const Dims& d, const PeakSearch& search,
                const int* offsets, void* partials, void* temp, const double* energy,
                const double* reference_energy, const double* bound, Peak* peaks,
                cudaStream_t stream);

// Blocks per plane of spectrum_bounds (fixed: the sums do not depend on the
// device; 128, so that one plane of a frame spreads over every SM).
constexpr int kBoundBlocks = 128;

// The energy of math::significance_confidence (sum of |X|^2 over the full
// spectrum) of each of `planes` half spectra (padded layout): partials
// (planes * kBoundBlocks doubles) then, added in block order,
// bound[0..planes).
void spectrum_bounds(const float* spectra, int64_t planes, const Dims& d, double* partials,
                     double* bound, cudaStream_t stream);

// One pass of the tracking estimator, fused: for each of `frames` frames, the sum
// over its informative planes (energy[f * P + p] > 0 and reference_energy[p] > 0, in
// plane order) of the partially whitened cross power of the reference with the
// moving plane windowed by
// the Hann window moved by the frame's integer peak peaks[f] (FFT grid;
// null: not moved; math::tracking_window_tap), from the unwindowed half
// spectra (P planes per frame, padded layout), into frame f of `joint`
// (and of `copy` when not null), and its count of informative planes into used[f]
// (a double).
void tracked_joint(const float* unwindowed, const float* reference, const Peak* peaks,
                   const double* energy, const double* reference_energy, int64_t frames,
                   const Dims& d, float* joint, float* copy, double* used, cudaStream_t stream);

// Host copy of the segment offsets of one arg-max launch
// (planes_per_call * segments_per_plane + 1 ints).
void peak_offsets(const Dims& d, const PeakSearch& search, int* offsets);

// Bytes of one segment's arg-max result.
size_t peak_partial_bytes();

// Writes results[0..planes) from integer peaks (upsample == 1); `planes` counts
// frames.
void integer_results(const Peak* peaks, int64_t planes, const Dims& d, PlaneShift* results,
                     cudaStream_t stream);

// Planes refined at once (the scratch is sized for this many).
constexpr int64_t kUpsampleGroup = 64;

// Scratch of the upsampled DFT for `planes` planes at once.
struct UpsampleScratch {
  float* col_twiddles;  // planes x region x fft_cols complex
  float* row_twiddles;  // planes x region x fft_rows complex
  float* stage;         // planes x fft_rows x region complex
  double* magnitude;    // planes x region x region (squared)
};
size_t upsample_scratch_bytes(const Dims& d, int64_t planes);
UpsampleScratch carve_upsample_scratch(const Dims& d, int64_t planes, void* base);

// Refines planes [0, planes) (at most the scratch's count) by the upsampled
// DFT of their cross-power spectra `spectra` (the copies, padded layout)
// around the integer peaks, and writes their results.
void upsampled_results(const float* spectra, const Peak* peaks, int64_t planes, const Dims& d,
                       const UpsampleScratch& scratch, PlaneShift* results, cudaStream_t stream);

}  // namespace ptychopatch::impl::gpu::align
