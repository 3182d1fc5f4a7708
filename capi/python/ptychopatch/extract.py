"""Translate-and-crop patch extraction (SPEC section 1) over the C ABI."""

from __future__ import annotations

import ctypes
from typing import Callable, Tuple

import numpy as np

from . import _context, _native

_LAYOUTS = {"channel": _native.PTP_LAYOUT_CHANNEL, "flat": _native.PTP_LAYOUT_FLAT}


def _require_real(arr: np.ndarray, name: str) -> None:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")


def _object_array(obj, name: str) -> Tuple[np.ndarray, int]:
    arr = np.asarray(obj)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (H, W), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        return np.ascontiguousarray(arr, dtype=np.complex64), _native.PTP_DTYPE_COMPLEX64
    _require_real(arr, name)
    return np.ascontiguousarray(arr, dtype=np.float32), _native.PTP_DTYPE_FLOAT32


def _offset_dtype_code(dtype: np.dtype) -> Tuple[type, int]:
    # float32 stays float32 (no widening cost, same result); everything else
    # goes through float64 so that no precision is lost before the library's
    # single rounding to float32.
    if dtype == np.float32:
        return np.float32, _native.PTP_DTYPE_FLOAT32
    return np.float64, _native.PTP_DTYPE_FLOAT64


def _run(desc: _native.ExtractDesc, backend: str, num_threads: int, num_patches: int,
         shape: Tuple[int, ...], dtype: type,
         execute: Callable[[ctypes.c_void_p, np.ndarray], None]) -> np.ndarray:
    ctx = _context.context(backend, num_threads)
    with _context.plan(ctx, desc) as plan:
        # Asking the library first turns an overflowing size into its
        # PTP_ERROR_SIZE_OVERFLOW rather than a numpy allocation failure.
        nbytes = ctypes.c_size_t()
        _native.extract_output_bytes(ctypes.byref(desc), num_patches, ctypes.byref(nbytes))
        out = np.empty(shape, dtype=dtype)
        if out.nbytes != nbytes.value:
            raise RuntimeError(
                f"internal error: output of shape {shape} has {out.nbytes} bytes, "
                f"the library expects {nbytes.value}"
            )
        execute(plan, out)
    return out


def extract_patches(
    obj: np.ndarray,
    offsets: np.ndarray,
    N: int,
    layout: str = "channel",
    backend: str = "auto",
    num_threads: int = 0,
) -> np.ndarray:
    """Cut N x N patches centred at (possibly fractional) offsets.

    Patch p samples the object zero-padded by ``N // 2`` bilinearly at
    ``fl32(x + ox_p), fl32(y + oy_p)``; integer offsets give exact crops
    ``obj[oy-N//2 : oy-N//2+N, ox-N//2 : ox-N//2+N]`` (zeros outside).

    Parameters
    ----------
    obj : numpy.ndarray
        2-D object (H, W). Complex input is computed in complex64, real
        input in float32.
    offsets : numpy.ndarray
        Patch centres in pixels, ``[..., 0]`` is x and ``[..., 1]`` is y.
        Shape (B, c, 2) for ``layout="channel"``; (P, 2) or (B, c, 2)
        (taken as P = B*c patches) for ``layout="flat"``. float32 and
        float64 are used as given, other real dtypes as float64; each pair
        is rounded once to float32. Must be finite.
    N : int
        Patch size, >= 1.
    layout : {"channel", "flat"}
        ``"channel"``: output (B, N, N, c), patch (b, k) is
        ``out[b, :, :, k]`` (PtychoPINN's channel format). ``"flat"``:
        output (P, N, N).
    backend : {"auto", "cpu", "gpu"}
        ``"auto"`` uses the GPU when one is usable, else the CPU.
    num_threads : int
        CPU worker threads; 0 means all cores.

    Returns
    -------
    numpy.ndarray
        The patches, complex64 or float32 like the object.

    Raises
    ------
    ValueError
        Bad shapes, layout or backend names.
    TypeError
        Non-numeric object or offsets.
    PtychoPatchError
        The library rejected the call (e.g. non-finite offsets, N < 1, GPU
        requested but unavailable); ``.status_name`` says why.
    """
    layout_code = _LAYOUTS.get(layout) if isinstance(layout, str) else None
    if layout_code is None:
        raise ValueError(f"layout must be one of {sorted(_LAYOUTS)}, got {layout!r}")
    _context.backend_code(backend)
    n = _context.as_int(N, "N")
    obj_arr, obj_code = _object_array(obj, "obj")

    off = np.asarray(offsets)
    _require_real(off, "offsets")
    if layout == "channel":
        if off.ndim != 3 or off.shape[2] != 2:
            raise ValueError(
                f'offsets must have shape (B, c, 2) for layout="channel", got {off.shape}'
            )
    elif not (off.ndim in (2, 3) and off.shape[-1] == 2):
        raise ValueError(
            f'offsets must have shape (P, 2) or (B, c, 2) for layout="flat", got {off.shape}'
        )
    off_type, off_code = _offset_dtype_code(off.dtype)
    off_arr = np.ascontiguousarray(off, dtype=off_type)

    if layout == "channel":
        groups, group_size = off.shape[0], off.shape[1]
        num_patches = groups * group_size
        shape = (groups, n, n, group_size)
    else:
        num_patches = int(np.prod(off.shape[:-1]))
        group_size = 1
        shape = (num_patches, n, n)

    desc = _native.new_extract_desc()
    desc.height, desc.width = obj_arr.shape
    desc.patch_size = n
    # c = 0 means no patches at all; the library still wants c >= 1.
    desc.group_size = max(group_size, 1)
    desc.object_dtype = obj_code
    desc.offset_dtype = off_code
    desc.layout = layout_code

    def execute(plan: ctypes.c_void_p, out: np.ndarray) -> None:
        _native.extract_execute(plan, obj_arr.ctypes.data, off_arr.ctypes.data, num_patches,
                                out.ctypes.data, out.nbytes)

    return _run(desc, backend, num_threads, num_patches, shape, obj_arr.dtype.type, execute)


