"""Reassembly, the adjoint of extraction, and the gradient of extraction
with respect to the offsets, over the C ABI, on host (numpy) or CUDA device
arrays (docs/semantics.md, "Reassembly (adjoint)"; docs/api.md, "Gradient
of extraction with respect to the offsets")."""

from __future__ import annotations

import collections.abc
import ctypes
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _arrays, _call, _context, _diagnostics, _native, _progress
from ._errors import python_names
from .extract import (
    _DEVICE_OBJECT_CODES,
    _DEVICE_OFFSET_CODES,
    ArrayLike,
    _check_offsets_shape,
    _checked_out,
    _layout_code,
    _object_array,
    _offsets_array,
    _patch_counts,
    _refuse_overlap,
    _require_real,
    _Target,
    _values_array,
    mark_incomplete,
    object_names,
    object_shape,
)


class Reassembly(NamedTuple):
    """Result of :func:`reassemble_patches`.

    Attributes
    ----------
    canvas : array
        Of the requested `shape`, (H, W) or (H, W, 1), complex64 or float32
        like the patches: the summed (or, with ``average=True``, averaged)
        patches.
    weights : array or None
        The same shape, float32: the summed bilinear weight each pixel
        received (the reassembly of all-ones patches); None when
        ``return_weights=False``.
    """

    canvas: Any
    weights: Any


def _canvas_shape(shape: Any) -> Tuple[int, int, Tuple[int, ...]]:
    """(H, W) of the canvas and the shape of the arrays returned: (H, W), or
    (H, W, 1) for an object with PtychoPINN's channel axis."""
    usage = "shape must be (H, W) or (H, W, 1), integers"
    if isinstance(shape, (str, bytes)):
        raise TypeError(f"{usage}, got {shape!r}")
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{usage}, got {shape!r}") from None
    if len(dims) not in (2, 3):
        raise ValueError(f"{usage}, got {shape!r}")
    height, width = _context.as_int(dims[0], "shape[0]"), _context.as_int(dims[1], "shape[1]")
    if len(dims) == 3 and _context.as_int(dims[2], "shape[2]") != 1:
        raise ValueError(f"{usage}, got {shape!r}")
    return height, width, (height, width) if len(dims) == 2 else (height, width, 1)


def _check_patches_shape(patches_shape: Tuple[int, ...], offsets_shape: Tuple[int, ...],
                         layout: str) -> int:
    """N, once the patch array's shape has been checked against the offsets'."""
    if layout == "channel":
        if len(patches_shape) != 4 or patches_shape[1] != patches_shape[2]:
            raise ValueError(
                f'patches must have shape (B, N, N, c) for layout="channel", got {patches_shape}'
            )
        expected = (patches_shape[0], patches_shape[3], 2)
        if tuple(offsets_shape) != expected:
            raise ValueError(
                f"offsets must have shape (B, c, 2) = {expected} to match patches "
                f"{patches_shape}, got {tuple(offsets_shape)}"
            )
    else:
        if len(patches_shape) != 3 or patches_shape[1] != patches_shape[2]:
            raise ValueError(
                f'patches must have shape (P, N, N) for layout="flat", got {patches_shape}'
            )
        count = int(np.prod(offsets_shape[:-1]))
        if count != patches_shape[0]:
            raise ValueError(
                f"offsets of shape {tuple(offsets_shape)} give {count} patches but patches "
                f"{patches_shape} has {patches_shape[0]}"
            )
    return patches_shape[1]


