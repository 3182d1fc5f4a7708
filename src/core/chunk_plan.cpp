#include "core/chunk_plan.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace ptychopatch::impl {

ChunkPlan plan_chunks(uint64_t budget, uint64_t resident_bytes, uint64_t per_group_bytes,
                      int64_t num_groups, int slots, uint64_t target_chunk_bytes) {
  if (num_groups <= 0) return {};
  if (slots < 1 || per_group_bytes == 0)
    fail(PTP_ERROR_INTERNAL, "plan_chunks: slots and per_group_bytes must be positive");
  const uint64_t one_group_per_slot = per_group_bytes * static_cast<uint64_t>(slots);
  if (resident_bytes > budget || budget - resident_bytes < one_group_per_slot)
    fail(PTP_ERROR_OUT_OF_MEMORY,
         "the device memory budget of " + std::to_string(budget) + " bytes cannot hold " +
             std::to_string(resident_bytes) + " resident bytes (object or canvas) plus " +
             std::to_string(one_group_per_slot) + " bytes for one group in each of " +
             std::to_string(slots) +
             " pipeline slots; raise ptp_context_options.device_memory_budget or free device "
             "memory");
  const uint64_t fitting = (budget - resident_bytes) / one_group_per_slot;
  const uint64_t preferred = std::max<uint64_t>(1, target_chunk_bytes / per_group_bytes);
  const int64_t groups = static_cast<int64_t>(
      std::min<uint64_t>({fitting, preferred, static_cast<uint64_t>(num_groups)}));
  return ChunkPlan{groups, (num_groups + groups - 1) / groups};
}

}  // namespace ptychopatch::impl

namespace ptychopatch::impl {

int64_t patch_tile_span(int64_t n, int64_t half, int64_t extent, int64_t tile) {
  if (n < 1 || half < 0 || extent < 1 || tile < 1)
    fail(PTP_ERROR_INTERNAL, "patch_tile_span: n, extent and tile must be positive");
  // A patch reaches the canvas only if |n - 1 + offset| < extent + half + n
  // = v < 2^k; fl32 rounds such a sum by at most 2^(k - 25), so the floors
  // of its two ends lie at most n - 1 + ceil(2^(k - 25)) apart, and the
  // footprint spans that plus 2 pixels.
  const uint64_t v = static_cast<uint64_t>(extent) + static_cast<uint64_t>(half + n);
  int k = 0;
  while (k < 64 && (v >> k) != 0) ++k;
  const int64_t rounding = k <= 25 ? 1 : int64_t{1} << std::min(k - 25, 40);
  const int64_t pixels = n + 1 + rounding;
  const int64_t along = (extent + tile - 1) / tile;
  // Pixels [a, a + pixels - 1] overlap at most ceil((pixels - 1) / tile) + 1 tiles.
  return std::min(along, (pixels - 1 + tile - 1) / tile + 1);
}

BinPlan plan_bins(int64_t tiles, int64_t pairs_per_patch, int64_t area_slots, int64_t num_patches) {
  if (tiles < 1 || pairs_per_patch < 1 || area_slots < 4 || num_patches < 0)
    fail(PTP_ERROR_INTERNAL, "plan_bins: tiles, pairs per patch and the area must be positive");
  int64_t range = tiles;
  if (2 * range + 1 + std::min(pairs_per_patch, range) > area_slots) range = (area_slots - 1) / 3;
  BinPlan plan;
  plan.tiles_per_range = range;
  plan.list_capacity = area_slots - 2 * range - 1;  // >= min(pairs_per_patch, range)
  plan.patches_per_chunk =
      std::min(num_patches, plan.list_capacity / std::min(pairs_per_patch, range));
  return plan;
}

int64_t bin_area_slots(int64_t tiles, int64_t pairs_per_patch, int64_t patches) {
  return 2 * tiles + 1 + std::max<int64_t>(1, patches) * std::min(pairs_per_patch, tiles);
}

}  // namespace ptychopatch::impl
