/* The C compiler's view of the public structs, for tests/fortran/test_fortran.f90:
 * out[0] = sizeof the struct, out[1..] = offsetof each field in declaration
 * order. The Fortran test computes the same numbers for its bind(c) types
 * and compares them field by field. Returns the number of values written. */
#include <stddef.h>
#include <stdint.h>

#include "ptychopatch.h"

#define OFF(type, field) ((int64_t)offsetof(type, field))

int32_t ptpt_context_options_layout(int64_t* out) {
  int32_t n = 0;
  out[n++] = (int64_t)sizeof(ptp_context_options);
  out[n++] = OFF(ptp_context_options, struct_size);
  out[n++] = OFF(ptp_context_options, backend);
  out[n++] = OFF(ptp_context_options, num_threads);
  out[n++] = OFF(ptp_context_options, device);
  out[n++] = OFF(ptp_context_options, reserved0);
  out[n++] = OFF(ptp_context_options, device_memory_budget);
  return n;
}

int32_t ptpt_extract_desc_layout(int64_t* out) {
  int32_t n = 0;
  out[n++] = (int64_t)sizeof(ptp_extract_desc);
  out[n++] = OFF(ptp_extract_desc, struct_size);
  out[n++] = OFF(ptp_extract_desc, height);
  out[n++] = OFF(ptp_extract_desc, width);
  out[n++] = OFF(ptp_extract_desc, patch_size);
  out[n++] = OFF(ptp_extract_desc, group_size);
  out[n++] = OFF(ptp_extract_desc, object_dtype);
  out[n++] = OFF(ptp_extract_desc, offset_dtype);
  out[n++] = OFF(ptp_extract_desc, layout);
  out[n++] = OFF(ptp_extract_desc, memory);
  return n;
}

int32_t ptpt_group_desc_layout(int64_t* out) {
  int32_t n = 0;
  out[n++] = (int64_t)sizeof(ptp_group_desc);
  out[n++] = OFF(ptp_group_desc, struct_size);
  out[n++] = OFF(ptp_group_desc, num_samples);
  out[n++] = OFF(ptp_group_desc, num_neighbors);
  out[n++] = OFF(ptp_group_desc, group_size);
  out[n++] = OFF(ptp_group_desc, seed);
  out[n++] = OFF(ptp_group_desc, sequential);
  out[n++] = OFF(ptp_group_desc, oversample);
  out[n++] = OFF(ptp_group_desc, progress);
  out[n++] = OFF(ptp_group_desc, progress_user_data);
  return n;
}

int32_t ptpt_extract_diagnostics_layout(int64_t* out) {
  int32_t n = 0;
  out[n++] = (int64_t)sizeof(ptp_extract_diagnostics);
  out[n++] = OFF(ptp_extract_diagnostics, struct_size);
  out[n++] = OFF(ptp_extract_diagnostics, call);
  out[n++] = OFF(ptp_extract_diagnostics, reserved0);
  out[n++] = OFF(ptp_extract_diagnostics, patches_total);
  out[n++] = OFF(ptp_extract_diagnostics, patches_outside);
  out[n++] = OFF(ptp_extract_diagnostics, first_outside);
  out[n++] = OFF(ptp_extract_diagnostics, first_outside_offset);
  out[n++] = OFF(ptp_extract_diagnostics, message);
  return n;
}

int32_t ptpt_align_desc_layout(int64_t* out) {
  int32_t n = 0;
  out[n++] = (int64_t)sizeof(ptp_align_desc);
  out[n++] = OFF(ptp_align_desc, struct_size);
  out[n++] = OFF(ptp_align_desc, height);
  out[n++] = OFF(ptp_align_desc, width);
  out[n++] = OFF(ptp_align_desc, channels);
  out[n++] = OFF(ptp_align_desc, frame_dtype);
  out[n++] = OFF(ptp_align_desc, cfa);
  out[n++] = OFF(ptp_align_desc, pattern);
  out[n++] = OFF(ptp_align_desc, upsample_factor);
  out[n++] = OFF(ptp_align_desc, normalization);
  out[n++] = OFF(ptp_align_desc, window);
  out[n++] = OFF(ptp_align_desc, combine);
  out[n++] = OFF(ptp_align_desc, snap);
  out[n++] = OFF(ptp_align_desc, fft_planning);
  out[n++] = OFF(ptp_align_desc, max_shift);
  out[n++] = OFF(ptp_align_desc, method);
  out[n++] = OFF(ptp_align_desc, verify);
  return n;
}

/* A descriptor filled on the C side with distinct values in every field,
 * read back field by field in Fortran. */
void ptpt_fill_align_desc(ptp_align_desc* d) {
  int i;
  d->struct_size = UINT64_C(0x8000000000000001);
  d->height = 11;
  d->width = 12;
  d->channels = 13;
  d->frame_dtype = 14;
  d->cfa = 15;
  for (i = 0; i < 36; ++i) d->pattern[i] = 100 + i;
  d->upsample_factor = 16;
  d->normalization = 17;
  d->window = 18;
  d->combine = 19;
  d->snap = 20;
  d->fft_planning = 21;
  d->max_shift = INT64_C(0x7000000000000022);
  d->method = 23;
  d->verify = 24;
}

/* The same for the grouping descriptor, with a seed above 2^63. */
void ptpt_fill_group_desc(ptp_group_desc* d) {
  d->struct_size = 40;
  d->num_samples = 7;
  d->num_neighbors = 8;
  d->group_size = 9;
  d->seed = UINT64_C(0xFEDCBA9876543210);
  d->sequential = 1;
  d->oversample = 1;
}
