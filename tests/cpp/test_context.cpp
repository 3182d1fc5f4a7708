// Contexts, backend resolution and version queries.
#include <gtest/gtest.h>

#include <omp.h>

#include <cstring>
#include <string>
#include <vector>

#include "ptychopatch.hpp"

namespace {

TEST(Version, RuntimeMatchesHeader) {
  int32_t major = -1, minor = -1, patch = -1;
  ASSERT_EQ(ptp_get_version(&major, &minor, &patch), PTP_SUCCESS);
  EXPECT_EQ(major, PTP_VERSION_MAJOR);
  EXPECT_EQ(minor, PTP_VERSION_MINOR);
  EXPECT_EQ(patch, PTP_VERSION_PATCH);
  const std::string v = ptp_version_string();
  const std::string prefix =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) + "+";
  EXPECT_EQ(v.rfind(prefix, 0), 0u) << v;
  EXPECT_EQ(ptp_get_version(nullptr, &minor, &patch), PTP_ERROR_INVALID_ARGUMENT);
  int32_t untouched = -9;
  EXPECT_EQ(ptp_get_version(&untouched, &minor, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(untouched, -9);
}

TEST(Context, OptionsDefaults) {
  ptp_context_options o;
  ASSERT_EQ(ptp_context_options_init(&o, sizeof o), PTP_SUCCESS);
  EXPECT_EQ(o.struct_size, sizeof(ptp_context_options));
  EXPECT_EQ(o.backend, PTP_BACKEND_AUTO);
  EXPECT_EQ(o.num_threads, 0);
  EXPECT_EQ(o.device, 0);
  EXPECT_EQ(o.device_memory_budget, 0u);
  EXPECT_EQ(ptp_context_options_init(nullptr, sizeof(ptp_context_options)),
            PTP_ERROR_INVALID_ARGUMENT);
}

TEST(Context, InitRefusesUnknownStructSizesWithoutWriting) {
  // A caller built against another release passes its own sizeof; the
  // library must never write past it.
  unsigned char bytes[sizeof(ptp_context_options) + 16];
  std::memset(bytes, 0xab, sizeof bytes);
  auto* o = reinterpret_cast<ptp_context_options*>(bytes);
  EXPECT_EQ(ptp_context_options_init(o, sizeof(ptp_context_options) - 8),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("struct_size"), std::string::npos);
  for (unsigned char b : bytes) ASSERT_EQ(b, 0xab);
  ptp_extract_desc d;
  std::memset(&d, 0xab, sizeof d);
  EXPECT_EQ(ptp_extract_desc_init(&d, sizeof d + 8), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(d.height, static_cast<int64_t>(0xabababababababab));
}

TEST(Context, CpuBackendHonoursThreadCount) {
  ptychopatch::Context one(PTP_BACKEND_CPU, 1);
  EXPECT_EQ(one.backend(), PTP_BACKEND_CPU);
  EXPECT_EQ(one.num_threads(), 1);
  ptychopatch::Context all(PTP_BACKEND_CPU, 0);
  EXPECT_GE(all.num_threads(), 1);
  // Far more threads than processors is capped, never an abort.
  ptychopatch::Context many(PTP_BACKEND_CPU, 1 << 30);
  EXPECT_EQ(many.num_threads(), omp_get_num_procs());
  std::vector<float> object(64, 1.0f), out(1000 * 4, 0.0f);
  std::vector<double> offsets(2 * 1000, 4.0);
  ptychopatch::ExtractPlan<float> plan(many, 8, 8, 2, 1, PTP_LAYOUT_FLAT);
  plan.execute(object.data(), offsets.data(), 1000, out.data(), out.size());
  EXPECT_EQ(out[0], 1.0f);
}

TEST(Context, AutoResolvesToGpuExactlyWhenADeviceIsUsable) {
  int32_t devices = -1;
  ASSERT_EQ(ptp_cuda_device_count(&devices), PTP_SUCCESS);
  ASSERT_GE(devices, 0);
  ptychopatch::Context ctx(PTP_BACKEND_AUTO);
  const ptychopatch::BackendReason why = ctx.backend_reason();
  EXPECT_FALSE(why.message.empty());
  if (ctx.backend() == PTP_BACKEND_GPU) {
    EXPECT_EQ(why.reason, PTP_BACKEND_REASON_GPU);
    EXPECT_GT(devices, 0);
    EXPECT_EQ(why.message.rfind("CUDA device 0 (", 0), 0u) << why.message;
  } else {
    EXPECT_NE(why.reason, PTP_BACKEND_REASON_GPU) << why.message;
    EXPECT_NE(why.reason, PTP_BACKEND_REASON_CPU_REQUESTED) << why.message;
    // No device, or one that cannot run this build: never a silent choice.
    if (devices > 0) {
      EXPECT_EQ(why.reason, PTP_BACKEND_REASON_GPU_UNUSABLE) << why.message;
    }
  }
}

TEST(Context, VersionSaysCudaOnlyWhereTheGpuBackendRuns) {
  const std::string v = ptp_version_string();
  int32_t reason = -1;
  const char* message = nullptr;
  // NULL: the shared default context of one-shot calls (backend AUTO).
  ASSERT_EQ(ptp_context_get_backend_reason(nullptr, &reason, &message), PTP_SUCCESS);
  ASSERT_NE(message, nullptr);
  const std::string base = std::to_string(PTP_VERSION_MAJOR) + "." +
                           std::to_string(PTP_VERSION_MINOR) + "." +
                           std::to_string(PTP_VERSION_PATCH);
  if (reason == PTP_BACKEND_REASON_GPU) {
    EXPECT_EQ(v, base + "+cuda");
  } else if (reason == PTP_BACKEND_REASON_NO_CUDA_BUILD) {
    EXPECT_EQ(v, base + "+cpu");
  } else {
    EXPECT_EQ(v, base + "+cuda (GPU backend unavailable)") << message;
  }
}

TEST(Context, CpuRequestedSaysSo) {
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  const ptychopatch::BackendReason why = ctx.backend_reason();
  EXPECT_EQ(why.reason, PTP_BACKEND_REASON_CPU_REQUESTED);
  EXPECT_EQ(why.message, "the CPU backend was requested");
}

TEST(Context, BackendReasonRefusesNullOutputs) {
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  int32_t reason = -7;
  const char* message = reinterpret_cast<const char*>(0x1);
  EXPECT_EQ(ptp_context_get_backend_reason(ctx.get(), nullptr, &message),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("reason"), std::string::npos);
  EXPECT_EQ(ptp_context_get_backend_reason(ctx.get(), &reason, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(reason, -7) << "output written on failure";
  EXPECT_EQ(message, reinterpret_cast<const char*>(0x1)) << "output written on failure";
}

TEST(Context, GpuWithoutDeviceIsAClearStatus) {
  int32_t devices = 0;
  ASSERT_EQ(ptp_cuda_device_count(&devices), PTP_SUCCESS);
  if (devices > 0) GTEST_SKIP() << "a CUDA device is present; this checks the no-device path";
  ptp_context_options o;
  ptp_context_options_init(&o, sizeof o);
  o.backend = PTP_BACKEND_GPU;
  ptp_context* ctx = reinterpret_cast<ptp_context*>(0x1);
  EXPECT_EQ(ptp_context_create(&o, &ctx), PTP_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(ctx, reinterpret_cast<ptp_context*>(0x1)) << "handle written on failure";
  const std::string msg = ptp_last_error_message();
  EXPECT_NE(msg.find("GPU"), std::string::npos) << msg;
}

TEST(Context, CpuContextHasOnlyTheNullStream) {
  ptychopatch::Context ctx(PTP_BACKEND_CPU);
  void* stream = reinterpret_cast<void*>(0x1);
  ASSERT_EQ(ptp_context_get_stream(ctx.get(), &stream), PTP_SUCCESS);
  EXPECT_EQ(stream, nullptr);
  EXPECT_EQ(ptp_context_set_stream(ctx.get(), nullptr), PTP_SUCCESS);
  EXPECT_EQ(ptp_context_set_stream(ctx.get(), reinterpret_cast<void*>(0x10)),
            PTP_ERROR_UNSUPPORTED);
  EXPECT_NE(std::string(ptp_last_error_message()).find("cuda_stream"), std::string::npos);
  ASSERT_EQ(ptp_context_get_stream(ctx.get(), &stream), PTP_SUCCESS);
  EXPECT_EQ(stream, nullptr) << "a refused stream must not be stored";
  EXPECT_EQ(ptp_context_set_stream(nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_context_get_stream(ctx.get(), nullptr), PTP_ERROR_INVALID_ARGUMENT);
  // Nothing to wait for or report on a CPU context.
  EXPECT_EQ(ptp_context_synchronize(ctx.get()), PTP_SUCCESS);
  EXPECT_NO_THROW(ctx.synchronize());
  EXPECT_EQ(ptp_context_synchronize(nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("context"), std::string::npos);
}

TEST(Context, BadOptionsAreRejected) {
  ptp_context_options o;
  ptp_context* ctx = nullptr;
  ptp_context_options_init(&o, sizeof o);
  o.backend = 5;
  EXPECT_EQ(ptp_context_create(&o, &ctx), PTP_ERROR_INVALID_ARGUMENT);
  ptp_context_options_init(&o, sizeof o);
  o.num_threads = -2;
  EXPECT_EQ(ptp_context_create(&o, &ctx), PTP_ERROR_INVALID_SIZE);
  ptp_context_options_init(&o, sizeof o);
  o.struct_size = sizeof(o) + 8;
  EXPECT_EQ(ptp_context_create(&o, &ctx), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("struct_size"), std::string::npos);
  ptp_context_options_init(&o, sizeof o);
  o.reserved0 = 1;
  EXPECT_EQ(ptp_context_create(&o, &ctx), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(ptp_context_create(nullptr, nullptr), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_context_destroy(nullptr), PTP_SUCCESS);
  EXPECT_EQ(ptp_extract_plan_destroy(nullptr), PTP_SUCCESS);
}

}  // namespace
