"""out= on every function that returns a large array.

extract_patches, get_image_patches and grouped_patches take ``out`` for the
patches, reassemble_patches ``out`` for the canvas and ``weights_out`` for
the weights. For each: the values are bitwise those of a call without out=,
the very object passed comes back, every unsuitable out is refused before
the library is called with the documented exception and left untouched, a
failing library call leaves it untouched too, and a repeated call with out=
allocates (tracemalloc) a small fraction of the output's size on the same
cached context.

Device arrays: fakes (as in test_device_arrays.py) check the validation on
any machine; the emulated CUDA device (tests/emulation, in a child process,
skipped where that build is absent) runs device calls with out= end to end;
CuPy on a real GPU where there is one.
"""

import gc
import os
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import ptychopatch
from ptychopatch import _context
from spec_oracle import random_object
from test_device_arrays import BOGUS, FakeCAI, FakeCAIOnDevice, FakeDLPack

NO_GPU = ptychopatch.cuda_device_count() == 0
needs_no_gpu = pytest.mark.skipif(
    not NO_GPU, reason="checks the GPU-less outcome; a CUDA device is usable here")


def offsets_over(rng, shape, height, width, n):
    x = rng.uniform(-n - 2, width + n + 2, shape)
    y = rng.uniform(-n - 2, height + n + 2, shape)
    return np.stack([x, y], axis=-1)


def sentinel_like(shape, dtype):
    """An array of `shape` and `dtype` full of a value no call writes (NaN)."""
    return np.full(shape, np.nan, dtype=dtype)


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ------------------------------------------------------------ the functions


def _extract_case(rng, dtype=np.complex64, layout="channel", object_shape=(33, 41)):
    obj = random_object(rng, object_shape[0], object_shape[1], dtype == np.complex64)
    if len(object_shape) == 3:
        obj = obj.reshape(object_shape)
    offsets = offsets_over(rng, (6, 4, 2)[:2], object_shape[0], object_shape[1], 7)
    return obj, offsets


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("layout", ["channel", "flat"])
@pytest.mark.parametrize("object_shape", [(33, 41), (33, 41, 1)])
def test_extract_patches_out_is_bitwise_and_returned(rng, dtype, layout, object_shape):
    obj, offsets = _extract_case(rng, dtype, layout, object_shape)
    expected = ptychopatch.extract_patches(obj, offsets, 7, layout=layout)
    out = sentinel_like(expected.shape, dtype)
    for _ in range(2):  # and again into the same array
        result = ptychopatch.extract_patches(obj, offsets, 7, layout=layout, out=out)
        assert result is out
        assert same_bits(out, expected)


def test_extract_patches_out_of_a_real_input_dtype(rng):
    # Real input of another dtype is computed in float32: out is float32.
    obj = rng.uniform(-1, 1, (20, 20))  # float64
    offsets = rng.uniform(0, 20, (3, 4, 2)).astype(np.float32)
    expected = ptychopatch.extract_patches(obj, offsets, 5)
    out = sentinel_like(expected.shape, np.float32)
    assert ptychopatch.extract_patches(obj, offsets, 5, out=out) is out
    assert same_bits(out, expected)


def test_get_image_patches_out_is_bitwise_and_returned(rng):
    obj = random_object(rng, 30, 30, True)[:, :, None]
    g = rng.uniform(0, 30, (5, 1, 2, 1))
    loc = rng.uniform(-3, 3, (5, 1, 2, 9)).astype(np.float32)
    expected = ptychopatch.get_image_patches(obj, g, loc, 7, 3)
    out = sentinel_like(expected.shape, np.complex64)
    for _ in range(2):
        assert ptychopatch.get_image_patches(obj, g, loc, 7, 3, out=out) is out
        assert same_bits(out, expected)


@pytest.mark.parametrize("complex_", [True, False])
def test_grouped_patches_out_is_bitwise_and_returned(rng, complex_):
    obj = random_object(rng, 40, 40, complex_)
    x, y = rng.uniform(5, 35, 30), rng.uniform(5, 35, 30)
    expected = ptychopatch.grouped_patches(obj, x, y, 8, 12, K=6, gridsize=2, seed=5)
    out = sentinel_like(expected["Y"].shape, expected["Y"].dtype)
    for _ in range(2):
        result = ptychopatch.grouped_patches(obj, x, y, 8, 12, K=6, gridsize=2, seed=5, out=out)
        assert result["Y"] is out
        assert same_bits(out, expected["Y"])
        for key in ("nn_indices", "coords_nn", "coords_offsets", "coords_relative"):
            assert same_bits(result[key], expected[key])


