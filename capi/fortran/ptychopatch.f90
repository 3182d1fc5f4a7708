! Fortran 2008 (iso_c_binding) bindings of libptychopatch's C ABI
! (include/ptychopatch.h).
!
!   use, intrinsic :: iso_c_binding
!   use ptychopatch
!
! Every function of the C header has an interface here with the C name, the
! C argument order and an integer(c_int32_t) status result (the three string
! getters return type(c_ptr); ptp_*_f helpers below give Fortran strings).
! Every enum constant and PTP_VERSION_* is an integer(c_int32_t) parameter
! of the same name, and every option/descriptor struct is a bind(c) derived
! type of the same name whose layout is the C layout (tests/fortran checks
! sizeof and every field offset against the C compiler's). Reference:
! docs/api.md; Fortran guide: docs/fortran.md.
!
! Types
!   int32_t -> integer(c_int32_t)      int64_t  -> integer(c_int64_t)
!   uint64_t -> integer(c_int64_t)     (same bits; Fortran has no unsigned
!               type: a seed >= 2**63 is given as seed - 2**64)
!   size_t -> integer(c_size_t)        float / double -> real(c_float/c_double)
!   complex64 elements -> complex(c_float_complex)  (interleaved re, im)
!   uint16 frames -> integer(c_int16_t) holding the same bits (values above
!               32767 appear negative in Fortran; see docs/fortran.md)
!   handles (ptp_context*, ptp_extract_plan*, ptp_align_plan*) -> type(c_ptr)
!
! Arguments
!   * Scalar outputs (int32_t*, int64_t*, size_t*, handle**, void**) are
!     ordinary by-reference Fortran variables, intent(out).
!   * Structs are passed by reference as the derived types below; only the
!     optional options of ptp_context_create are a type(c_ptr): c_loc of a
!     TARGET ptp_context_options, or c_null_ptr for the defaults.
!   * Arrays, two forms under the same name (each C function that takes
!     arrays is also a generic interface):
!     - typed (host arrays): Fortran arrays of the element type and rank
!       the call needs, e.g.
!         status = ptp_extract_execute(plan, object, offsets, patches)
!       with complex(c_float_complex) :: object(W, H), patches(c, N, N, B)
!       and real(c_double) :: offsets(2, P). The counts and byte sizes come
!       from the arrays; shapes are checked (against desc where the call
!       has one, or where it is passed as the optional last argument), and
!       an array of another type or rank matches no specific procedure, so
!       the call does not compile. See "Typed generic interfaces" below.
!     - C (type(c_ptr), value): c_loc(array) of a contiguous array with the
!       TARGET attribute, or c_null_ptr where the C API accepts NULL
!       (optional outputs, zero counts), with the C argument list. One rule
!       for host arrays, CUDA device pointers and NULL; nothing checks the
!       element type. Byte sizes: c_sizeof(array) for an explicit-shape
!       array; for an allocatable one (which c_sizeof rejects)
!       size(a, kind=c_size_t) * c_sizeof(a(1, ...)), or ask the library
!       (ptp_extract_output_bytes).
!   * Struct sizes: call ptp_extract_desc_init(desc, c_sizeof(desc)) etc.;
!     c_sizeof of these bind(c) types is sizeof as C sees it.
!
! Array order. C arrays are row-major (last index fastest), Fortran arrays
! column-major (first index fastest), so a C array of shape (d1, ..., dk) is
! the same memory as a Fortran array of shape (dk, ..., d1), indices
! reversed (and 1-based):
!   object H x W            -> O(W, H):            O(x+1, y+1) = O[y][x]
!   offsets: P (x, y) pairs -> off(2, P):          off(1,p) = x, off(2,p) = y
!   patches, channel layout (B, N, N, c)
!                           -> patches(c, N, N, B): patches(k+1, x+1, y+1, b+1)
!                              = out[b][y][x][k]
!   patches, flat layout (B*c, N, N)
!                           -> patches(N, N, B*c) (equivalently (N, N, c, B)):
!                              patches(x+1, y+1, p+1) = out[p][y][x]
!   legacy global_offsets (B, 1, 2, 1) -> g(2, B):    g(1,b) = x, g(2,b) = y
!   legacy local_offsets  (B, 1, 2, c) -> l(c, 2, B): l(k,1,b) = x, l(k,2,b) = y
!   canvas, weights H x W   -> (W, H), like the object
!   grouping, S groups of C members:
!     nn_indices S x C      -> idx(C, S)    values are 0-based indices into
!                                           x(:) and y(:): use x(idx(k,b)+1)
!     coords_nn S x 2 x C   -> cnn(C, 2, S):   cnn(k,1,b) = x, cnn(k,2,b) = y
!     coords_offsets S x 2  -> coff(2, S):     coff(1,b) = mean x, (2,b) = y
!     coords_relative       -> crel(C, 2, S)
!   alignment frames H x W (or channels x H x W) -> frame(W, H[, channels])
!     shifts M x 2          -> shifts(2, M):   shifts(1,i) = dy, (2,i) = dx
!     plane_shifts M x P x 2 -> ps(2, P, M)
!     confidence M          -> conf(M)
!     frames (const void* const*) -> type(c_ptr) :: frames(M), frames(i) =
!                              c_loc(frame_i)
!   ptp_align_desc%pattern is declared pattern(0:35) so that its indices are
!     C's: the row-major 2x2 (Bayer, pattern(0:3)) or 6x6 (X-Trans) colour
!     codes, pattern(c + period*r) for row r, column c.
!   The object's x (column) is Fortran's first index; the offsets, as in C,
!   are (x, y) pairs, x first. Indices inside the library (offsets in pixels,
!   nn_indices) stay 0-based.
!
! Typed generic interfaces (host memory; element types and ranks):
!   E = complex(c_float_complex) (PTP_DTYPE_COMPLEX64) or real(c_float)
!       (PTP_DTYPE_FLOAT32): object, patches and canvas, all of one E;
!   O = real(c_double) (PTP_DTYPE_FLOAT64) or real(c_float) (_FLOAT32);
!   F = integer(c_int16_t) (PTP_DTYPE_UINT16) or real(c_float) (_FLOAT32);
!   patches: rank 4, (c, N, N, B) for PTP_LAYOUT_CHANNEL or (N, N, c, B)
!       for PTP_LAYOUT_FLAT; or rank 3, (N, N, P) (flat, or group_size 1).
!   ptp_extract_execute(plan, object, offsets, patches [, desc])
!   ptp_extract_patches(context, desc, object, offsets, patches)
!   ptp_extract_execute_legacy(plan, object, global_offsets,
!                              local_offsets, patches [, desc])
!   ptp_reassemble_execute(plan, patches, offsets, canvas [, weights]
!                          [, desc])
!   ptp_reassemble_patches(context, desc, patches, offsets, canvas
!                          [, weights])
!     object(W, H), canvas(W, H): E; offsets(2, P): O; global_offsets(2, B)
!     and local_offsets(c, 2, B): O; weights(W, H): real(c_float).
!   ptp_group_neighbors(context, desc, x, y, nn_indices [, coords_nn]
!                       [, coords_offsets] [, coords_relative])
!   ptp_grouped_patches(context, group, extract, object, x, y, nn_indices,
!                       patches [, coords_nn] [, coords_offsets]
!                       [, coords_relative])
!     x(n), y(n): real(c_double); nn_indices(C, S): integer(c_int64_t);
!     coords_nn(C, 2, S), coords_offsets(2, S), coords_relative(C, 2, S):
!     real(c_double). (ptp_grouped_patches takes patches before the
!     optional coordinates, unlike the C call.)
!   ptp_align_set_reference(plan, frame [, desc])
!   ptp_align_execute(plan, frames, shifts [, plane_shifts] [, confidence]
!                     [, desc])
!   ptp_align_execute_frames(plan, frames, results [, plane_shifts]
!                            [, desc])
!     frame(W, H) or frame(W, H, channels): F; frames: the frames stacked,
!     frames(W, H, M) or frames(W, H, channels, M); shifts(2, M),
!     plane_shifts(2, planes, M), confidence(M): real(c_double);
!     results(M): type(ptp_align_result).
! Each returns the C function's status. The checks made in Fortran (shapes,
! and with a desc its dtypes, geometry and PTP_MEMORY_HOST) fail with
! PTP_ERROR_INVALID_SIZE or PTP_ERROR_INVALID_ARGUMENT before the C call, so
! nothing is written; their message is what ptp_last_error_message_f() and
! ptp_error_f() return (the C function ptp_last_error_message() does not
! have it). Without a desc, a plan call cannot check the object's size and
! dtype against the plan (the C plan does not expose them): pass the desc
! the plan was made from as the optional last argument to have them checked.
! Device memory (PTP_MEMORY_DEVICE) takes the type(c_ptr) form.
! These procedures are generated by capi/fortran/generate_typed.py.
!
! Status handling: every call returns PTP_SUCCESS (0) or a PTP_ERROR_* code
! and then ptp_last_error_message_f() names the offending argument; on
! failure no output has been written. The message is per thread (except
! those of the typed procedures' own checks, kept in the module).
module ptychopatch
  use, intrinsic :: iso_c_binding, only: c_int16_t, c_int32_t, c_int64_t, c_size_t, c_ptr, &
                                         c_funptr, c_char, c_double, c_float, c_float_complex, &
                                         c_associated, c_f_pointer, c_loc, c_null_ptr
  implicit none
  ! The iso_c_binding names are not re-exported: use iso_c_binding yourself.
  private :: c_int16_t, c_int32_t, c_int64_t, c_size_t, c_ptr, c_funptr, c_char, c_double, &
             c_float, c_float_complex, c_associated, c_f_pointer, c_loc, c_null_ptr
  private :: c_strlen
  ! The typed procedures' checks (below the generated procedures).
  private :: typed_fail, check_pairs, check_shape, check_weights, check_extract, &
             check_legacy_offsets, check_group, check_grouped_extract, check_align, &
             check_plane_shifts, shape_text, int_text, dtype_name, type_name

  ! The message of the last failed check of a typed procedure, and the C
  ! library's per-thread message right after it: while the C message is
  ! still that one (no C call since), ptp_last_error_message_f returns
  ! typed_message. Module variables, not per thread.
  character(len=1024), save :: typed_message = ''
  character(len=1024), save :: typed_marker = ''
  logical, save :: typed_failed = .false.
  private :: typed_message, typed_marker, typed_failed

  ! ------------------------------------------------------------- version
  integer(c_int32_t), parameter :: PTP_VERSION_MAJOR = 0
  integer(c_int32_t), parameter :: PTP_VERSION_MINOR = 4
  integer(c_int32_t), parameter :: PTP_VERSION_PATCH = 0

  ! -------------------------------------------------------------- status
  integer(c_int32_t), parameter :: PTP_SUCCESS = 0
  integer(c_int32_t), parameter :: PTP_ERROR_INVALID_ARGUMENT = 1
  integer(c_int32_t), parameter :: PTP_ERROR_INVALID_SIZE = 2
  integer(c_int32_t), parameter :: PTP_ERROR_SIZE_OVERFLOW = 3
  integer(c_int32_t), parameter :: PTP_ERROR_NON_FINITE = 4
  integer(c_int32_t), parameter :: PTP_ERROR_BUFFER_TOO_SMALL = 5
  integer(c_int32_t), parameter :: PTP_ERROR_OUT_OF_MEMORY = 6
  integer(c_int32_t), parameter :: PTP_ERROR_BACKEND_UNAVAILABLE = 7
  integer(c_int32_t), parameter :: PTP_ERROR_UNSUPPORTED = 8
  integer(c_int32_t), parameter :: PTP_ERROR_CUDA = 9
  integer(c_int32_t), parameter :: PTP_ERROR_CANCELLED = 10
  integer(c_int32_t), parameter :: PTP_ERROR_NO_INFORMATION = 11
  integer(c_int32_t), parameter :: PTP_ERROR_INTERNAL = 99

  ! ---------------------------------------------------------------- enums
  ! ptp_backend
  integer(c_int32_t), parameter :: PTP_BACKEND_AUTO = 0
  integer(c_int32_t), parameter :: PTP_BACKEND_CPU = 1
  integer(c_int32_t), parameter :: PTP_BACKEND_GPU = 2
  ! ptp_backend_reason
  integer(c_int32_t), parameter :: PTP_BACKEND_REASON_GPU = 0
  integer(c_int32_t), parameter :: PTP_BACKEND_REASON_CPU_REQUESTED = 1
  integer(c_int32_t), parameter :: PTP_BACKEND_REASON_NO_CUDA_BUILD = 2
  integer(c_int32_t), parameter :: PTP_BACKEND_REASON_NO_GPU = 3
  integer(c_int32_t), parameter :: PTP_BACKEND_REASON_GPU_UNUSABLE = 4
  ! ptp_dtype
  integer(c_int32_t), parameter :: PTP_DTYPE_FLOAT32 = 1
  integer(c_int32_t), parameter :: PTP_DTYPE_FLOAT64 = 2
  integer(c_int32_t), parameter :: PTP_DTYPE_COMPLEX64 = 3
  integer(c_int32_t), parameter :: PTP_DTYPE_UINT16 = 4
  ! ptp_memory
  integer(c_int32_t), parameter :: PTP_MEMORY_HOST = 0
  integer(c_int32_t), parameter :: PTP_MEMORY_DEVICE = 1
  ! ptp_layout
  integer(c_int32_t), parameter :: PTP_LAYOUT_CHANNEL = 0
  integer(c_int32_t), parameter :: PTP_LAYOUT_FLAT = 1
  ! ptp_cfa
  integer(c_int32_t), parameter :: PTP_CFA_NONE = 0
  integer(c_int32_t), parameter :: PTP_CFA_BAYER = 1
  integer(c_int32_t), parameter :: PTP_CFA_XTRANS = 2
  ! ptp_normalization
  integer(c_int32_t), parameter :: PTP_NORMALIZATION_PHASE = 0
  integer(c_int32_t), parameter :: PTP_NORMALIZATION_NONE = 1
  integer(c_int32_t), parameter :: PTP_NORMALIZATION_PARTIAL = 2
  ! ptp_window
  integer(c_int32_t), parameter :: PTP_WINDOW_NONE = 0
  integer(c_int32_t), parameter :: PTP_WINDOW_HANN = 1
  ! ptp_fft_planning
  integer(c_int32_t), parameter :: PTP_FFT_PLANNING_MEASURE = 0
  integer(c_int32_t), parameter :: PTP_FFT_PLANNING_ESTIMATE = 1
  integer(c_int32_t), parameter :: PTP_FFT_PLANNING_WISDOM = 2
  ! ptp_combine
  integer(c_int32_t), parameter :: PTP_COMBINE_MEDIAN = 0
  integer(c_int32_t), parameter :: PTP_COMBINE_MEAN = 1
  integer(c_int32_t), parameter :: PTP_COMBINE_JOINT = 2
  integer(c_int32_t), parameter :: PTP_COMBINE_LUMA = 3
  ! ptp_align_method
  integer(c_int32_t), parameter :: PTP_ALIGN_METHOD_CORRELATION = 0
  integer(c_int32_t), parameter :: PTP_ALIGN_METHOD_RAWNIND = 1
  ! ptp_align_verify (CHECK and CORRECT are retired: they run REFINE)
  integer(c_int32_t), parameter :: PTP_ALIGN_VERIFY_NONE = 0
  integer(c_int32_t), parameter :: PTP_ALIGN_VERIFY_CHECK = 1
  integer(c_int32_t), parameter :: PTP_ALIGN_VERIFY_CORRECT = 2
  integer(c_int32_t), parameter :: PTP_ALIGN_VERIFY_REFINE = 3
  ! enum ptp_align_flag: bits of ptp_align_execute_frames_flags' flags.
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_AT_SHIFT_BOUND = 1
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_OTHER_SCENE = 2
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_NOT_RIGID = 4
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_PATTERN_DOUBT = 8
  ! UNCHECKED and UNCONFIRMED are retired: never set, their bits reserved.
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_UNCHECKED = 16
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_UNCONFIRMED = 32
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_WEAK_PEAK = 64
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_NO_FIT = 128
  integer(c_int32_t), parameter :: PTP_ALIGN_FLAG_LOW_CONFIDENCE = 256

  ! -------------------------------------------------------------- structs
  ! Fill with the matching *_init(s, c_sizeof(s)), then set fields.

  type, bind(c) :: ptp_context_options
    integer(c_int64_t) :: struct_size          ! uint64_t
    integer(c_int32_t) :: backend              ! PTP_BACKEND_*
    integer(c_int32_t) :: num_threads          ! 0 = all cores
    integer(c_int32_t) :: device               ! CUDA device ordinal
    integer(c_int32_t) :: reserved0            ! must be 0
    integer(c_int64_t) :: device_memory_budget ! uint64_t bytes; 0 = default
  end type ptp_context_options

  type, bind(c) :: ptp_extract_desc
    integer(c_int64_t) :: struct_size  ! uint64_t
    integer(c_int64_t) :: height       ! object rows H
    integer(c_int64_t) :: width        ! object columns W
    integer(c_int64_t) :: patch_size   ! N
    integer(c_int64_t) :: group_size   ! c
    integer(c_int32_t) :: object_dtype ! PTP_DTYPE_COMPLEX64 or _FLOAT32
    integer(c_int32_t) :: offset_dtype ! PTP_DTYPE_FLOAT64 or _FLOAT32
    integer(c_int32_t) :: layout       ! PTP_LAYOUT_*
    integer(c_int32_t) :: memory       ! PTP_MEMORY_*
  end type ptp_extract_desc

  type, bind(c) :: ptp_group_desc
    integer(c_int64_t) :: struct_size   ! uint64_t
    integer(c_int64_t) :: num_samples   ! groups to form
    integer(c_int32_t) :: num_neighbors ! K
    integer(c_int32_t) :: group_size    ! C = gridsize**2
    integer(c_int64_t) :: seed          ! uint64_t
    integer(c_int32_t) :: sequential    ! 0 or 1
    integer(c_int32_t) :: oversample    ! 0 or 1
    type(c_funptr) :: progress          ! ptp_progress_fn or c_null_funptr
    type(c_ptr) :: progress_user_data   ! passed back to progress
  end type ptp_group_desc

  type, bind(c) :: ptp_align_desc
    integer(c_int64_t) :: struct_size     ! uint64_t
    integer(c_int64_t) :: height          ! frame rows H
    integer(c_int64_t) :: width           ! frame columns W
    integer(c_int64_t) :: channels        ! planar channels (PTP_CFA_NONE)
    integer(c_int32_t) :: frame_dtype     ! PTP_DTYPE_UINT16 or _FLOAT32
    integer(c_int32_t) :: cfa             ! PTP_CFA_*
    integer(c_int32_t) :: pattern(0:35)   ! C indices: pattern(c + period*r)
    integer(c_int32_t) :: upsample_factor ! >= 1
    integer(c_int32_t) :: normalization   ! PTP_NORMALIZATION_* (PHASE, NONE deprecated here)
    integer(c_int32_t) :: window          ! PTP_WINDOW_* (NONE deprecated)
    integer(c_int32_t) :: combine         ! PTP_COMBINE_*
    integer(c_int32_t) :: snap            ! 0 or 1
    integer(c_int32_t) :: fft_planning    ! ptp_fft_planning; default MEASURE
    integer(c_int64_t) :: max_shift       ! sensor pixels; 0 = unbounded
    integer(c_int32_t) :: method          ! PTP_ALIGN_METHOD_*
    integer(c_int32_t) :: verify          ! PTP_ALIGN_VERIFY_*; default REFINE
  end type ptp_align_desc

  ! The cross-correlation of one pair (ptp_correlate_*): image shape and
  ! scikit-image's normalisation.
  type, bind(c) :: ptp_correlate_desc
    integer(c_int64_t) :: struct_size     ! uint64_t
    integer(c_int64_t) :: height          ! image rows H
    integer(c_int64_t) :: width           ! image columns W
    integer(c_int32_t) :: normalization   ! PTP_NORMALIZATION_PHASE or _NONE
    integer(c_int32_t) :: fft_planning    ! PTP_FFT_PLANNING_*
    integer(c_int32_t) :: dtype           ! PTP_DTYPE_FLOAT32 (default) or _FLOAT64
  end type ptp_correlate_desc

  ! One frame's outcome of ptp_align_execute_frames. shift and crop are
  ! (dy, dx); message is a NUL-terminated C string (empty on success).
  type, bind(c) :: ptp_align_result
    real(c_double) :: shift(0:1)            ! sub-pixel; NaN without a result
    integer(c_int64_t) :: crop(0:1)         ! CFA-preserving integer shift
    real(c_double) :: confidence            ! [0, 1]
    integer(c_int32_t) :: status            ! PTP_SUCCESS or the frame's error
    integer(c_int32_t) :: planes_used       ! planes that voted
    character(kind=c_char) :: message(0:239) ! why, when status /= PTP_SUCCESS
  end type ptp_align_result

  ! ---------------------------------------- diagnostics of patch geometry
  ! ptp_diagnosed_call: which call a ptp_extract_diagnostics describes.
  integer(c_int32_t), parameter :: PTP_DIAGNOSED_NONE = 0
  integer(c_int32_t), parameter :: PTP_DIAGNOSED_EXTRACT = 1
  integer(c_int32_t), parameter :: PTP_DIAGNOSED_REASSEMBLE = 2

  type, bind(c) :: ptp_extract_diagnostics
    integer(c_int64_t) :: struct_size            ! uint64_t, set by _init
    integer(c_int32_t) :: call                   ! PTP_DIAGNOSED_*
    integer(c_int32_t) :: reserved0
    integer(c_int64_t) :: patches_total          ! B * c; 0 for NONE
    integer(c_int64_t) :: patches_outside        ! entirely outside; -1 not counted
    integer(c_int64_t) :: first_outside          ! p = b * c + k (0-based); -1 none
    real(c_double) :: first_outside_offset(0:1)  ! its (x, y); NaN when none
    character(kind=c_char) :: message(0:383)     ! NUL-terminated sentence
  end type ptp_extract_diagnostics

  ! ------------------------------------------------- progress callback
  ! ptp_progress_fn: called with (done, total) between pieces of a long
  ! call (frames, patches or groups); return non-zero to stop it with
  ! PTP_ERROR_CANCELLED. Write a bind(c) function with this interface and
  ! pass c_funloc(it) to ptp_align_set_progress or ptp_extract_set_progress,
  ! or set ptp_group_desc%progress (c_null_funptr removes it).
  abstract interface
    function ptp_progress_fn(done, total, user_data) bind(c) result(cancel)
      import :: c_int32_t, c_int64_t, c_ptr
      integer(c_int64_t), value :: done
      integer(c_int64_t), value :: total
      type(c_ptr), value :: user_data
      integer(c_int32_t) :: cancel
    end function ptp_progress_fn
  end interface

  ! --------------------------------------------------------- C functions
  interface
    ! ---- status, messages, version
    function ptp_status_name(status) bind(c, name='ptp_status_name') result(name)
      import :: c_int32_t, c_ptr
      integer(c_int32_t), value :: status
      type(c_ptr) :: name
    end function ptp_status_name

    function ptp_last_error_message() bind(c, name='ptp_last_error_message') result(message)
      import :: c_ptr
      type(c_ptr) :: message
    end function ptp_last_error_message

    function ptp_get_version(major, minor, patch) bind(c, name='ptp_get_version') result(status)
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: major, minor, patch
      integer(c_int32_t) :: status
    end function ptp_get_version

    function ptp_version_string() bind(c, name='ptp_version_string') result(version)
      import :: c_ptr
      type(c_ptr) :: version
    end function ptp_version_string

    ! ---- context
    function ptp_context_options_init(options, struct_size) &
        bind(c, name='ptp_context_options_init') result(status)
      import :: c_int32_t, c_size_t, ptp_context_options
      type(ptp_context_options), intent(inout) :: options
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_context_options_init

    ! options: c_loc(a ptp_context_options with TARGET), or c_null_ptr for
    ! the defaults.
    function ptp_context_create(options, context) bind(c, name='ptp_context_create') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: options
      type(c_ptr), intent(out) :: context
      integer(c_int32_t) :: status
    end function ptp_context_create

    function ptp_context_destroy(context) bind(c, name='ptp_context_destroy') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      integer(c_int32_t) :: status
    end function ptp_context_destroy

    function ptp_context_get_backend(context, backend) &
        bind(c, name='ptp_context_get_backend') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      integer(c_int32_t), intent(out) :: backend
      integer(c_int32_t) :: status
    end function ptp_context_get_backend

    ! message: a C string owned by the context (ptp_c_string_f reads it);
    ! context may be c_null_ptr (the shared default context).
    function ptp_context_get_backend_reason(context, reason, message) &
        bind(c, name='ptp_context_get_backend_reason') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      integer(c_int32_t), intent(out) :: reason
      type(c_ptr), intent(out) :: message
      integer(c_int32_t) :: status
    end function ptp_context_get_backend_reason

    function ptp_context_get_num_threads(context, num_threads) &
        bind(c, name='ptp_context_get_num_threads') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      integer(c_int32_t), intent(out) :: num_threads
      integer(c_int32_t) :: status
    end function ptp_context_get_num_threads

    function ptp_context_set_stream(context, cuda_stream) &
        bind(c, name='ptp_context_set_stream') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      type(c_ptr), value :: cuda_stream
      integer(c_int32_t) :: status
    end function ptp_context_set_stream

    function ptp_context_get_stream(context, cuda_stream) &
        bind(c, name='ptp_context_get_stream') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      type(c_ptr), intent(out) :: cuda_stream
      integer(c_int32_t) :: status
    end function ptp_context_get_stream

    ! Waits for the context's stream; PTP_ERROR_NON_FINITE when a call on
    ! device arrays since the last one found a non-finite offset (and so
    ! wrote nothing).
    function ptp_context_synchronize(context) &
        bind(c, name='ptp_context_synchronize') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: context
      integer(c_int32_t) :: status
    end function ptp_context_synchronize

    function ptp_cuda_device_count(count) bind(c, name='ptp_cuda_device_count') result(status)
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: count
      integer(c_int32_t) :: status
    end function ptp_cuda_device_count

    ! ---- patch extraction
    function ptp_extract_desc_init(desc, struct_size) &
        bind(c, name='ptp_extract_desc_init') result(status)
      import :: c_int32_t, c_size_t, ptp_extract_desc
      type(ptp_extract_desc), intent(inout) :: desc
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_extract_desc_init

    function ptp_extract_diagnostics_init(diagnostics, struct_size) &
        bind(c, name='ptp_extract_diagnostics_init') result(status)
      import :: c_int32_t, c_size_t, ptp_extract_diagnostics
      type(ptp_extract_diagnostics), intent(inout) :: diagnostics
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_extract_diagnostics_init

    ! plan: a ptp_extract_plan, or c_null_ptr for the calling thread's last
    ! extraction or reassembly (one-shot calls included).
    function ptp_extract_plan_get_diagnostics(plan, diagnostics) &
        bind(c, name='ptp_extract_plan_get_diagnostics') result(status)
      import :: c_int32_t, c_ptr, ptp_extract_diagnostics
      type(c_ptr), value :: plan
      type(ptp_extract_diagnostics), intent(inout) :: diagnostics
      integer(c_int32_t) :: status
    end function ptp_extract_plan_get_diagnostics

    function ptp_extract_output_bytes(desc, num_patches, bytes) &
        bind(c, name='ptp_extract_output_bytes') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, ptp_extract_desc
      type(ptp_extract_desc), intent(in) :: desc
      integer(c_int64_t), value :: num_patches
      integer(c_size_t), intent(out) :: bytes
      integer(c_int32_t) :: status
    end function ptp_extract_output_bytes

    function ptp_extract_plan_create(context, desc, plan) &
        bind(c, name='ptp_extract_plan_create') result(status)
      import :: c_int32_t, c_ptr, ptp_extract_desc
      type(c_ptr), value :: context
      type(ptp_extract_desc), intent(in) :: desc
      type(c_ptr), intent(out) :: plan
      integer(c_int32_t) :: status
    end function ptp_extract_plan_create

    function ptp_extract_plan_destroy(plan) bind(c, name='ptp_extract_plan_destroy') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: plan
      integer(c_int32_t) :: status
    end function ptp_extract_plan_destroy

    ! callback: c_funloc(f) of a bind(c) function with the ptp_progress_fn
    ! interface (patches done, patches total), or c_null_funptr to remove it.
    function ptp_extract_set_progress(plan, callback, user_data) &
        bind(c, name='ptp_extract_set_progress') result(status)
      import :: c_int32_t, c_ptr, c_funptr
      type(c_ptr), value :: plan
      type(c_funptr), value :: callback
      type(c_ptr), value :: user_data
      integer(c_int32_t) :: status
    end function ptp_extract_set_progress

    ! object: O(W, H); offsets: off(2, P); patches: see the array order above.
    function ptp_extract_execute(plan, object, offsets, num_patches, patches, patches_bytes) &
        bind(c, name='ptp_extract_execute') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr
      type(c_ptr), value :: plan
      type(c_ptr), value :: object
      type(c_ptr), value :: offsets
      integer(c_int64_t), value :: num_patches
      type(c_ptr), value :: patches
      integer(c_size_t), value :: patches_bytes
      integer(c_int32_t) :: status
    end function ptp_extract_execute

    ! global_offsets: g(2, B); local_offsets: l(c, 2, B).
    function ptp_extract_execute_legacy(plan, object, global_offsets, local_offsets, num_groups, &
                                        patches, patches_bytes) &
        bind(c, name='ptp_extract_execute_legacy') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr
      type(c_ptr), value :: plan
      type(c_ptr), value :: object
      type(c_ptr), value :: global_offsets
      type(c_ptr), value :: local_offsets
      integer(c_int64_t), value :: num_groups
      type(c_ptr), value :: patches
      integer(c_size_t), value :: patches_bytes
      integer(c_int32_t) :: status
    end function ptp_extract_execute_legacy

    ! context: c_null_ptr = the library's shared default context.
    function ptp_extract_patches(context, desc, object, offsets, num_patches, patches, &
                                 patches_bytes) bind(c, name='ptp_extract_patches') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr, ptp_extract_desc
      type(c_ptr), value :: context
      type(ptp_extract_desc), intent(in) :: desc
      type(c_ptr), value :: object
      type(c_ptr), value :: offsets
      integer(c_int64_t), value :: num_patches
      type(c_ptr), value :: patches
      integer(c_size_t), value :: patches_bytes
      integer(c_int32_t) :: status
    end function ptp_extract_patches

    ! ---- reassembly (adjoint of extraction)
    ! canvas: (W, H) of object_dtype; weights: real(c_float) (W, H) or c_null_ptr.
    function ptp_reassemble_execute(plan, patches, offsets, num_patches, canvas, canvas_bytes, &
                                    weights, weights_bytes) &
        bind(c, name='ptp_reassemble_execute') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr
      type(c_ptr), value :: plan
      type(c_ptr), value :: patches
      type(c_ptr), value :: offsets
      integer(c_int64_t), value :: num_patches
      type(c_ptr), value :: canvas
      integer(c_size_t), value :: canvas_bytes
      type(c_ptr), value :: weights
      integer(c_size_t), value :: weights_bytes
      integer(c_int32_t) :: status
    end function ptp_reassemble_execute

    function ptp_reassemble_patches(context, desc, patches, offsets, num_patches, canvas, &
                                    canvas_bytes, weights, weights_bytes) &
        bind(c, name='ptp_reassemble_patches') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr, ptp_extract_desc
      type(c_ptr), value :: context
      type(ptp_extract_desc), intent(in) :: desc
      type(c_ptr), value :: patches
      type(c_ptr), value :: offsets
      integer(c_int64_t), value :: num_patches
      type(c_ptr), value :: canvas
      integer(c_size_t), value :: canvas_bytes
      type(c_ptr), value :: weights
      integer(c_size_t), value :: weights_bytes
      integer(c_int32_t) :: status
    end function ptp_reassemble_patches

    ! ---- neighbour grouping
    function ptp_group_desc_init(desc, struct_size) bind(c, name='ptp_group_desc_init') result(status)
      import :: c_int32_t, c_size_t, ptp_group_desc
      type(ptp_group_desc), intent(inout) :: desc
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_group_desc_init

    ! x, y: real(c_double) (num_points); nn_indices: integer(c_int64_t)
    ! idx(C, S) (required); coords_nn (C, 2, S), coords_offsets (2, S),
    ! coords_relative (C, 2, S): real(c_double) or c_null_ptr.
    function ptp_group_neighbors(context, desc, x, y, num_points, nn_indices, coords_nn, &
                                 coords_offsets, coords_relative) &
        bind(c, name='ptp_group_neighbors') result(status)
      import :: c_int32_t, c_int64_t, c_ptr, ptp_group_desc
      type(c_ptr), value :: context
      type(ptp_group_desc), intent(in) :: desc
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      integer(c_int64_t), value :: num_points
      type(c_ptr), value :: nn_indices
      type(c_ptr), value :: coords_nn
      type(c_ptr), value :: coords_offsets
      type(c_ptr), value :: coords_relative
      integer(c_int32_t) :: status
    end function ptp_group_neighbors

    function ptp_grouped_patches(context, group, extract, object, x, y, num_points, nn_indices, &
                                 coords_nn, coords_offsets, coords_relative, patches, &
                                 patches_bytes) bind(c, name='ptp_grouped_patches') result(status)
      import :: c_int32_t, c_int64_t, c_size_t, c_ptr, ptp_group_desc, ptp_extract_desc
      type(c_ptr), value :: context
      type(ptp_group_desc), intent(in) :: group
      type(ptp_extract_desc), intent(in) :: extract
      type(c_ptr), value :: object
      type(c_ptr), value :: x
      type(c_ptr), value :: y
      integer(c_int64_t), value :: num_points
      type(c_ptr), value :: nn_indices
      type(c_ptr), value :: coords_nn
      type(c_ptr), value :: coords_offsets
      type(c_ptr), value :: coords_relative
      type(c_ptr), value :: patches
      integer(c_size_t), value :: patches_bytes
      integer(c_int32_t) :: status
    end function ptp_grouped_patches

    ! ---- scene alignment
    ! path: a NUL-terminated string, e.g. 'wisdom.fftw'//c_null_char.
    function ptp_fft_wisdom_export(path) bind(c, name='ptp_fft_wisdom_export') result(status)
      import :: c_int32_t, c_char
      character(kind=c_char), dimension(*), intent(in) :: path
      integer(c_int32_t) :: status
    end function ptp_fft_wisdom_export

    function ptp_fft_wisdom_import(path) bind(c, name='ptp_fft_wisdom_import') result(status)
      import :: c_int32_t, c_char
      character(kind=c_char), dimension(*), intent(in) :: path
      integer(c_int32_t) :: status
    end function ptp_fft_wisdom_import

    function ptp_align_desc_init(desc, struct_size) bind(c, name='ptp_align_desc_init') result(status)
      import :: c_int32_t, c_size_t, ptp_align_desc
      type(ptp_align_desc), intent(inout) :: desc
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_align_desc_init

    function ptp_align_plan_create(context, desc, plan) &
        bind(c, name='ptp_align_plan_create') result(status)
      import :: c_int32_t, c_ptr, ptp_align_desc
      type(c_ptr), value :: context
      type(ptp_align_desc), intent(in) :: desc
      type(c_ptr), intent(out) :: plan
      integer(c_int32_t) :: status
    end function ptp_align_plan_create

    function ptp_align_plan_destroy(plan) bind(c, name='ptp_align_plan_destroy') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: plan
      integer(c_int32_t) :: status
    end function ptp_align_plan_destroy

    function ptp_align_plan_num_planes(plan, num_planes) &
        bind(c, name='ptp_align_plan_num_planes') result(status)
      import :: c_int32_t, c_int64_t, c_ptr
      type(c_ptr), value :: plan
      integer(c_int64_t), intent(out) :: num_planes
      integer(c_int32_t) :: status
    end function ptp_align_plan_num_planes

    ! message: a C string owned by the plan, '' unless a GPU context's plan
    ! runs on the CPU.
    function ptp_align_plan_get_backend(plan, backend, message) &
        bind(c, name='ptp_align_plan_get_backend') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: plan
      integer(c_int32_t), intent(out) :: backend
      type(c_ptr), intent(out) :: message
      integer(c_int32_t) :: status
    end function ptp_align_plan_get_backend

    ! callback: c_funloc(f) of a bind(c) function with the ptp_progress_fn
    ! interface, or c_null_funptr to remove it; user_data is passed back.
    function ptp_align_set_progress(plan, callback, user_data) &
        bind(c, name='ptp_align_set_progress') result(status)
      import :: c_int32_t, c_ptr, c_funptr
      type(c_ptr), value :: plan
      type(c_funptr), value :: callback
      type(c_ptr), value :: user_data
      integer(c_int32_t) :: status
    end function ptp_align_set_progress

    ! frame: c_loc of frame(W, H[, channels]) of frame_dtype.
    function ptp_align_set_reference(plan, frame) bind(c, name='ptp_align_set_reference') &
        result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: plan
      type(c_ptr), value :: frame
      integer(c_int32_t) :: status
    end function ptp_align_set_reference

    ! frames(i) = c_loc(frame i); shifts: real(c_double) (2, M) (dy, dx);
    ! plane_shifts (2, P, M) or c_null_ptr; confidence (M) or c_null_ptr.
    function ptp_align_execute(plan, frames, num_frames, shifts, plane_shifts, confidence) &
        bind(c, name='ptp_align_execute') result(status)
      import :: c_int32_t, c_int64_t, c_ptr
      type(c_ptr), value :: plan
      type(c_ptr), intent(in) :: frames(*)
      integer(c_int64_t), value :: num_frames
      type(c_ptr), value :: shifts
      type(c_ptr), value :: plane_shifts
      type(c_ptr), value :: confidence
      integer(c_int32_t) :: status
    end function ptp_align_execute

    ! results(M) of type(ptp_align_result); plane_shifts (2, P, M) or
    ! c_null_ptr. Per-frame statuses; PTP_SUCCESS unless the call itself is
    ! wrong, cancelled, or out of memory.
    function ptp_align_execute_frames(plan, frames, num_frames, results, plane_shifts) &
        bind(c, name='ptp_align_execute_frames') result(status)
      import :: c_int32_t, c_int64_t, c_ptr, ptp_align_result
      type(c_ptr), value :: plan
      type(c_ptr), intent(in) :: frames(*)
      integer(c_int64_t), value :: num_frames
      type(ptp_align_result), intent(inout) :: results(*)
      type(c_ptr), value :: plane_shifts
      integer(c_int32_t) :: status
    end function ptp_align_execute_frames

    ! ptp_align_execute_frames plus flags: c_loc of integer(c_int32_t)
    ! flags(M), each frame's bits of enum ptp_align_flag (test them with
    ! iand; 0: nothing doubted), or c_null_ptr.
    function ptp_align_execute_frames_flags(plan, frames, num_frames, results, plane_shifts, &
                                            flags) &
        bind(c, name='ptp_align_execute_frames_flags') result(status)
      import :: c_int32_t, c_int64_t, c_ptr, ptp_align_result
      type(c_ptr), value :: plan
      type(c_ptr), intent(in) :: frames(*)
      integer(c_int64_t), value :: num_frames
      type(ptp_align_result), intent(inout) :: results(*)
      type(c_ptr), value :: plane_shifts
      type(c_ptr), value :: flags
      integer(c_int32_t) :: status
    end function ptp_align_execute_frames_flags

    function ptp_correlate_desc_init(desc, struct_size) &
        bind(c, name='ptp_correlate_desc_init') result(status)
      import :: c_int32_t, c_size_t, ptp_correlate_desc
      type(ptp_correlate_desc), intent(inout) :: desc
      integer(c_size_t), value :: struct_size
      integer(c_int32_t) :: status
    end function ptp_correlate_desc_init

    function ptp_correlate_plan_create(context, desc, plan) &
        bind(c, name='ptp_correlate_plan_create') result(status)
      import :: c_int32_t, c_ptr, ptp_correlate_desc
      type(c_ptr), value :: context
      type(ptp_correlate_desc), intent(in) :: desc
      type(c_ptr), intent(out) :: plan
      integer(c_int32_t) :: status
    end function ptp_correlate_plan_create

    function ptp_correlate_plan_destroy(plan) &
        bind(c, name='ptp_correlate_plan_destroy') result(status)
      import :: c_int32_t, c_ptr
      type(c_ptr), value :: plan
      integer(c_int32_t) :: status
    end function ptp_correlate_plan_destroy

    ! reference, moving: real(c_float) images, (W, H) in Fortran order;
    ! spectrum (c_loc of complex(c_float_complex) (W/2 + 1, H)) and
    ! correlation (c_loc of real(c_float) (W, H)), either c_null_ptr.
    function ptp_correlate_execute(plan, reference, moving, spectrum, correlation) &
        bind(c, name='ptp_correlate_execute') result(status)
      import :: c_int32_t, c_ptr, c_float
      type(c_ptr), value :: plan
      real(c_float), intent(in) :: reference(*)
      real(c_float), intent(in) :: moving(*)
      type(c_ptr), value :: spectrum
      type(c_ptr), value :: correlation
      integer(c_int32_t) :: status
    end function ptp_correlate_execute

    ! ptp_correlate_execute for a plan of dtype PTP_DTYPE_FLOAT64:
    ! real(c_double) images; spectrum complex(c_double_complex) (W/2 + 1, H)
    ! and correlation real(c_double) (W, H) by c_loc, either c_null_ptr.
    function ptp_correlate_execute_f64(plan, reference, moving, spectrum, correlation) &
        bind(c, name='ptp_correlate_execute_f64') result(status)
      import :: c_int32_t, c_ptr, c_double
      type(c_ptr), value :: plan
      real(c_double), intent(in) :: reference(*)
      real(c_double), intent(in) :: moving(*)
      type(c_ptr), value :: spectrum
      type(c_ptr), value :: correlation
      integer(c_int32_t) :: status
    end function ptp_correlate_execute_f64
  end interface

  interface
    function c_strlen(s) bind(c, name='strlen') result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen
  end interface

  ! --------------------------------------------- typed generic interfaces
  ! Each C name that takes arrays is also a generic: the C interface above
  ! (type(c_ptr) arrays) and the typed specific procedures below (module
  ! header: "Typed generic interfaces"). The specific names are private.
  ! BEGIN typed generics (generated by capi/fortran/generate_typed.py: edit that and run it)
  private :: ptp_extract_execute_c64_f64_r3, ptp_extract_patches_c64_f64_r3, &
             ptp_extract_execute_legacy_c64_f64_r3, ptp_reassemble_execute_c64_f64_r3, &
             ptp_reassemble_patches_c64_f64_r3, ptp_extract_execute_c64_f64_r4, &
             ptp_extract_patches_c64_f64_r4, ptp_extract_execute_legacy_c64_f64_r4, &
             ptp_reassemble_execute_c64_f64_r4, ptp_reassemble_patches_c64_f64_r4, &
             ptp_extract_execute_c64_f32_r3, ptp_extract_patches_c64_f32_r3, &
             ptp_extract_execute_legacy_c64_f32_r3, ptp_reassemble_execute_c64_f32_r3, &
             ptp_reassemble_patches_c64_f32_r3, ptp_extract_execute_c64_f32_r4, &
             ptp_extract_patches_c64_f32_r4, ptp_extract_execute_legacy_c64_f32_r4, &
             ptp_reassemble_execute_c64_f32_r4, ptp_reassemble_patches_c64_f32_r4, &
             ptp_extract_execute_f32_f64_r3, ptp_extract_patches_f32_f64_r3, &
             ptp_extract_execute_legacy_f32_f64_r3, ptp_reassemble_execute_f32_f64_r3, &
             ptp_reassemble_patches_f32_f64_r3, ptp_extract_execute_f32_f64_r4, &
             ptp_extract_patches_f32_f64_r4, ptp_extract_execute_legacy_f32_f64_r4, &
             ptp_reassemble_execute_f32_f64_r4, ptp_reassemble_patches_f32_f64_r4, &
             ptp_extract_execute_f32_f32_r3, ptp_extract_patches_f32_f32_r3, &
             ptp_extract_execute_legacy_f32_f32_r3, ptp_reassemble_execute_f32_f32_r3, &
             ptp_reassemble_patches_f32_f32_r3, ptp_extract_execute_f32_f32_r4, &
             ptp_extract_patches_f32_f32_r4, ptp_extract_execute_legacy_f32_f32_r4, &
             ptp_reassemble_execute_f32_f32_r4, ptp_reassemble_patches_f32_f32_r4, &
             ptp_group_neighbors_f64, ptp_grouped_patches_c64_r3, ptp_grouped_patches_c64_r4, &
             ptp_grouped_patches_f32_r3, ptp_grouped_patches_f32_r4, &
             ptp_align_set_reference_u16_r2, ptp_align_set_reference_u16_r3, &
             ptp_align_execute_u16_r3, ptp_align_execute_frames_u16_r3, &
             ptp_align_execute_u16_r4, ptp_align_execute_frames_u16_r4, &
             ptp_align_set_reference_f32_r2, ptp_align_set_reference_f32_r3, &
             ptp_align_execute_f32_r3, ptp_align_execute_frames_f32_r3, &
             ptp_align_execute_f32_r4, ptp_align_execute_frames_f32_r4
  interface ptp_extract_execute
    procedure :: ptp_extract_execute, ptp_extract_execute_c64_f64_r3, &
                 ptp_extract_execute_c64_f64_r4, ptp_extract_execute_c64_f32_r3, &
                 ptp_extract_execute_c64_f32_r4, ptp_extract_execute_f32_f64_r3, &
                 ptp_extract_execute_f32_f64_r4, ptp_extract_execute_f32_f32_r3, &
                 ptp_extract_execute_f32_f32_r4
  end interface ptp_extract_execute
  interface ptp_extract_patches
    procedure :: ptp_extract_patches, ptp_extract_patches_c64_f64_r3, &
                 ptp_extract_patches_c64_f64_r4, ptp_extract_patches_c64_f32_r3, &
                 ptp_extract_patches_c64_f32_r4, ptp_extract_patches_f32_f64_r3, &
                 ptp_extract_patches_f32_f64_r4, ptp_extract_patches_f32_f32_r3, &
                 ptp_extract_patches_f32_f32_r4
  end interface ptp_extract_patches
  interface ptp_extract_execute_legacy
    procedure :: ptp_extract_execute_legacy, ptp_extract_execute_legacy_c64_f64_r3, &
                 ptp_extract_execute_legacy_c64_f64_r4, ptp_extract_execute_legacy_c64_f32_r3, &
                 ptp_extract_execute_legacy_c64_f32_r4, ptp_extract_execute_legacy_f32_f64_r3, &
                 ptp_extract_execute_legacy_f32_f64_r4, ptp_extract_execute_legacy_f32_f32_r3, &
                 ptp_extract_execute_legacy_f32_f32_r4
  end interface ptp_extract_execute_legacy
  interface ptp_reassemble_execute
    procedure :: ptp_reassemble_execute, ptp_reassemble_execute_c64_f64_r3, &
                 ptp_reassemble_execute_c64_f64_r4, ptp_reassemble_execute_c64_f32_r3, &
                 ptp_reassemble_execute_c64_f32_r4, ptp_reassemble_execute_f32_f64_r3, &
                 ptp_reassemble_execute_f32_f64_r4, ptp_reassemble_execute_f32_f32_r3, &
                 ptp_reassemble_execute_f32_f32_r4
  end interface ptp_reassemble_execute
  interface ptp_reassemble_patches
    procedure :: ptp_reassemble_patches, ptp_reassemble_patches_c64_f64_r3, &
                 ptp_reassemble_patches_c64_f64_r4, ptp_reassemble_patches_c64_f32_r3, &
                 ptp_reassemble_patches_c64_f32_r4, ptp_reassemble_patches_f32_f64_r3, &
                 ptp_reassemble_patches_f32_f64_r4, ptp_reassemble_patches_f32_f32_r3, &
                 ptp_reassemble_patches_f32_f32_r4
  end interface ptp_reassemble_patches
  interface ptp_group_neighbors
    procedure :: ptp_group_neighbors, ptp_group_neighbors_f64
  end interface ptp_group_neighbors
  interface ptp_grouped_patches
    procedure :: ptp_grouped_patches, ptp_grouped_patches_c64_r3, ptp_grouped_patches_c64_r4, &
                 ptp_grouped_patches_f32_r3, ptp_grouped_patches_f32_r4
  end interface ptp_grouped_patches
  interface ptp_align_set_reference
    procedure :: ptp_align_set_reference, ptp_align_set_reference_u16_r2, &
                 ptp_align_set_reference_u16_r3, ptp_align_set_reference_f32_r2, &
                 ptp_align_set_reference_f32_r3
  end interface ptp_align_set_reference
  interface ptp_align_execute
    procedure :: ptp_align_execute, ptp_align_execute_u16_r3, ptp_align_execute_u16_r4, &
                 ptp_align_execute_f32_r3, ptp_align_execute_f32_r4
  end interface ptp_align_execute
  interface ptp_align_execute_frames
    procedure :: ptp_align_execute_frames, ptp_align_execute_frames_u16_r3, &
                 ptp_align_execute_frames_u16_r4, ptp_align_execute_frames_f32_r3, &
                 ptp_align_execute_frames_f32_r4
  end interface ptp_align_execute_frames
  ! END typed generics