def get_image_patches(
    gt_image: np.ndarray,
    global_offsets: np.ndarray,
    local_offsets: np.ndarray,
    N: int,
    gridsize: int,
    *,
    backend: str = "auto",
    num_threads: int = 0,
) -> np.ndarray:
    """Drop-in for PtychoPINN's ``ptycho.raw_data.get_image_patches``.

    The offset of patch (b, k) is
    ``float32(global_offsets[b, 0, :, 0] + local_offsets[b, 0, :, k])``:
    the sum is taken in the inputs' precision (float32 if both are float32,
    else float64) and rounded once to float32. Index 0 of the size-2 axis
    is x, index 1 is y.

    Parameters
    ----------
    gt_image : numpy.ndarray
        Ground-truth object, shape (H, W) or (H, W, 1), any real or complex
        dtype; it is computed in complex64.
    global_offsets : numpy.ndarray
        Group centres, shape (B, 1, 2, 1).
    local_offsets : numpy.ndarray
        Per-member offsets from the centre, shape (B, 1, 2, c) with
        c = gridsize**2.
    N : int
        Patch size, >= 1.
    gridsize : int
        Group side, >= 1; each group has gridsize**2 patches.
    backend : {"auto", "cpu", "gpu"}, keyword-only
        ``"auto"`` uses the GPU when one is usable, else the CPU.
    num_threads : int, keyword-only
        CPU worker threads; 0 means all cores.

    Returns
    -------
    numpy.ndarray
        complex64 patches of shape (B, N, N, c) (channel format).

    Raises
    ------
    ValueError
        Shapes that do not match the description above, or gridsize < 1.
    TypeError
        Non-numeric inputs.
    PtychoPatchError
        The library rejected the call (e.g. a non-finite offset, N < 1).
    """
    _context.backend_code(backend)
    n = _context.as_int(N, "N")
    grid = _context.as_int(gridsize, "gridsize", 1, 2**31 - 1)
    c = grid * grid

    image = np.asarray(gt_image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise ValueError(f"gt_image must have shape (H, W) or (H, W, 1), got {image.shape}")
    if not np.issubdtype(image.dtype, np.complexfloating):
        _require_real(image, "gt_image")
    obj_arr = np.ascontiguousarray(image, dtype=np.complex64)

    g = np.asarray(global_offsets)
    loc = np.asarray(local_offsets)
    _require_real(g, "global_offsets")
    _require_real(loc, "local_offsets")
    if g.ndim != 4 or g.shape[1:] != (1, 2, 1):
        raise ValueError(f"global_offsets must have shape (B, 1, 2, 1), got {g.shape}")
    groups = g.shape[0]
    if loc.shape != (groups, 1, 2, c):
        raise ValueError(
            f"local_offsets must have shape (B, 1, 2, gridsize**2) = ({groups}, 1, 2, {c}) "
            f"to match global_offsets {g.shape} and gridsize {grid}, got {loc.shape}"
        )
    # PtychoPINN adds the two arrays in numpy: float32 only when both are.
    both_float32 = np.result_type(g.dtype, loc.dtype) == np.float32
    off_type, off_code = _offset_dtype_code(np.dtype(np.float32 if both_float32 else np.float64))
    g_arr = np.ascontiguousarray(g, dtype=off_type)
    l_arr = np.ascontiguousarray(loc, dtype=off_type)

    desc = _native.new_extract_desc()
    desc.height, desc.width = obj_arr.shape
    desc.patch_size = n
    desc.group_size = c
    desc.object_dtype = _native.PTP_DTYPE_COMPLEX64
    desc.offset_dtype = off_code
    desc.layout = _native.PTP_LAYOUT_CHANNEL

    def execute(plan: ctypes.c_void_p, out: np.ndarray) -> None:
        _native.extract_execute_legacy(plan, obj_arr.ctypes.data, g_arr.ctypes.data,
                                       l_arr.ctypes.data, groups, out.ctypes.data, out.nbytes)

    return _run(desc, backend, num_threads, groups * c, (groups, n, n, c), np.complex64, execute)
