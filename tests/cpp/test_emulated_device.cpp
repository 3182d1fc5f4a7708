// What the library says when a GPU is present but cannot be used: a driver
// older than the build, a device whose architecture the build carries no
// code for, a CUDA context lost to a sticky error. These states cannot be
// made on demand on a real GPU, so this program runs only on the emulated
// device, whose test hooks (tests/emulation/emulator.hpp) put it in each
// state. Every test restores the device; the sticky error, which the
// library remembers for the rest of the process, comes last.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <complex>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "emulator.hpp"
#include "ptychopatch.hpp"

namespace {

using Complex = std::complex<float>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string version_base() {
  return std::to_string(PTP_VERSION_MAJOR) + "." + std::to_string(PTP_VERSION_MINOR) + "." +
         std::to_string(PTP_VERSION_PATCH);
}

// Puts the emulated device back as the other tests expect it.
struct RestoreDevice {
  ~RestoreDevice() {
    ptp_emu_set_driver_version(CUDART_VERSION);
    ptp_emu_set_compute_capability(9, 0, 1);
  }
};

// A GPU context under a device memory budget of `budget` bytes.
ptychopatch::Context gpu_context_with_budget(uint64_t budget) {
  ptp_context_options options;
  ptychopatch::check(ptp_context_options_init(&options, sizeof options));
  options.backend = PTP_BACKEND_GPU;
  options.device_memory_budget = budget;
  return ptychopatch::Context(options);
}

// Alignment of single-channel float32 frames of side `side`, refined 4x.
ptp_align_desc float_frames(int side) {
  ptp_align_desc desc;
  ptychopatch::check(ptp_align_desc_init(&desc, sizeof desc));
  desc.height = side;
  desc.width = side;
  desc.channels = 1;
  desc.frame_dtype = PTP_DTYPE_FLOAT32;
  desc.upsample_factor = 4;
  return desc;
}

// A textured side x side frame, and `count` copies circularly shifted by
// (k, dx_per_k * k), k = 1 .. count.
std::vector<float> textured(int side) {
  std::vector<float> frame(size_t(side) * side);
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      frame[y * side + x] = float((x * 7 + y * 13) % 23) + float(x * y % 5);
  return frame;
}

std::vector<std::vector<float>> rolled(const std::vector<float>& reference, int side, int count,
                                       int dx_per_k) {
  std::vector<std::vector<float>> frames;
  for (int k = 1; k <= count; ++k) {
    std::vector<float> frame(reference.size());
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x)
        frame[y * side + x] = reference[((y + k) % side) * side + (x + dx_per_k * k) % side];
    frames.push_back(frame);
  }
  return frames;
}

