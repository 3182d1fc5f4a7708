// Neighbour grouping through the public API (C++ wrapper over the C ABI),
// against a brute-force oracle of the exact k-nearest-neighbour pools.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "ptychopatch.hpp"
#include "test_support.hpp"

namespace {

struct Positions {
  std::vector<double> x, y;
  int64_t size() const { return static_cast<int64_t>(x.size()); }
};

Positions uniform_positions(int64_t n, uint32_t seed, double extent = 100.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, extent);
  Positions p;
  for (int64_t i = 0; i < n; ++i) {
    p.x.push_back(u(rng));
    p.y.push_back(u(rng));
  }
  return p;
}

double distance_sq(const Positions& p, int64_t a, int64_t b) {
  const double dx = p.x[a] - p.x[b], dy = p.y[a] - p.y[b];
  return dx * dx + dy * dy;
}

// Brute force: the squared distance of the K-th nearest point to s among the
// others (all of them if fewer than K).
double kth_distance_sq(const Positions& p, int64_t s, int64_t k) {
  std::vector<double> d;
  for (int64_t i = 0; i < p.size(); ++i)
    if (i != s) d.push_back(distance_sq(p, s, i));
  std::sort(d.begin(), d.end());
  return d[static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(d.size())) - 1)];
}

// Group b (members row) is a valid draw from the pool of seed s: distinct
// members, none of them s, all within the seed's exact K-NN distance.
void expect_in_pool(const Positions& p, const int64_t* row, int64_t c, int64_t s, int64_t k) {
  const double limit = kth_distance_sq(p, s, k);
  std::set<int64_t> distinct(row, row + c);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(c)) << "members repeat";
  for (int64_t m = 0; m < c; ++m) {
    EXPECT_NE(row[m], s) << "the seed is in its own group";
    EXPECT_LE(distance_sq(p, s, row[m]), limit) << "member " << row[m] << " outside the pool of " << s;
  }
}

TEST(Grouping, SequentialGroupsComeFromTheSeedsExactPools) {
  const Positions p = uniform_positions(400, 1);
  const ptychopatch::GroupDesc desc = [] {
    ptychopatch::GroupDesc d(400, 7, 2, 99);
    d.sequential = 1;
    return d;
  }();
  const auto groups = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  for (int64_t b = 0; b < 400; ++b) expect_in_pool(p, &groups.nn_indices[b * 4], 4, b, 7);
}

}  // namespace
