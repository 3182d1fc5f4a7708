/* The public header compiled as strict C99 and the library linked from C:
 * a small extraction checked against direct crops, its reassembly, and the
 * error path. */
#include <stdio.h>
#include <string.h>

#include "ptychopatch.h"

static int passed = 0, failed = 0;

#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (cond) {                                                           \
      ++passed;                                                           \
    } else {                                                              \
      ++failed;                                                           \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

int main(void) {
  enum { H = 6, W = 7, N = 3, P = 2 };
  float object[H * W];
  float out[P * N * N];
  float offsets[2 * P] = {3.0f, 2.0f, 0.0f, 5.0f}; /* integer: exact crops */
  ptp_context* ctx = NULL;
  ptp_extract_desc desc;
  ptp_extract_plan* plan = NULL;
  int i, p, y, x;
  int32_t major = 0, minor = 0, patch = 0;

  for (i = 0; i < H * W; ++i) object[i] = (float)(i + 1);
  EXPECT(ptp_get_version(&major, &minor, &patch) == PTP_SUCCESS);
  EXPECT(major == PTP_VERSION_MAJOR && minor == PTP_VERSION_MINOR);
  EXPECT(strlen(ptp_version_string()) > 0);

  EXPECT(ptp_context_create(NULL, &ctx) == PTP_SUCCESS);
  EXPECT(ptp_extract_desc_init(&desc, sizeof desc) == PTP_SUCCESS);
  desc.height = H;
  desc.width = W;
  desc.patch_size = N;
  desc.object_dtype = PTP_DTYPE_FLOAT32;
  desc.offset_dtype = PTP_DTYPE_FLOAT32;
  desc.layout = PTP_LAYOUT_FLAT;
  EXPECT(ptp_extract_plan_create(ctx, &desc, &plan) == PTP_SUCCESS);
  EXPECT(ptp_extract_execute(plan, object, offsets, P, out, sizeof out) == PTP_SUCCESS);
  for (p = 0; p < P; ++p)
    for (y = 0; y < N; ++y)
      for (x = 0; x < N; ++x) {
        const int oy = (int)offsets[2 * p + 1] - N / 2 + y;
        const int ox = (int)offsets[2 * p] - N / 2 + x;
        const float want = (oy >= 0 && oy < H && ox >= 0 && ox < W) ? object[oy * W + ox] : 0.0f;
        EXPECT(out[(p * N + y) * N + x] == want);
      }

  /* Reassembly of those exact crops pastes them back: every pixel is the
   * object value times the number of patches covering it, which is also its
   * weight. */
  {
    float canvas[H * W];
    float weights[H * W];
    int r, c;
    memset(canvas, 0x7f, sizeof canvas);
    memset(weights, 0x7f, sizeof weights);
    EXPECT(ptp_reassemble_execute(plan, out, offsets, P, canvas, sizeof canvas, weights,
                                  sizeof weights) == PTP_SUCCESS);
    for (r = 0; r < H; ++r)
      for (c = 0; c < W; ++c) {
        int covering = 0;
        for (p = 0; p < P; ++p) {
          const int y0 = (int)offsets[2 * p + 1] - N / 2;
          const int x0 = (int)offsets[2 * p] - N / 2;
          if (r >= y0 && r < y0 + N && c >= x0 && c < x0 + N) ++covering;
        }
        EXPECT(weights[r * W + c] == (float)covering);
        EXPECT(canvas[r * W + c] == (float)covering * object[r * W + c]);
      }
    EXPECT(ptp_reassemble_execute(plan, out, offsets, P, canvas, sizeof canvas - 1, NULL, 0) ==
           PTP_ERROR_BUFFER_TOO_SMALL);
    EXPECT(strstr(ptp_last_error_message(), "canvas_bytes") != NULL);
  }

  /* Neighbour grouping from C: a 3 x 3 grid, sequential seeds, gridsize 2,
   * K = 4. Members are distinct, never the seed, and coords_offsets is
   * their mean. */
  {
    double gx[9], gy[9], coords[9 * 2 * 4], mean[9 * 2], relative[9 * 2 * 4];
    int64_t nn[9 * 4];
    ptp_group_desc group;
    int i, b, k, m;
    for (i = 0; i < 9; ++i) {
      gx[i] = 10.0 * (i % 3);
      gy[i] = 10.0 * (i / 3);
    }
    EXPECT(ptp_group_desc_init(&group, sizeof group) == PTP_SUCCESS);
    EXPECT(group.num_neighbors == 4 && group.group_size == 4 && group.oversample == 0);
    group.num_samples = 9;
    group.sequential = 1;
    EXPECT(ptp_group_neighbors(ctx, &group, gx, gy, 9, nn, coords, mean, relative) == PTP_SUCCESS);
    for (b = 0; b < 9; ++b) {
      double sx = 0.0, sy = 0.0;
      for (k = 0; k < 4; ++k) {
        const int64_t member = nn[b * 4 + k];
        EXPECT(member >= 0 && member < 9 && member != b);
        for (m = 0; m < k; ++m) EXPECT(nn[b * 4 + m] != member);
        EXPECT(coords[b * 8 + k] == gx[member] && coords[b * 8 + 4 + k] == gy[member]);
        sx += gx[member];
        sy += gy[member];
      }
      EXPECT(mean[2 * b] == sx / 4 && mean[2 * b + 1] == sy / 4);
      EXPECT(relative[b * 8] == -(coords[b * 8] - mean[2 * b]));
    }
    group.num_samples = 10; /* more groups than positions, no oversampling */
    EXPECT(ptp_group_neighbors(ctx, &group, gx, gy, 9, nn, NULL, NULL, NULL) ==
           PTP_ERROR_INVALID_ARGUMENT);
    EXPECT(strstr(ptp_last_error_message(), "oversample") != NULL);
  }

  /* The cross-correlation of one pair from C: a 4 x 6 image against itself
   * moved by (1, -2) peaks at (-1, 2), wrapped to (3, 2), with height 1. */
  {
    enum { CH = 4, CW = 6 };
    float ref[CH * CW], mov[CH * CW], corr[CH * CW];
    ptp_correlate_desc cdesc;
    ptp_correlate_plan* cplan = NULL;
    int best = 0;
    for (i = 0; i < CH * CW; ++i) ref[i] = (float)((i * 7) % 11) - 5.0f;
    for (y = 0; y < CH; ++y)
      for (x = 0; x < CW; ++x) mov[((y + 1) % CH) * CW + (x + CW - 2) % CW] = ref[y * CW + x];
    EXPECT(ptp_correlate_desc_init(&cdesc, sizeof cdesc) == PTP_SUCCESS);
    EXPECT(cdesc.normalization == PTP_NORMALIZATION_PHASE);
    cdesc.height = CH;
    cdesc.width = CW;
    EXPECT(ptp_correlate_plan_create(ctx, &cdesc, &cplan) == PTP_SUCCESS);
    EXPECT(ptp_correlate_execute(cplan, ref, mov, NULL, corr) == PTP_SUCCESS);
    for (i = 1; i < CH * CW; ++i)
      if ((corr[i] < 0 ? -corr[i] : corr[i]) > (corr[best] < 0 ? -corr[best] : corr[best]))
        best = i;
    EXPECT(best == 3 * CW + 2);
    EXPECT(corr[best] > 0.999f && corr[best] < 1.001f);
    EXPECT(ptp_correlate_execute(cplan, ref, mov, NULL, NULL) == PTP_ERROR_INVALID_ARGUMENT);
    EXPECT(ptp_correlate_plan_destroy(cplan) == PTP_SUCCESS);
  }

  /* A bad input: status, message, output untouched. */
  memset(out, 0x7f, sizeof out);
  offsets[1] = 1.0f / 0.0f;
  EXPECT(ptp_extract_execute(plan, object, offsets, P, out, sizeof out) == PTP_ERROR_NON_FINITE);
  EXPECT(strstr(ptp_last_error_message(), "offsets") != NULL);
  EXPECT(strcmp(ptp_status_name(PTP_ERROR_NON_FINITE), "PTP_ERROR_NON_FINITE") == 0);
  {
    unsigned char expect_bytes[sizeof out];
    memset(expect_bytes, 0x7f, sizeof expect_bytes);
    EXPECT(memcmp(out, expect_bytes, sizeof out) == 0);
  }

  EXPECT(ptp_extract_plan_destroy(plan) == PTP_SUCCESS);
  EXPECT(ptp_context_destroy(ctx) == PTP_SUCCESS);
  printf("c_abi: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
