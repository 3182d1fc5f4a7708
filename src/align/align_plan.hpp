// Scene alignment, backend-independent steps: plan creation (backend
// choice), frame validation, and turning the backends' per-plane shifts into
// the caller's outputs (scale by the period, combine, snap). The C ABI in
// capi/ptychopatch_align_capi.cpp is a thin shell over these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "align/align_backend.hpp"
#include "ptychopatch.h"

namespace ptychopatch::impl {

// Upper bound of ptp_align_desc::upsample_factor. The refinement costs
// O(upsample * plane pixels + upsample^2 * plane rows) per plane; 1/1000 of
// a pixel is already below what float32 spectra resolve.
constexpr int32_t kMaxUpsampleFactor = 1000;

// sizeof(ptp_align_desc) in 0.3.0, before max_shift, method and reserved0
// were appended: still accepted as struct_size (the later fields then take
// their defaults), so programs built against that header keep working.
constexpr size_t kAlignDescSize030 = offsetof(ptp_align_desc, max_shift);

// ptp_align_desc_init: the defaults, for either struct size.
void init_align_desc(ptp_align_desc* desc, size_t struct_size);

// A validated *desc at the full size: one of 0.3.0's size with the later
// fields at 0.3.0's behaviour (align_desc.cpp).
ptp_align_desc full_align_desc(const ptp_align_desc* desc);

// Validates desc and makes the plan with the context's backend.
// isolated_sites: false for the closed loop's own plans, which neither search
// isolated sites (isolated_sites.hpp) nor check the reference's pattern
// (pattern_family.hpp).
std::unique_ptr<ptp_align_plan> create_align_plan(const ptp_context& context,
                                                  const ptp_align_desc* desc,
                                                  bool isolated_sites = true);

// Throws PTP_ERROR_INVALID_ARGUMENT, naming `function`, while the plan's
// ptp_align_execute runs (a call from its own progress callback).
void require_not_executing(const ptp_align_plan& plan, const char* function);

// Validates the frame (non-null; finite when float32) and computes the
// reference spectra.
void align_set_reference(ptp_align_plan& plan, const void* frame);

// Validates every frame, aligns them, writes the outputs of the frames done
// (all of them unless the progress callback cancels: then the finished ones
// and PTP_ERROR_CANCELLED).
void align_execute(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                   double* shifts, double* plane_shifts, double* confidence);

// Validates the call's arguments, each frame on its own, aligns the valid
// ones, and writes results[i] (and flags[i], enum ptp_align_flag, unless
// NULL) for every frame (ptp_align_execute_frames_flags).
void align_execute_frames(ptp_align_plan& plan, const void* const* frames, int64_t num_frames,
                          ptp_align_result* results, double* plane_shifts, uint32_t* flags);

// ptp_align_result::crop of a combined shift (dy, dx) in sensor pixels: the
// nearest pattern-preserving integer shift, ties to the smaller |dy| + |dx|,
// then the smaller dy, then dx.
void crop_shift(const AlignGeometry& g, double dy, double dx, int64_t* crop_y, int64_t* crop_x);

// FFTW's wisdom to a file (ptp_fft_wisdom_export) and from one
// (ptp_fft_wisdom_import); src/fft/fftw_planner.cpp.
void write_fft_wisdom(const char* path);
void read_fft_wisdom(const char* path);

// Combination of the plane shifts of one axis: the median (the mean of the
// two middle values for an even count) or the mean. `values` is reordered.
double combine_plane_shifts(std::vector<double>& values, bool median);

// Snap to CFA blocks: floor(value / block) * block, where a value within
// 1e-9 below a multiple counts as that multiple (absorbs rounding in sums).
double snap_shift(double value, int64_t block);

}  // namespace ptychopatch::impl
