"""Translate-and-crop patch extraction over the C ABI, on host (numpy) or
CUDA device arrays (docs/semantics.md, "Translate-and-crop patch
extraction")."""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _arrays, _call, _context, _diagnostics, _native, _progress
from ._errors import python_names

# What the public functions accept: numpy arrays and anything np.asarray
# takes, or CUDA device arrays (see docs/python.md).
ArrayLike = Any

_LAYOUTS = {"channel": _native.PTP_LAYOUT_CHANNEL, "flat": _native.PTP_LAYOUT_FLAT}


def _require_real(arr: np.ndarray, name: str) -> None:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")


def _values_array(arr: np.ndarray, name: str) -> Tuple[np.ndarray, int]:
    """A host object or patch array as the library computes it: complex
    input in complex64, real input in float32; and its dtype code."""
    if np.issubdtype(arr.dtype, np.complexfloating):
        return np.ascontiguousarray(arr, dtype=np.complex64), _native.PTP_DTYPE_COMPLEX64
    _require_real(arr, name)
    return np.ascontiguousarray(arr, dtype=np.float32), _native.PTP_DTYPE_FLOAT32


def object_shape(shape: Tuple[int, ...], name: str) -> Tuple[int, int]:
    """(H, W) of an object argument of shape (H, W) or (H, W, 1) (the
    channel axis PtychoPINN's objects often carry); ValueError for others."""
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)):
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 1), got {tuple(shape)}")
    return shape[0], shape[1]


def object_names(name: str) -> Dict[str, str]:
    """The library's names of an object's size, as the Python user knows them."""
    return {
        "desc->height * desc->width": f"{name}.shape[0] * {name}.shape[1]",
        "desc->height": f"{name}.shape[0]",
        "desc->width": f"{name}.shape[1]",
    }


def _object_array(obj, name: str) -> Tuple[np.ndarray, int]:
    """A host object of shape (H, W) or (H, W, 1) as a 2-D array to compute
    with, and its dtype code."""
    arr = _arrays.host_asarray(obj, name)
    object_shape(arr.shape, name)
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    return _values_array(arr, name)


_PATCH_SIZE_NAMES = {
    "desc->patch_size * desc->patch_size": "N * N",
    "desc->patch_size": "N",
}


def _offset_dtype_code(dtype: np.dtype) -> Tuple[type, int]:
    # float32 stays float32 (no widening cost, same result); everything else
    # goes through float64 so that no precision is lost before the library's
    # single rounding to float32.
    if dtype == np.float32:
        return np.float32, _native.PTP_DTYPE_FLOAT32
    return np.float64, _native.PTP_DTYPE_FLOAT64


def _offsets_array(off: np.ndarray) -> Tuple[np.ndarray, int]:
    """Checked host offsets in the dtype the library is given them in, and its code."""
    off_type, off_code = _offset_dtype_code(off.dtype)
    return np.ascontiguousarray(off, dtype=off_type), off_code


def _check_output_bytes(desc: _native.ExtractDesc, num_patches: int, shape: Tuple[int, ...],
                        dtype: type) -> Callable[[], None]:
    def check() -> None:
        # Asking the library first turns an overflowing size into its
        # PTP_ERROR_SIZE_OVERFLOW rather than an allocation failure.
        expected = ctypes.c_size_t()
        _native.extract_output_bytes(ctypes.byref(desc), num_patches, ctypes.byref(expected))
        if _call.nbytes(shape, dtype) != expected.value:
            raise RuntimeError(
                f"internal error: output of shape {shape} has {_call.nbytes(shape, dtype)} "
                f"bytes, the library expects {expected.value}"
            )

    return check


def _layout_code(layout: str) -> int:
    code = _LAYOUTS.get(layout) if isinstance(layout, str) else None
    if code is None:
        raise ValueError(f"layout must be one of {sorted(_LAYOUTS)}, got {layout!r}")
    return code