def _reassemble_case(rng, dtype=np.complex64, layout="channel"):
    n, height, width = 8, 40, 33
    offsets = offsets_over(rng, (12, 4), height, width, n)
    shape = (12, n, n, 4) if layout == "channel" else (48, n, n)
    re = rng.uniform(-1, 1, shape).astype(np.float32)
    patches = re if dtype == np.float32 else (re + 1j * rng.uniform(-1, 1, shape)).astype(dtype)
    return patches, offsets, (height, width)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("layout", ["channel", "flat"])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("canvas_axes", [2, 3])
@pytest.mark.parametrize("which", ["out", "weights_out", "both"])
def test_reassemble_out_is_bitwise_and_returned(rng, dtype, layout, average, canvas_axes, which):
    patches, offsets, shape = _reassemble_case(rng, dtype, layout)
    shape = shape if canvas_axes == 2 else shape + (1,)
    expected = ptychopatch.reassemble_patches(patches, offsets, shape, layout, average=average,
                                              backend="cpu")
    # NaN everywhere: the library overwrites, it never adds to what is there.
    canvas = sentinel_like(shape, dtype) if which != "weights_out" else None
    weights = sentinel_like(shape, np.float32) if which != "out" else None
    for _ in range(2):
        result = ptychopatch.reassemble_patches(patches, offsets, shape, layout, average=average,
                                                backend="cpu", out=canvas, weights_out=weights)
        assert isinstance(result, ptychopatch.Reassembly)
        if canvas is not None:
            assert result.canvas is canvas
        if weights is not None:
            assert result.weights is weights
        assert same_bits(result.canvas, expected.canvas)
        assert same_bits(result.weights, expected.weights)


@pytest.mark.parametrize("average", [False, True])
def test_reassemble_out_without_weights(rng, average):
    patches, offsets, shape = _reassemble_case(rng)
    expected = ptychopatch.reassemble_patches(patches, offsets, shape, average=average,
                                              return_weights=False)
    canvas = sentinel_like(shape, np.complex64)
    result = ptychopatch.reassemble_patches(patches, offsets, shape, average=average,
                                            return_weights=False, out=canvas)
    assert result.canvas is canvas and result.weights is None
    assert same_bits(canvas, expected.canvas)


def test_no_patches_overwrite_out_with_zeros():
    canvas = sentinel_like((6, 7), np.float32)
    weights = sentinel_like((6, 7), np.float32)
    ptychopatch.reassemble_patches(np.zeros((0, 3, 3), np.float32), np.zeros((0, 2)), (6, 7),
                                   "flat", out=canvas, weights_out=weights)
    assert not canvas.any() and not weights.any()
    patches = sentinel_like((0, 3, 3, 4), np.complex64)
    out = ptychopatch.extract_patches(np.ones((5, 5), np.complex64), np.zeros((0, 4, 2)), 3,
                                      out=patches)
    assert out is patches and out.shape == (0, 3, 3, 4)


def test_out_is_keyword_only(rng):
    obj, offsets = _extract_case(rng)
    out = np.empty((6, 7, 7, 4), np.complex64)
    with pytest.raises(TypeError):
        ptychopatch.extract_patches(obj, offsets, 7, "channel", "auto", 0, out)


# ------------------------------------------------------------- bad out=


class _Calls:
    """Each function with host inputs, and the shape and dtype of its out."""

    def __init__(self, rng):
        self.obj = random_object(rng, 24, 26, True)
        self.offsets = offsets_over(rng, (4, 4), 24, 26, 5)
        self.g = rng.uniform(0, 24, (4, 1, 2, 1))
        self.loc = rng.uniform(-2, 2, (4, 1, 2, 4))
        self.x, self.y = rng.uniform(3, 20, 20), rng.uniform(3, 20, 20)
        self.patches = ptychopatch.extract_patches(self.obj, self.offsets, 5)

    def extract(self, out, **kw):
        return ptychopatch.extract_patches(self.obj, self.offsets, 5, out=out, **kw)

    def legacy(self, out, **kw):
        return ptychopatch.get_image_patches(self.obj, self.g, self.loc, 5, 2, out=out, **kw)

    def grouped(self, out, **kw):
        return ptychopatch.grouped_patches(self.obj, self.x, self.y, 5, 4, K=5, seed=1, out=out,
                                           **kw)

    def canvas(self, out, **kw):
        return ptychopatch.reassemble_patches(self.patches, self.offsets, (24, 26), out=out, **kw)

    def weights(self, out, **kw):
        return ptychopatch.reassemble_patches(self.patches, self.offsets, (24, 26),
                                              weights_out=out, **kw)

    SHAPES = {"extract": ((4, 5, 5, 4), np.complex64), "legacy": ((4, 5, 5, 4), np.complex64),
              "grouped": ((4, 5, 5, 4), np.complex64), "canvas": ((24, 26), np.complex64),
              "weights": ((24, 26), np.float32)}
    NAMES = {"extract": "out", "legacy": "out", "grouped": "out", "canvas": "out",
             "weights": "weights_out"}


