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
