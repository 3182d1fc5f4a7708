"""extract_patches against the numpy oracle of SPEC section 1."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ptychopatch
from spec_oracle import exact_crop, extract_channel, extract_flat, random_object

DTYPES = [np.complex64, np.float32]


def assert_matches(actual, expected):
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)
    # The library promises the spec's operation order, so this should hold
    # exactly; the tolerance check above says by how much if it does not.
    np.testing.assert_array_equal(actual, expected)


def fractional_offsets(rng, shape, height, width, n):
    """Offsets over the object, its borders and well beyond, plus extremes."""
    x = rng.uniform(-n - 2, width + n + 2, shape)
    y = rng.uniform(-n - 2, height + n + 2, shape)
    off = np.stack([x, y], axis=-1)
    flat = off.reshape(-1, 2)
    extremes = [(-0.5, -0.5), (width - 0.5, height - 0.5), (0.25, height - 1 + 0.75),
                (-1e6, 3.5), (2.5, 1e7), (-1e20, 1e30), (width + 0.5, -(n // 2) - 0.999)]
    for i, pair in enumerate(extremes[: len(flat)]):
        flat[i] = pair
    return off


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_integer_offsets_are_exact_crops(rng, dtype, n):
    obj = random_object(rng, 9, 13, dtype == np.complex64)
    h = n // 2
    pairs = [(ox, oy) for ox in range(-h - 2, 13 + h + 2, 3) for oy in range(-h - 2, 9 + h + 2, 2)]
    offsets = np.array(pairs, dtype=np.float64)
    out = ptychopatch.extract_patches(obj, offsets, n, layout="flat")
    assert out.dtype == dtype and out.shape == (len(pairs), n, n)
    for p, (ox, oy) in enumerate(pairs):
        assert np.array_equal(out[p], exact_crop(obj, ox, oy, n)), (ox, oy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 4, 7])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_fractional_offsets_match_oracle(rng, dtype, offset_dtype, n, layout):
    height, width = 11, 17  # non-square on purpose
    obj = random_object(rng, height, width, dtype == np.complex64)
    offsets = fractional_offsets(rng, (6, 4), height, width, n).astype(offset_dtype)
    out = ptychopatch.extract_patches(obj, offsets, n, layout=layout)
    # float64 offsets are rounded once to float32 (the formula is float32).
    off32 = offsets.astype(np.float32)
    if layout == "channel":
        expected = extract_channel(obj, off32, n)
    else:
        expected = extract_flat(obj, off32.reshape(-1, 2), n)
    assert_matches(out, expected)


def test_tall_object_and_single_patch(rng):
    obj = random_object(rng, 23, 3, True)
    offsets = np.array([[[1.25, 20.5]]], dtype=np.float32)
    assert_matches(ptychopatch.extract_patches(obj, offsets, 6), extract_channel(obj, offsets, 6))


def test_flat_accepts_pairs_and_groups_and_relates_to_channel(rng):
    obj = random_object(rng, 10, 12, True)
    offsets = fractional_offsets(rng, (5, 4), 10, 12, 6)
    grouped = ptychopatch.extract_patches(obj, offsets, 6, layout="flat")
    pairs = ptychopatch.extract_patches(obj, offsets.reshape(-1, 2), 6, layout="flat")
    channel = ptychopatch.extract_patches(obj, offsets, 6, layout="channel")
    assert grouped.shape == (20, 6, 6)
    assert np.array_equal(grouped, pairs)
    assert np.array_equal(channel, grouped.reshape(5, 4, 6, 6).transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "offsets_shape, layout, expected_shape",
    [
        ((0, 4, 2), "channel", (0, 5, 5, 4)),
        ((3, 0, 2), "channel", (3, 5, 5, 0)),
        ((0, 2), "flat", (0, 5, 5)),
        ((0, 4, 2), "flat", (0, 5, 5)),
        ((3, 0, 2), "flat", (0, 5, 5)),
    ],
)
def test_no_patches_gives_empty_array(rng, dtype, offsets_shape, layout, expected_shape):
    obj = random_object(rng, 4, 6, dtype == np.complex64)
    out = ptychopatch.extract_patches(obj, np.zeros(offsets_shape), 5, layout=layout)
    assert out.shape == expected_shape and out.dtype == dtype


@pytest.mark.parametrize(
    "source, expected",
    [(np.float64, np.float32), (np.int32, np.float32), (np.float16, np.float32),
     (np.complex128, np.complex64), (np.complex64, np.complex64)],
)
def test_output_dtype_follows_object_kind(source, expected):
    obj = (np.arange(30).reshape(5, 6) / 7).astype(source)
    out = ptychopatch.extract_patches(obj, np.array([[[2, 2]]]), 3)
    assert out.dtype == expected
    assert np.array_equal(out[0, :, :, 0], exact_crop(obj.astype(expected), 2, 2, 3))


def test_other_offset_dtypes_go_through_float64(rng):
    obj = random_object(rng, 8, 8, True)
    ints = np.array([[[3, 4], [-2, 9]]], dtype=np.int16)
    out = ptychopatch.extract_patches(obj, ints, 4)
    assert_matches(out, extract_channel(obj, ints.astype(np.float32), 4))
    half = np.array([[[3.5, 4.25]]], dtype=np.float16)
    assert_matches(ptychopatch.extract_patches(obj, half, 4),
                   extract_channel(obj, half.astype(np.float32), 4))


def test_non_contiguous_inputs(rng):
    base = random_object(rng, 14, 18, True)
    obj = base[::2, ::-1].T  # strided, reversed and transposed
    offsets_base = fractional_offsets(rng, (3, 8), 18, 7, 5).astype(np.float32)
    offsets = offsets_base[:, ::2, :]
    out = ptychopatch.extract_patches(obj, offsets, 5)
    expected = ptychopatch.extract_patches(np.ascontiguousarray(obj),
                                           np.ascontiguousarray(offsets), 5)
    assert np.array_equal(out, expected)
    assert_matches(out, extract_channel(obj, offsets, 5))


def test_thread_counts_and_concurrent_threads_agree(rng):
    obj = random_object(rng, 40, 40, True)
    offsets = fractional_offsets(rng, (16, 4), 40, 40, 8)
    reference = ptychopatch.extract_patches(obj, offsets, 8, backend="cpu", num_threads=1)
    assert np.array_equal(ptychopatch.extract_patches(obj, offsets, 8, num_threads=3), reference)
    # Each thread gets its own context; none may see another's.
    barrier = threading.Barrier(4)

    def work(_):
        barrier.wait()
        return [ptychopatch.extract_patches(obj, offsets, 8, num_threads=2) for _ in range(5)]

    with ThreadPoolExecutor(4) as pool:
        for results in pool.map(work, range(4)):
            for out in results:
                assert np.array_equal(out, reference)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
def test_non_finite_offset_raises(bad, offset_dtype):
    offsets = np.array([[[1.0, 2.0], [3.0, bad]]], dtype=offset_dtype)
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(np.ones((4, 4), np.complex64), offsets, 3)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.status == 4 and err.status_name == "PTP_ERROR_NON_FINITE"
    assert "offsets" in err.message and "offsets" in str(err)


@pytest.mark.parametrize("n", [0, -3])
def test_bad_patch_size_raises(n):
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(np.ones((4, 4), np.float32), np.zeros((1, 1, 2)), n)
    assert info.value.status_name == "PTP_ERROR_INVALID_SIZE"
    assert info.value.message == f"N is {n}, must be >= 1"
    assert "desc->patch_size" in info.value.library_message


def test_empty_object_raises():
    with pytest.raises(ptychopatch.PtychoPatchError, match=r"obj\.shape\[0\] is 0"):
        ptychopatch.extract_patches(np.ones((0, 4), np.float32), np.zeros((1, 1, 2)), 3)


def test_gpu_backend_without_gpu_raises():
    if ptychopatch.cuda_device_count() > 0:
        pytest.skip("a CUDA device is usable here")
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(np.ones((4, 4), np.float32), np.zeros((1, 1, 2)), 3,
                                    backend="gpu")
    assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"


def test_gpu_backend_matches_cpu_bitwise(rng):
    if ptychopatch.cuda_device_count() == 0:
        pytest.skip("no CUDA device")
    obj = random_object(rng, 30, 41, True)
    offsets = fractional_offsets(rng, (32, 4), 30, 41, 9)
    cpu = ptychopatch.extract_patches(obj, offsets, 9, backend="cpu")
    assert np.array_equal(ptychopatch.extract_patches(obj, offsets, 9, backend="gpu"), cpu)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backend": "bogus"}, "backend"),
        ({"backend": None}, "backend"),
        ({"layout": "planar"}, "layout"),
        ({"num_threads": -1}, "num_threads"),
        ({"num_threads": 2**40}, "num_threads"),
    ],
)
def test_bad_python_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ptychopatch.extract_patches(np.ones((4, 4), np.float32), np.zeros((1, 1, 2)), 3, **kwargs)


@pytest.mark.parametrize(
    "obj_shape, offsets_shape, layout",
    [
        ((4, 4, 2), (1, 1, 2), "channel"),
        ((16,), (1, 1, 2), "channel"),
        ((4, 4), (3, 2), "channel"),
        ((4, 4), (1, 1, 3), "channel"),
        ((4, 4), (3,), "flat"),
        ((4, 4), (2, 2, 2, 2), "flat"),
    ],
)
def test_bad_shapes_raise_value_error(obj_shape, offsets_shape, layout):
    with pytest.raises(ValueError, match="shape"):
        ptychopatch.extract_patches(np.ones(obj_shape), np.zeros(offsets_shape), 3, layout=layout)


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="N"):
        ptychopatch.extract_patches(np.ones((4, 4)), np.zeros((1, 1, 2)), "3")
    with pytest.raises(ValueError, match="N must be an integer, got 3.5"):
        ptychopatch.extract_patches(np.ones((4, 4)), np.zeros((1, 1, 2)), 3.5)
    with pytest.raises(TypeError, match="offsets"):
        ptychopatch.extract_patches(np.ones((4, 4)), np.zeros((1, 1, 2), np.complex64), 3)
    with pytest.raises(TypeError, match="obj"):
        ptychopatch.extract_patches(np.array([["a"]]), np.zeros((1, 1, 2)), 3)


def test_version_and_device_count():
    # "+cuda" only where the GPU backend runs; otherwise the reason is said
    # (test_backend_info.py checks which).
    assert re.fullmatch(r"\d+\.\d+\.\d+\+(cuda|cpu|cuda \(GPU backend unavailable: .+\))",
                        ptychopatch.version())
    count = ptychopatch.cuda_device_count()
    assert isinstance(count, int) and count >= 0
