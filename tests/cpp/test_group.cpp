// Neighbour grouping through the public API (C++ wrapper over the C ABI),
// against a brute-force oracle of the exact k-nearest-neighbour pools.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
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
    EXPECT_LE(distance_sq(p, s, row[m]), limit)
        << "member " << row[m] << " outside the pool of " << s;
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

// Random mode: some point s outside the group has every member in its pool.
bool has_a_seed(const Positions& p, const int64_t* row, int64_t c, int64_t k) {
  for (int64_t s = 0; s < p.size(); ++s) {
    if (std::find(row, row + c, s) != row + c) continue;
    const double limit = kth_distance_sq(p, s, k);
    bool all = true;
    for (int64_t m = 0; m < c && all; ++m) all = distance_sq(p, s, row[m]) <= limit;
    if (all) return true;
  }
  return false;
}

ptychopatch::Groups group_with_threads(const ptychopatch::GroupDesc& desc, const Positions& p,
                                       int32_t threads) {
  const ptychopatch::Context context(PTP_BACKEND_CPU, threads);
  return ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size(), &context);
}

void expect_same_groups(const ptychopatch::Groups& a, const ptychopatch::Groups& b) {
  EXPECT_EQ(a.nn_indices, b.nn_indices);
  EXPECT_EQ(a.coords_nn, b.coords_nn);
  EXPECT_EQ(a.coords_offsets, b.coords_offsets);
  EXPECT_EQ(a.coords_relative, b.coords_relative);
}

TEST(Grouping, RandomGroupsHaveDistinctSeedsAndValidPools) {
  const Positions p = uniform_positions(120, 2);
  const ptychopatch::GroupDesc desc(60, 5, 2, 3);
  const auto groups = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  for (int64_t b = 0; b < 60; ++b) {
    const int64_t* row = &groups.nn_indices[b * 4];
    EXPECT_EQ(std::set<int64_t>(row, row + 4).size(), 4u);
    EXPECT_TRUE(has_a_seed(p, row, 4, 5)) << "group " << b;
  }
}

TEST(Grouping, SameSeedSameGroupsWhateverTheThreads) {
  const Positions p = uniform_positions(5000, 3);
  const ptychopatch::GroupDesc desc(3000, 8, 2, 12345);
  const auto one = group_with_threads(desc, p, 1);
  expect_same_groups(one, group_with_threads(desc, p, 2));
  expect_same_groups(one, group_with_threads(desc, p, 3));
  expect_same_groups(one, group_with_threads(desc, p, 1));
  ptychopatch::GroupDesc other = desc;
  other.seed = 12346;
  EXPECT_NE(one.nn_indices, group_with_threads(other, p, 2).nn_indices);
}

TEST(Grouping, CoordinatesFollowPtychoPinn) {
  const Positions p = uniform_positions(300, 4, 1e4);
  for (int32_t gridsize : {1, 2, 3}) {
    const ptychopatch::GroupDesc desc(100, 10, gridsize, 8);
    const auto g = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
    const int64_t c = gridsize * gridsize;
    for (int64_t b = 0; b < 100; ++b) {
      for (int axis = 0; axis < 2; ++axis) {
        const std::vector<double>& coordinate = axis == 0 ? p.x : p.y;
        double sum = 0;  // below 8 terms numpy sums left to right
        for (int64_t k = 0; k < c; ++k) {
          const double v = coordinate[g.nn_indices[b * c + k]];
          EXPECT_EQ(g.coords_nn[(b * 2 + axis) * c + k], v);
          sum += v;
        }
        const double mean = g.coords_offsets[b * 2 + axis];
        if (c < 8) {
          EXPECT_EQ(mean, sum / c);
        }
        EXPECT_NEAR(mean, sum / c, 1e-9);
        for (int64_t k = 0; k < c; ++k)
          EXPECT_EQ(g.coords_relative[(b * 2 + axis) * c + k],
                    -(g.coords_nn[(b * 2 + axis) * c + k] - mean));
      }
    }
  }
}

TEST(Grouping, GroupSizeOneIsTheSeeds) {
  const Positions p = uniform_positions(50, 5);
  ptychopatch::GroupDesc desc(50, 1, 1, 0);
  auto g = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  EXPECT_EQ(std::set<int64_t>(g.nn_indices.begin(), g.nn_indices.end()).size(), 50u);
  for (double r : g.coords_relative) EXPECT_EQ(r, 0.0);
  desc.sequential = 1;
  desc.num_samples = 20;
  g = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  for (int64_t b = 0; b < 20; ++b) EXPECT_EQ(g.nn_indices[b], b);
}

