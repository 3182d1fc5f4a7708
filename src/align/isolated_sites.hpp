// Frames with their isolated sites (hot, stuck and dead pixels) brought
// back to their neighbours' range (math/isolated_sites.hpp says which and
// why), on the host, before any backend sees them: every estimator but
// RawNIND's compatibility mode, on every backend.
#pragma once

#include <cstdint>
#include <memory>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// out = `frame` (g.frame_elements() values of g.frame_dtype) with every
// site of every plane replaced by math::isolated_site_value of it and its
// neighbours in that plane (up to eight: g.period rows and columns away
// within the frame trimmed to a multiple of the period, or the adjacent
// pixels of its channel for planar channels); what no plane holds (the
// trimmed rows and columns) is copied. `out` must not overlap `frame`.
// num_threads threads.
void suppress_isolated_sites(const AlignGeometry& g, const void* frame, void* out,
                             int32_t num_threads);

// The backend that hands `inner` the reference and the frames of a plan of
// geometry g cleaned by suppress_isolated_sites (num_threads threads).
std::unique_ptr<AlignBackend> make_isolated_sites_backend(const AlignGeometry& g,
                                                          std::unique_ptr<AlignBackend> inner,
                                                          int32_t num_threads);

}  // namespace ptychopatch::impl
