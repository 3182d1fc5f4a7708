"""ptychopatch.extract_offsets_gradient: the gradient of extract_patches
with respect to the offsets (ptp_extract_offsets_gradient), against numpy
central differences of ptychopatch.extract_patches, and its errors."""

import doctest
import warnings

import numpy as np
import pytest

import ptychopatch
from ptychopatch import reassemble

STEP = 1.0 / 64


def _offsets(rng, shape):
    """Offsets that are multiples of 2^-10 with every sample fraction in
    [0.25, 0.75]: o +- STEP is exact in float32 and crosses no integer, so
    the patches are linear in the offset over the difference."""
    whole = rng.integers(-4, 28, shape)
    fraction = rng.integers(256, 769, shape) / 1024.0
    return whole + fraction


def _loss(obj, offsets, grad, n, layout):
    """sum Re(conj(G) P) = G_re P_re + G_im P_im, in double."""
    with warnings.catch_warnings():  # some patches lie outside on purpose
        warnings.simplefilter("ignore", ptychopatch.OutsideObjectWarning)
        patches = ptychopatch.extract_patches(obj, offsets, n, layout, backend="cpu")
    return float(np.sum(np.real(np.conj(grad.astype(np.complex128)) * patches)))


def _central_differences(obj, offsets, grad, n, layout):
    flat = offsets.reshape(-1, 2)
    out = np.empty(flat.shape)
    for p in range(flat.shape[0]):
        for axis in range(2):
            sides = []
            for sign in (1, -1):
                moved = flat.copy()
                moved[p, axis] += sign * STEP
                sides.append(_loss(obj, moved.reshape(offsets.shape), grad, n, layout))
            out[p, axis] = (sides[0] - sides[1]) / (2 * STEP)
    return out.reshape(offsets.shape)


@pytest.mark.parametrize("complex_object", [True, False])
@pytest.mark.parametrize("layout", ["channel", "flat"])
@pytest.mark.parametrize("offset_dtype", [np.float64, np.float32])
def test_matches_central_differences_of_extraction(rng, complex_object, layout, offset_dtype):
    n, groups, c = 6, 3, 2
    obj = rng.standard_normal((20, 26)).astype(np.float32)
    if complex_object:
        obj = (obj + 1j * rng.standard_normal(obj.shape)).astype(np.complex64)
    offsets = _offsets(rng, (groups, c, 2)).astype(offset_dtype)
    shape = (groups, n, n, c) if layout == "channel" else (groups * c, n, n)
    grad = rng.standard_normal(shape).astype(np.float32)
    if complex_object:
        grad = (grad + 1j * rng.standard_normal(shape)).astype(np.complex64)
    got = ptychopatch.extract_offsets_gradient(obj, offsets, grad, layout, backend="cpu")
    assert got.shape == offsets.shape
    assert got.dtype == offset_dtype
    want = _central_differences(obj, offsets, grad, n, layout)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)


def test_patches_outside_get_zero_and_ints_give_float64(rng):
    obj = rng.standard_normal((10, 10)).astype(np.complex64)
    offsets = np.array([[1000, 1000], [5, 5]])  # integers: computed as float64
    grad = np.ones((2, 4, 4), np.complex64)
    got = ptychopatch.extract_offsets_gradient(obj, offsets, grad, "flat", backend="cpu")
    assert got.dtype == np.float64
    assert np.array_equal(got[0], [0.0, 0.0])


def test_out_is_written(rng):
    obj = rng.standard_normal((12, 12)).astype(np.float32)
    offsets = _offsets(rng, (4, 1, 2)).astype(np.float32)
    grad = rng.standard_normal((4, 5, 5, 1)).astype(np.float32)
    out = np.full(offsets.shape, np.nan, np.float32)
    result = ptychopatch.extract_offsets_gradient(obj, offsets, grad, out=out, backend="cpu")
    assert result is out
    assert np.array_equal(out, ptychopatch.extract_offsets_gradient(obj, offsets, grad,
                                                                    backend="cpu"))


def test_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(reassemble.extract_offsets_gradient, "extract_offsets_gradient"):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_bad_shapes_and_types(rng):
    obj = rng.standard_normal((12, 12)).astype(np.float32)
    offsets = _offsets(rng, (3, 2, 2))
    with pytest.raises(ValueError, match="patches must have shape"):
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((3, 5, 4, 2)), backend="cpu")
    with pytest.raises(ValueError, match="offsets must have shape"):
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((3, 5, 5, 3)), backend="cpu")
    with pytest.raises(TypeError, match="complex"):
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((3, 5, 5, 2), np.complex64),
                                             backend="cpu")
    with pytest.raises(ValueError, match="layout"):
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((3, 5, 5, 2)), "rows")
    with pytest.raises(ValueError, match="out must have shape"):
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((3, 5, 5, 2)),
                                             out=np.empty((6, 2)), backend="cpu")


def test_non_finite_offsets_are_refused_and_out_untouched(rng):
    obj = rng.standard_normal((12, 12)).astype(np.complex64)
    offsets = _offsets(rng, (4, 2))
    offsets[2, 1] = np.inf
    out = np.full((4, 2), 7.0)
    with pytest.raises(ptychopatch.PtychoPatchError, match="patch 2") as info:
        ptychopatch.extract_offsets_gradient(obj, offsets, np.ones((4, 3, 3), np.complex64),
                                             "flat", out=out, backend="cpu")
    assert info.value.status_name == "PTP_ERROR_NON_FINITE"
    assert np.all(out == 7.0)


def test_zero_patch_size_is_the_library_error(rng):
    obj = rng.standard_normal((12, 12)).astype(np.float32)
    with pytest.raises(ptychopatch.PtychoPatchError, match="grad_patches.shape") as info:
        ptychopatch.extract_offsets_gradient(obj, np.zeros((2, 2)), np.ones((2, 0, 0)), "flat",
                                             backend="cpu")
    assert info.value.status_name == "PTP_ERROR_INVALID_SIZE"
