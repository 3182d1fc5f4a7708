// Fixed-width vector lanes (GCC/Clang vector extensions) for row kernels whose
// per-lane sums in mixed float and double GCC's vectoriser leaves scalar. Each
// lane performs the IEEE operations of the scalar loop it stands for, so the
// results keep their bits; an AVX2 clone holds a vector in one register, the
// baseline in two.
#pragma once

#include <cstdint>
#include <cstring>

namespace ptychopatch::impl::cpu {

typedef float Floats4 __attribute__((vector_size(16)));
typedef float Floats8 __attribute__((vector_size(32)));
typedef double Doubles4 __attribute__((vector_size(32)));
typedef int32_t Ints4 __attribute__((vector_size(16)));
typedef int32_t Ints8 __attribute__((vector_size(32)));
typedef int64_t Longs4 __attribute__((vector_size(32)));

// Unaligned loads and stores. (Vectors go by reference or in macros: passing
// 32-byte vectors by value depends on AVX.)
template <class V, class T>
inline __attribute__((always_inline)) void load_lanes(V& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class V, class T>
inline __attribute__((always_inline)) void store_lanes(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace ptychopatch::impl::cpu

// Lane-wise std::max(a, b), NaN in b included: (a < b) ? b : a.
#define PTP_MAX_LANES(a, b) ((a) < (b) ? (b) : (a))
// Lane-wise fabs of Floats4 / Doubles4: the sign bit cleared.
#define PTP_ABS_FLOATS4(v) \
  ((::ptychopatch::impl::cpu::Floats4)((::ptychopatch::impl::cpu::Ints4)(v)&0x7fffffff))
#define PTP_ABS_DOUBLES4(v)              \
  ((::ptychopatch::impl::cpu::Doubles4)( \
      (::ptychopatch::impl::cpu::Longs4)(v)&INT64_C(0x7fffffffffffffff)))
// Float lanes to double lanes and back (round to nearest).
#define PTP_WIDEN4(v) __builtin_convertvector((v), ::ptychopatch::impl::cpu::Doubles4)
#define PTP_NARROW4(v) __builtin_convertvector((v), ::ptychopatch::impl::cpu::Floats4)
