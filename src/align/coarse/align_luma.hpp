// PTP_COMBINE_LUMA, the default estimator: one full-resolution luminance
// image per frame instead of the colour planes (math/luma_math.hpp says
// what the image is and why). The backend here decides which planes go
// into each image and hands the images to a backend that runs the joint
// peak over one plane, so the tracking Hann window, normalisation,
// refinement and confidence are the inner backend's unchanged:
//  - the CPU (FFTW) backend, made for luma_image_geometry(g): the images
//    are made here, on the host (LumaImages);
//  - the GPU (cuFFT) backend, made for g itself (makes_luma_images()): it
//    receives the raw frames and the planes, and makes the same images,
//    bit for bit, on its device (cuda/luma_kernels.cu), so frames are
//    uploaded as they are and no host pass computes the image.
//
// Which colour planes go into the image: those that carry information in
// both the reference and the frame (not constant there: flat, clipped or
// dead), as the joint peak's "informative planes". A frame whose set
// differs from the reference's is aligned against the reference's image
// made of the same planes (the reference is transformed again for it).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// Which planes take part in an image: one flag (0 or 1) per plane (channel,
// or pattern position).
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

  // The planes of `frame` that are not constant over the frame rows and
  // columns the images read.
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
// no colour pattern, the joint peak with g's window, normalisation,
// refinement, bound and planning.
AlignGeometry luma_image_geometry(const AlignGeometry& g);

// The backend of a g.luma plan: runs `inner` on the images, which it makes
// on the host (num_threads threads) for an inner backend made for
// luma_image_geometry(g), or leaves to one that makes_luma_images().
std::unique_ptr<AlignBackend> make_luma_align_backend(const AlignGeometry& g,
                                                      std::unique_ptr<AlignBackend> inner,
                                                      int32_t num_threads);

}  // namespace ptychopatch::impl