FUNCTIONS = list(_Calls.SHAPES)


def _other_dtype(dtype):
    return np.complex128 if dtype == np.complex64 else np.float64


def _bad_outs(shape, dtype):
    """(label, out, exception, message pattern) for every kind of unsuitable out."""
    wrong_shape = shape[:-1] + (shape[-1] + 1,)
    read_only = sentinel_like(shape, dtype)
    read_only.flags.writeable = False
    fortran = np.asfortranarray(sentinel_like(shape, dtype))
    strided = sentinel_like(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]
    swapped = sentinel_like(shape, np.dtype(dtype).newbyteorder())
    return [
        ("shape", sentinel_like(wrong_shape, dtype), ValueError,
         f"must have shape .* = {re.escape(str(tuple(shape)))}, .*got "
         f"{re.escape(str(wrong_shape))}"),
        ("fewer axes", sentinel_like(shape[:-1], dtype), ValueError, "must have shape"),
        ("dtype", sentinel_like(shape, _other_dtype(dtype)), TypeError,
         f"must have dtype {np.dtype(dtype).name}.*got {np.dtype(_other_dtype(dtype)).name}"),
        ("byte order", swapped, TypeError, "native byte order"),
        ("fortran", fortran, ValueError, "C-contiguous"),
        ("strided", strided, ValueError, "C-contiguous"),
        ("read-only", read_only, ValueError, "read-only"),
        ("list", sentinel_like(shape, dtype).tolist(), TypeError, "numpy.ndarray .*got list"),
        ("device array", FakeCAI(shape, np.dtype(dtype).str), TypeError,
         "CUDA device array but the inputs are in host memory"),
    ]


BAD_OUTS = [label for label, *_ in _bad_outs((2, 3), np.float32)]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("bad", BAD_OUTS)
def test_bad_out_is_refused_and_left_untouched(rng, function, bad):
    calls = _Calls(rng)
    shape, dtype = _Calls.SHAPES[function]
    label, out, error, match = _bad_outs(shape, dtype)[BAD_OUTS.index(bad)]
    before = out.tobytes() if isinstance(out, np.ndarray) else repr(out)
    name = _Calls.NAMES[function]
    with pytest.raises(error, match=match) as info:
        getattr(calls, function)(out)
    assert str(info.value).startswith(name + " "), (label, str(info.value))
    after = out.tobytes() if isinstance(out, np.ndarray) else repr(out)
    assert after == before, label


