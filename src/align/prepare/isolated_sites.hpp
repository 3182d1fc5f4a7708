// The sensor's isolated sites (hot, stuck and dead pixels) brought back to
// their neighbours' range (math/isolated_sites.hpp says which sites and
// why), on the host, before the backend or the closed loop sees the
// reference or the frames: colour mosaics (Bayer, X-Trans), every estimator
// but RawNIND's compatibility mode, every backend. (The closed loop's own
// plans, whose cuts come from the cleaned frames, do not do it again: cuts
// aligned under a right crop hold the scene's stars at the same places.)
//
// Only the sites isolated in the reference and in at least half the frames
// of a call are taken out, of the reference and of each frame where they
// are isolated: a defective pixel
// sits at the same sensor position in all of them, while content that
// stands out alone (a star, a one-pixel highlight) moves with the scene
// and is isolated elsewhere in a moved frame, so it stays (unless no frame
// of the call has moved).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// Whether a plan of geometry g suppresses isolated sites (a colour mosaic,
// not RawNIND's method).
bool suppresses_isolated_sites(const AlignGeometry& g);

// The plan's side of it: the reference's isolated sites, and per call the
// sites the reference shares with every frame.
class SharedIsolatedSites {
 public:
  SharedIsolatedSites(const AlignGeometry& g, int32_t num_threads);

  // The isolated sites of a (validated) frame: math::isolated_site_value
  // changes them, their neighbours being the up to eight sites of their
  // plane around them, the plane taken circularly over the area the
  // estimator reads (the first FFT-friendly plane rows and columns, or the
  // luminance image's windows); none outside that area or in planes of
  // fewer than 3 rows or columns.
  std::vector<int64_t> isolated(const void* frame) const;
  // Those of the reference (isolated(reference)); does not throw, so that
  // ptp_align_set_reference commits only once everything is made.
  void set_reference_sites(std::vector<int64_t>&& sites) noexcept {
    reference_sites_ = std::move(sites);
  }

  // The reference's isolated sites that are isolated in at least half the
  // frames of `frames` too (indices into a frame, increasing). Half, not
  // all: a blank or clipped frame in a call, isolated nowhere, must not
  // keep the defects in the others (a review saw every frame of such a
  // call go to (0, 0) at confidence 0.97); a star is isolated at one place
  // only in frames that have not moved.
  std::vector<int64_t> shared(const std::vector<const void*>& frames) const;

  // out (frame_bytes()) = `frame` with each of `sites` replaced by its
  // isolated value (unchanged where it is not isolated in `frame`).
  void clean(const void* frame, const std::vector<int64_t>& sites, void* out) const;
  size_t frame_bytes() const { return frame_bytes_; }

 private:
  template <class T>
  bool isolated_in(const void* frame, int64_t site) const;

  AlignGeometry g_;
  int32_t threads_;
  size_t sites_;
  size_t frame_bytes_;
  std::vector<int64_t> reference_sites_;
};

}  // namespace ptychopatch::impl
