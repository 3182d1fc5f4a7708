// The random numbers of neighbour grouping. Every draw comes from a stream
// keyed by (seed, stream id), so which thread forms a group, and in which
// order, cannot change it: the same seed gives the same groups on every run,
// thread count and backend. The generator is documented in
// docs/semantics.md ("Random stream of grouping"); changing anything here
// changes users' groups and must be released as such.
#pragma once

#include <cstdint>

namespace ptychopatch::impl {

// SplitMix64's output function (Steele, Lea & Flood, 2014): a bijective
// 64-bit mixer.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Stream ids: one per scan position (the draws of the groups seeded there)
// and one for choosing the seeds, outside the range of positions.
constexpr uint64_t kSeedSelectionStream = ~uint64_t{0};

class RandomStream {
 public:
  RandomStream(uint64_t seed, uint64_t stream_id)
      : state_(mix64(seed) ^ mix64(stream_id + kGolden)) {}

  // SplitMix64: a Weyl sequence through the mixer.
  uint64_t next() {
    state_ += kGolden;
    return mix64(state_);
  }

  // Uniform in [0, bound), bound >= 1, without modulo bias: Lemire's
  // multiply-shift with rejection (ACM TOMACS 2019).
  uint64_t below(uint64_t bound) {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    uint64_t low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

 private:
  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
  uint64_t state_;
};

}  // namespace ptychopatch::impl
