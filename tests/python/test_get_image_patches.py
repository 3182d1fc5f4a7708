"""get_image_patches: PtychoPINN's legacy offset form, sum-then-round."""

import numpy as np
import pytest

import ptychopatch
from spec_oracle import extract_channel, random_object


def legacy_oracle(gt_image, global_offsets, local_offsets, n):
    """The spec's offsets float32(global + local), summed in numpy first."""
    total = global_offsets + local_offsets  # (B, 1, 2, c), in the inputs' precision
    xy = total[:, 0].transpose(0, 2, 1).astype(np.float32)  # (B, c, 2)
    return extract_channel(np.asarray(gt_image).reshape(gt_image.shape[:2]), xy, n)


def random_groups(rng, b, gridsize, height, width, dtype=np.float64):
    c = gridsize * gridsize
    centres = np.stack([rng.uniform(0, width, b), rng.uniform(0, height, b)], axis=-1)
    global_offsets = centres.reshape(b, 1, 2, 1).astype(dtype)
    local_offsets = rng.uniform(-4, 4, (b, 1, 2, c)).astype(dtype)
    return global_offsets, local_offsets


@pytest.mark.parametrize("gridsize", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 6, 9])
def test_matches_oracle(rng, gridsize, n):
    obj = random_object(rng, 19, 27, True)
    g, loc = random_groups(rng, 7, gridsize, 19, 27)
    out = ptychopatch.get_image_patches(obj, g, loc, n, gridsize)
    expected = legacy_oracle(obj, g, loc, n)
    assert out.shape == (7, n, n, gridsize**2) and out.dtype == np.complex64
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out, expected)


def test_sum_is_taken_in_float64_then_rounded(rng):
    g64, l64 = 10 + 1 / 3, 1.6e-7
    once = np.float32(g64 + l64)
    twice = np.float32(g64) + np.float32(l64)
    assert once != twice  # the case this test is about
    obj = random_object(rng, 24, 24, True)
    g = np.full((1, 1, 2, 1), g64)
    loc = np.full((1, 1, 2, 4), l64)
    out = ptychopatch.get_image_patches(obj, g, loc, 8, 2)
    np.testing.assert_array_equal(out, extract_channel(obj, np.full((1, 4, 2), once), 8))
    assert not np.array_equal(out, extract_channel(obj, np.full((1, 4, 2), twice), 8))


@pytest.mark.parametrize(
    "global_dtype, local_dtype",
    [(np.float32, np.float32), (np.float32, np.float64), (np.int64, np.float32),
     (np.int32, np.int32)],
)
def test_offset_dtypes(rng, global_dtype, local_dtype):
    obj = random_object(rng, 16, 16, True)
    g, _ = random_groups(rng, 5, 2, 16, 16)
    _, loc = random_groups(rng, 5, 2, 16, 16)
    g, loc = g.astype(global_dtype), loc.astype(local_dtype)
    out = ptychopatch.get_image_patches(obj, g, loc, 7, 2)
    np.testing.assert_array_equal(out, legacy_oracle(obj, g, loc, 7))


def test_image_forms_and_dtypes(rng):
    real = random_object(rng, 12, 10, False).astype(np.float64)
    g, loc = random_groups(rng, 3, 2, 12, 10)
    expected = legacy_oracle(real.astype(np.complex64), g, loc, 5)
    for image in (real, real[:, :, None], real.astype(np.complex128), real.astype(np.float32)):
        out = ptychopatch.get_image_patches(image, g, loc, 5, 2)
        assert out.dtype == np.complex64
        np.testing.assert_array_equal(out, expected)


def test_no_groups_gives_empty_array():
    out = ptychopatch.get_image_patches(np.ones((5, 5)), np.zeros((0, 1, 2, 1)),
                                        np.zeros((0, 1, 2, 9)), 4, 3)
    assert out.shape == (0, 4, 4, 9) and out.dtype == np.complex64


@pytest.mark.parametrize(
    "image_shape, global_shape, local_shape, gridsize, match",
    [
        ((6, 6, 2), (2, 1, 2, 1), (2, 1, 2, 4), 2, "gt_image"),
        ((6,), (2, 1, 2, 1), (2, 1, 2, 4), 2, "gt_image"),
        ((6, 6), (2, 2, 1), (2, 1, 2, 4), 2, "global_offsets"),
        ((6, 6), (2, 1, 2, 2), (2, 1, 2, 4), 2, "global_offsets"),
        ((6, 6), (2, 1, 1, 1), (2, 1, 2, 4), 2, "global_offsets"),
        ((6, 6), (2, 1, 2, 1), (2, 1, 2, 9), 2, "local_offsets"),
        ((6, 6), (2, 1, 2, 1), (3, 1, 2, 4), 2, "local_offsets"),
        ((6, 6), (2, 1, 2, 1), (2, 2, 4), 2, "local_offsets"),
        ((6, 6), (2, 1, 2, 1), (2, 1, 4, 2), 2, "local_offsets"),
        ((6, 6), (2, 1, 2, 1), (2, 1, 2, 4), 0, "gridsize"),
    ],
)
def test_shape_validation(image_shape, global_shape, local_shape, gridsize, match):
    with pytest.raises(ValueError, match=match):
        ptychopatch.get_image_patches(np.ones(image_shape), np.zeros(global_shape),
                                      np.zeros(local_shape), 4, gridsize)


def test_non_finite_offset_names_both_arrays():
    loc = np.zeros((2, 1, 2, 4))
    loc[1, 0, 1, 3] = np.nan
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.get_image_patches(np.ones((6, 6)), np.zeros((2, 1, 2, 1)), loc, 4, 2)
    assert info.value.status_name == "PTP_ERROR_NON_FINITE"
    assert "global_offsets" in info.value.message and "local_offsets" in info.value.message


def test_bad_patch_size_and_backend():
    args = (np.ones((6, 6)), np.zeros((1, 1, 2, 1)), np.zeros((1, 1, 2, 1)))
    with pytest.raises(ptychopatch.PtychoPatchError, match="N is 0"):
        ptychopatch.get_image_patches(*args, 0, 1)
    with pytest.raises(ValueError, match="backend"):
        ptychopatch.get_image_patches(*args, 3, 1, backend="bogus")
