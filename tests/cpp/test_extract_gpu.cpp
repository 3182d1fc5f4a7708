// GPU extraction must equal the CPU path bit for bit (same shared formula,
// no fused multiply-adds). Skips, saying why, where no device is usable.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gpu_test_support.hpp"
#include "legacy_oracle.hpp"
#include "ptychopatch.hpp"

namespace {

std::vector<float> run(ptp_backend backend, const ptp_extract_desc& desc, const void* object,
                       const void* offsets, int64_t patches) {
  ptychopatch::Context ctx(backend);
  EXPECT_EQ(ctx.backend(), backend);
  size_t bytes = 0;
  ptychopatch::check(ptp_extract_output_bytes(&desc, patches, &bytes));
  std::vector<float> out(bytes / sizeof(float), -3.0f);
  ptychopatch::check(
      ptp_extract_patches(ctx.get(), &desc, object, offsets, patches, out.data(), bytes));
  return out;
}

void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0)
      << "GPU and CPU patches differ";
}

using Params = std::tuple<int /*lanes*/, bool /*channel*/, bool /*f64*/, int64_t /*N*/>;
class GpuMatchesCpu : public ::testing::TestWithParam<Params> {};

TEST_P(GpuMatchesCpu, BitwiseAcrossBordersAndFarAway) {
  REQUIRE_GPU();
  const auto [lanes, channel, f64, n] = GetParam();
  const auto obj = oracle::random_image(67, 45, lanes, 3);
  std::mt19937 rng(4);
  std::uniform_real_distribution<double> u(-n - 5.0, 72.0 + n);
  std::vector<double> xy(2 * 4 * 50);
  for (double& v : xy) v = u(rng);
  xy[0] = 1e30;  // far outside: zeros
  xy[3] = -7e12;
  std::vector<float> xyf(xy.begin(), xy.end());
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = 67;
  desc.width = 45;
  desc.patch_size = n;
  desc.group_size = 4;
  desc.object_dtype = lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
  desc.offset_dtype = f64 ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
  desc.layout = channel ? PTP_LAYOUT_CHANNEL : PTP_LAYOUT_FLAT;
  const void* offsets = f64 ? static_cast<const void*>(xy.data()) : xyf.data();
  expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), offsets, 200),
                       run(PTP_BACKEND_CPU, desc, obj.data.data(), offsets, 200));
}

INSTANTIATE_TEST_SUITE_P(AllTypesAndLayouts, GpuMatchesCpu,
                         ::testing::Combine(::testing::Values(1, 2), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::Values(1, 8, 33, 64)));

TEST(Gpu, EdgeGeometriesMatchCpu) {
  REQUIRE_GPU();
  struct Geometry {
    int64_t h, w, n, c;
  };
  for (const Geometry& geo : {Geometry{1, 1, 1, 1}, Geometry{1, 40, 5, 3}, Geometry{37, 1, 4, 9},
                              Geometry{16, 16, 1, 3}}) {
    const auto obj = oracle::random_image(geo.h, geo.w, 2, 12);
    std::mt19937 rng(13);
    std::uniform_real_distribution<double> u(-6, 42);
    std::vector<double> xy(2 * geo.c * 7);
    for (double& v : xy) v = u(rng);
    xy[0] = 3e38;
    xy[1] = -3e38;
    xy[2] = 16777215.5;
    xy[5] = -16777216.0;
    for (auto layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
      ptp_extract_desc desc;
      ptp_extract_desc_init(&desc, sizeof desc);
      desc.height = geo.h;
      desc.width = geo.w;
      desc.patch_size = geo.n;
      desc.group_size = geo.c;
      desc.layout = layout;
      const int64_t patches = geo.c * 7;
      expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), xy.data(), patches),
                           run(PTP_BACKEND_CPU, desc, obj.data.data(), xy.data(), patches));
    }
  }
}

