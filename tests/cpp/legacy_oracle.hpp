// A deliberately plain re-implementation of what PtychoPINN's legacy loop
// did: zero-pad the whole object by N/2, translate (warp) the whole padded
// object by the patch offset with bilinear interpolation, crop the top-left
// N x N. One full warp per patch: slow on purpose, sharing no code with the
// library. Arithmetic follows SPEC §1 in float32, term by term.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace oracle {

struct Image {
  int64_t height = 0;
  int64_t width = 0;
  int lanes = 1;  // 1 real, 2 complex (interleaved re, im)
  std::vector<float> data;

  float at(int64_t y, int64_t x, int lane) const { return data[(y * width + x) * lanes + lane]; }
};

inline Image zero_pad(const Image& in, int64_t pad) {
  Image out{in.height + 2 * pad, in.width + 2 * pad, in.lanes, {}};
  out.data.assign(out.height * out.width * out.lanes, 0.0f);
  for (int64_t y = 0; y < in.height; ++y)
    for (int64_t x = 0; x < in.width; ++x)
      for (int l = 0; l < in.lanes; ++l)
        out.data[((y + pad) * out.width + x + pad) * in.lanes + l] = in.at(y, x, l);
  return out;
}

// Value of the padded image at integer (i, j), zero outside. The bounds are
// compared in double so that huge coordinates never convert to integers.
inline float pixel_or_zero(const Image& img, double i, double j, int lane) {
  if (i < 0 || j < 0 || i >= static_cast<double>(img.height) || j >= static_cast<double>(img.width))
    return 0.0f;
  return img.at(static_cast<int64_t>(i), static_cast<int64_t>(j), lane);
}

// out(i, j) = in(i + dy, j + dx), bilinear, over the whole image.
inline Image translate_whole(const Image& in, float dx, float dy) {
  Image out{in.height, in.width, in.lanes, {}};
  out.data.resize(in.data.size());
  // Rows in parallel, as the legacy TensorFlow op was: a fair baseline for
  // the benchmarks, which time this loop.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < in.height; ++i)
    for (int64_t j = 0; j < in.width; ++j) {
      const float sx = static_cast<float>(j) + dx;
      const float sy = static_cast<float>(i) + dy;
      const float fx = std::floor(sx);
      const float fy = std::floor(sy);
      const float wx = sx - fx;
      const float wy = sy - fy;
      for (int l = 0; l < in.lanes; ++l) {
        const float v00 = pixel_or_zero(in, fy, fx, l);
        const float v01 = pixel_or_zero(in, fy, double(fx) + 1, l);
        const float v10 = pixel_or_zero(in, double(fy) + 1, fx, l);
        const float v11 = pixel_or_zero(in, double(fy) + 1, double(fx) + 1, l);
        out.data[(i * in.width + j) * in.lanes + l] =
            (1 - wx) * (1 - wy) * v00 + wx * (1 - wy) * v01 + (1 - wx) * wy * v10 + wx * wy * v11;
      }
    }
  return out;
}

// Patches for float32 offsets (x, y) in the flat (P, N, N) or channel
// (B, N, N, c) layout, as a float array with `lanes` floats per element.
inline std::vector<float> extract(const Image& object, int64_t n,
                                  const std::vector<float>& offsets_xy, bool channel,
                                  int64_t group_size) {
  const Image padded = zero_pad(object, n / 2);
  const int64_t patches = static_cast<int64_t>(offsets_xy.size() / 2);
  const int lanes = object.lanes;
  std::vector<float> out(patches * n * n * lanes);
  for (int64_t p = 0; p < patches; ++p) {
    const Image moved = translate_whole(padded, offsets_xy[2 * p], offsets_xy[2 * p + 1]);
    const int64_t b = p / group_size;
    const int64_t k = p % group_size;
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x)
        for (int l = 0; l < lanes; ++l) {
          const int64_t e = channel ? ((b * n + y) * n + x) * group_size + k : (p * n + y) * n + x;
          out[e * lanes + l] = moved.at(y, x, l);
        }
  }
  return out;
}

inline Image random_image(int64_t height, int64_t width, int lanes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Image img{height, width, lanes, {}};
  img.data.resize(height * width * lanes);
  for (float& v : img.data) v = u(rng);
  return img;
}

}  // namespace oracle
