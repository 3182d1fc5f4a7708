/* libptychopatch C ABI (C99). Reference: docs/api.md; what results mean: docs/semantics.md.
 * Patch extraction, neighbour grouping and CFA-aware phase correlation of RAW frames (CUDA
 * backend, CPU fallback). Comments here are one-line summaries; the prose is in docs/api.md.
 * Conventions: every function but the three string getters returns a ptp_status and, on failure,
 * writes no output (exceptions in docs/api.md) and sets ptp_last_error_message(). Sizes are
 * int64_t, byte sizes size_t, offsets (x, y) pixels. Fill option structs with *_init(&s, sizeof s).
 * A handle must not be used by two threads at once; distinct handles may be. */
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

/* Version of this header; the soname carries the major (docs/abi.md). */
#define PTP_VERSION_MAJOR 0
#define PTP_VERSION_MINOR 4
#define PTP_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

/* Status codes (values are ABI), returned as ptp_status; docs/api.md, "Status codes". */
enum ptp_status_code {
  PTP_SUCCESS = 0,
  PTP_ERROR_INVALID_ARGUMENT = 1,    /* NULL data, unknown enum value or struct_size */
  PTP_ERROR_INVALID_SIZE = 2,        /* a size or count out of its domain */
  PTP_ERROR_SIZE_OVERFLOW = 3,       /* a product of sizes does not fit in 64 bits */
  PTP_ERROR_NON_FINITE = 4,          /* NaN or infinity where a finite number is required */
  PTP_ERROR_BUFFER_TOO_SMALL = 5,    /* the caller's output buffer is smaller than the result */
  PTP_ERROR_OUT_OF_MEMORY = 6,       /* host or device memory could not be allocated */
  PTP_ERROR_BACKEND_UNAVAILABLE = 7, /* GPU demanded, but no CUDA build or no usable device */
  PTP_ERROR_UNSUPPORTED = 8,     /* valid, but not on this backend (e.g. device arrays on CPU) */
  PTP_ERROR_CUDA = 9,            /* a CUDA call failed; the message has the details */
  PTP_ERROR_CANCELLED = 10,      /* a progress callback asked to stop */
  PTP_ERROR_NO_INFORMATION = 11, /* every plane of a frame is constant: nothing to estimate */
  PTP_ERROR_INTERNAL = 99        /* a bug in this library; please report the message */
};
typedef int32_t ptp_status;

/* Static name of a status code ("PTP_UNKNOWN_STATUS" for other values); never NULL. */
PTP_API const char* ptp_status_name(ptp_status status);

/* This thread's last call: "" after a success, else a sentence naming the argument.
 * Never NULL; valid until this thread's next call into the library. */
PTP_API const char* ptp_last_error_message(void);

/* --------------------------------------------------------------- version */

/* Version of the library actually loaded (compare with PTP_VERSION_*). */
PTP_API ptp_status ptp_get_version(int32_t* major, int32_t* minor, int32_t* patch);

/* "MAJOR.MINOR.PATCH+cpu" or "+cuda" (" (GPU backend unavailable)"); static, never NULL. */
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
  PTP_LAYOUT_CHANNEL = 0, /* (B, N, N, c), C order: patch b*c + k is out[b, :, :, k] */
  PTP_LAYOUT_FLAT = 1     /* (B*c, N, N), C order: patch p is out[p, :, :] */
} ptp_layout;

/* --------------------------------------------------------------- context */

/* Chooses the backend and owns its resources (threads, CUDA device, streams, budget). */
typedef struct ptp_context ptp_context;

typedef struct ptp_context_options {
  uint64_t struct_size;          /* sizeof(ptp_context_options), set by _init */
  int32_t backend;               /* ptp_backend; default PTP_BACKEND_AUTO */
  int32_t num_threads;           /* CPU worker threads; 0 (default) = all cores */
  int32_t device;                /* CUDA device ordinal for the GPU backend; 0 */
  int32_t reserved0;             /* must be 0 */
  uint64_t device_memory_budget; /* GPU bytes per host-array call; 0 (default) = half free */
} ptp_context_options;

/* Fills *options with the defaults; struct_size = sizeof(ptp_context_options). */
PTP_API ptp_status ptp_context_options_init(ptp_context_options* options, size_t struct_size);

/* Creates a context; options NULL = defaults. PTP_BACKEND_GPU without a usable GPU fails. */
PTP_API ptp_status ptp_context_create(const ptp_context_options* options, ptp_context** context);