def reassemble_patches(
    patches: ArrayLike,
    offsets: ArrayLike,
    shape: Sequence[int],
    layout: str = "channel",
    *,
    average: bool = False,
    return_weights: bool = True,
    backend: str = "auto",
    num_threads: int = 0,
    out: Any = None,
    weights_out: Any = None,
    progress: _progress.ProgressArgument = None,
) -> Reassembly:
    """Scatter patches back onto an (H, W) canvas: the adjoint of extraction.

    Every patch value is added back at the four pixels it was sampled from
    by :func:`extract_patches` with the same offsets, times the same
    bilinear weights; corners in the zero padding are dropped. So for any
    object x and patches y, ``<extract_patches(x, o, N), y> ==
    <x, reassemble_patches(y, o, x.shape).canvas>``. Sums are float32.

    Parameters
    ----------
    patches : array
        As :func:`extract_patches` returns them: (B, N, N, c) for
        ``layout="channel"``, (P, N, N) for ``layout="flat"``. Host arrays:
        complex input is computed in complex64, real input in float32. CUDA
        device arrays must be complex64 or float32 and C-contiguous.
    offsets : array
        The patch centres, x first, exactly as for :func:`extract_patches`:
        (B, c, 2) for ``"channel"`` (matching the patches' B and c); (P, 2)
        or (B, c, 2) with B*c = P for ``"flat"``. float32 or float64 (other
        real host dtypes go through float64), rounded once to float32. Must
        be finite. For PtychoPINN's global + local form pass
        ``legacy_offsets(global_offsets, local_offsets)``.
    shape : (int, int) or (int, int, 1)
        Shape of the canvas, the object's shape: (H, W), or (H, W, 1) as
        :func:`extract_patches` accepts it (the canvas and weights then have
        that shape too); H and W >= 1. Integral floats are taken.
    layout : {"channel", "flat"}
        Layout of `patches`, as for :func:`extract_patches`.
    average : bool, keyword-only
        If True, the canvas is divided by the weights where they are > 0 and
        is 0 elsewhere (the overlap-averaged object).
    return_weights : bool, keyword-only
        If False, ``weights`` is None (and, unless `average`, not computed).
    backend : {"auto", "cpu", "gpu"}, keyword-only
        ``"auto"`` uses the GPU when one is usable, else the CPU. Device
        arrays always run on the GPU of their device (``"cpu"`` is then a
        ValueError).
    num_threads : int, keyword-only
        CPU worker threads; 0 means all cores.
    out : array, optional, keyword-only
        Where to write the canvas instead of a new array: of `shape` and
        the patches' dtype (complex64 or float32), C-contiguous, writeable,
        sharing no memory with `patches`, `offsets` or `weights_out`; numpy
        for host inputs, a device array on the inputs' device for device
        inputs (written on the patches' stream). Its old values do not
        matter: the library overwrites it (it never adds to it).
    weights_out : array, optional, keyword-only
        The same for the weights: float32 of `shape`. Needs
        ``return_weights=True`` (the default). With ``average=True`` and
        device arrays, `out` and `weights_out` must come from one library,
        CuPy or PyTorch, which does the division. Both are checked before
        the library is called and left untouched when the call raises,
        except after a stopped call: then host `out` and `weights_out` hold
        NaN (a partial sum never passes for a result).
    progress : None, True or callable, optional, keyword-only
        Progress in patches and Ctrl-C, as for `extract_patches`: None, a
        bar (True), or ``progress(done, total)`` returning False to cancel.
        The result does not depend on it: the patches are added in chunks,
        every pixel still summing its terms in patch order (bitwise the
        same canvas and weights).

    Returns
    -------
    Reassembly
        ``(canvas, weights)``: canvas of `shape` and the patches' dtype,
        weights of `shape`, float32, or None; `out` and `weights_out`
        themselves where given. Otherwise numpy arrays for host inputs (CPU
        PyTorch tensors included); for device inputs arrays of the patches'
        library (CuPy, PyTorch, Numba) on their device, written on its
        current stream.

    Raises
    ------
    ValueError
        Bad shapes, layout or backend names; non-contiguous device arrays;
        device arrays on different devices; an `out` or `weights_out` of
        the wrong shape, non-contiguous, read-only, on another device or
        overlapping an input or each other; `weights_out` with
        ``return_weights=False``.
    TypeError
        Non-numeric patches or offsets; device arrays of the wrong dtype;
        host and device arrays mixed; an `out` or `weights_out` of the
        wrong dtype, or in host memory for device inputs or vice versa;
        ``average=True`` with device outputs CuPy or PyTorch cannot divide.
    PtychoPatchError
        The library rejected the call (e.g. non-finite offsets, H or W < 1,
        N < 1, GPU requested but unavailable), or `progress` cancelled it;
        ``.status_name`` says why.
    KeyboardInterrupt
        Ctrl-C during the call (it stops at its next progress report).

    Warns
    -----
    OutsideObjectWarning
        More than 5 % of the patches lie entirely outside the canvas and
        add nothing to it: offsets given as (y, x), or not in the object's
        pixel frame? (host inputs only; docs/python.md). For PtychoPINN's
        groups use `reassemble_grouped`.

    Examples
    --------
    >>> import numpy as np, ptychopatch
    >>> patches = np.ones((10, 8, 8, 1), np.float32)
    >>> offsets = np.full((10, 1, 2), 16.0)
    >>> seen = []
    >>> r = ptychopatch.reassemble_patches(
    ...     patches, offsets, (32, 32), backend="cpu",
    ...     progress=lambda done, total: seen.append((done, total)))
    >>> float(r.weights.max()), seen[0], seen[-1]
    (10.0, (0, 10), (10, 10))
    """
    layout_code = _layout_code(layout)
    _context.backend_code(backend)
    height, width, canvas_shape = _canvas_shape(shape)
    average = bool(average)
    return_weights = bool(return_weights)
    if weights_out is not None and not return_weights:
        raise ValueError("weights_out was given with return_weights=False; pass "
                         "return_weights=True (the default) to have the weights written to it")

    device = _arrays.split_host_device({"patches": patches, "offsets": offsets})
    keep: Any = None
    if device is None:
        p = _arrays.host_asarray(patches, "patches")
        if not np.issubdtype(p.dtype, np.complexfloating):
            _require_real(p, "patches")
        off = _arrays.host_asarray(offsets, "offsets")
        _require_real(off, "offsets")
        _check_offsets_shape(off.shape, layout)
        n = _check_patches_shape(p.shape, off.shape, layout)
        p_arr, p_code = _values_array(p, "patches")
        off_arr, off_code = _offsets_array(off)
        p_ptr, off_ptr, off_shape = p_arr.ctypes.data, off_arr.ctypes.data, off_arr.shape
        dtype = p_arr.dtype.type
        primary: Optional[_arrays.DeviceArray] = None
        keep = (p_arr, off_arr)
        reads: Dict[str, Any] = {"patches": p, "offsets": off}
    else:
        primary, dev_off = device["patches"], device["offsets"]
        _check_offsets_shape(dev_off.shape, layout)
        n = _check_patches_shape(primary.shape, dev_off.shape, layout)
        _arrays.require_dtype(primary, "patches", (np.complex64, np.float32))
        _arrays.require_dtype(dev_off, "offsets", (np.float32, np.float64))
        p_code = _DEVICE_OBJECT_CODES[primary.dtype]
        off_code = _DEVICE_OFFSET_CODES[dev_off.dtype]
        p_ptr, off_ptr, off_shape = primary.ptr, dev_off.ptr, dev_off.shape
        dtype = primary.dtype.type
        reads = {"patches": primary, "offsets": dev_off}

    num_patches, group_size = _patch_counts(off_shape, layout)

    desc = _call.extract_desc(height, width, n, group_size, p_code, off_code, layout_code)

    want_weights = return_weights or average
    outputs: List[Tuple[Tuple[int, ...], type]] = [(canvas_shape, dtype)]
    if want_weights:
        outputs.append((canvas_shape, np.float32))

    # H or W < 1 is the library's error to report (at planning, before any write).
    sizes_valid = height >= 1 and width >= 1
    given: Dict[str, _Target] = {}
    form = "(H, W)" if len(canvas_shape) == 2 else "(H, W, 1)"
    for name, value, value_dtype in (("out", out, dtype), ("weights_out", weights_out,
                                                           np.float32)):
        if value is not None:
            given[name] = _checked_out(value, name, canvas_shape, value_dtype, primary, reads,
                                      form, check_shape=sizes_valid)
    _refuse_overlap(given)
    if given and average and primary is not None:
        _check_device_average(given, primary)

    def execute(plan: ctypes.c_void_p, out: List[int]) -> None:
        weights_ptr = out[1] if want_weights else None
        weights_bytes = _call.nbytes((height, width), np.float32) if want_weights else 0
        _native.reassemble_execute(plan, p_ptr or None, off_ptr or None, num_patches, out[0],
                                   _call.nbytes((height, width), dtype), weights_ptr,
                                   weights_bytes)

    names = {
        "desc->height * desc->width": "shape[0] * shape[1]",
        "desc->height": "shape[0]",
        "desc->width": "shape[1]",
        "desc->patch_size * desc->patch_size": "N * N",
        "desc->patch_size": "patches.shape[1] (N)",
        "desc->group_size": "offsets.shape[1] (c)",
        "N * N * group_size": "N * N * c",
    }
    stopped = mark_incomplete(given.get("out"), given.get("weights_out"))
    with python_names(names), _progress.reported(progress, "patches", stopped) as watcher:
        targets = [given.get("out"), given.get("weights_out")][:len(outputs)]
        arrays, library = _call.run(desc, primary, backend, num_threads, outputs, execute,
                                    given=targets, progress=watcher)
        if given and primary is not None:
            library = _average_library(given, primary)
    del keep, device, given
    _diagnostics.warn_if_outside(
        "reassemble_patches", height, width, group_size,
        "offsets[..., 0] must be x and offsets[..., 1] y, as for extract_patches. ")
    canvas = arrays[0]
    weights = arrays[1] if want_weights else None
    if average:
        _arrays.average_in_place(canvas, weights, library,
                                 primary.device if primary is not None else 0)
    return Reassembly(canvas, weights if return_weights else None)


