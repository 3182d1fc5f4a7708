"""Patch extraction and reassembly as differentiable PyTorch operations.

``import ptychopatch.torch`` needs PyTorch; ``import ptychopatch`` does not.
The functions take and return ``torch.Tensor``\\ s on the CPU or a CUDA
device, computed where the tensors live (CPU tensors on the CPU with
``torch.get_num_threads()`` threads; CUDA tensors on their device, on
``torch.cuda.current_stream()``), without copies. Autograd:

* extraction ``P = extract(obj, offsets)``: the gradient with respect to
  `obj` is the reassembly of the upstream gradient (the adjoint); the
  gradient with respect to `offsets` is the bilinear derivative of each
  sample contracted with the upstream gradient
  (:func:`ptychopatch.extract_offsets_gradient`);
* reassembly ``C = reassemble(patches, offsets)``: the gradient with respect
  to `patches` is the extraction of the upstream gradient; with respect to
  `offsets`, the same offsets gradient with the roles of object and
  gradient swapped. The summed weights are not differentiated.

Complex tensors follow PyTorch's convention (the gradient of a real loss L
with respect to z is dL/dRe z + i dL/dIm z), so a gradient step
``z -= lr * z.grad`` descends. See docs/python.md, "PyTorch autograd".
"""

from __future__ import annotations

import ctypes
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import extract as _extract
from . import reassemble as _reassemble

__all__ = ["extract_patches", "reassemble_patches"]

_VALUE_DTYPES = {torch.complex64: np.complex64, torch.float32: np.float32}
_OFFSET_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _checked(tensor: Any, name: str, dtypes: dict, device: Optional[torch.device] = None):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in dtypes:
        allowed = " or ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name} must have dtype {allowed}, got "
                        f"{str(tensor.dtype).replace('torch.', '')}; convert it with "
                        f"{name}.to(...) (it is never converted implicitly)")
    if device is not None and tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device} but the other inputs are on {device}; "
                         f"move it with {name}.to({str(device)!r})")
    if tensor.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} is on {tensor.device}: CPU and CUDA tensors only")
    if not tensor.is_contiguous():
        raise ValueError(f"{name} must be contiguous (row-major), got strides "
                         f"{tuple(tensor.stride())}: pass {name}.contiguous()")
    # A lazily conjugated view (x.conj()) holds the unconjugated values: resolved
    # (a copy then; the tensor itself otherwise).
    return tensor.resolve_conj()


def _host_view(tensor: torch.Tensor) -> np.ndarray:
    """A numpy array over a contiguous CPU tensor's memory (no copy; writeable)."""
    dtype = {**_VALUE_DTYPES, **_OFFSET_DTYPES}[tensor.dtype]
    count = tensor.numel() * tensor.element_size()
    if count == 0:
        return np.empty(tuple(tensor.shape), dtype)
    buffer = (ctypes.c_char * count).from_address(tensor.data_ptr())
    return np.frombuffer(buffer, dtype=dtype).reshape(tuple(tensor.shape))


def _run(function, arrays: Sequence[torch.Tensor], out: torch.Tensor, **kwargs: Any) -> None:
    """function(*arrays, out=out, **kwargs) on CPU tensors as numpy views, on
    CUDA tensors as themselves (their device, the current stream)."""
    arrays = [a.detach() for a in arrays]
    if out.device.type == "cpu":
        function(*(_host_view(a) for a in arrays), out=_host_view(out), backend="cpu",
                 num_threads=torch.get_num_threads(), **kwargs)
    else:
        function(*arrays, out=out, **kwargs)


def _patches_shape(offsets: torch.Tensor, N: int, layout: str) -> Tuple[int, ...]:
    _extract._check_offsets_shape(tuple(offsets.shape), layout)
    if layout == "channel":
        return (offsets.shape[0], N, N, offsets.shape[1])
    return (int(np.prod(offsets.shape[:-1])), N, N)


def _extract_forward(obj: torch.Tensor, offsets: torch.Tensor, N: int,
                     layout: str) -> torch.Tensor:
    patches = torch.empty(_patches_shape(offsets, N, layout), dtype=obj.dtype, device=obj.device)
    _run(_extract.extract_patches, (obj, offsets), patches, N=N, layout=layout)
    return patches


def _reassemble_forward(patches: torch.Tensor, offsets: torch.Tensor, shape: Tuple[int, ...],
                        layout: str, weights: bool) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    canvas = torch.empty(shape, dtype=patches.dtype, device=patches.device)
    summed = (torch.empty(shape, dtype=torch.float32, device=patches.device) if weights
              else None)
    kwargs: dict = {"shape": shape, "layout": layout, "return_weights": weights}
    if summed is not None:
        kwargs["weights_out"] = _host_view(summed) if summed.device.type == "cpu" else summed
    _run(_reassemble.reassemble_patches, (patches, offsets), canvas, **kwargs)
    return canvas, summed


