// The exported C entry points of neighbour grouping (ptychopatch.h,
// "neighbour grouping"): thin noexcept shells over src/group, each inside
// impl::guarded, which maps every failure to a status and the thread-local
// message.
#include <algorithm>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/diagnostics.hpp"
#include "core/error.hpp"
#include "core/extract_plan.hpp"
#include "group/grouping.hpp"
#include "ptychopatch.h"

using ptychopatch::impl::fail;
using ptychopatch::impl::guarded;
using ptychopatch::impl::require_non_null;

namespace {

ptp_context& context_or_default(ptp_context* context) {
  return context != nullptr ? *context : ptychopatch::impl::shared_default_context();
}

// The extraction step of ptp_grouped_patches reports to the caller's
// callback after the grouping's groups: (done, total) of the extraction is
// (groups + done, groups + total) of the call.
struct AfterGroups {
  ptychopatch::impl::ProgressSink caller;
  int64_t groups;

  static int32_t call(int64_t done, int64_t total, void* self) {
    const auto* s = static_cast<const AfterGroups*>(self);
    return s->caller.fn(s->groups + done, s->groups + total, s->caller.user_data);
  }
};

// Copies n values to an optional caller array.
template <class T>
void copy_out(const std::vector<T>& from, T* to) {
  if (to != nullptr) std::copy(from.begin(), from.end(), to);
}

}  // namespace

extern "C" {

PTP_API ptp_status ptp_group_desc_init(ptp_group_desc* desc, size_t struct_size) {
  return guarded("ptp_group_desc_init",
                 [&] { ptychopatch::impl::init_group_desc(desc, struct_size); });
}

PTP_API ptp_status ptp_group_neighbors(ptp_context* context, const ptp_group_desc* desc,
                                       const double* x, const double* y, int64_t num_points,
                                       int64_t* nn_indices, double* coords_nn,
                                       double* coords_offsets, double* coords_relative) {
  return guarded("ptp_group_neighbors", [&] {
    const auto request = ptychopatch::impl::validate_group_desc(desc);
    ptychopatch::impl::validate_positions(request, x, y, num_points);
    if (request.num_groups > 0) require_non_null(nn_indices, "nn_indices");
    ptychopatch::impl::GroupOutputs outputs;
    outputs.nn_indices = nn_indices;
    outputs.coords_nn = coords_nn;
    outputs.coords_offsets = coords_offsets;
    outputs.coords_relative = coords_relative;
    const ptychopatch::impl::Progress progress(request.progress, request.num_groups, "groups");
    ptychopatch::impl::form_groups(context_or_default(context), request, x, y, num_points, outputs,
                                   progress);
  });
}

PTP_API ptp_status ptp_grouped_patches(ptp_context* context, const ptp_group_desc* group,
                                       const ptp_extract_desc* extract, const void* object,
                                       const double* x, const double* y, int64_t num_points,
                                       int64_t* nn_indices, double* coords_nn,
                                       double* coords_offsets, double* coords_relative,
                                       void* patches, size_t patches_bytes) {
  return guarded("ptp_grouped_patches", [&] {
    namespace impl = ptychopatch::impl;
    impl::begin_diagnostics(nullptr);
    const auto request = impl::validate_group_desc(group);
    ptp_extract_plan plan{&context_or_default(context), impl::validate_extract_desc(extract)};
    if (plan.geometry.group_size != request.group_size)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "extract->group_size is " + std::to_string(plan.geometry.group_size) +
               " but group->group_size is " + std::to_string(request.group_size) +
               ": the patches of a group are its members");
    if (plan.geometry.offset_dtype != PTP_DTYPE_FLOAT64)
      fail(PTP_ERROR_INVALID_ARGUMENT,
           "extract->offset_dtype must be PTP_DTYPE_FLOAT64: the offsets are made here from "
           "float64 positions");
    if (plan.geometry.memory != PTP_MEMORY_HOST)
      fail(PTP_ERROR_UNSUPPORTED,
           "extract->memory must be PTP_MEMORY_HOST (positions and groups live in host "
           "memory); for device arrays call ptp_group_neighbors, copy coords_offsets and "
           "coords_relative to the device and call ptp_extract_execute_legacy");
    impl::validate_positions(request, x, y, num_points);
    const int64_t num_patches =
        impl::checked_mul(request.num_groups, request.group_size, "num_samples * group_size");
    if (request.num_groups > 0) {
      require_non_null(nn_indices, "nn_indices");
      // Checked again by the extraction; failing here saves the search.
      require_non_null(object, "object");
      require_non_null(patches, "patches");
      impl::require_buffer_bytes("patches_bytes", patches_bytes,
                                 impl::extract_output_bytes(plan.geometry, num_patches),
                                 std::to_string(num_patches) + " patches need");
    }

    // Groups go to scratch first and reach the caller's arrays only once the
    // patches are cut: a failed extraction leaves every output untouched.
    const auto rows = static_cast<size_t>(request.num_groups);
    const auto c = static_cast<size_t>(request.group_size);
    std::vector<int64_t> indices(rows * c);
    std::vector<double> offsets(rows * 2), relative(rows * 2 * c), members;
    if (coords_nn != nullptr) members.resize(rows * 2 * c);
    impl::GroupOutputs scratch;
    scratch.nn_indices = indices.data();
    scratch.coords_nn = coords_nn != nullptr ? members.data() : nullptr;
    scratch.coords_offsets = offsets.data();
    scratch.coords_relative = relative.data();
    // One count for both steps: groups formed, then patches cut.
    const int64_t total =
        impl::checked_add(request.num_groups, num_patches, "num_samples + the patch count");
    impl::form_groups(*plan.context, request, x, y, num_points, scratch,
                      impl::Progress(request.progress, total, "units (groups, then patches)"));
    AfterGroups after{request.progress, request.num_groups};
    if (request.progress.fn != nullptr) plan.progress = {&AfterGroups::call, &after};

    impl::OffsetArrays arrays;
    arrays.legacy = true;
    arrays.global = offsets.data();
    arrays.local = relative.data();
    impl::execute_extract(plan, object, arrays, num_patches, patches, patches_bytes);

    copy_out(indices, nn_indices);
    copy_out(members, coords_nn);
    copy_out(offsets, coords_offsets);
    copy_out(relative, coords_relative);
  });
}

}  // extern "C"
