#include "core/context.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/desc_versions.hpp"
#include "core/error.hpp"
#include "core/gpu_runtime.hpp"
#include "core/thread_pool.hpp"

namespace ptychopatch::impl {

void default_context_options(ptp_context_options* options) {
  *options = ptp_context_options{};
  options->struct_size = sizeof(ptp_context_options);
  options->backend = PTP_BACKEND_AUTO;
}

namespace {

// The default thread count: OMP_NUM_THREADS's first value where it is set
// (the convention batch schedulers and BLAS follow), else every processor
// this process may run on.
int32_t default_threads() {
  if (const char* text = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end != text && value > 0 && (*end == '\0' || *end == ',')) {
      return static_cast<int32_t>(std::min<long>(value, INT32_MAX));
    }
  }
  return available_processors();
}

}  // namespace

ptp_context make_context(const ptp_context_options* options) {
  ptp_context_options opts;
  default_context_options(&opts);
  if (options != nullptr) opts = *current_desc(options, "options");
  if (opts.backend != PTP_BACKEND_AUTO && opts.backend != PTP_BACKEND_CPU &&
      opts.backend != PTP_BACKEND_GPU)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "options->backend is " + std::to_string(opts.backend) + ", not a ptp_backend value");
  if (opts.num_threads < 0)
    fail(PTP_ERROR_INVALID_SIZE,
         "options->num_threads is " + std::to_string(opts.num_threads) + ", must be >= 0");
  if (opts.device < 0)
    fail(PTP_ERROR_INVALID_ARGUMENT,
         "options->device is " + std::to_string(opts.device) + ", must be >= 0");
  if (opts.reserved0 != 0) fail(PTP_ERROR_INVALID_ARGUMENT, "options->reserved0 must be 0");

  ptp_context ctx{};
  // More threads than processors gains nothing: cap the request.
  const int32_t processors = available_processors();
  ctx.num_threads =
      std::min(opts.num_threads > 0 ? opts.num_threads : default_threads(), processors);
  ctx.device = opts.device;
  ctx.device_memory_budget = opts.device_memory_budget;
  ctx.backend = PTP_BACKEND_CPU;
  ctx.backend_reason = PTP_BACKEND_REASON_CPU_REQUESTED;
  ctx.backend_message = "the CPU backend was requested";
  if (opts.backend != PTP_BACKEND_CPU) {
    gpu::DeviceCheck check = gpu::check_device(opts.device);
    if (check.reason == PTP_BACKEND_REASON_GPU) {
      ctx.gpu_workspace = gpu::make_workspace(ctx.device, ctx.device_memory_budget);
      ctx.backend = PTP_BACKEND_GPU;
    } else if (opts.backend == PTP_BACKEND_GPU) {
      fail(PTP_ERROR_BACKEND_UNAVAILABLE, "the GPU backend was requested but " + check.message);
    }
    ctx.backend_reason = check.reason;
    ctx.backend_message = std::move(check.message);
  }
  return ctx;
}

ptp_context& shared_default_context() {
  static ptp_context* const context = new ptp_context(make_context(nullptr));
  return *context;
}

}  // namespace ptychopatch::impl
