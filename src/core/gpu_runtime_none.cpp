#include "core/gpu_runtime.hpp"

namespace ptychopatch::impl::gpu {

bool built_with_cuda() noexcept { return false; }

int32_t device_count() noexcept { return 0; }

std::string device_problem(int32_t) {
  return "this build of libptychopatch has no CUDA support (built with PTYCHOPATCH_CUDA=OFF)";
}

}  // namespace ptychopatch::impl::gpu
