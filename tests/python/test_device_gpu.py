"""Real device arrays (CuPy, PyTorch) against the host path.

Skipped, with the reason, where CuPy / PyTorch is not installed, where it
sees no CUDA device, or where this build of libptychopatch has no usable GPU.
Extraction and reassembly must match the host path bit for bit (the GPU
reassembly sums each pixel's terms in the CPU's order). Averaged canvases
are divided by the array library on the device, so they are compared to
1e-6 of the largest value.
"""

import numpy as np
import pytest

import ptychopatch
from spec_oracle import random_object


def _library_gpu_or_skip():
    if ptychopatch.cuda_device_count() == 0:
        pytest.skip(f"libptychopatch {ptychopatch.version()} has no usable CUDA device here")


@pytest.fixture
def cp():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        pytest.skip(f"CuPy sees no CUDA device ({exc})")
    if count == 0:
        pytest.skip("CuPy sees no CUDA device")
    _library_gpu_or_skip()
    return cupy


@pytest.fixture
def torch():
    module = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not module.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    _library_gpu_or_skip()
    return module


def offsets_over(rng, shape, height, width, n):
    x = rng.uniform(-n - 2, width + n + 2, shape)
    y = rng.uniform(-n - 2, height + n + 2, shape)
    return np.stack([x, y], axis=-1)


def random_patches(rng, shape, complex_):
    re = rng.uniform(-1, 1, shape).astype(np.float32)
    if not complex_:
        return re
    return (re + 1j * rng.uniform(-1, 1, shape)).astype(np.complex64)


def assert_close(actual, expected, rtol=1e-5):
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-30))


