// Neighbour grouping (SPEC §2): validation of the request and the
// orchestration of seeds, exact k-NN pools, member draws and PtychoPINN's
// coordinate outputs. CPU only, whatever the context's backend: the result
// depends on nothing but the inputs and the seed.
#pragma once

#include <cstdint>

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
};

struct GroupOutputs {
  int64_t* nn_indices = nullptr;       // B x C, required
  double* coords_nn = nullptr;         // B x 2 x C or NULL
  double* coords_offsets = nullptr;    // B x 2 or NULL
  double* coords_relative = nullptr;   // B x 2 x C or NULL
};

void default_group_desc(ptp_group_desc* desc);

// Throws Error naming the field (K < 1, C < 1, K < C with C > 1, ...).
GroupRequest validate_group_desc(const ptp_group_desc* desc);

// Checks the positions against the request (NULL arrays, num_points < C,
// more groups than points without oversample, non-finite positions).
void validate_positions(const GroupRequest& request, const double* x, const double* y,
                        int64_t num_points);

// Forms the groups; request and positions must have been validated and
// outputs.nn_indices must be non-NULL (unless B = 0).
void form_groups(const ptp_context& context, const GroupRequest& request, const double* x,
                 const double* y, int64_t num_points, const GroupOutputs& outputs);

}  // namespace ptychopatch::impl
