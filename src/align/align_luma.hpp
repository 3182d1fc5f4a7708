// PTP_COMBINE_LUMA, the default estimator: one full-resolution luminance
// image per frame instead of the colour planes (math/luma_math.hpp says
// what the image is and why). The core turns each frame into its image on
// the host and hands the images to a backend made for them: the CPU (FFTW)
// or GPU (cuFFT) backend with the joint peak over one plane, so both
// backends see the same bytes and the tracking Hann window, normalisation,
// refinement and confidence are theirs unchanged.
//
// Which colour planes go into the image: those that carry information in
// both the reference and the frame (not constant there: flat, clipped or
// dead), as the joint peak's "informative planes". A frame whose set
// differs from the reference's is aligned against the reference's image
// made of the same planes (the reference is transformed again for it).
#pragma once

#include <cstdint>
#include <memory>

#include "align/align_backend.hpp"

namespace ptychopatch::impl {

// The geometry of the backend that aligns the luminance images of a plan of
// geometry g (g.luma): one float32 image of g.plane_height x g.plane_width,
// no colour pattern, the joint peak with g's window, normalisation,
// refinement, bound and planning.
AlignGeometry luma_image_geometry(const AlignGeometry& g);

// The backend of a g.luma plan: makes the images and runs `inner` (made for
// luma_image_geometry(g)) on them, num_threads threads for the images.
std::unique_ptr<AlignBackend> make_luma_align_backend(const AlignGeometry& g,
                                                      std::unique_ptr<AlignBackend> inner,
                                                      int32_t num_threads);

}  // namespace ptychopatch::impl
