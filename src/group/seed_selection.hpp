// Step 1 of SPEC §2: which scan position seeds each group.
#pragma once

#include <cstdint>
#include <vector>

namespace ptychopatch::impl {

// seeds[b] is the position seeding group b, for num_groups groups over n > 0
// positions:
//  - sequential: b mod n (the first num_groups indices, cycling when
//    oversampling);
//  - random, num_groups <= n: distinct positions, a uniform random
//    num_groups-subset in random order (partial Fisher-Yates);
//  - random, num_groups > n (oversampling): every position floor(num_groups
//    / n) times plus a uniform random subset of the remainder, the whole in
//    random order, so no position seeds more than one group more than
//    another.
// The draws come from the stream (seed, kSeedSelectionStream).
std::vector<int64_t> select_seeds(int64_t n, int64_t num_groups, bool sequential, uint64_t seed);

}  // namespace ptychopatch::impl
