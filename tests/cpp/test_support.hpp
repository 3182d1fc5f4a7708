// Shared by the CPU test files: random offsets and their float32 copy, a
// CPU context, and a bitwise comparison that names the first mismatch.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ptychopatch.hpp"

namespace test_support {

// `patches` (x, y) pairs, x uniform in [lo_x, hi_x) and y in [lo_y, hi_y).
inline std::vector<double> random_offsets(int64_t patches, double lo_x, double hi_x, double lo_y,
                                          double hi_y, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> ux(lo_x, hi_x), uy(lo_y, hi_y);
  std::vector<double> xy(2 * patches);
  for (int64_t p = 0; p < patches; ++p) {
    xy[2 * p] = ux(rng);
    xy[2 * p + 1] = uy(rng);
  }
  return xy;
}

inline std::vector<float> as_float32(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());
}

inline ptychopatch::Context cpu_context(int32_t threads = 0) {
  return ptychopatch::Context(PTP_BACKEND_CPU, threads);
}

// Bitwise comparison with a readable first mismatch; `what` names the
// arrays in the message.
inline void expect_bitwise_equal(const std::vector<float>& got, const std::vector<float>& want,
                                 const char* what = "patches") {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": first mismatch at float " << i << ": got " << got[i] << ", want "
                    << want[i];
      return;
    }
  }
}

// The geometry of an extraction or reassembly test case, and its descriptor.
struct PatchShape {
  int lanes = 2;  // 1: float32 object, 2: complex64
  bool channel = true;
  bool float64_offsets = true;
  int64_t n = 8;
  int64_t group_size = 1;
  int64_t height = 23;
  int64_t width = 31;
};

inline ptp_extract_desc extract_desc(const PatchShape& s) {
  ptp_extract_desc desc;
  ptychopatch::check(ptp_extract_desc_init(&desc, sizeof desc));
  desc.height = s.height;
  desc.width = s.width;
  desc.patch_size = s.n;
  desc.group_size = s.group_size;
  desc.object_dtype = s.lanes == 2 ? PTP_DTYPE_COMPLEX64 : PTP_DTYPE_FLOAT32;
  desc.offset_dtype = s.float64_offsets ? PTP_DTYPE_FLOAT64 : PTP_DTYPE_FLOAT32;
  desc.layout = s.channel ? PTP_LAYOUT_CHANNEL : PTP_LAYOUT_FLAT;
  return desc;
}

}  // namespace test_support
