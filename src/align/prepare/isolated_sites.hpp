// The sensor's isolated sites (hot, stuck and dead pixels) brought back to their
// neighbours' range (math/isolated_sites.hpp), on the host, before the backend or the
// fine stage sees the reference or the frames: colour mosaics, every estimator but
// RawNIND's, every backend (docs/semantics.md, "Isolated sites"). Only sites isolated
// in the reference and in at least half the frames of a call are taken out: a defect
// sits at the same place in all of them, while content that stands out alone moves
// with the scene.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// Whether a plan of geometry g suppresses isolated sites (a colour mosaic,
// not RawNIND's method).
bool suppresses_isolated_sites(const AlignGeometry& g);

// The plan's side of it: the reference's isolated sites, and per call the sites the
// reference shares with the frames.
class SharedIsolatedSites {
 public:
  SharedIsolatedSites(const AlignGeometry& g, int32_t num_threads);

  // The isolated sites of a (validated) frame: those math::isolated_site_value changes
  // given the up to eight sites of their plane around them, the plane taken circularly
  // over the area the estimator reads; none outside it or in planes of fewer than 3
  // rows or columns.
  std::vector<int64_t> isolated(const void* frame) const;
  // Those of the reference (isolated(reference)); does not throw, so that
  // ptp_align_set_reference commits only once everything is made.
  void set_reference_sites(std::vector<int64_t>&& sites) noexcept {
    reference_sites_ = std::move(sites);
  }

  // The reference's isolated sites that are isolated in at least half of `frames` too
  // (indices into a frame, increasing). Half, not all: a blank or clipped frame,
  // isolated nowhere, must not keep the defects in the others.
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
