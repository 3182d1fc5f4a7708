// The plane kernels of GPU alignment (cuda/align_kernels.cu, step 1 of
// math/phase_math.hpp) against a double-precision reference computed here,
// on the emulated device. The kernels read each CFA row segment once and
// add a thread's values in float runs before passing them on in double
// (issue 15) for uint16 frames, in double for float32 ones: these tests
// show what that costs against the all-double sums of the specification.
// uint16 frames: nothing (the runs are exact, so the means and centred
// planes are bitwise those of the double sums); float32 frames: agreement
// up to the order of the double sums.
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

ptychopatch::impl::AlignGeometry geometry(int64_t period, int64_t height, int64_t width,
                                          ptp_dtype dtype) {
  ptychopatch::impl::AlignGeometry g{};
  g.height = height;
  g.width = width;
  g.channels = 1;
  g.period = period;
  g.planes = period * period;
  g.plane_height = height / period;
  g.plane_width = width / period;
  g.frame_dtype = dtype;
  g.cfa = period == 2 ? PTP_CFA_BAYER : period == 6 ? PTP_CFA_XTRANS : PTP_CFA_NONE;
  g.upsample = 1;
  g.max_shift_rows = g.max_shift_cols = -1;
  return g;
}

// What center_frame leaves on the device, copied back.
struct Centred {
  std::vector<float> planes;  // P padded planes
  std::vector<double> energy;
};

template <class T>
Centred run_kernels(const align::Dims& d, const std::vector<T>& frame, bool hann) {
  std::vector<double> rows(static_cast<size_t>(d.rows)), cols(static_cast<size_t>(d.cols));
  align::window_table(d.rows, rows.data());
  align::window_table(d.cols, cols.data());
  DeviceArray dev_frame(frame.size() * sizeof(T));
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
  cudaMemcpy(dev_frame.ptr, frame.data(), frame.size() * sizeof(T), cudaMemcpyHostToDevice);
  cudaMemcpy(dev_rows.ptr, rows.data(), rows.size() * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemcpy(dev_cols.ptr, cols.data(), cols.size() * sizeof(double), cudaMemcpyHostToDevice);
  cudaMemset(planes.ptr, 0, plane_floats * sizeof(float));
  align::center_frame(dev_frame.ptr, d, hann ? dev_rows.as<double>() : nullptr,
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
template <class T>
Centred reference(const align::Dims& d, const std::vector<T>& frame, bool hann) {
  Centred out;
  out.planes.assign(static_cast<size_t>(d.planes * d.plane_floats), 0.0f);
  out.energy.assign(static_cast<size_t>(d.planes), 0.0);
  for (int64_t q = 0; q < d.planes; ++q) {
    const auto at = [&](int64_t y, int64_t x) {
      return static_cast<double>(
          frame[math::plane_element_index(q, y, x, d.period, d.height, d.width)]);
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
  int64_t period, height, width;
  bool hann;
};

std::string describe(const Case& c) {
  return "period " + std::to_string(c.period) + ", " + std::to_string(c.height) + " x " +
         std::to_string(c.width) + (c.hann ? ", Hann" : "");
}

// Frames whose planes are wider than one float run of every thread
// (256 values x 256 threads = 65,536 columns) as well as ordinary ones, odd
// and even widths (segments read singly and in pairs), Bayer, X-Trans and
// no CFA.
const Case kCases[] = {{2, 4, 2 * 70001, false},   {2, 2, 2 * 65536 + 2, true},
                       {2, 37, 2 * 300 + 1, true}, {6, 12, 6 * 12000, false},
                       {6, 25, 6 * 41 + 5, true},  {1, 3, 140003, false},
                       {1, 33, 70, true}};

// uint16 at full scale: a plane of 70,001 columns of 65,535 sums past 2^32,
// and a thread's values past 2^24 if its float run were not bounded.
TEST(AlignPlaneKernels, Uint16PlanesAreBitwiseTheDoubleReference) {
  std::mt19937 rng(15);
  std::uniform_int_distribution<int> high(60000, 65535);
  for (const Case& c : kCases) {
    const align::Dims d = align::make_dims(geometry(c.period, c.height, c.width, PTP_DTYPE_UINT16));
    std::vector<uint16_t> frame(static_cast<size_t>(c.height * c.width));
    for (auto& v : frame) v = static_cast<uint16_t>(high(rng));
    const Difference diff = compare(d, run_kernels(d, frame, c.hann), reference(d, frame, c.hann));
    EXPECT_EQ(diff.values_differing, 0) << describe(c);
    EXPECT_LT(diff.energy, kEnergyTolerance) << describe(c);
  }
}

// float32 on a large offset (2^20 + texture of amplitude 8) adds in
// double: the same sums up to their order, so the centred values agree to
// far below the rounding of the frame values (2^-4 at 2^20, a relative
// 8e-3 of the texture); float sums would miss by about that much.
TEST(AlignPlaneKernels, Float32PlanesMatchTheDoubleReference) {
  std::mt19937 rng(16);
  std::uniform_real_distribution<float> texture(-8.0f, 8.0f);
  for (const Case& c : kCases) {
    const align::Dims d =
        align::make_dims(geometry(c.period, c.height, c.width, PTP_DTYPE_FLOAT32));
    std::vector<float> frame(static_cast<size_t>(c.height * c.width));
    for (auto& v : frame) v = 1048576.0f + texture(rng);
    const Difference diff = compare(d, run_kernels(d, frame, c.hann), reference(d, frame, c.hann));
    EXPECT_LT(diff.value, 1e-6) << describe(c);
    EXPECT_LT(diff.energy, kEnergyTolerance) << describe(c);
  }
}

}  // namespace