/* Releases a context; NULL is ignored. Destroy the plans made from it first. */
PTP_API ptp_status ptp_context_destroy(ptp_context* context);

/* The backend the context resolved to: PTP_BACKEND_CPU or PTP_BACKEND_GPU. */
PTP_API ptp_status ptp_context_get_backend(const ptp_context* context, int32_t* backend);

/* Why a context resolved to its backend (ptp_context_get_backend_reason). */
typedef enum ptp_backend_reason {
  PTP_BACKEND_REASON_GPU = 0,           /* it runs on the GPU */
  PTP_BACKEND_REASON_CPU_REQUESTED = 1, /* options->backend was PTP_BACKEND_CPU */
  PTP_BACKEND_REASON_NO_CUDA_BUILD = 2, /* this build has no CUDA support */
  PTP_BACKEND_REASON_NO_GPU = 3,        /* no NVIDIA driver, or no device */
  PTP_BACKEND_REASON_GPU_UNUSABLE = 4   /* a GPU is present but unusable; the message says why */
} ptp_backend_reason;

/* Why the context runs where it does: a ptp_backend_reason and a sentence (NULL = default ctx).
 * The message is owned by the context and valid as long as it is. */
PTP_API ptp_status ptp_context_get_backend_reason(const ptp_context* context, int32_t* reason,
                                                  const char** message);

/* Number of CPU threads the context uses. */
PTP_API ptp_status ptp_context_get_num_threads(const ptp_context* context, int32_t* num_threads);

/* The cudaStream_t (as void*) ordering device-array calls; NULL (default) = CUDA's default.
 * The stream must belong to the context's device and outlive its use; CPU: NULL only. */
PTP_API ptp_status ptp_context_set_stream(ptp_context* context, void* cuda_stream);
PTP_API ptp_status ptp_context_get_stream(const ptp_context* context, void** cuda_stream);

/* Waits for the stream; reports (then clears) non-finite offsets met by device-array calls.
 * Those calls must be ordered with one another (one stream, or streams the caller orders). */
PTP_API ptp_status ptp_context_synchronize(ptp_context* context);

/* CUDA devices the driver reports; 0 (not an error) without CUDA, driver or device. */
PTP_API ptp_status ptp_cuda_device_count(int32_t* count);

/* -------------------------------------------------------------- progress */

/* Progress of a long call: return 0 to go on, non-zero to stop (PTP_ERROR_CANCELLED).
 * Called on the calling thread only; it may call the library (not change a running align plan). */
typedef int32_t (*ptp_progress_fn)(int64_t done, int64_t total, void* user_data);

/* ------------------------------------------------------ patch extraction */

/* Geometry and types of an extraction, fixed when a plan is made. */
typedef struct ptp_extract_desc {
  uint64_t struct_size; /* sizeof(ptp_extract_desc), set by _init */
  int64_t height;       /* object rows H >= 1 */
  int64_t width;        /* object columns W >= 1 */
  int64_t patch_size;   /* N, 1 <= N <= 2^24: N x N patches centred at N//2 */
  int64_t group_size;   /* c >= 1 patches per group; default 1 */
  int32_t object_dtype; /* PTP_DTYPE_COMPLEX64 (default) or _FLOAT32; also the patches' */
  int32_t offset_dtype; /* PTP_DTYPE_FLOAT64 (default) or _FLOAT32 */
  int32_t layout;       /* ptp_layout; default PTP_LAYOUT_CHANNEL */
  int32_t memory;       /* ptp_memory of object, offsets and patches; default PTP_MEMORY_HOST */
} ptp_extract_desc;

/* Fills *desc with defaults (H = W = N = 0 must be set); struct_size = sizeof(ptp_extract_desc). */
PTP_API ptp_status ptp_extract_desc_init(ptp_extract_desc* desc, size_t struct_size);

/* Bytes of the patch array for num_patches patches (num_patches*N*N*elem). */
PTP_API ptp_status ptp_extract_output_bytes(const ptp_extract_desc* desc, int64_t num_patches,
                                            size_t* bytes);

/* A validated descriptor, executed any number of times (FFTW style).
 * Its context must outlive it. */
typedef struct ptp_extract_plan ptp_extract_plan;

