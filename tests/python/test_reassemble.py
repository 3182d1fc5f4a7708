"""reassemble_patches: against a float64 scatter oracle, the adjoint identity
with extract_patches, averaging, weights, the legacy offset form, errors."""

import numpy as np
import pytest

import ptychopatch
from spec_oracle import random_object, reassemble_channel, reassemble_flat

DTYPES = [np.complex64, np.float32]
RTOL = 1e-5


def random_patches(rng, shape, complex_):
    re = rng.uniform(-1, 1, shape).astype(np.float32)
    if not complex_:
        return re
    return (re + 1j * rng.uniform(-1, 1, shape)).astype(np.complex64)


def offsets_over(rng, shape, height, width, n, far=True):
    """Fractional offsets over the object, its borders and beyond; some far away."""
    x = rng.uniform(-n - 2, width + n + 2, shape)
    y = rng.uniform(-n - 2, height + n + 2, shape)
    off = np.stack([x, y], axis=-1)
    if far:
        flat = off.reshape(-1, 2)
        extremes = [(-0.5, -0.5), (width - 0.5, height - 0.5), (-1e6, 3.5), (2.5, 1e7),
                    (-1e20, 1e30), (width + 0.5, -(n // 2) - 0.999)]
        for i, pair in enumerate(extremes[: len(flat)]):
            flat[i] = pair
    return off


def assert_close(actual, expected, rtol=RTOL):
    """Elementwise, relative to the largest magnitude of the expected array."""
    expected = np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))


def assert_same_sums(actual, expected, backend):
    """Two reassemblies of the same terms: bitwise on every backend, whose
    sums all have the one fixed order of docs/semantics.md (the GPU gathers
    each pixel's terms in the CPU's order, without atomics)."""
    del backend  # the same on the CPU and the GPU
    np.testing.assert_array_equal(actual, expected)


BACKENDS = ["cpu", "auto"]


def inner(a, b):
    """<a, b> = sum(conj(a) * b) in complex128."""
    return np.vdot(np.asarray(a, np.complex128).ravel(), np.asarray(b, np.complex128).ravel())


# ----------------------------------------------------------------- oracle


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 4, 5, 8])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_matches_scatter_oracle(rng, dtype, offset_dtype, n, layout):
    height, width = 13, 19  # non-square on purpose
    b, c = 6, 4
    offsets = offsets_over(rng, (b, c), height, width, n).astype(offset_dtype)
    off32 = offsets.astype(np.float32)  # the library rounds each pair once
    if layout == "channel":
        patches = random_patches(rng, (b, n, n, c), dtype == np.complex64)
        expected, expected_w = reassemble_channel(patches, off32, height, width)
    else:
        patches = random_patches(rng, (b * c, n, n), dtype == np.complex64)
        expected, expected_w = reassemble_flat(patches, off32, height, width)
    result = ptychopatch.reassemble_patches(patches, offsets, (height, width), layout)
    assert isinstance(result, ptychopatch.Reassembly)
    canvas, weights = result
    assert canvas.shape == (height, width) and canvas.dtype == dtype
    assert weights.shape == (height, width) and weights.dtype == np.float32
    assert_close(canvas, expected)
    assert_close(weights, expected_w)
    assert np.count_nonzero(expected_w) > 0  # the test is not vacuous


def test_flat_accepts_pairs_and_groups_and_relates_to_channel(rng):
    height, width, n = 10, 12, 6
    offsets = offsets_over(rng, (5, 4), height, width, n)
    channel = random_patches(rng, (5, n, n, 4), True)
    flat = np.ascontiguousarray(channel.transpose(0, 3, 1, 2).reshape(20, n, n))
    ref = ptychopatch.reassemble_patches(channel, offsets, (height, width))
    for off in (offsets, offsets.reshape(-1, 2)):
        got = ptychopatch.reassemble_patches(flat, off, (height, width), layout="flat")
        assert_close(got.canvas, ref.canvas, rtol=1e-6)
        assert_close(got.weights, ref.weights, rtol=1e-6)