// Rows wider than a block (a thread steps through several columns, with
// the member carried into x), groups larger than a block, and long rows of
// single patches, in both layouts.
TEST(Gpu, WideRowsAndLargeGroupsMatchCpu) {
  REQUIRE_GPU();
  struct Geometry {
    int64_t n, c, groups;
  };
  for (const Geometry& geo : {Geometry{100, 3, 5}, Geometry{1, 1500, 2}, Geometry{3, 700, 2},
                              Geometry{300, 1, 3}, Geometry{86, 3, 4}}) {
    const auto obj = oracle::random_image(60, 80, 2, 21);
    std::mt19937 rng(22);
    std::uniform_real_distribution<double> u(-20, 100);
    std::vector<double> xy(2 * geo.c * geo.groups);
    for (double& v : xy) v = u(rng);
    for (auto layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
      ptp_extract_desc desc;
      ptp_extract_desc_init(&desc, sizeof desc);
      desc.height = 60;
      desc.width = 80;
      desc.patch_size = geo.n;
      desc.group_size = geo.c;
      desc.layout = layout;
      const int64_t patches = geo.c * geo.groups;
      expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), xy.data(), patches),
                           run(PTP_BACKEND_CPU, desc, obj.data.data(), xy.data(), patches));
    }
  }
}

// The channel layout's staged walk (groups of up to 32 members, sampled a
// patch's neighbouring pixels at a time and stored through shared memory):
// rows of several tiles with a partial last one, blocks of several groups
// where the last block has groups to spare, the largest staged group and
// the smallest unstaged one, for both element types.
TEST(Gpu, ChannelTilesMatchCpu) {
  REQUIRE_GPU();
  struct Geometry {
    int64_t n, c, groups;
  };
  for (const Geometry& geo : {Geometry{7, 5, 13}, Geometry{40, 16, 3}, Geometry{9, 32, 5},
                              Geometry{3, 2, 50}, Geometry{9, 33, 3}, Geometry{130, 2, 2}}) {
    for (const int lanes : {1, 2}) {
      const auto obj = oracle::random_image(50, 61, lanes, 41);
      std::mt19937 rng(42);
      std::uniform_real_distribution<double> u(-25, 80);
      std::vector<double> xy(2 * geo.c * geo.groups);
      for (double& v : xy) v = u(rng);
      ptp_extract_desc desc;
      ptp_extract_desc_init(&desc, sizeof desc);
      desc.height = 50;
      desc.width = 61;
      desc.patch_size = geo.n;
      desc.group_size = geo.c;
      desc.layout = PTP_LAYOUT_CHANNEL;
      desc.object_dtype = lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
      const int64_t patches = geo.c * geo.groups;
      expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), xy.data(), patches),
                           run(PTP_BACKEND_CPU, desc, obj.data.data(), xy.data(), patches));
    }
  }
}

// Objects too wide or too tall for the kernel's 32-bit row arithmetic
// (padded indices reach 2^24, where floats stop being exact: the last
// row's index 2^24 + 7 of the tall one is not a float) take the 64-bit
// path; patches at their far ends still match the CPU.
TEST(Gpu, ObjectsBeyondThirtyTwoBitIndexingMatchCpu) {
  REQUIRE_GPU();
  const int64_t big = int64_t{1} << 24;
  struct Case {
    int64_t h, w;
  };
  for (const Case& size : {Case{3, big + 5}, Case{big + 6, 2}}) {
    const auto obj = oracle::random_image(size.h, size.w, 2, 31);
    const auto far_x = static_cast<double>(size.w), far_y = static_cast<double>(size.h);
    std::vector<double> xy = {0.5,         1.25,         3.0,          0.0,
                              far_x - 2.5, far_y - 1.5,  far_x - 0.25, far_y - 4.0,
                              far_x * 0.5, far_y * 0.5,  far_x + 2.0,  far_y + 2.0,
                              far_x - 1.0, far_y + 0.75, far_x - 3.5,  far_y - 2.25};
    ptp_extract_desc desc;
    ptp_extract_desc_init(&desc, sizeof desc);
    desc.height = size.h;
    desc.width = size.w;
    desc.patch_size = 6;
    desc.group_size = 2;
    const int64_t patches = static_cast<int64_t>(xy.size() / 2);
    expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), xy.data(), patches),
                         run(PTP_BACKEND_CPU, desc, obj.data.data(), xy.data(), patches));
  }
}

