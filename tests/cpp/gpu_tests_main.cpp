// main() of the GPU test program built against the emulated CUDA device
// (tests/emulation/). The same test sources are built a second time against
// the real CUDA runtime and library (ptychopatch_gpu_tests) wherever nvcc
// exists; ctest knows only this program, so that `ctest -L gpu` runs every
// GPU test on whatever device the machine has:
//  - a usable NVIDIA driver with a device, and the real program built: this
//    process becomes the real program (same arguments), so the tests run on
//    the GPU;
//  - otherwise the tests run here, on the emulated device.
// PTYCHOPATCH_GPU_TESTS=emulated or =device forces one (device fails when
// no GPU or no real program is there). Each run says which it used.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// Asks the NVIDIA driver directly (libcuda), so that this program, linked
// against the emulator, never touches the real CUDA runtime.
int real_device_count() {
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) return 0;
  using Init = int (*)(unsigned int);
  using Count = int (*)(int*);
  auto init = reinterpret_cast<Init>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<Count>(dlsym(driver, "cuDeviceGetCount"));
  int devices = 0;
  if (init == nullptr || count == nullptr || init(0) != 0 || count(&devices) != 0) devices = 0;
  dlclose(driver);
  return devices;
}

}  // namespace

int main(int argc, char** argv) {
  const char* choice = std::getenv("PTYCHOPATCH_GPU_TESTS");
  const std::string mode = choice != nullptr ? choice : "auto";
  if (mode != "auto" && mode != "emulated" && mode != "device") {
    std::fprintf(stderr, "PTYCHOPATCH_GPU_TESTS=%s: expected auto, emulated or device\n",
                 mode.c_str());
    return 2;
  }
#if defined(PTP_DEVICE_TEST_PROGRAM)
  const char* device_program = PTP_DEVICE_TEST_PROGRAM;
#else
  const char* device_program = nullptr;
#endif
  if (mode != "emulated") {
    const int devices = real_device_count();
    const bool have_program = device_program != nullptr && access(device_program, X_OK) == 0;
    if (devices > 0 && have_program) {
      std::fprintf(stderr,
                   "[ptychopatch] %d CUDA device(s): running the GPU tests on the GPU (%s)\n",
                   devices, device_program);
      std::fflush(stderr);
      argv[0] = const_cast<char*>(device_program);
      execv(device_program, argv);
      std::fprintf(stderr, "[ptychopatch] cannot start %s: %s\n", device_program,
                   std::strerror(errno));
      return 1;
    }
    if (mode == "device") {
      std::fprintf(stderr, "[ptychopatch] PTYCHOPATCH_GPU_TESTS=device, but %s\n",
                   devices == 0 ? "no CUDA device is usable (libcuda.so.1, cuInit)"
                                : "this build has no real-GPU test program (built without nvcc)");
      return 1;
    }
  }
  std::fprintf(stderr, "[ptychopatch] running the GPU tests on the emulated CUDA device\n");
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