def _check_offsets_shape(shape: Tuple[int, ...], layout: str) -> None:
    if layout == "channel":
        if len(shape) != 3 or shape[2] != 2:
            raise ValueError(
                f'offsets must have shape (B, c, 2) for layout="channel", got {shape}'
            )
    elif not (len(shape) in (2, 3) and shape[-1] == 2):
        raise ValueError(
            f'offsets must have shape (P, 2) or (B, c, 2) for layout="flat", got {shape}'
        )


def _patch_counts(offsets_shape: Tuple[int, ...], layout: str) -> Tuple[int, int]:
    """(num_patches, group_size) of offsets whose shape has been checked."""
    if layout == "channel":
        return offsets_shape[0] * offsets_shape[1], offsets_shape[1]
    return int(np.prod(offsets_shape[:-1])), 1


_DEVICE_OBJECT_CODES = {np.dtype(np.complex64): _native.PTP_DTYPE_COMPLEX64,
                        np.dtype(np.float32): _native.PTP_DTYPE_FLOAT32}
_DEVICE_OFFSET_CODES = {np.dtype(np.float32): _native.PTP_DTYPE_FLOAT32,
                        np.dtype(np.float64): _native.PTP_DTYPE_FLOAT64}


# ------------------------------------------------------------- out= arrays


class _Target(NamedTuple):
    """A caller's output array (`out=`), checked: the object to return, the
    address to write, and what must stay alive during the call (a DLPack
    capsule)."""

    obj: Any
    ptr: int
    nbytes: int
    keep: Any = None


def _type_name(value: Any) -> str:
    module = type(value).__module__
    name = type(value).__qualname__
    return name if module == "builtins" else f"{module}.{name}"


def _overlaps_host(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.may_share_memory(a, b):
        return False
    too_hard = getattr(getattr(np, "exceptions", np), "TooHardError", Exception)
    try:
        return bool(np.shares_memory(a, b, max_work=100_000))
    except too_hard:
        return True  # could not tell: refuse rather than risk it


def _device_span(array: _arrays.DeviceArray) -> Tuple[int, int]:
    return array.ptr, array.ptr + array.size * array.dtype.itemsize


def _checked_out(
    out: Any,
    name: str,
    shape: Tuple[int, ...],
    dtype: type,
    primary: Optional[_arrays.DeviceArray],
    inputs: Dict[str, Any],
    form: str,
    check_shape: bool = True,
) -> _Target:
    """Checks a caller's output array before any library call.

    `shape` and `dtype` are those of the result the call would allocate
    (`form` names the shape, e.g. "(B, N, N, c)"); `primary` is the inputs'
    first device array, or None for host inputs; `inputs` maps argument
    names to the host arrays (or DeviceArrays) the call reads, which `out`
    must not overlap. `check_shape=False` leaves a size the library is about
    to reject (N < 1, ...) to the library's own error. TypeError for the
    wrong kind of array or dtype, ValueError for the wrong shape or device,
    a non-contiguous, read-only or overlapping array; nothing is written.
    """
    want = np.dtype(dtype)
    if primary is None:
        if _arrays.is_device_array(out):
            raise TypeError(
                f"{name} is a CUDA device array but the inputs are in host memory; the result "
                f"of host inputs is written to host memory: pass a numpy.ndarray as {name} "
                f"(nothing is copied between memories implicitly)"
            )
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray for host inputs, got "
                            f"{_type_name(out)}")
        got_dtype, got_shape = out.dtype, out.shape
    else:
        device = _arrays.device_array(out, name)  # refuses non-contiguous device arrays
        if device is None:
            raise TypeError(
                f"{name} is in host memory ({_type_name(out)}) but the inputs are CUDA device "
                f"arrays on device {primary.device}; pass a device array on that device as "
                f"{name} (nothing is copied between memories implicitly)"
            )
        if device.device != primary.device:
            raise ValueError(f"{name} is on CUDA device {device.device} but the inputs are on "
                             f"device {primary.device}; it must be on the inputs' device")
        got_dtype, got_shape = device.dtype, device.shape
    if got_dtype != want:
        got = got_dtype.str if got_dtype.name == want.name else got_dtype.name
        raise TypeError(f"{name} must have dtype {want.name} (native byte order), the dtype of "
                        f"the result for these inputs, got {got}; it is written as it is, "
                        f"never converted")
    if check_shape and tuple(got_shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {form} = {tuple(shape)}, the shape of the "
                         f"result for these inputs, got {tuple(got_shape)}")
    if primary is None:
        if not out.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (the library writes it in row-major "
                             f"order), got strides {out.strides}: pass np.empty({shape}, "
                             f"{want.name})")
        if not out.flags.writeable:
            raise ValueError(f"{name} is read-only")
        for input_name, arr in inputs.items():
            if isinstance(arr, np.ndarray) and _overlaps_host(out, arr):
                raise ValueError(f"{name} shares memory with {input_name}, which the call "
                                 f"reads; pass a separate array as {name}")
        return _Target(out, out.ctypes.data, out.nbytes)
    cai = getattr(out, "__cuda_array_interface__", None)
    if isinstance(cai, dict) and cai["data"][1]:
        raise ValueError(f"{name} is a read-only device array")
    start, end = _device_span(device)
    for input_name, arr in inputs.items():
        if isinstance(arr, _arrays.DeviceArray) and start < end:
            other_start, other_end = _device_span(arr)
            if other_start < end and start < other_end:
                raise ValueError(f"{name} shares memory with {input_name}, which the call "
                                 f"reads; pass a separate array as {name}")
    return _Target(out, device.ptr, device.size * device.dtype.itemsize, device)


