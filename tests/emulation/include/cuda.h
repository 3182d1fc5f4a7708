// Emulated CUDA device (tests only): the slice of the driver API's header
// that the library names. The driver functions themselves are reached, as in
// the real library, through cudaGetDriverEntryPointByVersion. See
// tests/emulation/emulator.hpp for what the emulation models.
#pragma once

#include <cstddef>

#define CUDAAPI

typedef struct CUctx_st* CUcontext;
typedef unsigned long long CUdeviceptr;

typedef enum CUresult_enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_NOT_FOUND = 500
} CUresult;