def test_integer_offsets_scatter_exact_crops():
    # Integer offsets put each patch back where extraction cut it: weight 1
    # on one pixel each, so sums of small integers are exact.
    n, height, width = 3, 6, 7
    patches = np.arange(2 * n * n, dtype=np.float32).reshape(2, n, n) + 1
    offsets = np.array([[1, 1], [6, 5]], dtype=np.float64)
    canvas, weights = ptychopatch.reassemble_patches(patches, offsets, (height, width), "flat")
    expected = np.zeros((height, width), np.float32)
    expected_w = np.zeros((height, width), np.float32)
    for p, (ox, oy) in enumerate(offsets.astype(int)):
        for y in range(n):
            for x in range(n):
                i, j = oy - n // 2 + y, ox - n // 2 + x
                if 0 <= i < height and 0 <= j < width:
                    expected[i, j] += patches[p, y, x]
                    expected_w[i, j] += 1
    np.testing.assert_array_equal(canvas, expected)
    np.testing.assert_array_equal(weights, expected_w)


# ------------------------------------------------------ adjoint identity


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 5, 8])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_dot_product_identity(rng, dtype, n, layout):
    """<extract(x), y> = <x, reassemble(y)> for random x, y."""
    height, width = 17, 23
    complex_ = dtype == np.complex64
    x = random_object(rng, height, width, complex_)
    offsets = offsets_over(rng, (8, 4), height, width, n)
    ex = ptychopatch.extract_patches(x, offsets, n, layout=layout)
    y = random_patches(rng, ex.shape, complex_)
    ry = ptychopatch.reassemble_patches(y, offsets, (height, width), layout).canvas
    lhs, rhs = inner(ex, y), inner(x, ry)
    # Relative to the natural scale of both sums (no cancellation in it).
    scale = np.sum(np.abs(ex.astype(np.complex128)) * np.abs(y))
    assert scale > 0
    assert abs(lhs - rhs) <= RTOL * scale, (lhs, rhs, scale)


def test_dot_product_identity_positive_data_plain_relative(rng):
    # With positive data there is no cancellation, so the plain relative
    # error of the two inner products is what is bounded.
    height, width, n = 20, 20, 7
    x = rng.uniform(0.5, 1, (height, width)).astype(np.float32)
    offsets = offsets_over(rng, (10, 4), height, width, n, far=False)
    ex = ptychopatch.extract_patches(x, offsets, n)
    y = rng.uniform(0.5, 1, ex.shape).astype(np.float32)
    ry = ptychopatch.reassemble_patches(y, offsets, (height, width)).canvas
    lhs = np.sum(ex.astype(np.float64) * y)
    rhs = np.sum(x.astype(np.float64) * ry)
    assert abs(lhs - rhs) <= RTOL * abs(lhs)


