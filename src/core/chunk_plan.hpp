// How a GPU call on host arrays is cut into chunks of whole groups that fit
// the device memory budget. Plain host arithmetic, so it is tested on every
// machine, GPU or not.
#pragma once

#include <cstdint>

namespace ptychopatch::impl {

struct ChunkPlan {
  int64_t groups_per_chunk = 0;  // >= 1 when there is work
  int64_t num_chunks = 0;
};

// budget:          device bytes the call may allocate;
// resident_bytes:  allocated for the whole call (the object, or the canvas);
// per_group_bytes: device bytes one group occupies in one pipeline slot;
// slots:           pipeline depth (buffers in flight at once);
// target_chunk_bytes: preferred size of one slot, small enough that copies
//                  and compute of consecutive chunks overlap.
// Throws PTP_ERROR_OUT_OF_MEMORY, with the figures, when the resident bytes
// plus one group per slot exceed the budget.
ChunkPlan plan_chunks(uint64_t budget, uint64_t resident_bytes, uint64_t per_group_bytes,
                      int64_t num_groups, int slots, uint64_t target_chunk_bytes);

}  // namespace ptychopatch::impl
