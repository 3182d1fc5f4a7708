// The pieces of neighbour grouping that the public API cannot isolate: the
// random stream, seed selection, member draws, the Z-order permutation and
// numpy's summation order. Compiled in from src/ (the library exports only
// ptp_*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "group/group_coords.hpp"
#include "group/group_draw.hpp"
#include "group/random_stream.hpp"
#include "group/seed_selection.hpp"
#include "group/spatial_order.hpp"
#include "ptychopatch.h"

namespace {

using namespace ptychopatch::impl;

TEST(RandomStream, StreamsAreReproducibleAndIndependent) {
  RandomStream a(42, 7), b(42, 7), other_id(42, 8), other_seed(43, 7);
  int same_as_other = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = a.next();
    EXPECT_EQ(v, b.next());
    same_as_other += (v == other_id.next()) + (v == other_seed.next());
  }
  EXPECT_EQ(same_as_other, 0);
}

TEST(RandomStream, BelowIsUniformAndInRange) {
  // Chi-square over 7 bins (not a power of two): 70000 draws.
  RandomStream rng(1, 2);
  std::vector<int> bins(7);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = rng.below(7);
    ASSERT_LT(v, 7u);
    ++bins[v];
  }
  double chi2 = 0;
  for (int count : bins) chi2 += (count - 10000.0) * (count - 10000.0) / 10000.0;
  EXPECT_LT(chi2, 22.46);  // p = 0.001 at 6 degrees of freedom
  EXPECT_EQ(rng.below(1), 0u);
}