def test_bad_out_messages_name_the_needed_shape_and_dtype(rng):
    calls = _Calls(rng)
    with pytest.raises(ValueError) as info:
        calls.extract(np.empty((4, 5, 5, 3), np.complex64))
    assert str(info.value).startswith(
        "out must have shape (B, N, N, c) = (4, 5, 5, 4), the shape of the result")
    with pytest.raises(ValueError, match=r"out must have shape \(P, N, N\) = \(16, 5, 5\)"):
        ptychopatch.extract_patches(calls.obj, calls.offsets, 5, layout="flat",
                                    out=np.empty((4, 5, 5, 4), np.complex64))
    with pytest.raises(ValueError, match=r"weights_out must have shape \(H, W, 1\) = "
                                         r"\(24, 26, 1\).*got \(24, 26\)"):
        ptychopatch.reassemble_patches(calls.patches, calls.offsets, (24, 26, 1),
                                       weights_out=np.empty((24, 26), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32 .*got complex64"):
        ptychopatch.extract_patches(calls.obj.real, calls.offsets, 5,
                                    out=np.empty((4, 5, 5, 4), np.complex64))


def test_out_overlapping_an_input_is_refused(rng):
    n, p = 4, 6
    # extract: out a view of the object.
    obj = random_object(rng, p * n, n, False)
    offsets = rng.uniform(0, 4, (p, 2))
    out = obj.reshape(p, n, n)
    before = obj.copy()
    with pytest.raises(ValueError, match="out shares memory with obj"):
        ptychopatch.extract_patches(obj, offsets, n, layout="flat", out=out)
    assert same_bits(obj, before)
    # ... or of the offsets (a float32 out over float32 offsets' bytes).
    buffer = np.zeros(p * n * n, np.float32)
    off32 = buffer[: p * 2].reshape(p, 2)
    with pytest.raises(ValueError, match="out shares memory with offsets"):
        ptychopatch.extract_patches(obj, off32, n, layout="flat", out=buffer.reshape(p, n, n))
    # get_image_patches: out over the image's memory.
    image = random_object(rng, n, 2 * n * 4, True)
    with pytest.raises(ValueError, match="out shares memory with gt_image"):
        ptychopatch.get_image_patches(image, np.zeros((2, 1, 2, 1)), np.zeros((2, 1, 2, 4)), n, 2,
                                      out=image.reshape(2, n, n, 4))
    # grouped_patches: out over the object.
    obj = random_object(rng, 4 * n, n * 4, False)
    x, y = rng.uniform(0, 10, 10), rng.uniform(0, 10, 10)
    with pytest.raises(ValueError, match="out shares memory with obj"):
        ptychopatch.grouped_patches(obj, x, y, n, 4, K=4, seed=1, out=obj.reshape(4, n, n, 4))
    # reassemble: canvas over the patches, weights over the canvas.
    patches = rng.uniform(-1, 1, (p, n, n)).astype(np.float32)
    before = patches.copy()
    with pytest.raises(ValueError, match="out shares memory with patches"):
        ptychopatch.reassemble_patches(patches, offsets, (n, n), "flat", out=patches[0])
    canvas = np.zeros((n, n), np.float32)
    with pytest.raises(ValueError, match="out and weights_out share memory"):
        ptychopatch.reassemble_patches(patches, offsets, (n, n), "flat", out=canvas,
                                       weights_out=canvas)
    assert same_bits(patches, before)
    # A separate part of the same buffer is fine.
    buffer = np.zeros(2 * n * n, np.float32)
    ptychopatch.reassemble_patches(patches, offsets, (n, n), "flat", out=buffer[: n * n]
                                   .reshape(n, n), weights_out=buffer[n * n:].reshape(n, n))


def test_weights_out_needs_return_weights(rng):
    calls = _Calls(rng)
    weights = sentinel_like((24, 26), np.float32)
    with pytest.raises(ValueError, match="weights_out was given with return_weights=False"):
        calls.weights(weights, return_weights=False)
    assert np.isnan(weights).all()


def test_library_errors_leave_out_untouched(rng):
    calls = _Calls(rng)
    bad_offsets = calls.offsets.copy()
    bad_offsets[2, 1, 0] = np.nan
    out = sentinel_like((4, 5, 5, 4), np.complex64)
    with pytest.raises(ptychopatch.PtychoPatchError, match="NON_FINITE|finite"):
        ptychopatch.extract_patches(calls.obj, bad_offsets, 5, out=out)
    assert np.isnan(out).all()
    bad_g = calls.g.copy()
    bad_g[1, 0, 0, 0] = np.inf
    with pytest.raises(ptychopatch.PtychoPatchError):
        ptychopatch.get_image_patches(calls.obj, bad_g, calls.loc, 5, 2, out=out)
    assert np.isnan(out).all()
    many = sentinel_like((25, 5, 5, 4), np.complex64)  # 25 groups of 20 positions
    with pytest.raises(ptychopatch.PtychoPatchError, match="oversample"):
        ptychopatch.grouped_patches(calls.obj, calls.x, calls.y, 5, 25, K=5, seed=1, out=many)
    assert np.isnan(many).all()
    canvas, weights = sentinel_like((24, 26), np.complex64), sentinel_like((24, 26), np.float32)
    with pytest.raises(ptychopatch.PtychoPatchError):
        ptychopatch.reassemble_patches(calls.patches, bad_offsets, (24, 26), out=canvas,
                                       weights_out=weights, average=True)
    assert np.isnan(canvas).all() and np.isnan(weights).all()


def test_sizes_the_library_rejects_are_its_errors(rng):
    """N < 1, H < 1, nsamples too big: the library's error, not a shape error
    about out (and nothing written)."""
    calls = _Calls(rng)
    out = sentinel_like((4, 5, 5, 4), np.complex64)
    with pytest.raises(ptychopatch.PtychoPatchError, match="N is 0"):
        ptychopatch.extract_patches(calls.obj, calls.offsets, 0, out=out)
    with pytest.raises(ptychopatch.PtychoPatchError, match="N is 0"):
        ptychopatch.get_image_patches(calls.obj, calls.g, calls.loc, 0, 2, out=out)
    with pytest.raises(ptychopatch.PtychoPatchError, match="N is 0"):
        ptychopatch.grouped_patches(calls.obj, calls.x, calls.y, 0, 4, K=5, seed=1, out=out)
    with pytest.raises(ptychopatch.PtychoPatchError, match="nsamples"):
        ptychopatch.grouped_patches(calls.obj, calls.x, calls.y, 5, -1, K=5, seed=1, out=out)
    with pytest.raises(ptychopatch.PtychoPatchError, match="gridsize"):
        ptychopatch.grouped_patches(calls.obj, calls.x, calls.y, 5, 4, K=5, gridsize=0, seed=1,
                                    out=out)
    with pytest.raises(ptychopatch.PtychoPatchError, match=r"shape\[0\] is 0"):
        ptychopatch.reassemble_patches(calls.patches, calls.offsets, (0, 26),
                                       out=sentinel_like((0, 26), np.complex64))
    assert np.isnan(out).all()


# ------------------------------------------- no new large arrays, same context


def _peak_traced(call):
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _allocation_cases(rng):
    obj = random_object(rng, 256, 256, True)
    offsets = rng.uniform(0, 256, (64, 4, 2))
    g = rng.uniform(0, 256, (64, 1, 2, 1))
    loc = rng.uniform(-4, 4, (64, 1, 2, 4))
    x, y = rng.uniform(0, 256, 200), rng.uniform(0, 256, 200)
    cases = {
        "extract_patches": (lambda out: ptychopatch.extract_patches(obj, offsets, 64, out=out),
                            np.empty((64, 64, 64, 4), np.complex64)),
        "get_image_patches": (lambda out: ptychopatch.get_image_patches(obj, g, loc, 64, 2,
                                                                        out=out),
                              np.empty((64, 64, 64, 4), np.complex64)),
        "grouped_patches": (lambda out: ptychopatch.grouped_patches(obj, x, y, 64, 64, K=6,
                                                                    seed=3, out=out),
                            np.empty((64, 64, 64, 4), np.complex64)),
    }
    big = (1024, 1024)
    canvas, weights = np.empty(big, np.complex64), np.empty(big, np.float32)
    big_offsets = rng.uniform(0, 1024, (64, 4, 2))
    small = np.ones((64, 8, 8, 4), np.complex64)
    for average in (False, True):
        cases[f"reassemble_patches average={average}"] = (
            lambda out, average=average: ptychopatch.reassemble_patches(
                small, big_offsets, big, average=average, out=out, weights_out=weights),
            canvas)
    return cases


@pytest.mark.parametrize("case", ["extract_patches", "get_image_patches", "grouped_patches",
                                  "reassemble_patches average=False",
                                  "reassemble_patches average=True"])
def test_repeated_calls_with_out_allocate_no_large_arrays(rng, case):
    call, out = _allocation_cases(rng)[case]
    call(out)  # the first call may create this thread's context
    contexts = dict(getattr(_context._local, "contexts", {}))
    with_out = _peak_traced(lambda: call(out))
    without = _peak_traced(lambda: call(None))
    # Without out= a result of the output's size is allocated; with it,
    # only small bookkeeping (the grouping's index arrays, masks in blocks).
    assert without >= out.nbytes, (without, out.nbytes)
    assert with_out < out.nbytes / 20, (with_out, out.nbytes)
    # ... on the same cached context: none created, none replaced.
    after = getattr(_context._local, "contexts", {})
    assert all(after[key] is ctx for key, ctx in contexts.items()) and len(after) == len(contexts)


# ------------------------------------------------- device arrays, faked


def _fake_inputs():
    obj, off = FakeCAI((8, 9), "<c8"), FakeCAI((2, 4, 2), "<f8", ptr=BOGUS + 4096)
    return obj, off


def _read_only_cai(shape, typestr, ptr):
    fake = FakeCAI(shape, typestr, ptr=ptr)
    fake.__cuda_array_interface__["data"] = (ptr, True)
    return fake


DEVICE_MISUSE = [
    (lambda: np.empty((2, 3, 3, 4), np.complex64), TypeError,
     "out is in host memory .*numpy.ndarray.* but the inputs are CUDA device arrays on device 0"),
    (lambda: FakeCAIOnDevice(1, (2, 3, 3, 4), "<c8", ptr=BOGUS + 8192), ValueError,
     "out is on CUDA device 1 but the inputs are on device 0"),
    (lambda: FakeCAI((2, 3, 3, 5), "<c8", ptr=BOGUS + 8192), ValueError,
     r"out must have shape \(B, N, N, c\) = \(2, 3, 3, 4\)"),
    (lambda: FakeCAI((2, 3, 3, 4), "<f4", ptr=BOGUS + 8192), TypeError,
     "out must have dtype complex64"),
    (lambda: FakeCAI((2, 3, 3, 4), ">c8", ptr=BOGUS + 8192), TypeError, "byte order"),
    (lambda: FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 8192, strides=(288, 96, 32, 8 * 2)),
     ValueError, "out is a non-contiguous device array"),
    (lambda: _read_only_cai((2, 3, 3, 4), "<c8", BOGUS + 8192), ValueError,
     "out is a read-only device array"),
    (lambda: FakeCAI((2, 3, 3, 4), "<c8"), ValueError, "out shares memory with obj"),
    (lambda: FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 4096 + 64), ValueError,
     "out shares memory with offsets"),
    (lambda: FakeDLPack((2, 3, 3, 4), (5, 64), device=1, ptr=BOGUS + 8192), ValueError,
     "out is on CUDA device 1"),
]


