/*
 * libptychopatch: translate-and-crop patch extraction, nearest-neighbour
 * grouping of scan positions and CFA-aware phase correlation of RAW frames,
 * behind a stable C ABI, with a CUDA backend and a CPU fallback.
 *
 * Conventions of this header (C99):
 *  - Every exported symbol starts with `ptp_`, every macro and enum constant
 *    with `PTP_`.
 *  - Every function but the three string getters returns a `ptp_status`
 *    (an int32_t holding one of the PTP_SUCCESS / PTP_ERROR_* codes). On
 *    failure no output argument is written and `ptp_last_error_message()`
 *    names the offending argument.
 *  - Sizes and counts are int64_t (negative values are rejected, never
 *    wrapped); byte sizes of caller buffers are size_t.
 *  - Offsets and positions are given x first, then y, in pixels.
 *  - Enum-valued struct fields and arguments are int32_t, so the layout does
 *    not depend on the compiler's enum size (C, Fortran, FFI alike).
 *  - Option and descriptor structs carry their own `struct_size`. Fill them
 *    with the matching `*_init(&s, sizeof s)`, then change the fields you
 *    need. The size tells the library which version of the struct the
 *    caller was compiled with, so later releases can append fields without
 *    breaking the ABI (and never write past an older caller's struct).
 *  - Handles are opaque. A handle must not be used from two threads at the
 *    same time; distinct handles may be used concurrently.
 *
 * Full reference: docs/api.md. Semantics of every result: docs/semantics.md.
 */
#ifndef PTYCHOPATCH_H
#define PTYCHOPATCH_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#if defined(PTYCHOPATCH_BUILDING_LIBRARY)
#define PTP_API __declspec(dllexport)
#else
#define PTP_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define PTP_API __attribute__((visibility("default")))
#else
#define PTP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header. The soname carries PTP_VERSION_MAJOR (the ABI
 * major); minor releases only add symbols or append struct fields. */
#define PTP_VERSION_MAJOR 0
#define PTP_VERSION_MINOR 4
#define PTP_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

/* Status codes; the values are part of the ABI. Functions return them as
 * ptp_status (int32_t). */
enum ptp_status_code {
  PTP_SUCCESS = 0,
  /* A null pointer where data is required, an unknown enum value, or an
   * option struct whose struct_size this library does not know. */
  PTP_ERROR_INVALID_ARGUMENT = 1,
  /* A size or count out of its domain: N < 1, H or W < 1, a negative count,
   * a patch count that is not a multiple of the group size. */
  PTP_ERROR_INVALID_SIZE = 2,
  /* Sizes whose product (elements or bytes) does not fit in 64 bits. */
  PTP_ERROR_SIZE_OVERFLOW = 3,
  /* A NaN or infinite value where a finite number is required. */
  PTP_ERROR_NON_FINITE = 4,
  /* The caller's output buffer is smaller than the result. */
  PTP_ERROR_BUFFER_TOO_SMALL = 5,
  /* Host or device memory could not be allocated. */
  PTP_ERROR_OUT_OF_MEMORY = 6,
  /* The GPU backend was demanded but this build has no CUDA support, or no
   * driver or device is usable. */
  PTP_ERROR_BACKEND_UNAVAILABLE = 7,
  /* A valid request that this backend or build does not support, e.g.
   * device pointers on a CPU context. */
  PTP_ERROR_UNSUPPORTED = 8,
  /* A CUDA runtime or library call failed; the message has the details. */
  PTP_ERROR_CUDA = 9,
  /* A progress callback asked to stop. */
  PTP_ERROR_CANCELLED = 10,
  /* The data carries nothing to estimate from: every plane of a frame is
   * constant (flat, fully clipped, dead) in it or in the reference. */
  PTP_ERROR_NO_INFORMATION = 11,
  /* A bug in this library; please report it with the message. */
  PTP_ERROR_INTERNAL = 99
};
typedef int32_t ptp_status;

/* Static, never-null name of a status code, e.g. "PTP_ERROR_NON_FINITE";
 * "PTP_UNKNOWN_STATUS" for values that are not codes. */
PTP_API const char* ptp_status_name(ptp_status status);

/* Message describing the outcome of the most recent call made on this
 * thread: empty after a success, a sentence naming the argument after a
 * failure. Valid until the next call on this thread; never null. */
PTP_API const char* ptp_last_error_message(void);

/* --------------------------------------------------------------- version */

/* Version of the library actually loaded (compare with PTP_VERSION_*). */
PTP_API ptp_status ptp_get_version(int32_t* major, int32_t* minor, int32_t* patch);

/* "MAJOR.MINOR.PATCH+cpu" for a build without CUDA; for a CUDA build
 * "MAJOR.MINOR.PATCH+cuda" where device 0 can run the GPU backend, else
 * "MAJOR.MINOR.PATCH+cuda (GPU backend unavailable)", whose reason
 * ptp_context_get_backend_reason(NULL, ...) gives. Static, never null. */
PTP_API const char* ptp_version_string(void);

/* ------------------------------------------------------------ enums used */

typedef enum ptp_backend {
  PTP_BACKEND_AUTO = 0, /* the GPU when one is usable, else the CPU */
  PTP_BACKEND_CPU = 1,
  PTP_BACKEND_GPU = 2
} ptp_backend;

/* Element types of arrays crossing the ABI. */
typedef enum ptp_dtype {
  PTP_DTYPE_FLOAT32 = 1,
  PTP_DTYPE_FLOAT64 = 2,
  PTP_DTYPE_COMPLEX64 = 3, /* interleaved (re, im) float32 pairs */
  PTP_DTYPE_UINT16 = 4     /* raw sensor counts (LibRaw / rawpy raw_image) */
} ptp_dtype;

/* Where the caller's arrays live. */
typedef enum ptp_memory {
  PTP_MEMORY_HOST = 0,  /* ordinary (pageable or pinned) host memory */
  PTP_MEMORY_DEVICE = 1 /* CUDA device memory of the context's device */
} ptp_memory;

/* Output layouts of patch extraction (B groups of c patches, N x N each). */
typedef enum ptp_layout {
  /* (B, N, N, c), C order: patch p = b*c + k is out[b, :, :, k]
   * (PtychoPINN's channel format). */
  PTP_LAYOUT_CHANNEL = 0,
  /* (B*c, N, N), C order: patch p is out[p, :, :]. */
  PTP_LAYOUT_FLAT = 1
} ptp_layout;

/* --------------------------------------------------------------- context */

/* A context chooses the backend and owns its resources (threads now; the
 * CUDA device, streams and memory budget of the GPU backend). */
typedef struct ptp_context ptp_context;

