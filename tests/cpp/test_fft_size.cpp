// The plane sides the default estimator transforms (fft/fft_size.hpp),
// against a brute-force oracle: trial division of every size below.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "fft/fft_size.hpp"

namespace {

using ptychopatch::impl::fft_friendly_side;
using ptychopatch::impl::kFftFriendlyFrom;
using ptychopatch::impl::largest_fft_friendly_size;
using ptychopatch::impl::smallest_fft_friendly_size;

// 2^a 3^b 5^c 7^d 11^e 13^f with e + f <= 1.
bool friendly(int64_t n) {
  for (const int64_t p : {2, 3, 5, 7})
    while (n % p == 0) n /= p;
  return n == 1 || n == 11 || n == 13;
}

int64_t brute_force(int64_t n) {
  while (!friendly(n)) --n;
  return n;
}

TEST(FftSize, LargestFriendlySizeIsTheBruteForceOne) {
  for (int64_t n = 1; n <= 20000; ++n) ASSERT_EQ(largest_fft_friendly_size(n), brute_force(n)) << n;
  for (const int64_t n :
       {int64_t{65521}, int64_t{1000003}, int64_t{16777259}, (int64_t{1} << 31) - 1})
    EXPECT_EQ(largest_fft_friendly_size(n), brute_force(n)) << n;
}

// Sides near INT64_MAX (a fuzzed or mistaken frame size): the search ends,
// without signed overflow, on a friendly size <= n. It spun forever there
// when each loop tested p * k <= n.
TEST(FftSize, LargestFriendlySizeEndsNearTheTopOfInt64) {
  constexpr int64_t kTop = std::numeric_limits<int64_t>::max();
  for (const int64_t n : {kTop, kTop - 1, kTop / 2, kTop / 7 + 1, int64_t{1} << 62}) {
    const int64_t m = largest_fft_friendly_size(n);
    EXPECT_LE(m, n) << n;
    EXPECT_TRUE(friendly(m)) << n;
    EXPECT_GT(m, n / 2) << n;  // a power of two alone gets that far
  }
  EXPECT_EQ(largest_fft_friendly_size(int64_t{1} << 62), int64_t{1} << 62);
  const int64_t side = fft_friendly_side(kTop);
  EXPECT_LE(side, kTop);
  EXPECT_GE(side, kTop - kTop / 32);
  EXPECT_TRUE(friendly(side));
}

TEST(FftSize, SmallestFriendlySizeIsTheBruteForceOne) {
  const auto brute_force_up = [](int64_t n) {
    while (!friendly(n)) ++n;
    return n;
  };
  for (int64_t n = 1; n <= 20000; ++n)
    ASSERT_EQ(smallest_fft_friendly_size(n), brute_force_up(n)) << n;
  for (const int64_t n : {int64_t{4023}, int64_t{9003}, int64_t{65521}, int64_t{1000003}})
    EXPECT_EQ(smallest_fft_friendly_size(n), brute_force_up(n)) << n;
  EXPECT_EQ(smallest_fft_friendly_size(2 * 2012 - 1), 4032);  // not 4024 = 8 x 503
  // Up to the top of its range: friendly, >= n, and nothing friendly
  // between (checked against the largest friendly size below it).
  for (const int64_t n : {(int64_t{1} << 31) + 19, (int64_t{1} << 31) - 1, int64_t{4294967291},
                          (int64_t{1} << 62) - 1, int64_t{1} << 62}) {
    const int64_t m = smallest_fft_friendly_size(n);
    EXPECT_GE(m, n) << n;
    EXPECT_TRUE(friendly(m)) << n;
    EXPECT_LT(largest_fft_friendly_size(m - 1), n) << n;
  }
}

// The number of factors of 2 of n > 0, and whether n is 2^a 3^b 5^c 7^d.
int twos(int64_t n) {
  int k = 0;
  for (; n % 2 == 0; n /= 2) ++k;
  return k;
}
bool seven_smooth(int64_t n) {
  for (const int64_t p : {2, 3, 5, 7})
    while (n % p == 0) n /= p;
  return n == 1;
}

TEST(FftSize, CameraPlanesAndTheBound) {
  EXPECT_EQ(fft_friendly_side(1633), 1600);  // 16 MP 2:3 Bayer frame, 23 x 71 (not 1625 = 5^3 13)
  EXPECT_EQ(fft_friendly_side(2732), 2688);  // 8192 x 5464 sensor, 4 x 683 (2^7 3 7)
  EXPECT_EQ(fft_friendly_side(2012), 2000);  // 6048 x 4024 sensor, 4 x 503
  EXPECT_EQ(fft_friendly_side(816), 800);    // 4 MP Bayer luminance image (not 810)
  EXPECT_EQ(fft_friendly_side(1224), 1200);  // (not 1215, odd)
  EXPECT_EQ(fft_friendly_side(3000), 3000);  // 2^3 3 5^3: more 2s than 2916 or 2940
  EXPECT_EQ(fft_friendly_side(269), 264);    // no 7-smooth size in 261-269: 264 = 2^3 3 11
  EXPECT_EQ(fft_friendly_side(kFftFriendlyFrom - 1), kFftFriendlyFrom - 1);  // small: kept
  EXPECT_EQ(fft_friendly_side(127), 127);
  // From kFftFriendlyFrom on, against a brute-force oracle: the 7-smooth
  // size within n / 32 below n with the most 2s, the larger on a tie; else
  // the largest friendly one (at most 2.7 % fewer).
  for (int64_t n = kFftFriendlyFrom; n <= 30000; ++n) {
    int64_t expected = 0;
    for (int64_t m = n; m >= n - n / 32; --m)
      if (seven_smooth(m) && (expected == 0 || twos(m) > twos(expected))) expected = m;
    if (expected == 0) {
      expected = brute_force(n);
      ASSERT_LE((n - expected) * 1000, n * 27) << n;
    }
    ASSERT_EQ(fft_friendly_side(n), expected) << n;
  }
}

}  // namespace
