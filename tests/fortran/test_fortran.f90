! The Fortran module against the C ABI: struct layouts against the C
! compiler's (layout_helper.c), every function family called through the
! bind(c) interfaces, and results checked against values computed here
! independently (docs/semantics.md): exact crops for integer offsets, the
! bilinear formula for fractional ones, the legacy form against its float32
! sum, grouping invariants, error statuses with messages, and alignment of
! circularly shifted synthetic frames recovering the integer shift; then
! the typed generic interfaces (Fortran arrays, no c_loc) against the
! type(c_ptr) form, and the checks they make before calling C.

! The progress callback must be a bind(c) module procedure (an internal
! procedure cannot have the BIND attribute).
module test_progress
  use, intrinsic :: iso_c_binding
  implicit none
  type, bind(c) :: progress_state
    integer(c_int64_t) :: calls = 0
    integer(c_int64_t) :: last_done = 0
    integer(c_int64_t) :: last_total = 0
    integer(c_int64_t) :: stop_at = -1   ! frames_done at which to cancel
    integer(c_int64_t) :: out_of_order = 0
  end type progress_state
contains
  function on_progress(frames_done, frames_total, user_data) bind(c) result(cancel)
    integer(c_int64_t), value :: frames_done
    integer(c_int64_t), value :: frames_total
    type(c_ptr), value :: user_data
    integer(c_int32_t) :: cancel
    type(progress_state), pointer :: state
    call c_f_pointer(user_data, state)
    state%calls = state%calls + 1
    if (frames_done /= state%last_done + 1) state%out_of_order = state%out_of_order + 1
    state%last_done = frames_done
    state%last_total = frames_total
    cancel = 0
    if (frames_done == state%stop_at) cancel = 1
  end function on_progress
end module test_progress

program test_fortran
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use, intrinsic :: ieee_arithmetic, only: ieee_value, ieee_quiet_nan
  use ptychopatch
  use test_progress
  implicit none

  interface
    function ptpt_context_options_layout(out) bind(c) result(n)
      import :: c_int32_t, c_int64_t
      integer(c_int64_t), intent(out) :: out(*)
      integer(c_int32_t) :: n
    end function ptpt_context_options_layout
    function ptpt_extract_desc_layout(out) bind(c) result(n)
      import :: c_int32_t, c_int64_t
      integer(c_int64_t), intent(out) :: out(*)
      integer(c_int32_t) :: n
    end function ptpt_extract_desc_layout
    function ptpt_group_desc_layout(out) bind(c) result(n)
      import :: c_int32_t, c_int64_t
      integer(c_int64_t), intent(out) :: out(*)
      integer(c_int32_t) :: n
    end function ptpt_group_desc_layout
    function ptpt_extract_diagnostics_layout(out) bind(c) result(n)
      import :: c_int32_t, c_int64_t
      integer(c_int64_t), intent(out) :: out(*)
      integer(c_int32_t) :: n
    end function ptpt_extract_diagnostics_layout
    function ptpt_align_desc_layout(out) bind(c) result(n)
      import :: c_int32_t, c_int64_t
      integer(c_int64_t), intent(out) :: out(*)
      integer(c_int32_t) :: n
    end function ptpt_align_desc_layout
    subroutine ptpt_fill_align_desc(d) bind(c)
      import :: ptp_align_desc
      type(ptp_align_desc), intent(inout) :: d
    end subroutine ptpt_fill_align_desc
    subroutine ptpt_fill_group_desc(d) bind(c)
      import :: ptp_group_desc
      type(ptp_group_desc), intent(inout) :: d
    end subroutine ptpt_fill_group_desc
  end interface

  integer :: passed = 0, failed = 0
  type(c_ptr) :: cpu   ! a one-thread CPU context for the checks

  call test_version_and_status_names()
  call test_struct_layouts()
  call test_context()
  call test_extract_integer_offsets()
  call test_extract_fractional_offsets()
  call test_legacy_and_one_shot()
  call test_reassemble()
  call test_grouping()
  call test_grouped_patches()
  call test_errors()
  call test_align_planar()
  call test_align_bayer_progress()
  call test_align_frames()
  call test_typed_extract()
  call test_typed_reassemble()
  call test_typed_grouping()
  call test_typed_align()
  call test_typed_errors()
  call test_correlate()
  call check(ptp_context_destroy(cpu), 'ptp_context_destroy')

  write (*, '(a,i0,a,i0,a)') 'fortran: ', passed, ' passed, ', failed, ' failed'
  if (failed /= 0) error stop 1

