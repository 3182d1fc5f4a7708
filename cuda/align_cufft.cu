#include "align_cufft.cuh"

#include <string>

#include "core/error.hpp"

#if !defined(PTYCHOPATCH_CUFFT_STATIC)
#include <dlfcn.h>

#include <mutex>
#endif

namespace ptychopatch::impl::gpu::cufft {
namespace {

#define PTP_CUFFT_STRINGIFY2(x) #x
#define PTP_CUFFT_STRINGIFY(x) PTP_CUFFT_STRINGIFY2(x)

#if defined(PTYCHOPATCH_CUFFT_STATIC)

Api linked_api() {
  Api a{};
  a.create = &cufftCreate;
  a.destroy = &cufftDestroy;
  a.set_auto_allocation = &cufftSetAutoAllocation;
  a.make_plan_many64 = &cufftMakePlanMany64;
  a.set_work_area = &cufftSetWorkArea;
  a.set_stream = &cufftSetStream;
  a.exec_r2c = &cufftExecR2C;
  a.exec_c2r = &cufftExecC2R;
  return a;
}

#else

// The soname of the cuFFT this library was compiled against; its ABI is
// stable within a major version.
constexpr const char* kSoname = "libcufft.so." PTP_CUFFT_STRINGIFY(CUFFT_VER_MAJOR);

struct Loaded {
  Api api{};
  std::string problem;  // empty when every entry point was found
};

template <class Fn>
bool resolve(void* handle, const char* name, Fn& fn, std::string& problem) {
  void* symbol = dlsym(handle, name);
  if (symbol == nullptr) {
    problem = std::string(kSoname) + " has no symbol " + name;
    return false;
  }
  fn = reinterpret_cast<Fn>(symbol);
  return true;
}

Loaded load() {
  Loaded loaded;
  dlerror();
  void* handle = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
#if defined(PTYCHOPATCH_CUFFT_DIR)
  // The toolkit this library was built with, for build trees and machines
  // whose loader path does not list the toolkit.
  if (handle == nullptr) {
    const std::string fallback = std::string(PTYCHOPATCH_CUFFT_DIR) + "/" + kSoname;
    handle = dlopen(fallback.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
#endif
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.problem = std::string("cuFFT (") + kSoname +
                     ") cannot be loaded: " + (why != nullptr ? why : "not found") +
                     "; scene alignment runs on the CPU";
    return loaded;
  }
  // Never closed: the handle lives as long as the process.
  Api& a = loaded.api;
  std::string& p = loaded.problem;
  (void)(resolve(handle, "cufftCreate", a.create, p) &&
         resolve(handle, "cufftDestroy", a.destroy, p) &&
         resolve(handle, "cufftSetAutoAllocation", a.set_auto_allocation, p) &&
         resolve(handle, "cufftMakePlanMany64", a.make_plan_many64, p) &&
         resolve(handle, "cufftSetWorkArea", a.set_work_area, p) &&
         resolve(handle, "cufftSetStream", a.set_stream, p) &&
         resolve(handle, "cufftExecR2C", a.exec_r2c, p) &&
         resolve(handle, "cufftExecC2R", a.exec_c2r, p));
  return loaded;
}

#endif

}  // namespace

const char* result_name(cufftResult result) {
  switch (result) {
    case CUFFT_SUCCESS:
      return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_TYPE:
      return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA:
      return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE:
      return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE:
      return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED:
      return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED:
      return "CUFFT_NOT_SUPPORTED";
    case CUFFT_MISSING_DEPENDENCY:
      return "CUFFT_MISSING_DEPENDENCY";
    case CUFFT_NVRTC_FAILURE:
      return "CUFFT_NVRTC_FAILURE";
    case CUFFT_NVJITLINK_FAILURE:
      return "CUFFT_NVJITLINK_FAILURE";
    case CUFFT_NVSHMEM_FAILURE:
      return "CUFFT_NVSHMEM_FAILURE";
    default:
      return "CUFFT_UNKNOWN_RESULT";
  }
}

void check(cufftResult result, const char* what) {
  if (result == CUFFT_SUCCESS) return;
  cudaGetLastError();  // a launch failure inside cuFFT may leave a non-sticky error behind
  const ptp_status status = result == CUFFT_ALLOC_FAILED ? PTP_ERROR_OUT_OF_MEMORY : PTP_ERROR_CUDA;
  fail(status, std::string(what) + " failed: " + result_name(result) + " (" +
                   std::to_string(static_cast<int>(result)) + ")");
}

#if !defined(PTYCHOPATCH_CUFFT_STATIC)
namespace {
const Loaded& loaded_once() {
  static const Loaded loaded = load();
  return loaded;
}
}  // namespace
#endif

const Api& api() {
#if defined(PTYCHOPATCH_CUFFT_STATIC)
  static const Api linked = linked_api();
  return linked;
#else
  const Loaded& loaded = loaded_once();
  if (!loaded.problem.empty()) fail(PTP_ERROR_UNSUPPORTED, loaded.problem);
  return loaded.api;
#endif
}

std::string load_problem() {
#if defined(PTYCHOPATCH_CUFFT_STATIC)
  return {};
#else
  return loaded_once().problem;
#endif
}

Plan::Plan(cufftType type, int64_t rows, int64_t cols, int64_t batch, cudaStream_t stream) {
  const Api& a = api();
  check(a.create(&handle_), "cufftCreate");
  api_ = &a;
  try {
    configure(type, rows, cols, batch, stream);
  } catch (...) {
    a.destroy(handle_);
    api_ = nullptr;
    throw;
  }
}

void Plan::configure(cufftType type, int64_t rows, int64_t cols, int64_t batch,
                     cudaStream_t stream) {
  const Api& a = *api_;
  check(a.set_auto_allocation(handle_, 0), "cufftSetAutoAllocation");
  const long long half = cols / 2 + 1;
  const long long pitch = 2 * half;
  const bool forward = type == CUFFT_R2C;
  // Real side: rows x pitch floats; complex side: rows x half values.
  long long real_embed[2] = {rows, pitch};
  long long complex_embed[2] = {rows, half};
  long long* in_embed = forward ? real_embed : complex_embed;
  long long* out_embed = forward ? complex_embed : real_embed;
  const long long real_dist = rows * pitch;
  const long long complex_dist = rows * half;
  const long long in_dist = forward ? real_dist : complex_dist;
  const long long out_dist = forward ? complex_dist : real_dist;
  if (rows == 1) {
    // One-row planes: a batch of 1-D transforms (the same layout).
    long long n[1] = {cols};
    check(a.make_plan_many64(handle_, 1, n, in_embed + 1, 1, in_dist, out_embed + 1, 1, out_dist,
                             type, batch, &work_),
          forward ? "cufftMakePlanMany64 (R2C)" : "cufftMakePlanMany64 (C2R)");
  } else {
    long long n[2] = {rows, cols};
    check(a.make_plan_many64(handle_, 2, n, in_embed, 1, in_dist, out_embed, 1, out_dist, type,
                             batch, &work_),
          forward ? "cufftMakePlanMany64 (R2C)" : "cufftMakePlanMany64 (C2R)");
  }
  check(a.set_stream(handle_, stream), "cufftSetStream");
}

Plan::~Plan() {
  if (api_ != nullptr) api_->destroy(handle_);
}

void Plan::set_work_area(void* work) const {
  check(api_->set_work_area(handle_, work), "cufftSetWorkArea");
}

void Plan::forward(float* data) const {
  check(api_->exec_r2c(handle_, reinterpret_cast<cufftReal*>(data),
                       reinterpret_cast<cufftComplex*>(data)),
        "cufftExecR2C");
}

void Plan::inverse(float* data) const {
  check(api_->exec_c2r(handle_, reinterpret_cast<cufftComplex*>(data),
                       reinterpret_cast<cufftReal*>(data)),
        "cufftExecC2R");
}

}  // namespace ptychopatch::impl::gpu::cufft