def _refuse_overlap(targets: Dict[str, _Target]) -> None:
    """ValueError when two outputs a caller passed share memory."""
    items = list(targets.items())
    for i, (name_a, a) in enumerate(items):
        for name_b, b in items[i + 1:]:
            if isinstance(a.keep, _arrays.DeviceArray) and isinstance(b.keep, _arrays.DeviceArray):
                (sa, ea), (sb, eb) = _device_span(a.keep), _device_span(b.keep)
                clash = sa < ea and sb < eb and sa < eb and sb < ea
            else:
                clash = (isinstance(a.obj, np.ndarray) and isinstance(b.obj, np.ndarray)
                         and _overlaps_host(a.obj, b.obj))
            if clash:
                raise ValueError(f"{name_a} and {name_b} share memory; pass separate arrays")


def mark_incomplete(*targets: Optional[_Target]) -> Callable[[], None]:
    """What a stopped call (Ctrl-C, a progress callback's False) does to the
    caller's host out= arrays, partly written by then: fills them with NaN,
    so that none can pass for a result. Device arrays are left as the
    library left them (their whole work is one launch: untouched when
    stopped before it, whole after it)."""

    def fill() -> None:
        for target in targets:
            if target is not None and isinstance(target.obj, np.ndarray):
                target.obj[...] = np.nan

    return fill


