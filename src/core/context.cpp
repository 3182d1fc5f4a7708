#include "core/context.hpp"

#include <omp.h>

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "core/gpu_runtime.hpp"

namespace ptychopatch::impl {

void default_context_options(ptp_context_options* options) {
  *options = ptp_context_options{};
  options->struct_size = sizeof(ptp_context_options);
  options->backend = PTP_BACKEND_AUTO;
}

ptp_context make_context(const ptp_context_options* options) {
  ptp_context_options opts;
  default_context_options(&opts);
  if (options != nullptr) {
    require_known_struct_size("options->struct_size", options->struct_size,
                              sizeof(ptp_context_options));
    opts = *options;
  }
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
  // More threads than processors gains nothing, and an OpenMP runtime that
  // cannot create a thread ends the process: cap the request.
  const int32_t processors = std::max(1, omp_get_num_procs());
  ctx.num_threads = opts.num_threads > 0 ? std::min(opts.num_threads, processors)
                                         : std::min(omp_get_max_threads(), processors);
  ctx.device = opts.device;
  ctx.device_memory_budget = opts.device_memory_budget;
  ctx.backend = PTP_BACKEND_CPU;
  ctx.backend_reason = PTP_BACKEND_REASON_CPU_REQUESTED;
  ctx.backend_message = "the CPU backend was requested";
  if (opts.backend != PTP_BACKEND_CPU) {
    gpu::DeviceCheck check = gpu::check_device(opts.device);
    if (check.reason == PTP_BACKEND_REASON_GPU) {
      ctx.gpu_workspace = gpu::make_workspace(ctx.device);
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
