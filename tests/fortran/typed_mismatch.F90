! Compiled, not run, by the ctest tests fortran_typed_* (tests/fortran/
! CMakeLists.txt): the typed generic interfaces of the module must refuse
! arrays of the wrong element type or rank at compile time.
!   no macro:               every call right; must compile
!                           (fortran_typed_accepts_right_types)
!   PTP_WRONG_OBJECT        a real(c_double) object where complex64 is
!                           expected (issue 14, item 9)
!   PTP_WRONG_PATCHES       complex64 object, real(c_float) patches
!   PTP_WRONG_RANK          a rank-1 object
!   PTP_WRONG_OFFSETS       integer offsets
!   PTP_WRONG_INDICES       integer(c_int32_t) nn_indices (int64_t in C)
!   PTP_WRONG_FRAME         a real(c_double) alignment frame
! each must fail with "There is no specific function for the generic"
! (fortran_typed_rejects_*). With the type(c_ptr) interfaces alone, the
! same mistakes written as c_loc(array) compile and run wrong.
program typed_mismatch
  use, intrinsic :: iso_c_binding
  use ptychopatch
  implicit none
#if defined(PTP_WRONG_OBJECT)
  real(c_double) :: object(6, 5)
#elif defined(PTP_WRONG_RANK)
  complex(c_float_complex) :: object(30)
#else
  complex(c_float_complex) :: object(6, 5)
#endif
#if defined(PTP_WRONG_PATCHES)
  real(c_float) :: patches(1, 3, 3, 2)
#else
  complex(c_float_complex) :: patches(1, 3, 3, 2)
#endif
#if defined(PTP_WRONG_OFFSETS)
  integer :: offsets(2, 2)
#else
  real(c_double) :: offsets(2, 2)
#endif
#if defined(PTP_WRONG_INDICES)
  integer(c_int32_t) :: nn_indices(4, 2)
#else
  integer(c_int64_t) :: nn_indices(4, 2)
#endif
#if defined(PTP_WRONG_FRAME)
  real(c_double) :: frame(16, 8)
#else
  real(c_float) :: frame(16, 8)
#endif
  real(c_double) :: x(10), y(10)
  type(ptp_group_desc) :: group
  type(c_ptr) :: plan
  integer(c_int32_t) :: status

  plan = c_null_ptr
  object = 0
  offsets = 2
  x = 0
  y = 0
  frame = 0
  status = ptp_group_desc_init(group, c_sizeof(group))
  status = ptp_extract_execute(plan, object, offsets, patches)
  status = ptp_group_neighbors(c_null_ptr, group, x, y, nn_indices)
  status = ptp_align_set_reference(plan, frame)
  print *, status
end program typed_mismatch
