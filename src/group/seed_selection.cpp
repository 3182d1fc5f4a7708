#include "group/seed_selection.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

#include "group/random_stream.hpp"

namespace ptychopatch::impl {
namespace {

// Moves a uniform random choice of `take` elements of v[0, n) to its front,
// in random order.
void partial_shuffle(int64_t* v, int64_t n, int64_t take, RandomStream& rng) {
  for (int64_t i = 0; i < take; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(v[i], v[j]);
  }
}

}  // namespace

std::vector<int64_t> select_seeds(int64_t n, int64_t num_groups, bool sequential, uint64_t seed) {
  std::vector<int64_t> seeds(static_cast<size_t>(num_groups));
  if (sequential) {
    for (int64_t b = 0; b < num_groups; ++b) seeds[b] = b % n;
    return seeds;
  }
  RandomStream rng(seed, kSeedSelectionStream);
  std::vector<int64_t> permutation(static_cast<size_t>(n));
  std::iota(permutation.begin(), permutation.end(), 0);
  if (num_groups <= n) {
    partial_shuffle(permutation.data(), n, num_groups, rng);
    std::copy_n(permutation.begin(), num_groups, seeds.begin());
    return seeds;
  }
  const int64_t rounds = num_groups / n, rest = num_groups % n;
  for (int64_t b = 0; b < rounds * n; ++b) seeds[b] = b % n;
  partial_shuffle(permutation.data(), n, rest, rng);
  std::copy_n(permutation.begin(), rest, seeds.begin() + rounds * n);
  partial_shuffle(seeds.data(), num_groups, num_groups, rng);
  return seeds;
}

}  // namespace ptychopatch::impl