def extract_patches(
    obj: ArrayLike,
    offsets: ArrayLike,
    N: int,
    layout: str = "channel",
    backend: str = "auto",
    num_threads: int = 0,
    *,
    out: Any = None,
    progress: _progress.ProgressArgument = None,
) -> Any:
    """Cut N x N patches centred at (possibly fractional) offsets.

    Patch p samples the object zero-padded by ``N // 2`` bilinearly at
    ``fl32(x + ox_p), fl32(y + oy_p)``; integer offsets give exact crops
    ``obj[oy-N//2 : oy-N//2+N, ox-N//2 : ox-N//2+N]`` (zeros outside).

    Parameters
    ----------
    obj : array
        Object, shape (H, W) or (H, W, 1). Host arrays (numpy, or anything
        ``np.asarray`` takes, e.g. a CPU PyTorch tensor): complex input is
        computed in complex64, real input in float32. CUDA device arrays
        (see docs/python.md) must be complex64 or float32 and C-contiguous.
    offsets : array
        Patch centres in pixels, ``[..., 0]`` is x and ``[..., 1]`` is y.
        Shape (B, c, 2) for ``layout="channel"``; (P, 2) or (B, c, 2)
        (taken as P = B*c patches) for ``layout="flat"``. float32 and
        float64 are used as given, other real host dtypes as float64; each
        pair is rounded once to float32. Must be finite. In the same memory
        (host, or the same CUDA device) as `obj`.
    N : int
        Patch size, >= 1 (an integral float such as 64.0 is taken).
    layout : {"channel", "flat"}
        ``"channel"``: output (B, N, N, c), patch (b, k) is
        ``out[b, :, :, k]`` (PtychoPINN's channel format). ``"flat"``:
        output (P, N, N).
    backend : {"auto", "cpu", "gpu"}
        ``"auto"`` uses the GPU when one is usable, else the CPU. Device
        arrays always run on the GPU of their device (``"cpu"`` is then a
        ValueError).
    num_threads : int
        CPU worker threads; 0 means all cores.
    out : array, optional, keyword-only
        Where to write the patches instead of a new array: exactly the
        result's shape and dtype (complex64 or float32 like the object),
        C-contiguous, writeable, sharing no memory with `obj` or `offsets`;
        a numpy array for host inputs, a device array on the inputs' device
        for device inputs (any library; written on the object's stream).
        Every element is overwritten. It is checked before the library is
        called, and left untouched when the call raises, except after a
        stopped call (below).
    progress : None, True or callable, optional, keyword-only
        None (default): no report, but Ctrl-C still stops the call within
        about a second (KeyboardInterrupt). True: a progress bar on stderr
        (tqdm's when tqdm is importable, else a one-line text bar). A
        callable ``progress(done, total)``, counting patches, is called
        between chunks of the work (about 100, at most about 0.1 s each)
        on the calling thread: return False (any false value but None) to
        cancel, which raises PtychoPatchError with ``status_name ==
        "PTP_ERROR_CANCELLED"``; an exception it raises cancels too and is
        raised again. A stopped call (cancelled, or Ctrl-C) fills a host
        `out` with NaN, so that a partly written array never passes for a
        result. On the GPU the work is one launch: reports (0, total)
        before and (total, total) after it.

    Returns
    -------
    array
        The patches, complex64 or float32 like the object: `out` itself if
        given; else a numpy array for host inputs (CPU PyTorch tensors
        included); for device inputs an array of the object's library
        (CuPy, PyTorch, Numba) on its device, written on its current stream.

    Raises
    ------
    ValueError
        Bad shapes, layout or backend names; non-contiguous device arrays;
        device arrays on different devices; an `out` of the wrong shape,
        non-contiguous, read-only, on another device or overlapping an
        input.
    TypeError
        Non-numeric object or offsets; device arrays of the wrong dtype;
        host and device arrays mixed; an `out` of the wrong dtype, or in
        host memory for device inputs or vice versa.
    PtychoPatchError
        The library rejected the call (e.g. non-finite offsets, N < 1, GPU
        requested but unavailable), or `progress` cancelled it;
        ``.status_name`` says why.
    KeyboardInterrupt
        Ctrl-C during the call (main thread, Python's own SIGINT handler):
        the call stops at its next progress report.

    Warns
    -----
    OutsideObjectWarning
        More than 5 % of the patches (``OUTSIDE_WARNING_FRACTION``) lie
        entirely outside the object, so they are all zeros: offsets given
        as (y, x), or not in the object's pixel frame? (host inputs only;
        docs/python.md).

    Examples
    --------
    >>> import numpy as np, ptychopatch
    >>> obj = np.ones((64, 64), np.complex64)
    >>> offsets = np.full((10, 4, 2), 32.0)      # 10 groups of 4 (x, y) centres
    >>> seen = []
    >>> patches = ptychopatch.extract_patches(
    ...     obj, offsets, 16, backend="cpu", progress=lambda done, total: seen.append(done))
    >>> patches.shape, seen[0], seen[-1]
    ((10, 16, 16, 4), 0, 40)
    """
    layout_code = _layout_code(layout)
    _context.backend_code(backend)
    n = _context.as_int(N, "N")

    device = _arrays.split_host_device({"obj": obj, "offsets": offsets})
    keep: Any = None
    reads: Dict[str, Any]
    if device is None:
        obj_host = _arrays.host_asarray(obj, "obj")
        obj_arr, obj_code = _object_array(obj_host, "obj")
        off = _arrays.host_asarray(offsets, "offsets")
        _require_real(off, "offsets")
        _check_offsets_shape(off.shape, layout)
        off_arr, off_code = _offsets_array(off)
        height, width = obj_arr.shape
        obj_ptr, off_ptr, off_shape = obj_arr.ctypes.data, off_arr.ctypes.data, off_arr.shape
        out_dtype = obj_arr.dtype.type
        primary = None
        keep = (obj_arr, off_arr)
        reads = {"obj": obj_host, "offsets": off}
    else:
        primary, dev_off = device["obj"], device["offsets"]
        height, width = object_shape(primary.shape, "obj")
        _arrays.require_dtype(primary, "obj", (np.complex64, np.float32))
        _check_offsets_shape(dev_off.shape, layout)
        _arrays.require_dtype(dev_off, "offsets", (np.float32, np.float64))
        obj_code = _DEVICE_OBJECT_CODES[primary.dtype]
        off_code = _DEVICE_OFFSET_CODES[dev_off.dtype]
        obj_ptr, off_ptr, off_shape = primary.ptr, dev_off.ptr, dev_off.shape
        out_dtype = primary.dtype.type
        reads = {"obj": primary, "offsets": dev_off}

    num_patches, group_size = _patch_counts(off_shape, layout)
    if layout == "channel":
        shape: Tuple[int, ...] = (off_shape[0], n, n, group_size)
    else:
        shape = (num_patches, n, n)
    target = None
    if out is not None:
        # N < 1 is the library's error to report (at planning, before any write).
        target = _checked_out(out, "out", shape, out_dtype, primary, reads,
                             "(B, N, N, c)" if layout == "channel" else "(P, N, N)",
                             check_shape=n >= 1)

    desc = _call.extract_desc(height, width, n, group_size, obj_code, off_code, layout_code)

    def execute(plan: ctypes.c_void_p, out: List[int]) -> None:
        _native.extract_execute(plan, obj_ptr, off_ptr or None, num_patches, out[0] or None,
                                _call.nbytes(shape, out_dtype))

    names = {**object_names("obj"), **_PATCH_SIZE_NAMES,
             "desc->group_size": "offsets.shape[1] (c)", "N * N * group_size": "N * N * c"}
    check = _check_output_bytes(desc, num_patches, shape, out_dtype)
    with python_names(names), _progress.reported(progress, "patches",
                                                 mark_incomplete(target)) as watcher:
        (patches,), _ = _call.run(desc, primary, backend, num_threads,
                                  [(shape, out_dtype)], execute, check, given=[target],
                                  progress=watcher)
    del keep, device, target
    _diagnostics.warn_if_outside(
        "extract_patches", height, width, group_size,
        "offsets[..., 0] must be x and offsets[..., 1] y. ")
    return patches