TEST(Grouping, DuplicatePositionsAndTies) {
  // 30 copies of one point: every pool is 4 of the other copies.
  Positions same{std::vector<double>(30, 2.5), std::vector<double>(30, -1.0)};
  ptychopatch::GroupDesc desc(30, 4, 2, 1);
  desc.sequential = 1;
  auto g = ptychopatch::group_neighbors(desc, same.x.data(), same.y.data(), same.size());
  for (int64_t b = 0; b < 30; ++b) expect_in_pool(same, &g.nn_indices[b * 4], 4, b, 4);
  // A square grid (many equal distances) with every point doubled.
  Positions grid;
  for (int copy = 0; copy < 2; ++copy)
    for (int r = 0; r < 12; ++r)
      for (int c = 0; c < 12; ++c) {
        grid.x.push_back(c);
        grid.y.push_back(r);
      }
  desc.num_samples = grid.size();
  for (int32_t k : {4, 5, 6, 9}) {
    desc.num_neighbors = k;
    g = ptychopatch::group_neighbors(desc, grid.x.data(), grid.y.data(), grid.size());
    for (int64_t b = 0; b < grid.size(); ++b) expect_in_pool(grid, &g.nn_indices[b * 4], 4, b, k);
  }
}

TEST(Grouping, SmallPoolsFallBackToTheSeed) {
  // n == C: the pool (3 others) takes the seed back; every group is all 4.
  const Positions four = uniform_positions(4, 6);
  ptychopatch::GroupDesc desc(4, 4, 2, 2);
  auto g = ptychopatch::group_neighbors(desc, four.x.data(), four.y.data(), four.size());
  for (int64_t b = 0; b < 4; ++b) {
    std::vector<int64_t> row(&g.nn_indices[b * 4], &g.nn_indices[b * 4] + 4);
    std::sort(row.begin(), row.end());
    EXPECT_EQ(row, (std::vector<int64_t>{0, 1, 2, 3}));
  }
  // K larger than the other points: the pool is all of them.
  const Positions six = uniform_positions(6, 7);
  desc = ptychopatch::GroupDesc(6, 50, 2, 2);
  desc.sequential = 1;
  g = ptychopatch::group_neighbors(desc, six.x.data(), six.y.data(), six.size());
  for (int64_t b = 0; b < 6; ++b) expect_in_pool(six, &g.nn_indices[b * 4], 4, b, 5);
}

TEST(Grouping, OversamplingDrawsDistinctCombinationsPerSeed) {
  const Positions p = uniform_positions(10, 8);
  ptychopatch::GroupDesc desc(150, 6, 2, 4);  // 15 groups per seed = C(6, 4)
  desc.sequential = 1;
  desc.oversample = 1;
  auto g = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  std::vector<std::set<std::vector<int64_t>>> per_seed(10);
  for (int64_t b = 0; b < 150; ++b) {
    expect_in_pool(p, &g.nn_indices[b * 4], 4, b % 10, 6);
    std::vector<int64_t> row(&g.nn_indices[b * 4], &g.nn_indices[b * 4] + 4);
    std::sort(row.begin(), row.end());
    per_seed[b % 10].insert(row);
  }
  for (const auto& combos : per_seed) EXPECT_EQ(combos.size(), 15u);
  // Random seeds: every position seeds 15 groups.
  desc.sequential = 0;
  g = ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size());
  std::set<std::vector<int64_t>> all;
  for (int64_t b = 0; b < 150; ++b) {
    std::vector<int64_t> row(&g.nn_indices[b * 4], &g.nn_indices[b * 4] + 4);
    std::sort(row.begin(), row.end());
    all.insert(row);
  }
  EXPECT_GE(all.size(), 15u);
}

TEST(Grouping, EmptyRequestWritesNothing) {
  const Positions p = uniform_positions(10, 9);
  ptychopatch::GroupDesc desc(0, 4, 2, 0);
  int64_t sentinel = -7;
  EXPECT_EQ(ptp_group_neighbors(nullptr, &desc, p.x.data(), p.y.data(), p.size(), &sentinel,
                                nullptr, nullptr, nullptr),
            PTP_SUCCESS);
  EXPECT_EQ(sentinel, -7);
}