# ------------------------------------------------------------------- CuPy


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("offset_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_cupy_extract_matches_host_bitwise(cp, rng, dtype, offset_dtype, layout):
    obj = random_object(rng, 37, 45, dtype == np.complex64)
    offsets = offsets_over(rng, (16, 4), 37, 45, 9).astype(offset_dtype)
    host = ptychopatch.extract_patches(obj, offsets, 9, layout=layout, backend="cpu")
    out = ptychopatch.extract_patches(cp.asarray(obj), cp.asarray(offsets), 9, layout=layout)
    assert isinstance(out, cp.ndarray) and out.device.id == cp.cuda.Device().id
    assert out.dtype == dtype and out.shape == host.shape
    np.testing.assert_array_equal(cp.asnumpy(out), host)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("layout", ["channel", "flat"])
@pytest.mark.parametrize("average", [False, True])
def test_cupy_reassemble_matches_host(cp, rng, dtype, layout, average):
    n, height, width = 8, 40, 33
    offsets = offsets_over(rng, (24, 4), height, width, n)
    shape = (24, n, n, 4) if layout == "channel" else (96, n, n)
    patches = random_patches(rng, shape, dtype == np.complex64)
    host = ptychopatch.reassemble_patches(patches, offsets, (height, width), layout,
                                          average=average, backend="cpu")
    dev = ptychopatch.reassemble_patches(cp.asarray(patches), cp.asarray(offsets),
                                         (height, width), layout, average=average)
    assert isinstance(dev.canvas, cp.ndarray) and isinstance(dev.weights, cp.ndarray)
    assert dev.canvas.dtype == dtype and dev.weights.dtype == np.float32
    np.testing.assert_array_equal(cp.asnumpy(dev.weights), host.weights)
    if average:
        assert_close(cp.asnumpy(dev.canvas), host.canvas, rtol=1e-6)
    else:
        np.testing.assert_array_equal(cp.asnumpy(dev.canvas), host.canvas)


def test_cupy_on_a_non_default_stream(cp, rng):
    obj = random_object(rng, 64, 64, True)
    offsets = offsets_over(rng, (64, 4), 64, 64, 16)
    host = ptychopatch.extract_patches(obj, offsets, 16, backend="cpu")
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        d_obj, d_off = cp.asarray(obj), cp.asarray(offsets)
        out = ptychopatch.extract_patches(d_obj, d_off, 16)
        canvas = ptychopatch.reassemble_patches(out, d_off, obj.shape).canvas
    stream.synchronize()
    np.testing.assert_array_equal(cp.asnumpy(out), host)
    np.testing.assert_array_equal(
        cp.asnumpy(canvas),
        ptychopatch.reassemble_patches(host, offsets, obj.shape, backend="cpu").canvas)


def test_cupy_calls_captured_in_a_cuda_graph(cp, rng):
    """Extraction and reassembly inside ``deferred_checks`` are graph-capturable.

    Captured once on a non-default stream, replayed with new offsets written
    into the captured offset array: each replay must give the host path's
    result for the offsets it found (a capture that kept a host copy of the
    first offsets, allocated or waited would fail here or at capture).
    """
    n, side = 12, 48
    obj = random_object(rng, side, side, True)
    offsets = [offsets_over(rng, (32, 4), side, side, n) for _ in range(2)]
    d_obj, d_off = cp.asarray(obj), cp.asarray(offsets[0])
    out = cp.empty((32, n, n, 4), cp.complex64)
    canvas = cp.empty((side, side), cp.complex64)
    weights = cp.empty((side, side), cp.float32)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream, ptychopatch.deferred_checks():
        ptychopatch.extract_patches(d_obj, d_off, n, out=out)  # warm-up, outside the capture
        ptychopatch.reassemble_patches(out, d_off, (side, side), out=canvas, weights_out=weights)
        stream.synchronize()
        stream.begin_capture()
        ptychopatch.extract_patches(d_obj, d_off, n, out=out)
        ptychopatch.reassemble_patches(out, d_off, (side, side), out=canvas, weights_out=weights)
        graph = stream.end_capture()
    for off in offsets:
        d_off.set(off)
        graph.launch(stream)
        stream.synchronize()
        host = ptychopatch.extract_patches(obj, off, n, backend="cpu")
        ref = ptychopatch.reassemble_patches(host, off, (side, side), backend="cpu")
        np.testing.assert_array_equal(cp.asnumpy(out), host)
        np.testing.assert_array_equal(cp.asnumpy(canvas), ref.canvas)
        np.testing.assert_array_equal(cp.asnumpy(weights), ref.weights)
    ptychopatch.synchronize(out)  # no deferred rejection to report


def test_cupy_get_image_patches(cp, rng):
    obj = random_object(rng, 30, 30, True)
    g = rng.uniform(0, 30, (5, 1, 2, 1))
    loc = rng.uniform(-3, 3, (5, 1, 2, 4))
    host = ptychopatch.get_image_patches(obj, g, loc, 7, 2, backend="cpu")
    out = ptychopatch.get_image_patches(cp.asarray(obj), cp.asarray(g), cp.asarray(loc), 7, 2)
    np.testing.assert_array_equal(cp.asnumpy(out), host)


def test_cupy_misuse(cp):
    obj = cp.zeros((16, 16), cp.complex64)
    with pytest.raises(ValueError, match="non-contiguous"):
        ptychopatch.extract_patches(obj[:, ::2], cp.zeros((1, 1, 2)), 3)
    with pytest.raises(TypeError, match="cannot be mixed"):
        ptychopatch.extract_patches(obj, np.zeros((1, 1, 2)), 3)
    with pytest.raises(TypeError, match="complex64 or float32"):
        ptychopatch.extract_patches(obj.astype(cp.complex128), cp.zeros((1, 1, 2)), 3)
    with pytest.raises(ptychopatch.PtychoPatchError, match="NON_FINITE"):
        ptychopatch.extract_patches(obj, cp.full((1, 1, 2), cp.nan), 3)


def test_dlpack_only_wrapper_of_a_cupy_array(cp, rng):
    class DLPackOnly:
        def __init__(self, array):
            self._array = array

        def __dlpack__(self, stream=None):
            return self._array.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return self._array.__dlpack_device__()

    obj = random_object(rng, 20, 20, True)
    offsets = offsets_over(rng, (4, 4), 20, 20, 5)
    host = ptychopatch.extract_patches(obj, offsets, 5, backend="cpu")
    out = ptychopatch.extract_patches(DLPackOnly(cp.asarray(obj)), DLPackOnly(cp.asarray(offsets)),
                                      5)
    cp.cuda.Device().synchronize()
    assert isinstance(out, cp.ndarray)  # unknown producer: CuPy allocates
    np.testing.assert_array_equal(cp.asnumpy(out), host)


# ---------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_torch_extract_and_reassemble_match_host(torch, rng, dtype, layout):
    n, height, width = 7, 29, 31
    obj = random_object(rng, height, width, dtype == np.complex64)
    offsets = offsets_over(rng, (12, 4), height, width, n).astype(np.float32)
    device = torch.device("cuda", torch.cuda.current_device())
    t_obj = torch.from_numpy(obj).to(device)
    t_off = torch.from_numpy(offsets).to(device)
    out = ptychopatch.extract_patches(t_obj, t_off, n, layout=layout)
    host = ptychopatch.extract_patches(obj, offsets, n, layout=layout, backend="cpu")
    assert isinstance(out, torch.Tensor) and out.device == device
    np.testing.assert_array_equal(out.cpu().numpy(), host)

    rec = ptychopatch.reassemble_patches(out, t_off, (height, width), layout, average=True)
    ref = ptychopatch.reassemble_patches(host, offsets, (height, width), layout, average=True,
                                         backend="cpu")
    np.testing.assert_array_equal(rec.weights.cpu().numpy(), ref.weights)
    assert_close(rec.canvas.cpu().numpy(), ref.canvas, rtol=1e-6)  # averaged by PyTorch


def test_torch_on_a_side_stream(torch, rng):
    obj = random_object(rng, 48, 48, True)
    offsets = offsets_over(rng, (32, 4), 48, 48, 12)
    host = ptychopatch.extract_patches(obj, offsets, 12, backend="cpu")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        t_obj = torch.from_numpy(obj).cuda()
        t_off = torch.from_numpy(offsets).cuda()
        out = ptychopatch.extract_patches(t_obj, t_off, 12)
    stream.synchronize()
    np.testing.assert_array_equal(out.cpu().numpy(), host)


def test_torch_calls_captured_in_a_cuda_graph(torch, rng):
    """``torch.cuda.graph`` captures extraction and reassembly (see the CuPy test)."""
    n, side = 12, 48
    obj = random_object(rng, side, side, True)
    offsets = [offsets_over(rng, (32, 4), side, side, n) for _ in range(2)]
    t_obj = torch.from_numpy(obj).cuda()
    t_off = torch.from_numpy(offsets[0]).cuda()
    out = torch.empty((32, n, n, 4), dtype=torch.complex64, device="cuda")
    canvas = torch.empty((side, side), dtype=torch.complex64, device="cuda")
    weights = torch.empty((side, side), dtype=torch.float32, device="cuda")

    def calls():
        with ptychopatch.deferred_checks():
            ptychopatch.extract_patches(t_obj, t_off, n, out=out)
            ptychopatch.reassemble_patches(out, t_off, (side, side), out=canvas,
                                           weights_out=weights)

    warm = torch.cuda.Stream()  # warm-up on a side stream, as torch's docs ask
    warm.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(warm):
        calls()
    torch.cuda.current_stream().wait_stream(warm)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        calls()
    for off in offsets:
        t_off.copy_(torch.from_numpy(off))
        graph.replay()
        torch.cuda.synchronize()
        host = ptychopatch.extract_patches(obj, off, n, backend="cpu")
        ref = ptychopatch.reassemble_patches(host, off, (side, side), backend="cpu")
        np.testing.assert_array_equal(out.cpu().numpy(), host)
        np.testing.assert_array_equal(canvas.cpu().numpy(), ref.canvas)
        np.testing.assert_array_equal(weights.cpu().numpy(), ref.weights)
    ptychopatch.synchronize(out)


def test_torch_misuse(torch):
    obj = torch.zeros((8, 8), dtype=torch.complex64, device="cuda")
    off = torch.zeros((1, 1, 2), device="cuda")
    with pytest.raises(ValueError, match="non-contiguous"):
        ptychopatch.extract_patches(obj.t()[:, :4], off, 3)
    with pytest.raises(ValueError, match="detach"):
        ptychopatch.extract_patches(torch.zeros((8, 8), device="cuda", requires_grad=True),
                                    off, 3)
    with pytest.raises(TypeError, match="cannot be mixed"):
        ptychopatch.extract_patches(obj, off.cpu(), 3)