def _average_library(given: Dict[str, _Target], primary: _arrays.DeviceArray) -> str:
    """The library of a device call's outputs when some are the caller's:
    the caller's (all must agree for averaging), else the allocating one."""
    for target in given.values():
        if isinstance(target.keep, _arrays.DeviceArray):
            return target.keep.library
    return _arrays.output_library(primary)


def _check_device_average(given: Dict[str, _Target], primary: _arrays.DeviceArray) -> None:
    """Before any library call: average=True on device outputs the caller
    passed needs canvas and weights of one library that can divide (CuPy or
    PyTorch), or the canvas would be written and the division then fail."""
    libraries = {name: t.keep.library for name, t in given.items()
                 if isinstance(t.keep, _arrays.DeviceArray)}
    if len(given) == 1:
        # The other output is allocated like the result without out=.
        missing = "weights" if "out" in given else "canvas"
        libraries[missing] = _arrays.output_library(primary)
    found = set(libraries.values())
    if len(found) != 1 or next(iter(found)) not in ("cupy", "torch"):
        where = ", ".join(f"{name}: {lib or 'another library'}"
                          for name, lib in libraries.items())
        raise TypeError(
            f"average=True divides the canvas by the weights with CuPy or PyTorch, so on the "
            f"device both must be arrays of one of them ({where}); pass such arrays as out "
            f"and weights_out, or call with average=False and divide by the returned weights"
        )