@pytest.mark.parametrize("case", range(len(DEVICE_MISUSE)))
def test_device_out_misuse_is_refused_before_the_library(case):
    make, error, match = DEVICE_MISUSE[case]
    obj, off = _fake_inputs()
    with pytest.raises(error, match=match):
        ptychopatch.extract_patches(obj, off, 3, out=make())


def test_device_out_misuse_of_get_image_patches():
    image = FakeCAI((8, 9), "<c8")
    g = FakeCAI((2, 1, 2, 1), "<f8", ptr=BOGUS + 4096)
    loc = FakeCAI((2, 1, 2, 4), "<f8", ptr=BOGUS + 4096 + 32)
    for out, error, match in [
        (np.empty((2, 3, 3, 4), np.complex64), TypeError, "out is in host memory"),
        (FakeCAI((2, 3, 3, 1), "<c8", ptr=BOGUS + 8192), ValueError,
         r"out must have shape \(B, N, N, gridsize\*\*2\) = \(2, 3, 3, 4\)"),
        (FakeCAI((2, 3, 3, 4), "<f8", ptr=BOGUS + 8192), TypeError, "dtype complex64"),
        (FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 4096 - 8), ValueError,
         "out shares memory with global_offsets"),
        (FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 4096 + 40), ValueError,
         "out shares memory with local_offsets"),
    ]:
        with pytest.raises(error, match=match):
            ptychopatch.get_image_patches(image, g, loc, 3, 2, out=out)


