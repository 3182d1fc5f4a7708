#include "core/reassemble.hpp"

#include "core/error.hpp"

namespace ptychopatch::impl {

// Placeholder until the CPU path lands (issue 3, in progress).
void execute_reassemble(const ptp_extract_plan&, const void*, const void*, int64_t, void*, size_t,
                        float*, size_t) {
  fail(PTP_ERROR_UNSUPPORTED, "reassembly is not implemented yet");
}

}  // namespace ptychopatch::impl
