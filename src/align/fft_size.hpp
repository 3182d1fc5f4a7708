// Plane sides that FFT libraries transform fast. The default estimator
// (joint peak, Hann window) transforms planes of such sides: a side with a
// large prime factor (1633 = 23 x 71 rows of a 16 MP Bayer frame's planes,
// 2732 = 4 x 683 of a 45 MP one) is trimmed at its end to the nearest such
// size below, where the window weighs the rows least. FFTW has no
// hard-coded codelets for large primes (its generic ones cost O(p) per
// point, docs/performance.md "Large frames"); cuFFT's documentation names
// 2^a 3^b 5^c 7^d as the sizes it is optimised for. Trimming drops at most
// 2.7 % of the rows or columns (n = 374 becomes 364); the estimators that
// scikit-image or RawNIND reproduce keep every row.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ptychopatch::impl {

// Planes with fewer rows (columns) than this keep them all: their
// transforms are cheap at any size, and the fewer rows would weigh more.
constexpr int64_t kFftFriendlyFrom = 256;

// The largest m <= n (n >= 1) of the form 2^a 3^b 5^c 7^d 11^e 13^f with
// e + f <= 1: the sizes FFTW's documentation names as its fastest.
inline int64_t largest_fft_friendly_size(int64_t n) {
  int64_t best = 1;
  for (const int64_t eleven_or_thirteen : {int64_t{1}, int64_t{11}, int64_t{13}})
    for (int64_t p7 = eleven_or_thirteen; p7 <= n; p7 *= 7)
      for (int64_t p5 = p7; p5 <= n; p5 *= 5)
        for (int64_t p3 = p5; p3 <= n; p3 *= 3) {
          int64_t m = p3;
          while (m <= n / 2) m *= 2;
          best = std::max(best, m);
        }
  return best;
}

// The smallest m >= n (n >= 1) of that form: the padded sides of RawNIND's
// method, whose zero padding may have any length from 2n - 1 on. (Called
// once a plan; such sizes are never more than a few percent apart.)
inline int64_t smallest_fft_friendly_size(int64_t n) {
  for (int64_t m = n;; ++m)
    if (largest_fft_friendly_size(m) == m) return m;
}

// The side the default estimator transforms for a plane side of n.
inline int64_t joint_plane_side(int64_t n) {
  return n < kFftFriendlyFrom ? n : largest_fft_friendly_size(n);
}

}  // namespace ptychopatch::impl
