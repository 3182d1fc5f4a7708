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
