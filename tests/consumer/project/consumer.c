/* A C99 program built against the INSTALLED libptychopatch (find_package or
 * pkg-config, tests/consumer): header and library found, versions agree,
 * an extraction, a grouping and an error status work. */
#include <stdio.h>
#include <string.h>

#include <ptychopatch.h>

static int failures = 0;
#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      ++failures;                                                           \
      fprintf(stderr, "consumer.c:%d: expected %s (%s)\n", __LINE__, #cond, \
              ptp_last_error_message());                                    \
    }                                                                       \
  } while (0)

int main(void) {
  enum { H = 5, W = 6, N = 3 };
  float object[H * W], patch[N * N];
  const double offset[2] = {2.0, 3.0}; /* centre x = 2, y = 3: rows 2..4, cols 1..3 */
  double x[6] = {0, 1, 2, 0, 1, 2}, y[6] = {0, 0, 0, 1, 1, 1};
  int64_t members[2 * 3];
  double mean[2 * 2];
  ptp_extract_desc desc;
  ptp_group_desc group;
  ptp_extract_plan* plan = NULL;
  int32_t major = -1, minor = -1, patch_version = -1;
  int i, r, c;

  for (i = 0; i < H * W; ++i) object[i] = (float)i;
  EXPECT(ptp_get_version(&major, &minor, &patch_version) == PTP_SUCCESS);
  EXPECT(major == PTP_VERSION_MAJOR && minor == PTP_VERSION_MINOR &&
         patch_version == PTP_VERSION_PATCH);

  EXPECT(ptp_extract_desc_init(&desc, sizeof desc) == PTP_SUCCESS);
  desc.height = H;
  desc.width = W;
  desc.patch_size = N;
  desc.object_dtype = PTP_DTYPE_FLOAT32;
  EXPECT(ptp_extract_patches(NULL, &desc, object, offset, 1, patch, sizeof patch) == PTP_SUCCESS);
  for (r = 0; r < N; ++r)
    for (c = 0; c < N; ++c) EXPECT(patch[r * N + c] == object[(2 + r) * W + (1 + c)]);

  EXPECT(ptp_group_desc_init(&group, sizeof group) == PTP_SUCCESS);
  group.num_samples = 2;
  group.num_neighbors = 3;
  group.group_size = 3;
  EXPECT(ptp_group_neighbors(NULL, &group, x, y, 6, members, NULL, mean, NULL) == PTP_SUCCESS);
  for (i = 0; i < 6; ++i) EXPECT(members[i] >= 0 && members[i] < 6);

  desc.patch_size = 0;
  {
    ptp_context* ctx = NULL;
    EXPECT(ptp_context_create(NULL, &ctx) == PTP_SUCCESS);
    EXPECT(ptp_extract_plan_create(ctx, &desc, &plan) == PTP_ERROR_INVALID_SIZE);
    EXPECT(strstr(ptp_last_error_message(), "patch_size") != NULL);
    EXPECT(plan == NULL);
    EXPECT(ptp_context_destroy(ctx) == PTP_SUCCESS);
  }

  printf("consumer_c: libptychopatch %s, %s\n", ptp_version_string(),
         failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