TEST(Gpu, LegacyFormMatchesCpu) {
  REQUIRE_GPU();
  const int64_t groups = 100, c = 4, n = 16;
  const auto obj = oracle::random_image(128, 128, 2, 8);
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> g(8, 120), l(-3, 3);
  std::vector<double> global(2 * groups), local(2 * groups * c);
  for (double& v : global) v = g(rng);
  for (double& v : local) v = l(rng);
  std::vector<std::complex<float>> out_gpu(groups * c * n * n), out_cpu(out_gpu.size());
  const auto* object = reinterpret_cast<const std::complex<float>*>(obj.data.data());
  for (auto [backend, out] : {std::pair{PTP_BACKEND_GPU, &out_gpu}, {PTP_BACKEND_CPU, &out_cpu}}) {
    ptychopatch::Context ctx(backend);
    ptychopatch::ExtractPlan<std::complex<float>> plan(ctx, 128, 128, n, c);
    plan.execute_legacy(object, global.data(), local.data(), groups, out->data(), out->size());
  }
  ASSERT_EQ(std::memcmp(out_gpu.data(), out_cpu.data(), out_gpu.size() * 8), 0);
}

TEST(Gpu, PtychoPinnSizedBatchMatchesCpu) {
  REQUIRE_GPU();
  const auto obj = oracle::random_image(1024, 1024, 2, 5);
  std::mt19937 rng(6);
  std::uniform_real_distribution<double> u(32, 992);
  std::vector<double> xy(2 * 20000);
  for (double& v : xy) v = u(rng);
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = desc.width = 1024;
  desc.patch_size = 64;
  desc.group_size = 4;
  expect_bitwise_equal(run(PTP_BACKEND_GPU, desc, obj.data.data(), xy.data(), 20000),
                       run(PTP_BACKEND_CPU, desc, obj.data.data(), xy.data(), 20000));
}

// The one-call pipeline: groups are formed on the CPU whatever the backend
// (identical), and the GPU cuts the same patches as the CPU.
TEST(Gpu, GroupedPatchesMatchCpu) {
  REQUIRE_GPU();
  const auto obj = oracle::random_image(512, 512, 2, 12);
  std::mt19937 rng(13);
  std::uniform_real_distribution<double> u(-20, 530);
  std::vector<double> x(3000), y(3000);
  for (double& v : x) v = u(rng);
  for (double& v : y) v = u(rng);
  const ptychopatch::GroupDesc group(2500, 6, 2, 77);
  ptp_extract_desc extract;
  ptp_extract_desc_init(&extract, sizeof extract);
  extract.height = extract.width = 512;
  extract.patch_size = 32;
  extract.group_size = 4;
  const auto* object = reinterpret_cast<const std::complex<float>*>(obj.data.data());
  const ptychopatch::Context gpu(PTP_BACKEND_GPU), cpu(PTP_BACKEND_CPU);
  const auto on_gpu =
      ptychopatch::grouped_patches(group, extract, object, x.data(), y.data(), 3000, &gpu);
  const auto on_cpu =
      ptychopatch::grouped_patches(group, extract, object, x.data(), y.data(), 3000, &cpu);
  EXPECT_EQ(on_gpu.groups.nn_indices, on_cpu.groups.nn_indices);
  EXPECT_EQ(on_gpu.groups.coords_relative, on_cpu.groups.coords_relative);
  ASSERT_EQ(on_gpu.patches.size(), on_cpu.patches.size());
  ASSERT_EQ(std::memcmp(on_gpu.patches.data(), on_cpu.patches.data(),
                        on_gpu.patches.size() * sizeof(on_gpu.patches[0])),
            0);
}

TEST(Gpu, BadInputLeavesOutputUntouched) {
  REQUIRE_GPU();
  ptychopatch::Context ctx(PTP_BACKEND_GPU);
  ptychopatch::ExtractPlan<float> plan(ctx, 8, 8, 4, 1, PTP_LAYOUT_FLAT);
  const std::vector<float> object(64, 1.0f);
  const double offsets[4] = {1, 2, 3, 0.0 / 0.0};
  std::vector<float> out(2 * 16, 9.0f);
  EXPECT_EQ(ptp_extract_execute(plan.get(), object.data(), offsets, 2, out.data(),
                                out.size() * sizeof(float)),
            PTP_ERROR_NON_FINITE);
  for (float v : out) ASSERT_EQ(v, 9.0f);
}

}  // namespace
