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
!   * Every array argument (void* data and typed arrays such as double* x)
!     is type(c_ptr), value: pass c_loc(array) of a contiguous array with
!     the TARGET attribute, or c_null_ptr where the C API accepts NULL
!     (optional outputs, zero counts). This keeps one rule for host arrays,
!     CUDA device pointers and NULL. Byte sizes: c_sizeof(array) for an
!     explicit-shape array; for an allocatable one (which c_sizeof rejects)
!     size(a, kind=c_size_t) * c_sizeof(a(1, ...)), or ask the library
!     (ptp_extract_output_bytes).
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
! Status handling: every call returns PTP_SUCCESS (0) or a PTP_ERROR_* code
! and then ptp_last_error_message_f() names the offending argument; on
! failure no output has been written. The message is per thread.
module ptychopatch
  use, intrinsic :: iso_c_binding, only: c_int16_t, c_int32_t, c_int64_t, c_size_t, c_ptr, &
                                         c_funptr, c_char, c_double, c_associated, c_f_pointer
  implicit none
  ! The iso_c_binding names are not re-exported: use iso_c_binding yourself.
  private :: c_int16_t, c_int32_t, c_int64_t, c_size_t, c_ptr, c_funptr, c_char, c_double, &
             c_associated, c_f_pointer
  private :: c_strlen

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
  ! ptp_align_method
  integer(c_int32_t), parameter :: PTP_ALIGN_METHOD_CORRELATION = 0
  integer(c_int32_t), parameter :: PTP_ALIGN_METHOD_RAWNIND = 1

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
    integer(c_int32_t) :: normalization   ! PTP_NORMALIZATION_*
    integer(c_int32_t) :: window          ! PTP_WINDOW_*
    integer(c_int32_t) :: combine         ! PTP_COMBINE_*
    integer(c_int32_t) :: snap            ! 0 or 1
    integer(c_int32_t) :: fft_planning    ! ptp_fft_planning; default MEASURE
    integer(c_int64_t) :: max_shift       ! sensor pixels; 0 = unbounded
    integer(c_int32_t) :: method          ! PTP_ALIGN_METHOD_*
    integer(c_int32_t) :: reserved0       ! must be 0
  end type ptp_align_desc

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

  ! ------------------------------------------------- progress callback
  ! ptp_progress_fn: called after each moving frame; return non-zero to
  ! stop ptp_align_execute with PTP_ERROR_CANCELLED. Write a bind(c)
  ! function with this interface and pass c_funloc(it) to
  ! ptp_align_set_progress (c_null_funptr removes it).
  abstract interface
    function ptp_progress_fn(frames_done, frames_total, user_data) bind(c) result(cancel)
      import :: c_int32_t, c_int64_t, c_ptr
      integer(c_int64_t), value :: frames_done
      integer(c_int64_t), value :: frames_total
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
  end interface

  interface
    function c_strlen(s) bind(c, name='strlen') result(n)
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen
  end interface

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
  function ptp_last_error_message_f() result(message)
    character(len=:), allocatable :: message
    message = ptp_c_string_f(ptp_last_error_message())
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

end module ptychopatch