typedef struct ptp_context_options {
  uint64_t struct_size; /* sizeof(ptp_context_options), set by _init */
  int32_t backend;      /* ptp_backend; default PTP_BACKEND_AUTO */
  int32_t num_threads;  /* CPU worker threads; 0 (default) = all cores */
  int32_t device;       /* CUDA device ordinal for the GPU backend; 0 */
  int32_t reserved0;    /* must be 0 */
  /* Upper bound in bytes on the device memory the GPU backend allocates
   * for one call on host arrays. A call whose patches do not fit is split
   * into chunks of whole groups that do (results are identical whatever
   * the chunking); only the object (or canvas) and one group must fit.
   * 0 (default) = half of the device's free memory at the time of the
   * call. Not used by the CPU backend, nor by calls on device arrays
   * (those allocate only a few bytes of scratch). */
  uint64_t device_memory_budget;
} ptp_context_options;

/* Fills *options with the defaults listed above; struct_size must be
 * sizeof(ptp_context_options) as the caller sees it. */
PTP_API ptp_status ptp_context_options_init(ptp_context_options* options, size_t struct_size);

/* Creates a context. options may be NULL for the defaults. With
 * PTP_BACKEND_AUTO the context resolves to the GPU when CUDA support is
 * built in and a device is usable, else to the CPU; with PTP_BACKEND_GPU and
 * no usable device it fails with PTP_ERROR_BACKEND_UNAVAILABLE. */
PTP_API ptp_status ptp_context_create(const ptp_context_options* options, ptp_context** context);

/* Releases a context. NULL is accepted and ignored. Plans made from the
 * context must be destroyed first. */
PTP_API ptp_status ptp_context_destroy(ptp_context* context);

/* The backend the context resolved to: PTP_BACKEND_CPU or PTP_BACKEND_GPU.
 * A GPU counts as usable when this build carries kernels its architecture
 * can run (see docs/api.md). */
PTP_API ptp_status ptp_context_get_backend(const ptp_context* context, int32_t* backend);

/* Why a context resolved to its backend (ptp_context_get_backend_reason). */
typedef enum ptp_backend_reason {
  PTP_BACKEND_REASON_GPU = 0,           /* it runs on the GPU */
  PTP_BACKEND_REASON_CPU_REQUESTED = 1, /* options->backend was PTP_BACKEND_CPU */
  PTP_BACKEND_REASON_NO_CUDA_BUILD = 2, /* this build has no CUDA support */
  PTP_BACKEND_REASON_NO_GPU = 3,        /* no NVIDIA driver, or no device */
  /* A GPU is present but this build cannot use it: no code for its
   * architecture, a driver older than the build needs, a device ordinal
   * out of range, or a CUDA context lost to an earlier error. */
  PTP_BACKEND_REASON_GPU_UNUSABLE = 4
} ptp_backend_reason;

/* Why the context runs where it does: *reason is a ptp_backend_reason and
 * *message a sentence, e.g. "CUDA device 0 (NVIDIA A10, compute capability
 * 8.6) cannot run this build's kernels: it carries code for sm_90 only".
 * On a GPU context the message names the device, and says so when scene
 * alignment will run on the CPU because cuFFT cannot be loaded. The
 * message is owned by the context and valid as long as it is. context may
 * be NULL: the shared default context of one-shot calls. */
PTP_API ptp_status ptp_context_get_backend_reason(const ptp_context* context, int32_t* reason,
                                                  const char** message);

/* Number of CPU threads the context uses. */
PTP_API ptp_status ptp_context_get_num_threads(const ptp_context* context, int32_t* num_threads);

/* The CUDA stream (a cudaStream_t, passed as void*) on which the context
 * orders its work on device arrays (PTP_MEMORY_DEVICE). NULL (the default)
 * is CUDA's default stream. The stream must belong to the context's device
 * and outlive its use by the context. On a CPU context only NULL is
 * accepted (PTP_ERROR_UNSUPPORTED otherwise). Calls on host arrays use the
 * context's own internal streams and return when their results are in
 * host memory. */
PTP_API ptp_status ptp_context_set_stream(ptp_context* context, void* cuda_stream);
PTP_API ptp_status ptp_context_get_stream(const ptp_context* context, void** cuda_stream);

/* Waits for the context's stream and reports what its calls on device
 * arrays found since the previous ptp_context_synchronize. Those calls
 * return without waiting, so a non-finite offset cannot be their status:
 * such a call writes nothing and is recorded here, and this returns
 * PTP_ERROR_NON_FINITE (the message counts the calls and names the first
 * one's bad patch), then clears the record. PTP_ERROR_CUDA if the stream's
 * work failed. On a CPU context, or with nothing recorded, PTP_SUCCESS.
 * The record is the context's: its device-array calls must be ordered
 * with one another (one stream, or streams the caller orders), as the
 * work area of a cuFFT plan must be. */
PTP_API ptp_status ptp_context_synchronize(ptp_context* context);

/* Number of CUDA devices the driver reports: 0 when the library was built
 * without CUDA, or when no driver or device is present (this is not an
 * error). Whether a device can run this build's kernels is decided when a
 * context is created on it (PTP_BACKEND_GPU fails with the reason). */
PTP_API ptp_status ptp_cuda_device_count(int32_t* count);

/* -------------------------------------------------------------- progress */

/* Progress of a long call: called by the library on the calling thread (never
 * from a worker thread), between pieces of work, with `done` of `total` units
 * finished in this call (0 <= done <= total, non-decreasing; the last call
 * has done == total unless the call stops early). The unit is the call's:
 * patches (extraction, reassembly), groups (grouping), frames (alignment).
 * Return 0 to go on; non-zero stops the call with PTP_ERROR_CANCELLED.
 * Installed per plan (ptp_extract_set_progress, ptp_align_set_progress) or
 * per descriptor (ptp_group_desc.progress). */
typedef int32_t (*ptp_progress_fn)(int64_t done, int64_t total, void* user_data);

/* ------------------------------------------------------ patch extraction */

/* Geometry and types of an extraction, fixed when a plan is made. */
typedef struct ptp_extract_desc {
  uint64_t struct_size; /* sizeof(ptp_extract_desc), set by _init */
  int64_t height;       /* object rows H >= 1 */
  int64_t width;        /* object columns W >= 1 */
  int64_t patch_size;   /* 1 <= N <= 2^24; patches are N x N, centred at
                           N//2 */
  int64_t group_size;   /* c >= 1 patches per group; default 1 */
  int32_t object_dtype; /* PTP_DTYPE_COMPLEX64 (default) or _FLOAT32;
                           the patches have the same type */
  int32_t offset_dtype; /* PTP_DTYPE_FLOAT64 (default) or _FLOAT32 */
  int32_t layout;       /* ptp_layout; default PTP_LAYOUT_CHANNEL */
  int32_t memory;       /* ptp_memory of object, offsets and patches;
                           default PTP_MEMORY_HOST */
} ptp_extract_desc;

/* Fills *desc with defaults: H = W = N = 0 (must be set), c = 1,
 * complex64 object, float64 offsets, channel layout, host memory.
 * struct_size must be sizeof(ptp_extract_desc) as the caller sees it. */
