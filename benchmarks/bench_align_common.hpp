// What the scene-alignment benchmarks (bench_align_cpu, bench_align_gpu)
// share: the noise their synthetic scenes are made of.
#pragma once

#include <cstdint>

namespace bench {

// xorshift64*: cheap deterministic noise for scenes of hundreds of millions
// of pixels (one generator per scene, or one stream per row).
struct Noise {
  uint64_t s;
  double next() {  // uniform in [-1, 1)
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<double>((s * 2685821657736338717ULL) >> 11) * 0x1.0p-52 - 1.0;
  }
};

}  // namespace bench
