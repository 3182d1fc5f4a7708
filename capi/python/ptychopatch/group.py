"""Neighbour grouping of scan positions over the C ABI (docs/semantics.md,
"Neighbour grouping (sample-then-group)").

`group_neighbors` is PtychoPINN's sample-then-group: draw `nsamples` seed
positions, take each seed's K nearest neighbours (the seed excluded) as its
pool, and draw C = gridsize**2 members from the pool. It returns
PtychoPINN's ``nn_indices``, ``coords_nn``, ``coords_offsets`` and
``coords_relative``. `grouped_patches` also cuts the patches of every group
out of an object, in the same library call.

Host arrays only (numpy, or anything ``np.asarray`` takes, e.g. CPU
PyTorch tensors): the k-NN search runs on CPU threads. The results are numpy
arrays whatever the inputs.
"""

from __future__ import annotations

import ctypes
import secrets
from typing import Any, Dict, Optional, Tuple

import numpy as np

from . import _arrays, _context, _diagnostics, _native, _progress
from ._errors import python_names
from .extract import (_PATCH_SIZE_NAMES, _check_output_bytes, _checked_out, _object_array,
                      mark_incomplete, object_names)

# What the public functions accept: numpy arrays and anything np.asarray takes.
ArrayLike = Any

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MAX = 2**63 - 1
# The largest gridsize whose square, the group size, fits the C int32 field.
_MAX_GRIDSIZE = 46340


