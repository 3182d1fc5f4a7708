// Plane sides that FFT libraries transform fast. Scene alignment transforms
// luminance images of such sides: a side with a large prime factor (1633 = 23 x 71,
// 2732 = 4 x 683) is trimmed at its end, where the Hann window weighs the rows least,
// to a fast size at most n / 32 below (fft_friendly_side).
// FFTW has no hard-coded codelets for large primes (its generic ones cost
// O(p) per point, docs/performance.md "Large frames"); cuFFT's
// documentation names 2^a 3^b 5^c 7^d as the sizes it is optimised for.
// The estimators that scikit-image or RawNIND reproduce keep every row.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ptychopatch::impl {

// Planes with fewer rows (columns) than this keep them all: their
// transforms are cheap at any size, and the fewer rows would weigh more.
constexpr int64_t kFftFriendlyFrom = 256;

// Calls visit(q) for every odd part q <= limit (limit >= 1) of the sizes
// FFTW's documentation names as its fastest, 2^a 3^b 5^c 7^d 11^e 13^f with
// e + f <= 1. Each factor is multiplied in only while the product stays
// <= limit, tested as p <= limit / k: a test p * k <= limit would overflow,
// and never end, for a limit near INT64_MAX.
template <class Visit>
void for_each_odd_part(int64_t limit, Visit visit) {
  for (const int64_t eleven_or_thirteen : {int64_t{1}, int64_t{11}, int64_t{13}}) {
    if (eleven_or_thirteen > limit) continue;
    for (int64_t p7 = eleven_or_thirteen;; p7 *= 7) {
      for (int64_t p5 = p7;; p5 *= 5) {
        for (int64_t p3 = p5;; p3 *= 3) {
          visit(p3);
          if (p3 > limit / 3) break;
        }
        if (p5 > limit / 5) break;
      }
      if (p7 > limit / 7) break;
    }
  }
}

// The largest m <= n (n >= 1) of that form.
inline int64_t largest_fft_friendly_size(int64_t n) {
  int64_t best = 1;
  for_each_odd_part(n, [&](int64_t q) {
    while (q <= n / 2) q *= 2;
    best = std::max(best, q);
  });
  return best;
}

// The smallest m >= n (1 <= n <= 2^62) of that form: the padded sides of
// RawNIND's method, whose zero padding may have any length from 2n - 1 on.
// Each odd part up to the power of two at or above n is doubled up to n;
// the least of those wins. (A scan upward from n would test every size in
// between, and friendly sizes near 2^31 lie ~10^5 apart.)
inline int64_t smallest_fft_friendly_size(int64_t n) {
  int64_t power_of_two = 1;
  while (power_of_two < n) power_of_two *= 2;  // <= 2^62
  int64_t best = power_of_two;
  for_each_odd_part(power_of_two, [&](int64_t q) {
    while (q < n) q *= 2;  // q < n <= 2^62: no overflow
    best = std::min(best, q);
  });
  return best;
}

// The side the default estimator transforms for a plane side of n: of the
// sizes 2^a 3^b 5^c 7^d within n / 32 below n, the one with the most
// factors of 2 (the larger on a tie); where there is none (n = 269: none
// in 261-269), the largest FFT-friendly size. Why: FFTW's r2c and c2r
// take up to twice as long on odd sizes and sizes with few factors of 2
// or a factor of 11 or 13 (2D, one thread: 1625 rows 2.1x 1600's time,
// 1620 rows 1.4x, 1215 columns 1.9x 1200's; docs/notes/alignment.md,
// "The planes' sides").
inline int64_t fft_friendly_side(int64_t n) {
  if (n < kFftFriendlyFrom) return n;
  const int64_t least = n - n / 32;
  int64_t best = 0, best_twos = -1;
  for_each_odd_part(n, [&](int64_t q) {
    if (q % 11 == 0 || q % 13 == 0) return;
    int64_t m = q, twos = 0;
    while (m <= n / 2) {
      m *= 2;
      ++twos;
    }
    if (m < least) return;
    if (twos > best_twos || (twos == best_twos && m > best)) {
      best = m;
      best_twos = twos;
    }
  });
  return best > 0 ? best : largest_fft_friendly_size(n);
}

}  // namespace ptychopatch::impl
