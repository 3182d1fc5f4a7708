// PTP_HD marks the shared arithmetic of src/math/ that the CPU paths and the
// CUDA kernels both call: a __host__ __device__ inline function under nvcc,
// a plain inline function elsewhere.
#pragma once

#if defined(__CUDACC__)
#define PTP_HD __host__ __device__ __forceinline__
#else
#define PTP_HD inline
#endif
