// cuFFT for the alignment backend: failures as statuses, and the library
// itself reached in one of two ways, chosen when the library is built:
//  - PTYCHOPATCH_CUFFT_STATIC: libcufft_static is linked in (as cudart is),
//    so libptychopatch.so needs nothing from a toolkit at run time;
//  - otherwise (toolkits that ship only the shared cuFFT) libcufft.so.<major>
//    is opened with dlopen on first use, so the library still loads, and its
//    CPU path still works, on machines without cuFFT; there the GPU
//    backend says PTP_ERROR_UNSUPPORTED (naming the file), on which the
//    core makes the alignment plan on the CPU instead.
// Nothing here may abort: every cufftResult becomes an impl::Error.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstddef>
#include <cstdint>
#include <string>

// cuFFT's calling convention (its CUFFTAPI also carries a visibility
// attribute, which does not apply to a pointer).
#if defined(_WIN32)
#define PTP_CUFFT_CALL __stdcall
#else
#define PTP_CUFFT_CALL
#endif

namespace ptychopatch::impl::gpu::cufft {

// "CUFFT_INVALID_SIZE" etc.; "CUFFT_UNKNOWN_RESULT" for other values.
const char* result_name(cufftResult result);

// Throws Error unless result is CUFFT_SUCCESS: PTP_ERROR_OUT_OF_MEMORY for
// CUFFT_ALLOC_FAILED, else PTP_ERROR_CUDA; the message names `what` and the
// cufftResult.
void check(cufftResult result, const char* what);

// The entry points the backend uses.
struct Api {
  cufftResult(PTP_CUFFT_CALL* create)(cufftHandle*);
  cufftResult(PTP_CUFFT_CALL* destroy)(cufftHandle);
  cufftResult(PTP_CUFFT_CALL* set_auto_allocation)(cufftHandle, int);
  cufftResult(PTP_CUFFT_CALL* make_plan_many64)(cufftHandle, int, long long int*, long long int*,
                                                long long int, long long int, long long int*,
                                                long long int, long long int, cufftType,
                                                long long int, size_t*);
  cufftResult(PTP_CUFFT_CALL* set_work_area)(cufftHandle, void*);
  cufftResult(PTP_CUFFT_CALL* set_stream)(cufftHandle, cudaStream_t);
  cufftResult(PTP_CUFFT_CALL* exec_r2c)(cufftHandle, cufftReal*, cufftComplex*);
  cufftResult(PTP_CUFFT_CALL* exec_c2r)(cufftHandle, cufftComplex*, cufftReal*);
};

// The entry points, loaded once per process; throws PTP_ERROR_UNSUPPORTED
// (with the loader's reason) when cuFFT cannot be had.
const Api& api();

// Empty when api() succeeds, else its reason (loading cuFFT if need be).
std::string load_problem();

// One batched single-precision real transform over 2-D planes (or 1-D rows
// when rows == 1) in the in-place padded layout: each real plane is `rows`
// rows of `pitch` floats (pitch = 2 * (cols / 2 + 1)), its half spectrum
// `rows` rows of cols / 2 + 1 complex values in the same bytes. Made with
// automatic work-area allocation off: the caller provides work_bytes() of
// device memory with set_work_area before executing. Destroyed with the
// device it was made on current (the owner's job).
class Plan {
 public:
  Plan() = default;
  Plan(cufftType type, int64_t rows, int64_t cols, int64_t batch, cudaStream_t stream);
  ~Plan();
  Plan(Plan&& other) noexcept : api_(other.api_), handle_(other.handle_), work_(other.work_) {
    other.api_ = nullptr;
  }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  Plan& operator=(Plan&&) = delete;

  size_t work_bytes() const { return work_; }
  void set_work_area(void* work) const;
  // In place: `data` holds the padded real planes / their half spectra.
  void forward(float* data) const;
  void inverse(float* data) const;

 private:
  void configure(cufftType type, int64_t rows, int64_t cols, int64_t batch, cudaStream_t stream);

  const Api* api_ = nullptr;  // set while handle_ is a live plan
  cufftHandle handle_ = 0;
  size_t work_ = 0;
};

}  // namespace ptychopatch::impl::gpu::cufft
