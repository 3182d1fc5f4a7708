// Scene alignment, backend-independent steps: plan creation (backend choice), frame
// validation, and the backends' shifts turned into the caller's outputs (scale to
// sensor pixels, RawNIND's median, snap); capi/ptychopatch_align_capi.cpp wraps these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "align/align_backend.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

// Upper bound of ptp_align_desc::upsample_factor: 1/1000 pixel is below what float32
// spectra resolve, and the refinement costs O(u * plane pixels + u^2 * plane rows).
constexpr int32_t kMaxUpsampleFactor = 1000;

// sizeof(ptp_align_desc) in 0.3.0 (before max_shift, method, reserved0): still accepted as
// struct_size, the later fields defaulted, so programs built against that header keep working.
constexpr size_t kAlignDescSize030 = offsetof(ptp_align_desc, max_shift);

// ptp_align_desc_init: the defaults, for either struct size.
void init_align_desc(ptp_align_desc* desc, size_t struct_size);

// Validates desc and makes the plan with the context's backend.
std::unique_ptr<ptp_align_plan> create_align_plan(const ptp_context& context,
                                                  const ptp_align_desc* desc);

// Throws PTP_ERROR_INVALID_ARGUMENT, naming `function`, while the plan's
// ptp_align_execute runs (a call from its own progress callback).
void require_not_executing(const ptp_align_plan& plan, const char* function);

// Validates the frame (non-null; float32 finite and below 2^127) and makes it the reference,
// which the backend takes at the next execute; a failure leaves the plan as it was.
void align_set_reference(ptp_align_plan& plan, const void* frame);

// Validates every frame, aligns them, writes the outputs of the frames done (all unless
// the progress callback cancels: then the finished ones, and PTP_ERROR_CANCELLED).
void align_execute(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                   double* shifts, double* plane_shifts, double* confidence);

// Validates the arguments and each frame on its own, aligns the valid ones, and writes
// results[i] (and flags[i], enum ptp_align_flag, unless NULL) for every frame.
void align_execute_frames(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                          ptp_align_result* results, double* plane_shifts, uint32_t* flags);

// ptp_align_result::crop of a combined shift (dy, dx) in sensor pixels: the nearest
// pattern-preserving integer shift, ties to the smaller |dy| + |dx|, then dy, then dx.
void crop_shift(const AlignGeometry& g, double dy, double dx, int64_t* crop_y, int64_t* crop_x);

// FFTW's wisdom to and from a file (ptp_fft_wisdom_export, _import; fft/fftw_planner.cpp).
void write_fft_wisdom(const char* path);
void read_fft_wisdom(const char* path);

// RawNIND's combination of one axis' plane shifts: the median (of an even count, the
// mean of the two middle values). `values` is reordered.
double median_plane_shift(std::vector<double>& values);

// Snap to CFA blocks: floor(value / block) * block, a value within 1e-9 * block below a
// multiple counting as that multiple (rounding in sums); never -0.
double snap_shift(double value, int64_t block);

}  // namespace ptychopatch::impl