def _offsets_gradient(values: torch.Tensor, offsets: torch.Tensor, upstream: torch.Tensor,
                      layout: str) -> torch.Tensor:
    """d/d offsets of <upstream, extract(values, offsets)> (real part)."""
    grad = torch.empty(offsets.shape, dtype=offsets.dtype, device=offsets.device)
    _run(_reassemble.extract_offsets_gradient, (values, offsets, upstream), grad, layout=layout)
    return grad


def _extract_backward(obj: torch.Tensor, offsets: torch.Tensor, layout: str, grad: torch.Tensor,
                      needs: Sequence[bool]):
    grad = grad.contiguous()
    grad_obj = _reassemble_op(grad, offsets, list(obj.shape), layout, False)[0] if needs[0] \
        else None
    grad_offsets = _offsets_gradient_op(obj, offsets, grad, layout) if needs[1] else None
    return grad_obj, grad_offsets


def _reassemble_backward(patches: torch.Tensor, offsets: torch.Tensor, layout: str,
                         grad: torch.Tensor, needs: Sequence[bool]):
    grad = grad.contiguous()
    grad_patches = _extract_op(grad, offsets, patches.shape[1], layout) if needs[0] else None
    # <grad, A(o)^T P> = <A(o) grad, P>: extraction's offsets gradient, grad as the object.
    grad_offsets = _offsets_gradient_op(grad, offsets, patches, layout) if needs[1] else None
    return grad_patches, grad_offsets


