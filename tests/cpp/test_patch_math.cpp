// The __host__ __device__ formula header, tested on the CPU: the same code
// the CUDA kernel compiles.
#include <gtest/gtest.h>

#include <cmath>

#include "math/patch_indexing.hpp"
#include "math/patch_sampling.hpp"

namespace {

using ptychopatch::math::axis_tap;
using ptychopatch::math::blend;
using ptychopatch::math::inside;

TEST(PatchMath, IntegerOffsetsHaveZeroFraction) {
  const auto t = axis_tap(3, 10.0f);
  EXPECT_EQ(t.index0, 13);
  EXPECT_EQ(t.w0, 1.0f);
  EXPECT_EQ(t.w1, 0.0f);
}

TEST(PatchMath, NegativeFractionsFloorDownward) {
  const auto t = axis_tap(0, -0.25f);
  EXPECT_EQ(t.index0, -1);
  EXPECT_EQ(t.w1, 0.75f);
  EXPECT_EQ(t.w0, 0.25f);
}

TEST(PatchMath, HugeOffsetsClampWithoutOverflow) {
  EXPECT_EQ(axis_tap(0, 3e38f).index0, int64_t{1} << 62);
  EXPECT_EQ(axis_tap(5, -3e38f).index0, -(int64_t{1} << 62));
  EXPECT_FALSE(inside(axis_tap(0, 3e38f).index0 + 1, 32, 1000));
}

TEST(PatchMath, InsideIsTheUnpaddedObject) {
  EXPECT_FALSE(inside(1, 2, 5));
  EXPECT_TRUE(inside(2, 2, 5));
  EXPECT_TRUE(inside(6, 2, 5));
  EXPECT_FALSE(inside(7, 2, 5));
}

TEST(PatchMath, BlendFollowsTheSpecTermOrder) {
  const float ax = 0.7f, bx = 0.3f, ay = 0.6f, by = 0.4f;
  const float v[4] = {1.1f, -2.3f, 0.37f, 5.9f};
  const float want = ax * ay * v[0] + bx * ay * v[1] + ax * by * v[2] + bx * by * v[3];
  EXPECT_EQ(blend(ax, bx, ay, by, v[0], v[1], v[2], v[3]), want);
  EXPECT_EQ(blend(1.0f, 0.0f, 1.0f, 0.0f, 4.5f, 9.0f, 9.0f, 9.0f), 4.5f);
}

TEST(PatchMath, SamplePixelReadsZeroOutsideAndTheCornerInside) {
  // 2 x 3 complex object.
  const float obj[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  float out[2] = {-1, -1};
  // h = 1; padded (1, 1) is object (0, 0); integer tap reads it exactly.
  ptychopatch::math::sample_pixel<2>(obj, 2, 3, 1, {1, 1.0f, 0.0f}, {1, 1.0f, 0.0f}, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 2.0f);
  ptychopatch::math::sample_pixel<2>(obj, 2, 3, 1, {-50, 0.5f, 0.5f}, {1, 1.0f, 0.0f}, out);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  // Half way between object (1, 1) and (1, 2): mean of 9 and 11 (real).
  ptychopatch::math::sample_pixel<2>(obj, 2, 3, 1, {2, 0.5f, 0.5f}, {2, 1.0f, 0.0f}, out);
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[1], 11.0f);
}

TEST(PatchMath, OutputIndexLayouts) {
  using ptychopatch::math::output_index;
  // flat (P, N, N): patch 2, (1, 3), N = 4
  EXPECT_EQ(output_index(false, 2, 1, 3, 4, 4), (2 * 4 + 1) * 4 + 3);
  // channel (B, N, N, c): patch 6 = group 1 member 2 of c = 4
  EXPECT_EQ(output_index(true, 6, 1, 3, 4, 4), ((1 * 4 + 1) * 4 + 3) * 4 + 2);
}

TEST(PatchMath, LegacyOffsetsIndexGlobalAndLocal) {
  const double global[4] = {10, 20, 30, 40};
  const double local[8] = {0.5, 1.5, -0.5, -1.5, 2, 3, 4, 5};  // (2, 1, 2, 2)
  ptychopatch::math::LegacyOffsets<double> src{global, local, 2};
  float x = 0, y = 0;
  src.get(3, x, y);  // group 1, member 1
  EXPECT_EQ(x, 33.0f);
  EXPECT_EQ(y, 45.0f);
}

}  // namespace