// An AUTO context must fall back to the CPU with this reason, a GPU context
// must be refused with it, and the version must not claim the GPU.
void expect_unusable(ptp_backend_reason expected, const std::vector<std::string>& words) {
  ptychopatch::Context automatic(PTP_BACKEND_AUTO);
  EXPECT_EQ(automatic.backend(), PTP_BACKEND_CPU);
  const ptychopatch::BackendReason why = automatic.backend_reason();
  EXPECT_EQ(why.reason, expected) << why.message;
  for (const std::string& word : words) EXPECT_TRUE(contains(why.message, word)) << why.message;

  ptp_context_options options;
  ptp_context_options_init(&options, sizeof options);
  options.backend = PTP_BACKEND_GPU;
  ptp_context* gpu = nullptr;
  EXPECT_EQ(ptp_context_create(&options, &gpu), PTP_ERROR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(gpu, nullptr);
  EXPECT_TRUE(contains(ptp_last_error_message(), why.message)) << ptp_last_error_message();

  EXPECT_EQ(std::string(ptp_version_string()), version_base() + "+cuda (GPU backend unavailable)");
}

TEST(EmulatedDevice, UsableDeviceIsNamed) {
  ptychopatch::Context ctx(PTP_BACKEND_AUTO);
  ASSERT_EQ(ctx.backend(), PTP_BACKEND_GPU);
  const ptychopatch::BackendReason why = ctx.backend_reason();
  EXPECT_EQ(why.reason, PTP_BACKEND_REASON_GPU);
  EXPECT_EQ(why.message,
            "CUDA device 0 (ptychopatch emulated CUDA device, compute capability 9.0)");
  EXPECT_EQ(std::string(ptp_version_string()), version_base() + "+cuda");
}

TEST(EmulatedDevice, DriverOlderThanTheBuildIsNamedWithTheDriverToInstall) {
  const RestoreDevice restore;
  ptp_emu_set_driver_version(12020);
  int32_t count = -1;
  ASSERT_EQ(ptp_cuda_device_count(&count), PTP_SUCCESS);
  EXPECT_EQ(count, 0);
  expect_unusable(PTP_BACKEND_REASON_GPU_UNUSABLE, {"CUDA 12.2", "CUDA 13.0", "driver 580"});
}

TEST(EmulatedDevice, NoDriverAtAllIsNoGpu) {
  const RestoreDevice restore;
  ptp_emu_set_driver_version(0);
  expect_unusable(PTP_BACKEND_REASON_NO_GPU, {"no NVIDIA driver"});
}

TEST(EmulatedDevice, ArchitectureWithoutCodeIsNamedWithWhatTheBuildCarries) {
  const RestoreDevice restore;
  ptp_emu_set_compute_capability(6, 1, 0);
  expect_unusable(PTP_BACKEND_REASON_GPU_UNUSABLE,
                  {"compute capability 6.1", "sm_75", "sm_120", "PTX for compute_75, compute_120",
                   "CMAKE_CUDA_ARCHITECTURES including 61"});
}

TEST(EmulatedDevice, DeviceOrdinalOutOfRangeIsUnusable) {
  ptp_context_options options;
  ptp_context_options_init(&options, sizeof options);
  options.device = 3;
  ptp_context* ctx = nullptr;
  ASSERT_EQ(ptp_context_create(&options, &ctx), PTP_SUCCESS);
  int32_t reason = -1;
  const char* message = nullptr;
  ASSERT_EQ(ptp_context_get_backend_reason(ctx, &reason, &message), PTP_SUCCESS);
  EXPECT_EQ(reason, PTP_BACKEND_REASON_GPU_UNUSABLE);
  EXPECT_TRUE(contains(message, "CUDA device 3 does not exist")) << message;
  ptp_context_destroy(ctx);
}

TEST(EmulatedDevice, AlignPlanSaysWhereItRuns) {
  ptp_align_desc desc;
  ptychopatch::check(ptp_align_desc_init(&desc, sizeof desc));
  desc.height = 32;
  desc.width = 32;
  desc.channels = 1;
  ptychopatch::Context gpu(PTP_BACKEND_GPU);
  std::string why = "unset";
  EXPECT_EQ(ptychopatch::AlignPlan(gpu, desc).backend(&why), PTP_BACKEND_GPU);
  EXPECT_EQ(why, "");
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  EXPECT_EQ(ptychopatch::AlignPlan(cpu, desc).backend(&why), PTP_BACKEND_CPU);
  EXPECT_EQ(why, "");
  // RawNIND's method runs on the CPU: the plan says so instead of leaving the caller
  // to guess from the timings.
  desc.cfa = PTP_CFA_BAYER;
  desc.method = PTP_ALIGN_METHOD_RAWNIND;
  EXPECT_EQ(ptychopatch::AlignPlan(gpu, desc).backend(&why), PTP_BACKEND_CPU);
  EXPECT_TRUE(contains(why, "CPU backend only")) << why;
}

TEST(EmulatedDevice, RepeatedCallsReuseTheContextsDeviceMemory) {
  const size_t baseline = ptp_emu_device_memory_in_use();
  {
    ptychopatch::Context ctx(PTP_BACKEND_GPU);
    ptychopatch::ExtractPlan<Complex> plan(ctx, 64, 64, 8, 1, PTP_LAYOUT_FLAT);
    std::vector<Complex> object(64 * 64);
    for (size_t i = 0; i < object.size(); ++i) object[i] = Complex(float(i % 61), float(i % 7));
    std::vector<double> offsets;
    for (int p = 0; p < 200; ++p) offsets.insert(offsets.end(), {p * 0.3, 60.0 - p * 0.25});
    std::vector<Complex> first(200 * 64), again(200 * 64);
    std::vector<Complex> canvas(64 * 64);
    std::vector<float> weights(64 * 64);
    const auto reassemble = [&] {
      ptychopatch::check(ptp_reassemble_execute(plan.get(), first.data(), offsets.data(), 200,
                                                canvas.data(), canvas.size() * sizeof(Complex),
                                                weights.data(), weights.size() * sizeof(float)));
    };
    plan.execute(object.data(), offsets.data(), 200, first.data(), first.size());
    reassemble();  // needs more than the extraction: grows the scratch once
    const std::vector<Complex> first_canvas = canvas;
    const size_t allocations = ptp_emu_device_allocations();
    const size_t held = ptp_emu_device_memory_in_use();
    for (int call = 0; call < 3; ++call) {
      plan.execute(object.data(), offsets.data(), 200, again.data(), again.size());
      EXPECT_EQ(again, first);
      reassemble();
      EXPECT_EQ(canvas, first_canvas);
    }
    // Smaller calls fit in what the context already holds.
    plan.execute(object.data(), offsets.data(), 20, again.data(), 20 * 64);
    EXPECT_EQ(ptp_emu_device_allocations(), allocations) << "a call allocated device memory";
    EXPECT_EQ(ptp_emu_device_memory_in_use(), held);
    // A larger call grows the scratch once, then reuses it.
    offsets.resize(2 * 2000, 17.5);
    std::vector<Complex> large(2000 * 64);
    plan.execute(object.data(), offsets.data(), 2000, large.data(), large.size());
    const size_t grown = ptp_emu_device_allocations();
    EXPECT_GT(grown, allocations);
    plan.execute(object.data(), offsets.data(), 2000, large.data(), large.size());
    EXPECT_EQ(ptp_emu_device_allocations(), grown);
  }
  EXPECT_EQ(ptp_emu_device_memory_in_use(), baseline) << "the context's scratch outlived it";
}

TEST(EmulatedDevice, CallFromAProgressCallbackGetsItsOwnScratch) {
  // Alignment holds the context's scratch while it reports progress; an
  // extraction on the same context from the callback must not overwrite it.
  // A small budget makes batches of one frame, so the callback for one
  // frame runs while the next batch is queued on the device. (Without the
  // fine stage: with it, frames are reported after their fit, when the
  // correlations have given the scratch back.)
  ptychopatch::Context ctx = gpu_context_with_budget(4500000);
  ptp_align_desc desc = float_frames(48);
  desc.verify = PTP_ALIGN_VERIFY_NONE;
  const std::vector<float> reference = textured(48);
  const std::vector<std::vector<float>> moved = rolled(reference, 48, 6, 0);
  std::vector<const float*> frames;
  for (const auto& frame : moved) frames.push_back(frame.data());
  ptychopatch::AlignPlan alone(ctx, desc);
  alone.set_reference(reference.data());
  const auto expected = alone.execute(frames);

  ptychopatch::ExtractPlan<Complex> extract(ctx, 48, 48, 8, 1, PTP_LAYOUT_FLAT);
  const std::vector<Complex> object(48 * 48, Complex(3.0f, -1.0f));
  const std::vector<double> offsets(2 * 10, 20.0);
  int callbacks = 0;
  ptychopatch::AlignPlan nested(ctx, desc);
  nested.set_reference(reference.data());
  nested.set_progress([&](int64_t, int64_t) {
    std::vector<Complex> patches(10 * 64);
    const size_t before = ptp_emu_device_allocations();
    extract.execute(object.data(), offsets.data(), 10, patches.data(), patches.size());
    // Small enough to fit in the leased scratch, yet given memory of its own.
    EXPECT_EQ(ptp_emu_device_allocations(), before + 1);
    EXPECT_EQ(patches[30], Complex(3.0f, -1.0f));
    ++callbacks;
    return true;
  });
  const auto got = nested.execute(frames);
  EXPECT_EQ(callbacks, 6);
  EXPECT_EQ(got.shifts, expected.shifts);
  EXPECT_EQ(got.confidence, expected.confidence);
}

// cuFFT plans are made for the geometry's batch of f frames and for one
// frame, never for a call's frame count: after the first calls, scenes of
// any number of frames make no plan (a plan of a large frame costs up to
// seconds). A budget holding a few frames makes f small.
TEST(EmulatedDevice, AlignmentPlanSizesDoNotDependOnTheFrameCount) {
  ptychopatch::Context ctx = gpu_context_with_budget(5000000);
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptp_align_desc desc = float_frames(64);
  // The coarse estimator alone.
  desc.verify = PTP_ALIGN_VERIFY_NONE;
  const std::vector<float> reference = textured(64);
  const std::vector<std::vector<float>> moved = rolled(reference, 64, 9, 2);
  ptychopatch::AlignPlan gpu(ctx, desc);
  ptychopatch::AlignPlan host(cpu, desc);
  gpu.set_reference(reference.data());
  host.set_reference(reference.data());
  const auto call = [&](ptychopatch::AlignPlan& plan, int count) {
    std::vector<const float*> frames;
    for (int i = 0; i < count; ++i) frames.push_back(moved[i].data());
    return plan.execute(frames);
  };
  call(gpu, 9);  // the geometry's plans: f frames and one
  const size_t plans = ptp_emu_cufft_plans_made();
  for (int count : {1, 2, 3, 5, 7, 8, 9, 4}) {
    const auto got = call(gpu, count);
    const auto want = call(host, count);
    EXPECT_EQ(ptp_emu_cufft_plans_made(), plans) << count << " frames made a cuFFT plan";
    ASSERT_EQ(got.shifts.size(), want.shifts.size());
    for (size_t i = 0; i < got.shifts.size(); ++i)
      EXPECT_NEAR(got.shifts[i], want.shifts[i], 1e-3) << count << " frames, value " << i;
  }
}

// Last: the library remembers a sticky error for the rest of the process.
// Device memory holding `values`, freed with the object.
template <class T>
struct EmulatedArray {
  explicit EmulatedArray(const std::vector<T>& values) : count(values.size()) {
    EXPECT_EQ(cudaMalloc(&data, bytes()), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data, values.data(), bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~EmulatedArray() { cudaFree(data); }
  EmulatedArray(const EmulatedArray&) = delete;
  EmulatedArray& operator=(const EmulatedArray&) = delete;
  size_t bytes() const { return count * sizeof(T); }
  std::vector<T> to_host() const {
    std::vector<T> values(count);
    EXPECT_EQ(cudaMemcpy(values.data(), data, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return values;
  }
  void* data = nullptr;
  size_t count;
};

// The work one device-array extraction puts on the caller's stream: every
// copy, fill, event and kernel, counted by the emulator.
struct StreamWork {
  size_t operations;
  size_t kernels;
};

StreamWork work_since(const StreamWork& before) {
  return StreamWork{ptp_emu_stream_operations() - before.operations,
                    ptp_emu_kernel_launches() - before.kernels};
}

StreamWork stream_work_now() {
  return StreamWork{ptp_emu_stream_operations(), ptp_emu_kernel_launches()};
}

// Issue 61: an extraction on device arrays is one launch, its offset check
// included (the check kernel and the reset of its flag were two more), for
// both layouts and both offset forms, good offsets or not; a bad offset
// still writes nothing and is reported, for a patch in any chunk the
// kernel's blocks check.
TEST(EmulatedDevice, DeviceArrayExtractionIsOneLaunch) {
  const int64_t h = 40, w = 48, n = 6, c = 4, groups = 700;  // 2800 patches: several chunks
  std::vector<float> object(h * w * 2);
  for (size_t i = 0; i < object.size(); ++i) object[i] = float(i % 97) * 0.25f - 3.0f;
  std::vector<float> pairs(2 * groups * c), global(2 * groups), local(2 * groups * c);
  for (size_t i = 0; i < pairs.size(); ++i) pairs[i] = float(i * 37 % 61) * 0.7f - 4.0f;
  for (size_t i = 0; i < global.size(); ++i) global[i] = float(i * 13 % 41) * 1.1f;
  for (size_t i = 0; i < local.size(); ++i) local[i] = float(i % 9) * 0.3f - 1.0f;
  const EmulatedArray<float> d_object(object), d_global(global), d_local(local);
  EmulatedArray<float> d_pairs(pairs);
  EmulatedArray<float> out(std::vector<float>(groups * c * n * n * 2, -9.0f));
  auto ctx = gpu_context_with_budget(0);
  for (const ptp_layout layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT}) {
    ptp_extract_desc desc;
    ptychopatch::check(ptp_extract_desc_init(&desc, sizeof desc));
    desc.height = h;
    desc.width = w;
    desc.patch_size = n;
    desc.group_size = c;
    desc.layout = layout;
    desc.object_dtype = PTP_DTYPE_COMPLEX64;
    desc.offset_dtype = PTP_DTYPE_FLOAT32;
    desc.memory = PTP_MEMORY_DEVICE;
    ptp_extract_plan* plan = nullptr;
    ASSERT_EQ(ptp_extract_plan_create(ctx.get(), &desc, &plan), PTP_SUCCESS);
    StreamWork before = stream_work_now();
    ASSERT_EQ(
        ptp_extract_execute(plan, d_object.data, d_pairs.data, groups * c, out.data, out.bytes()),
        PTP_SUCCESS);
    StreamWork work = work_since(before);
    EXPECT_EQ(work.operations, 1u) << "layout " << layout;
    EXPECT_EQ(work.kernels, 1u) << "layout " << layout;
    before = stream_work_now();
    ASSERT_EQ(ptp_extract_execute_legacy(plan, d_object.data, d_global.data, d_local.data, groups,
                                         out.data, out.bytes()),
              PTP_SUCCESS);
    work = work_since(before);
    EXPECT_EQ(work.operations, 1u) << "legacy, layout " << layout;
    EXPECT_EQ(work.kernels, 1u) << "legacy, layout " << layout;
    ASSERT_EQ(ptp_context_synchronize(ctx.get()), PTP_SUCCESS) << ptp_last_error_message();
    const std::vector<float> good = out.to_host();

    // A bad offset in the last chunk: one launch, nothing written.
    std::vector<float> bad = pairs;
    bad[2 * 2777 + 1] = std::numeric_limits<float>::quiet_NaN();
    ASSERT_EQ(cudaMemcpy(d_pairs.data, bad.data(), d_pairs.bytes(), cudaMemcpyHostToDevice),
              cudaSuccess);
    before = stream_work_now();
    ASSERT_EQ(
        ptp_extract_execute(plan, d_object.data, d_pairs.data, groups * c, out.data, out.bytes()),
        PTP_SUCCESS);
    work = work_since(before);
    EXPECT_EQ(work.operations, 1u);
    EXPECT_EQ(work.kernels, 1u);
    EXPECT_EQ(ptp_context_synchronize(ctx.get()), PTP_ERROR_NON_FINITE);
    EXPECT_TRUE(contains(ptp_last_error_message(), "1 call on device arrays"))
        << ptp_last_error_message();
    EXPECT_TRUE(contains(ptp_last_error_message(), "patch 2777 ")) << ptp_last_error_message();
    EXPECT_EQ(out.to_host(), good);
    ASSERT_EQ(cudaMemcpy(d_pairs.data, pairs.data(), d_pairs.bytes(), cudaMemcpyHostToDevice),
              cudaSuccess);
    ptp_extract_plan_destroy(plan);
  }
}

TEST(EmulatedDevice, StickyErrorIsReportedOnEveryLaterCall) {
  ptychopatch::Context ctx(PTP_BACKEND_GPU);
  ptychopatch::ExtractPlan<Complex> plan(ctx, 16, 16, 4, 1, PTP_LAYOUT_FLAT);
  const std::vector<Complex> object(16 * 16, Complex(1.0f, 2.0f));
  const std::vector<double> offsets = {3.0, 4.0, 8.5, 7.25};
  std::vector<Complex> out(2 * 16, Complex(-5.0f, -5.0f));
  plan.execute(object.data(), offsets.data(), 2, out.data(), out.size());
  EXPECT_EQ(out[5], Complex(1.0f, 2.0f));

  // The caller's own kernel faults on the shared CUDA context.
  ptp_emu_raise_sticky_error(cudaErrorIllegalAddress);
  std::vector<Complex> untouched(2 * 16, Complex(-5.0f, -5.0f));
  EXPECT_EQ(ptp_extract_execute(plan.get(), object.data(), offsets.data(), 2, untouched.data(),
                                untouched.size() * sizeof(Complex)),
            PTP_ERROR_CUDA);
  const std::string first = ptp_last_error_message();
  EXPECT_TRUE(contains(first, "cudaErrorIllegalAddress")) << first;
  EXPECT_TRUE(contains(first, "sticky")) << first;
  EXPECT_TRUE(contains(first, "unusable until the process ends")) << first;
  for (const Complex& v : untouched) ASSERT_EQ(v, Complex(-5.0f, -5.0f));

  // Every later call says the device is lost, whatever it asks.
  for (int call = 0; call < 2; ++call) {
    EXPECT_EQ(ptp_extract_execute(plan.get(), object.data(), offsets.data(), 2, untouched.data(),
                                  untouched.size() * sizeof(Complex)),
              PTP_ERROR_CUDA);
    const std::string later = ptp_last_error_message();
    EXPECT_TRUE(contains(later, "CUDA device 0 is unusable after a sticky CUDA error")) << later;
    EXPECT_TRUE(contains(later, "only a new process")) << later;
  }
  // New contexts do not pick the lost device, and say why.
  expect_unusable(PTP_BACKEND_REASON_GPU_UNUSABLE, {"sticky", "cudaErrorIllegalAddress"});
  // The CPU still works.
  ptychopatch::Context cpu(PTP_BACKEND_CPU);
  ptychopatch::ExtractPlan<Complex> cpu_plan(cpu, 16, 16, 4, 1, PTP_LAYOUT_FLAT);
  std::vector<Complex> cpu_out(2 * 16);
  cpu_plan.execute(object.data(), offsets.data(), 2, cpu_out.data(), cpu_out.size());
  EXPECT_EQ(cpu_out, out);
}

}  // namespace