contains

  ! The cross-correlation of one pair: an image (W, H) = (8, 6) against
  ! itself moved by (dy, dx) = (2, -3) peaks at the shift that registers it
  ! back, (-2, 3): row 4, column 3 (0-based, wrapped), with height 1.
  subroutine test_correlate()
    type(ptp_correlate_desc) :: cdesc
    type(c_ptr) :: cplan
    real(c_float) :: reference(8, 6), moving(8, 6)
    real(c_float), target :: correlation(8, 6)
    real(c_double) :: reference64(8, 6), moving64(8, 6)
    real(c_double), target :: correlation64(8, 6)
    integer :: x, y, peak(2)
    do y = 1, 6
      do x = 1, 8
        reference(x, y) = real(mod(x * 7 + y * 13 + x * y, 17), c_float)
      end do
    end do
    do y = 0, 5
      do x = 0, 7
        moving(modulo(x - 3, 8) + 1, modulo(y + 2, 6) + 1) = reference(x + 1, y + 1)
      end do
    end do
    call expect(c_sizeof(cdesc) == 40_c_size_t, 'ptp_correlate_desc is 40 bytes')
    call check(ptp_correlate_desc_init(cdesc, c_sizeof(cdesc)), 'ptp_correlate_desc_init')
    call expect(cdesc%normalization == PTP_NORMALIZATION_PHASE, 'correlate default: phase')
    cdesc%height = 6
    cdesc%width = 8
    call check(ptp_correlate_plan_create(cpu, cdesc, cplan), 'ptp_correlate_plan_create')
    call check(ptp_correlate_execute(cplan, reference, moving, c_null_ptr, c_loc(correlation)), &
               'ptp_correlate_execute')
    peak = maxloc(abs(correlation))
    call expect(peak(1) == 4 .and. peak(2) == 5, 'correlate: peak at column 3, row 4')
    call expect(abs(correlation(4, 5) - 1.0) < 1e-4, 'correlate: peak height 1')
    call expect_error(ptp_correlate_execute(cplan, reference, moving, c_null_ptr, c_null_ptr), &
                      PTP_ERROR_INVALID_ARGUMENT, 'both NULL', 'correlate without outputs')
    call check(ptp_correlate_plan_destroy(cplan), 'ptp_correlate_plan_destroy')
    ! The same pair in float64.
    call expect(cdesc%dtype == PTP_DTYPE_FLOAT32, 'correlate default: float32')
    cdesc%dtype = PTP_DTYPE_FLOAT64
    call check(ptp_correlate_plan_create(cpu, cdesc, cplan), 'ptp_correlate_plan_create (f64)')
    reference64 = real(reference, c_double)
    moving64 = real(moving, c_double)
    call check(ptp_correlate_execute_f64(cplan, reference64, moving64, c_null_ptr, &
                                         c_loc(correlation64)), 'ptp_correlate_execute_f64')
    peak = maxloc(abs(correlation64))
    call expect(peak(1) == 4 .and. peak(2) == 5, 'correlate f64: peak at column 3, row 4')
    call expect(abs(correlation64(4, 5) - 1.0_c_double) < 1d-12, 'correlate f64: peak height 1')
    call expect_error(ptp_correlate_execute(cplan, reference, moving, c_null_ptr, &
                                            c_loc(correlation)), &
                      PTP_ERROR_INVALID_ARGUMENT, 'ptp_correlate_execute_f64', &
                      'a float64 plan refused by ptp_correlate_execute')
    call check(ptp_correlate_plan_destroy(cplan), 'ptp_correlate_plan_destroy (f64)')
  end subroutine test_correlate

  subroutine expect(condition, what)
    logical, intent(in) :: condition
    character(*), intent(in) :: what
    if (condition) then
      passed = passed + 1
    else
      failed = failed + 1
      write (error_unit, '(2a)') 'FAILED: ', what
    end if
  end subroutine expect

  ! A call that must succeed; on failure prints the library's message.
  subroutine check(status, what)
    integer(c_int32_t), intent(in) :: status
    character(*), intent(in) :: what
    character(len=:), allocatable :: text
    text = ptp_error_f(status)
    call expect(status == PTP_SUCCESS, what//' -> '//text)
  end subroutine check

  ! A call that must fail with `want` and a message containing `needle`.
  subroutine expect_error(status, want, needle, what)
    integer(c_int32_t), intent(in) :: status, want
    character(*), intent(in) :: needle, what
    character(len=:), allocatable :: message
    message = ptp_last_error_message_f()
    call expect(status == want, what//': got '//ptp_status_name_f(status)//', want '// &
                ptp_status_name_f(want))
    call expect(index(message, needle) > 0, what//': message "'//message//'" lacks "'// &
                needle//'"')
  end subroutine expect_error

  integer(c_int64_t) function address(p)
    type(c_ptr), intent(in) :: p
    address = int(transfer(p, 0_c_intptr_t), c_int64_t)
  end function address

  ! A deterministic pseudo-random number in [0, 1) (a 31-bit LCG).
  real(c_double) function next_random(state)
    integer(c_int64_t), intent(inout) :: state
    state = modulo(state*1103515245_c_int64_t + 12345_c_int64_t, 2147483648_c_int64_t)
    next_random = real(state, c_double)/2147483648.0_c_double
  end function next_random

  ! ---------------------------------------------------------------------
  subroutine test_version_and_status_names()
    integer(c_int32_t) :: major, minor, patch
    character(len=32) :: want
    character(len=:), allocatable :: version
    integer :: i
    integer(c_int32_t), parameter :: codes(12) = [PTP_SUCCESS, PTP_ERROR_INVALID_ARGUMENT, &
      PTP_ERROR_INVALID_SIZE, PTP_ERROR_SIZE_OVERFLOW, PTP_ERROR_NON_FINITE, &
      PTP_ERROR_BUFFER_TOO_SMALL, PTP_ERROR_OUT_OF_MEMORY, PTP_ERROR_BACKEND_UNAVAILABLE, &
      PTP_ERROR_UNSUPPORTED, PTP_ERROR_CUDA, PTP_ERROR_CANCELLED, PTP_ERROR_INTERNAL]
    character(len=29), parameter :: names(12) = [character(len=29) :: 'PTP_SUCCESS', &
      'PTP_ERROR_INVALID_ARGUMENT', 'PTP_ERROR_INVALID_SIZE', 'PTP_ERROR_SIZE_OVERFLOW', &
      'PTP_ERROR_NON_FINITE', 'PTP_ERROR_BUFFER_TOO_SMALL', 'PTP_ERROR_OUT_OF_MEMORY', &
      'PTP_ERROR_BACKEND_UNAVAILABLE', 'PTP_ERROR_UNSUPPORTED', 'PTP_ERROR_CUDA', &
      'PTP_ERROR_CANCELLED', 'PTP_ERROR_INTERNAL']

    major = -1; minor = -1; patch = -1
    call check(ptp_get_version(major, minor, patch), 'ptp_get_version')
    call expect(major == PTP_VERSION_MAJOR .and. minor == PTP_VERSION_MINOR .and. &
                patch == PTP_VERSION_PATCH, 'loaded library version equals PTP_VERSION_*')
    write (want, '(i0,".",i0,".",i0,"+")') PTP_VERSION_MAJOR, PTP_VERSION_MINOR, PTP_VERSION_PATCH
    version = ptp_version_string_f()
    call expect(index(version, trim(want)) == 1, 'version string '//version//' starts with '//trim(want))
    call expect(version(len(version) - 3:) == '+cpu' .or. version(len(version) - 4:) == '+cuda' &
                .or. index(version, '+cuda (GPU backend unavailable)') == len(version) - 30, &
                'version string ends with +cpu, +cuda or +cuda (GPU backend unavailable)')
    do i = 1, size(codes)
      call expect(ptp_status_name_f(codes(i)) == trim(names(i)), 'ptp_status_name of '//trim(names(i)))
    end do
    call expect(ptp_status_name_f(12345_c_int32_t) == 'PTP_UNKNOWN_STATUS', 'unknown status name')
    call expect(c_associated(ptp_status_name(-1_c_int32_t)), 'ptp_status_name never null')
    call expect(ptp_c_string_f(c_null_ptr) == '', 'ptp_c_string_f(c_null_ptr) is empty')
  end subroutine test_version_and_status_names

  ! ---------------------------------------------------------------------
  subroutine compare_layout(name, c_values, n_c, f_values)
    character(*), intent(in) :: name
    integer(c_int64_t), intent(in) :: c_values(:), f_values(:)
    integer(c_int32_t), intent(in) :: n_c
    integer :: i
    character(len=64) :: detail
    call expect(n_c == size(f_values), name//': field count')
    do i = 1, min(int(n_c), size(f_values))
      write (detail, '(a,i0,a,i0,a,i0)') ' value ', i, ': C ', c_values(i), ', Fortran ', f_values(i)
      call expect(c_values(i) == f_values(i), name//trim(detail))
    end do
  end subroutine compare_layout

  subroutine test_struct_layouts()
    type(ptp_context_options), target :: o
    type(ptp_extract_desc), target :: e
    type(ptp_group_desc), target :: g
    type(ptp_align_desc), target :: a
    type(ptp_extract_diagnostics), target :: d
    integer(c_int64_t) :: c_values(32), base
    integer(c_int32_t) :: n
    integer :: i

    n = ptpt_context_options_layout(c_values)
    base = address(c_loc(o))
    call compare_layout('ptp_context_options', c_values, n, [int(c_sizeof(o), c_int64_t), &
      address(c_loc(o%struct_size)) - base, address(c_loc(o%backend)) - base, &
      address(c_loc(o%num_threads)) - base, address(c_loc(o%device)) - base, &
      address(c_loc(o%reserved0)) - base, address(c_loc(o%device_memory_budget)) - base])

    n = ptpt_extract_desc_layout(c_values)
    base = address(c_loc(e))
    call compare_layout('ptp_extract_desc', c_values, n, [int(c_sizeof(e), c_int64_t), &
      address(c_loc(e%struct_size)) - base, address(c_loc(e%height)) - base, &
      address(c_loc(e%width)) - base, address(c_loc(e%patch_size)) - base, &
      address(c_loc(e%group_size)) - base, address(c_loc(e%object_dtype)) - base, &
      address(c_loc(e%offset_dtype)) - base, address(c_loc(e%layout)) - base, &
      address(c_loc(e%memory)) - base])

    n = ptpt_group_desc_layout(c_values)
    base = address(c_loc(g))
    call compare_layout('ptp_group_desc', c_values, n, [int(c_sizeof(g), c_int64_t), &
      address(c_loc(g%struct_size)) - base, address(c_loc(g%num_samples)) - base, &
      address(c_loc(g%num_neighbors)) - base, address(c_loc(g%group_size)) - base, &
      address(c_loc(g%seed)) - base, address(c_loc(g%sequential)) - base, &
      address(c_loc(g%oversample)) - base, address(c_loc(g%progress)) - base, &
      address(c_loc(g%progress_user_data)) - base])

    n = ptpt_extract_diagnostics_layout(c_values)
    base = address(c_loc(d))
    call compare_layout('ptp_extract_diagnostics', c_values, n, [int(c_sizeof(d), c_int64_t), &
      address(c_loc(d%struct_size)) - base, address(c_loc(d%call)) - base, &
      address(c_loc(d%reserved0)) - base, address(c_loc(d%patches_total)) - base, &
      address(c_loc(d%patches_outside)) - base, address(c_loc(d%first_outside)) - base, &
      address(c_loc(d%first_outside_offset)) - base, address(c_loc(d%message)) - base])

    n = ptpt_align_desc_layout(c_values)
    base = address(c_loc(a))
    call compare_layout('ptp_align_desc', c_values, n, [int(c_sizeof(a), c_int64_t), &
      address(c_loc(a%struct_size)) - base, address(c_loc(a%height)) - base, &
      address(c_loc(a%width)) - base, address(c_loc(a%channels)) - base, &
      address(c_loc(a%frame_dtype)) - base, address(c_loc(a%cfa)) - base, &
      address(c_loc(a%pattern)) - base, address(c_loc(a%upsample_factor)) - base, &
      address(c_loc(a%normalization)) - base, address(c_loc(a%window)) - base, &
      address(c_loc(a%combine)) - base, address(c_loc(a%snap)) - base, &
      address(c_loc(a%fft_planning)) - base, address(c_loc(a%max_shift)) - base, &
      address(c_loc(a%method)) - base, address(c_loc(a%verify)) - base])

    ! Values written by C read back in Fortran (uint64 bits included).
    call ptpt_fill_align_desc(a)
    call expect(a%struct_size == ior(ishft(1_c_int64_t, 63), 1_c_int64_t), 'align struct_size bits')
    call expect(a%height == 11 .and. a%width == 12 .and. a%channels == 13 .and. &
                a%frame_dtype == 14 .and. a%cfa == 15, 'align desc fields from C')
    call expect(all(a%pattern == [(100 + i, i=0, 35)]), 'align desc pattern(0:35) from C')
    call expect(a%upsample_factor == 16 .and. a%normalization == 17 .and. a%window == 18 .and. &
                a%combine == 19 .and. a%snap == 20 .and. a%fft_planning == 21 .and. &
                a%max_shift == 8070450532247928866_c_int64_t .and. a%method == 23 .and. &
                a%verify == 24, 'align desc tail from C')
    call ptpt_fill_group_desc(g)
    call expect(g%struct_size == 40 .and. g%num_samples == 7 .and. g%num_neighbors == 8 .and. &
                g%group_size == 9 .and. g%sequential == 1 .and. g%oversample == 1, &
                'group desc fields from C')
    ! 0xFEDCBA9876543210 as a signed 64-bit integer is -0x0123456789ABCDF0.
    call expect(g%seed == -81985529216486896_c_int64_t, &
                'group desc uint64 seed bits from C')
  end subroutine test_struct_layouts

  ! ---------------------------------------------------------------------
  subroutine test_context()
    type(ptp_context_options), target :: options
    type(c_ptr) :: ctx, stream, message
    integer(c_int32_t) :: backend, threads, count, status, reason

    call check(ptp_context_options_init(options, c_sizeof(options)), 'ptp_context_options_init')
    call expect(options%struct_size == c_sizeof(options), 'options struct_size = c_sizeof')
    call expect(options%backend == PTP_BACKEND_AUTO .and. options%num_threads == 0 .and. &
                options%device == 0 .and. options%reserved0 == 0 .and. &
                options%device_memory_budget == 0, 'context option defaults')

    options%backend = PTP_BACKEND_CPU
    options%num_threads = 1
    cpu = c_null_ptr
    call check(ptp_context_create(c_loc(options), cpu), 'ptp_context_create(CPU, 1 thread)')
    call expect(c_associated(cpu), 'context handle set')
    backend = -1; threads = -1
    call check(ptp_context_get_backend(cpu, backend), 'ptp_context_get_backend')
    call expect(backend == PTP_BACKEND_CPU, 'CPU context resolves to PTP_BACKEND_CPU')
    call check(ptp_context_get_backend_reason(cpu, reason, message), &
               'ptp_context_get_backend_reason')
    call expect(reason == PTP_BACKEND_REASON_CPU_REQUESTED .and. &
                ptp_c_string_f(message) == 'the CPU backend was requested', &
                'a CPU context says the CPU was requested')
    call check(ptp_context_get_num_threads(cpu, threads), 'ptp_context_get_num_threads')
    call expect(threads == 1, 'one CPU thread')
    call check(ptp_context_set_stream(cpu, c_null_ptr), 'ptp_context_set_stream(NULL) on CPU')
    stream = c_loc(options)
    call check(ptp_context_get_stream(cpu, stream), 'ptp_context_get_stream')
    call expect(.not. c_associated(stream), 'default stream is NULL')
    call expect_error(ptp_context_set_stream(cpu, c_loc(options)), PTP_ERROR_UNSUPPORTED, &
                      'stream', 'a CUDA stream on a CPU context')
    call check(ptp_context_synchronize(cpu), 'ptp_context_synchronize on CPU')

    count = -1
    call check(ptp_cuda_device_count(count), 'ptp_cuda_device_count')
    call expect(count >= 0, 'device count >= 0')

    ! The GPU backend: unavailable without a device; with one, either.
    options%backend = PTP_BACKEND_GPU
    options%num_threads = 0
    ctx = c_null_ptr
    status = ptp_context_create(c_loc(options), ctx)
    if (status == PTP_SUCCESS) then
      call expect(count > 0, 'a GPU context needs a device')
      call check(ptp_context_get_backend(ctx, backend), 'ptp_context_get_backend(GPU)')
      call expect(backend == PTP_BACKEND_GPU, 'GPU context resolves to PTP_BACKEND_GPU')
      call check(ptp_context_destroy(ctx), 'ptp_context_destroy(GPU)')
    else
      call expect_error(status, PTP_ERROR_BACKEND_UNAVAILABLE, '', 'PTP_BACKEND_GPU without a device')
      call expect(len(ptp_last_error_message_f()) > 0, 'BACKEND_UNAVAILABLE has a message')
      call expect(.not. c_associated(ctx), 'failed create leaves the handle alone')
    end if

    ! Defaults (NULL options), and destroying NULL.
    ctx = c_null_ptr
    call check(ptp_context_create(c_null_ptr, ctx), 'ptp_context_create(NULL)')
    call check(ptp_context_destroy(ctx), 'ptp_context_destroy')
    call check(ptp_context_destroy(c_null_ptr), 'ptp_context_destroy(NULL)')
    call expect(ptp_last_error_message_f() == '', 'message empty after a success')
  end subroutine test_context

  ! ---------------------------------------------------------------------
  ! Flat layout, float32, integer offsets (including ones off the object):
  ! every patch is the crop O[oy-h : oy-h+N, ox-h : ox-h+N], zeros outside.
  subroutine test_extract_integer_offsets()
    integer, parameter :: h_ = 6, w_ = 7, n_ = 3, p_ = 4
    real(c_float), target :: object(w_, h_), patches(n_, n_, p_)
    real(c_float), target :: offsets(2, p_)
    type(ptp_extract_desc) :: desc
    type(c_ptr) :: plan
    integer(c_size_t) :: bytes
    integer :: x, y, p, ox, oy, half
    real(c_float) :: want
    logical :: all_equal

    do y = 1, h_
      do x = 1, w_
        object(x, y) = real(10*y + x, c_float)   ! O[y-1][x-1]
      end do
    end do
    offsets = reshape([3.0, 2.0, 0.0, 5.0, -1.0, 1.0, 6.0, 0.0], [2, p_])

    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    call expect(desc%struct_size == c_sizeof(desc) .and. desc%height == 0 .and. &
                desc%width == 0 .and. desc%patch_size == 0 .and. desc%group_size == 1 .and. &
                desc%object_dtype == PTP_DTYPE_COMPLEX64 .and. &
                desc%offset_dtype == PTP_DTYPE_FLOAT64 .and. desc%layout == PTP_LAYOUT_CHANNEL &
                .and. desc%memory == PTP_MEMORY_HOST, 'extract desc defaults')
    desc%height = h_
    desc%width = w_
    desc%patch_size = n_
    desc%object_dtype = PTP_DTYPE_FLOAT32
    desc%offset_dtype = PTP_DTYPE_FLOAT32
    desc%layout = PTP_LAYOUT_FLAT
    call check(ptp_extract_output_bytes(desc, int(p_, c_int64_t), bytes), 'ptp_extract_output_bytes')
    call expect(bytes == c_sizeof(patches), 'output bytes = N*N*P*4')

    call check(ptp_extract_plan_create(cpu, desc, plan), 'ptp_extract_plan_create')
    patches = -7
    call check(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), int(p_, c_int64_t), &
                                   c_loc(patches), c_sizeof(patches)), 'ptp_extract_execute')
    half = n_/2
    all_equal = .true.
    do p = 1, p_
      ox = nint(offsets(1, p)); oy = nint(offsets(2, p))
      do y = 0, n_ - 1
        do x = 0, n_ - 1
          want = 0
          if (oy - half + y >= 0 .and. oy - half + y < h_ .and. &
              ox - half + x >= 0 .and. ox - half + x < w_) &
            want = object(ox - half + x + 1, oy - half + y + 1)
          if (patches(x + 1, y + 1, p) /= want) all_equal = .false.
        end do
      end do
    end do
    call expect(all_equal, 'integer offsets give exact crops (flat layout, float32)')
    call check(ptp_extract_plan_destroy(plan), 'ptp_extract_plan_destroy')
    call check(ptp_extract_plan_destroy(c_null_ptr), 'ptp_extract_plan_destroy(NULL)')
  end subroutine test_extract_integer_offsets

  ! ---------------------------------------------------------------------
  ! The bilinear formula of docs/semantics.md in float32 for one part of a
  ! complex object: part 1 = real, 2 = imaginary.
  real(c_float) function bilinear(object, part, h_, w_, half, x, y, ox, oy)
    complex(c_float_complex), intent(in) :: object(:, :)
    integer, intent(in) :: part, h_, w_, half, x, y
    real(c_float), intent(in) :: ox, oy
    real(c_float) :: sx, sy, wx, wy, w00, w01, w10, w11
    integer :: x0, y0
    sx = real(x, c_float) + ox
    sy = real(y, c_float) + oy
    x0 = floor(sx); y0 = floor(sy)
    wx = sx - real(x0, c_float); wy = sy - real(y0, c_float)
    w00 = (1 - wx)*(1 - wy); w01 = wx*(1 - wy); w10 = (1 - wx)*wy; w11 = wx*wy
    bilinear = w00*padded(object, part, h_, w_, half, y0, x0)
    bilinear = bilinear + w01*padded(object, part, h_, w_, half, y0, x0 + 1)
    bilinear = bilinear + w10*padded(object, part, h_, w_, half, y0 + 1, x0)
    bilinear = bilinear + w11*padded(object, part, h_, w_, half, y0 + 1, x0 + 1)
  end function bilinear

  ! The zero-padded object Pd[i, j] (padded row i, column j).
  real(c_float) function padded(object, part, h_, w_, half, i, j)
    complex(c_float_complex), intent(in) :: object(:, :)
    integer, intent(in) :: part, h_, w_, half, i, j
    padded = 0
    if (i - half >= 0 .and. i - half < h_ .and. j - half >= 0 .and. j - half < w_) then
      if (part == 1) then
        padded = real(object(j - half + 1, i - half + 1))
      else
        padded = aimag(object(j - half + 1, i - half + 1))
      end if
    end if
  end function padded

  ! Channel layout, complex64 object, float64 offsets with fractional parts
  ! (exact in float32), two groups of two: patches(c, N, N, B).
  subroutine test_extract_fractional_offsets()
    integer, parameter :: h_ = 8, w_ = 9, n_ = 4, c_ = 2, b_ = 2
    complex(c_float_complex), target :: object(w_, h_), patches(c_, n_, n_, b_)
    real(c_double), target :: offsets(2, c_*b_)
    type(ptp_extract_desc) :: desc
    type(c_ptr) :: plan
    integer :: x, y, b, k, p
    real(c_float) :: err, re, im

    do y = 1, h_
      do x = 1, w_
        object(x, y) = cmplx(sin(0.7*x + 0.3*y), cos(0.2*x*y), c_float_complex)
      end do
    end do
    offsets = reshape([4.25_c_double, 3.5_c_double, 0.75_c_double, -1.375_c_double, &
                       8.5_c_double, 7.125_c_double, -2.625_c_double, 2.0_c_double], [2, c_*b_])
    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = h_; desc%width = w_; desc%patch_size = n_; desc%group_size = c_
    call check(ptp_extract_plan_create(cpu, desc, plan), 'ptp_extract_plan_create(complex, channel)')
    call check(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), int(c_*b_, c_int64_t), &
                                   c_loc(patches), c_sizeof(patches)), 'ptp_extract_execute(fractional)')
    err = 0
    do b = 0, b_ - 1
      do k = 0, c_ - 1
        p = b*c_ + k + 1
        do y = 0, n_ - 1
          do x = 0, n_ - 1
            re = bilinear(object, 1, h_, w_, n_/2, x, y, real(offsets(1, p), c_float), &
                          real(offsets(2, p), c_float))
            im = bilinear(object, 2, h_, w_, n_/2, x, y, real(offsets(1, p), c_float), &
                          real(offsets(2, p), c_float))
            err = max(err, abs(real(patches(k + 1, x + 1, y + 1, b + 1)) - re), &
                      abs(aimag(patches(k + 1, x + 1, y + 1, b + 1)) - im))
          end do
        end do
      end do
    end do
    call expect(err <= 1e-6, 'fractional offsets match the bilinear formula (channel layout)')
    call check(ptp_extract_plan_destroy(plan), 'ptp_extract_plan_destroy')
  end subroutine test_extract_fractional_offsets

  ! ---------------------------------------------------------------------
  ! The legacy form equals explicit offsets float32(global + local), summed
  ! in float64; the one-shot call (default context) equals the plan.
  subroutine test_legacy_and_one_shot()
    integer, parameter :: h_ = 10, w_ = 12, n_ = 5, c_ = 3, b_ = 3
    complex(c_float_complex), target :: object(w_, h_)
    complex(c_float_complex), target :: legacy(c_, n_, n_, b_), direct(c_, n_, n_, b_), &
                                        one_shot(c_, n_, n_, b_)
    real(c_double), target :: global(2, b_), local(c_, 2, b_)
    real(c_float), target :: offsets(2, c_*b_), far(2, c_*b_)
    type(ptp_extract_desc) :: desc64, desc32
    type(ptp_extract_diagnostics) :: diagnostics
    type(c_ptr) :: plan64, plan32
    integer :: x, y, b, k
    integer(c_int64_t) :: rng

    rng = 7
    do y = 1, h_
      do x = 1, w_
        object(x, y) = cmplx(next_random(rng), next_random(rng) - 0.5, c_float_complex)
      end do
    end do
    do b = 1, b_
      global(1, b) = 2.1_c_double*b + 0.3_c_double
      global(2, b) = 1.7_c_double*b + 0.1_c_double
      do k = 1, c_
        local(k, 1, b) = 0.1_c_double*k - 0.35_c_double
        local(k, 2, b) = -0.2_c_double*k + 0.15_c_double
        offsets(1, (b - 1)*c_ + k) = real(global(1, b) + local(k, 1, b), c_float)
        offsets(2, (b - 1)*c_ + k) = real(global(2, b) + local(k, 2, b), c_float)
      end do
    end do

    call check(ptp_extract_desc_init(desc64, c_sizeof(desc64)), 'ptp_extract_desc_init')
    desc64%height = h_; desc64%width = w_; desc64%patch_size = n_; desc64%group_size = c_
    desc32 = desc64
    desc32%offset_dtype = PTP_DTYPE_FLOAT32
    call check(ptp_extract_plan_create(cpu, desc64, plan64), 'plan (float64 offsets)')
    call check(ptp_extract_plan_create(cpu, desc32, plan32), 'plan (float32 offsets)')
    call check(ptp_extract_execute_legacy(plan64, c_loc(object), c_loc(global), c_loc(local), &
                                          int(b_, c_int64_t), c_loc(legacy), c_sizeof(legacy)), &
               'ptp_extract_execute_legacy')
    call check(ptp_extract_execute(plan32, c_loc(object), c_loc(offsets), int(c_*b_, c_int64_t), &
                                   c_loc(direct), c_sizeof(direct)), 'ptp_extract_execute')
    call expect(all(legacy == direct), 'legacy form = float32(global + local) offsets, bitwise')
    call check(ptp_extract_patches(c_null_ptr, desc32, c_loc(object), c_loc(offsets), &
                                   int(c_*b_, c_int64_t), c_loc(one_shot), c_sizeof(one_shot)), &
               'ptp_extract_patches(NULL context)')
    call expect(all(one_shot == direct), 'one-shot = plan, bitwise')
    ! Diagnostics: the one-shot call (c_null_ptr: this thread's last call)
    ! had every patch on the object; one patch moved far away is counted.
    call check(ptp_extract_diagnostics_init(diagnostics, c_sizeof(diagnostics)), &
               'ptp_extract_diagnostics_init')
    call check(ptp_extract_plan_get_diagnostics(c_null_ptr, diagnostics), 'diagnostics (thread)')
    call expect(diagnostics%call == PTP_DIAGNOSED_EXTRACT .and. &
                diagnostics%patches_total == c_*b_ .and. diagnostics%patches_outside == 0 .and. &
                diagnostics%first_outside == -1, 'diagnostics of the one-shot call: none outside')
    far = offsets
    far(1, 2) = 1.0e6_c_float
    call check(ptp_extract_execute(plan32, c_loc(object), c_loc(far), int(c_*b_, c_int64_t), &
                                   c_loc(one_shot), c_sizeof(one_shot)), 'ptp_extract_execute (far)')
    call check(ptp_extract_plan_get_diagnostics(plan32, diagnostics), 'diagnostics (plan)')
    call expect(diagnostics%patches_outside == 1 .and. diagnostics%first_outside == 1 .and. &
                diagnostics%first_outside_offset(0) == 1.0e6_c_double .and. &
                diagnostics%message(0) /= c_null_char, 'diagnostics: the far patch, named')
    call check(ptp_extract_plan_destroy(plan64), 'destroy')
    call check(ptp_extract_plan_destroy(plan32), 'destroy')
  end subroutine test_legacy_and_one_shot

  ! ---------------------------------------------------------------------
  ! Reassembly of exact crops: canvas = (patches covering a pixel) * O,
  ! weights = that count.
  subroutine test_reassemble()
    integer, parameter :: h_ = 6, w_ = 7, n_ = 3, p_ = 3
    real(c_float), target :: object(w_, h_), patches(n_, n_, p_)
    real(c_float), target :: canvas(w_, h_), weights(w_, h_), canvas2(w_, h_)
    real(c_float), target :: offsets(2, p_)
    type(ptp_extract_desc) :: desc
    type(c_ptr) :: plan
    integer :: x, y, p, covering
    logical :: canvas_ok, weights_ok

    do y = 1, h_
      do x = 1, w_
        object(x, y) = real(x + 100*y, c_float)
      end do
    end do
    offsets = reshape([3.0, 2.0, 4.0, 3.0, 0.0, 5.0], [2, p_])
    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = h_; desc%width = w_; desc%patch_size = n_
    desc%object_dtype = PTP_DTYPE_FLOAT32; desc%offset_dtype = PTP_DTYPE_FLOAT32
    call check(ptp_extract_plan_create(cpu, desc, plan), 'plan')
    call check(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), int(p_, c_int64_t), &
                                   c_loc(patches), c_sizeof(patches)), 'extract')
    canvas = -1; weights = -1
    call check(ptp_reassemble_execute(plan, c_loc(patches), c_loc(offsets), int(p_, c_int64_t), &
                                      c_loc(canvas), c_sizeof(canvas), c_loc(weights), &
                                      c_sizeof(weights)), 'ptp_reassemble_execute')
    canvas_ok = .true.; weights_ok = .true.
    do y = 0, h_ - 1
      do x = 0, w_ - 1
        covering = 0
        do p = 1, p_
          if (y >= nint(offsets(2, p)) - n_/2 .and. y < nint(offsets(2, p)) - n_/2 + n_ .and. &
              x >= nint(offsets(1, p)) - n_/2 .and. x < nint(offsets(1, p)) - n_/2 + n_) &
            covering = covering + 1
        end do
        if (weights(x + 1, y + 1) /= real(covering, c_float)) weights_ok = .false.
        if (canvas(x + 1, y + 1) /= real(covering, c_float)*object(x + 1, y + 1)) canvas_ok = .false.
      end do
    end do
    call expect(weights_ok, 'reassembly weights = covering count')
    call expect(canvas_ok, 'reassembly canvas = covering count * object')
    canvas2 = -1
    call check(ptp_reassemble_patches(c_null_ptr, desc, c_loc(patches), c_loc(offsets), &
                                      int(p_, c_int64_t), c_loc(canvas2), c_sizeof(canvas2), &
                                      c_null_ptr, 0_c_size_t), 'ptp_reassemble_patches(no weights)')
    call expect(all(canvas2 == canvas), 'one-shot reassembly = plan')
    canvas2 = -1
    call expect_error(ptp_reassemble_execute(plan, c_loc(patches), c_loc(offsets), &
                                             int(p_, c_int64_t), c_loc(canvas2), &
                                             c_sizeof(canvas2) - 1, c_null_ptr, 0_c_size_t), &
                      PTP_ERROR_BUFFER_TOO_SMALL, 'canvas_bytes', 'canvas one byte short')
    call expect(all(canvas2 == -1), 'nothing written on failure')
    call check(ptp_extract_plan_destroy(plan), 'destroy')
  end subroutine test_reassemble

  ! ---------------------------------------------------------------------
  ! 30 jittered grid positions, idx(C, S) etc. in Fortran order.
  subroutine scan_positions(x, y)
    real(c_double), intent(out) :: x(:), y(:)
    integer :: i
    integer(c_int64_t) :: rng
    rng = 99
    do i = 1, size(x)
      x(i) = 10.0_c_double*modulo(i - 1, 6) + 2*next_random(rng) + 8
      y(i) = 10.0_c_double*((i - 1)/6) + 2*next_random(rng) + 6
    end do
  end subroutine scan_positions

  subroutine test_grouping()
    integer, parameter :: n_ = 30, s_ = 12, c_ = 4
    real(c_double), target :: x(n_), y(n_)
    integer(c_int64_t), target :: idx(c_, s_), idx2(c_, s_), seq(1, 5)
    real(c_double), target :: cnn(c_, 2, s_), coff(2, s_), crel(c_, 2, s_)
    type(ptp_group_desc) :: desc
    integer :: b, k, j
    logical :: in_range, distinct, members_ok, mean_ok, relative_ok
    real(c_double) :: mx, my

    call scan_positions(x, y)
    call check(ptp_group_desc_init(desc, c_sizeof(desc)), 'ptp_group_desc_init')
    call expect(desc%struct_size == c_sizeof(desc) .and. desc%num_samples == 0 .and. &
                desc%num_neighbors == 4 .and. desc%group_size == 4 .and. desc%seed == 0 .and. &
                desc%sequential == 0 .and. desc%oversample == 0, 'group desc defaults')
    desc%num_samples = s_
    desc%num_neighbors = 6
    desc%group_size = c_
    desc%seed = 2024
    call check(ptp_group_neighbors(cpu, desc, c_loc(x), c_loc(y), int(n_, c_int64_t), c_loc(idx), &
                                   c_loc(cnn), c_loc(coff), c_loc(crel)), 'ptp_group_neighbors')
    in_range = .true.; distinct = .true.; members_ok = .true.; mean_ok = .true.
    relative_ok = .true.
    do b = 1, s_
      mx = 0; my = 0
      do k = 1, c_
        if (idx(k, b) < 0 .or. idx(k, b) >= n_) then
          in_range = .false.
          cycle
        end if
        do j = 1, k - 1
          if (idx(j, b) == idx(k, b)) distinct = .false.
        end do
        if (cnn(k, 1, b) /= x(idx(k, b) + 1) .or. cnn(k, 2, b) /= y(idx(k, b) + 1)) &
          members_ok = .false.
        mx = mx + x(idx(k, b) + 1); my = my + y(idx(k, b) + 1)
      end do
      mx = mx/c_; my = my/c_
      if (abs(coff(1, b) - mx) > 1e-9_c_double .or. abs(coff(2, b) - my) > 1e-9_c_double) &
        mean_ok = .false.
      do k = 1, c_
        if (abs(crel(k, 1, b) + (cnn(k, 1, b) - coff(1, b))) > 1e-9_c_double .or. &
            abs(crel(k, 2, b) + (cnn(k, 2, b) - coff(2, b))) > 1e-9_c_double) relative_ok = .false.
      end do
    end do
    call expect(in_range, 'nn_indices are valid 0-based indices')
    call expect(distinct, 'members of a group are distinct')
    call expect(members_ok, 'coords_nn(k, :, b) = position of member k')
    call expect(mean_ok, 'coords_offsets = member mean')
    call expect(relative_ok, 'coords_relative = -(member - mean)')

    ! Same seed, outputs skipped: the same groups.
    idx2 = -1
    call check(ptp_group_neighbors(c_null_ptr, desc, c_loc(x), c_loc(y), int(n_, c_int64_t), &
                                   c_loc(idx2), c_null_ptr, c_null_ptr, c_null_ptr), &
               'ptp_group_neighbors(NULL context, NULL outputs)')
    call expect(all(idx2 == idx), 'same seed, same groups')

    ! Sequential seeds with C = 1: group b is index b-1.
    desc%num_samples = 5; desc%group_size = 1; desc%sequential = 1
    call check(ptp_group_neighbors(cpu, desc, c_loc(x), c_loc(y), int(n_, c_int64_t), c_loc(seq), &
                                   c_null_ptr, c_null_ptr, c_null_ptr), 'sequential, C = 1')
    call expect(all(seq(1, :) == [0, 1, 2, 3, 4]), 'sequential C = 1 groups are 0..4')

    ! Errors: more samples than points without oversampling; K < C.
    desc%num_samples = n_ + 1; desc%group_size = c_; desc%sequential = 0
    idx2 = -1
    call expect(ptp_group_neighbors(cpu, desc, c_loc(x), c_loc(y), int(n_, c_int64_t), c_loc(idx2), &
                                    c_null_ptr, c_null_ptr, c_null_ptr) /= PTP_SUCCESS, &
                'num_samples > num_points without oversample fails')
    call expect(index(ptp_last_error_message_f(), 'num_samples') > 0, 'message names num_samples')
    desc%num_samples = s_; desc%num_neighbors = 2
    call expect(ptp_group_neighbors(cpu, desc, c_loc(x), c_loc(y), int(n_, c_int64_t), c_loc(idx2), &
                                    c_null_ptr, c_null_ptr, c_null_ptr) /= PTP_SUCCESS, &
                'K < C fails')
    call expect(len(ptp_last_error_message_f()) > 0, 'K < C has a message')
    call expect(all(idx2 == -1), 'failed grouping writes nothing')
  end subroutine test_grouping

  ! ---------------------------------------------------------------------
  ! ptp_grouped_patches = ptp_group_neighbors + the legacy extraction with
  ! global = coords_offsets, local = coords_relative.
  subroutine test_grouped_patches()
    integer, parameter :: n_ = 30, s_ = 5, c_ = 4, np_ = 6, h_ = 64, w_ = 72
    real(c_double), target :: x(n_), y(n_)
    complex(c_float_complex), target :: object(w_, h_)
    complex(c_float_complex), target :: grouped(c_, np_, np_, s_), legacy(c_, np_, np_, s_)
    integer(c_int64_t), target :: idx(c_, s_), idx2(c_, s_)
    real(c_double), target :: coff(2, s_), crel(c_, 2, s_)
    type(ptp_group_desc) :: gdesc
    type(ptp_extract_desc) :: edesc
    type(c_ptr) :: plan
    integer(c_size_t) :: bytes
    integer :: i, j

    call scan_positions(x, y)
    do j = 1, h_
      do i = 1, w_
        object(i, j) = cmplx(cos(0.1*i)*sin(0.13*j), 0.01*(i - j), c_float_complex)
      end do
    end do
    call check(ptp_group_desc_init(gdesc, c_sizeof(gdesc)), 'ptp_group_desc_init')
    gdesc%num_samples = s_; gdesc%num_neighbors = 5; gdesc%group_size = c_; gdesc%seed = 5
    call check(ptp_extract_desc_init(edesc, c_sizeof(edesc)), 'ptp_extract_desc_init')
    edesc%height = h_; edesc%width = w_; edesc%patch_size = np_; edesc%group_size = c_
    call check(ptp_extract_output_bytes(edesc, int(s_*c_, c_int64_t), bytes), 'output bytes')
    call expect(bytes == c_sizeof(grouped), 'grouped patch bytes')
    call check(ptp_grouped_patches(cpu, gdesc, edesc, c_loc(object), c_loc(x), c_loc(y), &
                                   int(n_, c_int64_t), c_loc(idx), c_null_ptr, c_loc(coff), &
                                   c_loc(crel), c_loc(grouped), bytes), 'ptp_grouped_patches')
    call check(ptp_group_neighbors(cpu, gdesc, c_loc(x), c_loc(y), int(n_, c_int64_t), c_loc(idx2), &
                                   c_null_ptr, c_null_ptr, c_null_ptr), 'ptp_group_neighbors')
    call expect(all(idx == idx2), 'grouped_patches groups = group_neighbors groups')
    call check(ptp_extract_plan_create(cpu, edesc, plan), 'plan')
    call check(ptp_extract_execute_legacy(plan, c_loc(object), c_loc(coff), c_loc(crel), &
                                          int(s_, c_int64_t), c_loc(legacy), c_sizeof(legacy)), &
               'legacy extraction of the groups')
    call expect(all(grouped == legacy), 'grouped_patches patches = legacy(coords_offsets, coords_relative)')
    call check(ptp_extract_plan_destroy(plan), 'destroy')
  end subroutine test_grouped_patches

  ! ---------------------------------------------------------------------
  subroutine test_errors()
    type(ptp_extract_desc) :: desc
    type(c_ptr) :: plan
    real(c_float), target :: object(4, 4), patches(3, 3, 2)
    real(c_double), target :: offsets(2, 2)
    integer(c_int32_t) :: status
    character(len=:), allocatable :: text

    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = 4; desc%width = 4; desc%patch_size = 0
    desc%object_dtype = PTP_DTYPE_FLOAT32
    plan = c_null_ptr
    status = ptp_extract_plan_create(cpu, desc, plan)
    text = ptp_error_f(status)
    call expect_error(status, PTP_ERROR_INVALID_SIZE, 'patch_size', 'patch_size 0')
    call expect(.not. c_associated(plan), 'failed plan_create leaves the handle alone')
    call expect(index(text, 'PTP_ERROR_INVALID_SIZE: ') == 1 .and. index(text, 'patch_size') > 0, &
                'ptp_error_f: '//text)

    call expect_error(ptp_extract_desc_init(desc, 3_c_size_t), PTP_ERROR_INVALID_ARGUMENT, &
                      'struct_size', 'unknown struct_size')

    desc%patch_size = 3
    call check(ptp_extract_plan_create(cpu, desc, plan), 'plan')
    object = 1
    offsets = 1
    offsets(2, 2) = ieee_value(offsets(2, 2), ieee_quiet_nan)
    patches = -7
    call expect_error(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), 2_c_int64_t, &
                                          c_loc(patches), c_sizeof(patches)), &
                      PTP_ERROR_NON_FINITE, 'offsets', 'NaN offset')
    call expect(all(patches == -7), 'nothing written after NON_FINITE')
    offsets(2, 2) = 1
    call expect_error(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), 2_c_int64_t, &
                                          c_loc(patches), c_sizeof(patches) - 4), &
                      PTP_ERROR_BUFFER_TOO_SMALL, 'patches_bytes', 'patches one float short')
    call expect_error(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), -1_c_int64_t, &
                                          c_loc(patches), c_sizeof(patches)), &
                      PTP_ERROR_INVALID_SIZE, 'patch count', 'negative count')
    call expect_error(ptp_extract_execute(plan, c_null_ptr, c_loc(offsets), 2_c_int64_t, &
                                          c_loc(patches), c_sizeof(patches)), &
                      PTP_ERROR_INVALID_ARGUMENT, 'object', 'NULL object')
    call expect(all(patches == -7), 'nothing written after the failures')
    call check(ptp_extract_execute(plan, c_loc(object), c_null_ptr, 0_c_int64_t, c_null_ptr, &
                                   0_c_size_t), 'zero patches with NULL arrays')
    call expect(ptp_last_error_message_f() == '', 'message empty after a success')
    call check(ptp_extract_plan_destroy(plan), 'destroy')
  end subroutine test_errors

  ! ---------------------------------------------------------------------
  ! A smooth random scene, moving(x, y) = ref(x - tx, y - ty) circularly:
  ! the frame translated by (+ty, +tx), so the result is (-ty, -tx).
  subroutine shifted(ref, ty, tx, out)
    real(c_float), intent(in) :: ref(:, :)
    integer, intent(in) :: ty, tx
    real(c_float), intent(out) :: out(:, :)
    integer :: x, y, w_, h_
    w_ = size(ref, 1); h_ = size(ref, 2)
    do y = 0, h_ - 1
      do x = 0, w_ - 1
        out(x + 1, y + 1) = ref(modulo(x - tx, w_) + 1, modulo(y - ty, h_) + 1)
      end do
    end do
  end subroutine shifted

  subroutine test_align_planar()
    integer, parameter :: h_ = 48, w_ = 64
    real(c_float), target :: ref(w_, h_), mov1(w_, h_), mov2(w_, h_)
    real(c_double), target :: shifts(2, 3), plane_shifts(2, 1, 3), confidence(3)
    type(c_ptr) :: frames(3), plan
    type(ptp_align_desc) :: desc
    integer(c_int64_t) :: planes, rng
    integer :: x, y

    rng = 3
    do y = 1, h_
      do x = 1, w_
        ref(x, y) = real(next_random(rng) + 0.5*sin(0.3*x)*cos(0.2*y), c_float)
      end do
    end do
    call shifted(ref, 3, -5, mov1)
    call shifted(ref, -7, 2, mov2)

    call check(ptp_align_desc_init(desc, c_sizeof(desc)), 'ptp_align_desc_init')
    call expect(desc%struct_size == c_sizeof(desc) .and. desc%height == 0 .and. desc%width == 0 &
                .and. desc%channels == 1 .and. desc%frame_dtype == PTP_DTYPE_UINT16 .and. &
                desc%cfa == PTP_CFA_NONE .and. all(desc%pattern(0:3) == [0, 1, 3, 2]) .and. &
                desc%upsample_factor == 10 .and. desc%normalization == PTP_NORMALIZATION_PARTIAL &
                .and. desc%window == PTP_WINDOW_HANN .and. desc%combine == PTP_COMBINE_LUMA .and. &
                desc%snap == 0 .and. desc%fft_planning == PTP_FFT_PLANNING_MEASURE .and. &
                desc%max_shift == 0 .and. desc%method == PTP_ALIGN_METHOD_CORRELATION .and. &
                desc%verify == PTP_ALIGN_VERIFY_REFINE, 'align desc defaults')
    ! The coarse estimate in whole pixels.
    desc%verify = PTP_ALIGN_VERIFY_NONE
    desc%upsample_factor = 1
    desc%height = h_; desc%width = w_; desc%frame_dtype = PTP_DTYPE_FLOAT32
    call check(ptp_align_plan_create(cpu, desc, plan), 'ptp_align_plan_create(float32, no CFA)')
    call check(ptp_align_plan_num_planes(plan, planes), 'ptp_align_plan_num_planes')
    call expect(planes == 1, 'one plane')
    call expect_error(ptp_align_execute(plan, frames, 0_c_int64_t, c_null_ptr, c_null_ptr, &
                                        c_null_ptr), PTP_ERROR_INVALID_ARGUMENT, 'reference', &
                      'execute before set_reference')
    call check(ptp_align_set_reference(plan, c_loc(ref)), 'ptp_align_set_reference')
    frames = [c_loc(mov1), c_loc(mov2), c_loc(ref)]
    call check(ptp_align_execute(plan, frames, 3_c_int64_t, c_loc(shifts), c_loc(plane_shifts), &
                                 c_loc(confidence)), 'ptp_align_execute')
    call expect(all(shifts(:, 1) == [-3, 5]), 'frame 1 shift (dy, dx) = (-3, 5)')
    call expect(all(shifts(:, 2) == [7, -2]), 'frame 2 shift (dy, dx) = (7, -2)')
    call expect(all(shifts(:, 3) == [0, 0]), 'the reference itself: (0, 0)')
    call expect(all(plane_shifts /= plane_shifts), 'one estimate a frame: plane shifts NaN')
    call expect(all(confidence > 0.5_c_double .and. confidence <= 1.0_c_double), &
                'confidence in (0.5, 1]')
    call check(ptp_align_plan_destroy(plan), 'ptp_align_plan_destroy')
    call check(ptp_align_plan_destroy(c_null_ptr), 'ptp_align_plan_destroy(NULL)')
  end subroutine test_align_planar

  ! Bayer uint16 frames (values above 32767 included), even shifts, and
  ! the progress callback: counting, cancelling, removing.
  subroutine test_align_bayer_progress()
    integer, parameter :: h_ = 32, w_ = 48, m_ = 3
    real(c_float) :: scene(w_, h_), moved(w_, h_)
    integer(c_int16_t), target :: ref(w_, h_), mov(w_, h_, m_)
    real(c_double), target :: shifts(2, m_), plane_shifts(2, 4, m_)
    type(c_ptr) :: frames(m_), plan
    type(ptp_align_desc) :: desc
    type(progress_state), target :: state
    integer(c_int64_t) :: planes, rng
    integer :: x, y, i
    integer, parameter :: ty(m_) = [4, -2, 6], tx(m_) = [-6, 8, 0]

    rng = 11
    do y = 1, h_
      do x = 1, w_
        scene(x, y) = real(next_random(rng), c_float)
      end do
    end do
    ref = ptp_uint16_f(nint(scene*60000))
    call expect(any(ref < 0), 'uint16 values above 32767 are present')
    do i = 1, m_
      call shifted(scene, ty(i), tx(i), moved)
      mov(:, :, i) = ptp_uint16_f(nint(moved*60000))
      frames(i) = c_loc(mov(1, 1, i))
    end do

    call check(ptp_align_desc_init(desc, c_sizeof(desc)), 'ptp_align_desc_init')
    desc%height = h_; desc%width = w_; desc%cfa = PTP_CFA_BAYER
    desc%upsample_factor = 1; desc%verify = PTP_ALIGN_VERIFY_NONE
    call check(ptp_align_plan_create(cpu, desc, plan), 'ptp_align_plan_create(Bayer)')
    call check(ptp_align_plan_num_planes(plan, planes), 'num_planes')
    call expect(planes == 4, 'four Bayer planes')
    call check(ptp_align_set_reference(plan, c_loc(ref)), 'set_reference')
    call check(ptp_align_set_progress(plan, c_funloc(on_progress), c_loc(state)), &
               'ptp_align_set_progress')
    shifts = 99
    call check(ptp_align_execute(plan, frames, int(m_, c_int64_t), c_loc(shifts), &
                                 c_loc(plane_shifts), c_null_ptr), 'ptp_align_execute(Bayer)')
    do i = 1, m_
      call expect(shifts(1, i) == -ty(i) .and. shifts(2, i) == -tx(i), 'Bayer shift recovered')
      call expect(all(plane_shifts(:, :, i) /= plane_shifts(:, :, i)), 'Bayer plane shifts NaN')
    end do
    call expect(state%calls == m_ .and. state%last_done == m_ .and. state%last_total == m_ .and. &
                state%out_of_order == 0, 'progress called once per frame, in order')

    ! Cancel after the first frame: it keeps its result, the others are untouched.
    state = progress_state(stop_at=1)
    shifts = 99
    call expect_error(ptp_align_execute(plan, frames, int(m_, c_int64_t), c_loc(shifts), &
                                        c_null_ptr, c_null_ptr), PTP_ERROR_CANCELLED, '', &
                      'progress callback cancels')
    call expect(state%calls == 1, 'cancelled after one callback')
    call expect(shifts(1, 1) == -ty(1) .and. shifts(2, 1) == -tx(1), 'finished frame kept')
    call expect(all(shifts(:, 2:) == 99), 'later frames untouched')

    ! Removed: no more calls.
    call check(ptp_align_set_progress(plan, c_null_funptr, c_null_ptr), 'remove progress')
    state = progress_state()
    call check(ptp_align_execute(plan, frames, int(m_, c_int64_t), c_loc(shifts), c_null_ptr, &
                                 c_null_ptr), 'execute without callback')
    call expect(state%calls == 0, 'removed callback not called')
    call check(ptp_align_plan_destroy(plan), 'destroy')
  end subroutine test_align_bayer_progress

  ! The default (joint) estimator through ptp_align_execute_frames: a
  ! result per frame, a NaN frame reported on its own, mosaic-preserving
  ! crops.
  subroutine test_align_frames()
    integer, parameter :: h_ = 48, w_ = 64
    real(c_float) :: scene(w_, h_)
    real(c_float), target :: ref(w_, h_), mov(w_, h_), bad(w_, h_)
    type(ptp_align_result), target :: results(3), again(3)
    integer(c_int32_t), target :: flags(3)
    type(c_ptr) :: frames(3), plan
    type(ptp_align_desc) :: desc
    integer(c_int64_t) :: rng
    integer :: x, y

    rng = 5
    do y = 1, h_
      do x = 1, w_
        scene(x, y) = real(next_random(rng) + 0.5*sin(0.3*x)*cos(0.2*y), c_float)
      end do
    end do
    ref = scene
    call shifted(scene, 4, -6, mov)
    bad = mov
    bad(3, 2) = ieee_value(bad(3, 2), ieee_quiet_nan)
    call check(ptp_align_desc_init(desc, c_sizeof(desc)), 'ptp_align_desc_init')
    desc%height = h_; desc%width = w_; desc%frame_dtype = PTP_DTYPE_FLOAT32
    desc%cfa = PTP_CFA_BAYER
    call check(ptp_align_plan_create(cpu, desc, plan), 'ptp_align_plan_create(joint)')
    call check(ptp_align_set_reference(plan, c_loc(ref)), 'set_reference')
    frames = [c_loc(mov), c_loc(bad), c_loc(ref)]
    call check(ptp_align_execute_frames(plan, frames, 3_c_int64_t, results, c_null_ptr), &
               'ptp_align_execute_frames')
    call expect(results(1)%status == PTP_SUCCESS .and. all(results(1)%crop == [-4, 6]), &
                'frame 1: crop (dy, dx) = (-4, 6)')
    call expect(all(abs(results(1)%shift - [-4, 6]) < 0.5_c_double), 'frame 1: shift near it')
    call expect(results(1)%planes_used == 4 .and. results(1)%confidence > 0, 'frame 1: planes')
    call expect(results(2)%status == PTP_ERROR_NON_FINITE .and. &
                all(results(2)%shift /= results(2)%shift), 'frame 2: NaN reported, no shift')
    call expect(index(ptp_c_string_f(c_loc(results(2)%message)), 'frames[1]') > 0, &
                'frame 2: a message naming it')
    call expect(results(3)%status == PTP_SUCCESS .and. all(results(3)%crop == 0), &
                'frame 3: the reference itself')
    ! The same with each frame's flags: the same results; a frame of the
    ! scene is not taken for another, a frame without a result has none.
    flags = -1
    call check(ptp_align_execute_frames_flags(plan, frames, 3_c_int64_t, again, c_null_ptr, &
                                              c_loc(flags)), 'ptp_align_execute_frames_flags')
    call expect(all(again%status == results%status) .and. all(again(1)%crop == results(1)%crop), &
                'flags: the same results')
    call expect(iand(flags(1), PTP_ALIGN_FLAG_OTHER_SCENE) == 0, 'flags: frame 1 of the scene')
    call expect(flags(2) == 0, 'flags: none without a result')
    call check(ptp_align_plan_destroy(plan), 'destroy')
  end subroutine test_align_frames

  ! =====================================================================
  ! The typed generic interfaces (Fortran arrays instead of c_loc): each
  ! against the type(c_ptr) form of the same call, bitwise, and the checks
  ! they make before calling C.

  ! Channel layout complex64/float64, flat layout float32/float32 in both
  ! ranks, the one-shot call, the legacy form, non-contiguous actual
  ! arguments (copied in and out by the compiler).
  subroutine test_typed_extract()
    integer, parameter :: h_ = 9, w_ = 11, n_ = 4, c_ = 2, b_ = 3, p_ = c_*b_
    complex(c_float_complex), target :: object(w_, h_), by_ptr(c_, n_, n_, b_)
    complex(c_float_complex) :: typed(c_, n_, n_, b_), one_shot(c_, n_, n_, b_), &
                                with_desc(c_, n_, n_, b_), legacy(c_, n_, n_, b_)
    complex(c_float_complex) :: big(w_ + 3, h_ + 1), out_big(c_ + 1, n_, n_, b_)
    real(c_double), target :: offsets(2, p_), global(2, b_), local(c_, 2, b_)
    real(c_float), target :: object32(w_, h_), flat_ptr(n_, n_, p_)
    real(c_float) :: flat3(n_, n_, p_), flat4(n_, n_, c_, b_)
    real(c_float), target :: offsets32(2, p_)
    type(ptp_extract_desc) :: desc, desc32
    type(c_ptr) :: plan, plan32
    integer :: x, y, p
    integer(c_int64_t) :: rng

    rng = 17
    do y = 1, h_
      do x = 1, w_
        object(x, y) = cmplx(next_random(rng), next_random(rng) - 0.5, c_float_complex)
        object32(x, y) = real(next_random(rng), c_float)
      end do
    end do
    do p = 1, p_
      offsets(1, p) = 1 + (w_ - 2)*next_random(rng)
      offsets(2, p) = 1 + (h_ - 2)*next_random(rng)
    end do
    offsets32 = real(offsets, c_float)
    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = h_; desc%width = w_; desc%patch_size = n_; desc%group_size = c_
    call check(ptp_extract_plan_create(cpu, desc, plan), 'plan (complex64, channel)')
    call check(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), int(p_, c_int64_t), &
                                   c_loc(by_ptr), c_sizeof(by_ptr)), 'c_ptr extract')
    typed = -1
    call check(ptp_extract_execute(plan, object, offsets, typed), 'typed extract')
    call expect(all(typed == by_ptr), 'typed ptp_extract_execute = c_ptr form (complex64, channel)')
    with_desc = -1
    call check(ptp_extract_execute(plan, object, offsets, with_desc, desc), 'typed extract, desc')
    call expect(all(with_desc == by_ptr), 'typed ptp_extract_execute with desc = c_ptr form')
    one_shot = -1
    call check(ptp_extract_patches(c_null_ptr, desc, object, offsets, one_shot), &
               'typed ptp_extract_patches')
    call expect(all(one_shot == by_ptr), 'typed ptp_extract_patches = plan')

    ! Sections: the object inside a larger array, patches written into one.
    big = (9, 9)
    big(3:w_ + 2, 2:h_ + 1) = object
    out_big = (7, 7)
    call check(ptp_extract_execute(plan, big(3:w_ + 2, 2:h_ + 1), offsets, &
                                   out_big(2:c_ + 1, :, :, :)), 'typed extract of sections')
    call expect(all(out_big(2:, :, :, :) == by_ptr) .and. all(out_big(1, :, :, :) == (7, 7)), &
                'non-contiguous sections: same patches, the rest untouched')

    ! Legacy: global(2, B) + local(c, 2, B).
    do p = 1, b_
      global(:, p) = [3.5_c_double + p, 2.25_c_double + p]
      local(:, 1, p) = [-0.5_c_double, 0.75_c_double]
      local(:, 2, p) = [0.25_c_double, -1.0_c_double]
    end do
    call check(ptp_extract_execute_legacy(plan, c_loc(object), c_loc(global), c_loc(local), &
                                          int(b_, c_int64_t), c_loc(by_ptr), c_sizeof(by_ptr)), &
               'c_ptr legacy')
    legacy = -1
    call check(ptp_extract_execute_legacy(plan, object, global, local, legacy, desc), 'typed legacy')
    call expect(all(legacy == by_ptr), 'typed ptp_extract_execute_legacy = c_ptr form')
    call check(ptp_extract_plan_destroy(plan), 'destroy')

    ! float32 object and offsets, flat layout: patches(N, N, P) or (N, N, c, B).
    desc32 = desc
    desc32%object_dtype = PTP_DTYPE_FLOAT32; desc32%offset_dtype = PTP_DTYPE_FLOAT32
    desc32%layout = PTP_LAYOUT_FLAT
    call check(ptp_extract_plan_create(cpu, desc32, plan32), 'plan (float32, flat)')
    call check(ptp_extract_execute(plan32, c_loc(object32), c_loc(offsets32), int(p_, c_int64_t), &
                                   c_loc(flat_ptr), c_sizeof(flat_ptr)), 'c_ptr extract (float32)')
    flat3 = -1; flat4 = -1
    call check(ptp_extract_execute(plan32, object32, offsets32, flat3, desc32), 'typed, rank 3')
    call check(ptp_extract_execute(plan32, object32, offsets32, flat4, desc32), 'typed, rank 4')
    call expect(all(flat3 == flat_ptr), 'typed float32 flat patches(N, N, P) = c_ptr form')
    call expect(all(reshape(flat4, [n_, n_, p_]) == flat_ptr), &
                'typed float32 flat patches(N, N, c, B) = c_ptr form')
    call check(ptp_extract_plan_destroy(plan32), 'destroy')
  end subroutine test_typed_extract

  ! Reassembly with and without weights, plan and one-shot.
  subroutine test_typed_reassemble()
    integer, parameter :: h_ = 6, w_ = 7, n_ = 3, p_ = 3
    real(c_float), target :: object(w_, h_), patches(n_, n_, p_), offsets(2, p_)
    real(c_float), target :: canvas_ptr(w_, h_), weights_ptr(w_, h_)
    real(c_float) :: canvas(w_, h_), weights(w_, h_), canvas2(w_, h_)
    type(ptp_extract_desc) :: desc
    type(c_ptr) :: plan
    integer :: x, y

    do y = 1, h_
      do x = 1, w_
        object(x, y) = real(x + 100*y, c_float)
      end do
    end do
    offsets = reshape([3.0, 2.0, 4.5, 3.25, 0.0, 5.0], [2, p_])
    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = h_; desc%width = w_; desc%patch_size = n_
    desc%object_dtype = PTP_DTYPE_FLOAT32; desc%offset_dtype = PTP_DTYPE_FLOAT32
    call check(ptp_extract_plan_create(cpu, desc, plan), 'plan')
    call check(ptp_extract_execute(plan, object, offsets, patches), 'typed extract')
    call check(ptp_reassemble_execute(plan, c_loc(patches), c_loc(offsets), int(p_, c_int64_t), &
                                      c_loc(canvas_ptr), c_sizeof(canvas_ptr), c_loc(weights_ptr), &
                                      c_sizeof(weights_ptr)), 'c_ptr reassemble')
    canvas = -1; weights = -1
    call check(ptp_reassemble_execute(plan, patches, offsets, canvas, weights, desc), &
               'typed ptp_reassemble_execute')
    call expect(all(canvas == canvas_ptr) .and. all(weights == weights_ptr), &
                'typed ptp_reassemble_execute = c_ptr form (canvas and weights)')
    canvas2 = -1
    call check(ptp_reassemble_patches(c_null_ptr, desc, patches, offsets, canvas2), &
               'typed ptp_reassemble_patches (no weights)')
    call expect(all(canvas2 == canvas_ptr), 'typed ptp_reassemble_patches = plan')
    call check(ptp_extract_plan_destroy(plan), 'destroy')
  end subroutine test_typed_reassemble

  ! Grouping and grouped patches against the c_ptr form.
  subroutine test_typed_grouping()
    integer, parameter :: n_ = 30, s_ = 5, c_ = 4, np_ = 6, h_ = 64, w_ = 72
    real(c_double), target :: x(n_), y(n_)
    integer(c_int64_t), target :: idx_ptr(c_, s_)
    integer(c_int64_t) :: idx(c_, s_), idx2(c_, s_)
    real(c_double), target :: cnn_ptr(c_, 2, s_), coff_ptr(2, s_), crel_ptr(c_, 2, s_)
    real(c_double) :: cnn(c_, 2, s_), coff(2, s_), crel(c_, 2, s_)
    complex(c_float_complex), target :: object(w_, h_), grouped_ptr(c_, np_, np_, s_)
    complex(c_float_complex) :: grouped(c_, np_, np_, s_)
    type(ptp_group_desc) :: gdesc
    type(ptp_extract_desc) :: edesc
    integer :: i, j

    call scan_positions(x, y)
    do j = 1, h_
      do i = 1, w_
        object(i, j) = cmplx(cos(0.1*i)*sin(0.13*j), 0.01*(i - j), c_float_complex)
      end do
    end do
    call check(ptp_group_desc_init(gdesc, c_sizeof(gdesc)), 'ptp_group_desc_init')
    gdesc%num_samples = s_; gdesc%num_neighbors = 5; gdesc%group_size = c_; gdesc%seed = 9
    call check(ptp_group_neighbors(cpu, gdesc, c_loc(x), c_loc(y), int(n_, c_int64_t), &
                                   c_loc(idx_ptr), c_loc(cnn_ptr), c_loc(coff_ptr), &
                                   c_loc(crel_ptr)), 'c_ptr grouping')
    idx = -1; cnn = -1; coff = -1; crel = -1
    call check(ptp_group_neighbors(cpu, gdesc, x, y, idx, cnn, coff, crel), 'typed grouping')
    call expect(all(idx == idx_ptr) .and. all(cnn == cnn_ptr) .and. all(coff == coff_ptr) .and. &
                all(crel == crel_ptr), 'typed ptp_group_neighbors = c_ptr form')
    idx2 = -1
    call check(ptp_group_neighbors(c_null_ptr, gdesc, x, y, idx2, coords_relative=crel), &
               'typed grouping, one optional output by keyword')
    call expect(all(idx2 == idx_ptr), 'typed grouping without coords_nn, coords_offsets')

    call check(ptp_extract_desc_init(edesc, c_sizeof(edesc)), 'ptp_extract_desc_init')
    edesc%height = h_; edesc%width = w_; edesc%patch_size = np_; edesc%group_size = c_
    call check(ptp_grouped_patches(cpu, gdesc, edesc, c_loc(object), c_loc(x), c_loc(y), &
                                   int(n_, c_int64_t), c_loc(idx_ptr), c_null_ptr, c_null_ptr, &
                                   c_null_ptr, c_loc(grouped_ptr), c_sizeof(grouped_ptr)), &
               'c_ptr grouped patches')
    grouped = -1; idx = -1
    call check(ptp_grouped_patches(cpu, gdesc, edesc, object, x, y, idx, grouped), &
               'typed grouped patches')
    call expect(all(grouped == grouped_ptr) .and. all(idx == idx_ptr), &
                'typed ptp_grouped_patches = c_ptr form')
  end subroutine test_typed_grouping

  ! Alignment of stacked frames: float32 planar, uint16 Bayer, per-frame results.
  subroutine test_typed_align()
    integer, parameter :: h_ = 48, w_ = 64, m_ = 3
    real(c_float) :: scene(w_, h_), stack(w_, h_, m_)
    integer(c_int16_t) :: ref16(w_, h_), stack16(w_, h_, m_)
    real(c_double) :: shifts(2, m_), plane_shifts(2, 1, m_), confidence(m_), shifts16(2, m_)
    type(ptp_align_result) :: results(m_)
    type(ptp_align_desc) :: desc, desc16
    type(c_ptr) :: plan, plan16
    integer(c_int64_t) :: rng
    integer :: x, y, i
    integer, parameter :: ty(m_) = [3, -6, 0], tx(m_) = [-5, 2, 0]

    rng = 23
    do y = 1, h_
      do x = 1, w_
        scene(x, y) = real(next_random(rng) + 0.5*sin(0.3*x)*cos(0.2*y), c_float)
      end do
    end do
    do i = 1, m_
      call shifted(scene, ty(i), tx(i), stack(:, :, i))
    end do
    call check(ptp_align_desc_init(desc, c_sizeof(desc)), 'ptp_align_desc_init')
    desc%upsample_factor = 1; desc%verify = PTP_ALIGN_VERIFY_NONE
    desc%height = h_; desc%width = w_; desc%frame_dtype = PTP_DTYPE_FLOAT32
    call check(ptp_align_plan_create(cpu, desc, plan), 'align plan (float32)')
    call check(ptp_align_set_reference(plan, scene, desc), 'typed ptp_align_set_reference')
    shifts = 99; plane_shifts = 99; confidence = -1
    call check(ptp_align_execute(plan, stack, shifts, plane_shifts, confidence, desc), &
               'typed ptp_align_execute')
    do i = 1, m_
      call expect(shifts(1, i) == -ty(i) .and. shifts(2, i) == -tx(i), &
                  'typed ptp_align_execute: shift of stacked frame recovered')
    end do
    call expect(all(plane_shifts /= plane_shifts) .and. confidence(3) > 0.5_c_double, &
                'typed ptp_align_execute: plane shifts NaN, confidence')
    call check(ptp_align_execute_frames(plan, stack, results), 'typed ptp_align_execute_frames')
    call expect(all(results%status == PTP_SUCCESS) .and. all(results(1)%crop == [-ty(1), -tx(1)]) &
                .and. all(results(2)%crop == [-ty(2), -tx(2)]), &
                'typed ptp_align_execute_frames: per-frame results')
    call check(ptp_align_plan_destroy(plan), 'destroy')

    ! uint16 Bayer frames (even shifts).
    ref16 = ptp_uint16_f(nint((scene + 0.5)*20000))
    do i = 1, m_
      call shifted(scene, 2*ty(i), 2*tx(i), stack(:, :, i))
      stack16(:, :, i) = ptp_uint16_f(nint((stack(:, :, i) + 0.5)*20000))
    end do
    desc16 = desc
    desc16%frame_dtype = PTP_DTYPE_UINT16; desc16%cfa = PTP_CFA_BAYER
    call check(ptp_align_plan_create(cpu, desc16, plan16), 'align plan (uint16 Bayer)')
    call check(ptp_align_set_reference(plan16, ref16), 'typed set_reference (uint16)')
    call check(ptp_align_execute(plan16, stack16, shifts16), 'typed execute (uint16), shifts only')
    call expect(all(shifts16 == -2*reshape([ty, tx], [2, m_], order=[2, 1])), &
                'typed ptp_align_execute: uint16 Bayer shifts recovered')
    call check(ptp_align_plan_destroy(plan16), 'destroy')
  end subroutine test_typed_align

  ! What the typed procedures check before calling C, and the messages.
  subroutine test_typed_errors()
    complex(c_float_complex) :: object(6, 5), patches(1, 3, 3, 2), canvas(6, 5)
    complex(c_float_complex) :: transposed(5, 6), wrong_patches(1, 3, 3, 3)
    real(c_float) :: object32(6, 5), patches32(3, 3, 2), weights(5, 6)
    real(c_double) :: offsets(2, 2), triples(3, 2), x(10), y(10)
    integer(c_int64_t) :: idx(4, 3)
    real(c_float) :: frames(16, 8, 2), frame(16, 8)
    integer(c_int16_t) :: frame16(16, 8)
    real(c_double) :: shifts(2, 3), plane_shifts(2, 2, 2)
    type(ptp_align_result) :: results(3)
    type(ptp_extract_desc) :: desc
    type(ptp_group_desc) :: gdesc
    type(ptp_align_desc) :: adesc
    type(c_ptr) :: plan, aplan
    integer(c_int32_t) :: status

    object = (1, 0); object32 = 1; offsets = 2; triples = 2; patches = (-7, 0); patches32 = -7
    call check(ptp_extract_desc_init(desc, c_sizeof(desc)), 'ptp_extract_desc_init')
    desc%height = 5; desc%width = 6; desc%patch_size = 3
    call check(ptp_extract_plan_create(cpu, desc, plan), 'plan')

    call expect_error(ptp_extract_execute(plan, object, triples, patches), PTP_ERROR_INVALID_SIZE, &
                      'offsets has shape (3, 2); its first extent must be 2', 'typed: offsets(3, P)')
    call expect_error(ptp_extract_patches(c_null_ptr, desc, object32, offsets, patches32), &
                      PTP_ERROR_INVALID_ARGUMENT, 'ptp_extract_patches: the arrays are real(c_float) '// &
                      'but desc%object_dtype is PTP_DTYPE_COMPLEX64', 'typed: float32 arrays, complex64 desc')
    call expect(index(ptp_error_f(PTP_ERROR_INVALID_ARGUMENT), 'PTP_ERROR_INVALID_ARGUMENT: '// &
                      'ptp_extract_patches: the arrays are real(c_float)') == 1, &
                'ptp_error_f gives the typed check''s message')
    call expect_error(ptp_extract_patches(c_null_ptr, desc, transposed, offsets, patches), &
                      PTP_ERROR_INVALID_SIZE, 'object has shape (5, 6), expected (6, 5)', &
                      'typed: transposed object')
    call expect_error(ptp_extract_execute(plan, object, offsets, wrong_patches, desc), &
                      PTP_ERROR_INVALID_SIZE, 'patches has shape (1, 3, 3, 3), expected (1, 3, 3, 2)', &
                      'typed: patches for 3 groups, offsets for 2, with desc')
    ! Without desc only the C library's own checks: here the byte size.
    call expect_error(ptp_extract_execute(plan, object32, offsets, patches32), &
                      PTP_ERROR_BUFFER_TOO_SMALL, 'patches_bytes', &
                      'typed without desc: float32 patches for a complex64 plan')
    call expect(all(patches == (-7, 0)) .and. all(patches32 == -7), 'nothing written by the failures')

    ! The typed message goes when the next C call replaces the C message.
    status = ptp_extract_execute(plan, object, triples, patches)
    call check(ptp_extract_execute(plan, object, offsets, patches), 'typed extract after a failure')
    call expect(ptp_last_error_message_f() == '', 'message empty after a success')
    status = ptp_extract_execute(plan, object, triples, patches)
    call check(ptp_extract_plan_destroy(c_null_ptr), 'a C call after a typed failure')
    call expect(ptp_last_error_message_f() == '', 'typed message retired by a successful C call')
    status = ptp_extract_execute(plan, object, triples, patches)
    desc%patch_size = 0
    call expect_error(ptp_extract_patches(c_null_ptr, desc, object, offsets, patches), &
                      PTP_ERROR_INVALID_SIZE, 'desc->patch_size', 'C''s own message after a typed one')
    desc%patch_size = 3
    desc%memory = PTP_MEMORY_DEVICE
    call expect_error(ptp_extract_patches(c_null_ptr, desc, object, offsets, patches), &
                      PTP_ERROR_INVALID_ARGUMENT, 'PTP_MEMORY_HOST', 'typed: device memory in desc')
    desc%memory = PTP_MEMORY_HOST
    call expect_error(ptp_reassemble_execute(plan, patches, offsets, canvas, weights), &
                      PTP_ERROR_INVALID_SIZE, 'weights has shape (5, 6), expected (6, 5)', &
                      'typed: weights not the canvas''s shape')
    call check(ptp_extract_plan_destroy(plan), 'destroy')

    call check(ptp_group_desc_init(gdesc, c_sizeof(gdesc)), 'ptp_group_desc_init')
    gdesc%num_samples = 3
    call scan_positions(x, y)
    call expect_error(ptp_group_neighbors(cpu, gdesc, x, y(1:9), idx), PTP_ERROR_INVALID_SIZE, &
                      'x has 10 elements and y 9', 'typed: x and y of different sizes')
    call expect_error(ptp_group_neighbors(cpu, gdesc, x, y, idx(:, 1:2)), PTP_ERROR_INVALID_SIZE, &
                      'nn_indices has shape (4, 2), expected (4, 3)', 'typed: nn_indices(C, S)')

    call check(ptp_align_desc_init(adesc, c_sizeof(adesc)), 'ptp_align_desc_init')
    adesc%height = 8; adesc%width = 16; adesc%frame_dtype = PTP_DTYPE_FLOAT32
    adesc%upsample_factor = 1
    call check(ptp_align_plan_create(cpu, adesc, aplan), 'align plan')
    frame16 = 1
    call expect_error(ptp_align_set_reference(aplan, frame16, adesc), PTP_ERROR_INVALID_ARGUMENT, &
                      'the frames are integer(c_int16_t) but desc%frame_dtype is PTP_DTYPE_FLOAT32', &
                      'typed: uint16 frame, float32 desc')
    call expect_error(ptp_align_set_reference(aplan, frames, adesc), PTP_ERROR_INVALID_SIZE, &
                      'frame has shape (16, 8, 2), expected (16, 8, 1)', 'typed: 2 channels, desc has 1')
    call random_number(frame)
    call check(ptp_align_set_reference(aplan, frame), 'typed set_reference')
    frames(:, :, 1) = frame; frames(:, :, 2) = frame
    call expect_error(ptp_align_execute(aplan, frames, shifts), PTP_ERROR_INVALID_SIZE, &
                      'shifts has shape (2, 3), expected (2, 2)', 'typed: shifts for 3 of 2 frames')
    call expect_error(ptp_align_execute(aplan, frames, shifts(:, 1:2), plane_shifts), &
                      PTP_ERROR_INVALID_SIZE, 'plane_shifts has shape (2, 2, 2), expected (2, 1, 2)', &
                      'typed: plane_shifts for 2 planes of 1')
    call expect_error(ptp_align_execute_frames(aplan, frames, results), PTP_ERROR_INVALID_SIZE, &
                      'results has shape (3), expected (2)', 'typed: 3 results for 2 frames')
    call check(ptp_align_plan_destroy(aplan), 'destroy')
  end subroutine test_typed_errors

end program test_fortran