# ------------------------------------------------- weights and averaging


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_are_reassembly_of_ones(rng, dtype, backend):
    height, width, n = 15, 11, 6
    offsets = offsets_over(rng, (7, 4), height, width, n)
    patches = random_patches(rng, (7, n, n, 4), dtype == np.complex64)
    weights = ptychopatch.reassemble_patches(patches, offsets, (height, width),
                                             backend=backend).weights
    ones = ptychopatch.reassemble_patches(np.ones((7, n, n, 4), np.float32), offsets,
                                          (height, width), backend=backend)
    assert_same_sums(weights, ones.canvas, backend)
    assert_same_sums(ones.weights, ones.canvas, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_average_divides_where_covered_and_zeroes_elsewhere(rng, dtype, backend):
    height, width, n = 16, 18, 5
    offsets = offsets_over(rng, (6, 4), height, width, n, far=False)
    offsets[0, 0] = (-1e6, 0)  # one patch lands nowhere
    patches = random_patches(rng, (6, n, n, 4), dtype == np.complex64)
    summed, weights = ptychopatch.reassemble_patches(patches, offsets, (height, width),
                                                     backend=backend)
    averaged, weights_avg = ptychopatch.reassemble_patches(patches, offsets, (height, width),
                                                           average=True, backend=backend)
    assert_same_sums(weights_avg, weights, backend)
    covered = weights > 0
    assert covered.any() and (~covered).any()
    assert averaged.dtype == dtype
    expected = np.zeros_like(summed)
    expected[covered] = summed[covered] / weights[covered]
    assert_same_sums(averaged, expected, backend)
    assert np.all(averaged[~covered] == 0)


def test_average_recovers_the_object_where_covered(rng):
    """Integer-offset patches cut from x and averaged back give x exactly
    up to rounding (each pixel is k copies of itself divided by k)."""
    height, width, n = 12, 14, 4
    x = random_object(rng, height, width, True)
    centres = [(ox, oy) for ox in range(0, width + 1, 3) for oy in range(0, height + 1, 3)]
    offsets = np.array(centres, dtype=np.float64)
    patches = ptychopatch.extract_patches(x, offsets, n, layout="flat")
    canvas, weights = ptychopatch.reassemble_patches(patches, offsets, x.shape, "flat",
                                                     average=True)
    assert np.all(weights > 0)
    np.testing.assert_allclose(canvas, x, rtol=1e-6, atol=1e-6)


def test_return_weights_false(rng):
    offsets = offsets_over(rng, (3, 1), 8, 8, 3, far=False)
    patches = random_patches(rng, (3, 3, 3, 1), True)
    full = ptychopatch.reassemble_patches(patches, offsets, (8, 8))
    no_w = ptychopatch.reassemble_patches(patches, offsets, (8, 8), return_weights=False)
    assert no_w.weights is None
    np.testing.assert_array_equal(no_w.canvas, full.canvas)
    avg = ptychopatch.reassemble_patches(patches, offsets, (8, 8), average=True,
                                         return_weights=False)
    assert avg.weights is None
    np.testing.assert_array_equal(
        avg.canvas, ptychopatch.reassemble_patches(patches, offsets, (8, 8), average=True).canvas)


# ------------------------------------------------------------ input forms


@pytest.mark.parametrize(
    "source, expected",
    [(np.float64, np.float32), (np.int32, np.float32), (np.float16, np.float32),
     (np.complex128, np.complex64), (np.complex64, np.complex64)],
)
def test_canvas_dtype_follows_patch_kind(source, expected):
    patches = (np.arange(18).reshape(2, 3, 3, 1) / 7).astype(source)
    offsets = np.array([[[1, 1]], [[2, 3]]])
    canvas, weights = ptychopatch.reassemble_patches(patches, offsets, (5, 6))
    assert canvas.dtype == expected and weights.dtype == np.float32
    ref, _ = reassemble_channel(patches.astype(expected), offsets, 5, 6)
    assert_close(canvas, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_host_inputs(rng, backend):
    base = random_patches(rng, (4, 7, 7, 6), True)
    patches = base[:, ::-1, :, ::2]  # reversed and strided
    off_base = offsets_over(rng, (4, 6, 2), 10, 10, 7, far=False)
    offsets = off_base[:, :, 1, :][:, ::2]
    got = ptychopatch.reassemble_patches(patches, offsets, (10, 10), backend=backend)
    ref = ptychopatch.reassemble_patches(np.ascontiguousarray(patches),
                                         np.ascontiguousarray(offsets), (10, 10),
                                         backend=backend)
    assert_same_sums(got.canvas, ref.canvas, backend)


@pytest.mark.parametrize("shape_arg", [(9, 7), [9, 7], np.array([9, 7]),
                                       (np.int64(9), np.int32(7))])
def test_shape_forms(rng, shape_arg):
    patches = random_patches(rng, (2, 3, 3, 1), False)
    canvas, _ = ptychopatch.reassemble_patches(patches, np.ones((2, 1, 2)), shape_arg)
    assert canvas.shape == (9, 7)


def test_thread_counts_agree_bitwise(rng):
    height, width, n = 40, 40, 8
    offsets = offsets_over(rng, (32, 4), height, width, n)
    patches = random_patches(rng, (32, n, n, 4), True)
    one = ptychopatch.reassemble_patches(patches, offsets, (height, width), backend="cpu",
                                         num_threads=1)
    two = ptychopatch.reassemble_patches(patches, offsets, (height, width), backend="cpu",
                                         num_threads=2)
    np.testing.assert_array_equal(one.canvas, two.canvas)
    np.testing.assert_array_equal(one.weights, two.weights)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "patches_shape, offsets_shape, layout",
    [
        ((0, 5, 5, 4), (0, 4, 2), "channel"),
        ((3, 5, 5, 0), (3, 0, 2), "channel"),
        ((0, 5, 5), (0, 2), "flat"),
        ((0, 5, 5), (0, 4, 2), "flat"),
        ((0, 5, 5), (3, 0, 2), "flat"),
    ],
)
def test_empty_batch_gives_zero_canvases(dtype, patches_shape, offsets_shape, layout):
    canvas, weights = ptychopatch.reassemble_patches(
        np.zeros(patches_shape, dtype), np.zeros(offsets_shape), (4, 6), layout)
    assert canvas.shape == (4, 6) and canvas.dtype == dtype
    assert not canvas.any() and not weights.any()


def test_far_away_offsets_contribute_nothing(rng):
    patches = random_patches(rng, (4, 6, 6), True)
    offsets = np.array([[-1e6, 2.0], [3.0, 1e7], [-1e20, 1e30], [3.4e38, -3.4e38]])
    canvas, weights = ptychopatch.reassemble_patches(patches, offsets, (9, 9), "flat")
    assert not canvas.any() and not weights.any()


# ---------------------------------------------------------------- legacy


def test_legacy_offsets_round_once(rng):
    g64, l64 = 10 + 1 / 3, 1.6e-7
    assert np.float32(g64 + l64) != np.float32(g64) + np.float32(l64)
    g = np.full((2, 1, 2, 1), g64)
    loc = np.full((2, 1, 2, 4), l64)
    loc[1, 0, 1, 2] = 5.25
    pairs = ptychopatch.legacy_offsets(g, loc)
    assert pairs.shape == (2, 4, 2) and pairs.dtype == np.float32
    assert pairs.flags.c_contiguous
    assert pairs[0, 0, 0] == np.float32(g64 + l64)
    assert pairs[1, 2, 1] == np.float32(g64 + 5.25) and pairs[1, 2, 0] == np.float32(g64 + l64)
    # float32 inputs are summed in float32, as get_image_patches does.
    g32, l32 = g.astype(np.float32), loc.astype(np.float32)
    np.testing.assert_array_equal(ptychopatch.legacy_offsets(g32, l32)[:, :, 0],
                                  (g32 + l32)[:, 0, 0, :])


@pytest.mark.parametrize("gridsize", [1, 2, 3])
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
def test_legacy_form_is_adjoint_of_get_image_patches(rng, gridsize, offset_dtype):
    height, width, n, b = 19, 27, 6, 7
    c = gridsize * gridsize
    x = random_object(rng, height, width, True)
    centres = np.stack([rng.uniform(0, width, b), rng.uniform(0, height, b)], axis=-1)
    g = centres.reshape(b, 1, 2, 1).astype(offset_dtype)
    loc = rng.uniform(-4, 4, (b, 1, 2, c)).astype(offset_dtype)
    ex = ptychopatch.get_image_patches(x, g, loc, n, gridsize)
    # The same offsets through the pair form extract the same patches ...
    pairs = ptychopatch.legacy_offsets(g, loc)
    np.testing.assert_array_equal(ptychopatch.extract_patches(x, pairs, n), ex)
    # ... and reassembly with them is the adjoint.
    y = random_patches(rng, ex.shape, True)
    ry = ptychopatch.reassemble_patches(y, pairs, (height, width)).canvas
    scale = np.sum(np.abs(ex.astype(np.complex128)) * np.abs(y))
    assert abs(inner(ex, y) - inner(x, ry)) <= RTOL * scale


@pytest.mark.parametrize(
    "global_shape, local_shape, match",
    [
        ((2, 2, 1), (2, 1, 2, 4), "global_offsets"),
        ((2, 1, 2, 2), (2, 1, 2, 4), "global_offsets"),
        ((2, 1, 2, 1), (3, 1, 2, 4), "local_offsets"),
        ((2, 1, 2, 1), (2, 1, 4, 2), "local_offsets"),
        ((2, 1, 2, 1), (2, 2, 4), "local_offsets"),
    ],
)
def test_legacy_offsets_shape_validation(global_shape, local_shape, match):
    with pytest.raises(ValueError, match=match):
        ptychopatch.legacy_offsets(np.zeros(global_shape), np.zeros(local_shape))


def test_legacy_offsets_overflow_becomes_non_finite_error():
    pairs = ptychopatch.legacy_offsets(np.full((1, 1, 2, 1), 3e38), np.full((1, 1, 2, 1), 3e38))
    assert np.isinf(pairs).all()
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), pairs, (4, 4))
    assert info.value.status_name == "PTP_ERROR_NON_FINITE"


