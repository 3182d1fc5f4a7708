// The offset gradient of extraction (ptp_extract_offsets_gradient) on the
// GPU backend: bitwise the CPU path's result for every object type, offset
// type, layout and patch size (narrower and wider than the kernel's column
// stride), on host arrays under any memory budget and on device arrays on
// a caller's stream; device-array calls wait for nothing (a CUDA graph
// captures them) and a non-finite device offset writes nothing and is
// reported by ptp_context_synchronize. Skips where no device is usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_support.hpp"
#include "ptychopatch.hpp"

namespace {

using gpu_test::CapturedGraph;
using gpu_test::DeviceArray;
using gpu_test::UserStream;

struct Problem {
  ptp_extract_desc desc{};
  std::vector<float> object;
  std::vector<double> xy;  // as given; float32 offsets are their rounding
  std::vector<float> xy32;
  std::vector<float> grad;
  int64_t num_patches = 0;

  bool float64() const { return desc.offset_dtype == PTP_DTYPE_FLOAT64; }
  const void* offsets() const {
    return float64() ? static_cast<const void*>(xy.data()) : static_cast<const void*>(xy32.data());
  }
  size_t offset_bytes() const { return 2 * num_patches * (float64() ? 8 : 4); }
};

std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = u(rng);
  return v;
}

Problem make_problem(int64_t h, int64_t w, int64_t n, int64_t c, int64_t groups, int lanes,
                     ptp_layout layout, ptp_dtype offset_dtype, uint32_t seed) {
  Problem p;
  ptp_extract_desc_init(&p.desc, sizeof p.desc);
  p.desc.height = h;
  p.desc.width = w;
  p.desc.patch_size = n;
  p.desc.group_size = c;
  p.desc.layout = layout;
  p.desc.object_dtype = lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
  p.desc.offset_dtype = offset_dtype;
  p.num_patches = groups * c;
  p.object = random_floats(static_cast<size_t>(h * w * lanes), seed);
  p.grad = random_floats(static_cast<size_t>(p.num_patches * n * n * lanes), seed + 1);
  std::mt19937 rng(seed + 2);
  std::uniform_real_distribution<double> u(-static_cast<double>(n),
                                           static_cast<double>(std::max(h, w) + n));
  p.xy.resize(2 * p.num_patches);
  for (double& v : p.xy) v = u(rng);
  p.xy[0] = 1e9;                         // far away: zeros
  if (p.num_patches > 1) p.xy[3] = 7.0;  // an integer sample
  p.xy32.assign(p.xy.begin(), p.xy.end());
  return p;
}

ptychopatch::Context gpu_context(uint64_t budget) {
  ptychopatch::ContextOptions options;
  options.backend = PTP_BACKEND_GPU;
  options.device_memory_budget = budget;
  return ptychopatch::Context(options);
}

// The gradient's bytes (float32 or float64 pairs) from host arrays.
std::vector<unsigned char> gradient(const ptychopatch::Context& ctx, const Problem& p) {
  std::vector<unsigned char> out(p.offset_bytes(), 0x5a);
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &p.desc, &plan));
  const ptp_status status =
      ptp_extract_offsets_gradient(plan, p.object.data(), p.offsets(), p.num_patches, p.grad.data(),
                                   p.grad.size() * sizeof(float), out.data(), out.size());
  ptp_extract_plan_destroy(plan);
  ptychopatch::check(status);
  return out;
}

std::vector<unsigned char> gradient_on_cpu(const Problem& p) {
  return gradient(ptychopatch::Context(PTP_BACKEND_CPU), p);
}

// The same on device arrays, on a caller's stream.
std::vector<unsigned char> gradient_on_device(const Problem& problem) {
  Problem p = problem;
  p.desc.memory = PTP_MEMORY_DEVICE;
  const DeviceArray<float> object(p.object);
  const DeviceArray<float> grad(p.grad);
  const DeviceArray<double> xy(p.xy);
  const DeviceArray<float> xy32(p.xy32);
  DeviceArray<unsigned char> out(p.offset_bytes());
  out.fill_bytes(0x5a);
  UserStream stream;
  auto ctx = gpu_context(0);
  EXPECT_EQ(ptp_context_set_stream(ctx.get(), stream.get()), PTP_SUCCESS);
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(ctx.get(), &p.desc, &plan));
  const void* offsets = p.float64() ? static_cast<const void*>(xy.get()) : xy32.get();
  const ptp_status status = ptp_extract_offsets_gradient(
      plan, object.get(), offsets, p.num_patches, grad.get(), grad.bytes(), out.get(), out.bytes());
  ptp_extract_plan_destroy(plan);
  ptychopatch::check(status);
  ptychopatch::check(ptp_context_synchronize(ctx.get()));
  return out.to_host();
}

void expect_same_bytes(const std::vector<unsigned char>& got,
                       const std::vector<unsigned char>& want) {
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0);
}