def legacy_offsets(global_offsets: ArrayLike, local_offsets: ArrayLike) -> np.ndarray:
    """PtychoPINN's global + local offsets as (B, c, 2) float32 pairs.

    Pair (b, k) is ``float32(global_offsets[b, 0, :, 0] +
    local_offsets[b, 0, :, k])`` with the sum in the inputs' precision
    (float32 if both are float32, else float64) and rounded once: exactly
    the offsets :func:`get_image_patches` uses, so that
    ``reassemble_patches(Y, legacy_offsets(g, l), shape)`` is the adjoint of
    ``get_image_patches(x, g, l, N, gridsize)``. Host (numpy) arrays only.

    Parameters
    ----------
    global_offsets : array
        Group centres, shape (B, 1, 2, 1); index 0 of the size-2 axis is x.
    local_offsets : array
        Per-member offsets, shape (B, 1, 2, c).

    Returns
    -------
    numpy.ndarray
        float32 of shape (B, c, 2), ``[..., 0]`` x and ``[..., 1]`` y. A sum
        beyond float32's range becomes infinite (and is then rejected by the
        library as non-finite).

    Raises
    ------
    ValueError
        Shapes other than the above.
    TypeError
        Non-numeric inputs or device arrays.
    """
    for name, value in (("global_offsets", global_offsets), ("local_offsets", local_offsets)):
        if _arrays.device_array(value, name) is not None:
            raise TypeError(f"legacy_offsets takes host (numpy) arrays; {name} is a CUDA device "
                            f"array (form float32(global + local) on the device instead)")
    g = _arrays.host_asarray(global_offsets, "global_offsets")
    loc = _arrays.host_asarray(local_offsets, "local_offsets")
    _require_real(g, "global_offsets")
    _require_real(loc, "local_offsets")
    if g.ndim != 4 or g.shape[1:] != (1, 2, 1):
        raise ValueError(f"global_offsets must have shape (B, 1, 2, 1), got {g.shape}")
    if loc.ndim != 4 or loc.shape[0] != g.shape[0] or loc.shape[1:3] != (1, 2):
        raise ValueError(
            f"local_offsets must have shape (B, 1, 2, c) with B = {g.shape[0]} to match "
            f"global_offsets {g.shape}, got {loc.shape}"
        )
    both_float32 = np.result_type(g.dtype, loc.dtype) == np.float32
    work = np.float32 if both_float32 else np.float64
    total = g.astype(work, copy=False) + loc.astype(work, copy=False)  # (B, 1, 2, c)
    with np.errstate(over="ignore", invalid="ignore"):
        pairs = total[:, 0].transpose(0, 2, 1).astype(np.float32)
    return np.ascontiguousarray(pairs)


