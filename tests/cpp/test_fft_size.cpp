// The plane sides the default estimator transforms (align/fft_size.hpp),
// against a brute-force oracle: trial division of every size below.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "align/fft_size.hpp"

namespace {

using ptychopatch::impl::joint_plane_side;
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
  EXPECT_EQ(joint_plane_side(kTop), largest_fft_friendly_size(kTop));
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

TEST(FftSize, CameraPlanesAndTheBound) {
  EXPECT_EQ(joint_plane_side(1633), 1625);  // 16 MP 2:3 Bayer frame, 23 x 71
  EXPECT_EQ(joint_plane_side(2732), 2730);  // 8192 x 5464 sensor, 4 x 683
  EXPECT_EQ(joint_plane_side(2012), 2000);  // 6048 x 4024 sensor, 4 x 503
  EXPECT_EQ(joint_plane_side(3000), 3000);  // friendly already
  EXPECT_EQ(joint_plane_side(kFftFriendlyFrom - 1), kFftFriendlyFrom - 1);  // small: kept
  EXPECT_EQ(joint_plane_side(127), 127);
  // At most 2.7 % fewer from kFftFriendlyFrom on (the header's bound).
  for (int64_t n = kFftFriendlyFrom; n <= 100000; ++n) {
    const int64_t m = joint_plane_side(n);
    ASSERT_LE(m, n);
    ASSERT_LE((n - m) * 1000, n * 27) << n;
  }
}

}  // namespace
