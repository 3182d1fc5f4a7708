/* The README's main job: cut a PtychoPINN-sized batch (5,000 groups of
 * gridsize 2 = 20,000 patches of 64 x 64, complex64) out of a generated
 * 1,024 x 1,024 object, and report the backend, the sizes and the time;
 * then the whole pipeline from scan positions: 20,000 positions grouped
 * into 5,000 groups of 4 nearest neighbours and their patches cut, in one
 * call. Written against the C ABI alone, as a C user would. */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ptychopatch.h"

#define CHECK(call)                                                        \
  do {                                                                     \
    ptp_status status_ = (call);                                           \
    if (status_ != PTP_SUCCESS) {                                          \
      fprintf(stderr, "%s failed: %s\n", #call, ptp_last_error_message()); \
      return 1;                                                            \
    }                                                                      \
  } while (0)

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A smooth complex object: amplitude and phase ripples, like a test target. */
static void make_object(float* obj, int64_t h, int64_t w) {
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double amp = 0.6 + 0.4 * sin(0.05 * (double)x) * cos(0.031 * (double)y);
      const double phase = 1.5 * sin(0.013 * (double)(x + 2 * y));
      obj[2 * (y * w + x)] = (float)(amp * cos(phase));
      obj[2 * (y * w + x) + 1] = (float)(amp * sin(phase));
    }
}

int main(int argc, char** argv) {
  const int64_t height = 1024, width = 1024, n = 64, gridsize = 2;
  const int64_t groups = argc > 1 ? atoll(argv[1]) : 5000;
  const int64_t c = gridsize * gridsize, patches = groups * c;

  float* object = malloc(sizeof(float) * 2 * (size_t)(height * width));
  double* offsets = malloc(sizeof(double) * 2 * (size_t)patches);
  if (!object || !offsets) return 1;
  make_object(object, height, width);
  /* Scan centres with fractional parts, kept N/2 inside the object. */
  srand(12345);
  for (int64_t p = 0; p < patches; ++p) {
    offsets[2 * p] = n / 2 + (double)rand() / RAND_MAX * (double)(width - n);
    offsets[2 * p + 1] = n / 2 + (double)rand() / RAND_MAX * (double)(height - n);
  }

  ptp_context* ctx = NULL;
  CHECK(ptp_context_create(NULL, &ctx));
  int32_t backend = 0;
  int32_t threads = 0;
  CHECK(ptp_context_get_backend(ctx, &backend));
  CHECK(ptp_context_get_num_threads(ctx, &threads));

  ptp_extract_desc desc;
  CHECK(ptp_extract_desc_init(&desc, sizeof desc));
  desc.height = height;
  desc.width = width;
  desc.patch_size = n;
  desc.group_size = c;
  size_t out_bytes = 0;
  CHECK(ptp_extract_output_bytes(&desc, patches, &out_bytes));
  float* out = malloc(out_bytes);
  if (!out) return 1;

  ptp_extract_plan* plan = NULL;
  CHECK(ptp_extract_plan_create(ctx, &desc, &plan));
  const double t0 = seconds_now();
  CHECK(ptp_extract_execute(plan, object, offsets, patches, out, out_bytes));
  const double first = seconds_now() - t0;
  const int repeats = 5;
  const double t1 = seconds_now();
  for (int r = 0; r < repeats; ++r)
    CHECK(ptp_extract_execute(plan, object, offsets, patches, out, out_bytes));
  const double steady = (seconds_now() - t1) / repeats;

  double checksum = 0.0;
  for (size_t i = 0; i < out_bytes / sizeof(float); ++i) checksum += out[i];

  /* Scan positions -> groups -> patches: a jittered raster scan of
   * `patches` positions over the object, grouped as PtychoPINN does
   * (K = 4 nearest neighbours, gridsize 2, seed 0). */
  const int64_t positions = patches;
  const int64_t side = (int64_t)ceil(sqrt((double)positions));
  double* xs = malloc(sizeof(double) * (size_t)positions);
  double* ys = malloc(sizeof(double) * (size_t)positions);
  int64_t* nn_indices = malloc(sizeof(int64_t) * (size_t)patches);
  double* coords_offsets = malloc(sizeof(double) * 2 * (size_t)groups);
  if (!xs || !ys || !nn_indices || !coords_offsets) return 1;
  for (int64_t i = 0; i < positions; ++i) {
    const double step = (double)(width - n) / (double)side;
    xs[i] = n / 2 + step * ((double)(i % side) + (double)rand() / RAND_MAX);
    ys[i] = n / 2 + step * ((double)(i / side) + (double)rand() / RAND_MAX);
  }
  ptp_group_desc group;
  CHECK(ptp_group_desc_init(&group, sizeof group));
  group.num_samples = groups;
  group.num_neighbors = 4;
  group.group_size = c;
  group.seed = 0;
  const double t2 = seconds_now();
  CHECK(ptp_grouped_patches(ctx, &group, &desc, object, xs, ys, positions, nn_indices, NULL,
                            coords_offsets, NULL, out, out_bytes));
  const double grouped = seconds_now() - t2;

  printf("libptychopatch %s\n", ptp_version_string());
  printf("backend        : %s (%d CPU threads)\n", backend == PTP_BACKEND_GPU ? "gpu" : "cpu",
         (int)threads);
  printf("object         : %lld x %lld complex64\n", (long long)height, (long long)width);
  printf("patches        : %lld groups x %lld (gridsize %lld) = %lld patches of %lld x %lld\n",
         (long long)groups, (long long)c, (long long)gridsize, (long long)patches, (long long)n,
         (long long)n);
  printf("output         : (%lld, %lld, %lld, %lld) complex64, %.1f MB\n", (long long)groups,
         (long long)n, (long long)n, (long long)c, (double)out_bytes / 1e6);
  printf("time           : first call %.4f s, steady %.4f s (mean of %d)\n", first, steady,
         repeats);
  printf("throughput     : %.0f patches/s, %.2f GB/s of output\n", (double)patches / steady,
         (double)out_bytes / steady / 1e9);
  printf("checksum       : %.6e\n", checksum);
  printf(
      "grouped        : %lld scan positions -> %lld groups of %lld (K = 4) -> patches in "
      "one call: %.4f s\n",
      (long long)positions, (long long)groups, (long long)c, grouped);
  printf("first group    : members %lld %lld %lld %lld, centre (%.2f, %.2f)\n",
         (long long)nn_indices[0], (long long)nn_indices[1], (long long)nn_indices[2],
         (long long)nn_indices[3], coords_offsets[0], coords_offsets[1]);

  ptp_extract_plan_destroy(plan);
  ptp_context_destroy(ctx);
  free(out);
  free(xs);
  free(ys);
  free(nn_indices);
  free(coords_offsets);
  free(offsets);
  free(object);
  return 0;
}