def reassemble_grouped(
    patches: ArrayLike,
    grouped: Mapping[str, Any],
    shape: Sequence[int],
    *,
    average: bool = False,
    return_weights: bool = True,
    backend: str = "auto",
    num_threads: int = 0,
    out: Any = None,
    weights_out: Any = None,
    progress: _progress.ProgressArgument = None,
) -> Reassembly:
    """Reassemble grouped patches at the positions they were sampled from.

    PtychoPINN cuts member k of a group at ``coords_offsets +
    coords_relative[k]``, and ``coords_relative = -(member - centre)``
    (``local_offset_sign = -1``), so the patch of the member at position m
    is centred at **2 * centre - m**, the member mirrored through the group
    centre, not at m. This function puts each patch back there: it is
    ``reassemble_patches(patches, legacy_offsets(grouped["coords_offsets"],
    grouped["coords_relative"]), shape)``, the adjoint of the extraction
    that `grouped_patches` (or ``get_image_patches(obj, coords_offsets,
    coords_relative, N, gridsize)``) did. Reassembling at the member
    positions (``coords_nn``) instead puts every patch of a group with
    spread members in the wrong place (docs/python.md, "Where PtychoPINN
    samples a group").

    Worked example, x only, one group of 4 members at x = 10, 12, 20, 30:
    centre 18, ``coords_relative`` = -(x - 18) = 8, 6, -2, -12, so the
    patches are centred at 18 + 8 = 26, 24, 16 and 6, i.e. 2 * 18 - x.

    Parameters
    ----------
    patches : array
        (B, N, N, C) patches in PtychoPINN's channel format: ``d["Y"]`` or
        what a model predicted for those groups. Host arrays (numpy or
        anything ``np.asarray`` takes); complex input is computed in
        complex64, real input in float32.
    grouped : mapping
        The dict `group_neighbors` or `grouped_patches` returns, or
        PtychoPINN's own: only ``"coords_offsets"`` (B, 1, 2, 1) and
        ``"coords_relative"`` (B, 1, 2, C) are read (index 0 of the size-2
        axis is x), float32 or float64.
    shape : (int, int) or (int, int, 1)
        Shape of the canvas, the object's shape.
    average, return_weights, backend, num_threads, out, weights_out, progress
        As for `reassemble_patches`.

    Returns
    -------
    Reassembly
        ``(canvas, weights)`` as `reassemble_patches` returns them.

    Raises
    ------
    TypeError
        `grouped` is not a mapping; device arrays (use `reassemble_patches`
        with device offsets ``float32(coords_offsets + coords_relative)``).
    KeyError
        `grouped` lacks ``"coords_offsets"`` or ``"coords_relative"``.
    ValueError
        Coordinate arrays of the wrong shape, or patches whose B and C
        differ from theirs; otherwise as `reassemble_patches`.
    PtychoPatchError
        As `reassemble_patches`.

    Warns
    -----
    OutsideObjectWarning
        As `reassemble_patches`: more than 5 % of the patches land entirely
        outside the canvas.

    Examples
    --------
    >>> import numpy as np, ptychopatch
    >>> obj = np.ones((64, 96), np.complex64)
    >>> x, y = np.meshgrid(np.arange(8.0, 88.0, 4.0), np.arange(8.0, 56.0, 4.0))
    >>> d = ptychopatch.grouped_patches(obj, x.ravel(), y.ravel(), 16, 100, K=6,
    ...                                 gridsize=2, seed=0)
    >>> r = ptychopatch.reassemble_grouped(d["Y"], d, obj.shape, average=True)
    >>> bool(np.allclose(r.canvas[r.weights > 0.5], 1.0))
    True
    """
    if not isinstance(grouped, collections.abc.Mapping):
        raise TypeError(
            f"grouped must be the dict group_neighbors or grouped_patches returns (with "
            f"'coords_offsets' and 'coords_relative'), got {type(grouped).__name__}"
        )
    for key in ("coords_offsets", "coords_relative"):
        if key not in grouped:
            raise KeyError(f"grouped has no {key!r}: pass the dict group_neighbors or "
                           f"grouped_patches returned (PtychoPINN's names)")
    if _arrays.is_device_array(patches):
        raise TypeError(
            "reassemble_grouped takes host arrays; for device patches form the offsets "
            "float32(coords_offsets + coords_relative) on the device (shape (B, C, 2), x first) "
            "and call reassemble_patches"
        )
    offsets = legacy_offsets(grouped["coords_offsets"], grouped["coords_relative"])
    p = _arrays.host_asarray(patches, "patches")
    groups, c = offsets.shape[0], offsets.shape[1]
    if p.ndim != 4 or p.shape[0] != groups or p.shape[3] != c:
        raise ValueError(
            f"patches must have shape (B, N, N, C) = ({groups}, N, N, {c}) to match "
            f"grouped['coords_relative'] {tuple(np.shape(grouped['coords_relative']))}, "
            f"got {p.shape}"
        )
    return reassemble_patches(p, offsets, shape, "channel", average=average,
                              return_weights=return_weights, backend=backend,
                              num_threads=num_threads, out=out, weights_out=weights_out,
                              progress=progress)


