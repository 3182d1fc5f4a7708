// Diagnostics of patch geometry on a GPU context: host-memory offsets are
// counted as on the CPU (the same numbers for extraction, the legacy form
// and reassembly, also when the host-array pipeline splits the work into
// chunks); device-memory offsets are not read back and report -1.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_support.hpp"
#include "ptychopatch.hpp"

namespace {

using gpu_test::DeviceArray;

ptp_extract_diagnostics query(const ptp_extract_plan* plan) {
  ptp_extract_diagnostics d;
  EXPECT_EQ(ptp_extract_diagnostics_init(&d, sizeof d), PTP_SUCCESS);
  EXPECT_EQ(ptp_extract_plan_get_diagnostics(plan, &d), PTP_SUCCESS);
  return d;
}

std::vector<double> spread_offsets(int64_t patches, double extent, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-extent, 2.0 * extent);
  std::vector<double> xy(2 * patches);
  for (double& v : xy) v = u(rng);
  return xy;
}

// The same calls on a CPU and a GPU context give the same diagnostics.
TEST(GpuDiagnostics, HostOffsetsAreCountedAsOnTheCpu) {
  REQUIRE_GPU();
  const int64_t h = 48, w = 64, n = 16, c = 4, groups = 60;
  const auto xy = spread_offsets(groups * c, 64.0, 3);
  const std::vector<double> global = spread_offsets(groups, 64.0, 4);
  const std::vector<double> local = spread_offsets(groups * c, 4.0, 5);
  const std::vector<float> object(h * w, 1.0f);
  std::vector<ptp_extract_diagnostics> found[2];
  for (int i = 0; i < 2; ++i) {
    ptp_context_options options;
    ptp_context_options_init(&options, sizeof options);
    options.backend = i == 0 ? PTP_BACKEND_CPU : PTP_BACKEND_GPU;
    // A small budget: the GPU's host pipeline runs in several chunks.
    options.device_memory_budget = 64 * 1024;
    ptp_context* ctx = nullptr;
    ASSERT_EQ(ptp_context_create(&options, &ctx), PTP_SUCCESS);
    ptp_extract_desc desc;
    ptp_extract_desc_init(&desc, sizeof desc);
    desc.height = h;
    desc.width = w;
    desc.patch_size = n;
    desc.group_size = c;
    desc.object_dtype = PTP_DTYPE_FLOAT32;
    ptp_extract_plan* plan = nullptr;
    ASSERT_EQ(ptp_extract_plan_create(ctx, &desc, &plan), PTP_SUCCESS);
    std::vector<float> patches(groups * c * n * n);
    ASSERT_EQ(ptp_extract_execute(plan, object.data(), xy.data(), groups * c, patches.data(),
                                  patches.size() * 4),
              PTP_SUCCESS);
    found[i].push_back(query(plan));
    ASSERT_EQ(ptp_extract_execute_legacy(plan, object.data(), global.data(), local.data(), groups,
                                         patches.data(), patches.size() * 4),
              PTP_SUCCESS);
    found[i].push_back(query(plan));
    std::vector<float> canvas(h * w);
    ASSERT_EQ(ptp_reassemble_execute(plan, patches.data(), xy.data(), groups * c, canvas.data(),
                                     canvas.size() * 4, nullptr, 0),
              PTP_SUCCESS);
    found[i].push_back(query(plan));
    ptp_extract_plan_destroy(plan);
    ptp_context_destroy(ctx);
  }
  for (size_t k = 0; k < found[0].size(); ++k) {
    SCOPED_TRACE("call " + std::to_string(k));
    const ptp_extract_diagnostics &cpu = found[0][k], &gpu = found[1][k];
    EXPECT_GT(cpu.patches_outside, 0);
    EXPECT_LT(cpu.patches_outside, groups * c);
    EXPECT_EQ(gpu.call, cpu.call);
    EXPECT_EQ(gpu.patches_total, cpu.patches_total);
    EXPECT_EQ(gpu.patches_outside, cpu.patches_outside);
    EXPECT_EQ(gpu.first_outside, cpu.first_outside);
    EXPECT_STREQ(gpu.message, cpu.message);
  }
}

TEST(GpuDiagnostics, DeviceOffsetsAreNotCounted) {
  REQUIRE_GPU();
  const int64_t h = 32, w = 32, n = 8, patches = 20;
  const auto xy = spread_offsets(patches, 32.0, 6);
  ptychopatch::Context ctx(PTP_BACKEND_GPU);
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = h;
  desc.width = w;
  desc.patch_size = n;
  desc.object_dtype = PTP_DTYPE_FLOAT32;
  desc.layout = PTP_LAYOUT_FLAT;
  desc.memory = PTP_MEMORY_DEVICE;
  ptp_extract_plan* plan = nullptr;
  ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &desc, &plan), PTP_SUCCESS);
  const DeviceArray<float> object(std::vector<float>(h * w, 1.0f));
  const DeviceArray<double> offsets(xy);
  DeviceArray<float> out(patches * n * n);
  ASSERT_EQ(ptp_extract_execute(plan, object.get(), offsets.get(), patches, out.get(), out.bytes()),
            PTP_SUCCESS);
  const ptp_extract_diagnostics d = query(plan);
  EXPECT_EQ(d.call, PTP_DIAGNOSED_EXTRACT);
  EXPECT_EQ(d.patches_total, patches);
  EXPECT_EQ(d.patches_outside, -1);
  EXPECT_EQ(d.first_outside, -1);
  EXPECT_NE(std::string(d.message).find("device memory"), std::string::npos) << d.message;
  DeviceArray<float> canvas(h * w);
  ASSERT_EQ(ptp_reassemble_execute(plan, out.get(), offsets.get(), patches, canvas.get(),
                                   canvas.bytes(), nullptr, 0),
            PTP_SUCCESS);
  EXPECT_EQ(query(plan).call, PTP_DIAGNOSED_REASSEMBLE);
  EXPECT_EQ(query(plan).patches_outside, -1);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ptp_extract_plan_destroy(plan);
}

}  // namespace
