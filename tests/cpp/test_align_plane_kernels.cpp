// The plane kernels of GPU alignment (cuda/align_kernels.cu, step 1 of
// math/phase_math.hpp) against a double-precision reference computed here, on the
// emulated device: the float32 images the luma kernels make (one plane each, or
// planar channels), their values summed in double in a fixed order.
//
// Built from the kernel source itself (the library keeps its internals
// hidden), so it links the emulator, not the emulated library.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "align_kernels.cuh"
#include "math/phase_math.hpp"

namespace {

namespace align = ptychopatch::impl::gpu::align;
namespace math = ptychopatch::math;

// Device memory for the test's lifetime.
struct DeviceArray {
  void* ptr = nullptr;
  explicit DeviceArray(size_t bytes) {
    if (cudaMalloc(&ptr, bytes) != cudaSuccess) ptr = nullptr;
  }
  ~DeviceArray() { cudaFree(ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

// A float32 image of `channels` planar planes, as the luma backend hands it on.
ptychopatch::impl::AlignGeometry geometry(int64_t channels, int64_t height, int64_t width) {
  ptychopatch::impl::AlignGeometry g{};
  g.height = height;
  g.width = width;
  g.channels = channels;
  g.period = 1;
  g.planes = channels;
  g.plane_height = height;
  g.plane_width = width;
  g.frame_dtype = PTP_DTYPE_FLOAT32;
  g.cfa = PTP_CFA_NONE;
  g.upsample = 1;
  g.max_shift_rows = g.max_shift_cols = -1;
  return g;
}

// What center_frame leaves on the device, copied back.
struct Centred {
  std::vector<float> planes;  // P padded planes
  std::vector<double> energy;
};

Centred run_kernels(const align::Dims& d, const std::vector<float>& frame, bool hann) {
  std::vector<double> rows(static_cast<size_t>(d.rows)), cols(static_cast<size_t>(d.cols));
  align::window_table(d.rows, rows.data());
  align::window_table(d.cols, cols.data());
  DeviceArray dev_frame(frame.size() * sizeof(float));
  DeviceArray dev_rows(rows.size() * sizeof(double)), dev_cols(cols.size() * sizeof(double));
  DeviceArray partials(align::frame_partials_bytes(d));
  const size_t plane_floats = static_cast<size_t>(d.planes * d.plane_floats);
  DeviceArray planes(plane_floats * sizeof(float));
  DeviceArray energy(static_cast<size_t>(d.planes) * sizeof(double));
  Centred out;
  if (!dev_frame.ptr || !planes.ptr || !partials.ptr) {
    ADD_FAILURE() << "cudaMalloc failed";
    return out;
  }
  cudaMemcpy(dev_frame.ptr, frame.data(), frame.size() * sizeof(float), cudaMemcpyHostToDevice);
  cudaMemcpy(dev_rows.ptr, rows.data(), rows.size() * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemcpy(dev_cols.ptr, cols.data(), cols.size() * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemset(planes.ptr, 0, plane_floats * sizeof(float));
  align::center_frame(dev_frame.as<float>(), d, hann ? dev_rows.as<double>() : nullptr,
                      hann ? dev_cols.as<double>() : nullptr,
                      align::carve_frame_partials(d, partials.ptr), planes.as<float>(),
                      energy.as<double>(), nullptr);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  out.planes.resize(plane_floats);
  out.energy.resize(static_cast<size_t>(d.planes));
  cudaMemcpy(out.planes.data(), planes.ptr, plane_floats * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(out.energy.data(), energy.ptr, out.energy.size() * sizeof(double),
             cudaMemcpyDeviceToHost);
  return out;
}

// The all-double reference of step 1: per plane the mean (a double sum of
// the values in row-major order), the centred, windowed values as floats
// and their sum of squares.
Centred reference(const align::Dims& d, const std::vector<float>& frame, bool hann) {
  Centred out;
  out.planes.assign(static_cast<size_t>(d.planes * d.plane_floats), 0.0f);
  out.energy.assign(static_cast<size_t>(d.planes), 0.0);
  for (int64_t q = 0; q < d.planes; ++q) {
    const auto at = [&](int64_t y, int64_t x) {
      return static_cast<double>(frame[static_cast<size_t>((q * d.height + y) * d.width + x)]);
    };
    double sum = 0.0;
    for (int64_t y = 0; y < d.rows; ++y)
      for (int64_t x = 0; x < d.cols; ++x) sum += at(y, x);
    const double mean = sum / static_cast<double>(d.rows * d.cols);
    double squares = 0.0;
    for (int64_t y = 0; y < d.rows; ++y)
      for (int64_t x = 0; x < d.cols; ++x) {
        const double w = hann ? math::hann_weight(y, d.rows) * math::hann_weight(x, d.cols) : 1.0;
        const float v = math::plane_value(at(y, x), mean, w);
        out.planes[static_cast<size_t>(q * d.plane_floats + y * d.pitch + x)] = v;
        squares += static_cast<double>(v) * static_cast<double>(v);
      }
    out.energy[static_cast<size_t>(q)] = squares;
  }
  return out;
}

// Largest |gpu - reference| over the planes' values, relative to the
// largest |reference| value, and the largest relative energy difference.
struct Difference {
  int64_t values_differing = 0;
  double value = 0.0;
  double energy = 0.0;
};

Difference compare(const align::Dims& d, const Centred& gpu, const Centred& want) {
  Difference diff;
  double largest = 0.0;
  for (int64_t q = 0; q < d.planes; ++q)
    for (int64_t y = 0; y < d.rows; ++y)
      for (int64_t x = 0; x < d.cols; ++x) {
        const auto i = static_cast<size_t>(q * d.plane_floats + y * d.pitch + x);
        largest = std::max(largest, std::fabs(static_cast<double>(want.planes[i])));
        const double delta = std::fabs(static_cast<double>(gpu.planes[i]) - want.planes[i]);
        diff.value = std::max(diff.value, delta);
        diff.values_differing += gpu.planes[i] != want.planes[i];
      }
  if (largest > 0.0) diff.value /= largest;
  for (int64_t q = 0; q < d.planes; ++q) {
    const double e = want.energy[static_cast<size_t>(q)];
    diff.energy =
        std::max(diff.energy, std::fabs(gpu.energy[static_cast<size_t>(q)] - e) / (e > 0 ? e : 1));
  }
  return diff;
}

// The sums of squares stay in double in the kernel; the tolerance is for
// the emulated build, whose host compiler (GCC 12, -O3) squares a value
// before its rounding to float in the unrolled segment loop (a volatile
// value brings the agreement back to 1e-12): 1e-10 to 2e-8 here, the
// float rounding of the squares averaged over a plane. Float sums of the
// squares of the wide planes would miss by about 1e-5.
constexpr double kEnergyTolerance = 1e-7;

struct Case {
  int64_t channels, height, width;
  bool hann;
};

std::string describe(const Case& c) {
  return std::to_string(c.channels) + " x " + std::to_string(c.height) + " x " +
         std::to_string(c.width) + (c.hann ? ", Hann" : "");
}

// Wide and narrow images (64- and 256-thread blocks), odd and even widths, one plane
// and planar channels.
const Case kCases[] = {{1, 3, 140003, false}, {1, 2, 131074, true}, {1, 33, 70, true},
                       {1, 25, 251, false},   {3, 37, 601, true},   {2, 12, 40, false}};

// Integer values up to 65,535 (a luminance image of uint16 frames can hold such):
// every double sum is exact, so the means, the centred values and the energies are
// bitwise those of the reference; float sums would round past 2^24.
TEST(AlignPlaneKernels, IntegerImagesAreBitwiseTheDoubleReference) {
  std::mt19937 rng(15);
  std::uniform_int_distribution<int> high(60000, 65535);
  for (const Case& c : kCases) {
    const align::Dims d = align::make_dims(geometry(c.channels, c.height, c.width));
    std::vector<float> frame(static_cast<size_t>(c.channels * c.height * c.width));
    for (auto& v : frame) v = static_cast<float>(high(rng));
    const Difference diff = compare(d, run_kernels(d, frame, c.hann), reference(d, frame, c.hann));
    EXPECT_EQ(diff.values_differing, 0) << describe(c);
    EXPECT_LT(diff.energy, kEnergyTolerance) << describe(c);
  }
}

// float32 on a large offset (2^20 + texture of amplitude 8) adds in double: the same
// sums up to their order, so the centred values agree to far below the rounding of the
// frame values (2^-4 at 2^20, a relative 8e-3 of the texture); float sums would miss
// by about that much.
TEST(AlignPlaneKernels, Float32ImagesMatchTheDoubleReference) {
  std::mt19937 rng(16);
  std::uniform_real_distribution<float> texture(-8.0f, 8.0f);
  for (const Case& c : kCases) {
    const align::Dims d = align::make_dims(geometry(c.channels, c.height, c.width));
    std::vector<float> frame(static_cast<size_t>(c.channels * c.height * c.width));
    for (auto& v : frame) v = 1048576.0f + texture(rng);
    const Difference diff = compare(d, run_kernels(d, frame, c.hann), reference(d, frame, c.hann));
    EXPECT_LT(diff.value, 1e-6) << describe(c);
    EXPECT_LT(diff.energy, kEnergyTolerance) << describe(c);
  }
}

}  // namespace