def extract_offsets_gradient(
    obj: ArrayLike,
    offsets: ArrayLike,
    grad_patches: ArrayLike,
    layout: str = "channel",
    backend: str = "auto",
    num_threads: int = 0,
    *,
    out: Any = None,
    progress: _progress.ProgressArgument = None,
) -> Any:
    """The gradient of :func:`extract_patches` with respect to the offsets.

    For a real loss L of ``P = extract_patches(obj, offsets, N, layout)``
    and its upstream gradient ``grad_patches`` = dL/dP (PyTorch's
    convention for complex tensors: dL/dRe P + 1j dL/dIm P), returns
    dL/doffsets: for each patch, the sum over its pixels of
    ``Re(conj(G) * dP/dx)`` and ``Re(conj(G) * dP/dy)``, dP/do the
    derivative of the bilinear sampling (corners outside the object read
    0; at an integer sample the derivative from the right). The gradient
    with respect to the object is ``reassemble_patches(grad_patches,
    offsets, obj.shape).canvas``. Sums are double, in a fixed order: the
    CPU and the GPU give bitwise equal results.

    Parameters
    ----------
    obj : array
        The object, as for :func:`extract_patches`: (H, W) or (H, W, 1);
        host arrays complex (computed in complex64) or real (float32);
        device arrays complex64 or float32, C-contiguous.
    offsets : array
        The patch centres, x first, as for :func:`extract_patches`: (B, c,
        2) for ``layout="channel"``, (P, 2) or (B, c, 2) for ``"flat"``;
        float32 and float64 as given, other real host dtypes as float64.
        Must be finite.
    grad_patches : array
        dL/dP, shaped like the patches: (B, N, N, c) or (P, N, N). Host
        arrays are converted to the object's type (a complex gradient of a
        real object is a TypeError); device arrays must have the object's
        dtype and be C-contiguous.
    layout : {"channel", "flat"}
        Layout of `grad_patches`, as for :func:`extract_patches`.
    backend : {"auto", "cpu", "gpu"}
        As for :func:`extract_patches`; device arrays run on their GPU.
    num_threads : int
        CPU worker threads; 0 means all cores.
    out : array, optional, keyword-only
        Where to write the result instead of a new array: the shape of
        `offsets` and the result's dtype, C-contiguous, writeable, sharing
        no memory with the inputs; numpy for host inputs, a device array
        on their device for device inputs. Checked before the library is
        called; untouched when the call raises (NaN after a stopped call).
    progress : None, True or callable, optional, keyword-only
        Progress in patches and Ctrl-C, as for `extract_patches`.

    Returns
    -------
    array
        The shape of `offsets`, float32 for float32 offsets, else float64:
        ``[..., 0]`` dL/dx, ``[..., 1]`` dL/dy. `out` itself if given; else
        numpy for host inputs, the object's library on its device (written
        on its current stream) for device inputs.

    Raises
    ------
    ValueError
        Bad shapes (`grad_patches` not shaped like the patches of these
        offsets), layout or backend names; non-contiguous device arrays; a
        bad `out`.
    TypeError
        Non-numeric inputs; a complex gradient of a real object; device
        arrays of the wrong dtype; host and device arrays mixed.
    PtychoPatchError
        The library rejected the call (e.g. a non-finite offset, N < 1), or
        `progress` cancelled it.

    Examples
    --------
    >>> import numpy as np, ptychopatch
    >>> obj = np.tile(np.arange(8.0, dtype=np.float32), (8, 1))  # value = column x
    >>> offsets = np.array([[[4.25, 4.5]]])                      # one patch, (x, y)
    >>> G = np.ones((1, 2, 2, 1), np.float32)                    # L = sum of the patch
    >>> ptychopatch.extract_offsets_gradient(obj, offsets, G, backend="cpu")
    array([[[4., 0.]]])
    """
    layout_code = _layout_code(layout)
    _context.backend_code(backend)

    device = _arrays.split_host_device(
        {"obj": obj, "offsets": offsets, "grad_patches": grad_patches})
    keep: Any = None
    reads: Dict[str, Any]
    if device is None:
        obj_host = _arrays.host_asarray(obj, "obj")
        obj_arr, obj_code = _object_array(obj_host, "obj")
        off = _arrays.host_asarray(offsets, "offsets")
        _require_real(off, "offsets")
        _check_offsets_shape(off.shape, layout)
        g = _arrays.host_asarray(grad_patches, "grad_patches")
        if np.issubdtype(g.dtype, np.complexfloating):
            if obj_code != _native.PTP_DTYPE_COMPLEX64:
                raise TypeError(
                    f"grad_patches is complex ({g.dtype}) but obj is real: the gradient of "
                    f"real patches is real"
                )
        else:
            _require_real(g, "grad_patches")
        n = _check_patches_shape(g.shape, off.shape, layout)
        g_arr = np.ascontiguousarray(g, dtype=obj_arr.dtype)
        off_arr, off_code = _offsets_array(off)
        height, width = obj_arr.shape
        obj_ptr, off_ptr, g_ptr = obj_arr.ctypes.data, off_arr.ctypes.data, g_arr.ctypes.data
        off_shape, g_shape = off_arr.shape, g_arr.shape
        dtype, off_dtype = obj_arr.dtype.type, off_arr.dtype.type
        primary: Optional[_arrays.DeviceArray] = None
        keep = (obj_arr, off_arr, g_arr)
        reads = {"obj": obj_host, "offsets": off, "grad_patches": g}
    else:
        primary, dev_off, dev_g = device["obj"], device["offsets"], device["grad_patches"]
        height, width = object_shape(primary.shape, "obj")
        _arrays.require_dtype(primary, "obj", (np.complex64, np.float32))
        _check_offsets_shape(dev_off.shape, layout)
        _arrays.require_dtype(dev_off, "offsets", (np.float32, np.float64))
        _arrays.require_dtype(dev_g, "grad_patches", (primary.dtype.type,))
        n = _check_patches_shape(dev_g.shape, dev_off.shape, layout)
        obj_code = _DEVICE_OBJECT_CODES[primary.dtype]
        off_code = _DEVICE_OFFSET_CODES[dev_off.dtype]
        obj_ptr, off_ptr, g_ptr = primary.ptr, dev_off.ptr, dev_g.ptr
        off_shape, g_shape = dev_off.shape, dev_g.shape
        dtype, off_dtype = primary.dtype.type, dev_off.dtype.type
        reads = {"obj": primary, "offsets": dev_off, "grad_patches": dev_g}

    num_patches, group_size = _patch_counts(off_shape, layout)
    off_shape = tuple(off_shape)
    target = None
    if out is not None:
        target = _checked_out(out, "out", off_shape, off_dtype, primary, reads,
                              "offsets.shape")

    desc = _call.extract_desc(height, width, n, group_size, obj_code, off_code, layout_code)

    def execute(plan: ctypes.c_void_p, out: List[int]) -> None:
        _native.extract_offsets_gradient(plan, obj_ptr, off_ptr or None, num_patches,
                                         g_ptr or None, _call.nbytes(g_shape, dtype),
                                         out[0] or None, _call.nbytes(off_shape, off_dtype))

    names = {**object_names("obj"),
             "desc->patch_size * desc->patch_size": "N * N",
             "desc->patch_size": "grad_patches.shape[1] (N)",
             "desc->group_size": "offsets.shape[1] (c)", "N * N * group_size": "N * N * c"}
    with python_names(names), _progress.reported(progress, "patches",
                                                 mark_incomplete(target)) as watcher:
        (result,), _ = _call.run(desc, primary, backend, num_threads, [(off_shape, off_dtype)],
                                 execute, given=[target], progress=watcher)
    del keep, device, target
    return result
