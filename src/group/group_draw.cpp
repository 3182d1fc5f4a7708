#include "group/group_draw.hpp"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace ptychopatch::impl {

uint64_t binomial_saturated(int64_t p, int64_t c) {
  if (c < 0 || c > p) return 0;
  c = std::min(c, p - c);
  // C(p, i) = C(p, i-1) * (p-i+1) / i is exact at every step.
  unsigned __int128 value = 1;
  for (int64_t i = 1; i <= c; ++i) {
    value = value * static_cast<uint64_t>(p - i + 1) / static_cast<uint64_t>(i);
    if (value >= kBinomialCap) return kBinomialCap;
  }
  return static_cast<uint64_t>(value);
}

namespace {

// Moves a uniform random choice of `take` elements of v to its front, in
// random order (partial Fisher-Yates).
template <class T>
void shuffle_front(std::vector<T>& v, int64_t take, RandomStream& rng) {
  const auto n = static_cast<int64_t>(v.size());
  for (int64_t i = 0; i < take; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(v[i], v[j]);
  }
}

}  // namespace

// Few groups relative to the combinations: draw uniform groups and redraw
// the (at most one in two) that repeat an earlier set.
void GroupDrawer::draw_by_rejection(int64_t pool_size, int64_t group_size, int64_t count,
                                    RandomStream& rng, const GroupSink& emit) {
  positions_.resize(static_cast<size_t>(pool_size));
  std::iota(positions_.begin(), positions_.end(), 0);
  std::set<std::vector<int32_t>> used;
  key_.resize(static_cast<size_t>(group_size));
  for (int64_t j = 0; j < count; ++j) {
    for (;;) {
      shuffle_front(positions_, group_size, rng);
      if (count == 1) break;
      std::copy_n(positions_.begin(), group_size, key_.begin());
      std::sort(key_.begin(), key_.end());
      if (used.insert(key_).second) break;
    }
    emit(j, positions_.data());
  }
}

// Many groups relative to the combinations (fewer than 2 * count of them):
// list every combination and deal them out in shuffled rounds.
void GroupDrawer::draw_by_enumeration(int64_t pool_size, int64_t group_size, int64_t count,
                                      uint64_t total, RandomStream& rng, const GroupSink& emit) {
  const auto c = static_cast<size_t>(group_size);
  auto& combinations = combinations_;
  combinations.clear();
  combinations.reserve(static_cast<size_t>(total) * c);
  std::vector<int32_t> current(c);
  std::iota(current.begin(), current.end(), 0);
  for (;;) {  // lexicographic order
    combinations.insert(combinations.end(), current.begin(), current.end());
    int64_t i = group_size - 1;
    while (i >= 0 && current[i] == pool_size - group_size + i) --i;
    if (i < 0) break;
    ++current[i];
    for (size_t k = static_cast<size_t>(i) + 1; k < c; ++k) current[k] = current[k - 1] + 1;
  }
  auto& deck = deck_;
  deck.resize(static_cast<size_t>(total));
  auto& members = members_;
  members.resize(c);
  for (int64_t done = 0; done < count;) {
    const int64_t take = std::min<int64_t>(count - done, static_cast<int64_t>(total));
    std::iota(deck.begin(), deck.end(), 0);
    shuffle_front(deck, take, rng);
    for (int64_t t = 0; t < take; ++t, ++done) {
      std::copy_n(&combinations[static_cast<size_t>(deck[t]) * c], c, members.begin());
      shuffle_front(members, group_size, rng);
      emit(done, members.data());
    }
  }
}

void GroupDrawer::draw(int64_t pool_size, int64_t group_size, int64_t count, RandomStream& rng,
                       const GroupSink& emit) {
  if (count <= 0) return;
  // Validation guarantees a pool of at least C (K >= C, n >= C, finite
  // distances); a smaller one here is a bug, reported rather than drawn.
  if (pool_size < group_size)
    fail(PTP_ERROR_INTERNAL, "a neighbour pool of " + std::to_string(pool_size) +
                                 " positions cannot supply " + std::to_string(group_size) +
                                 " distinct members");
  const uint64_t total = binomial_saturated(pool_size, group_size);
  if (count == 1 || static_cast<uint64_t>(count) <= total / 2)
    draw_by_rejection(pool_size, group_size, count, rng, emit);
  else
    draw_by_enumeration(pool_size, group_size, count, total, rng, emit);
}

}  // namespace ptychopatch::impl