PTP_API ptp_status ptp_extract_plan_create(ptp_context* context, const ptp_extract_desc* desc,
                                           ptp_extract_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_extract_plan_destroy(ptp_extract_plan* plan);

/* Installs (NULL removes) the plan's progress callback: extraction and reassembly, in patches.
 * On a stop the outputs are unspecified (partly written); plan and context stay usable. */
PTP_API ptp_status ptp_extract_set_progress(ptp_extract_plan* plan, ptp_progress_fn callback,
                                            void* user_data);

/* Extracts num_patches (x, y)-centred patches (a multiple of group_size; 0 is valid).
 * Device memory: enqueued on the context's stream; ptp_context_synchronize reports offsets. */
PTP_API ptp_status ptp_extract_execute(ptp_extract_plan* plan, const void* object,
                                       const void* offsets, int64_t num_patches, void* patches,
                                       size_t patches_bytes);

/* PtychoPINN's global (B,1,2,1) + local (B,1,2,c) offsets, summed then rounded to float32. */
PTP_API ptp_status ptp_extract_execute_legacy(ptp_extract_plan* plan, const void* object,
                                              const void* global_offsets, const void* local_offsets,
                                              int64_t num_groups, void* patches,
                                              size_t patches_bytes);

/* One-shot: plan, execute once, destroy; context NULL = the shared default context. */
PTP_API ptp_status ptp_extract_patches(ptp_context* context, const ptp_extract_desc* desc,
                                       const void* object, const void* offsets, int64_t num_patches,
                                       void* patches, size_t patches_bytes);

/* ------------------------------------------------ reassembly (adjoint) */

/* Adjoint of extraction: scatters patches into an H x W canvas (+ optional summed weights).
 * Bitwise the same on every backend and thread count; memory and streams as for extraction. */
PTP_API ptp_status ptp_reassemble_execute(ptp_extract_plan* plan, const void* patches,
                                          const void* offsets, int64_t num_patches, void* canvas,
                                          size_t canvas_bytes, float* weights,
                                          size_t weights_bytes);

/* One-shot: plan, reassemble once, destroy; context NULL = the shared default context. */
PTP_API ptp_status ptp_reassemble_patches(ptp_context* context, const ptp_extract_desc* desc,
                                          const void* patches, const void* offsets,
                                          int64_t num_patches, void* canvas, size_t canvas_bytes,
                                          float* weights, size_t weights_bytes);

/* -------------------------------------- gradient of extraction (offsets) */

/* d loss / d offsets from G = d loss / d patches: per patch sum of Re(conj(G) dP/d(x, y)).
 * Arrays, memory and streams as for extraction; grad_offsets: (x, y) pairs of offset_dtype. */
PTP_API ptp_status ptp_extract_offsets_gradient(ptp_extract_plan* plan, const void* object,
                                                const void* offsets, int64_t num_patches,
                                                const void* grad_patches, size_t grad_patches_bytes,
                                                void* grad_offsets, size_t grad_offsets_bytes);

/* --------------------------------------- diagnostics of patch geometry */

/* Which call a ptp_extract_diagnostics describes. */
typedef enum ptp_diagnosed_call {
  PTP_DIAGNOSED_NONE = 0,      /* none yet, or the last call failed */
  PTP_DIAGNOSED_EXTRACT = 1,   /* an extraction (plan, one-shot or ptp_grouped_patches) */
  PTP_DIAGNOSED_REASSEMBLE = 2 /* ptp_reassemble_execute, ptp_reassemble_patches */
} ptp_diagnosed_call;

/* Patches of the last call entirely outside the object (offsets swapped or in the wrong frame). */
typedef struct ptp_extract_diagnostics {
  uint64_t struct_size;           /* sizeof(ptp_extract_diagnostics), set by _init */
  int32_t call;                   /* ptp_diagnosed_call */
  int32_t reserved0;              /* 0 */
  int64_t patches_total;          /* patches of the call (B * c); 0 for NONE */
  int64_t patches_outside;        /* entirely outside; -1 = not counted (device offsets, NONE) */
  int64_t first_outside;          /* index b * c + k of the first such patch; -1 when none */
  double first_outside_offset[2]; /* its (x, y) rounded to float32; NaN when none */
  char message[384];              /* "" when none; else counts, first patch and likely causes */
} ptp_extract_diagnostics;

/* Fills *diagnostics with "no call"; struct_size = sizeof(ptp_extract_diagnostics). */
PTP_API ptp_status ptp_extract_diagnostics_init(ptp_extract_diagnostics* diagnostics,
                                                size_t struct_size);

/* Diagnostics of the plan's last extraction or reassembly (plan NULL: this thread's last). */
PTP_API ptp_status ptp_extract_plan_get_diagnostics(const ptp_extract_plan* plan,
                                                    ptp_extract_diagnostics* diagnostics);

/* ------------------------------------------ neighbour grouping (SPEC 2) */

/* PtychoPINN's sample-then-group of scan positions (docs/api.md, "Neighbour grouping"). */
typedef struct ptp_group_desc {
  uint64_t struct_size;     /* sizeof(ptp_group_desc), set by _init (40 = without progress) */
  int64_t num_samples;      /* B >= 0 groups to form (PtychoPINN's nsamples); must be set */
  int32_t num_neighbors;    /* K >= 1 nearest other positions in a seed's pool (>= C); default 4 */
  int32_t group_size;       /* C = gridsize^2 >= 1 members per group; default 4 */
  uint64_t seed;            /* random seed: same groups on every run, thread count, backend; 0 */
  int32_t sequential;       /* 0 (default): random seeds; 1: seeds 0, 1, ..., B-1 */
  int32_t oversample;       /* 0 (default); 1: allow B > number of positions */
  ptp_progress_fn progress; /* progress callback (groups, then patches); default NULL */
  void* progress_user_data; /* passed back to progress */
} ptp_group_desc;

/* Fills *desc with the defaults; struct_size = sizeof(ptp_group_desc), or 40 (no progress). */
PTP_API ptp_status ptp_group_desc_init(ptp_group_desc* desc, size_t struct_size);

/* Forms B groups of C positions: nn_indices B x C required, PtychoPINN's coords_* optional.
 * Exact k-NN on the context's CPU threads (NULL = default); outputs untouched on failure. */
PTP_API ptp_status ptp_group_neighbors(ptp_context* context, const ptp_group_desc* desc,
                                       const double* x, const double* y, int64_t num_points,
                                       int64_t* nn_indices, double* coords_nn,
                                       double* coords_offsets, double* coords_relative);

/* ptp_group_neighbors, then each group's patches as ptp_extract_execute_legacy would cut them.
 * extract: same group_size, PTP_DTYPE_FLOAT64 offsets, PTP_MEMORY_HOST. */
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

/* Normalisation of the cross-power spectrum X. */
typedef enum ptp_normalization {
  PTP_NORMALIZATION_PHASE = 0,  /* X / |X| (guarded against 0): phase correlation */
  PTP_NORMALIZATION_NONE = 1,   /* plain cross-correlation */
  PTP_NORMALIZATION_PARTIAL = 2 /* X / |X|^(1/4) (guarded): partial whitening; align default */
} ptp_normalization;

typedef enum ptp_window {
  PTP_WINDOW_NONE = 0,
  PTP_WINDOW_HANN = 1 /* separable periodic Hann window on every plane */
} ptp_window;

/* How the CPU backend plans its FFTs (FFTW); changes speed only. */
typedef enum ptp_fft_planning {
  PTP_FFT_PLANNING_MEASURE = 0,  /* FFTW_MEASURE: first plan of a size measures (up to ~5 s) */
  PTP_FFT_PLANNING_ESTIMATE = 1, /* FFTW_ESTIMATE: no measurement; planning takes milliseconds */
  PTP_FFT_PLANNING_WISDOM = 2    /* measured plans where the process has wisdom, else ESTIMATE */
} ptp_fft_planning;

/* How a frame's estimate is formed (docs/api.md, "combine"). */
typedef enum ptp_combine {
  PTP_COMBINE_MEDIAN = 0, /* retired, runs LUMA: see CHANGELOG / docs/api.md */
  PTP_COMBINE_MEAN = 1,   /* retired, runs LUMA: see CHANGELOG / docs/api.md */
  PTP_COMBINE_JOINT = 2,  /* retired, runs LUMA: see CHANGELOG / docs/api.md */
  PTP_COMBINE_LUMA = 3    /* default: one peak of the frame's luminance image */
} ptp_combine;

/* The estimator as a whole. */
typedef enum ptp_align_method {
  PTP_ALIGN_METHOD_CORRELATION = 0, /* phase correlation with the descriptor's options (default) */
  PTP_ALIGN_METHOD_RAWNIND = 1      /* RawNIND's fft_phase_correlate_cfa reproduced (CPU) */
} ptp_align_method;

/* The fine stage (ptp_align_desc.verify; docs/api.md, "verify"). */
typedef enum ptp_align_verify {
  PTP_ALIGN_VERIFY_NONE = 0,    /* the coarse estimate alone */
  PTP_ALIGN_VERIFY_CHECK = 1,   /* retired, runs REFINE: see CHANGELOG / docs/api.md */
  PTP_ALIGN_VERIFY_CORRECT = 2, /* retired, runs REFINE: see CHANGELOG / docs/api.md */
  PTP_ALIGN_VERIFY_REFINE = 3   /* default: least-squares refinement of the frames in doubt */
} ptp_align_verify;

/* Geometry and options of a scene alignment, fixed when a plan is made. */
typedef struct ptp_align_desc {
  uint64_t struct_size;    /* sizeof(ptp_align_desc), set by _init (or 208: the 0.3.0 layout) */
  int64_t height;          /* frame rows H (>= the pattern period) */
  int64_t width;           /* frame columns W (>= the pattern period) */
  int64_t channels;        /* PTP_CFA_NONE only: frames are (channels, H, W); 1 (default) */
  int32_t frame_dtype;     /* PTP_DTYPE_UINT16 (default) or PTP_DTYPE_FLOAT32 */
  int32_t cfa;             /* ptp_cfa; default PTP_CFA_NONE */
  int32_t pattern[36];     /* colour codes, row-major, as rawpy's raw_pattern; default RGGB */
  int32_t upsample_factor; /* 1..1000: shifts to 1/u plane (or luminance) pixel; default 10 */
  int32_t normalization;   /* ptp_normalization; default PARTIAL (PHASE, NONE: retired here) */
  int32_t window;          /* ptp_window; default HANN (NONE: retired here, runs HANN) */
  int32_t combine;         /* ptp_combine; default LUMA */
  int32_t snap;            /* 0 (default) or 1: floor the shift to a multiple of 2 / 3 */
  int32_t fft_planning;    /* ptp_fft_planning; default MEASURE (CPU backend) */
  int64_t max_shift;       /* >= 0 sensor pixels bounding |dy|, |dx|; 0 (default): unbounded */
  int32_t method;          /* ptp_align_method; default CORRELATION */
  int32_t verify;          /* ptp_align_verify; default REFINE (RAWNIND: no fine stage) */
} ptp_align_desc;

/* Fills *desc with the defaults (H = W = 0 must be set); struct_size = sizeof or 208. */
PTP_API ptp_status ptp_align_desc_init(ptp_align_desc* desc, size_t struct_size);

/* FFTW's wisdom (this process's measured plans) to and from a file. */
PTP_API ptp_status ptp_fft_wisdom_export(const char* path);
PTP_API ptp_status ptp_fft_wisdom_import(const char* path);

/* A plan for one frame geometry: set a reference (GT) frame, align any number of frames.
 * Its context must outlive it. */
typedef struct ptp_align_plan ptp_align_plan;

PTP_API ptp_status ptp_align_plan_create(ptp_context* context, const ptp_align_desc* desc,
                                         ptp_align_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_align_plan_destroy(ptp_align_plan* plan);

/* Planes per frame: channels, 4 (Bayer) or 36 (X-Trans). */
PTP_API ptp_status ptp_align_plan_num_planes(const ptp_align_plan* plan, int64_t* num_planes);

/* Where the plan runs, and why not on the context's backend ("" when it does).
 * The message is owned by the plan; neither pointer may be NULL. */
PTP_API ptp_status ptp_align_plan_get_backend(const ptp_align_plan* plan, int32_t* backend,
                                              const char** message);

/* Installs (NULL removes) the progress callback, called after each frame.
 * It must not change its own plan (reference, execute, progress, destroy) while running. */
PTP_API ptp_status ptp_align_set_progress(ptp_align_plan* plan, ptp_progress_fn callback,
                                          void* user_data);

/* Sets the reference frame: H x W (x channels) of frame_dtype, host memory; the plan copies it. */
PTP_API ptp_status ptp_align_set_reference(ptp_align_plan* plan, const void* frame);

/* Aligns frames to the reference: shifts (required), plane_shifts (RawNIND's method; else
   NaN) and confidence per frame. */
PTP_API ptp_status ptp_align_execute(ptp_align_plan* plan, const void* const* frames,
                                     int64_t num_frames, double* shifts, double* plane_shifts,
                                     double* confidence);

/* One frame's outcome in ptp_align_execute_frames. */
typedef struct ptp_align_result {
  double shift[2];     /* (dy, dx) sensor pixels, scikit-image's sign, sub-pixel; NaN on error */
  int64_t crop[2];     /* (dy, dx): the nearest CFA-preserving integer shift; 0 on error */
  double confidence;   /* [0, 1]; with REFINE the probability the crop is right; 0 on error */
  int32_t status;      /* PTP_SUCCESS, or why this frame has no result */
  int32_t planes_used; /* planes that carried information and voted */
  char message[240];   /* the frame's error, or on success "" or notes joined by "; " */
} ptp_align_result;

/* Why a frame's result is in doubt: bits of ptp_align_execute_frames_flags' flags. */
enum ptp_align_flag {
  PTP_ALIGN_FLAG_AT_SHIFT_BOUND = 1,  /* the peak (or refined shift) at max_shift's bound */
  PTP_ALIGN_FLAG_OTHER_SCENE = 2,     /* luminance images correlate by < 0.5 under the shift */
  PTP_ALIGN_FLAG_NOT_RIGID = 4,       /* the frame does not move as a whole */
  PTP_ALIGN_FLAG_PATTERN_DOUBT = 8,   /* the reference does not look like the plan's CFA */
  PTP_ALIGN_FLAG_UNCHECKED = 16,      /* retired, never set: see CHANGELOG / docs/api.md */
  PTP_ALIGN_FLAG_UNCONFIRMED = 32,    /* retired, never set: see CHANGELOG / docs/api.md */
  PTP_ALIGN_FLAG_WEAK_PEAK = 64,      /* the peak stands no higher than the correlation's noise */
  PTP_ALIGN_FLAG_NO_FIT = 128,        /* no least-squares fit: confidence is the peak's margin */
  PTP_ALIGN_FLAG_LOW_CONFIDENCE = 256 /* the fit gives the crop a probability under 0.95 */
};

/* ptp_align_execute with a status and result per frame (ptp_align_result). */
PTP_API ptp_status ptp_align_execute_frames(ptp_align_plan* plan, const void* const* frames,
                                            int64_t num_frames, ptp_align_result* results,
                                            double* plane_shifts);

/* ptp_align_execute_frames plus each frame's flags (enum ptp_align_flag; NULL: none). */
PTP_API ptp_status ptp_align_execute_frames_flags(ptp_align_plan* plan, const void* const* frames,
                                                  int64_t num_frames, ptp_align_result* results,
                                                  double* plane_shifts, uint32_t* flags);

/* ------------------------- cross-correlation of two images (one pair) */

/* Cross-power spectrum and circular cross-correlation of one pair, as scikit-image's. */
typedef struct ptp_correlate_desc {
  uint64_t struct_size;  /* sizeof(ptp_correlate_desc) (or 32: without dtype) */
  int64_t height;        /* rows, >= 1 */
  int64_t width;         /* columns, >= 1 */
  int32_t normalization; /* PTP_NORMALIZATION_PHASE (default) or _NONE */
  int32_t fft_planning;  /* ptp_fft_planning; default WISDOM (never measures) */
  int32_t dtype;         /* PTP_DTYPE_FLOAT32 (default) or PTP_DTYPE_FLOAT64 */
} ptp_correlate_desc;

/* Fills *desc with the defaults; struct_size = sizeof(ptp_correlate_desc) or 32. */
PTP_API ptp_status ptp_correlate_desc_init(ptp_correlate_desc* desc, size_t struct_size);

/* A plan for one image shape; runs on the CPU (FFTW) on every context. */
typedef struct ptp_correlate_plan ptp_correlate_plan;

/* Plans the transforms of one image shape. */
PTP_API ptp_status ptp_correlate_plan_create(ptp_context* context, const ptp_correlate_desc* desc,
                                             ptp_correlate_plan** plan);

/* NULL is accepted and ignored. */
PTP_API ptp_status ptp_correlate_plan_destroy(ptp_correlate_plan* plan);

/* float32 pair to half spectrum and/or correlation (NULL skips; at least one).
 * Keeps no state in the plan: threads may execute one plan at once. */
PTP_API ptp_status ptp_correlate_execute(const ptp_correlate_plan* plan, const float* reference,
                                         const float* moving, void* spectrum, float* correlation);

/* ptp_correlate_execute for a plan of dtype PTP_DTYPE_FLOAT64. */
PTP_API ptp_status ptp_correlate_execute_f64(const ptp_correlate_plan* plan,
                                             const double* reference, const double* moving,
                                             void* spectrum, double* correlation);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PTYCHOPATCH_H */
