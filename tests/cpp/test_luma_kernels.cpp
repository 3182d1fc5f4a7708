// The GPU backend's luminance images (cuda/luma_kernels.cu) against the
// host's (LumaImages, src/align/coarse/align_luma.cpp), on the emulated device:
// the two are written to give the same bytes (every formula comes from
// src/math/luma_math.hpp, in the same order), so the test asks for bitwise
// equality, on textured frames with illumination fields, with planes left
// out, on frames with nothing beyond their trend (all zeros), on images too
// small for the trend, and on float frames near float32's range (the
// power-of-two scale). The host images are themselves checked against a
// double-precision oracle in tests/cpp/test_align_luma.cpp.
//
// Also the validated geometry's tracking passes, which both backends follow.
//
// Built from the kernel source itself (the library keeps its internals
// hidden), so it links the emulator, not the emulated library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "align/align_backend.hpp"
#include "align/coarse/align_luma.hpp"
#include "luma_kernels.cuh"

namespace {

namespace impl = ptychopatch::impl;
namespace luma = ptychopatch::impl::gpu::luma;

struct DeviceArray {
  void* ptr = nullptr;
  explicit DeviceArray(size_t bytes) {
    if (cudaMalloc(&ptr, std::max<size_t>(bytes, 1)) != cudaSuccess) ptr = nullptr;
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

// The validated geometry of a PTP_COMBINE_LUMA plan (the core's own
// validation, so the image sizes are the library's).
impl::AlignGeometry luma_geometry(ptp_cfa cfa, int64_t height, int64_t width, int64_t channels,
                                  ptp_dtype dtype) {
  ptp_align_desc d{};
  EXPECT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
  d.height = height;
  d.width = width;
  d.channels = channels;
  d.frame_dtype = dtype;
  d.cfa = cfa;
  if (cfa == PTP_CFA_XTRANS) {
    const int32_t xtrans[36] = {1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1,
                                1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1};
    std::copy(xtrans, xtrans + 36, d.pattern);
  }
  const impl::AlignGeometry g = impl::validate_align_desc(&d);
  EXPECT_TRUE(g.luma);
  return g;
}

// The coarse estimate's tracking passes (docs/semantics.md, "The image's peak"): one where the
// fine stage polishes frames of at least 128 pixels a side, else math::kTrackingPasses.
TEST(LumaGeometry, OneTrackingPassWhereThePolishSetsTheShift) {
  for (const bool refine : {true, false})
    for (const int64_t side : {126, 128, 400}) {
      ptp_align_desc d{};
      ASSERT_EQ(ptp_align_desc_init(&d, sizeof d), PTP_SUCCESS);
      d.height = side;
      d.width = side + 64;
      d.cfa = PTP_CFA_BAYER;
      d.verify = refine ? PTP_ALIGN_VERIFY_REFINE : PTP_ALIGN_VERIFY_NONE;
      const int32_t expected = refine && side >= 128 ? 1 : 3;
      EXPECT_EQ(impl::validate_align_desc(&d).tracking_passes, expected)
          << "side " << side << (refine ? ", REFINE" : ", NONE");
    }
}

enum class Scene {
  kTexture,        // noise-like texture on a smooth illumination field
  kQuadraticOnly,  // a quadratic and nothing else: nothing left
  kHuge,           // float texture near float32's largest values
};

template <class T>
std::vector<T> make_frame(const impl::AlignGeometry& g, Scene scene, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> noise(0.0, 1.0);
  std::vector<T> frame(static_cast<size_t>(g.frame_elements()));
  const int64_t plane = g.height * g.width;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t y = 0; y < g.height; ++y)
      for (int64_t x = 0; x < g.width; ++x) {
        const double u = static_cast<double>(y) / static_cast<double>(g.height);
        const double v = static_cast<double>(x) / static_cast<double>(g.width);
        const double field = 0.3 + 0.2 * u - 0.1 * v + 0.15 * u * u + 0.05 * u * v;
        T& out = frame[static_cast<size_t>(c * plane + y * g.width + x)];
        if (scene == Scene::kQuadraticOnly) {
          // Integers, exact in both types: the box means of a quadratic
          // are a quadratic, which the trend takes whole.
          out = static_cast<T>(1000 + 3 * y + 2 * x + y * y + x * y + 2 * x * x);
          continue;
        }
        // Huge: mostly texture, so that residuals pass 2^126 (the scale).
        const double value =
            scene == Scene::kHuge ? 0.1 * field + 0.9 * noise(rng) : 0.6 * field + 0.4 * noise(rng);
        if constexpr (std::is_same_v<T, uint16_t>)
          out = static_cast<uint16_t>(std::lround(value * 16383.0));
        else
          out = static_cast<float>(scene == Scene::kHuge ? value * 3.3e38 : value * 1000.0);
      }
  return frame;
}

// The device image of `frame` made of `planes`, copied back.
template <class T>
std::vector<float> device_image(const impl::AlignGeometry& g, const std::vector<T>& frame,
                                const impl::LumaPlanes& planes) {
  const luma::ImageDims d = luma::make_image_dims(g);
  const size_t pixels = static_cast<size_t>(d.rows * d.cols);
  DeviceArray dev_frame(frame.size() * sizeof(T)), dev_use(planes.size());
  DeviceArray scratch(luma::scratch_bytes(d)), image(pixels * sizeof(float));
  std::vector<double> axes(static_cast<size_t>(luma::axes_count(d)));
  luma::axes_table(d, axes.data());
  DeviceArray dev_axes(axes.size() * sizeof(double));
  EXPECT_EQ(
      cudaMemcpy(dev_axes.ptr, axes.data(), axes.size() * sizeof(double), cudaMemcpyHostToDevice),
      cudaSuccess);
  EXPECT_EQ(
      cudaMemcpy(dev_frame.ptr, frame.data(), frame.size() * sizeof(T), cudaMemcpyHostToDevice),
      cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev_use.ptr, planes.data(), planes.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  luma::make_image(dev_frame.ptr, d, static_cast<const unsigned char*>(dev_use.ptr),
                   static_cast<const double*>(dev_axes.ptr), scratch.ptr,
                   static_cast<float*>(image.ptr), nullptr);
  std::vector<float> out(pixels, -1.0f);
  EXPECT_EQ(cudaMemcpy(out.data(), image.ptr, pixels * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return out;
}

struct Case {
  ptp_cfa cfa;
  int64_t height;
  int64_t width;
  int64_t channels;
  ptp_dtype dtype;
  Scene scene;
  // Planes left out of the image (their flag 0).
  std::vector<int> dropped;
  std::string name;
};

template <class T>
void check_case(const Case& c) {
  SCOPED_TRACE(c.name);
  const impl::AlignGeometry g = luma_geometry(c.cfa, c.height, c.width, c.channels, c.dtype);
  // The window: (1, 2, 1) taps for Bayer frames of 3 rows and columns or
  // more (trimmed to the period), else the P x P mean.
  const bool wide = c.cfa == PTP_CFA_BAYER && c.height / 2 * 2 > 2 && c.width / 2 * 2 > 2;
  EXPECT_EQ(g.luma_window, wide ? 3 : g.period);
  impl::LumaPlanes planes(static_cast<size_t>(g.planes), 1);
  for (int p : c.dropped) planes[static_cast<size_t>(p)] = 0;
  const std::vector<T> frame = make_frame<T>(g, c.scene, 17u + static_cast<uint32_t>(c.height));
  const impl::LumaImages host(g, 2);
  std::vector<float> expected(static_cast<size_t>(g.plane_height * g.plane_width), -2.0f);
  host.make(frame.data(), planes, expected.data());
  const std::vector<float> got = device_image(g, frame, planes);
  ASSERT_EQ(got.size(), expected.size());
  size_t differing = 0, first = got.size();
  for (size_t k = 0; k < got.size(); ++k)
    if (std::memcmp(&got[k], &expected[k], sizeof(float)) != 0) {
      if (differing++ == 0) first = k;
    }
  EXPECT_EQ(differing, 0u) << "first at " << first << ": device " << got[first] << ", host "
                           << expected[first];
  // What the case is for: texture leaves an image, a bare quadratic none.
  const bool all_zero =
      std::all_of(expected.begin(), expected.end(), [](float v) { return v == 0.0f; });
  const bool trend = g.plane_height >= 8 && g.plane_width >= 8;
  EXPECT_EQ(all_zero, c.scene == Scene::kQuadraticOnly && trend);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (ptp_dtype dtype : {PTP_DTYPE_UINT16, PTP_DTYPE_FLOAT32}) {
    const std::string t = dtype == PTP_DTYPE_UINT16 ? " uint16" : " float32";
    out.push_back({PTP_CFA_BAYER, 64, 90, 1, dtype, Scene::kTexture, {}, "Bayer" + t});
    out.push_back(
        {PTP_CFA_BAYER, 41, 57, 1, dtype, Scene::kTexture, {3}, "Bayer odd, one plane out" + t});
    out.push_back({PTP_CFA_BAYER, 40, 64, 1, dtype, Scene::kQuadraticOnly, {}, "Bayer bare" + t});
    // An image of 300 x 75: the row sums' blocks of 32 rows and tiles of
    // 32 columns, and the fit's runs of 256 rows, each with a partial last.
    out.push_back({PTP_CFA_BAYER, 600, 150, 1, dtype, Scene::kTexture, {}, "Bayer tall" + t});
    out.push_back({PTP_CFA_BAYER, 11, 30, 1, dtype, Scene::kTexture, {}, "Bayer 8 rows" + t});
    out.push_back({PTP_CFA_BAYER, 8, 30, 1, dtype, Scene::kTexture, {1}, "Bayer 6 rows" + t});
    out.push_back(
        {PTP_CFA_BAYER, 3, 30, 1, dtype, Scene::kTexture, {}, "Bayer 2 rows: 2 x 2 window" + t});
    out.push_back({PTP_CFA_XTRANS, 96, 78, 1, dtype, Scene::kTexture, {}, "X-Trans" + t});
    out.push_back({PTP_CFA_XTRANS,
                   67,
                   83,
                   1,
                   dtype,
                   Scene::kTexture,
                   {0, 5, 14, 35},
                   "X-Trans odd, planes out" + t});
    out.push_back(
        {PTP_CFA_XTRANS, 72, 72, 1, dtype, Scene::kQuadraticOnly, {}, "X-Trans bare" + t});
    out.push_back({PTP_CFA_NONE, 33, 47, 3, dtype, Scene::kTexture, {1}, "channels" + t});
    out.push_back({PTP_CFA_NONE, 20, 20, 1, dtype, Scene::kTexture, {}, "one channel" + t});
  }
  out.push_back(
      {PTP_CFA_BAYER, 50, 70, 1, PTP_DTYPE_FLOAT32, Scene::kHuge, {}, "Bayer near FLT_MAX"});
  out.push_back(
      {PTP_CFA_NONE, 30, 31, 2, PTP_DTYPE_FLOAT32, Scene::kHuge, {}, "channels near FLT_MAX"});
  return out;
}

TEST(LumaKernels, DeviceImagesAreTheHostImagesBitForBit) {
  for (const Case& c : cases()) {
    if (c.dtype == PTP_DTYPE_UINT16)
      check_case<uint16_t>(c);
    else
      check_case<float>(c);
  }
}

// The scale of frames near float32's range is taken (a residual past 2^126
// would overflow the whitening's squares), on both sides: the largest
// device value stays below 2^126.
TEST(LumaKernels, HugeFramesAreScaledByAPowerOfTwo) {
  const impl::AlignGeometry g = luma_geometry(PTP_CFA_BAYER, 50, 70, 1, PTP_DTYPE_FLOAT32);
  const std::vector<float> frame = make_frame<float>(g, Scene::kHuge, 3);
  const std::vector<float> got =
      device_image(g, frame, impl::LumaPlanes(static_cast<size_t>(g.planes), 1));
  float top = 0.0f;
  for (float v : got) top = std::max(top, std::fabs(v));
  EXPECT_GT(top, 0.0f);
  EXPECT_LT(top, std::ldexp(1.0f, 126));
}

}  // namespace