TEST(GpuOffsetsGradient, BitwiseEqualToCpuForEveryTypeLayoutAndPath) {
  REQUIRE_GPU();
  uint32_t seed = 700;
  for (int64_t n : {1, 6, 40}) {
    for (int lanes : {1, 2}) {
      for (auto layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
        for (auto offset_dtype : {PTP_DTYPE_FLOAT64, PTP_DTYPE_FLOAT32}) {
          const int64_t c = 3, groups = 5, h = 29, w = 37;
          const Problem p =
              make_problem(h, w, n, c, groups, lanes, layout, offset_dtype, seed += 3);
          SCOPED_TRACE(testing::Message() << "n " << n << ", lanes " << lanes << ", layout "
                                          << layout << ", offset dtype " << offset_dtype);
          const std::vector<unsigned char> expected = gradient_on_cpu(p);
          const uint64_t offset_bytes = offset_dtype == PTP_DTYPE_FLOAT32 ? 4 : 8;
          const uint64_t resident = h * w * 4 * lanes + p.num_patches * 2 * offset_bytes;
          const uint64_t group = c * n * n * 4 * lanes + c * 2 * offset_bytes;
          // One group per chunk, two, and the default (one chunk).
          for (uint64_t budget : {resident + 2 * group, resident + 2 * 2 * group, uint64_t{0}}) {
            SCOPED_TRACE(budget);
            expect_same_bytes(gradient(gpu_context(budget), p), expected);
          }
          expect_same_bytes(gradient_on_device(p), expected);
        }
      }
    }
  }
}

// Patches wider than the kernel's 256 columns: threads own several columns.
TEST(GpuOffsetsGradient, WidePatchesMatchCpu) {
  REQUIRE_GPU();
  for (auto layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
    const Problem p = make_problem(280, 300, 270, 2, 1, 2, layout, PTP_DTYPE_FLOAT64, 800 + layout);
    const std::vector<unsigned char> expected = gradient_on_cpu(p);
    expect_same_bytes(gradient(gpu_context(0), p), expected);
    expect_same_bytes(gradient_on_device(p), expected);
  }
}

// Device arrays: captured in a CUDA graph (no host wait, no allocation),
// replayed with new offsets; a replay with a non-finite offset leaves the
// output as it was and ptp_context_synchronize names it.
TEST(GpuOffsetsGradient, DeviceArraysAreCapturableAndBadOffsetsDeferred) {
  REQUIRE_GPU();
  Problem p = make_problem(40, 30, 8, 2, 12, 2, PTP_LAYOUT_CHANNEL, PTP_DTYPE_FLOAT64, 900);
  Problem moved = p;
  for (double& v : moved.xy) v = std::fmod(v * 0.5 + 3.375, 33.0);
  moved.xy32.assign(moved.xy.begin(), moved.xy.end());
  const std::vector<unsigned char> first = gradient_on_cpu(p);
  const std::vector<unsigned char> second = gradient_on_cpu(moved);
  p.desc.memory = PTP_MEMORY_DEVICE;
  const DeviceArray<float> object(p.object);
  const DeviceArray<float> grad(p.grad);
  DeviceArray<double> xy(p.xy);
  DeviceArray<unsigned char> out(p.offset_bytes());
  UserStream stream;
  auto ctx = gpu_context(0);
  ASSERT_EQ(ptp_context_set_stream(ctx.get(), stream.get()), PTP_SUCCESS);
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &p.desc, &plan), PTP_SUCCESS);
  const auto call = [&] {
    return ptp_extract_offsets_gradient(plan, object.get(), xy.get(), p.num_patches, grad.get(),
                                        grad.bytes(), out.get(), out.bytes());
  };
  const CapturedGraph graph(stream.get(), call);
  ASSERT_EQ(graph.ended, cudaSuccess);
  ASSERT_EQ(graph.status, PTP_SUCCESS) << ptp_last_error_message();
  ASSERT_EQ(graph.launch(stream.get()), cudaSuccess);
  EXPECT_EQ(ptp_context_synchronize(ctx.get()), PTP_SUCCESS);
  expect_same_bytes(out.to_host(), first);
  xy.upload(moved.xy);
  ASSERT_EQ(graph.launch(stream.get()), cudaSuccess);
  EXPECT_EQ(ptp_context_synchronize(ctx.get()), PTP_SUCCESS);
  expect_same_bytes(out.to_host(), second);

  std::vector<double> bad = moved.xy;
  bad[2 * 9] = std::numeric_limits<double>::quiet_NaN();
  xy.upload(bad);
  EXPECT_EQ(call(), PTP_SUCCESS);  // enqueued: the device finds the NaN
  EXPECT_EQ(ptp_context_synchronize(ctx.get()), PTP_ERROR_NON_FINITE);
  const std::string message = ptp_last_error_message();
  EXPECT_NE(message.find("1 call"), std::string::npos) << message;
  EXPECT_NE(message.find("patch 9 "), std::string::npos) << message;
  expect_same_bytes(out.to_host(), second);
  ptp_extract_plan_destroy(plan);
}

// Host-side checks of device arrays name the argument; nothing is written.
TEST(GpuOffsetsGradient, HostPointersPassedAsDeviceAreNamed) {
  REQUIRE_GPU();
  Problem p = make_problem(20, 20, 4, 1, 3, 1, PTP_LAYOUT_FLAT, PTP_DTYPE_FLOAT32, 950);
  p.desc.memory = PTP_MEMORY_DEVICE;
  const DeviceArray<float> object(p.object);
  const DeviceArray<float> grad(p.grad);
  const DeviceArray<float> xy(p.xy32);
  std::vector<float> host_out(2 * p.num_patches, -3.0f);
  auto ctx = gpu_context(0);
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &p.desc, &plan), PTP_SUCCESS);
  EXPECT_EQ(
      ptp_extract_offsets_gradient(plan, object.get(), xy.get(), p.num_patches, grad.get(),
                                   grad.bytes(), host_out.data(), host_out.size() * sizeof(float)),
      PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("'grad_offsets'"), std::string::npos)
      << ptp_last_error_message();
  for (float v : host_out) EXPECT_EQ(v, -3.0f);
  ptp_extract_plan_destroy(plan);
}

}  // namespace