def test_legacy_offsets_type_errors():
    with pytest.raises(TypeError, match="local_offsets"):
        ptychopatch.legacy_offsets(np.zeros((1, 1, 2, 1)), np.zeros((1, 1, 2, 1), np.complex64))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
def test_non_finite_offset_raises(bad, offset_dtype):
    offsets = np.array([[[1.0, 2.0], [3.0, bad]]], dtype=offset_dtype)
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 2), np.complex64), offsets, (4, 4))
    assert info.value.status_name == "PTP_ERROR_NON_FINITE"
    assert "offsets" in info.value.message


@pytest.mark.parametrize("shape_arg, field", [((0, 4), r"shape\[0\] is 0"),
                                              ((4, 0), r"shape\[1\] is 0"),
                                              ((-3, 4), r"shape\[0\] is -3")])
def test_empty_canvas_raises(shape_arg, field):
    with pytest.raises(ptychopatch.PtychoPatchError, match=field) as info:
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2)), shape_arg)
    assert info.value.status_name == "PTP_ERROR_INVALID_SIZE"


def test_overflowing_canvas_raises_before_allocating():
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2)),
                                       (2**40, 2**40))
    assert info.value.status_name == "PTP_ERROR_SIZE_OVERFLOW"


def test_zero_patch_size_raises():
    with pytest.raises(ptychopatch.PtychoPatchError, match=r"patches\.shape\[1\] \(N\) is 0"):
        ptychopatch.reassemble_patches(np.ones((1, 0, 0, 1)), np.zeros((1, 1, 2)), (4, 4))


