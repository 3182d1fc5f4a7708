// Scene alignment's coarse estimator: one luminance image per frame instead of the
// colour planes (docs/semantics.md, "The luminance image (default)";
// math/luma_math.hpp). The backend here picks each image's planes (those not
// constant in the reference or the frame) and hands the images to an inner backend
// that finds the image's peak:
//  - the CPU backend, made for luma_image_geometry(g): images made here (LumaImages);
//  - the GPU backend, made for g (makes_luma_images()): it takes the raw frames and
//    makes the same images, bit for bit, on its device (cuda/luma_kernels.cu).
// A frame whose planes differ from the reference's is aligned against the
// reference's image of the same planes (made and transformed again).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// Which planes take part in an image: one flag (0 or 1) per channel or pattern position.
using LumaPlanes = std::vector<char>;

// The luminance images of a g.luma geometry on the host: the CPU path's,
// and in the tests the oracle of the GPU backend's images.
class LumaImages {
 public:
  // num_threads threads for every pass.
  LumaImages(const AlignGeometry& g, int32_t num_threads);
  ~LumaImages();
  LumaImages(const LumaImages&) = delete;
  LumaImages& operator=(const LumaImages&) = delete;

  // The planes of `frame` not constant over the frame rows and columns the images read.
  LumaPlanes informative_planes(const void* frame) const;

  // The image of `frame` made of `planes`, trend removed (all zeros when
  // nothing is left of it: math::luma_informative): g.plane_height x
  // g.plane_width float32 values into out.
  void make(const void* frame, const LumaPlanes& planes, float* out) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The geometry of the backend that aligns the luminance images of a plan of
// geometry g (g.luma): one float32 image of g.plane_height x g.plane_width,
// no colour pattern, with g's refinement, bound and planning.
AlignGeometry luma_image_geometry(const AlignGeometry& g);

// The backend of a g.luma plan: runs `inner` on the images, which it makes
// on the host (num_threads threads) for an inner backend made for
// luma_image_geometry(g), or leaves to one that makes_luma_images().
std::unique_ptr<AlignBackend> make_luma_align_backend(const AlignGeometry& g,
                                                      std::unique_ptr<AlignBackend> inner,
                                                      int32_t num_threads);

}  // namespace ptychopatch::impl
