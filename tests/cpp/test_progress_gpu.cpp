// Progress of the GPU backend (ptp_extract_set_progress): all patches are
// cut in one launch (per pipeline chunk), so the reports are (0, total)
// before the work and (total, total) after it; a callback that stops at
// (0, total) cancels before anything is written, and the plan stays usable.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "gpu_test_support.hpp"
#include "legacy_oracle.hpp"
#include "ptychopatch.hpp"

namespace {

struct Recorder {
  std::vector<std::pair<int64_t, int64_t>> calls;
  bool stop = false;
  static int32_t call(int64_t done, int64_t total, void* self) {
    auto* r = static_cast<Recorder*>(self);
    r->calls.emplace_back(done, total);
    return r->stop ? 1 : 0;
  }
};

ptp_extract_desc desc_of(int64_t patches_per_group) {
  ptp_extract_desc d;
  ptychopatch::check(ptp_extract_desc_init(&d, sizeof d));
  d.height = 40;
  d.width = 36;
  d.patch_size = 8;
  d.group_size = patches_per_group;
  return d;
}

std::vector<double> offsets(int64_t patches) {
  std::vector<double> xy(2 * patches);
  for (int64_t p = 0; p < patches; ++p) {
    xy[2 * p] = 3.25 + static_cast<double>(p % 30);
    xy[2 * p + 1] = 1.5 + static_cast<double>(p % 37);
  }
  return xy;
}

TEST(GpuProgress, ExtractionReportsBeforeAndAfterItsLaunch) {
  REQUIRE_GPU();
  const int64_t patches = 64;
  const auto obj = oracle::random_image(40, 36, 2, 21);
  const auto xy = offsets(patches);
  const auto desc = desc_of(4);
  ptychopatch::Context gpu(PTP_BACKEND_GPU), cpu(PTP_BACKEND_CPU, 1);
  ptp_extract_plan *plan = nullptr, *cpu_plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(gpu.get(), &desc, &plan));
  ptychopatch::check(ptp_extract_plan_create(cpu.get(), &desc, &cpu_plan));
  const size_t floats = patches * 8 * 8 * 2;
  std::vector<float> want(floats), got(floats, -7.0f);
  ptychopatch::check(
      ptp_extract_execute(cpu_plan, obj.data.data(), xy.data(), patches, want.data(), floats * 4));

  // Stopped at (0, total): nothing written, PTP_ERROR_CANCELLED.
  Recorder r;
  r.stop = true;
  ptychopatch::check(ptp_extract_set_progress(plan, &Recorder::call, &r));
  EXPECT_EQ(ptp_extract_execute(plan, obj.data.data(), xy.data(), patches, got.data(), floats * 4),
            PTP_ERROR_CANCELLED);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0], std::make_pair(int64_t{0}, patches));
  for (float v : got) ASSERT_EQ(v, -7.0f) << "written after a cancel before the launch";

  // The same plan goes on: two reports, the patches of the CPU.
  r.stop = false;
  r.calls.clear();
  ptychopatch::check(
      ptp_extract_execute(plan, obj.data.data(), xy.data(), patches, got.data(), floats * 4));
  const std::vector<std::pair<int64_t, int64_t>> both = {{0, patches}, {patches, patches}};
  EXPECT_EQ(r.calls, both);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), floats * 4), 0);

  // Reassembly on the same plan: the same two reports.
  r.calls.clear();
  std::vector<float> canvas(40 * 36 * 2);
  ptychopatch::check(ptp_reassemble_execute(plan, got.data(), xy.data(), patches, canvas.data(),
                                            canvas.size() * 4, nullptr, 0));
  EXPECT_EQ(r.calls, both);
  r.stop = true;
  EXPECT_EQ(ptp_reassemble_execute(plan, got.data(), xy.data(), patches, canvas.data(),
                                   canvas.size() * 4, nullptr, 0),
            PTP_ERROR_CANCELLED);
  ptp_extract_plan_destroy(cpu_plan);
  ptp_extract_plan_destroy(plan);
}

TEST(GpuProgress, DeviceArraysReportBeforeAndAfterTheEnqueuedLaunch) {
  REQUIRE_GPU();
  const int64_t patches = 32;
  const auto obj = oracle::random_image(40, 36, 2, 22);
  const auto xy = offsets(patches);
  auto desc = desc_of(1);
  desc.memory = PTP_MEMORY_DEVICE;
  ptychopatch::Context gpu(PTP_BACKEND_GPU);
  ptp_extract_plan* plan = nullptr;
  ptychopatch::check(ptp_extract_plan_create(gpu.get(), &desc, &plan));
  gpu_test::DeviceArray<float> d_obj(obj.data);
  gpu_test::DeviceArray<double> d_xy(xy);
  gpu_test::DeviceArray<float> d_out(static_cast<size_t>(patches * 8 * 8 * 2));
  Recorder r;
  ptychopatch::check(ptp_extract_set_progress(plan, &Recorder::call, &r));
  ptychopatch::check(
      ptp_extract_execute(plan, d_obj.get(), d_xy.get(), patches, d_out.get(), d_out.bytes()));
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<std::pair<int64_t, int64_t>> both = {{0, patches}, {patches, patches}};
  EXPECT_EQ(r.calls, both);
  ptp_extract_plan_destroy(plan);
}

}  // namespace