def _reassembled(patches: torch.Tensor, offsets: torch.Tensor, shape: List[int], layout: str,
                 weights: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    canvas, summed = _reassemble_forward(patches, offsets, tuple(shape), layout, weights)
    if summed is None:  # an operator returns tensors only
        summed = torch.empty((0,), dtype=torch.float32, device=patches.device)
    return canvas, summed


if hasattr(torch, "library") and hasattr(torch.library, "custom_op"):
    # PyTorch 2.4 and later: registered operators, with fake implementations so that
    # torch.compile traces them and CUDA graphs capture them.
    @torch.library.custom_op("ptychopatch::extract_patches", mutates_args=())
    def _extract_op(obj: torch.Tensor, offsets: torch.Tensor, N: int,
                    layout: str) -> torch.Tensor:
        return _extract_forward(obj, offsets, N, layout)

    @_extract_op.register_fake
    def _(obj, offsets, N, layout):
        return obj.new_empty(_patches_shape(offsets, N, layout))

    @torch.library.custom_op("ptychopatch::reassemble_patches", mutates_args=())
    def _reassemble_op(patches: torch.Tensor, offsets: torch.Tensor, shape: List[int],
                       layout: str, weights: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        return _reassembled(patches, offsets, shape, layout, weights)

    @_reassemble_op.register_fake
    def _(patches, offsets, shape, layout, weights):
        summed = tuple(shape) if weights else (0,)
        return patches.new_empty(tuple(shape)), patches.new_empty(summed, dtype=torch.float32)

    @torch.library.custom_op("ptychopatch::offsets_gradient", mutates_args=())
    def _offsets_gradient_op(values: torch.Tensor, offsets: torch.Tensor,
                             upstream: torch.Tensor, layout: str) -> torch.Tensor:
        return _offsets_gradient(values, offsets, upstream, layout)

    @_offsets_gradient_op.register_fake
    def _(values, offsets, upstream, layout):
        return offsets.new_empty(offsets.shape)

    def _setup_extract(ctx, inputs, output):
        obj, offsets, _, layout = inputs
        ctx.save_for_backward(obj, offsets)
        ctx.layout = layout

    def _backward_extract(ctx, grad):
        obj, offsets = ctx.saved_tensors
        return (*_extract_backward(obj, offsets, ctx.layout, grad, ctx.needs_input_grad),
                None, None)

    _extract_op.register_autograd(_backward_extract, setup_context=_setup_extract)

    def _setup_reassemble(ctx, inputs, output):
        patches, offsets, _, layout, _ = inputs
        ctx.save_for_backward(patches, offsets)
        ctx.layout = layout

    def _backward_reassemble(ctx, grad, _weights_grad):
        patches, offsets = ctx.saved_tensors
        return (*_reassemble_backward(patches, offsets, ctx.layout, grad,
                                      ctx.needs_input_grad), None, None, None)

    _reassemble_op.register_autograd(_backward_reassemble, setup_context=_setup_reassemble)

else:
    # Older PyTorch (Debian's 1.13): autograd Functions.
    class _Extract(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, obj, offsets, N, layout):
            ctx.save_for_backward(obj, offsets)
            ctx.layout = layout
            return _extract_forward(obj, offsets, N, layout)

        @staticmethod
        def backward(ctx: Any, grad):
            obj, offsets = ctx.saved_tensors
            return (*_extract_backward(obj, offsets, ctx.layout, grad, ctx.needs_input_grad),
                    None, None)

    class _Reassemble(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, patches, offsets, shape, layout, weights):
            ctx.save_for_backward(patches, offsets)
            ctx.layout = layout
            canvas, summed = _reassembled(patches, offsets, shape, layout, weights)
            ctx.mark_non_differentiable(summed)
            return canvas, summed

        @staticmethod
        def backward(ctx: Any, grad, _weights_grad):
            patches, offsets = ctx.saved_tensors
            return (*_reassemble_backward(patches, offsets, ctx.layout, grad,
                                          ctx.needs_input_grad), None, None, None)

    def _extract_op(obj, offsets, N, layout):
        return _Extract.apply(obj, offsets, N, layout)

    def _reassemble_op(patches, offsets, shape, layout, weights):
        return _Reassemble.apply(patches, offsets, shape, layout, weights)

    def _offsets_gradient_op(values, offsets, upstream, layout):
        return _offsets_gradient(values, offsets, upstream, layout)


def extract_patches(obj: torch.Tensor, offsets: torch.Tensor, N: int,
                    layout: str = "channel") -> torch.Tensor:
    """Differentiable :func:`ptychopatch.extract_patches` on PyTorch tensors.

    Parameters
    ----------
    obj : torch.Tensor
        complex64 or float32, shape (H, W) or (H, W, 1), contiguous, on the
        CPU or a CUDA device.
    offsets : torch.Tensor
        float32 or float64 patch centres (x, y), (B, c, 2) for
        ``layout="channel"``, (P, 2) or (B, c, 2) for ``"flat"``; contiguous,
        on `obj`'s device.
    N : int
        Patch side.
    layout : {"channel", "flat"}
        Output (B, N, N, c) or (P, N, N), as :func:`ptychopatch.extract_patches`.

    Returns
    -------
    torch.Tensor
        The patches, `obj`'s dtype and device; bitwise those of
        :func:`ptychopatch.extract_patches`. Differentiable with respect to
        `obj` and `offsets`.

    Examples
    --------
    >>> import torch, ptychopatch.torch as ptt
    >>> obj = torch.ones(32, 32, dtype=torch.complex64, requires_grad=True)
    >>> offsets = torch.full((2, 1, 2), 16.25, dtype=torch.float64, requires_grad=True)
    >>> loss = ptt.extract_patches(obj, offsets, 8).abs().pow(2).sum()
    >>> loss.backward()
    >>> tuple(obj.grad.shape), tuple(offsets.grad.shape)
    ((32, 32), (2, 1, 2))
    """
    o = _checked(obj, "obj", _VALUE_DTYPES)
    off = _checked(offsets, "offsets", _OFFSET_DTYPES, o.device)
    n = _extract._context.as_int(N, "N")
    return _extract_op(o, off, n, layout)


def reassemble_patches(patches: torch.Tensor, offsets: torch.Tensor, shape: Sequence[int],
                       layout: str = "channel", *, return_weights: bool = True):
    """Differentiable :func:`ptychopatch.reassemble_patches` on PyTorch tensors.

    The canvas is the adjoint of :func:`extract_patches`; it is
    differentiable with respect to `patches` and `offsets`. The summed
    weights (float32, returned unless ``return_weights=False``) are not.

    Returns
    -------
    canvas or (canvas, weights)
        Tensors of `shape` on the patches' device.

    Examples
    --------
    >>> import torch, ptychopatch.torch as ptt
    >>> patches = torch.ones(2, 8, 8, 1, dtype=torch.complex64, requires_grad=True)
    >>> offsets = torch.full((2, 1, 2), 16.0, dtype=torch.float64)
    >>> canvas, weights = ptt.reassemble_patches(patches, offsets, (32, 32))
    >>> canvas.real.sum().backward()
    >>> float(patches.grad.real.sum()), float(weights.max())
    (128.0, 2.0)
    """
    p = _checked(patches, "patches", _VALUE_DTYPES)
    off = _checked(offsets, "offsets", _OFFSET_DTYPES, p.device)
    canvas_shape = tuple(_extract._context.as_int(s, "shape") for s in shape)
    _extract.object_shape(canvas_shape, "shape")
    canvas, summed = _reassemble_op(p, off, list(canvas_shape), layout, bool(return_weights))
    return (canvas, summed.detach()) if return_weights else canvas