def _positions(xcoords: ArrayLike, ycoords: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """x and y as contiguous float64 1-D arrays of one length (the library sees
    only addresses and a count, so shapes are checked here)."""
    arrays = []
    for name, value in (("xcoords", xcoords), ("ycoords", ycoords)):
        if _arrays.is_device_array(value):
            raise TypeError(
                f"{name} is a CUDA device array; scan positions are read from host memory: "
                f"pass a numpy array (e.g. {name}.get() or {name}.cpu().numpy())"
            )
        arr = _arrays.host_asarray(value, name)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (n,), got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arrays.append(np.ascontiguousarray(arr, dtype=np.float64))
    x, y = arrays
    if x.shape != y.shape:
        raise ValueError(
            f"xcoords and ycoords must have the same length, got {x.shape[0]} and {y.shape[0]}"
        )
    return x, y


def _seed_value(seed: Optional[int]) -> int:
    # None: fresh entropy from the OS on every call, so repeated calls differ.
    if seed is None:
        return secrets.randbits(64)
    return _context.as_int(seed, "seed", 0, 2**64 - 1)


def _group_desc(nsamples: int, K: int, gridsize: int, seed: Optional[int], sequential: bool,
                oversample: bool) -> _native.GroupDesc:
    """The C descriptor; range checks only where ctypes would truncate, the
    library checks the values themselves (K < 1, gridsize < 1, ...)."""
    desc = _native.new_group_desc()
    desc.num_samples = _context.as_int(nsamples, "nsamples")
    desc.num_neighbors = _context.as_int(K, "K", _INT32_MIN, _INT32_MAX)
    grid = _context.as_int(gridsize, "gridsize", _INT32_MIN, _MAX_GRIDSIZE)
    # Squaring a gridsize < 1 could make it look valid (-2 -> 4): pass it as
    # it is, so that the library rejects it as a group size < 1.
    desc.group_size = grid * grid if grid >= 1 else grid
    desc.seed = _seed_value(seed)
    desc.sequential = 1 if sequential else 0
    desc.oversample = 1 if oversample else 0
    return desc


def _group_outputs(desc: _native.GroupDesc) -> Dict[str, np.ndarray]:
    """Output arrays in the C layouts (B x C, B x 2 x C, B x 2). A negative
    count or size is allocated empty: the library rejects it before writing."""
    rows, c = max(desc.num_samples, 0), max(desc.group_size, 0)
    return {
        "nn_indices": np.empty((rows, c), dtype=np.int64),
        "coords_nn": np.empty((rows, 2, c), dtype=np.float64),
        "coords_offsets": np.empty((rows, 2), dtype=np.float64),
        "coords_relative": np.empty((rows, 2, c), dtype=np.float64),
    }


def _as_ptychopinn(out: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """PtychoPINN's shapes: the C layouts with the singleton axes inserted
    (views, no copy)."""
    rows, c = out["nn_indices"].shape
    return {
        "nn_indices": out["nn_indices"],
        "coords_nn": out["coords_nn"].reshape(rows, 1, 2, c),
        "coords_offsets": out["coords_offsets"].reshape(rows, 1, 2, 1),
        "coords_relative": out["coords_relative"].reshape(rows, 1, 2, c),
    }


# The library's names of the grouping's arguments, as the Python user knows
# them. A group size < 1 reaches the library only as gridsize itself (see
# _group_desc), so "C = gridsize^2 is V" is "gridsize is V".
_GROUP_NAMES = {
    "desc->num_samples": "nsamples",
    "desc->num_neighbors (K)": "K",
    "desc->num_neighbors": "K",
    "desc->group_size (C = gridsize^2) is": "gridsize is",
    "desc->group_size (C)": "gridsize**2 (C)",
    "desc->group_size": "gridsize**2",
    "set desc->oversample = 1": "pass oversample=True",
    "desc->oversample": "oversample",
    "desc->sequential": "sequential",
    "argument 'num_points'": "len(xcoords)",
    "argument 'x'": "argument 'xcoords'",
    "argument 'y'": "argument 'ycoords'",
}


def _install(desc: _native.GroupDesc, watcher: _progress.Progress) -> None:
    """The call's progress callback in the descriptor (a library without
    the progress fields is given the older struct, which has none)."""
    if _native.HAS_EXTRACT_PROGRESS:
        desc.progress = watcher.function
        desc.progress_user_data = None


def _addresses(out: Dict[str, np.ndarray]) -> Tuple[int, ...]:
    """The four output addresses in the order of the C arguments."""
    return tuple(out[k].ctypes.data
                 for k in ("nn_indices", "coords_nn", "coords_offsets", "coords_relative"))


def group_neighbors(
    xcoords: ArrayLike,
    ycoords: ArrayLike,
    nsamples: int,
    K: int = 4,
    gridsize: int = 2,
    seed: Optional[int] = None,
    sequential: bool = False,
    oversample: bool = False,
    *,
    num_threads: int = 0,
    progress: _progress.ProgressArgument = None,
) -> Dict[str, np.ndarray]:
    """Group scan positions with their nearest neighbours (sample-then-group).

    1. Seeds: `nsamples` distinct position indices drawn uniformly without
       replacement, or the first `nsamples` indices if `sequential`.
    2. ``gridsize == 1``: each group is its seed.
    3. Otherwise the pool of a seed is its K nearest neighbours by
       Euclidean distance, the seed itself excluded (exact search); a pool
       of fewer than C = gridsize**2 points (only when there are exactly C
       positions) takes the seed back. C members are drawn from the pool
       uniformly without replacement.

    Parameters
    ----------
    xcoords, ycoords : array
        1-D scan positions in pixels, of equal length n >= C; converted to
        contiguous float64. Must be finite. Host arrays (numpy, lists, CPU
        PyTorch tensors, ...).
    nsamples : int
        Number of groups, >= 0; the outputs have exactly this many rows.
        More than n needs ``oversample=True``. Here and for K, gridsize and
        seed, integral floats (``512.0``) and numpy integers are taken.
    K : int
        Neighbour pool size, >= 1, and >= C when C > 1.
    gridsize : int
        Group side, >= 1; each group has C = gridsize**2 members.
    seed : int or None
        An integer in [0, 2**64): the same seed gives the same groups on
        every call, thread count and backend. None (default): a fresh random
        64-bit seed on every call. The random numbers are the library's
        (counter-based SplitMix64 streams, docs/semantics.md), not numpy's:
        numpy's global or Generator state neither affects nor is affected
        by this call, and the groups differ from PtychoPINN's for the same
        seed value.
    sequential : bool
        Seeds are the indices 0, 1, ..., nsamples - 1 (modulo n when
        oversampling) instead of random ones. The members are still drawn
        at random from each pool.
    oversample : bool
        Allow ``nsamples > n``: each position then seeds ``nsamples // n``
        or one more groups (in random mode the extra seeds are drawn at
        random), and the groups of a seed are distinct C-combinations of
        its pool while enough exist (C(K, C)); beyond that, combinations
        repeat, each as evenly as possible.
    num_threads : int, keyword-only
        CPU threads of the search; 0 means all cores. The result does not
        depend on it.
    progress : None, True or callable, optional, keyword-only
        Progress in groups formed and Ctrl-C, as for `extract_patches`:
        None (no report; Ctrl-C still stops the call within about a second),
        True (a bar on stderr), or ``progress(done, total)`` returning False
        to cancel (PtychoPatchError ``PTP_ERROR_CANCELLED``). The groups do
        not depend on it.

    Returns
    -------
    dict of numpy.ndarray
        With B = nsamples and C = gridsize**2:

        ``nn_indices``
            (B, C) int64: member indices into xcoords / ycoords.
        ``coords_nn``
            (B, 1, 2, C) float64: member positions, ``[:, 0, 0]`` x and
            ``[:, 0, 1]`` y.
        ``coords_offsets``
            (B, 1, 2, 1) float64: the mean member position of each group
            (numpy's summation order, so equal to ``np.mean(coords_nn,
            axis=3)[..., None]`` bitwise).
        ``coords_relative``
            (B, 1, 2, C) float64: ``-(coords_nn - coords_offsets)``
            (PtychoPINN's ``local_offset_sign = -1``). So the patches
            ``get_image_patches(obj, coords_offsets, coords_relative, N,
            gridsize)`` cuts are centred at 2 * centre - member, the
            members mirrored through their group centre (members at x =
            10, 12, 20, 30: centre 18, cut at 26, 24, 16, 6).

    Raises
    ------
    ValueError
        xcoords / ycoords not 1-D or of different lengths; integers out of
        the range the C fields hold.
    TypeError
        Non-numeric or complex positions, device arrays, non-integer sizes
        or seed.
    PtychoPatchError
        The library rejected the call: K < 1, gridsize < 1, K < C when
        C > 1, fewer positions than C, nsamples < 0, nsamples > n without
        `oversample`, a non-finite position. ``.message`` names the
        argument.
    """
    x, y = _positions(xcoords, ycoords)
    desc = _group_desc(nsamples, K, gridsize, seed, sequential, oversample)
    # The search always runs on CPU threads, so a CPU context: a GPU one
    # would only cost its creation.
    ctx = _context.context("cpu", num_threads)
    out = _group_outputs(desc)
    with python_names(_GROUP_NAMES), _progress.reported(progress, "groups") as watcher:
        _install(desc, watcher)
        _native.group_neighbors(ctx, ctypes.byref(desc), x.ctypes.data, y.ctypes.data,
                                x.shape[0], *_addresses(out))
    return _as_ptychopinn(out)


def diffraction_scale(diffraction: np.ndarray, nn_indices: np.ndarray, N: int) -> np.float32:
    """PtychoPINN's normalisation of the grouped diffraction (its
    ``normalize_data``): sqrt((N / 2)^2 / the mean, over groups and
    members, of each pattern's sum of squares), in float32. Read from the
    positions' patterns (`diffraction`, (n, h, w)), so the grouped array
    need not exist."""
    if nn_indices.size == 0:
        return np.float32(1.0)  # no group: nothing to scale
    energy = np.square(diffraction.astype(np.float64)).sum(axis=(1, 2))
    mean = np.mean(energy[nn_indices])
    if not mean > 0.0:
        raise ValueError("the grouped diffraction patterns are all zeros: PtychoPINN's "
                         "normalisation divides by their energy")
    return np.float32(np.sqrt((N / 2) ** 2 / mean))


def grouped_diffraction(diffraction: np.ndarray, nn_indices: np.ndarray,
                        scale: np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """(diffraction, X_full) of groups `nn_indices`: the patterns with the
    members last, and the same in float32 times `scale`."""
    grouped = np.transpose(diffraction[nn_indices], (0, 2, 3, 1))
    return grouped, scale * grouped.astype(np.float32)


def _grouped_by(values: ArrayLike, name: str, n: int) -> np.ndarray:
    """A per-position array as numpy, checked to hold one row per position."""
    arr = _arrays.host_asarray(values, name)
    if arr.ndim < 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must hold one entry per scan position ({n}), got shape "
                         f"{arr.shape}")
    return arr


def _training_inputs(n: int, diffraction: Any, xcoords_start: Any, ycoords_start: Any,
                     diffraction_name: str = "diffraction") -> Tuple[Any, Any, Any]:
    """The per-position arrays `training_arrays` groups, checked and as
    numpy (None where not given); `diffraction_name` names that argument in
    the messages (the CLI's key is diff3d)."""
    diff = xs = ys = None
    if diffraction is not None:
        name = diffraction_name
        diff = _grouped_by(diffraction, name, n)
        if diff.ndim != 3:
            raise ValueError(f"{name} must be (positions, h, w), got shape {diff.shape}")
        if not np.issubdtype(diff.dtype, np.number) or np.iscomplexobj(diff):
            raise TypeError(f"{name} must be real amplitudes, got dtype {diff.dtype}")
        # Both would make X_full NaN or infinite throughout, without a word.
        if not np.isfinite(diff).all():
            raise ValueError(f"{name} holds NaN or infinite values")
        if not diff.any():
            raise ValueError(f"{name} is all zeros: PtychoPINN's normalisation divides by its "
                             "energy")
    if (xcoords_start is None) != (ycoords_start is None):
        raise ValueError("xcoords_start and ycoords_start go together: give both or neither")
    if xcoords_start is not None:
        xs = _grouped_by(xcoords_start, "xcoords_start", n).astype(np.float64).ravel()
        ys = _grouped_by(ycoords_start, "ycoords_start", n).astype(np.float64).ravel()
        if xs.size != n or ys.size != n:
            raise ValueError(f"xcoords_start and ycoords_start must hold {n} positions each")
    return diff, xs, ys


def training_arrays(nn_indices: np.ndarray, N: int, n: int, diffraction: Any = None,
                    xcoords_start: Any = None, ycoords_start: Any = None
                    ) -> Dict[str, np.ndarray]:
    """The per-position arrays of a PtychoPINN dataset grouped as its own
    loader groups them (``RawData.generate_grouped_data``), for the groups
    `nn_indices` (B, C) of `n` positions:

    * ``diffraction`` (B, h, w, C), `diffraction`'s dtype: the patterns
      diff3d[nn_indices] with the members last; ``X_full`` (B, h, w, C)
      float32: the same times `diffraction_scale` (what PtychoPINN's
      model trains on);
    * ``coords_start_nn`` (B, 1, 2, C), ``coords_start_offsets`` (B, 1, 2, 1)
      and ``coords_start_relative`` (B, 1, 2, C), float64: the start
      positions grouped as ``coords_nn``, their member mean, and
      -(member - mean).

    Only the arrays given are grouped.
    """
    diff, xs, ys = _training_inputs(n, diffraction, xcoords_start, ycoords_start)
    out: Dict[str, np.ndarray] = {}
    if diff is not None:
        out["diffraction"], out["X_full"] = grouped_diffraction(
            diff, nn_indices, diffraction_scale(diff, nn_indices, N))
    if xs is not None:
        nn = np.stack([xs[nn_indices], ys[nn_indices]], axis=1)[:, None]  # (B, 1, 2, C)
        offsets = np.mean(nn, axis=3)[..., None]
        out["coords_start_nn"] = nn
        out["coords_start_offsets"] = offsets
        out["coords_start_relative"] = -(nn - offsets)
    return out


def _host_object(obj: ArrayLike) -> Tuple[np.ndarray, int]:
    if _arrays.is_device_array(obj):
        raise TypeError(
            "obj is a CUDA device array, but grouped_patches reads the object from host "
            "memory (the grouping runs on the CPU). For a device object call "
            "group_neighbors(...) first, copy its coords_offsets and coords_relative to the "
            "device, and call get_image_patches(obj, offsets, relative, N, gridsize) with "
            "those device arrays"
        )
    return _object_array(obj, "obj")


def grouped_patches(
    obj: ArrayLike,
    xcoords: ArrayLike,
    ycoords: ArrayLike,
    N: int,
    nsamples: int,
    K: int = 4,
    gridsize: int = 2,
    seed: Optional[int] = None,
    sequential: bool = False,
    oversample: bool = False,
    *,
    backend: str = "auto",
    num_threads: int = 0,
    out: Optional[np.ndarray] = None,
    progress: _progress.ProgressArgument = None,
    diffraction: Optional[ArrayLike] = None,
    xcoords_start: Optional[ArrayLike] = None,
    ycoords_start: Optional[ArrayLike] = None,
) -> Dict[str, np.ndarray]:
    """Group scan positions and cut every group's patches, in one library call.

    The groups are those of `group_neighbors` with the same arguments and
    seed; ``Y`` equals ``get_image_patches(obj, d["coords_offsets"],
    d["coords_relative"], N, gridsize)`` bitwise (its real part for a real
    object), without the offsets making a round trip through Python.

    Like PtychoPINN, the patch of member k is cut at ``coords_offsets +
    coords_relative[k]`` = 2 * centre - m_k: the member's position m_k
    mirrored through the group centre, not m_k itself. Worked example
    along x, one group of members at 10, 12, 20, 30::

        x →   6       10  12      16  18  20      24  26      30
              ●3      ○0  ○1      ●2  +   ○2      ●1  ●0      ○3
        ○k: member k   +: centre (18)   ●k: where patch k is cut (36 - x)

    `reassemble_grouped` (``reassemble_grouped(d["Y"], d, obj.shape)``)
    puts the patches back there; reassembling at ``coords_nn`` does not.

    Parameters
    ----------
    obj : array
        Host object (numpy, or anything ``np.asarray`` takes), (H, W) or
        (H, W, 1). Complex input is computed in complex64, real input in
        float32. A CUDA device array is a
        TypeError: call `group_neighbors`, move its offsets to the device and
        call `get_image_patches` there.
    xcoords, ycoords, nsamples, K, gridsize, seed, sequential, oversample
        As for `group_neighbors`.
    N : int
        Patch size, >= 1 (an integral float such as 64.0 is taken).
    backend : {"auto", "cpu", "gpu"}, keyword-only
        Where the patches are cut (host object copied to the GPU by the
        library); the grouping runs on CPU threads in any case.
    num_threads : int, keyword-only
        CPU worker threads; 0 means all cores.
    out : numpy.ndarray, optional, keyword-only
        Where to write ``Y`` instead of a new array: (B, N, N, C), complex64
        for a complex object and float32 for a real one, C-contiguous,
        writeable, sharing no memory with `obj`, `xcoords` or `ycoords`.
        Every element is overwritten. Checked before the library is called,
        and untouched when the call raises, except after a stopped call
        (cancelled, or Ctrl-C): then it holds NaN. The four grouping arrays,
        which are small, are new on every call.
    progress : None, True or callable, optional, keyword-only
        As for `group_neighbors`, with one count for the call's two steps:
        groups formed, then patches cut, of ``nsamples + nsamples * C``.

        >>> import numpy as np, ptychopatch
        >>> x, y = np.meshgrid(np.arange(8.0, 56.0, 4.0), np.arange(8.0, 56.0, 4.0))
        >>> seen = []
        >>> d = ptychopatch.grouped_patches(
        ...     np.ones((64, 64), np.float32), x.ravel(), y.ravel(), 8, 50, K=6, seed=0,
        ...     backend="cpu", progress=lambda done, total: seen.append(done))
        >>> seen[0], 50 in seen, seen[-1]
        (0, True, 250)

    diffraction : array, optional, keyword-only
        The dataset's diffraction amplitudes, ``diff3d`` (n, h, w), one
        pattern per scan position: then also ``diffraction`` and
        ``X_full``, grouped as PtychoPINN's loader groups them
        (`training_arrays`).
    xcoords_start, ycoords_start : array, optional, keyword-only
        The dataset's start positions (both or neither): then also
        ``coords_start_nn``, ``coords_start_offsets`` and
        ``coords_start_relative``.

        >>> pos = np.arange(8.0, 56.0, 4.0)
        >>> x, y = (v.ravel() for v in np.meshgrid(pos, pos))
        >>> diff3d = np.ones((x.size, 8, 8), np.float32)
        >>> d = ptychopatch.grouped_patches(np.ones((64, 64), np.float32), x, y, 8, 50, K=6,
        ...                                 seed=0, backend="cpu", diffraction=diff3d)
        >>> d["diffraction"].shape, d["X_full"].dtype, float(d["X_full"][0, 0, 0, 0])
        ((50, 8, 8, 4), dtype('float32'), 0.5)

    Returns
    -------
    dict of numpy.ndarray
        The four arrays of `group_neighbors`, plus ``Y``: (B, N, N, C)
        patches in PtychoPINN's channel format, complex64 for a complex
        object, float32 for a real one; `out` itself if given. With
        `diffraction` or the start positions, the arrays of
        `training_arrays` too: together PtychoPINN's grouped dataset.

    Raises
    ------
    ValueError, TypeError, PtychoPatchError
        As for `group_neighbors`; also a bad object shape (ValueError), a
        device or non-numeric object (TypeError), N < 1 or a GPU requested
        but unavailable (PtychoPatchError). An `out` of the wrong shape,
        non-contiguous, read-only or overlapping an input is a ValueError;
        of the wrong dtype, or not a numpy array, a TypeError.

    Warns
    -----
    OutsideObjectWarning
        More than 5 % of the patches lie entirely outside the object (all
        zeros): xcoords and ycoords swapped, or positions not in the
        object's pixel frame? (docs/python.md).
    """
    _context.backend_code(backend)
    obj_arr, obj_code = _host_object(obj)
    n = _context.as_int(N, "N")
    x, y = _positions(xcoords, ycoords)
    training = _training_inputs(x.shape[0], diffraction, xcoords_start, ycoords_start)
    desc = _group_desc(nsamples, K, gridsize, seed, sequential, oversample)
    rows, c = max(desc.num_samples, 0), max(desc.group_size, 0)
    shape = (rows, n, n, c) if n >= 1 else (0, 0, 0, 0)
    out_dtype = obj_arr.dtype.type
    target = None
    if out is not None:
        # The arguments as given: what the library reads is either them or
        # a new copy.
        reads = {name: _arrays.host_asarray(value, name)
                 for name, value in (("obj", obj), ("xcoords", xcoords), ("ycoords", ycoords))}
        # nsamples < 0, gridsize < 1 and N < 1 are the library's errors to
        # report (it writes nothing then).
        target = _checked_out(out, "out", shape, out_dtype, None, reads, "(B, N, N, gridsize**2)",
                             check_shape=(desc.num_samples >= 0 and desc.group_size >= 1
                                          and n >= 1))
    names = {**_GROUP_NAMES, **object_names("obj"), **_PATCH_SIZE_NAMES}
    with python_names(names), _progress.reported(progress, "groups, patches",
                                                 mark_incomplete(target)) as watcher:
        _install(desc, watcher)
        ctx = _context.context(backend, num_threads)
        extract = _native.new_extract_desc()
        extract.height, extract.width = obj_arr.shape
        extract.patch_size = n
        # A group size < 1 is the grouping's error to report, not the extraction's.
        extract.group_size = max(desc.group_size, 1)
        extract.object_dtype = obj_code
        extract.offset_dtype = _native.PTP_DTYPE_FLOAT64
        extract.layout = _native.PTP_LAYOUT_CHANNEL
        extract.memory = _native.PTP_MEMORY_HOST

        if desc.num_samples >= 0 and desc.group_size >= 1 and rows * c <= _INT64_MAX:
            # Lets the library turn N < 1 or an overflowing size into its own
            # error before numpy tries the allocation.
            _check_output_bytes(extract, rows * c, shape, out_dtype)()
        groups = _group_outputs(desc)
        patches = np.empty(shape, dtype=out_dtype) if target is None else target.obj
        _native.grouped_patches(ctx, ctypes.byref(desc), ctypes.byref(extract),
                                obj_arr.ctypes.data, x.ctypes.data, y.ctypes.data, x.shape[0],
                                *_addresses(groups), patches.ctypes.data, patches.nbytes)
    result = _as_ptychopinn(groups)
    result["Y"] = patches
    result.update(training_arrays(result["nn_indices"], n, x.shape[0], *training))
    _diagnostics.warn_if_outside(
        "grouped_patches", obj_arr.shape[0], obj_arr.shape[1], c,
        "xcoords must be the columns (x) and ycoords the rows (y). ")
    return result
