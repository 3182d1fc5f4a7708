// pattern_family_detail::verdict (src/align/prepare/pattern_family.hpp) on site
// means made from known patterns: a Bayer or X-Trans sensor's means under
// the right family pass and under the other are doubted; grey scenes and
// colour differences within the means' noise tell nothing.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "align/prepare/pattern_family.hpp"

namespace {

using ptychopatch::impl::pattern_family_detail::verdict;

constexpr int32_t kXTrans[6][6] = {{1, 1, 0, 1, 1, 2}, {1, 1, 2, 1, 1, 0}, {2, 0, 1, 0, 2, 1},
                                   {1, 1, 2, 1, 1, 0}, {1, 1, 0, 1, 1, 2}, {0, 2, 1, 2, 0, 1}};
constexpr int32_t kRggb[2][2] = {{0, 1}, {1, 2}};

// The 36 site means of a sensor of colour levels `level` (red, green,
// blue) over a black level, each with noise of standard deviation `noise`.
template <class Colour>
void means_of(Colour colour, const std::array<double, 3>& level, double noise, std::mt19937& rng,
              double (&out)[36]) {
  std::normal_distribution<double> n(0.0, noise);
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) out[r * 6 + c] = 512.0 + level[colour(r, c)] + n(rng);
}

std::vector<int32_t> xtrans_colours(int a = 0, int b = 0) {
  std::vector<int32_t> out;
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) out.push_back(kXTrans[(r + a) % 6][(c + b) % 6]);
  return out;
}

const std::vector<int32_t> kBayerColours = {0, 1, 1, 2};

TEST(PatternFamily, EachFamilyPassesItselfAndDoubtsTheOther) {
  std::mt19937 rng(4);
  const auto bayer = [](int r, int c) { return kRggb[r % 2][c % 2]; };
  // Red and blue under green (a camera's raw levels), and nearly balanced.
  for (const std::array<double, 3>& level :
       {std::array<double, 3>{300.0, 700.0, 450.0}, std::array<double, 3>{620.0, 600.0, 580.0}}) {
    double m[36];
    means_of(bayer, level, 1.0, rng, m);
    EXPECT_EQ(verdict(m, 0.01, 2, kBayerColours), "");
    const std::string as_xtrans = verdict(m, 0.01, 6, xtrans_colours());
    EXPECT_NE(as_xtrans.find("does not look like an X-Trans mosaic"), std::string::npos)
        << as_xtrans;
    // X-Trans at another phase of its layout (a camera whose visible area
    // starts elsewhere): the other family is found at any phase.
    for (const auto& [a, b] : {std::pair<int, int>{0, 0}, {1, 4}, {3, 3}, {5, 2}}) {
      const auto xtrans = [a = a, b = b](int r, int c) {
        return kXTrans[(r + a) % 6][(c + b) % 6];
      };
      means_of(xtrans, level, 1.0, rng, m);
      EXPECT_EQ(verdict(m, 0.01, 6, xtrans_colours(a, b)), "") << a << " " << b;
      const std::string as_bayer = verdict(m, 0.01, 2, kBayerColours);
      EXPECT_NE(as_bayer.find("does not look like a Bayer mosaic"), std::string::npos)
          << a << " " << b << ": " << as_bayer;
    }
  }
}

// All colours at one level: the means' differences are noise, and no
// grouping explains them better than another.
TEST(PatternFamily, GreyScenesAreNotDoubted) {
  std::mt19937 rng(9);
  const std::array<double, 3> grey = {500.0, 500.0, 500.0};
  for (int k = 0; k < 200; ++k) {
    double m[36];
    means_of([](int, int) { return 0; }, grey, 3.0, rng, m);
    // The noise is the means' own (mean squared error 9) ...
    EXPECT_EQ(verdict(m, 9.0, 2, kBayerColours), "");
    EXPECT_EQ(verdict(m, 9.0, 6, xtrans_colours()), "");
  }
}

// Colour differences within the means' noise tell nothing, however well a
// grouping fits them.
TEST(PatternFamily, DifferencesWithinTheNoiseAreNotDoubted) {
  std::mt19937 rng(2);
  const auto bayer = [](int r, int c) { return kRggb[r % 2][c % 2]; };
  const std::array<double, 3> level = {300.0, 700.0, 450.0};
  double m[36];
  means_of(bayer, level, 0.0, rng, m);
  EXPECT_NE(verdict(m, 0.01, 6, xtrans_colours()), "");
  // T^2 here is about 2.5e4: with a mean squared error of 1e4 it is not
  // clear of the noise.
  EXPECT_EQ(verdict(m, 1e4, 6, xtrans_colours()), "");
}

}  // namespace

namespace {

// No pattern given (period 1): a Bayer or X-Trans sensor's means are taken
// for a mosaic of that family, a monochrome sensor's (one level, or even
// and odd columns a percent apart: a readout's fixed pattern) are not.
// Without the spread's floor the monochrome sensor's columns, grouped
// perfectly by the Bayer sites, are doubted; without the grouping's test a
// colourful but unpatterned set of means is.
TEST(PatternFamily, PlainImagesThatAreMosaicsAreDoubted) {
  std::mt19937 rng(6);
  const std::array<double, 3> camera = {300.0, 700.0, 450.0};
  double m[36];
  means_of([](int r, int c) { return kRggb[r % 2][c % 2]; }, camera, 1.0, rng, m);
  const std::string bayer = verdict(m, 0.01, 1, {});
  EXPECT_NE(bayer.find("does not look like a plain image"), std::string::npos) << bayer;
  EXPECT_NE(bayer.find("a Bayer mosaic"), std::string::npos) << bayer;
  means_of([](int r, int c) { return kXTrans[(r + 2) % 6][(c + 5) % 6]; }, camera, 1.0, rng, m);
  const std::string xtrans = verdict(m, 0.01, 1, {});
  EXPECT_NE(xtrans.find("an X-Trans mosaic"), std::string::npos) << xtrans;

  // A monochrome sensor: one level; even and odd columns 1 % apart.
  means_of([](int, int) { return 0; }, camera, 1.0, rng, m);
  EXPECT_EQ(verdict(m, 0.01, 1, {}), "");
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) m[r * 6 + c] = 800.0 * (c % 2 ? 1.01 : 0.99);
  EXPECT_EQ(verdict(m, 0.01, 1, {}), "");
  // Levels spread like colours but in no family's grouping.
  std::uniform_real_distribution<double> level(300.0, 900.0);
  for (double& v : m) v = level(rng);
  EXPECT_EQ(verdict(m, 0.01, 1, {}), "");
}

}  // namespace