contains

  ! ------------------------------------------------- Fortran helpers
  ! These are module procedures (compiled into libptychopatch_fortran.a).

  ! A NUL-terminated C string as a Fortran string ('' for a null pointer).
  function ptp_c_string_f(s) result(str)
    type(c_ptr), intent(in) :: s
    character(len=:), allocatable :: str
    character(kind=c_char), pointer :: chars(:)
    integer(c_size_t) :: n, i
    if (.not. c_associated(s)) then
      str = ''
      return
    end if
    n = c_strlen(s)
    allocate (character(len=n) :: str)
    if (n == 0) return
    call c_f_pointer(s, chars, [n])
    do i = 1, n
      str(i:i) = chars(i)
    end do
  end function ptp_c_string_f

  ! ptp_last_error_message(): '' after a success, a sentence naming the
  ! argument after a failure (of the calling thread's last call).
  ! It includes the messages of the typed procedures' own checks.
  function ptp_last_error_message_f() result(message)
    character(len=:), allocatable :: message
    message = ptp_c_string_f(ptp_last_error_message())
    if (typed_failed .and. len(message) > 0) then
      if (message == trim(typed_marker)) message = trim(typed_message)
    end if
  end function ptp_last_error_message_f

  ! ptp_status_name(status), e.g. 'PTP_ERROR_INVALID_SIZE'.
  function ptp_status_name_f(status) result(name)
    integer(c_int32_t), intent(in) :: status
    character(len=:), allocatable :: name
    name = ptp_c_string_f(ptp_status_name(status))
  end function ptp_status_name_f

  ! ptp_version_string(), e.g. '0.4.0+cpu'.
  function ptp_version_string_f() result(version)
    character(len=:), allocatable :: version
    version = ptp_c_string_f(ptp_version_string())
  end function ptp_version_string_f

  ! 'PTP_ERROR_X: <message>' for a failed status, '' for PTP_SUCCESS; call
  ! it right after the failing call (the message is the thread's last).
  function ptp_error_f(status) result(text)
    integer(c_int32_t), intent(in) :: status
    character(len=:), allocatable :: text, message
    if (status == PTP_SUCCESS) then
      text = ''
    else
      message = ptp_last_error_message_f()
      text = ptp_status_name_f(status)//': '//message
    end if
  end function ptp_error_f

  ! The int16 storage of a uint16 sensor value (0..65535), for filling
  ! integer(c_int16_t) frames from default integers.
  elemental function ptp_uint16_f(value) result(bits)
    integer, intent(in) :: value
    integer(c_int16_t) :: bits
    integer :: v
    v = iand(value, 65535)
    if (v > 32767) v = v - 65536
    bits = int(v, c_int16_t)
  end function ptp_uint16_f

  ! ------------------------------------------------- typed procedures
  ! BEGIN typed procedures (generated by capi/fortran/generate_typed.py: edit that and run it)
  function ptp_extract_execute_c64_f64_r3(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_c64_f64_r3

  function ptp_extract_patches_c64_f64_r3(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_c64_f64_r3

  function ptp_extract_execute_legacy_c64_f64_r3(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_double), intent(in), target, contiguous :: local_offsets(:, :, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_c64_f64_r3

  function ptp_reassemble_execute_c64_f64_r3(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_c64_f64_r3

  function ptp_reassemble_patches_c64_f64_r3(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_c64_f64_r3

  function ptp_extract_execute_c64_f64_r4(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_c64_f64_r4

  function ptp_extract_patches_c64_f64_r4(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_c64_f64_r4

  function ptp_extract_execute_legacy_c64_f64_r4(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_double), intent(in), target, contiguous :: local_offsets(:, :, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_c64_f64_r4

  function ptp_reassemble_execute_c64_f64_r4(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_c64_f64_r4

  function ptp_reassemble_patches_c64_f64_r4(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT64, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_c64_f64_r4

  function ptp_extract_execute_c64_f32_r3(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_c64_f32_r3

  function ptp_extract_patches_c64_f32_r3(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_c64_f32_r3

  function ptp_extract_execute_legacy_c64_f32_r3(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_float), intent(in), target, contiguous :: local_offsets(:, :, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_c64_f32_r3

  function ptp_reassemble_execute_c64_f32_r3(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_c64_f32_r3

  function ptp_reassemble_patches_c64_f32_r3(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_c64_f32_r3

  function ptp_extract_execute_c64_f32_r4(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_c64_f32_r4

  function ptp_extract_patches_c64_f32_r4(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_c64_f32_r4

  function ptp_extract_execute_legacy_c64_f32_r4(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_float), intent(in), target, contiguous :: local_offsets(:, :, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_c64_f32_r4

  function ptp_reassemble_execute_c64_f32_r4(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_c64_f32_r4

  function ptp_reassemble_patches_c64_f32_r4(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    complex(c_float_complex), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_COMPLEX64, PTP_DTYPE_FLOAT32, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_c64_f32_r4

  function ptp_extract_execute_f32_f64_r3(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_f32_f64_r3

  function ptp_extract_patches_f32_f64_r3(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_f32_f64_r3

  function ptp_extract_execute_legacy_f32_f64_r3(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_double), intent(in), target, contiguous :: local_offsets(:, :, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_f32_f64_r3

  function ptp_reassemble_execute_f32_f64_r3(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: patches(:, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_f32_f64_r3

  function ptp_reassemble_patches_f32_f64_r3(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: patches(:, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_f32_f64_r3

  function ptp_extract_execute_f32_f64_r4(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_f32_f64_r4

  function ptp_extract_patches_f32_f64_r4(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_f32_f64_r4

  function ptp_extract_execute_legacy_f32_f64_r4(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_double), intent(in), target, contiguous :: local_offsets(:, :, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_f32_f64_r4

  function ptp_reassemble_execute_f32_f64_r4(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_f32_f64_r4

  function ptp_reassemble_patches_f32_f64_r4(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT64, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_f32_f64_r4

  function ptp_extract_execute_f32_f32_r3(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_f32_f32_r3

  function ptp_extract_patches_f32_f32_r3(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_f32_f32_r3

  function ptp_extract_execute_legacy_f32_f32_r3(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_float), intent(in), target, contiguous :: local_offsets(:, :, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_f32_f32_r3

  function ptp_reassemble_execute_f32_f32_r3(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: patches(:, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_f32_f32_r3

  function ptp_reassemble_patches_f32_f32_r3(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: patches(:, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_f32_f32_r3

  function ptp_extract_execute_f32_f32_r4(plan, object, offsets, patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute(plan, p_object, p_offsets, size(offsets, 2, c_int64_t), &
                                 p_patches, patches_bytes)
  end function ptp_extract_execute_f32_f32_r4

  function ptp_extract_patches_f32_f32_r4(context, desc, object, offsets, &
                                          patches) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(c_ptr) :: p_object, p_offsets, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                           shape(object, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_offsets = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_patches(context, desc, p_object, p_offsets, &
                                 size(offsets, 2, c_int64_t), p_patches, patches_bytes)
  end function ptp_extract_patches_f32_f32_r4

  function ptp_extract_execute_legacy_f32_f32_r4(plan, object, global_offsets, local_offsets, &
                                                 patches, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_float), intent(in), target, contiguous :: global_offsets(:, :)
    real(c_float), intent(in), target, contiguous :: local_offsets(:, :, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_object, p_global, p_local, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_extract_execute_legacy'
    integer(c_int32_t) :: status
    status = check_legacy_offsets(where, shape(global_offsets, c_int64_t), &
                                  shape(local_offsets, c_int64_t), desc)
    if (status /= PTP_SUCCESS) return
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'object', &
                             shape(object, c_int64_t), size(local_offsets, kind=c_int64_t)/2, &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_global = c_null_ptr; p_local = c_null_ptr
    p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(global_offsets) > 0) p_global = c_loc(global_offsets)
    if (size(local_offsets) > 0) p_local = c_loc(local_offsets)
    if (size(patches) > 0) p_patches = c_loc(patches)
    status = ptp_extract_execute_legacy(plan, p_object, p_global, p_local, &
                                        size(global_offsets, 2, c_int64_t), p_patches, &
                                        patches_bytes)
  end function ptp_extract_execute_legacy_f32_f32_r4

  function ptp_reassemble_execute_f32_f32_r4(plan, patches, offsets, canvas, weights, &
                                             desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(ptp_extract_desc), intent(in), optional :: desc
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_execute'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    if (present(desc)) then
      status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'canvas', &
                             shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                             shape(patches, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_execute(plan, p_patches, p_offsets, size(offsets, 2, c_int64_t), &
                                    p_canvas, canvas_bytes, p_weights, weights_bytes)
  end function ptp_reassemble_execute_f32_f32_r4

  function ptp_reassemble_patches_f32_f32_r4(context, desc, patches, offsets, canvas, &
                                             weights) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_extract_desc), intent(in) :: desc
    real(c_float), intent(in), target, contiguous :: patches(:, :, :, :)
    real(c_float), intent(in), target, contiguous :: offsets(:, :)
    real(c_float), intent(inout), target, contiguous :: canvas(:, :)
    real(c_float), intent(inout), target, contiguous, optional :: weights(:, :)
    type(c_ptr) :: p_patches, p_offsets, p_canvas, p_weights
    integer(c_size_t) :: canvas_bytes, weights_bytes
    character(*), parameter :: where = 'ptp_reassemble_patches'
    integer(c_int32_t) :: status
    status = check_pairs(where, 'offsets', shape(offsets, c_int64_t))
    if (status /= PTP_SUCCESS) return
    if (present(weights)) then
      status = check_weights(where, shape(weights, c_int64_t), shape(canvas, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_extract(where, desc, PTP_DTYPE_FLOAT32, PTP_DTYPE_FLOAT32, 'canvas', &
                           shape(canvas, c_int64_t), size(offsets, 2, c_int64_t), &
                           shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    p_patches = c_null_ptr; p_offsets = c_null_ptr; p_canvas = c_null_ptr
    if (size(patches) > 0) p_patches = c_loc(patches)
    if (size(offsets) > 0) p_offsets = c_loc(offsets)
    if (size(canvas) > 0) p_canvas = c_loc(canvas)
    canvas_bytes = size(canvas, kind=c_size_t)*(storage_size(canvas, c_size_t)/8)
    p_weights = c_null_ptr; weights_bytes = 0
    if (present(weights)) then
      if (size(weights) > 0) p_weights = c_loc(weights)
      weights_bytes = size(weights, kind=c_size_t)*(storage_size(weights, c_size_t)/8)
    end if
    status = ptp_reassemble_patches(context, desc, p_patches, p_offsets, &
                                    size(offsets, 2, c_int64_t), p_canvas, canvas_bytes, &
                                    p_weights, weights_bytes)
  end function ptp_reassemble_patches_f32_f32_r4

  function ptp_group_neighbors_f64(context, desc, x, y, nn_indices, coords_nn, coords_offsets, &
                                   coords_relative) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_group_desc), intent(in) :: desc
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(in), target, contiguous :: y(:)
    integer(c_int64_t), intent(inout), target, contiguous :: nn_indices(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_nn(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_offsets(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_relative(:, :, :)
    type(c_ptr) :: p_x, p_y, p_indices, p_nn, p_off, p_rel
    character(*), parameter :: where = 'ptp_group_neighbors'
    integer(c_int32_t) :: status
    status = check_group(where, desc, size(x, kind=c_int64_t), size(y, kind=c_int64_t), &
                         shape(nn_indices, c_int64_t), coords_nn, coords_offsets, &
                         coords_relative)
    if (status /= PTP_SUCCESS) return
    p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr
    p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr
    if (size(x) > 0) p_x = c_loc(x)
    if (size(y) > 0) p_y = c_loc(y)
    if (size(nn_indices) > 0) p_indices = c_loc(nn_indices)
    if (present(coords_nn)) then
      if (size(coords_nn) > 0) p_nn = c_loc(coords_nn)
    end if
    if (present(coords_offsets)) then
      if (size(coords_offsets) > 0) p_off = c_loc(coords_offsets)
    end if
    if (present(coords_relative)) then
      if (size(coords_relative) > 0) p_rel = c_loc(coords_relative)
    end if
    status = ptp_group_neighbors(context, desc, p_x, p_y, size(x, kind=c_int64_t), p_indices, &
                                 p_nn, p_off, p_rel)
  end function ptp_group_neighbors_f64

  function ptp_grouped_patches_c64_r3(context, group, extract, object, x, y, nn_indices, &
                                      patches, coords_nn, coords_offsets, &
                                      coords_relative) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_group_desc), intent(in) :: group
    type(ptp_extract_desc), intent(in) :: extract
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(in), target, contiguous :: y(:)
    integer(c_int64_t), intent(inout), target, contiguous :: nn_indices(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_nn(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_offsets(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_relative(:, :, :)
    type(c_ptr) :: p_object, p_x, p_y, p_indices, p_nn, p_off, p_rel, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_grouped_patches'
    integer(c_int32_t) :: status
    status = check_group(where, group, size(x, kind=c_int64_t), size(y, kind=c_int64_t), &
                         shape(nn_indices, c_int64_t), coords_nn, coords_offsets, &
                         coords_relative)
    if (status /= PTP_SUCCESS) return
    status = check_grouped_extract(where, group, extract, PTP_DTYPE_COMPLEX64, &
                                   shape(object, c_int64_t), shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(patches) > 0) p_patches = c_loc(patches)
    p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr
    p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr
    if (size(x) > 0) p_x = c_loc(x)
    if (size(y) > 0) p_y = c_loc(y)
    if (size(nn_indices) > 0) p_indices = c_loc(nn_indices)
    if (present(coords_nn)) then
      if (size(coords_nn) > 0) p_nn = c_loc(coords_nn)
    end if
    if (present(coords_offsets)) then
      if (size(coords_offsets) > 0) p_off = c_loc(coords_offsets)
    end if
    if (present(coords_relative)) then
      if (size(coords_relative) > 0) p_rel = c_loc(coords_relative)
    end if
    status = ptp_grouped_patches(context, group, extract, p_object, p_x, p_y, &
                                 size(x, kind=c_int64_t), p_indices, p_nn, p_off, p_rel, &
                                 p_patches, patches_bytes)
  end function ptp_grouped_patches_c64_r3

  function ptp_grouped_patches_c64_r4(context, group, extract, object, x, y, nn_indices, &
                                      patches, coords_nn, coords_offsets, &
                                      coords_relative) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_group_desc), intent(in) :: group
    type(ptp_extract_desc), intent(in) :: extract
    complex(c_float_complex), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(in), target, contiguous :: y(:)
    integer(c_int64_t), intent(inout), target, contiguous :: nn_indices(:, :)
    complex(c_float_complex), intent(inout), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_nn(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_offsets(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_relative(:, :, :)
    type(c_ptr) :: p_object, p_x, p_y, p_indices, p_nn, p_off, p_rel, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_grouped_patches'
    integer(c_int32_t) :: status
    status = check_group(where, group, size(x, kind=c_int64_t), size(y, kind=c_int64_t), &
                         shape(nn_indices, c_int64_t), coords_nn, coords_offsets, &
                         coords_relative)
    if (status /= PTP_SUCCESS) return
    status = check_grouped_extract(where, group, extract, PTP_DTYPE_COMPLEX64, &
                                   shape(object, c_int64_t), shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(patches) > 0) p_patches = c_loc(patches)
    p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr
    p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr
    if (size(x) > 0) p_x = c_loc(x)
    if (size(y) > 0) p_y = c_loc(y)
    if (size(nn_indices) > 0) p_indices = c_loc(nn_indices)
    if (present(coords_nn)) then
      if (size(coords_nn) > 0) p_nn = c_loc(coords_nn)
    end if
    if (present(coords_offsets)) then
      if (size(coords_offsets) > 0) p_off = c_loc(coords_offsets)
    end if
    if (present(coords_relative)) then
      if (size(coords_relative) > 0) p_rel = c_loc(coords_relative)
    end if
    status = ptp_grouped_patches(context, group, extract, p_object, p_x, p_y, &
                                 size(x, kind=c_int64_t), p_indices, p_nn, p_off, p_rel, &
                                 p_patches, patches_bytes)
  end function ptp_grouped_patches_c64_r4

  function ptp_grouped_patches_f32_r3(context, group, extract, object, x, y, nn_indices, &
                                      patches, coords_nn, coords_offsets, &
                                      coords_relative) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_group_desc), intent(in) :: group
    type(ptp_extract_desc), intent(in) :: extract
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(in), target, contiguous :: y(:)
    integer(c_int64_t), intent(inout), target, contiguous :: nn_indices(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_nn(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_offsets(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_relative(:, :, :)
    type(c_ptr) :: p_object, p_x, p_y, p_indices, p_nn, p_off, p_rel, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_grouped_patches'
    integer(c_int32_t) :: status
    status = check_group(where, group, size(x, kind=c_int64_t), size(y, kind=c_int64_t), &
                         shape(nn_indices, c_int64_t), coords_nn, coords_offsets, &
                         coords_relative)
    if (status /= PTP_SUCCESS) return
    status = check_grouped_extract(where, group, extract, PTP_DTYPE_FLOAT32, &
                                   shape(object, c_int64_t), shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(patches) > 0) p_patches = c_loc(patches)
    p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr
    p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr
    if (size(x) > 0) p_x = c_loc(x)
    if (size(y) > 0) p_y = c_loc(y)
    if (size(nn_indices) > 0) p_indices = c_loc(nn_indices)
    if (present(coords_nn)) then
      if (size(coords_nn) > 0) p_nn = c_loc(coords_nn)
    end if
    if (present(coords_offsets)) then
      if (size(coords_offsets) > 0) p_off = c_loc(coords_offsets)
    end if
    if (present(coords_relative)) then
      if (size(coords_relative) > 0) p_rel = c_loc(coords_relative)
    end if
    status = ptp_grouped_patches(context, group, extract, p_object, p_x, p_y, &
                                 size(x, kind=c_int64_t), p_indices, p_nn, p_off, p_rel, &
                                 p_patches, patches_bytes)
  end function ptp_grouped_patches_f32_r3

  function ptp_grouped_patches_f32_r4(context, group, extract, object, x, y, nn_indices, &
                                      patches, coords_nn, coords_offsets, &
                                      coords_relative) result(status)
    type(c_ptr), intent(in) :: context
    type(ptp_group_desc), intent(in) :: group
    type(ptp_extract_desc), intent(in) :: extract
    real(c_float), intent(in), target, contiguous :: object(:, :)
    real(c_double), intent(in), target, contiguous :: x(:)
    real(c_double), intent(in), target, contiguous :: y(:)
    integer(c_int64_t), intent(inout), target, contiguous :: nn_indices(:, :)
    real(c_float), intent(inout), target, contiguous :: patches(:, :, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_nn(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_offsets(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: coords_relative(:, :, :)
    type(c_ptr) :: p_object, p_x, p_y, p_indices, p_nn, p_off, p_rel, p_patches
    integer(c_size_t) :: patches_bytes
    character(*), parameter :: where = 'ptp_grouped_patches'
    integer(c_int32_t) :: status
    status = check_group(where, group, size(x, kind=c_int64_t), size(y, kind=c_int64_t), &
                         shape(nn_indices, c_int64_t), coords_nn, coords_offsets, &
                         coords_relative)
    if (status /= PTP_SUCCESS) return
    status = check_grouped_extract(where, group, extract, PTP_DTYPE_FLOAT32, &
                                   shape(object, c_int64_t), shape(patches, c_int64_t))
    if (status /= PTP_SUCCESS) return
    patches_bytes = size(patches, kind=c_size_t)*(storage_size(patches, c_size_t)/8)
    p_object = c_null_ptr; p_patches = c_null_ptr
    if (size(object) > 0) p_object = c_loc(object)
    if (size(patches) > 0) p_patches = c_loc(patches)
    p_x = c_null_ptr; p_y = c_null_ptr; p_indices = c_null_ptr
    p_nn = c_null_ptr; p_off = c_null_ptr; p_rel = c_null_ptr
    if (size(x) > 0) p_x = c_loc(x)
    if (size(y) > 0) p_y = c_loc(y)
    if (size(nn_indices) > 0) p_indices = c_loc(nn_indices)
    if (present(coords_nn)) then
      if (size(coords_nn) > 0) p_nn = c_loc(coords_nn)
    end if
    if (present(coords_offsets)) then
      if (size(coords_offsets) > 0) p_off = c_loc(coords_offsets)
    end if
    if (present(coords_relative)) then
      if (size(coords_relative) > 0) p_rel = c_loc(coords_relative)
    end if
    status = ptp_grouped_patches(context, group, extract, p_object, p_x, p_y, &
                                 size(x, kind=c_int64_t), p_indices, p_nn, p_off, p_rel, &
                                 p_patches, patches_bytes)
  end function ptp_grouped_patches_f32_r4

  function ptp_align_set_reference_u16_r2(plan, frame, desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frame(:, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: p_frame
    character(*), parameter :: where = 'ptp_align_set_reference'
    integer(c_int32_t) :: status
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frame', shape(frame, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_frame = c_null_ptr
    if (size(frame) > 0) p_frame = c_loc(frame)
    status = ptp_align_set_reference(plan, p_frame)
  end function ptp_align_set_reference_u16_r2

  function ptp_align_set_reference_u16_r3(plan, frame, desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frame(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: p_frame
    character(*), parameter :: where = 'ptp_align_set_reference'
    integer(c_int32_t) :: status
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frame', shape(frame, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_frame = c_null_ptr
    if (size(frame) > 0) p_frame = c_loc(frame)
    status = ptp_align_set_reference(plan, p_frame)
  end function ptp_align_set_reference_u16_r3

  function ptp_align_execute_u16_r3(plan, frames, shifts, plane_shifts, confidence, &
                                    desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frames(:, :, :)
    real(c_double), intent(inout), target, contiguous :: shifts(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: confidence(:)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 3)), p_shifts, p_planes, p_confidence
    integer(c_int64_t) :: m, i, frame_shape(3)
    character(*), parameter :: where = 'ptp_align_execute'
    integer(c_int32_t) :: status
    m = size(frames, 3, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frames(..., i)', frame_shape(1:2))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'shifts', shape(shifts, c_int64_t), [2_c_int64_t, m], &
                         ': (dy, dx) per frame')
    if (status /= PTP_SUCCESS) return
    if (present(confidence)) then
      status = check_shape(where, 'confidence', shape(confidence, c_int64_t), [m], &
                           ': one per frame')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_shifts = c_null_ptr; p_planes = c_null_ptr; p_confidence = c_null_ptr
    if (size(shifts) > 0) p_shifts = c_loc(shifts)
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    if (present(confidence)) then
      if (size(confidence) > 0) p_confidence = c_loc(confidence)
    end if
    status = ptp_align_execute(plan, frame_pointers, m, p_shifts, p_planes, p_confidence)
  end function ptp_align_execute_u16_r3

  function ptp_align_execute_frames_u16_r3(plan, frames, results, plane_shifts, &
                                           desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frames(:, :, :)
    type(ptp_align_result), intent(inout), contiguous :: results(:)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 3)), p_planes
    integer(c_int64_t) :: m, i, frame_shape(3)
    character(*), parameter :: where = 'ptp_align_execute_frames'
    integer(c_int32_t) :: status
    m = size(frames, 3, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frames(..., i)', frame_shape(1:2))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'results', shape(results, c_int64_t), [m], ': one per frame')
    if (status /= PTP_SUCCESS) return
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_planes = c_null_ptr
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    status = ptp_align_execute_frames(plan, frame_pointers, m, results, p_planes)
  end function ptp_align_execute_frames_u16_r3

  function ptp_align_execute_u16_r4(plan, frames, shifts, plane_shifts, confidence, &
                                    desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frames(:, :, :, :)
    real(c_double), intent(inout), target, contiguous :: shifts(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: confidence(:)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 4)), p_shifts, p_planes, p_confidence
    integer(c_int64_t) :: m, i, frame_shape(4)
    character(*), parameter :: where = 'ptp_align_execute'
    integer(c_int32_t) :: status
    m = size(frames, 4, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frames(..., i)', frame_shape(1:3))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'shifts', shape(shifts, c_int64_t), [2_c_int64_t, m], &
                         ': (dy, dx) per frame')
    if (status /= PTP_SUCCESS) return
    if (present(confidence)) then
      status = check_shape(where, 'confidence', shape(confidence, c_int64_t), [m], &
                           ': one per frame')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_shifts = c_null_ptr; p_planes = c_null_ptr; p_confidence = c_null_ptr
    if (size(shifts) > 0) p_shifts = c_loc(shifts)
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    if (present(confidence)) then
      if (size(confidence) > 0) p_confidence = c_loc(confidence)
    end if
    status = ptp_align_execute(plan, frame_pointers, m, p_shifts, p_planes, p_confidence)
  end function ptp_align_execute_u16_r4

  function ptp_align_execute_frames_u16_r4(plan, frames, results, plane_shifts, &
                                           desc) result(status)
    type(c_ptr), intent(in) :: plan
    integer(c_int16_t), intent(in), target, contiguous :: frames(:, :, :, :)
    type(ptp_align_result), intent(inout), contiguous :: results(:)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 4)), p_planes
    integer(c_int64_t) :: m, i, frame_shape(4)
    character(*), parameter :: where = 'ptp_align_execute_frames'
    integer(c_int32_t) :: status
    m = size(frames, 4, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_UINT16, 'frames(..., i)', frame_shape(1:3))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'results', shape(results, c_int64_t), [m], ': one per frame')
    if (status /= PTP_SUCCESS) return
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_planes = c_null_ptr
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    status = ptp_align_execute_frames(plan, frame_pointers, m, results, p_planes)
  end function ptp_align_execute_frames_u16_r4

  function ptp_align_set_reference_f32_r2(plan, frame, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frame(:, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: p_frame
    character(*), parameter :: where = 'ptp_align_set_reference'
    integer(c_int32_t) :: status
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frame', shape(frame, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_frame = c_null_ptr
    if (size(frame) > 0) p_frame = c_loc(frame)
    status = ptp_align_set_reference(plan, p_frame)
  end function ptp_align_set_reference_f32_r2

  function ptp_align_set_reference_f32_r3(plan, frame, desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frame(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: p_frame
    character(*), parameter :: where = 'ptp_align_set_reference'
    integer(c_int32_t) :: status
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frame', shape(frame, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_frame = c_null_ptr
    if (size(frame) > 0) p_frame = c_loc(frame)
    status = ptp_align_set_reference(plan, p_frame)
  end function ptp_align_set_reference_f32_r3

  function ptp_align_execute_f32_r3(plan, frames, shifts, plane_shifts, confidence, &
                                    desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frames(:, :, :)
    real(c_double), intent(inout), target, contiguous :: shifts(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: confidence(:)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 3)), p_shifts, p_planes, p_confidence
    integer(c_int64_t) :: m, i, frame_shape(3)
    character(*), parameter :: where = 'ptp_align_execute'
    integer(c_int32_t) :: status
    m = size(frames, 3, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frames(..., i)', frame_shape(1:2))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'shifts', shape(shifts, c_int64_t), [2_c_int64_t, m], &
                         ': (dy, dx) per frame')
    if (status /= PTP_SUCCESS) return
    if (present(confidence)) then
      status = check_shape(where, 'confidence', shape(confidence, c_int64_t), [m], &
                           ': one per frame')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_shifts = c_null_ptr; p_planes = c_null_ptr; p_confidence = c_null_ptr
    if (size(shifts) > 0) p_shifts = c_loc(shifts)
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    if (present(confidence)) then
      if (size(confidence) > 0) p_confidence = c_loc(confidence)
    end if
    status = ptp_align_execute(plan, frame_pointers, m, p_shifts, p_planes, p_confidence)
  end function ptp_align_execute_f32_r3

  function ptp_align_execute_frames_f32_r3(plan, frames, results, plane_shifts, &
                                           desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frames(:, :, :)
    type(ptp_align_result), intent(inout), contiguous :: results(:)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 3)), p_planes
    integer(c_int64_t) :: m, i, frame_shape(3)
    character(*), parameter :: where = 'ptp_align_execute_frames'
    integer(c_int32_t) :: status
    m = size(frames, 3, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frames(..., i)', frame_shape(1:2))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'results', shape(results, c_int64_t), [m], ': one per frame')
    if (status /= PTP_SUCCESS) return
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_planes = c_null_ptr
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    status = ptp_align_execute_frames(plan, frame_pointers, m, results, p_planes)
  end function ptp_align_execute_frames_f32_r3

  function ptp_align_execute_f32_r4(plan, frames, shifts, plane_shifts, confidence, &
                                    desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frames(:, :, :, :)
    real(c_double), intent(inout), target, contiguous :: shifts(:, :)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    real(c_double), intent(inout), target, contiguous, optional :: confidence(:)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 4)), p_shifts, p_planes, p_confidence
    integer(c_int64_t) :: m, i, frame_shape(4)
    character(*), parameter :: where = 'ptp_align_execute'
    integer(c_int32_t) :: status
    m = size(frames, 4, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frames(..., i)', frame_shape(1:3))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'shifts', shape(shifts, c_int64_t), [2_c_int64_t, m], &
                         ': (dy, dx) per frame')
    if (status /= PTP_SUCCESS) return
    if (present(confidence)) then
      status = check_shape(where, 'confidence', shape(confidence, c_int64_t), [m], &
                           ': one per frame')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_shifts = c_null_ptr; p_planes = c_null_ptr; p_confidence = c_null_ptr
    if (size(shifts) > 0) p_shifts = c_loc(shifts)
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    if (present(confidence)) then
      if (size(confidence) > 0) p_confidence = c_loc(confidence)
    end if
    status = ptp_align_execute(plan, frame_pointers, m, p_shifts, p_planes, p_confidence)
  end function ptp_align_execute_f32_r4

  function ptp_align_execute_frames_f32_r4(plan, frames, results, plane_shifts, &
                                           desc) result(status)
    type(c_ptr), intent(in) :: plan
    real(c_float), intent(in), target, contiguous :: frames(:, :, :, :)
    type(ptp_align_result), intent(inout), contiguous :: results(:)
    real(c_double), intent(inout), target, contiguous, optional :: plane_shifts(:, :, :)
    type(ptp_align_desc), intent(in), optional :: desc
    type(c_ptr) :: frame_pointers(size(frames, 4)), p_planes
    integer(c_int64_t) :: m, i, frame_shape(4)
    character(*), parameter :: where = 'ptp_align_execute_frames'
    integer(c_int32_t) :: status
    m = size(frames, 4, c_int64_t)
    frame_shape = shape(frames, c_int64_t)
    frame_pointers = c_null_ptr
    if (size(frames) > 0) then
      do i = 1, m
        frame_pointers(i) = c_loc(frames(1, 1, 1, i))
      end do
    end if
    if (present(desc)) then
      status = check_align(where, desc, PTP_DTYPE_FLOAT32, 'frames(..., i)', frame_shape(1:3))
      if (status /= PTP_SUCCESS) return
    end if
    status = check_shape(where, 'results', shape(results, c_int64_t), [m], ': one per frame')
    if (status /= PTP_SUCCESS) return
    if (present(plane_shifts)) then
      status = check_plane_shifts(where, plan, m, shape(plane_shifts, c_int64_t))
      if (status /= PTP_SUCCESS) return
    end if
    p_planes = c_null_ptr
    if (present(plane_shifts)) then
      if (size(plane_shifts) > 0) p_planes = c_loc(plane_shifts)
    end if
    status = ptp_align_execute_frames(plan, frame_pointers, m, results, p_planes)
  end function ptp_align_execute_frames_f32_r4
  ! END typed procedures

  ! ------------------------------------- checks of the typed procedures
  ! Each returns PTP_SUCCESS, or the failure of typed_fail. Values the C
  ! library validates itself (a patch_size of 0, an unknown layout, a count
  ! that is not a multiple of group_size, ...) are left to it, so that its
  ! message names them.

  ! Fails a typed procedure's call: keeps the message for
  ! ptp_last_error_message_f and returns status. A call of the C library
  ! that fails on its own (an _init with struct_size 0) replaces the
  ! calling thread's C message, which is remembered: the next C call
  ! replaces it again, and with it retires this message.
  function typed_fail(status, message) result(failed)
    integer(c_int32_t), intent(in) :: status
    character(*), intent(in) :: message
    integer(c_int32_t) :: failed
    type(ptp_group_desc) :: scratch
    scratch%struct_size = 0
    failed = ptp_group_desc_init(scratch, 0_c_size_t)
    typed_marker = ptp_c_string_f(ptp_last_error_message())
    typed_message = message
    typed_failed = .true.
    failed = status
  end function typed_fail

  function int_text(value) result(text)
    integer(c_int64_t), intent(in) :: value
    character(len=:), allocatable :: text
    character(len=24) :: buffer
    write (buffer, '(i0)') value
    text = trim(buffer)
  end function int_text

  ! '(6, 5)'
  function shape_text(extents) result(text)
    integer(c_int64_t), intent(in) :: extents(:)
    character(len=:), allocatable :: text
    integer :: i
    text = '('
    do i = 1, size(extents)
      text = text//int_text(extents(i))
      if (i < size(extents)) text = text//', '
    end do
    text = text//')'
  end function shape_text

  function dtype_name(dtype) result(name)
    integer(c_int32_t), intent(in) :: dtype
    character(len=:), allocatable :: name
    select case (dtype)
    case (PTP_DTYPE_FLOAT32)
      name = 'PTP_DTYPE_FLOAT32'
    case (PTP_DTYPE_FLOAT64)
      name = 'PTP_DTYPE_FLOAT64'
    case (PTP_DTYPE_COMPLEX64)
      name = 'PTP_DTYPE_COMPLEX64'
    case (PTP_DTYPE_UINT16)
      name = 'PTP_DTYPE_UINT16'
    case default
      name = int_text(int(dtype, c_int64_t))
    end select
  end function dtype_name

  ! The Fortran type of a typed procedure's arrays of this dtype.
  function type_name(dtype) result(name)
    integer(c_int32_t), intent(in) :: dtype
    character(len=:), allocatable :: name
    select case (dtype)
    case (PTP_DTYPE_FLOAT32)
      name = 'real(c_float)'
    case (PTP_DTYPE_FLOAT64)
      name = 'real(c_double)'
    case (PTP_DTYPE_COMPLEX64)
      name = 'complex(c_float_complex)'
    case default
      name = 'integer(c_int16_t)'
    end select
  end function type_name

  ! have = want, else PTP_ERROR_INVALID_SIZE naming both; note follows the
  ! expected shape (what its extents are).
  function check_shape(where, name, have, want, note) result(status)
    character(*), intent(in) :: where, name, note
    integer(c_int64_t), intent(in) :: have(:), want(:)
    integer(c_int32_t) :: status
    status = PTP_SUCCESS
    if (size(have) == size(want)) then
      if (all(have == want)) return
    end if
    status = typed_fail(PTP_ERROR_INVALID_SIZE, where//': '//name//' has shape '// &
                        shape_text(have)//', expected '//shape_text(want)//note)
  end function check_shape

  ! offsets(2, P): (x, y) pairs.
  function check_pairs(where, name, have) result(status)
    character(*), intent(in) :: where, name
    integer(c_int64_t), intent(in) :: have(:)
    integer(c_int32_t) :: status
    status = PTP_SUCCESS
    if (have(1) /= 2) status = typed_fail(PTP_ERROR_INVALID_SIZE, where//': '//name// &
      ' has shape '//shape_text(have)//'; its first extent must be 2: '//name//'(2, P) holds '// &
      'P (x, y) pairs')
  end function check_pairs

  ! weights(W, H) like canvas(W, H).
  function check_weights(where, weights_shape, canvas_shape) result(status)
    character(*), intent(in) :: where
    integer(c_int64_t), intent(in) :: weights_shape(:), canvas_shape(:)
    integer(c_int32_t) :: status
    status = check_shape(where, 'weights', weights_shape, canvas_shape, ', the shape of canvas')
  end function check_weights

  ! The arrays of an extraction or reassembly against its descriptor: host
  ! memory, the dtypes of the arrays' types (offset_dtype 0: not checked),
  ! object (or canvas) (W, H), and patches for num_patches patches in the
  ! descriptor's layout.
  function check_extract(where, desc, object_dtype, offset_dtype, object_name, object_shape, &
                         num_patches, patches_shape, desc_name) result(status)
    character(*), intent(in) :: where, object_name
    type(ptp_extract_desc), intent(in) :: desc
    integer(c_int32_t), intent(in) :: object_dtype, offset_dtype
    integer(c_int64_t), intent(in) :: object_shape(:), num_patches, patches_shape(:)
    character(*), intent(in), optional :: desc_name
    integer(c_int32_t) :: status
    character(len=:), allocatable :: d
    integer(c_int64_t) :: n, c
    d = 'desc'
    if (present(desc_name)) d = desc_name
    status = PTP_SUCCESS
    if (desc%memory /= PTP_MEMORY_HOST) then
      status = typed_fail(PTP_ERROR_INVALID_ARGUMENT, where//': '//d//'%memory is not '// &
        'PTP_MEMORY_HOST; the typed form takes Fortran (host) arrays, device memory the '// &
        'type(c_ptr) form')
      return
    end if
    if (desc%object_dtype /= object_dtype) then
      status = typed_fail(PTP_ERROR_INVALID_ARGUMENT, where//': the arrays are '// &
        type_name(object_dtype)//' but '//d//'%object_dtype is '//dtype_name(desc%object_dtype))
      return
    end if
    if (offset_dtype /= 0 .and. desc%offset_dtype /= offset_dtype) then
      status = typed_fail(PTP_ERROR_INVALID_ARGUMENT, where//': the offsets are '// &
        type_name(offset_dtype)//' but '//d//'%offset_dtype is '//dtype_name(desc%offset_dtype))
      return
    end if
    if (desc%height >= 1 .and. desc%width >= 1) then
      status = check_shape(where, object_name, object_shape, [desc%width, desc%height], &
                           ' = ('//d//'%width, '//d//'%height)')
      if (status /= PTP_SUCCESS) return
    end if
    n = desc%patch_size
    c = desc%group_size
    if (n < 1 .or. c < 1 .or. num_patches < 0) return
    if (mod(num_patches, c) /= 0) return
    if (size(patches_shape) == 3) then
      if (desc%layout == PTP_LAYOUT_CHANNEL .and. c /= 1) then
        status = typed_fail(PTP_ERROR_INVALID_SIZE, where//': patches is a rank-3 array, but '// &
          'with PTP_LAYOUT_CHANNEL and '//d//'%group_size = '//int_text(c)//' the patches '// &
          'are patches(c, N, N, B)')
        return
      end if
      status = check_shape(where, 'patches', patches_shape, [n, n, num_patches], &
                           ' = (N, N, number of patches)')
    else if (desc%layout == PTP_LAYOUT_CHANNEL) then
      status = check_shape(where, 'patches', patches_shape, [c, n, n, num_patches/c], &
                           ' = (c, N, N, B) of PTP_LAYOUT_CHANNEL')
    else if (desc%layout == PTP_LAYOUT_FLAT) then
      status = check_shape(where, 'patches', patches_shape, [n, n, c, num_patches/c], &
                           ' = (N, N, c, B) of PTP_LAYOUT_FLAT')
    end if
  end function check_extract

  ! global_offsets(2, B) and local_offsets(c, 2, B); c = desc%group_size
  ! when desc is present.
  function check_legacy_offsets(where, global_shape, local_shape, desc) result(status)
    character(*), intent(in) :: where
    integer(c_int64_t), intent(in) :: global_shape(:), local_shape(:)
    type(ptp_extract_desc), intent(in), optional :: desc
    integer(c_int32_t) :: status
    integer(c_int64_t) :: c
    status = check_pairs(where, 'global_offsets', global_shape)
    if (status /= PTP_SUCCESS) return
    c = local_shape(1)
    if (present(desc)) then
      if (desc%group_size >= 1) c = desc%group_size
    end if
    status = check_shape(where, 'local_offsets', local_shape, [c, 2_c_int64_t, global_shape(2)], &
                         ' = (c, 2, B), B = size(global_offsets, 2)')
  end function check_legacy_offsets

  ! x(n) and y(n); nn_indices(C, S), coords_nn(C, 2, S), coords_offsets(2, S)
  ! and coords_relative(C, 2, S) for C = group_size, S = num_samples.
  function check_group(where, desc, nx, ny, indices_shape, coords_nn, coords_offsets, &
                       coords_relative) result(status)
    character(*), intent(in) :: where
    type(ptp_group_desc), intent(in) :: desc
    integer(c_int64_t), intent(in) :: nx, ny, indices_shape(:)
    real(c_double), intent(in), optional :: coords_nn(:, :, :), coords_offsets(:, :), &
                                            coords_relative(:, :, :)
    integer(c_int32_t) :: status
    integer(c_int64_t) :: c, s
    status = PTP_SUCCESS
    if (nx /= ny) then
      status = typed_fail(PTP_ERROR_INVALID_SIZE, where//': x has '//int_text(nx)// &
                          ' elements and y '//int_text(ny)//'; one (x, y) per position')
      return
    end if
    c = desc%group_size
    s = desc%num_samples
    if (c < 1 .or. s < 0) return
    status = check_shape(where, 'nn_indices', indices_shape, [c, s], &
                         ' = (desc%group_size, desc%num_samples)')
    if (status /= PTP_SUCCESS) return
    if (present(coords_nn)) then
      status = check_shape(where, 'coords_nn', shape(coords_nn, c_int64_t), [c, 2_c_int64_t, s], &
                           ' = (C, 2, S)')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(coords_offsets)) then
      status = check_shape(where, 'coords_offsets', shape(coords_offsets, c_int64_t), &
                           [2_c_int64_t, s], ' = (2, S)')
      if (status /= PTP_SUCCESS) return
    end if
    if (present(coords_relative)) then
      status = check_shape(where, 'coords_relative', shape(coords_relative, c_int64_t), &
                           [c, 2_c_int64_t, s], ' = (C, 2, S)')
    end if
  end function check_group

  ! ptp_grouped_patches: object and patches against extract, for
  ! num_samples * group_size patches (when the two descriptors agree; the C
  ! library reports it when they do not).
  function check_grouped_extract(where, group, extract, object_dtype, object_shape, &
                                 patches_shape) result(status)
    character(*), intent(in) :: where
    type(ptp_group_desc), intent(in) :: group
    type(ptp_extract_desc), intent(in) :: extract
    integer(c_int32_t), intent(in) :: object_dtype
    integer(c_int64_t), intent(in) :: object_shape(:), patches_shape(:)
    integer(c_int32_t) :: status
    status = PTP_SUCCESS
    if (group%group_size < 1 .or. group%num_samples < 0 .or. &
        extract%group_size /= group%group_size) return
    status = check_extract(where, extract, object_dtype, 0_c_int32_t, 'object', object_shape, &
                           group%num_samples*group%group_size, patches_shape, 'extract')
  end function check_grouped_extract

  ! One frame, frame(W, H) or frame(W, H, channels), against desc.
  function check_align(where, desc, frame_dtype, frame_name, frame_shape) result(status)
    character(*), intent(in) :: where, frame_name
    type(ptp_align_desc), intent(in) :: desc
    integer(c_int32_t), intent(in) :: frame_dtype
    integer(c_int64_t), intent(in) :: frame_shape(:)
    integer(c_int32_t) :: status
    status = PTP_SUCCESS
    if (desc%frame_dtype /= frame_dtype) then
      status = typed_fail(PTP_ERROR_INVALID_ARGUMENT, where//': the frames are '// &
        type_name(frame_dtype)//' but desc%frame_dtype is '//dtype_name(desc%frame_dtype))
      return
    end if
    if (desc%height < 1 .or. desc%width < 1 .or. desc%channels < 1) return
    if (size(frame_shape) == 2 .and. desc%channels == 1) then
      status = check_shape(where, frame_name, frame_shape, [desc%width, desc%height], &
                           ' = (desc%width, desc%height)')
    else
      status = check_shape(where, frame_name, frame_shape, &
                           [desc%width, desc%height, desc%channels], &
                           ' = (desc%width, desc%height, desc%channels)')
    end if
  end function check_align

  ! plane_shifts(2, planes, M) and confidence(M) of an alignment of M
  ! frames (planes: ptp_align_plan_num_planes; not checked when the plan
  ! cannot say, the C call then reports the plan).
  function check_plane_shifts(where, plan, m, given) result(status)
    character(*), intent(in) :: where
    type(c_ptr), intent(in) :: plan
    integer(c_int64_t), intent(in) :: m, given(:)
    integer(c_int32_t) :: status
    integer(c_int64_t) :: planes
    status = PTP_SUCCESS
    if (ptp_align_plan_num_planes(plan, planes) == PTP_SUCCESS) then
      status = check_shape(where, 'plane_shifts', given, [2_c_int64_t, planes, m], &
                           ' = (2, planes, number of frames)')
    end if
  end function check_plane_shifts

end module ptychopatch