// Every bad request: a status, a message naming the problem, outputs untouched.
TEST(GroupingErrors, BadRequestsAreClearStatuses) {
  Positions p = uniform_positions(20, 10);
  struct Case {
    const char* what;
    std::function<void(ptychopatch::GroupDesc&, Positions&, int64_t&)> change;
    ptp_status status;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"K < 1", [](auto& d, auto&, auto&) { d.num_neighbors = 0; }, PTP_ERROR_INVALID_ARGUMENT,
       "num_neighbors"},
      {"C < 1", [](auto& d, auto&, auto&) { d.group_size = 0; }, PTP_ERROR_INVALID_ARGUMENT,
       "group_size"},
      {"K < C", [](auto& d, auto&, auto&) { d.num_neighbors = 3; }, PTP_ERROR_INVALID_ARGUMENT,
       "less than desc->group_size"},
      {"n < C", [](auto&, auto&, auto& n) { n = 3; }, PTP_ERROR_INVALID_SIZE, "fewer than"},
      {"too many groups", [](auto& d, auto&, auto&) { d.num_samples = 21; },
       PTP_ERROR_INVALID_ARGUMENT, "oversample"},
      {"negative samples", [](auto& d, auto&, auto&) { d.num_samples = -1; },
       PTP_ERROR_INVALID_SIZE, "num_samples"},
      {"NaN x", [](auto&, auto& q, auto&) { q.x[7] = std::nan(""); }, PTP_ERROR_NON_FINITE,
       "position 7"},
      {"inf y", [](auto&, auto& q, auto&) { q.y[19] = -INFINITY; }, PTP_ERROR_NON_FINITE,
       "'y': position 19"},
      {"overflowing spread",
       [](auto&, auto& q, auto&) {
         q.x[0] = -1e154;
         q.x[1] = 1e154;
       },
       PTP_ERROR_INVALID_ARGUMENT, "below 1e150 pixels"},
      // Spans in [9.5e153, 1.3e154) passed a plain dx^2 + dy^2 test but
      // overflowed inside the KD-tree search (issue 12, item 6).
      {"span that overflowed in FLANN",
       [](auto&, auto& q, auto&) {
         for (double& v : q.x) v *= 1.2e152;  // dx^2 = 1.4e308 < DBL_MAX
       },
       PTP_ERROR_INVALID_ARGUMENT, "below 1e150 pixels"},
      {"bad flag", [](auto& d, auto&, auto&) { d.oversample = 2; }, PTP_ERROR_INVALID_ARGUMENT,
       "oversample"},
      {"struct size", [](auto& d, auto&, auto&) { d.struct_size = 8; }, PTP_ERROR_INVALID_ARGUMENT,
       "struct_size"},
  };
  for (const Case& c : cases) {
    ptychopatch::GroupDesc desc(10, 4, 2, 0);
    Positions q = p;
    int64_t n = q.size();
    c.change(desc, q, n);
    std::vector<int64_t> nn(40, -5);
    std::vector<double> coords(80, -5.0), offsets(20, -5.0), relative(80, -5.0);
    const ptp_status status =
        ptp_group_neighbors(nullptr, &desc, q.x.data(), q.y.data(), n, nn.data(), coords.data(),
                            offsets.data(), relative.data());
    EXPECT_EQ(status, c.status) << c.what;
    EXPECT_NE(std::string(ptp_last_error_message()).find(c.message), std::string::npos)
        << c.what << ": " << ptp_last_error_message();
    EXPECT_EQ(nn, std::vector<int64_t>(40, -5)) << c.what;
    EXPECT_EQ(coords, std::vector<double>(80, -5.0)) << c.what;
    EXPECT_EQ(offsets, std::vector<double>(20, -5.0)) << c.what;
  }
  ptychopatch::GroupDesc desc(10, 4, 2, 0);
  int64_t nn[40];
  EXPECT_EQ(
      ptp_group_neighbors(nullptr, &desc, nullptr, p.y.data(), 20, nn, nullptr, nullptr, nullptr),
      PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_group_neighbors(nullptr, &desc, p.x.data(), p.y.data(), 20, nullptr, nullptr,
                                nullptr, nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_group_neighbors(nullptr, nullptr, p.x.data(), p.y.data(), 20, nn, nullptr, nullptr,
                                nullptr),
            PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(ptp_group_desc_init(&desc, sizeof desc - 1), PTP_ERROR_INVALID_ARGUMENT);
}

TEST(Grouping, HugeButAllowedSpansGiveValidPools) {
  // Just under the span limit every group still comes from its seed's pool.
  Positions p = uniform_positions(200, 31);
  for (size_t i = 0; i < p.x.size(); ++i) {
    p.x[i] *= 9.9e147;  // extent 100 -> span just under 1e150
    p.y[i] *= 9.9e147;
  }
  ptychopatch::GroupDesc desc(50, 6, 2, 7);  // gridsize 2: C = 4
  desc.sequential = 1;
  std::vector<int64_t> nn(50 * 4, -1);
  ASSERT_EQ(ptp_group_neighbors(nullptr, &desc, p.x.data(), p.y.data(), p.size(), nn.data(),
                                nullptr, nullptr, nullptr),
            PTP_SUCCESS)
      << ptp_last_error_message();
  for (int64_t b = 0; b < 50; ++b) expect_in_pool(p, &nn[b * 4], 4, b, 6);
}

// ------------------------------------------------ one call: groups + patches

std::vector<std::complex<float>> test_object(int64_t h, int64_t w) {
  std::vector<std::complex<float>> object(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < h * w; ++i) object[i] = {std::sin(0.37f * i), std::cos(0.11f * i) * 0.5f};
  return object;
}

ptp_extract_desc extract_desc(int64_t h, int64_t w, int64_t n, int64_t c, ptp_layout layout) {
  ptp_extract_desc d;
  ptychopatch::check(ptp_extract_desc_init(&d, sizeof d));
  d.height = h;
  d.width = w;
  d.patch_size = n;
  d.group_size = c;
  d.layout = layout;
  return d;
}

TEST(GroupedPatches, EqualTheTwoStepPath) {
  const int64_t h = 90, w = 70;
  const auto object = test_object(h, w);
  // Positions over and beyond the object, fractional.
  Positions p = uniform_positions(200, 11, 1.0);
  for (auto& v : p.x) v = v * 100 - 15;
  for (auto& v : p.y) v = v * 120 - 15;
  const auto context = test_support::cpu_context(2);
  for (ptp_layout layout : {PTP_LAYOUT_CHANNEL, PTP_LAYOUT_FLAT})
    for (int32_t gridsize : {1, 2, 3}) {
      const ptychopatch::GroupDesc desc(150, 9, gridsize, 21);
      const auto extract = extract_desc(h, w, 13, gridsize * gridsize, layout);
      const auto one_call = ptychopatch::grouped_patches(desc, extract, object.data(), p.x.data(),
                                                         p.y.data(), p.size(), &context);
      const auto groups =
          ptychopatch::group_neighbors(desc, p.x.data(), p.y.data(), p.size(), &context);
      expect_same_groups(one_call.groups, groups);
      ptychopatch::ExtractPlan<std::complex<float>> plan(context, h, w, 13, gridsize * gridsize,
                                                         layout);
      std::vector<std::complex<float>> patches(plan.output_size(150 * gridsize * gridsize));
      plan.execute_legacy(object.data(), groups.coords_offsets.data(),
                          groups.coords_relative.data(), 150, patches.data(), patches.size());
      ASSERT_EQ(one_call.patches.size(), patches.size());
      EXPECT_EQ(0, std::memcmp(one_call.patches.data(), patches.data(),
                               patches.size() * sizeof(patches[0])))
          << "layout " << layout << " gridsize " << gridsize;
    }
}

TEST(GroupedPatches, BadCallsWriteNothing) {
  const int64_t h = 40, w = 40;
  const auto object = test_object(h, w);
  const Positions p = uniform_positions(50, 12, 40.0);
  const ptychopatch::GroupDesc desc(10, 4, 2, 0);
  std::vector<int64_t> nn(40, -3);
  std::vector<double> offsets(20, -3.0);
  std::vector<std::complex<float>> patches(10 * 4 * 8 * 8, {-3.0f, -3.0f});
  auto call = [&](const ptp_extract_desc& e, size_t bytes) {
    return ptp_grouped_patches(nullptr, &desc, &e, object.data(), p.x.data(), p.y.data(), p.size(),
                               nn.data(), nullptr, offsets.data(), nullptr, patches.data(), bytes);
  };
  const size_t bytes = patches.size() * sizeof(patches[0]);
  auto good = extract_desc(h, w, 8, 4, PTP_LAYOUT_CHANNEL);
  auto wrong_c = good;
  wrong_c.group_size = 9;
  EXPECT_EQ(call(wrong_c, bytes), PTP_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ptp_last_error_message()).find("group_size"), std::string::npos);
  auto float_offsets = good;
  float_offsets.offset_dtype = PTP_DTYPE_FLOAT32;
  EXPECT_EQ(call(float_offsets, bytes), PTP_ERROR_INVALID_ARGUMENT);
  auto device = good;
  device.memory = PTP_MEMORY_DEVICE;
  EXPECT_EQ(call(device, bytes), PTP_ERROR_UNSUPPORTED);
  EXPECT_EQ(call(good, bytes - 1), PTP_ERROR_BUFFER_TOO_SMALL);
  auto no_size = good;
  no_size.patch_size = 0;
  EXPECT_EQ(call(no_size, bytes), PTP_ERROR_INVALID_SIZE);
  EXPECT_EQ(nn, std::vector<int64_t>(40, -3));
  EXPECT_EQ(offsets, std::vector<double>(20, -3.0));
  for (const auto& v : patches) ASSERT_EQ(v, std::complex<float>(-3.0f, -3.0f));
  // And the good call works with the same buffers.
  EXPECT_EQ(call(good, bytes), PTP_SUCCESS) << ptp_last_error_message();
  EXPECT_NE(nn, std::vector<int64_t>(40, -3));
}

}  // namespace