PTP_API ptp_status ptp_extract_desc_init(ptp_extract_desc* desc, size_t struct_size);

/* Bytes of the patch array for num_patches patches (num_patches*N*N*elem). */
PTP_API ptp_status ptp_extract_output_bytes(const ptp_extract_desc* desc, int64_t num_patches,
                                            size_t* bytes);

/* A plan validates a descriptor once and is then executed any number of
 * times on new data (FFTW style). It keeps a reference to its context. */
typedef struct ptp_extract_plan ptp_extract_plan;

PTP_API ptp_status ptp_extract_plan_create(ptp_context* context, const ptp_extract_desc* desc,
                                           ptp_extract_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_extract_plan_destroy(ptp_extract_plan* plan);

/* Installs (or, with NULL, removes) the progress callback of the plan, used
 * by ptp_extract_execute, ptp_extract_execute_legacy and
 * ptp_reassemble_execute on it; units are patches. The CPU backend reports
 * (0, total) first, then after each of about 100 chunks of the patches (at
 * most about 0.1 s of work each), the last (total, total). The GPU backend
 * cuts all patches in one kernel launch (one per chunk of its host-array
 * pipeline) and reports (0, total) before and (total, total) after the work.
 * Without a callback a call runs as one piece. A callback that returns
 * non-zero stops the call with PTP_ERROR_CANCELLED: the output (patches, or
 * canvas and weights) is then unspecified, partly written; the plan and its
 * context stay usable. The callback may call the library, this plan
 * included. */
PTP_API ptp_status ptp_extract_set_progress(ptp_extract_plan* plan, ptp_progress_fn callback,
                                            void* user_data);

/* Memory (desc->memory):
 *  - PTP_MEMORY_HOST: every array is in host memory; the call returns when
 *    the patches are written. On a GPU context the work is split into
 *    chunks under the context's device_memory_budget, staged through
 *    pinned buffers, with copies overlapped with compute.
 *  - PTP_MEMORY_DEVICE: every array is CUDA device (or managed) memory of
 *    the context's device (a GPU context is required, else
 *    PTP_ERROR_UNSUPPORTED; a host pointer gives
 *    PTP_ERROR_INVALID_ARGUMENT). The call enqueues its work on the
 *    context's stream (ptp_context_set_stream) and returns without waiting
 *    for the device: an offset check, then the extraction, which writes
 *    nothing if an offset is not finite; ptp_context_synchronize reports
 *    that (PTP_ERROR_NON_FINITE). It allocates nothing and never waits, so
 *    it may be captured in a CUDA graph (each replay checks its offsets
 *    again). The patches are ready when the stream reaches that point. */

/* Extracts num_patches patches (a multiple of group_size; 0 is valid).
 *   object:  H x W array (row-major) of object_dtype.
 *   offsets: num_patches (x, y) pairs of offset_dtype; pair p is the centre
 *            of patch p in object pixels (fractional values interpolate
 *            bilinearly; see docs/semantics.md). Must be finite.
 *   patches: output of patches_bytes bytes, at least
 *            ptp_extract_output_bytes(desc, num_patches).
 * offsets and patches may be NULL only when num_patches is 0. */
PTP_API ptp_status ptp_extract_execute(ptp_extract_plan* plan, const void* object,
                                       const void* offsets, int64_t num_patches, void* patches,
                                       size_t patches_bytes);

/* PtychoPINN's legacy offset form for num_groups groups of c = group_size:
 *   global_offsets: (num_groups, 1, 2, 1) of offset_dtype: [b][axis], axis 0
 *                   is x and 1 is y;
 *   local_offsets:  (num_groups, 1, 2, c): [b][axis][k].
 * The offset of patch (b, k) is float32(global[b][axis] + local[b][axis][k]),
 * the sum taken in offset_dtype and rounded once to float32. */
PTP_API ptp_status ptp_extract_execute_legacy(ptp_extract_plan* plan, const void* object,
                                              const void* global_offsets, const void* local_offsets,
                                              int64_t num_groups, void* patches,
                                              size_t patches_bytes);

/* One-shot convenience: make a plan on context (NULL = the library's shared default
 * context: AUTO backend, made on first use and kept),
 * execute it once, destroy it. */
PTP_API ptp_status ptp_extract_patches(ptp_context* context, const ptp_extract_desc* desc,
                                       const void* object, const void* offsets, int64_t num_patches,
                                       void* patches, size_t patches_bytes);

/* ------------------------------------------------ reassembly (adjoint) */

/* The adjoint (transpose) of extraction on the same plan: every patch value
 * is scattered back into an H x W canvas with the four bilinear weights it
 * was sampled with, and the contributions are summed (corners in the zero
 * padding are dropped, as extraction read zeros there). So for any object
 * x and patches y, <extract(x), y> = <x, reassemble(y)>.
 *   patches: num_patches patches in the plan's layout and object_dtype
 *            (as ptp_extract_execute writes them).
 *   offsets: num_patches (x, y) pairs of offset_dtype, as for
 *            ptp_extract_execute. Must be finite. (For PtychoPINN's global +
 *            local form pass float32(global + local), the sum taken in the
 *            inputs' precision as ptp_extract_execute_legacy does.)
 *   canvas:  H x W of object_dtype, canvas_bytes >= H*W*element size;
 *            overwritten with the sum.
 *   weights: H x W float32 or NULL; when given (weights_bytes >= H*W*4),
 *            overwritten with the summed bilinear weight each pixel
 *            received, i.e. the reassembly of all-ones patches, so that
 *            canvas / weights (where weights > 0) averages the overlaps.
 * Sums are in float32, each canvas pixel adding its terms in one fixed order
 * (patches ascending, then rows, then columns) on both backends, so the
 * GPU's result is bitwise the CPU's and depends on neither scheduling,
 * chunking nor the thread count. num_patches = 0 gives zero canvases.
 * Memory, streams and deferred offset checks as for ptp_extract_execute. */
PTP_API ptp_status ptp_reassemble_execute(ptp_extract_plan* plan, const void* patches,
                                          const void* offsets, int64_t num_patches, void* canvas,
                                          size_t canvas_bytes, float* weights,
                                          size_t weights_bytes);

/* One-shot convenience: make a plan on context (NULL = the library's shared default
 * context: AUTO backend, made on first use and kept),
 * reassemble once, destroy it. */
PTP_API ptp_status ptp_reassemble_patches(ptp_context* context, const ptp_extract_desc* desc,
                                          const void* patches, const void* offsets,
                                          int64_t num_patches, void* canvas, size_t canvas_bytes,
                                          float* weights, size_t weights_bytes);

/* --------------------------------------- diagnostics of patch geometry */

/* Offsets far outside the object are valid (their patches are zeros), so a
 * call with offsets in the wrong order ((y, x) instead of (x, y)) or in the
 * wrong frame succeeds and returns mostly all-zero patches. The diagnostics
 * say how many patches of the last call fell entirely outside the object,
 * so that a caller can warn (Python's OutsideObjectWarning does). They
 * never change a result or a status.
 *
 * A patch falls entirely outside the object when none of the bilinear
 * corners it samples is an object pixel: every sample of it reads the zero
 * padding, so an extracted patch is all zeros and a reassembled one adds
 * nothing to the canvas. Exactly (docs/semantics.md): along x, pixel x of
 * the patch reads padded columns floor(fl32(x + ox)) and that + 1; the
 * patch is outside when for every x both lie outside [h, W + h), or for
 * every y both rows lie outside [h, H + h). A corner counts whatever its
 * weight: a patch whose only object corners have weight 0 (an integer
 * offset x = h - N or y = h - N, whose last column or row stops one pixel
 * short of the object) is not counted, though its values are zeros too
 * (unless the object holds NaN or infinity there). */

/* Which call a ptp_extract_diagnostics describes. */
typedef enum ptp_diagnosed_call {
  PTP_DIAGNOSED_NONE = 0,      /* none yet, or the last call failed */
  PTP_DIAGNOSED_EXTRACT = 1,   /* ptp_extract_execute(_legacy), ptp_extract_patches,
                                  ptp_grouped_patches */
  PTP_DIAGNOSED_REASSEMBLE = 2 /* ptp_reassemble_execute, ptp_reassemble_patches */
} ptp_diagnosed_call;

typedef struct ptp_extract_diagnostics {
  uint64_t struct_size;  /* sizeof(ptp_extract_diagnostics), set by _init */
  int32_t call;          /* ptp_diagnosed_call */
  int32_t reserved0;     /* 0 */
  int64_t patches_total; /* patches of the call (B * c); 0 for NONE */
  /* Patches entirely outside the object; -1 when not counted: offsets in
   * device memory (PTP_MEMORY_DEVICE) are not read back, as that would
   * wait for the stream; and for PTP_DIAGNOSED_NONE. */
  int64_t patches_outside;
  /* Index p = b * c + k of the first such patch; -1 when none or not
   * counted. */
  int64_t first_outside;
  /* Its offset (x, y) as the formula used it (rounded to float32); NaN
   * when first_outside is -1. */
  double first_outside_offset[2];
  /* Empty when no patch is outside; else a sentence with the counts, the
   * first such patch, and the likely causes; or why nothing was counted. */
  char message[384];
} ptp_extract_diagnostics;

/* Fills *diagnostics with "no call": call NONE, patches_total 0,
 * patches_outside and first_outside -1, offsets NaN, empty message.
 * struct_size must be sizeof(ptp_extract_diagnostics). */
PTP_API ptp_status ptp_extract_diagnostics_init(ptp_extract_diagnostics* diagnostics,
                                                size_t struct_size);

/* The diagnostics of the most recent extraction or reassembly on `plan`
 * (ptp_extract_execute, ptp_extract_execute_legacy, ptp_reassemble_execute),
 * counted for host-memory offsets on every backend. plan may be NULL: then
 * those of the most recent such call made on the calling thread, on any
 * plan or through the one-shot functions (ptp_extract_patches,
 * ptp_reassemble_patches, ptp_grouped_patches); thread-local, like
 * ptp_last_error_message. A call that fails leaves PTP_DIAGNOSED_NONE.
 * The struct must have been filled by ptp_extract_diagnostics_init (its
 * struct_size is checked); it is overwritten. A plan is a handle: do not
 * query it while another thread executes it. */
PTP_API ptp_status ptp_extract_plan_get_diagnostics(const ptp_extract_plan* plan,
                                                    ptp_extract_diagnostics* diagnostics);

/* ------------------------------------------ neighbour grouping (SPEC 2) */

/* How scan positions are sampled and grouped (PtychoPINN's
 * sample-then-group with neighbour pool K and gridsize^2 members). */
typedef struct ptp_group_desc {
  uint64_t struct_size;  /* sizeof(ptp_group_desc), set by _init */
  int64_t num_samples;   /* groups to form (PtychoPINN's nsamples), >= 0;
                            the outputs have exactly this many rows */
  int32_t num_neighbors; /* K >= 1: the pool of a seed is its K nearest
                            neighbours, the seed excluded; default 4.
                            Must be >= group_size when group_size > 1 */
  int32_t group_size;    /* C = gridsize^2 >= 1 members per group;
                            default 4 (gridsize 2) */
  uint64_t seed;         /* random seed; the same seed gives the same
                            groups on every run, thread count and backend
                            (generator: docs/semantics.md); default 0 */
  int32_t sequential;    /* 0 (default): seeds drawn at random without
                            replacement; 1: the first num_samples indices
                            (cycling when oversampling) */
  int32_t oversample;    /* 0 (default) or 1: allow num_samples > the
                            number of positions; each seed then gives
                            several groups, distinct C-combinations of its
                            pool while enough exist */
  /* Appended fields: a progress callback (NULL, the default: none) and its
   * user_data. ptp_group_neighbors reports groups formed, of num_samples;
   * ptp_grouped_patches one count for both steps, groups formed and then
   * patches cut, of num_samples + num_samples * C. Non-zero from the
   * callback stops the call with PTP_ERROR_CANCELLED; the outputs are then
   * unspecified. A struct of the older size without these two fields (40
   * bytes) is accepted and means no callback. */
  ptp_progress_fn progress;
  void* progress_user_data;
} ptp_group_desc;

/* Fills *desc with the defaults above (num_samples = 0 must be set).
 * struct_size must be sizeof(ptp_group_desc) as the caller sees it, or 40,
 * the size before the progress fields (only the first 40 bytes are then
 * written). */
PTP_API ptp_status ptp_group_desc_init(ptp_group_desc* desc, size_t struct_size);

/* Forms desc->num_samples groups of C = group_size scan positions.
 *   x, y:         num_points float64 positions (pixels), host memory,
 *                 finite; num_points >= C.
 *   nn_indices:   num_samples x C int64: 0-based member indices into x/y
 *                 (required).
 * Optional outputs (NULL to skip), PtychoPINN's names and layouts:
 *   coords_nn:       num_samples x 2 x C: [b][0][k] = x, [b][1][k] = y of
 *                    member k ((nsamples, 1, 2, C) in PtychoPINN);
 *   coords_offsets:  num_samples x 2: the member mean (x, y)
 *                    ((nsamples, 1, 2, 1));
 *   coords_relative: num_samples x 2 x C: -(member - mean)
 *                    ((nsamples, 1, 2, C)).
 * The search is exact (FLANN KD-tree) and runs on the CPU threads of the
 * context whatever its backend; context may be NULL (the shared default
 * context). K >= num_points is valid: the pool is then every other position.
 * Errors: PTP_ERROR_INVALID_ARGUMENT for K < 1, C < 1, K < C when C > 1,
 * num_samples > num_points without oversample, positions spread so far
 * (about 1e154) that squared distances overflow, NULL arrays;
 * PTP_ERROR_INVALID_SIZE for num_points < C or num_samples < 0;
 * PTP_ERROR_NON_FINITE for a NaN or infinite position. The outputs are
 * written in place: PTP_ERROR_OUT_OF_MEMORY raised while drawing many
 * oversampled groups may leave them partly written. */
PTP_API ptp_status ptp_group_neighbors(ptp_context* context, const ptp_group_desc* desc,
                                       const double* x, const double* y, int64_t num_points,
                                       int64_t* nn_indices, double* coords_nn,
                                       double* coords_offsets, double* coords_relative);

/* Positions and object to patches in one call: groups as
 * ptp_group_neighbors, then the patches of every group cut as
 * ptp_extract_execute_legacy(global = coords_offsets, local =
 * coords_relative) would (GPU when the context has one). extract describes
 * the object and patches: its group_size must equal group->group_size, its
 * offset_dtype must be PTP_DTYPE_FLOAT64 and its memory PTP_MEMORY_HOST.
 * patches: num_samples * C patches in extract's layout, patches_bytes >=
 * ptp_extract_output_bytes(extract, num_samples * C). The group outputs are
 * as for ptp_group_neighbors (nn_indices required, the others optional). */
PTP_API ptp_status ptp_grouped_patches(ptp_context* context, const ptp_group_desc* group,
                                       const ptp_extract_desc* extract, const void* object,
                                       const double* x, const double* y, int64_t num_points,
                                       int64_t* nn_indices, double* coords_nn,
                                       double* coords_offsets, double* coords_relative,
                                       void* patches, size_t patches_bytes);

/* ------------------------------------- CFA phase correlation per scene */

/* Colour filter layout of the frames (SPEC §3). */
typedef enum ptp_cfa {
  PTP_CFA_NONE = 0,  /* plain images: one plane per channel */
  PTP_CFA_BAYER = 1, /* 2x2 pattern: 4 planes frame[r::2, c::2] */
  PTP_CFA_XTRANS = 2 /* 6x6 pattern: 36 planes frame[r::6, c::6] */
} ptp_cfa;

typedef enum ptp_normalization {
  PTP_NORMALIZATION_PHASE = 0, /* X / |X| (guarded against 0): phase correlation */
  PTP_NORMALIZATION_NONE = 1,  /* plain cross-correlation */
  /* X / |X|^(1/4) (guarded): partial whitening, between the two. The
   * default: phase correlation weights noise-only bins as much as signal
   * and fails on smooth or dark scenes; plain correlation is dominated by
   * low frequencies and blurs the peak; docs/performance.md compares them. */
  PTP_NORMALIZATION_PARTIAL = 2
} ptp_normalization;

typedef enum ptp_window {
  PTP_WINDOW_NONE = 0,
  PTP_WINDOW_HANN = 1 /* separable periodic Hann window on every plane */
} ptp_window;

/* How the CPU backend plans its FFTs (FFTW), per plan. Planning effort
 * changes speed only: results agree up to FFT rounding. */
typedef enum ptp_fft_planning {
  /* FFTW_MEASURE (default): the first plan of a plane size in a process
   * times candidate algorithms (up to about 5 s), each later plan of that
   * size reuses what was measured (wisdom); transforms run up to about 2x
   * faster. For plans that align many frames. */
  PTP_FFT_PLANNING_MEASURE = 0,
  /* FFTW_ESTIMATE: no measurement; planning takes milliseconds. */
  PTP_FFT_PLANNING_ESTIMATE = 1,
  /* Measured plans where this process already has wisdom for the size
   * (measured before, or ptp_fft_wisdom_import), else ESTIMATE: never
   * pays for measuring. For one-off calls. */
  PTP_FFT_PLANNING_WISDOM = 2
} ptp_fft_planning;

/* MEDIAN, MEAN and JOINT are deprecated: they keep their values and
 * results; LUMA, the default, is right more often on the robustness
 * benchmark and no slower (CHANGELOG.md). */
typedef enum ptp_combine {
  PTP_COMBINE_MEDIAN = 0, /* median of the plane shifts, per axis */
  PTP_COMBINE_MEAN = 1,
  /* One peak of the sum, over the informative planes of a frame, of their
   * normalised cross-power spectra. Every plane votes with its whole
   * spectrum, none with a rounded shift, so the result is one shift of the
   * whole mosaic (no average of disagreeing plane shifts). There are no
   * per-plane shifts (plane_shifts are NaN). With the Hann window, plane
   * sides of 256 or more are cut at their end to the largest FFT-friendly
   * size (2^a 3^b 5^c 7^d, times 11 or 13 at most once; at most 2.7 %
   * less): 1633 rows become 1625 (docs/semantics.md). The default before
   * PTP_COMBINE_LUMA. */
  PTP_COMBINE_JOINT = 2,
  /* The default: one luminance image per frame instead of the planes. Its
   * pixel (i, j) is the mean of the window at frame row s*i, column s*j
   * (X-Trans: 6 x 6, s = 3; Bayer: 3 x 3 with weights (1 2 1) x (1 2 1) /
   * 16, the 2 x 2 mean taken twice, s = 2) over the sites of the planes
   * informative in both frames (every plane weighs the same in every
   * window, so the mosaic cancels); without a pattern, the sum of the informative
   * channels divided by the channel count (docs/semantics.md). The image's
   * least-squares quadratic trend (illumination, vignetting) is removed;
   * then one peak as with PTP_COMBINE_JOINT, in image pixels:
   * upsample_factor k refines to 1/k image pixel (s/k sensor pixels), and
   * max_shift bounds the search in sensor pixels (max_shift / s image
   * pixels). The image is (H/P*P - P)/s + 1 rows (columns alike), cut to an
   * FFT-friendly side from 256 with the Hann window. The most robust
   * estimator of the benchmark of docs/performance.md. */
  PTP_COMBINE_LUMA = 3
} ptp_combine;

/* The estimator as a whole. */
typedef enum ptp_align_method {
  /* Phase correlation with the options of the descriptor (default). */
  PTP_ALIGN_METHOD_CORRELATION = 0,
  /* Reproduces RawNIND's fft_phase_correlate_cfa (rawnind_jddc,
   * src/rawnind/libs/raw.py) for comparing with or rebuilding datasets
   * aligned by it: per plane, plain zero-padded linear cross-correlation of
   * the mean-removed planes and its first maximum; the median of the plane
   * shifts, truncated, floored to a multiple of 2 (Bayer) or 3 (X-Trans).
   * normalization, window, combine, snap and max_shift must keep their
   * defaults and upsample_factor be its default or 1 (the method fixes
   * them: whole-pixel lags); needs a CFA; runs on the CPU backend (on a GPU
   * context too; ptp_align_plan_get_backend says so). */
  PTP_ALIGN_METHOD_RAWNIND = 1
} ptp_align_method;

/* The fine stage (ptp_align_desc.verify; docs/semantics.md, "The fine
 * stage"). Not with PTP_ALIGN_METHOD_RAWNIND. CHECK and CORRECT are
 * retired: they keep their values and run REFINE (CHANGELOG.md). */
typedef enum ptp_align_verify {
  PTP_ALIGN_VERIFY_NONE = 0,    /* the coarse estimate alone */
  PTP_ALIGN_VERIFY_CHECK = 1,   /* retired: runs REFINE */
  PTP_ALIGN_VERIFY_CORRECT = 2, /* retired: runs REFINE */
  /* The default: coarse to fine, the fine stage only where it is needed.
   * First a quick least-squares polish from the coarse estimate (the
   * central 256 x 256 pixels of its window, at most 4,096 samples per
   * fit): where its result carries no flag (enum ptp_align_flag: it
   * converged, leaves the crop in no doubt - a probability of at least
   * 0.9999 on frames of more than one colour, 0.95 otherwise - matches the
   * reference's scene, moves as a whole, not at max_shift's bound) it
   * stands, its shift the polish's. A frame it doubts is polished
   * thoroughly from the coarse estimate: least squares on smoothed
   * luminance images of the two frames (continued with robust weights, so
   * a part of the scene that moves on its own is left out; three scales,
   * coarse to fine), and where that leaves the crop in doubt on their
   * colour images (a shared shift and gain, an offset per colour). Where
   * the fit converges more than 0.1 pixel from the coarse shift on an
   * axis, it replaces the shift and its crop, to 1 / upsample_factor of a
   * sensor pixel. The confidence is then the probability, under the fit's
   * own variance, that the content lies within half a period (plus a
   * quarter pixel) of the crop. Where the fit does not converge (frames
   * under about 48 pixels a side) the frame keeps the coarse peak's
   * confidence, its margin, with PTP_ALIGN_FLAG_NO_FIT or
   * PTP_ALIGN_FLAG_WEAK_PEAK, and its coarse shift, unless the search
   * below (on frames of up to 128 pixels a side, where it steps by a
   * sensor pixel) fits better elsewhere: then the search's best shift.
   * Last, a search over every shift
   * (within max_shift) under which the frames share at least half their
   * area, by the correlation coefficient of smoothed images over what they
   * share: where a shift far from the result fits clearly better, the
   * frame is polished again from there and that result kept where its
   * match check scores higher (under the Hann window a large shift's peak
   * can sink below an alias's). docs/performance.md gives how often each
   * is right. */
  PTP_ALIGN_VERIFY_REFINE = 3
} ptp_align_verify;

/* Geometry and options of a scene alignment, fixed when a plan is made. */
typedef struct ptp_align_desc {
  uint64_t struct_size; /* sizeof(ptp_align_desc), set by _init */
  int64_t height;       /* frame rows H (>= the pattern period) */
  int64_t width;        /* frame columns W (>= the pattern period) */
  int64_t channels;     /* PTP_CFA_NONE only: planar channels, frames are
                           (channels, H, W); 1 (default) otherwise */
  int32_t frame_dtype;  /* PTP_DTYPE_UINT16 (default) or PTP_DTYPE_FLOAT32 */
  int32_t cfa;          /* ptp_cfa; default PTP_CFA_NONE */
  /* Colour codes of the pattern, row-major: the first 4 entries for Bayer
   * (0=R, 1=G, 2=B, 3=second G, as rawpy's raw_pattern), all 36 for
   * X-Trans (0=R, 1=G, 2=B). Validated; the planes are the pattern
   * positions whatever their colours. Ignored for PTP_CFA_NONE. */
  int32_t pattern[36];
  int32_t upsample_factor; /* >= 1; 10 (default): 1/10 plane pixel (of the
                              luminance image: its pixel, 1 sensor pixel
                              Bayer, 3 X-Trans); 1 = whole plane pixels
                              (crops then round those) */
  int32_t normalization;   /* ptp_normalization; default PARTIAL (PHASE and
                              NONE are deprecated here: they keep their
                              values and results; CHANGELOG.md) */
  int32_t window;          /* ptp_window; default HANN (NONE is deprecated
                              here, as PHASE above) */
  int32_t combine;         /* ptp_combine; default LUMA */
  int32_t snap;            /* 0 (default) or 1: floor the combined shift to a
                              multiple of 2 (Bayer) or 3 (X-Trans), as
                              RawNIND does (ptp_align_result.crop is the
                              mosaic-preserving crop without it) */
  int32_t fft_planning;    /* ptp_fft_planning; default MEASURE (CPU backend;
                              this field was reserved0, which had to be 0) */
  /* >= 0, sensor pixels; 0 (default): unbounded. Otherwise the integer peak
   * is searched only among shifts with |dy| and |dx| <= max_shift (plane
   * pixels: max_shift / period, rounded down; of the luminance image:
   * max_shift / 2 (Bayer) or 3 (X-Trans)), so that a periodic scene
   * cannot lock onto an alias far away; upsampling refines it by less than
   * a plane pixel. */
  int64_t max_shift;
  int32_t method; /* ptp_align_method; default CORRELATION */
  /* ptp_align_verify: the fine stage; default
   * PTP_ALIGN_VERIFY_REFINE (until 0.4: NONE). This field was reserved0,
   * which had to be 0; a desc of 0.3.0's size gets NONE. With
   * PTP_ALIGN_METHOD_RAWNIND it must be NONE or REFINE and means none. */
  int32_t verify;
} ptp_align_desc;

/* Fills *desc with the defaults above (H = W = 0 must be set; pattern is
 * RGGB for Bayer use): partial whitening, Hann window, one peak of the
 * frame's luminance image (PTP_COMBINE_LUMA), refined where in doubt by
 * least squares (PTP_ALIGN_VERIFY_REFINE): the most robust estimator on
 * the benchmark of docs/performance.md. struct_size must be
 * sizeof(ptp_align_desc), or 208, its size in 0.3.0 (before max_shift,
 * method and verify; those then get 0.3.0's behaviour: unbounded, plain
 * correlation method, no fine stage), so programs built against 0.3.0
 * still run, with 0.3.0's defaults: _init of that size fills phase
 * correlation, no window, median, upsample_factor 1. */
PTP_API ptp_status ptp_align_desc_init(ptp_align_desc* desc, size_t struct_size);

/* FFTW's wisdom (the measured plans of this process, for every size) to
 * and from a file, so a dataset run measures once: export after a run with
 * PTP_FFT_PLANNING_MEASURE, import before the next one (then WISDOM or
 * MEASURE plans reuse it without measuring). Importing adds to what the
 * process has; a file FFTW cannot read is PTP_ERROR_INVALID_ARGUMENT. */
PTP_API ptp_status ptp_fft_wisdom_export(const char* path);
PTP_API ptp_status ptp_fft_wisdom_import(const char* path);

/* A plan for one frame geometry: set the reference (GT) frame once, then
 * align any number of moving frames against it, in any number of calls;
 * set another reference to reuse the plan for the next scene. */
typedef struct ptp_align_plan ptp_align_plan;

PTP_API ptp_status ptp_align_plan_create(ptp_context* context, const ptp_align_desc* desc,
                                         ptp_align_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_align_plan_destroy(ptp_align_plan* plan);

/* Planes per frame: channels, 4 (Bayer) or 36 (X-Trans). */
PTP_API ptp_status ptp_align_plan_num_planes(const ptp_align_plan* plan, int64_t* num_planes);

/* Where the plan runs: *backend is PTP_BACKEND_GPU or PTP_BACKEND_CPU, and
 * *message is empty when that is the context's backend, else the reason a
 * GPU context's plan runs on the CPU (cuFFT cannot be loaded, or the frame
 * is beyond the GPU backend's limits). Results agree up to FFT rounding.
 * The message is owned by the plan. Neither pointer may be NULL
 * (PTP_ERROR_INVALID_ARGUMENT). */
PTP_API ptp_status ptp_align_plan_get_backend(const ptp_align_plan* plan, int32_t* backend,
                                              const char** message);

/* The progress callback of scene alignment (ptp_progress_fn, declared with
 * extraction) is called after each moving frame, with (frames done, frames
 * total); returning non-zero stops the call with PTP_ERROR_CANCELLED
 * (results of finished frames are kept). It may call the library, but not
 * change its own plan: ptp_align_set_reference, ptp_align_execute,
 * ptp_align_set_progress and ptp_align_plan_destroy on that plan fail with
 * PTP_ERROR_INVALID_ARGUMENT until the call returns. */

/* Installs (or, with NULL, removes) the progress callback of the plan. */
PTP_API ptp_status ptp_align_set_progress(ptp_align_plan* plan, ptp_progress_fn callback,
                                          void* user_data);

/* Sets the reference frame: H x W (x channels) of frame_dtype, host memory.
 * The plan keeps a copy; the next ptp_align_execute computes its plane
 * spectra and keeps them. Float frames must be finite. A call that fails
 * leaves the plan's previous reference (if any) in use. */
PTP_API ptp_status ptp_align_set_reference(ptp_align_plan* plan, const void* frame);

/* Aligns num_frames moving frames (frames[i]: like the reference) to the
 * reference. Outputs, written per frame (any may be NULL except shifts):
 *   shifts:       num_frames x 2 doubles: combined (dy, dx) in sensor
 *                 pixels, scikit-image's convention (the shift that
 *                 registers the moving frame onto the reference);
 *   plane_shifts: num_frames x num_planes x 2 doubles: each plane's
 *                 (dy, dx) in sensor pixels (plane pixels x period); NaN
 *                 for a plane without information, and for every plane
 *                 with PTP_COMBINE_JOINT (which has no plane shifts);
 *   confidence:   num_frames doubles in [0, 1] (ptp_align_result's).
 * A frame with no informative plane gets NaN shifts and confidence 0.
 * Every frame is validated before any output is written (one bad frame
 * fails the call: ptp_align_execute_frames reports per frame instead).
 * With a progress callback that cancels, frames already done keep their
 * results. */
PTP_API ptp_status ptp_align_execute(ptp_align_plan* plan, const void* const* frames,
                                     int64_t num_frames, double* shifts, double* plane_shifts,
                                     double* confidence);

/* One frame's outcome in ptp_align_execute_frames. */
typedef struct ptp_align_result {
  /* (dy, dx) in sensor pixels, scikit-image's sign (the shift that
   * registers the frame onto the reference): where the content moved, to
   * 1 / upsample_factor of a plane pixel (of a sensor pixel where
   * PTP_ALIGN_VERIFY_REFINE's polish placed it); floored as desc->snap
   * says. NaN
   * when status is not PTP_SUCCESS. */
  double shift[2];
  /* (dy, dx): the integer shift nearest to `shift` (before snap) that
   * preserves the colour filter pattern, i.e. maps every site onto one of
   * the same colour code: multiples of 2 for Bayer; for X-Trans multiples of
   * 6, and (3, 3) + multiples of 6 where the layout repeats so (Fujifilm's
   * does); every integer without CFA. Nearest in Euclidean distance; of
   * equally near ones, the smaller |dy| + |dx|, then the smaller dy, then
   * dx. The crop to apply to keep the mosaic intact. 0 without a result. */
  int64_t crop[2];
  /* In [0, 1]; 0 without a result. With PTP_ALIGN_VERIFY_REFINE (the
   * default) on frames the polish fits: the probability that the crop is
   * right (within half a period, plus a quarter pixel, of the content);
   * >= 0.95 trusts a crop (docs/performance.md). Otherwise how much of the
   * correlation adds up at the peak. docs/semantics.md, "Confidence". */
  double confidence;
  /* PTP_SUCCESS, or why this frame has no result: PTP_ERROR_INVALID_ARGUMENT
   * (NULL frame, values of 2^127 or more), PTP_ERROR_NON_FINITE (NaN or
   * infinity), PTP_ERROR_NO_INFORMATION (no plane carries information),
   * PTP_ERROR_CANCELLED (not reached: the progress callback stopped). */
  int32_t status;
  /* Planes that carried information and voted (0 to planes). */
  int32_t planes_used;
  /* A sentence naming the frame and the problem; on success empty, or a
   * note: the peak lies at max_shift's bound (confidence 0), or, with
   * PTP_ALIGN_VERIFY_REFINE, the two frames' smoothed luminance images
   * correlate by less than 0.5 under the shift ("it may not show the
   * reference's scene": another scene, or noise; confidence 0), or the
   * least-squares fit did not converge ("no least-squares fit": frames
   * under about 48 pixels a side, or with too little detail; confidence is
   * then the peak's margin, not a probability). Notes are joined by "; ",
   * cut to fit. */
  char message[240];
} ptp_align_result;

/* Why the assessment doubts a frame's result: the bits of the flags that
 * ptp_align_execute_frames_flags writes per frame (0: nothing doubted).
 * Each comes with its note in the frame's message and, all but
 * PTP_ALIGN_FLAG_NO_FIT and PTP_ALIGN_FLAG_LOW_CONFIDENCE, with confidence
 * 0. Use a flagged frame's crop only after a look. Values never change; a
 * retired flag's bit stays reserved. */
enum ptp_align_flag {
  /* The correlation peak lies at max_shift's bound (where the search
   * stopped: the shift may lie beyond it), or the refined shift beyond it. */
  PTP_ALIGN_FLAG_AT_SHIFT_BOUND = 1,
  /* Under the shift, the two frames' smoothed luminance images correlate
   * by less than 0.5: another scene, or noise (PTP_ALIGN_VERIFY_REFINE). */
  PTP_ALIGN_FLAG_OTHER_SCENE = 2,
  /* The frame does not move as a whole (rotated, scaled, parallax):
   * fitted on four quadrants, its shift leaves a corner more than 2
   * pixels off (PTP_ALIGN_VERIFY_REFINE). */
  PTP_ALIGN_FLAG_NOT_RIGID = 4,
  /* The reference does not look like a mosaic of the plan's CFA family
   * (or, without a pattern, looks like a mosaic): every frame has it. */
  PTP_ALIGN_FLAG_PATTERN_DOUBT = 8,
  /* Retired, never set: the fine stage's closed loop, which set these two,
   * is gone (CHANGELOG.md). The bits stay reserved. */
  PTP_ALIGN_FLAG_UNCHECKED = 16,
  PTP_ALIGN_FLAG_UNCONFIRMED = 32,
  /* The correlation peak stands no higher than the correlation's noise. */
  PTP_ALIGN_FLAG_WEAK_PEAK = 64,
  /* PTP_ALIGN_VERIFY_REFINE found no least-squares fit (frames under
   * about 48 pixels a side, or too little detail): confidence is the
   * peak's margin, not a probability, and the crop is unverified. */
  PTP_ALIGN_FLAG_NO_FIT = 128,
  /* The least-squares fit gives the crop a probability under 0.95 (the
   * documented threshold to trust one), and no other flag says why. */
  PTP_ALIGN_FLAG_LOW_CONFIDENCE = 256
};

/* Aligns num_frames moving frames like ptp_align_execute, with a status
 * per frame: a frame that cannot be aligned (NULL, NaN, no information)
 * gets its status and message in results[i] while every other frame gets
 * its result, and the call returns PTP_SUCCESS. The call itself fails (and
 * writes nothing) only for bad arguments: NULL plan or results, num_frames
 * < 0, no reference, a size overflow; or, with the frames done written,
 * PTP_ERROR_CANCELLED when the progress callback stops it, and
 * PTP_ERROR_OUT_OF_MEMORY / _CUDA. plane_shifts may be NULL; else
 * num_frames x num_planes x 2 doubles as for ptp_align_execute. */
PTP_API ptp_status ptp_align_execute_frames(ptp_align_plan* plan, const void* const* frames,
                                            int64_t num_frames, ptp_align_result* results,
                                            double* plane_shifts);

/* ptp_align_execute_frames, plus each frame's flags (enum ptp_align_flag):
 * num_frames uint32_t, 0 for a frame without a result; NULL writes none.
 * Written, like results, only where the call writes results. */
PTP_API ptp_status ptp_align_execute_frames_flags(ptp_align_plan* plan, const void* const* frames,
                                                  int64_t num_frames, ptp_align_result* results,
                                                  double* plane_shifts, uint32_t* flags);

/* ------------------------- cross-correlation of two images (one pair) */

/* The cross-power spectrum and circular cross-correlation of two real
 * float32 (or, with desc.dtype PTP_DTYPE_FLOAT64 and
 * ptp_correlate_execute_f64, float64) images of one shape, as
 * scikit-image's phase_cross_correlation defines them (docs/api.md,
 * "Cross-correlation of one pair"):
 *   X = R * conj(M), R and M the unnormalised DFTs of reference and moving
 *   image; divided by max(|X|, 100 eps) for PTP_NORMALIZATION_PHASE, eps
 *   the precision's machine epsilon (FLT_EPSILON or DBL_EPSILON);
 *   c = IDFT(X) (with its 1 / (height * width)), real for real images.
 * The peak of |c| at (dy, dx) (wrapped to signed shifts) is the shift that
 * registers the moving image onto the reference. No mean removal, window
 * or CFA handling: scene alignment (ptp_align_*) does those. The plan runs
 * on the CPU (FFTW, one thread) on every context: it is for single pairs
 * in host memory, for which copying to a GPU and back costs more than the
 * three transforms. A side whose largest prime factor is above 31 (997,
 * 1009, 2 x 509) is transformed by Bluestein's algorithm on FFTW, both
 * images in one complex transform, on the context's threads from 2^16
 * pixels (the same bits on any count): values equal separate transforms'
 * to the precision's rounding; a constant image's transform is exact. */
typedef struct ptp_correlate_desc {
  uint64_t struct_size;  /* sizeof(ptp_correlate_desc) */
  int64_t height;        /* rows, >= 1 */
  int64_t width;         /* columns, >= 1 */
  int32_t normalization; /* PTP_NORMALIZATION_PHASE (default) or _NONE */
  int32_t fft_planning;  /* ptp_fft_planning; default WISDOM (never measures) */
  /* appended after 0.4.0; the shorter struct of earlier headers
   * (struct_size 32) is accepted and plans float32 */
  int32_t dtype; /* PTP_DTYPE_FLOAT32 (default) or PTP_DTYPE_FLOAT64 (FFTW's
                    double plans: wisdom of its own, which ptp_fft_wisdom_*
                    do not carry, so WISDOM plans it with FFTW_ESTIMATE) */
} ptp_correlate_desc;

PTP_API ptp_status ptp_correlate_desc_init(ptp_correlate_desc* desc, size_t struct_size);

typedef struct ptp_correlate_plan ptp_correlate_plan;

/* Plans the transforms of one image shape. */
PTP_API ptp_status ptp_correlate_plan_create(ptp_context* context, const ptp_correlate_desc* desc,
                                             ptp_correlate_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_correlate_plan_destroy(ptp_correlate_plan* plan);

/* reference, moving: height x width float32, row-major. spectrum: NULL or
 * height x (width / 2 + 1) complex float32 (interleaved real, imaginary),
 * the half spectrum X(ky, kx) for kx <= width / 2 (X(-k) = conj(X(k))).
 * correlation: NULL or height x width float32, c. At least one output.
 * PTP_ERROR_NON_FINITE, with nothing written, where X is not finite or a
 * part of a bin exceeds FLT_MAX / 4, where the inverse could overflow (an
 * input holds NaN or infinity, or its transform overflows float32). The
 * call keeps no state in the plan: threads may execute one plan at once. */
PTP_API ptp_status ptp_correlate_execute(const ptp_correlate_plan* plan, const float* reference,
                                         const float* moving, void* spectrum, float* correlation);

/* ptp_correlate_execute for a plan of desc.dtype PTP_DTYPE_FLOAT64:
 * reference, moving and correlation height x width float64, spectrum
 * height x (width / 2 + 1) complex float64 (interleaved), the same rules
 * (PTP_ERROR_NON_FINITE where a part of a bin is not finite or exceeds
 * DBL_MAX / 4). Each execute function refuses the other precision's plan
 * (PTP_ERROR_INVALID_ARGUMENT). */
PTP_API ptp_status ptp_correlate_execute_f64(const ptp_correlate_plan* plan,
                                             const double* reference, const double* moving,
                                             void* spectrum, double* correlation);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PTYCHOPATCH_H */