def test_gpu_backend_without_gpu_raises():
    if ptychopatch.cuda_device_count() > 0:
        pytest.skip("a CUDA device is usable here")
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2)), (4, 4),
                                       backend="gpu")
    assert info.value.status_name == "PTP_ERROR_BACKEND_UNAVAILABLE"


def test_gpu_backend_matches_cpu(rng):
    if ptychopatch.cuda_device_count() == 0:
        pytest.skip("no CUDA device usable by this build of the library")
    height, width, n = 30, 41, 9
    offsets = offsets_over(rng, (32, 4), height, width, n)
    patches = random_patches(rng, (32, n, n, 4), True)
    cpu = ptychopatch.reassemble_patches(patches, offsets, (height, width), backend="cpu")
    gpu = ptychopatch.reassemble_patches(patches, offsets, (height, width), backend="gpu")
    # Bitwise: both backends add each pixel's terms in the same order.
    np.testing.assert_array_equal(gpu.canvas.view(np.uint32), cpu.canvas.view(np.uint32))
    np.testing.assert_array_equal(gpu.weights.view(np.uint32), cpu.weights.view(np.uint32))


@pytest.mark.parametrize(
    "patches_shape, offsets_shape, layout, match",
    [
        ((2, 3, 3), (2, 1, 2), "channel", "patches"),
        ((2, 3, 4, 1), (2, 1, 2), "channel", "patches"),
        ((2, 3, 3, 1), (2, 2, 2), "channel", "offsets"),
        ((2, 3, 3, 1), (3, 1, 2), "channel", "offsets"),
        ((2, 3, 3, 1), (2, 2), "channel", "offsets"),
        ((2, 3, 3, 1), (2, 1, 3), "channel", "offsets"),
        ((2, 3, 3, 1), (2, 2), "flat", "patches"),
        ((2, 3, 4), (2, 2), "flat", "patches"),
        ((2, 3, 3), (3, 2), "flat", "offsets"),
        ((4, 3, 3), (2, 3, 2), "flat", "offsets"),
        ((2, 3, 3), (2,), "flat", "offsets"),
    ],
)
def test_bad_shapes_raise_value_error(patches_shape, offsets_shape, layout, match):
    with pytest.raises(ValueError, match=match):
        ptychopatch.reassemble_patches(np.ones(patches_shape), np.zeros(offsets_shape), (5, 5),
                                       layout)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"backend": "bogus"}, ValueError, "backend"),
        ({"backend": None}, ValueError, "backend"),
        ({"layout": "planar"}, ValueError, "layout"),
        ({"num_threads": -1}, ValueError, "num_threads"),
        ({"num_threads": 2**40}, ValueError, "num_threads"),
        ({"num_threads": 1.5}, ValueError, "num_threads"),
        ({"num_threads": "1"}, TypeError, "num_threads"),
        ({"shape": (5,)}, ValueError, "shape"),
        ({"shape": (5, 5, 2)}, ValueError, "shape"),
        ({"shape": (5, 5, 1, 1)}, ValueError, "shape"),
        ({"shape": 5}, ValueError, "shape"),
        ({"shape": "ab"}, TypeError, "shape"),
        ({"shape": (5.5, 5)}, ValueError, r"shape\[0\]"),
        ({"shape": ("5", 5)}, TypeError, r"shape\[0\]"),
        ({"shape": (5, 2**70)}, ValueError, r"shape\[1\]"),
    ],
)
def test_bad_python_arguments(kwargs, error, match):
    args = {"patches": np.ones((1, 3, 3, 1)), "offsets": np.zeros((1, 1, 2)), "shape": (5, 5)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ptychopatch.reassemble_patches(**args)


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="offsets"):
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2), np.complex64),
                                       (4, 4))
    with pytest.raises(TypeError, match="patches"):
        ptychopatch.reassemble_patches(np.full((1, 1, 1, 1), "a"), np.zeros((1, 1, 2)), (4, 4))


def test_keyword_only_options():
    with pytest.raises(TypeError):
        ptychopatch.reassemble_patches(np.ones((1, 3, 3, 1)), np.zeros((1, 1, 2)), (4, 4),
                                       "channel", True)


def test_no_patches_need_no_per_patch_memory():
    # Reassembling zero patches used to allocate O(N) scratch per thread
    # (1.3 GB for N = 2**24) and could fail with out-of-memory for a call
    # whose result is a zero canvas. Run under an address-space limit that
    # such scratch would exceed.
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent("""
        import resource
        import numpy as np
        import ptychopatch
        n = 2 ** 24
        patches = np.zeros((0, n, n), np.float32)
        offsets = np.zeros((0, 2))
        ptychopatch.reassemble_patches(patches, offsets, (4, 4), layout="flat", backend="cpu",
                                       num_threads=2)  # warm up threads and the library
        with open("/proc/self/status") as status:
            size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
        limit = size_kb * 1024 + 256 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        out = ptychopatch.reassemble_patches(patches, offsets, (4, 4), layout="flat",
                                             backend="cpu", num_threads=2)
        assert not out.canvas.any() and not out.weights.any()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
