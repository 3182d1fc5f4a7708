// Neighbour grouping (SPEC §2): validation of the request and the
// orchestration of seeds, exact k-NN pools, member draws and PtychoPINN's
// coordinate outputs. CPU only, whatever the context's backend: the result
// depends on nothing but the inputs and the seed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/progress.hpp"
#include "ptychopatch.h"

struct ptp_context;

namespace ptychopatch::impl {

struct GroupRequest {
  int64_t num_groups;     // B (num_samples)
  int64_t num_neighbors;  // K
  int64_t group_size;     // C
  uint64_t seed;
  bool sequential;
  bool oversample;
  ProgressSink progress;  // desc->progress, or none
};

// sizeof(ptp_group_desc) before progress and progress_user_data were
// appended: still accepted (no callback then).
constexpr size_t kGroupDescSizeWithoutProgress = 40;

struct GroupOutputs {
  int64_t* nn_indices = nullptr;      // B x C, required
  double* coords_nn = nullptr;        // B x 2 x C or NULL
  double* coords_offsets = nullptr;   // B x 2 or NULL
  double* coords_relative = nullptr;  // B x 2 x C or NULL
};

void default_group_desc(ptp_group_desc* desc);

// ptp_group_desc_init: the defaults, for the current size or the older one.
void init_group_desc(ptp_group_desc* desc, size_t struct_size);

// Throws Error naming the field (K < 1, C < 1, K < C with C > 1, ...).
GroupRequest validate_group_desc(const ptp_group_desc* desc);

// Checks the positions against the request (NULL arrays, num_points < C,
// more groups than points without oversample, non-finite positions).
void validate_positions(const GroupRequest& request, const double* x, const double* y,
                        int64_t num_points);

// Forms the groups; request and positions must have been validated and
// outputs.nn_indices must be non-NULL (unless B = 0). Reports groups formed
// to `progress` (total B), from the calling thread between chunks of the
// search; with C > 1 a cancellation leaves the outputs untouched.
void form_groups(const ptp_context& context, const GroupRequest& request, const double* x,
                 const double* y, int64_t num_points, const GroupOutputs& outputs,
                 const Progress& progress);

}  // namespace ptychopatch::impl