def test_device_out_misuse_of_reassemble_patches():
    patches = FakeCAI((2, 3, 3, 4), "<f4")
    off = FakeCAI((2, 4, 2), "<f4", ptr=BOGUS + 4096)
    canvas = FakeCAI((8, 9), "<f4", ptr=BOGUS + 8192)
    with pytest.raises(TypeError, match="out is in host memory"):
        ptychopatch.reassemble_patches(patches, off, (8, 9), out=np.empty((8, 9), np.float32))
    with pytest.raises(ValueError, match=r"weights_out must have shape \(H, W\) = \(8, 9\)"):
        ptychopatch.reassemble_patches(patches, off, (8, 9), out=canvas,
                                       weights_out=FakeCAI((9, 8), "<f4", ptr=BOGUS + 16384))
    with pytest.raises(ValueError, match="out and weights_out share memory"):
        ptychopatch.reassemble_patches(patches, off, (8, 9), out=canvas,
                                       weights_out=FakeCAI((8, 9), "<f4", ptr=BOGUS + 8192 + 4))
    with pytest.raises(ValueError, match="weights_out shares memory with patches"):
        ptychopatch.reassemble_patches(patches, off, (8, 9),
                                       weights_out=FakeCAI((8, 9), "<f4", ptr=BOGUS + 8))
    # average=True divides with CuPy or PyTorch: other outputs are refused
    # before the library writes them.
    with pytest.raises(TypeError, match="average=True divides"):
        ptychopatch.reassemble_patches(patches, off, (8, 9), average=True, out=canvas,
                                       weights_out=FakeCAI((8, 9), "<f4", ptr=BOGUS + 16384))


def test_host_inputs_refuse_device_outs_of_every_function(rng):
    calls = _Calls(rng)
    for function in FUNCTIONS:
        shape, dtype = _Calls.SHAPES[function]
        with pytest.raises(TypeError, match="CUDA device array but the inputs are in host"):
            getattr(calls, function)(FakeDLPack(shape, (5, 64) if dtype == np.complex64
                                                else (2, 32)))


