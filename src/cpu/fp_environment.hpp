// The floating-point environment the CPU kernels need to match the GPU bit
// for bit, shared by extraction and reassembly: IEEE subnormals on the
// calling thread, and AVX2 clones of the row kernels that perform the same
// IEEE operations per lane as the baseline.
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

// Clone a row kernel for AVX2 where GCC can dispatch at load time. AVX2
// without FMA: the same IEEE operations per lane, so results stay bitwise
// identical to the baseline clone and to the GPU.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PTP_ROW_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PTP_ROW_KERNEL_CLONES
#endif

namespace ptychopatch::impl::cpu {

// IEEE subnormals for the lifetime of a scope on this thread. A caller (or a
// library loaded with -ffast-math, or an OpenMP worker) may have set
// flush-to-zero or denormals-are-zero; the GPU keeps subnormals, and so must
// we to stay bitwise identical to it, and for the sums to be the same on
// every thread and for every thread count.
class IeeeSubnormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  IeeeSubnormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ & ~kFlushBits);
  }
  ~IeeeSubnormals() {
    _mm_setcsr(saved_);
  }

 private:
  static constexpr unsigned kFlushBits = 0x8040;  // MXCSR FTZ (bit 15) | DAZ (bit 6)
  unsigned saved_;
#endif
};

}  // namespace ptychopatch::impl::cpu
