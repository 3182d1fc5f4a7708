! A Fortran program built against the INSTALLED module ptychopatch.mod and
! libptychopatch_fortran.a (tests/consumer).
program consumer_fortran
  use, intrinsic :: iso_c_binding
  use ptychopatch
  implicit none
  integer, parameter :: h = 5, w = 6, n = 3
  real(c_float), target :: object(w, h), patch(n, n)
  real(c_double), target :: offset(2)
  type(ptp_extract_desc) :: desc
  type(c_ptr) :: ctx, plan
  integer(c_int32_t) :: major, minor, patch_version, status
  integer :: x, y, failures

  failures = 0
  do y = 1, h
    do x = 1, w
      object(x, y) = real((y - 1)*w + (x - 1), c_float)   ! O[y][x] = y*W + x
    end do
  end do
  if (ptp_get_version(major, minor, patch_version) /= PTP_SUCCESS) failures = failures + 1
  if (major /= PTP_VERSION_MAJOR .or. minor /= PTP_VERSION_MINOR) failures = failures + 1

  if (ptp_extract_desc_init(desc, c_sizeof(desc)) /= PTP_SUCCESS) failures = failures + 1
  desc%height = h
  desc%width = w
  desc%patch_size = n
  desc%object_dtype = PTP_DTYPE_FLOAT32
  offset = [2.0_c_double, 3.0_c_double]   ! centre x = 2, y = 3
  status = ptp_extract_patches(c_null_ptr, desc, c_loc(object), c_loc(offset), 1_c_int64_t, &
                               c_loc(patch), c_sizeof(patch))
  if (status /= PTP_SUCCESS) failures = failures + 1
  if (any(patch /= object(2:4, 3:5))) failures = failures + 1

  desc%patch_size = 0
  plan = c_null_ptr
  if (ptp_context_create(c_null_ptr, ctx) /= PTP_SUCCESS) failures = failures + 1
  status = ptp_extract_plan_create(ctx, desc, plan)
  if (status /= PTP_ERROR_INVALID_SIZE) failures = failures + 1
  if (index(ptp_last_error_message_f(), 'patch_size') == 0 .or. c_associated(plan)) &
    failures = failures + 1
  if (ptp_context_destroy(ctx) /= PTP_SUCCESS) failures = failures + 1

  if (failures == 0) then
    write (*, '(3a)') 'consumer_fortran: libptychopatch ', ptp_version_string_f(), ', ok'
  else
    write (*, '(a,i0,a)') 'consumer_fortran: ', failures, ' checks FAILED'
    error stop 1
  end if
end program consumer_fortran