@needs_no_gpu
def test_good_device_out_reaches_the_library_without_a_gpu():
    obj, off = _fake_inputs()
    for out in (FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 8192),
                FakeDLPack((2, 3, 3, 4), (5, 64), ptr=BOGUS + 8192)):
        with pytest.raises(ptychopatch.PtychoPatchError, match="BACKEND_UNAVAILABLE"):
            ptychopatch.extract_patches(obj, off, 3, out=out)
    with pytest.raises(ValueError, match='backend="cpu"'):
        ptychopatch.extract_patches(obj, off, 3, backend="cpu",
                                    out=FakeCAI((2, 3, 3, 4), "<c8", ptr=BOGUS + 8192))


# ------------------------------------- device arrays on the emulated GPU

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))
_EMULATION = os.environ.get("PTYCHOPATCH_EMULATION_DIR",
                            os.path.join(_REPO, "build", "tests", "emulation"))
_EMULATED_LIBRARY = os.path.join(_EMULATION, "libptychopatch_emulated.so")
_EMULATOR = os.path.join(_EMULATION, "libptychopatch_cuda_emulator.so")

_EMULATED_SCRIPT = """
import ctypes
emulator = ctypes.CDLL(%(emulator)r)
import numpy as np
import ptychopatch
from spec_oracle import random_object

emulator.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
emulator.cudaMalloc.restype = ctypes.c_int
emulator.ptp_emu_device_allocations.restype = ctypes.c_size_t


class Device:
    # Memory of the emulated device (host-addressable there), as an array
    # of no known library exposing the CUDA Array Interface.
    def __init__(self, shape, dtype, readonly=False):
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        nbytes = max(count * dtype.itemsize, 1)
        ptr = ctypes.c_void_p()
        assert emulator.cudaMalloc(ctypes.byref(ptr), nbytes) == 0
        buffer = (ctypes.c_char * nbytes).from_address(ptr.value)
        self.host = np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": dtype.str,
                                         "data": (ptr.value, readonly), "version": 3}

    @classmethod
    def of(cls, array):
        device = cls(array.shape, array.dtype)
        device.host[...] = array
        return device


assert ptychopatch.backend_info().backend == "gpu"
rng = np.random.default_rng(11)
obj = random_object(rng, 30, 31, True)
offsets = rng.uniform(-4, 34, (5, 4, 2))
d_obj, d_off = Device.of(obj), Device.of(offsets)

# extract_patches: bitwise the host result, into the caller's array.
host = ptychopatch.extract_patches(obj, offsets, 7, backend="cpu")
out = Device(host.shape, np.complex64)
out.host[...] = np.nan
assert ptychopatch.extract_patches(d_obj, d_off, 7, out=out) is out
assert out.host.tobytes() == host.tobytes()
# Repeated calls: the same cached GPU context, no device allocation.
allocations = emulator.ptp_emu_device_allocations()
for _ in range(3):
    out.host[...] = np.nan
    assert ptychopatch.extract_patches(d_obj, d_off, 7, out=out) is out
    assert out.host.tobytes() == host.tobytes()
grown = emulator.ptp_emu_device_allocations() - allocations
print("extract ok, device allocations per repeated call:", grown / 3)

# get_image_patches.
g = rng.uniform(0, 30, (5, 1, 2, 1)).astype(np.float32)
loc = rng.uniform(-3, 3, (5, 1, 2, 4)).astype(np.float32)
host = ptychopatch.get_image_patches(obj, g, loc, 7, 2, backend="cpu")
out.host[...] = np.nan
assert ptychopatch.get_image_patches(d_obj, Device.of(g), Device.of(loc), 7, 2, out=out) is out
assert out.host.tobytes() == host.tobytes()
print("get_image_patches ok")

# reassemble_patches: canvas and weights into the caller's arrays (atomics:
# another summation order than the CPU's, so compared to 1e-5).
expected = ptychopatch.reassemble_patches(host, offsets, (30, 31), backend="cpu")
canvas, weights = Device((30, 31), np.complex64), Device((30, 31), np.float32)
canvas.host[...] = np.nan
weights.host[...] = np.nan
result = ptychopatch.reassemble_patches(Device.of(host), d_off, (30, 31), out=canvas,
                                        weights_out=weights)
assert result.canvas is canvas and result.weights is weights
np.testing.assert_allclose(canvas.host, expected.canvas, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(weights.host, expected.weights, rtol=1e-5, atol=1e-6)
print("reassemble ok")

# A failing call writes nothing; a read-only out is refused.
bad = offsets.copy()
bad[1, 2, 0] = np.nan
out.host[...] = np.nan
try:
    ptychopatch.extract_patches(d_obj, Device.of(bad), 7, out=out)
except ptychopatch.PtychoPatchError as exc:
    print("refused:", exc.status_name)
assert np.isnan(out.host).all()
try:
    ptychopatch.extract_patches(d_obj, d_off, 7, out=Device(host.shape, np.complex64, True))
except ValueError as exc:
    print("refused:", exc)

# Deferred checks: the call returns, writes nothing, synchronize raises once.
d_bad = Device.of(bad)
with ptychopatch.deferred_checks():
    assert ptychopatch.extract_patches(d_obj, d_bad, 7, out=out) is out
    assert ptychopatch.extract_patches(d_obj, d_bad, 7, out=out) is out
assert np.isnan(out.host).all()
try:
    ptychopatch.synchronize(d_obj)
except ptychopatch.PtychoPatchError as exc:
    print("deferred:", exc.status_name, "2 calls" in str(exc), "patch 6 " in str(exc))
ptychopatch.synchronize(d_obj)  # reported once
with ptychopatch.deferred_checks():
    ptychopatch.extract_patches(d_obj, d_off, 7, out=out)
ptychopatch.synchronize(d_obj)
assert out.host.tobytes() == ptychopatch.extract_patches(obj, offsets, 7, backend="cpu").tobytes()
canvas.host[...] = np.nan
with ptychopatch.deferred_checks():
    ptychopatch.reassemble_patches(Device.of(host), d_bad, (30, 31), out=canvas,
                                   weights_out=weights)
assert np.isnan(canvas.host).all()
try:
    ptychopatch.synchronize(d_obj)
except ptychopatch.PtychoPatchError as exc:
    print("deferred reassembly:", exc.status_name, "a reassembly" in str(exc))
try:
    ptychopatch.synchronize(np.zeros(3))
except TypeError as exc:
    print("refused:", exc)
print("done")
"""