def get_image_patches(
    gt_image: ArrayLike,
    global_offsets: ArrayLike,
    local_offsets: ArrayLike,
    N: int,
    gridsize: int,
    *,
    backend: str = "auto",
    num_threads: int = 0,
    out: Any = None,
    progress: _progress.ProgressArgument = None,
) -> Any:
    """Drop-in for PtychoPINN's ``ptycho.raw_data.get_image_patches``.

    The offset of patch (b, k) is
    ``float32(global_offsets[b, 0, :, 0] + local_offsets[b, 0, :, k])``:
    the sum is taken in the inputs' precision (float32 if both are float32,
    else float64) and rounded once to float32. Index 0 of the size-2 axis
    is x, index 1 is y. ``reassemble_patches(Y, legacy_offsets(global_offsets,
    local_offsets), shape)`` is the adjoint.

    With PtychoPINN's grouping outputs (``coords_offsets`` = the group
    centre c, ``coords_relative`` = -(m - c)) the patch of the member at m
    is therefore cut at c - (m - c) = 2 * c - m, the member mirrored
    through the centre, not at m. For example members at x = 10, 12, 20,
    30 (c = 18, relative 8, 6, -2, -12) are cut at x = 26, 24, 16, 6.
    `reassemble_grouped` puts such patches back where they were cut.

    Parameters
    ----------
    gt_image : array
        Ground-truth object, shape (H, W) or (H, W, 1). Host arrays (numpy,
        or anything ``np.asarray`` takes) of any real or complex dtype are
        computed in complex64; a CUDA device array must already be
        complex64 and C-contiguous.
    global_offsets : array
        Group centres, shape (B, 1, 2, 1).
    local_offsets : array
        Per-member offsets from the centre, shape (B, 1, 2, c) with
        c = gridsize**2. As device arrays, both offset arrays must have the
        same dtype, float32 or float64.
    N : int
        Patch size, >= 1.
    gridsize : int
        Group side, >= 1; each group has gridsize**2 patches. Integral
        floats (``N=64.0``, ``gridsize=2.0``) are taken as integers.
    backend : {"auto", "cpu", "gpu"}, keyword-only
        ``"auto"`` uses the GPU when one is usable, else the CPU. Device
        arrays always run on the GPU of their device.
    num_threads : int, keyword-only
        CPU worker threads; 0 means all cores.
    out : array, optional, keyword-only
        Where to write the patches instead of a new array: complex64 of
        shape (B, N, N, c), C-contiguous, writeable, sharing no memory with
        the inputs; numpy for host inputs, a device array on the inputs'
        device for device inputs. Every element is overwritten; checked
        before the library is called and untouched when the call raises,
        except after a stopped call (NaN, see `progress`).
    progress : None, True or callable, optional, keyword-only
        Progress in patches and Ctrl-C, as for `extract_patches`.

    Returns
    -------
    array
        complex64 patches of shape (B, N, N, c) (channel format): `out`
        itself if given; else numpy for host inputs (CPU PyTorch tensors
        included), the image's library on its device for device inputs.

    Raises
    ------
    ValueError
        Shapes that do not match the description above, or gridsize < 1;
        non-contiguous device arrays; an `out` of the wrong shape,
        non-contiguous, read-only, on another device or overlapping an
        input.
    TypeError
        Non-numeric inputs; device arrays of the wrong dtype; host and
        device arrays mixed; an `out` that is not complex64, or in host
        memory for device inputs or vice versa.
    PtychoPatchError
        The library rejected the call (e.g. a non-finite offset, N < 1), or
        `progress` cancelled it.
    KeyboardInterrupt
        Ctrl-C during the call.

    Warns
    -----
    OutsideObjectWarning
        More than 5 % of the patches lie entirely outside the object (all
        zeros): the size-2 axis given as (y, x), or offsets not in the
        object's pixel frame? (host inputs only; docs/python.md).
    """
    _context.backend_code(backend)
    n = _context.as_int(N, "N")
    grid = _context.as_int(gridsize, "gridsize", 1, 2**31 - 1)
    c = grid * grid

    device = _arrays.split_host_device(
        {"gt_image": gt_image, "global_offsets": global_offsets, "local_offsets": local_offsets})
    keep: Any = None
    if device is None:
        image = _arrays.host_asarray(gt_image, "gt_image")
        g = _arrays.host_asarray(global_offsets, "global_offsets")
        loc = _arrays.host_asarray(local_offsets, "local_offsets")
        image_shape, g_shape, l_shape = image.shape, g.shape, loc.shape
    else:
        image_shape = device["gt_image"].shape
        g_shape, l_shape = device["global_offsets"].shape, device["local_offsets"].shape

    height, width = object_shape(image_shape, "gt_image")
    if len(g_shape) != 4 or g_shape[1:] != (1, 2, 1):
        raise ValueError(f"global_offsets must have shape (B, 1, 2, 1), got {g_shape}")
    groups = g_shape[0]
    if l_shape != (groups, 1, 2, c):
        raise ValueError(
            f"local_offsets must have shape (B, 1, 2, gridsize**2) = ({groups}, 1, 2, {c}) "
            f"to match global_offsets {g_shape} and gridsize {grid}, got {l_shape}"
        )

    if device is None:
        if image.ndim == 3:
            image = image[:, :, 0]
        if not np.issubdtype(image.dtype, np.complexfloating):
            _require_real(image, "gt_image")
        _require_real(g, "global_offsets")
        _require_real(loc, "local_offsets")
        obj_arr = np.ascontiguousarray(image, dtype=np.complex64)
        # PtychoPINN adds the two arrays in numpy: float32 only when both are.
        both_float32 = np.result_type(g.dtype, loc.dtype) == np.float32
        off_type, off_code = _offset_dtype_code(
            np.dtype(np.float32 if both_float32 else np.float64))
        g_arr = np.ascontiguousarray(g, dtype=off_type)
        l_arr = np.ascontiguousarray(loc, dtype=off_type)
        obj_ptr, g_ptr, l_ptr = obj_arr.ctypes.data, g_arr.ctypes.data, l_arr.ctypes.data
        primary = None
        keep = (obj_arr, g_arr, l_arr)
        reads: Dict[str, Any] = {"gt_image": image, "global_offsets": g, "local_offsets": loc}
    else:
        primary, dev_g, dev_l = (device["gt_image"], device["global_offsets"],
                                 device["local_offsets"])
        _arrays.require_dtype(primary, "gt_image", (np.complex64,))
        _arrays.require_dtype(dev_g, "global_offsets", (np.float32, np.float64))
        _arrays.require_dtype(dev_l, "local_offsets", (np.float32, np.float64))
        if dev_g.dtype != dev_l.dtype:
            raise TypeError(
                f"global_offsets and local_offsets are device arrays of dtypes "
                f"{dev_g.dtype.name} and {dev_l.dtype.name}; device arrays are never "
                f"converted, so both must be float32 or both float64"
            )
        off_code = _DEVICE_OFFSET_CODES[dev_g.dtype]
        obj_ptr, g_ptr, l_ptr = primary.ptr, dev_g.ptr, dev_l.ptr
        reads = {"gt_image": primary, "global_offsets": dev_g, "local_offsets": dev_l}

    desc = _call.extract_desc(height, width, n, c, _native.PTP_DTYPE_COMPLEX64, off_code,
                              _native.PTP_LAYOUT_CHANNEL)
    shape = (groups, n, n, c)
    target = None
    if out is not None:
        target = _checked_out(out, "out", shape, np.complex64, primary, reads,
                             "(B, N, N, gridsize**2)", check_shape=n >= 1)

    def execute(plan: ctypes.c_void_p, out: List[int]) -> None:
        _native.extract_execute_legacy(plan, obj_ptr, g_ptr or None, l_ptr or None, groups,
                                       out[0] or None, _call.nbytes(shape, np.complex64))

    names = {**object_names("gt_image"), **_PATCH_SIZE_NAMES,
             "desc->group_size": "gridsize**2", "N * N * group_size": "N * N * gridsize**2"}
    check = _check_output_bytes(desc, groups * c, shape, np.complex64)
    with python_names(names), _progress.reported(progress, "patches",
                                                 mark_incomplete(target)) as watcher:
        (patches,), _ = _call.run(desc, primary, backend, num_threads,
                                  [(shape, np.complex64)], execute, check, given=[target],
                                  progress=watcher)
    del keep, device, target
    _diagnostics.warn_if_outside(
        "get_image_patches", height, width, c,
        "Index 0 of the size-2 axis of global_offsets and local_offsets must be x, index 1 y. ")
    return patches
