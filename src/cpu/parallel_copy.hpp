// A memcpy split over threads: moving patches between pinned staging and
// the caller's pageable memory is the host half of the GPU pipeline, and
// one core cannot keep up with the PCIe bus.
#pragma once

#include <cstddef>

namespace ptychopatch::impl::cpu {

void parallel_copy(void* dst, const void* src, size_t bytes, int num_threads);

}  // namespace ptychopatch::impl::cpu