def test_device_out_end_to_end_on_the_emulated_gpu():
    if not (os.path.exists(_EMULATED_LIBRARY) and os.path.exists(_EMULATOR)):
        pytest.skip(f"no emulated-device build at {_EMULATION} (run the ctest build first)")
    env = dict(os.environ, PTYCHOPATCH_LIBRARY=_EMULATED_LIBRARY,
               LD_PRELOAD=f"{_EMULATOR} {_EMULATED_LIBRARY}",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    script = _EMULATED_SCRIPT % {"emulator": _EMULATOR}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "extract ok, device allocations per repeated call: 0.0" in lines, done.stdout
    assert "get_image_patches ok" in lines and "reassemble ok" in lines
    assert "refused: PTP_ERROR_NON_FINITE" in lines, done.stdout
    assert "refused: out is a read-only device array" in lines, done.stdout
    assert "deferred: PTP_ERROR_NON_FINITE True True" in lines, done.stdout
    assert "deferred reassembly: PTP_ERROR_NON_FINITE True" in lines, done.stdout
    assert any(line.startswith("refused: synchronize takes a CUDA device array")
               for line in lines), done.stdout
    assert lines[-1] == "done"


# ----------------------------------------------------- CuPy on a real GPU


@pytest.fixture
def cp():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        pytest.skip(f"CuPy sees no CUDA device ({exc})")
    if count == 0 or NO_GPU:
        pytest.skip("no CUDA device usable by CuPy and libptychopatch")
    return cupy


def test_cupy_out_matches_a_fresh_result(cp, rng):
    obj, offsets = _extract_case(rng)
    d_obj, d_off = cp.asarray(obj), cp.asarray(offsets)
    fresh = ptychopatch.extract_patches(d_obj, d_off, 7)
    out = cp.full(fresh.shape, cp.nan, dtype=cp.complex64)
    assert ptychopatch.extract_patches(d_obj, d_off, 7, out=out) is out
    assert cp.asnumpy(out).tobytes() == cp.asnumpy(fresh).tobytes()
    patches = cp.asarray(ptychopatch.extract_patches(obj, offsets, 7))
    canvas = cp.full(obj.shape, cp.nan, dtype=cp.complex64)
    weights = cp.full(obj.shape, cp.nan, dtype=cp.float32)
    result = ptychopatch.reassemble_patches(patches, d_off, obj.shape, average=True, out=canvas,
                                            weights_out=weights)
    assert result.canvas is canvas and result.weights is weights
    expected = ptychopatch.reassemble_patches(patches, d_off, obj.shape, average=True)
    np.testing.assert_allclose(cp.asnumpy(canvas), cp.asnumpy(expected.canvas), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(TypeError, match="out is in host memory"):
        ptychopatch.extract_patches(d_obj, d_off, 7, out=np.empty(fresh.shape, np.complex64))
