// Fuzz target: neighbour grouping through the C ABI (ptp_group_neighbors,
// plain, sequential and oversampled, and ptp_grouped_patches, the one-call
// form). Positions of any bits or ordinary values, with duplicates;
// descriptors of any values. Oracles: the checks of fuzz_support.hpp, and
// on success the contract of docs/api.md: every index in range, the
// members of a group distinct, coords_nn exactly the members' positions,
// and finite group centres.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  ptp_context* ctx = fuzz::cpu_context(in.ConsumeIntegralInRange<int>(1, 3));

  ptp_group_desc desc;
  ptp_group_desc_init(&desc, sizeof desc);
  const int64_t n = in.ConsumeIntegralInRange<int64_t>(0, 48);
  desc.num_samples = in.ConsumeIntegralInRange<int64_t>(-1, 60);
  desc.num_neighbors = in.ConsumeIntegralInRange<int32_t>(-1, 60);
  desc.group_size = in.ConsumeIntegralInRange<int32_t>(-1, 9);
  desc.seed = in.ConsumeIntegral<uint64_t>();
  desc.sequential = in.ConsumeIntegralInRange<int32_t>(0, 2) == 2
                        ? in.ConsumeIntegral<int32_t>()
                        : in.ConsumeIntegralInRange<int32_t>(0, 1);
  desc.oversample = in.ConsumeIntegralInRange<int32_t>(0, 1);

  std::vector<double> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  const int mode = in.ConsumeIntegralInRange<int>(0, 3);
  for (int64_t i = 0; i < n; ++i) {
    if (mode == 0) {  // any bits
      const auto bytes = in.ConsumeBytes<unsigned char>(16);
      unsigned char both[16] = {};
      if (!bytes.empty()) std::memcpy(both, bytes.data(), bytes.size());
      std::memcpy(&x[i], both, 8);
      std::memcpy(&y[i], both + 8, 8);
    } else if (mode == 1) {  // a small lattice: many ties and duplicates
      x[i] = in.ConsumeIntegralInRange<int>(0, 3);
      y[i] = in.ConsumeIntegralInRange<int>(0, 3);
    } else {
      x[i] = in.ConsumeFloatingPointInRange<double>(-1e3, 1e3);
      y[i] = in.ConsumeFloatingPointInRange<double>(-1e3, 1e3);
    }
  }

  const int64_t b = std::max<int64_t>(desc.num_samples, 0);
  const int64_t c = std::max<int64_t>(desc.group_size, 1);
  fuzz::Output indices(static_cast<size_t>(b * c) * sizeof(int64_t));
  fuzz::Output coords(static_cast<size_t>(b * c * 2) * sizeof(double));
  fuzz::Output offsets(static_cast<size_t>(b * 2) * sizeof(double));
  fuzz::Output relative(static_cast<size_t>(b * c * 2) * sizeof(double));
  const bool with_coords = in.ConsumeBool();
  const ptp_status status = ptp_group_neighbors(
      ctx, &desc, x.data(), y.data(), n, indices.as<int64_t>(),
      with_coords ? coords.as<double>() : nullptr, with_coords ? offsets.as<double>() : nullptr,
      with_coords ? relative.as<double>() : nullptr);
  fuzz::check_outputs(status, "ptp_group_neighbors", {&indices, &coords, &offsets, &relative});
  if (status != PTP_SUCCESS) return 0;

  fuzz::require(desc.group_size >= 1 && desc.num_samples >= 0, "a bad descriptor was accepted");
  for (int64_t g = 0; g < b; ++g) {
    const int64_t* row = indices.as<int64_t>() + g * c;
    std::set<int64_t> distinct;
    for (int64_t m = 0; m < c; ++m) {
      fuzz::require(row[m] >= 0 && row[m] < n, "a member index out of range");
      distinct.insert(row[m]);
      if (with_coords) {
        const double* nn = coords.as<double>() + g * 2 * c;  // (2, c): x row, y row
        fuzz::require(
            std::memcmp(&nn[m], &x[row[m]], 8) == 0 && std::memcmp(&nn[c + m], &y[row[m]], 8) == 0,
            "coords_nn is not the member's position");
      }
    }
    // Validation ensures K >= C and n >= C, so a pool always has C members.
    fuzz::require(static_cast<int64_t>(distinct.size()) == c, "the members of a group repeat");
    if (with_coords) {
      const double* centre = offsets.as<double>() + g * 2;
      fuzz::require(std::isfinite(centre[0]) && std::isfinite(centre[1]),
                    "a group centre is not finite");
    }
  }
  return 0;
}