TEST(SeedSelection, SequentialTakesTheFirstIndicesAndCycles) {
  EXPECT_EQ(select_seeds(5, 3, true, 9), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(select_seeds(3, 7, true, 9), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(SeedSelection, RandomSeedsAreDistinctAndDependOnTheSeedOnly) {
  const auto a = select_seeds(1000, 400, false, 5);
  EXPECT_EQ(a, select_seeds(1000, 400, false, 5));
  EXPECT_NE(a, select_seeds(1000, 400, false, 6));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 400u);
  for (int64_t s : a) EXPECT_TRUE(s >= 0 && s < 1000);
  // All of them when num_groups == n, in a random order.
  auto all = select_seeds(50, 50, false, 1);
  EXPECT_FALSE(std::is_sorted(all.begin(), all.end()));
  std::sort(all.begin(), all.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(all, iota);
}

TEST(SeedSelection, OversamplingBalancesTheSeeds) {
  // 23 groups over 5 positions: each position 4 or 5 times.
  const auto seeds = select_seeds(5, 23, false, 3);
  std::map<int64_t, int> uses;
  for (int64_t s : seeds) ++uses[s];
  ASSERT_EQ(uses.size(), 5u);
  int fives = 0;
  for (auto [s, n] : uses) {
    EXPECT_TRUE(n == 4 || n == 5) << s;
    fives += n == 5;
  }
  EXPECT_EQ(fives, 3);
}

TEST(Binomial, ExactAndSaturated) {
  EXPECT_EQ(binomial_saturated(8, 4), 70u);
  EXPECT_EQ(binomial_saturated(4, 4), 1u);
  EXPECT_EQ(binomial_saturated(3, 4), 0u);
  EXPECT_EQ(binomial_saturated(62, 31), 465428353255261088u);
  EXPECT_EQ(binomial_saturated(1000, 500), kBinomialCap);
}

std::vector<std::vector<int32_t>> draw_all(int64_t pool, int64_t c, int64_t count, uint64_t seed) {
  std::vector<std::vector<int32_t>> groups(static_cast<size_t>(count));
  RandomStream rng(seed, 0);
  GroupDrawer drawer;
  drawer.draw(pool, c, count, rng, [&](int64_t j, const int32_t* members) {
    groups[static_cast<size_t>(j)].assign(members, members + c);
  });
  return groups;
}

std::vector<int32_t> sorted(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(GroupDrawer, OneGroupIsUniformOverSubsets) {
  // C(5, 2) = 10 subsets, 20000 draws from different streams.
  std::map<std::vector<int32_t>, int> counts;
  for (uint64_t seed = 0; seed < 20000; ++seed) {
    const auto g = draw_all(5, 2, 1, seed)[0];
    ASSERT_NE(g[0], g[1]);
    ++counts[sorted(g)];
  }
  ASSERT_EQ(counts.size(), 10u);
  double chi2 = 0;
  for (auto& [subset, n] : counts) chi2 += (n - 2000.0) * (n - 2000.0) / 2000.0;
  EXPECT_LT(chi2, 27.88);  // p = 0.001 at 9 degrees of freedom
}

TEST(GroupDrawer, DistinctCombinationsWhileTheyLast) {
  for (int64_t count : {2, 35, 36, 69, 70}) {  // rejection and enumeration regimes
    const auto groups = draw_all(8, 4, count, 11);
    std::set<std::vector<int32_t>> distinct;
    for (const auto& g : groups) {
      EXPECT_EQ(std::set<int32_t>(g.begin(), g.end()).size(), 4u);
      for (int32_t m : g) EXPECT_TRUE(m >= 0 && m < 8);
      distinct.insert(sorted(g));
    }
    EXPECT_EQ(distinct.size(), static_cast<size_t>(count)) << count;
  }
}

TEST(GroupDrawer, BeyondTheCombinationsEveryOneIsUsedEvenly) {
  // C(5, 3) = 10 combinations, 25 groups: each used 2 or 3 times.
  const auto groups = draw_all(5, 3, 25, 4);
  std::map<std::vector<int32_t>, int> uses;
  for (const auto& g : groups) ++uses[sorted(g)];
  EXPECT_EQ(uses.size(), 10u);
  for (auto& [combination, n] : uses) EXPECT_TRUE(n == 2 || n == 3);
  // A pool exactly the group size: one combination, members reordered.
  for (const auto& g : draw_all(4, 4, 3, 2))
    EXPECT_EQ(sorted(g), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(MortonOrder, IsAPermutationFollowingTheZCurve) {
  // A 4 x 4 grid listed row by row: the Z curve visits 2 x 2 blocks first.
  std::vector<double> x, y;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      x.push_back(c);
      y.push_back(r);
    }
  const auto order = morton_order(x.data(), y.data(), 16);
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15}));
}

TEST(MortonOrder, DegenerateExtentsKeepIndexOrder) {
  const std::vector<double> same(5, 3.0);
  EXPECT_EQ(morton_order(same.data(), same.data(), 5), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  const std::vector<double> huge{-1e308, 1e308, 0.0};
  const auto order = morton_order(huge.data(), same.data(), 3);  // extent overflows
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(morton_order(nullptr, nullptr, 0).empty());
  // A subnormal extent: 65535 / extent overflows to inf, and inf * 0 was a
  // NaN cast to an integer (UBSan, found by tests/fuzz/fuzz_group). The
  // points still sort along the axis.
  const double tiny = 4.9406564584124654e-324;  // the smallest subnormal
  const std::vector<double> subnormal{3 * tiny, 0.0, tiny, 2 * tiny};
  const std::vector<double> zeros(4, 0.0);
  EXPECT_EQ(morton_order(subnormal.data(), zeros.data(), 4), (std::vector<int64_t>{1, 2, 3, 0}));
}

// numpy's float64 pairwise sum, transcribed from numpy/_core/src/umath/
// loops_utils.h.src independently of the library's version.
double numpy_sum_reference(const std::vector<double>& a, size_t lo, size_t n) {
  if (n < 8) {
    double r = 0.0;
    for (size_t i = 0; i < n; ++i) r += a[lo + i];
    return r;
  }
  if (n <= 128) {
    std::vector<double> r(a.begin() + lo, a.begin() + lo + 8);
    size_t i = 8;
    for (; i + 8 <= n; i += 8)
      for (size_t j = 0; j < 8; ++j) r[j] += a[lo + i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[lo + i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_sum_reference(a, lo, n2) + numpy_sum_reference(a, lo + n2, n - n2);
}

TEST(NumpyPairwiseSum, MatchesNumpysOrderBitwise) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1e6);
  for (size_t n : {1, 4, 7, 8, 9, 15, 16, 17, 64, 128, 129, 300, 1000}) {
    std::vector<double> a(n);
    for (auto& v : a) v = normal(rng);
    const double want = numpy_sum_reference(a, 0, n);
    EXPECT_EQ(numpy_pairwise_sum(a.data(), static_cast<int64_t>(n)), want) << n;
  }
  // The order matters: a naive left-to-right sum differs for some input.
  std::vector<double> a{1e16, 1, -1e16, 1, 1, 1, 1, 1, 1};
  EXPECT_NE(numpy_pairwise_sum(a.data(), 9), std::accumulate(a.begin(), a.end(), 0.0));
}

TEST(GroupCoordinates, MeanAndNegatedRelative) {
  const double mx[3] = {1.0, 2.0, 6.0}, my[3] = {-3.0, 0.0, 0.0};
  double nn[6], offset[2], relative[6];
  group_coordinates(mx, my, 3, nn, offset, relative);
  EXPECT_EQ(offset[0], 3.0);
  EXPECT_EQ(offset[1], -1.0);
  EXPECT_EQ(std::vector<double>(nn, nn + 6), (std::vector<double>{1, 2, 6, -3, 0, 0}));
  EXPECT_EQ(std::vector<double>(relative, relative + 6),
            (std::vector<double>{2, 1, -3, 2, -1, -1}));
  group_coordinates(mx, my, 3, nullptr, nullptr, nullptr);  // nothing requested: no write
}

}  // namespace

// ------------------------------------------------- pools of every position

// With K + 1 >= n the search returns every position, so a seed's pool is all
// the others in (squared distance, index) order, plus the seed at the end
// when that leaves fewer than C (SPEC section 2, step 3). Oracle: that sort,
// written out, with the library's own seed selection and drawer (tested
// above), against ptp_group_neighbors.
std::vector<int64_t> whole_pool_oracle(const std::vector<double>& x, const std::vector<double>& y,
                                       int64_t num_groups, int64_t c, bool sequential,
                                       uint64_t seed) {
  const auto n = static_cast<int64_t>(x.size());
  const std::vector<int64_t> seeds = select_seeds(n, num_groups, sequential, seed);
  std::vector<int64_t> out(static_cast<size_t>(num_groups * c), -1);
  GroupDrawer drawer;
  for (int64_t s = 0; s < n; ++s) {
    std::vector<int64_t> slots;
    for (int64_t b = 0; b < num_groups; ++b)
      if (seeds[b] == s) slots.push_back(b);
    if (slots.empty()) continue;
    std::vector<std::pair<double, int64_t>> pool;
    for (int64_t i = 0; i < n; ++i) {
      if (i == s) continue;
      double d = 0.0;  // FLANN's L2: 0 + dx^2, then + dy^2
      d += (x[s] - x[i]) * (x[s] - x[i]);
      d += (y[s] - y[i]) * (y[s] - y[i]);
      pool.push_back({d, i});
    }
    std::sort(pool.begin(), pool.end());
    if (static_cast<int64_t>(pool.size()) < c) pool.push_back({0.0, s});
    RandomStream rng(seed, static_cast<uint64_t>(s));
    drawer.draw(static_cast<int64_t>(pool.size()), c, static_cast<int64_t>(slots.size()), rng,
                [&](int64_t j, const int32_t* positions) {
                  for (int64_t m = 0; m < c; ++m)
                    out[static_cast<size_t>(slots[j] * c + m)] = pool[positions[m]].second;
                });
  }
  return out;
}

TEST(WholePools, KAtLeastNDrawsFromEveryOtherPositionInDistanceOrder) {
  std::mt19937 rng(5);
  for (const int64_t n : {4, 9, 37, 300}) {
    for (const bool lattice : {false, true}) {
      std::vector<double> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        // A lattice makes many equal distances (ties broken by index) and
        // duplicate positions.
        x[i] = lattice ? double(rng() % 4) : std::uniform_real_distribution<double>(0, 50)(rng);
        y[i] = lattice ? double(rng() % 4) : std::uniform_real_distribution<double>(0, 50)(rng);
      }
      for (const int32_t gridsize : {2, 3}) {
        const int64_t c = gridsize * gridsize;
        if (n < c) continue;
        for (const int64_t k : {n - 1, n, 3 * n}) {
          if (k < c) continue;
          for (const bool sequential : {false, true}) {
            const int64_t groups = sequential ? n : 3 * n;  // random draws oversample
            ptp_group_desc desc;
            ASSERT_EQ(ptp_group_desc_init(&desc, sizeof desc), PTP_SUCCESS);
            desc.num_samples = groups;
            desc.num_neighbors = static_cast<int32_t>(k);
            desc.group_size = static_cast<int32_t>(c);
            desc.seed = 1234 + n;
            desc.sequential = sequential;
            desc.oversample = !sequential;
            std::vector<int64_t> nn(static_cast<size_t>(groups * c), -7);
            ASSERT_EQ(ptp_group_neighbors(nullptr, &desc, x.data(), y.data(), n, nn.data(), nullptr,
                                          nullptr, nullptr),
                      PTP_SUCCESS)
                << ptp_last_error_message();
            EXPECT_EQ(nn, whole_pool_oracle(x, y, groups, c, sequential, desc.seed))
                << "n " << n << " lattice " << lattice << " c " << c << " K " << k;
          }
        }
      }
    }
  }
}
