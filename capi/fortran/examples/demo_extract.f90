! libptychopatch from Fortran (docs/fortran.md):
!  1. cut 200 groups of gridsize 2 (800 patches of 32 x 32, complex64) out
!     of a generated 256 x 256 object, PtychoPINN's channel layout;
!  2. align three shifted copies of a synthetic Bayer RAW frame to it,
!     with a progress callback.
! Arrays are declared in Fortran order: the C H x W object is object(W, H),
! the C (B, N, N, c) patches are patches(c, N, N, B), see the module header.

module demo_progress
  use, intrinsic :: iso_c_binding
  implicit none
contains
  ! ptp_progress_fn: print each finished frame; 0 = go on.
  function report(frames_done, frames_total, user_data) bind(c) result(cancel)
    integer(c_int64_t), value :: frames_done, frames_total
    type(c_ptr), value :: user_data
    integer(c_int32_t) :: cancel
    write (*, '(a,i0,a,i0)') '  aligned frame ', frames_done, ' of ', frames_total
    cancel = 0
  end function report
end module demo_progress

program demo_extract
  use, intrinsic :: iso_c_binding
  use ptychopatch
  use demo_progress
  implicit none

  integer, parameter :: h = 256, w = 256, n = 32, gridsize = 2, groups = 200
  integer, parameter :: c = gridsize*gridsize, num_patches = groups*c
  complex(c_float_complex), allocatable, target :: object(:, :), patches(:, :, :, :)
  real(c_double), allocatable, target :: offsets(:, :)
  type(c_ptr) :: ctx, plan
  type(ptp_extract_desc) :: desc
  integer(c_int32_t) :: backend
  integer(c_size_t) :: bytes
  integer :: x, y, p
  real :: r(2)

  ! ---- context: the GPU when one is usable, else the CPU
  call check(ptp_context_create(c_null_ptr, ctx))
  call check(ptp_context_get_backend(ctx, backend))
  write (*, '(2a)') 'libptychopatch ', ptp_version_string_f()
  if (backend == PTP_BACKEND_GPU) then
    write (*, '(a)') 'backend        : gpu'
  else
    write (*, '(a)') 'backend        : cpu'
  end if

  ! ---- a smooth complex object, O(x+1, y+1) = O[y][x]
  allocate (object(w, h))
  do y = 0, h - 1
    do x = 0, w - 1
      object(x + 1, y + 1) = (0.6 + 0.4*sin(0.05*x)*cos(0.031*y)) &
                             *exp(cmplx(0.0, 1.5*sin(0.013*(x + 2*y)), c_float_complex))
    end do
  end do

  ! ---- scan centres (x, y) with fractional parts, N/2 inside the object
  allocate (offsets(2, num_patches))
  call random_seed()
  do p = 1, num_patches
    call random_number(r)
    offsets(1, p) = n/2 + r(1)*(w - n)
    offsets(2, p) = n/2 + r(2)*(h - n)
  end do

  ! ---- a plan, reusable on new data, and one execution
  call check(ptp_extract_desc_init(desc, c_sizeof(desc)))
  desc%height = h
  desc%width = w
  desc%patch_size = n
  desc%group_size = c                     ! complex64 object, float64 offsets,
  call check(ptp_extract_output_bytes(desc, int(num_patches, c_int64_t), bytes))
  allocate (patches(c, n, n, groups))     ! channel layout (B, N, N, c) in C
  call check(ptp_extract_plan_create(ctx, desc, plan))
  call check(ptp_extract_execute(plan, c_loc(object), c_loc(offsets), &
                                 int(num_patches, c_int64_t), c_loc(patches), bytes))
  write (*, '(a,i0,a,i0,a,i0,a,i0,a,i0,a)') 'patches        : ', groups, ' groups x ', c, &
    ' = ', num_patches, ' patches of ', n, ' x ', n, ' complex64'
  write (*, '(a,f0.1,a)') 'output         : ', real(bytes)/1e6, ' MB'
  write (*, '(a,es13.6)') 'checksum       : ', sum(real(patches, c_double)) + sum(aimag(patches))
  ! patch p = b*c + k of group b, member k is patches(k+1, :, :, b+1)
  write (*, '(a,2f9.5)') 'patch 0 centre : ', patches(1, n/2 + 1, n/2 + 1, 1)
  call check(ptp_extract_plan_destroy(plan))

  call align_scene()
  call check(ptp_context_destroy(ctx))
  ! Main-program allocatables are never freed automatically (they are saved).
  deallocate (object, offsets, patches)

contains

  subroutine check(status)
    integer(c_int32_t), intent(in) :: status
    if (status /= PTP_SUCCESS) then
      write (*, '(2a)') 'failed: ', ptp_error_f(status)
      error stop 1
    end if
  end subroutine check

  ! A 96 x 128 Bayer (RGGB) uint16 frame and three copies translated by even
  ! amounts (circularly): phase correlation per colour plane recovers
  ! (-ty, -tx), scikit-image's sign.
  subroutine align_scene()
    integer, parameter :: fh = 96, fw = 128, m = 3
    integer, parameter :: ty(m) = [2, -4, 10], tx(m) = [6, 0, -8]
    integer(c_int16_t), allocatable, target :: reference(:, :), moving(:, :, :)
    real(c_double), target :: shifts(2, m), confidence(m)
    type(c_ptr) :: frames(m), aplan
    type(ptp_align_desc) :: adesc
    real, allocatable :: scene(:, :)
    integer :: i, x, y

    allocate (scene(fw, fh), reference(fw, fh), moving(fw, fh, m))
    call random_number(scene)
    do y = 1, fh
      do x = 1, fw
        scene(x, y) = 0.5*scene(x, y) + 0.5*(1 + sin(0.2*x)*cos(0.15*y))/2
      end do
    end do
    reference = ptp_uint16_f(nint(scene*60000))   ! uint16 values in int16 storage
    do i = 1, m
      moving(:, :, i) = cshift(cshift(reference, -tx(i), dim=1), -ty(i), dim=2)
      frames(i) = c_loc(moving(1, 1, i))
    end do

    call check(ptp_align_desc_init(adesc, c_sizeof(adesc)))
    adesc%height = fh
    adesc%width = fw
    adesc%cfa = PTP_CFA_BAYER               ! pattern(0:3) = RGGB by default
    call check(ptp_align_plan_create(ctx, adesc, aplan))
    call check(ptp_align_set_progress(aplan, c_funloc(report), c_null_ptr))
    call check(ptp_align_set_reference(aplan, c_loc(reference)))
    write (*, '(a)') 'alignment      : Bayer 96 x 128 uint16, 3 moving frames'
    call check(ptp_align_execute(aplan, frames, int(m, c_int64_t), c_loc(shifts), c_null_ptr, &
                                 c_loc(confidence)))
    do i = 1, m
      write (*, '(a,i0,a,2f6.1,a,2i4,a,f5.3)') '  frame ', i, ': recovered shift (dy, dx) =', &
        shifts(:, i), ', applied', ty(i), tx(i), ', confidence ', confidence(i)
      if (nint(shifts(1, i)) /= -ty(i) .or. nint(shifts(2, i)) /= -tx(i)) then
        write (*, '(a)') 'unexpected shift'
        error stop 1
      end if
    end do
    call check(ptp_align_plan_destroy(aplan))
  end subroutine align_scene

end program demo_extract
