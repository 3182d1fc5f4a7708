// Drawing the members of the groups of one seed from its neighbour pool
// (SPEC §2 steps 3-4).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "group/random_stream.hpp"

namespace ptychopatch::impl {

// C(p, c), saturated at kBinomialCap (only compared with counts of groups,
// which are far below it).
constexpr uint64_t kBinomialCap = uint64_t{1} << 62;
uint64_t binomial_saturated(int64_t p, int64_t c);

using GroupSink = std::function<void(int64_t, const int32_t*)>;

// Draws `count` groups of `group_size` distinct pool positions in
// [0, pool_size), pool_size >= group_size >= 1, and hands each to
// emit(j, positions) for j = 0 .. count-1, members in random order.
//  - Distinct groups (as sets) while count <= C(pool_size, group_size);
//    beyond that the combinations are used in rounds, each a fresh random
//    order of all of them, so no combination is used twice more than
//    another.
//  - count = 1 is one uniform group: a partial Fisher-Yates shuffle.
// Deterministic given the stream; uses no other randomness. One drawer per
// thread: it keeps its scratch between calls.
class GroupDrawer {
 public:
  void draw(int64_t pool_size, int64_t group_size, int64_t count, RandomStream& rng,
            const GroupSink& emit);

 private:
  void draw_by_rejection(int64_t pool_size, int64_t group_size, int64_t count, RandomStream& rng,
                         const GroupSink& emit);
  void draw_by_enumeration(int64_t pool_size, int64_t group_size, int64_t count, uint64_t total,
                           RandomStream& rng, const GroupSink& emit);
  std::vector<int32_t> positions_, key_, combinations_, members_;
  std::vector<int64_t> deck_;
};

}  // namespace ptychopatch::impl
