"""ptychopatch.torch: forward results, gradients and input checks.

Oracles: the numpy calls (bitwise), central differences of the library's own
forward in float64 sums, and the adjoint identities.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    # Debian's PyTorch 1.13 warns that it cannot use numpy 2's C API (the
    # module does not need it: CPU tensors are read through their memory).
    warnings.simplefilter("ignore")
    torch = pytest.importorskip("torch")

import ptychopatch  # noqa: E402
import ptychopatch.torch as ptt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Failed to initialize NumPy")


def to_numpy(t):
    """A copy of a CPU tensor (without torch's numpy bridge, which may be absent)."""
    t = t.detach().resolve_conj().contiguous()
    return np.array(np.from_dlpack(t))


def tensor(a, requires_grad=False):
    t = torch.utils.dlpack.from_dlpack(np.ascontiguousarray(a).copy())
    return t.requires_grad_(requires_grad)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def complex_object(rng, shape=(24, 28)):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def interior_offsets(rng, shape=(3, 4, 2), low=5.0, high=20.0):
    """Offsets whose samples stay clear of whole pixels (fractions in [0.2, 0.8]),
    where the bilinear sample is differentiable."""
    whole = rng.integers(int(low), int(high), shape)
    return whole + rng.uniform(0.2, 0.8, shape)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("layout", ["channel", "flat"])
def test_forward_is_the_numpy_call_bitwise(rng, dtype, layout):
    obj = complex_object(rng) if dtype == np.complex64 else rng.standard_normal((24, 28)).astype(
        np.float32)
    off = interior_offsets(rng)
    got = ptt.extract_patches(tensor(obj), tensor(off), 7, layout=layout)
    want = ptychopatch.extract_patches(obj, off, 7, layout=layout, backend="cpu")
    assert got.dtype == (torch.complex64 if dtype == np.complex64 else torch.float32)
    assert np.array_equal(to_numpy(got), want)
    canvas, weights = ptt.reassemble_patches(got, tensor(off), obj.shape, layout=layout)
    ref = ptychopatch.reassemble_patches(want, off, obj.shape, layout=layout, backend="cpu")
    assert np.array_equal(to_numpy(canvas), ref.canvas)
    assert np.array_equal(to_numpy(weights), ref.weights)


def loss_of(patches, weights):
    """A real loss <w, P> (real part), linear in the patches."""
    return (patches * weights.conj()).real.sum() if patches.is_complex() else (
        patches * weights).sum()


def test_object_gradient_is_the_reassembly_of_the_upstream_gradient(rng):
    obj = tensor(complex_object(rng), requires_grad=True)
    off = interior_offsets(rng)
    upstream = complex_object(rng, (3, 7, 7, 4))
    loss_of(ptt.extract_patches(obj, tensor(off), 7), tensor(upstream)).backward()
    want = ptychopatch.reassemble_patches(upstream, off, (24, 28), backend="cpu").canvas
    assert np.array_equal(to_numpy(obj.grad), want)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
def test_object_gradient_against_central_differences(rng, dtype):
    obj = complex_object(rng) if dtype == np.complex64 else rng.standard_normal((24, 28)).astype(
        np.float32)
    off = tensor(interior_offsets(rng))
    upstream = tensor(complex_object(rng, (3, 7, 7, 4)) if dtype == np.complex64
                      else rng.standard_normal((3, 7, 7, 4)).astype(np.float32))
    x = tensor(obj, requires_grad=True)
    loss_of(ptt.extract_patches(x, off, 7), upstream).backward()
    grad = to_numpy(x.grad)

    def loss(o):
        return float(loss_of(ptt.extract_patches(tensor(o), off, 7), upstream).double())

    h = 0.05  # the loss is linear in the object: differences are exact up to rounding
    directions = [1.0, 1j] if dtype == np.complex64 else [1.0]
    for i, j in [(12, 14), (5, 9), (20, 25)]:
        for d in directions:
            step = np.zeros_like(obj)
            step[i, j] = d * h
            numeric = (loss(obj + step) - loss(obj - step)) / (2 * h)
            analytic = grad[i, j].real if d == 1.0 else grad[i, j].imag
            assert numeric == pytest.approx(analytic, rel=1e-3, abs=1e-3)


def test_reassembly_gradient_is_the_extraction_of_the_upstream_gradient(rng):
    off = interior_offsets(rng)
    patches = tensor(complex_object(rng, (3, 7, 7, 4)), requires_grad=True)
    upstream = complex_object(rng)
    canvas, weights = ptt.reassemble_patches(patches, tensor(off), (24, 28))
    assert not weights.requires_grad
    (canvas * tensor(upstream).conj()).real.sum().backward()
    want = ptychopatch.extract_patches(upstream, off, 7, backend="cpu")
    assert np.array_equal(to_numpy(patches.grad), want)


def test_gradients_pass_through_a_trailing_channel_axis(rng):
    obj = tensor(complex_object(rng)[:, :, None], requires_grad=True)
    off = tensor(interior_offsets(rng))
    ptt.extract_patches(obj, off, 7).abs().pow(2).sum().backward()
    assert tuple(obj.grad.shape) == (24, 28, 1)


@pytest.mark.parametrize("make, match", [
    (lambda o, f: (o.to(torch.complex128), f), r"obj must have dtype complex64 or float32"),
    (lambda o, f: (o, f.to(torch.int64)), r"offsets must have dtype float32 or float64"),
    (lambda o, f: (o.t(), f), r"obj must be contiguous.*obj\.contiguous\(\)"),
    (lambda o, f: (o, f[:, ::2]), r"offsets must be contiguous"),
    (lambda o, f: (np.zeros((4, 4), np.complex64), f),
     r"obj must be a torch\.Tensor"),
])
def test_bad_tensors_get_a_clear_error(rng, make, match):
    obj, off = make(tensor(complex_object(rng)), tensor(interior_offsets(rng)))
    with pytest.raises((TypeError, ValueError), match=match):
        ptt.extract_patches(obj, off, 7)


def test_tensors_on_another_device_are_refused(rng):
    off = tensor(interior_offsets(rng))
    meta = torch.empty((24, 28), dtype=torch.complex64, device="meta")
    with pytest.raises(ValueError, match=r"CPU and CUDA tensors only|on meta"):
        ptt.extract_patches(meta, off, 7)


# ------------------------------------------------------- offsets gradients


def central_difference(loss, offsets, index, h=1e-3):
    step = np.zeros_like(offsets)
    step[index] = h
    return (loss(offsets + step) - loss(offsets - step)) / (2 * h)


@pytest.mark.parametrize("dtype", [np.complex64, np.float32])
@pytest.mark.parametrize("offset_dtype", [np.float64, np.float32])
def test_extraction_offsets_gradient_against_central_differences(rng, dtype, offset_dtype):
    obj = complex_object(rng) if dtype == np.complex64 else rng.standard_normal((24, 28)).astype(
        np.float32)
    off = interior_offsets(rng, low=-2.0, high=22.0).astype(offset_dtype)  # some cross the border
    upstream = tensor(complex_object(rng, (3, 7, 7, 4)) if dtype == np.complex64
                      else rng.standard_normal((3, 7, 7, 4)).astype(np.float32))
    o = tensor(off, requires_grad=True)
    loss_of(ptt.extract_patches(tensor(obj), o, 7), upstream).backward()
    assert o.grad.dtype == o.dtype
    grad = to_numpy(o.grad)

    def loss(offsets):
        return float(loss_of(ptt.extract_patches(tensor(obj), tensor(offsets), 7),
                             upstream).double())

    # The patches are piecewise linear in each offset: a step that crosses no whole
    # pixel differences exactly (up to the offsets' rounding to float32).
    for index in [(0, 0, 0), (0, 0, 1), (1, 2, 0), (2, 3, 1)]:
        numeric = central_difference(loss, off.astype(np.float64), index)
        assert numeric == pytest.approx(grad[index], rel=2e-2, abs=2e-2)


def test_reassembly_offsets_gradient_against_central_differences(rng):
    off = interior_offsets(rng)
    patches = tensor(complex_object(rng, (3, 7, 7, 4)))
    upstream = tensor(complex_object(rng))
    o = tensor(off, requires_grad=True)
    canvas = ptt.reassemble_patches(patches, o, (24, 28), return_weights=False)
    (canvas * upstream.conj()).real.sum().backward()
    grad = to_numpy(o.grad)

    def loss(offsets):
        canvas = ptt.reassemble_patches(patches, tensor(offsets), (24, 28), return_weights=False)
        return float((canvas * upstream.conj()).real.sum().double())

    for index in [(0, 0, 0), (0, 1, 1), (2, 3, 0)]:
        assert central_difference(loss, off, index) == pytest.approx(grad[index], rel=2e-2,
                                                                     abs=2e-2)


def test_gradients_equal_grid_sample_autograd(rng):
    """PyTorch's own bilinear sampler and its autograd as the oracle: on a
    1/1024-pixel lattice both sample the very same positions."""
    H, N, P = 40, 8, 12
    obj = complex_object(rng, (H, H))
    off = rng.integers(2 * 1024, (H - 2) * 1024, (P, 2)) / 1024.0
    upstream = tensor(complex_object(rng, (P, N, N)))

    def grads(cut):
        o, f = tensor(obj, requires_grad=True), tensor(off, requires_grad=True)
        patches = cut(o, f)
        (patches * upstream.conj()).real.sum().backward()
        return [to_numpy(t) for t in (patches, o.grad, f.grad)]

    def grid_sample(o, f):
        planar = torch.view_as_real(o).permute(2, 0, 1).unsqueeze(0)
        r = torch.arange(N, dtype=torch.float32)
        f32 = f.to(torch.float32)
        gx = (2 * (r[None, :] + f32[:, 0:1] - N // 2) + 1) / H - 1
        gy = (2 * (r[None, :] + f32[:, 1:2] - N // 2) + 1) / H - 1
        grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)
        s = torch.nn.functional.grid_sample(planar, grid.reshape(1, P * N, N, 2),
                                            mode="bilinear", padding_mode="zeros",
                                            align_corners=False)
        return torch.complex(s[0, 0], s[0, 1]).reshape(P, N, N)

    ours = grads(lambda o, f: ptt.extract_patches(o, f, N, layout="flat"))
    theirs = grads(grid_sample)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_docstring_examples():
    import doctest

    failures, tried = doctest.testmod(ptt, verbose=False, report=True)[:2]
    assert tried >= 2 and failures == 0


@pytest.mark.skipif(not hasattr(getattr(torch, "library", None), "custom_op"),
                    reason="registered operators need PyTorch 2.4 or later")
def test_registered_operators_pass_opcheck_and_compile(rng):
    obj = tensor(complex_object(rng), requires_grad=True)
    off = tensor(interior_offsets(rng), requires_grad=True)
    torch.library.opcheck(torch.ops.ptychopatch.extract_patches.default, (obj, off, 7, "channel"))
    patches = tensor(complex_object(rng, (3, 7, 7, 4)), requires_grad=True)
    torch.library.opcheck(torch.ops.ptychopatch.reassemble_patches.default,
                          (patches, off, [24, 28], "channel", True))

    def step(o, f):
        return ptt.extract_patches(o, f, 7).abs().pow(2).sum()

    eager = torch.autograd.grad(step(obj, off), (obj, off))
    compiled = torch.autograd.grad(torch.compile(step, fullgraph=True)(obj, off), (obj, off))
    # The library's operators compute the same bits; the loss around them, compiled,
    # rounds differently.
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------- CUDA

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs PyTorch with a CUDA device")


@cuda
def test_cuda_step_equals_the_cpu_step_bitwise(rng):
    obj, off = complex_object(rng), interior_offsets(rng)
    upstream = complex_object(rng, (3, 7, 7, 4))

    def step(device):
        o = tensor(obj).to(device).requires_grad_(True)
        f = tensor(off).to(device).requires_grad_(True)
        patches = ptt.extract_patches(o, f, 7)
        loss_of(patches, tensor(upstream).to(device)).backward()
        return [to_numpy(t.cpu()) for t in (patches, o.grad, f.grad)]

    for a, b in zip(step("cuda"), step("cpu")):
        assert np.array_equal(a, b)


@cuda
def test_cuda_inputs_on_mixed_devices_are_refused(rng):
    obj = tensor(complex_object(rng)).cuda()
    with pytest.raises(ValueError, match=r"offsets is on cpu but the other inputs are on cuda"):
        ptt.extract_patches(obj, tensor(interior_offsets(rng)), 7)


@cuda
def test_a_training_step_is_captured_in_a_cuda_graph(rng):
    obj = tensor(complex_object(rng)).cuda().requires_grad_(True)
    off = tensor(interior_offsets(rng)).cuda().requires_grad_(True)
    target = tensor(complex_object(rng, (3, 7, 7, 4))).cuda()

    def step():
        obj.grad = off.grad = None
        (ptt.extract_patches(obj, off, 7) - target).abs().pow(2).sum().backward()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), ptychopatch.deferred_checks():
        step()  # warm-up off the capture: plans and allocations
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph.replay()
    torch.cuda.synchronize()
    captured = (obj.grad.clone(), off.grad.clone())
    step()
    assert torch.equal(captured[0], obj.grad) and torch.equal(captured[1], off.grad)
