"""CFA-aware FFT phase correlation over the C ABI (docs/semantics.md, "Scene
alignment").

`align_scene` registers every moving frame of a scene to its ground-truth
(GT) frame with one library plan: the plan is made once, the reference
planes are transformed once, and all moving frames go to the library in one
call. `phase_cross_correlation` is the single-image form, with
scikit-image's convention and arguments.

Host (numpy) arrays only: frames are read from host memory.
"""

from __future__ import annotations

import collections
import collections.abc
import ctypes
import enum
import os
import threading
import warnings
from typing import (Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np

from . import _arrays, _context, _native, _progress
from ._errors import PtychoPatchError, python_names

# What the public functions accept: numpy arrays and anything np.asarray takes.
ArrayLike = Any
# progress(frames_done, frames_total): return False to cancel (None or True go on).
ProgressCallback = Callable[[int, int], Optional[bool]]
CfaLike = Union[None, str, ArrayLike]

#: Bayer layouts by name, as LibRaw / rawpy ``raw_pattern`` codes: 0 = R,
#: 1 = G on the red rows, 2 = B, 3 = G on the blue rows.
BAYER_PATTERNS = {
    "RGGB": ((0, 1), (3, 2)),
    "BGGR": ((2, 3), (1, 0)),
    "GRBG": ((1, 0), (2, 3)),
    "GBRG": ((3, 2), (0, 1)),
}

#: LibRaw's X-Trans layout of Fujifilm sensors (0 = R, 1 = G, 2 = B): what
#: ``cfa="XTRANS"`` (and the CLI's ``--cfa XTRANS``) means. A camera's
#: visible area may start elsewhere in the 6 x 6 period: pass its own
#: ``raw_pattern`` then.
XTRANS_PATTERN = ((1, 1, 0, 1, 1, 2),
                  (1, 1, 2, 1, 1, 0),
                  (2, 0, 1, 0, 2, 1),
                  (1, 1, 2, 1, 1, 0),
                  (1, 1, 0, 1, 1, 2),
                  (0, 2, 1, 2, 0, 1))

_NORMALIZATIONS = {
    "phase": _native.PTP_NORMALIZATION_PHASE,
    "partial": _native.PTP_NORMALIZATION_PARTIAL,
    "none": _native.PTP_NORMALIZATION_NONE,
    None: _native.PTP_NORMALIZATION_NONE,  # scikit-image spells it None
}
_WINDOWS = {None: _native.PTP_WINDOW_NONE, "none": _native.PTP_WINDOW_NONE,
            "hann": _native.PTP_WINDOW_HANN}
_COMBINES = {"luma": _native.PTP_COMBINE_LUMA, "joint": _native.PTP_COMBINE_JOINT,
             "median": _native.PTP_COMBINE_MEDIAN, "mean": _native.PTP_COMBINE_MEAN}
_METHODS = {"correlation": _native.PTP_ALIGN_METHOD_CORRELATION,
            "rawnind": _native.PTP_ALIGN_METHOD_RAWNIND}
_PLANNING = {"measure": _native.PTP_FFT_PLANNING_MEASURE,
             "estimate": _native.PTP_FFT_PLANNING_ESTIMATE,
             "wisdom": _native.PTP_FFT_PLANNING_WISDOM}
#: The values `align_scene`'s ``planning`` takes (the dataset commands offer the same).
PLANNING_CHOICES = ("auto",) + tuple(_PLANNING)
# align_scene's "auto": measured plans (up to seconds once per shape and
# process) only when a scene has enough frames to repay them.
_MEASURE_FROM_FRAMES = 8

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

# ptp_align_desc's fields as align_scene's arguments, for library messages.
_ALIGN_NAMES = {
    "desc->upsample_factor": "upsample_factor",
    "desc->snap is 1": "snap=True",
    "desc->cfa is PTP_CFA_NONE": "cfa is None",
    "desc->height": "gt.shape[-2]",
    "desc->width": "gt.shape[-1]",
    "desc->pattern": "cfa (row-major)",
    "desc->verify is not PTP_ALIGN_VERIFY_NONE": "verify",
    "desc->method is PTP_ALIGN_METHOD_RAWNIND": 'method="rawnind"',
    "desc->max_shift": "max_shift",
    "desc->channels": "gt.shape[0]",
}

# Plans kept for the next call of the same shape and options, per thread (a
# plan is not for two threads at once): repeated align_scene calls then pay
# FFT planning and buffer allocation once, not per call. Few, because a plan of a large frame holds its FFT
# buffers.
_CACHED_PLANS_PER_THREAD = 4
_plans = threading.local()


class _CachedPlan:
    """A library alignment plan that outlives one call."""

    def __init__(self, ctx: ctypes.c_void_p, desc: Any) -> None:
        self.handle = ctypes.c_void_p()
        _native.align_plan_create(ctx, ctypes.byref(desc), ctypes.byref(self.handle))
        # What the plan's frames hold: the reference is set again by every call.
        planes = ctypes.c_int64()
        try:
            _native.align_plan_num_planes(self.handle, ctypes.byref(planes))
        except BaseException:
            self.close()
            raise
        self.num_planes = planes.value

    def close(self) -> None:
        if self.handle:
            handle, self.handle = self.handle, ctypes.c_void_p()
            try:
                _native.align_plan_destroy(handle)
            except Exception:  # noqa: BLE001 - interpreter shutdown: the library may be gone
                pass

    def __del__(self) -> None:
        self.close()



def _plan_cache() -> "collections.OrderedDict[bytes, _CachedPlan]":
    cache = getattr(_plans, "cache", None)
    if cache is None:
        cache = _plans.cache = collections.OrderedDict()
    return cache


def _take_plan(ctx: ctypes.c_void_p, desc: Any) -> Tuple[bytes, _CachedPlan]:
    """This thread's cached plan for (ctx, desc), taken out of the cache (a
    re-entrant call, from a progress callback, then makes its own), or a new
    one."""
    key = (ctypes.string_at(ctypes.byref(ctx), ctypes.sizeof(ctx))
           + ctypes.string_at(ctypes.byref(desc), ctypes.sizeof(desc)))
    plan = _plan_cache().pop(key, None)
    return key, plan if plan is not None else _CachedPlan(ctx, desc)


def _give_back_plan(key: bytes, plan: _CachedPlan) -> None:
    cache = _plan_cache()
    old = cache.pop(key, None)
    if old is not None:
        old.close()
    cache[key] = plan
    while len(cache) > _CACHED_PLANS_PER_THREAD:
        cache.popitem(last=False)[1].close()


def clear_plan_cache() -> None:
    """Frees the alignment plans this thread keeps for repeated calls.

    `align_scene` keeps this thread's last few plans (one per frame shape
    and options) so that repeated calls on one shape do not plan their
    FFTs again; each holds its FFT buffers (on the GPU for a GPU context).
    Call this to give that memory back; the next call plans afresh.
    (`phase_cross_correlation` keeps none of them.)

    Examples
    --------
    >>> import ptychopatch
    >>> ptychopatch.clear_plan_cache()
    """
    cache = _plan_cache()
    while cache:
        cache.popitem(last=False)[1].close()


class AlignFlag(enum.IntFlag):
    """Why the library doubts a frame's result: the bits of
    `SceneAlignment.flags` (the C header's ``enum ptp_align_flag``).

    Each comes with its note in `SceneAlignment.messages` and, all but
    ``NO_FIT`` and ``LOW_CONFIDENCE``, with confidence 0. Use a flagged
    frame's crop only after a look.

    Examples
    --------
    >>> import numpy as np
    >>> from ptychopatch import AlignFlag
    >>> flags = np.array([0, AlignFlag.OTHER_SCENE, AlignFlag.NO_FIT], np.uint32)
    >>> (flags & AlignFlag.OTHER_SCENE) != 0
    array([False,  True, False])
    >>> AlignFlag(int(flags[2]))
    <AlignFlag.NO_FIT: 128>
    """

    #: The correlation peak lies at `max_shift`'s bound (the shift may lie
    #: beyond it), or the refined shift beyond it.
    AT_SHIFT_BOUND = 1
    #: Under the shift the frames' smoothed luminance images correlate by
    #: less than 0.5: another scene, or noise (``verify="refine"``).
    OTHER_SCENE = 2
    #: The frame does not move as a whole (rotated, scaled, parallax).
    NOT_RIGID = 4
    #: The GT frame does not look like a mosaic of `cfa`'s family (or,
    #: without one, looks like a mosaic): every frame has it.
    PATTERN_DOUBT = 8
    #: Retired, never set (the fine stage's closed loop that set it is gone).
    UNCHECKED = 16
    #: Retired, never set (the fine stage's closed loop that set it is gone).
    UNCONFIRMED = 32
    #: The correlation peak stands no higher than the correlation's noise.
    WEAK_PEAK = 64
    #: No least-squares fit (frames under about 48 pixels a side, or too
    #: little detail): confidence is the peak's margin, not a probability.
    NO_FIT = 128
    #: The fit gives the crop a probability under 0.95, and nothing else
    #: says why.
    LOW_CONFIDENCE = 256


class SceneAlignment(NamedTuple):
    """Result of `align_scene` for M moving frames and P planes per frame.

    Attributes
    ----------
    shifts : numpy.ndarray
        (M, 2) float64: each frame's (dy, dx) in sensor pixels, the shift
        that registers the frame onto the GT frame (where its content
        moved), to 1/`upsample_factor` of a pixel of the luminance image
        (of a sensor pixel where the default's polish placed it), made of
        the planes that carry information. NaN for a frame without a
        result (see `status`).
    crops : numpy.ndarray
        (M, 2) int64: the integer (dy, dx) nearest to `shifts` that keeps
        the colour filter pattern: multiples of 2 for Bayer; multiples of
        6, or (3, 3) plus multiples of 6 where the layout repeats so, for
        X-Trans; any integer without a CFA. The crop to apply to a RAW
        frame. 0 for a frame without a result.
    confidence : numpy.ndarray
        (M,) float64 in [0, 1]; 0 without a result. By default (``verify=
        "refine"``, frames of about 40 pixels a side and more) the
        probability that the crop is right: that the content lies within
        half a period (plus a quarter pixel) of it, under the least-squares
        polish's own variance. ``confidence >= 0.95`` kept 96-97 % of the
        right crops on docs/performance.md's robustness benchmark with real
        photon noise (seeds 1-4), and every wrong one out on all four
        tables (the highest wrong crop scored 0.908). Otherwise how much of
        the correlation adds up at the peak.
    status : numpy.ndarray
        (M,) int32: 0 for a frame with a result, else the library's status
        code of why not (`status_names` names them).
    messages : tuple of str
        Per frame: empty, or why the frame has no result (a NaN, a shape
        unlike the GT frame's, no plane with information, ...), or for a
        frame with a result a note (its peak at `max_shift`'s bound, a
        frame that may not show the reference's scene, or, with
        ``verify="refine"``, one that does not move as a whole (rotated,
        scaled, parallax: its quadrants' motion moves its corners more than
        2 pixels from its shift): then its confidence is 0; or, with
        ``verify="refine"``, no least-squares fit on a frame
        under about 48 pixels a side or with too little detail: then its
        confidence is the peak's margin, not a probability).
    plane_shifts : numpy.ndarray
        (M, P, 2) float64: with ``method="rawnind"``, each plane's (dy, dx)
        in sensor pixels (plane pixels times the pattern period); plane
        ``r * period + c`` is ``frame[r::period, c::period]``. NaN
        otherwise: the default estimator has one shift per frame (the
        retired per-plane ``combine`` values run it too).
    planes_used : numpy.ndarray
        (M,) int32: the planes that carried information (the luminance
        image is made of them).
    flags : numpy.ndarray
        (M,) uint32: each frame's `AlignFlag` bits, why its result is in
        doubt; 0 for a frame the library does not doubt (and for one
        without a result). `trusted` combines them with `ok`.
    """

    shifts: np.ndarray
    crops: np.ndarray
    confidence: np.ndarray
    status: np.ndarray
    messages: Tuple[str, ...]
    plane_shifts: np.ndarray
    planes_used: np.ndarray
    flags: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """(M,) bool: which frames have a result."""
        return self.status == 0

    @property
    def trusted(self) -> np.ndarray:
        """(M,) bool: which frames have a result the library does not
        doubt (no `flags`)."""
        return (self.status == 0) & (self.flags == 0)

    @property
    def status_names(self) -> Tuple[str, ...]:
        """The status of each frame by name, e.g. ``"PTP_SUCCESS"``."""
        return tuple(_native.status_name(int(code)) for code in self.status)

    def plot(self, gt: ArrayLike, frames: Sequence[ArrayLike], folder: str,
             names: Optional[Sequence[str]] = None, cfa: CfaLike = None) -> List[str]:
        """A picture of each frame's alignment: ``folder/<name>.png`` with
        the GT frame and the frame cut to what they share under its crop,
        their luminance (the mosaic averaged away) and a checkerboard of
        the two, where a wrong crop shows as edges broken at the squares'
        borders; the title holds the crop, shift, confidence and flags.
        `gt` and `frames` as given to `align_scene` (`cfa` as there: it sets
        the averaging); `names` default to ``frame0``, ``frame1``, ...
        Frames without a result are skipped. Returns the paths written.
        Needs matplotlib (ImportError saying so otherwise).

        >>> import numpy as np, ptychopatch, tempfile
        >>> gt = np.random.default_rng(0).random((96, 96)).astype(np.float32)
        >>> frames = [np.roll(gt, (4, -2), (0, 1))]
        >>> r = ptychopatch.align_scene(gt, frames, cfa="RGGB", backend="cpu")
        >>> paths = r.plot(gt, frames, tempfile.mkdtemp(), cfa="RGGB")
        >>> [p.endswith("frame0.png") for p in paths]
        [True]
        """
        from .plot import draw_alignment

        frames = list(frames)
        if len(frames) != len(self.status):
            raise ValueError(f"{len(frames)} frames for an alignment of {len(self.status)}")
        names = [f"frame{k}" for k in range(len(frames))] if names is None else list(names)
        period = {_native.PTP_CFA_BAYER: 2, _native.PTP_CFA_XTRANS: 6}.get(_cfa(cfa)[0], 1)
        written = []
        for k, frame in enumerate(frames):
            if self.status[k] != 0:
                continue
            doubts = ", ".join(flag.name for flag in AlignFlag if self.flags[k] & flag)
            title = (f"{names[k]}: crop ({self.crops[k][0]}, {self.crops[k][1]}), shift "
                     f"({self.shifts[k][0]:.2f}, {self.shifts[k][1]:.2f}), confidence "
                     f"{self.confidence[k]:.3f}" + (f", doubted: {doubts}" if doubts else ""))
            written.append(draw_alignment(np.asarray(gt), np.asarray(frame), self.crops[k],
                                          os.path.join(folder, f"{names[k]}.png"), title,
                                          period))
        return written


def _option(table: dict, value: Any, name: str) -> int:
    key = value.lower() if isinstance(value, str) else value
    try:
        return table[key]
    except (KeyError, TypeError):
        names = [k for k in table if k is not None]
        extra = " or None" if None in table else ""
        raise ValueError(f"{name} must be one of {names}{extra}, got {value!r}") from None


def _upsample(value: Any) -> int:
    # scikit-image accepts a float factor; an integral one is taken as is.
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    elif isinstance(value, (float, np.floating)):
        raise ValueError(f"upsample_factor must be an integer, got {value!r}")
    # The library itself rejects values < 1, with its own message.
    return _context.as_int(value, "upsample_factor", _INT32_MIN, _INT32_MAX)


def _cfa(cfa: CfaLike) -> Tuple[int, Optional[List[int]]]:
    """(PTP_CFA_* code, row-major pattern codes or None) of a `cfa` argument."""
    if cfa is None:
        return _native.PTP_CFA_NONE, None
    if isinstance(cfa, str):
        if cfa.upper().replace("-", "") == "XTRANS":
            return _native.PTP_CFA_XTRANS, [code for row in XTRANS_PATTERN for code in row]
        pattern = BAYER_PATTERNS.get(cfa.upper())
        if pattern is None:
            raise ValueError(
                f"cfa must be None, one of {sorted(BAYER_PATTERNS)}, 'XTRANS', or a 2x2 (Bayer) "
                f"or 6x6 (X-Trans) array of colour codes; got {cfa!r}"
            )
        return _native.PTP_CFA_BAYER, [code for row in pattern for code in row]
    arr = np.asarray(cfa)
    if arr.shape == (2, 2):
        code = _native.PTP_CFA_BAYER
    elif arr.shape == (6, 6):
        code = _native.PTP_CFA_XTRANS
    else:
        raise ValueError(
            f"cfa array must be 2x2 (Bayer) or 6x6 (X-Trans), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise TypeError(f"cfa array must hold integer colour codes, got dtype {arr.dtype}")
    # Range-checked only so that ctypes cannot truncate; the library
    # validates the codes themselves.
    return code, [_context.as_int(v, "cfa code", _INT32_MIN, _INT32_MAX)
                  for v in arr.ravel().tolist()]


def _real_array(value: ArrayLike, name: str) -> np.ndarray:
    arr = _arrays.host_asarray(value, name)
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(
            f"{name} is complex ({arr.dtype}); only real images are aligned (pass e.g. "
            "np.abs(x) or x.real)"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _is_uint16(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "u" and arr.dtype.itemsize == 2  # either byte order


def _frame_list(frames: Any, frame_ndim: int) -> Tuple[List[Optional[np.ndarray]], Dict[int, str]]:
    """The frames as arrays, and the problems of those that are not real
    arrays (index -> message): one unusable frame must not lose a scene.
    An iterator or generator of frames (a review found it refused as "dtype
    object") is taken as the sequence of the frames it yields."""
    if isinstance(frames, collections.abc.Iterator):
        frames = list(frames)
    if isinstance(frames, (list, tuple)):
        arrays: List[Optional[np.ndarray]] = []
        problems: Dict[int, str] = {}
        for i, f in enumerate(frames):
            try:
                arrays.append(_real_array(f, f"frames[{i}]"))
            except (TypeError, ValueError) as exc:
                arrays.append(None)
                problems[i] = str(exc)
        return arrays, problems
    arr = _real_array(frames, "frames")
    if arr.ndim != frame_ndim + 1:
        expected = "(M, H, W)" if frame_ndim == 2 else "(M, C, H, W)"
        raise ValueError(
            f"frames must be a sequence of frames shaped like gt, or one array {expected}; "
            f"got an array of shape {arr.shape} for gt frames of {frame_ndim} dimensions "
            "(wrap a single frame in a list)"
        )
    return list(arr), {}


def _warn_if_plan_left_the_gpu(plan: ctypes.c_void_p) -> None:
    """Warns once when a GPU context's plan runs on the CPU (no cuFFT, ...)."""
    backend = ctypes.c_int32()
    why = ctypes.c_char_p()
    _native.align_plan_get_backend(plan, ctypes.byref(backend), ctypes.byref(why))
    if why.value:
        _context.warn_gpu_unavailable(
            "ptychopatch scene alignment runs on the CPU: "
            + why.value.decode("utf-8", "replace"), topic="align")


def _retired_options(combine: Any = "luma", verify: Any = "refine",
                     normalization: Any = "partial", window: Any = "hann") -> Optional[str]:
    """Why `combine`, `verify`, `normalization` and `window` name retired
    options, or None.

    ``combine="joint"``, ``"median"`` and ``"mean"``, ``normalization=
    "phase"`` and ``"none"`` (None), ``window=None`` and ``verify=True``
    (``"check"``) and ``"correct"`` are retired: they run the default in
    their place (the C ABI keeps their values; CHANGELOG.md, "Deprecated").
    `align_scene` and `align_dataset` warn with this text
    (DeprecationWarning), the CLI prints it.
    """
    notes = []
    name = combine.lower() if isinstance(combine, str) else combine
    if name in ("joint", "median", "mean"):
        notes.append(f'combine="{name}" is deprecated: the default "luma" runs in its place '
                     "(it is right more often on the robustness benchmark, "
                     "docs/performance.md); plane_shifts are NaN (method=\"rawnind\" has "
                     "per-plane shifts)")
    mode = verify.lower() if isinstance(verify, str) else verify
    if mode is True or mode in ("check", "correct"):
        notes.append(f'verify={"True" if mode is True else repr(mode)} is deprecated: the '
                     'default "refine" runs in its place (it fits the frames it doubts '
                     "again); verify=False is the coarse stage alone")
    if normalization is None or (isinstance(normalization, str)
                                 and normalization.lower() in ("phase", "none")):
        notes.append(f"normalization={normalization!r} is deprecated: the default "
                     '"partial" runs in its place (it is right more often on the robustness '
                     "benchmark, docs/performance.md)")
    if window is None or (isinstance(window, str) and window.lower() == "none"):
        notes.append(f"window={window!r} is deprecated: the default \"hann\" runs in its "
                     "place (it is right more often on the robustness benchmark, "
                     "docs/performance.md)")
    return "; ".join(notes) if notes else None


def _warn_retired(combine: Any, verify: Any, normalization: Any = "partial",
                  window: Any = "hann", stacklevel: int = 3) -> None:
    """A DeprecationWarning where an option is retired (_retired_options)."""
    note = _retired_options(combine, verify, normalization, window)
    if note is not None:
        warnings.warn(note, DeprecationWarning, stacklevel=stacklevel)


def _verify_code(verify: Union[bool, str, None]) -> int:
    """ptp_align_verify of align_scene's `verify`."""
    if isinstance(verify, str):
        verify = verify.lower()  # as `normalization`, `method` and `cfa` names
    if verify is None or verify is False or verify == "none":
        return _native.PTP_ALIGN_VERIFY_NONE
    if verify is True or verify == "check":
        return _native.PTP_ALIGN_VERIFY_CHECK
    if verify == "correct":
        return _native.PTP_ALIGN_VERIFY_CORRECT
    if verify == "refine":
        return _native.PTP_ALIGN_VERIFY_REFINE
    raise ValueError('verify must be "refine" (default) or False (or "none"); True, "check" '
                     f'and "correct" are retired aliases of "refine"; got {verify!r}')


def _snap_code(snap: Any) -> int:
    """ptp_align_desc.snap of align_scene's `snap`: a bool (or 0 / 1), not
    any truthy value ("no" and "False" would snap)."""
    if isinstance(snap, (bool, np.bool_)) or (isinstance(snap, (int, np.integer))
                                              and snap in (0, 1)):
        return 1 if snap else 0
    raise ValueError(f"snap must be True or False, got {snap!r}")


def _run(
    gt: np.ndarray,
    frames: Sequence[Optional[np.ndarray]],
    *,
    cfa: CfaLike,
    upsample_factor: Any,
    combine: str,
    snap: bool,
    normalization: Optional[str],
    window: Optional[str],
    backend: str,
    num_threads: int,
    progress: Optional[ProgressCallback],
    planning: str = "auto",
    max_shift: Optional[int] = None,
    method: str = "correlation",
    verify: Union[bool, str, None] = False,
    problems: Optional[Dict[int, str]] = None,
    warn: bool = True,
) -> SceneAlignment:
    """One plan: set `gt` as the reference once, align all `frames` in one
    call. Frames that are None or listed in `problems` get a per-frame
    status instead of a result."""
    # "auto" is named among the choices of the error, and resolved here.
    planning_code = _option({"auto": None, **_PLANNING}, planning, "planning")
    if planning_code is None:
        planning_code = _PLANNING["measure" if len(frames) >= _MEASURE_FROM_FRAMES else "wisdom"]
    cfa_code, pattern = _cfa(cfa)
    normalization_code = _option(_NORMALIZATIONS, normalization, "normalization")
    window_code = _option(_WINDOWS, window, "window")
    combine_code = _option(_COMBINES, combine, "combine")
    method_code = _option(_METHODS, method, "method")
    bound = 0
    if max_shift is not None:
        # One message for 0 and negative bounds; the integer check first.
        bound = _context.as_int(max_shift, "max_shift", -2**63, 2**63 - 1)
        if bound < 1:
            raise ValueError("max_shift must be >= 1 sensor pixel, or None for no bound")
        bound = _context.as_int(bound, "max_shift", 1, 2**62)
    upsample = _upsample(upsample_factor)
    _context.backend_code(backend)
    report = _progress.callback(progress, "frames")

    if cfa_code == _native.PTP_CFA_NONE:
        if gt.ndim not in (2, 3):
            raise ValueError(f"gt must be (H, W) or planar (C, H, W), got shape {gt.shape}")
        if gt.ndim == 3 and gt.shape[-1] < min(gt.shape[:2]):
            # A last axis shorter than both others is a channel-last
            # (H, W, C) image: read as planar, (512, 512, 3) would be 512
            # planes of 512 x 3 pixels, aligned along the wrong axes with a
            # plausible result; so would multispectral (H, W, 5) (a review
            # found (6, 0) at confidence 0.11) and (H, W, 18) ((7, 0) for a
            # true (-5, 7)). Planar planes narrower than their count are
            # passed transposed.
            raise ValueError(
                f"gt has shape {gt.shape}, a channel-last (H, W, C) image; align_scene takes "
                "planar channels (C, H, W): pass np.moveaxis(gt, -1, 0) and the same for each "
                "frame (or one channel, gt[..., 1]). (Planar planes narrower than there are "
                "planes are taken only transposed, (C, W, H): the shifts then come as (dx, dy).)"
            )
    elif gt.ndim != 2:
        raise ValueError(f"gt must be a 2-D mosaic (H, W) with a CFA, got shape {gt.shape}")
    # Per-frame problems found here (the library sees only addresses, so
    # the shapes are checked here): status and message, no result.
    issues: Dict[int, Tuple[int, str]] = {
        i: (_native.PTP_ERROR_INVALID_ARGUMENT, message)
        for i, message in (problems or {}).items()}
    for i, frame in enumerate(frames):
        if i in issues or frame is None:
            issues.setdefault(i, (_native.PTP_ERROR_INVALID_ARGUMENT, f"frames[{i}] is missing"))
        elif frame.shape != gt.shape:
            issues[i] = (_native.PTP_ERROR_INVALID_SIZE,
                         f"frames[{i}] has shape {frame.shape}, the GT frame {gt.shape}; all "
                         "frames of a scene must have the GT frame's shape")

    # uint16 frames go to the library as they are; anything else (float64,
    # other integers, bool, a uint16 scene mixed with floats) as float32.
    usable = [f for i, f in enumerate(frames) if i not in issues]
    use_uint16 = _is_uint16(gt) and all(_is_uint16(f) for f in usable)
    dtype = np.uint16 if use_uint16 else np.float32
    # Values beyond float32 become inf here; the library then reports them
    # per frame, naming the pixel.
    with np.errstate(over="ignore", invalid="ignore"):
        gt_arr = np.ascontiguousarray(gt, dtype=dtype)
        frame_arrs = [None if i in issues else np.ascontiguousarray(f, dtype=dtype)
                      for i, f in enumerate(frames)]

    desc = _native.new_align_desc()
    desc.height, desc.width = gt_arr.shape[-2], gt_arr.shape[-1]
    desc.channels = gt_arr.shape[0] if gt_arr.ndim == 3 else 1
    desc.frame_dtype = _native.PTP_DTYPE_UINT16 if use_uint16 else _native.PTP_DTYPE_FLOAT32
    desc.cfa = cfa_code
    if pattern is not None:
        for k in range(36):
            desc.pattern[k] = pattern[k] if k < len(pattern) else 0
    desc.upsample_factor = upsample
    desc.normalization = normalization_code
    desc.window = window_code
    desc.combine = combine_code
    desc.snap = _snap_code(snap)
    desc.fft_planning = planning_code
    desc.max_shift = bound
    desc.method = method_code
    desc.verify = _verify_code(verify)

    ctx = _context.context(backend, num_threads)
    num = len(frame_arrs)
    # Always a callback: it also stops the call after a Ctrl-C.
    watcher = _progress.Progress(report)
    # Library messages name ptp_align_desc's fields; these are the arguments.
    with python_names(_ALIGN_NAMES), _progress.deferred_interrupt(watcher):
        key, cached = _take_plan(ctx, desc)
        plan = cached.handle
        reusable = False
        try:
            _warn_if_plan_left_the_gpu(plan)
            _native.align_set_progress(plan, watcher.function, None)
            _native.align_set_reference(plan, gt_arr.ctypes.data)
            results = (_native.AlignResult * max(num, 1))()
            for r in results:  # frames a cancelled call did not reach
                r.shift[0] = r.shift[1] = np.nan
                r.status = _native.PTP_ERROR_CANCELLED
            plane_shifts = np.full((num, cached.num_planes, 2), np.nan)
            flags = np.zeros(max(num, 1), np.uint32)
            cancelled: Optional[PtychoPatchError] = None
            if num:
                addresses = (ctypes.c_void_p * num)(
                    *[None if a is None else a.ctypes.data for a in frame_arrs])
                try:
                    _native.align_execute_frames_flags(plan, addresses, num, results,
                                                       plane_shifts.ctypes.data,
                                                       flags.ctypes.data)
                except PtychoPatchError as err:
                    if err.status != _native.PTP_ERROR_CANCELLED:
                        raise
                    cancelled = err
            _native.align_set_progress(plan, _native.PROGRESS_FN(), None)
            # Kept only after a call that ended as the library meant it to.
            reusable = True
            outcome = _collect(results, num, plane_shifts, flags[:num], issues)
            if watcher.interrupted and watcher.error is None:
                interrupt = KeyboardInterrupt()
                interrupt.partial = outcome  # the frames finished before it
                raise interrupt
            if cancelled is not None:
                cancelled.partial = outcome
                if watcher.error is not None:
                    # The callback's own exception, with the frames finished
                    # before it as .partial.
                    try:
                        watcher.error.partial = outcome
                    except AttributeError:
                        pass
                    raise watcher.error from None
                raise cancelled
            if watcher.error is not None:
                raise watcher.error
        finally:
            watcher.close()
            if reusable:
                _give_back_plan(key, cached)
            else:
                cached.close()
    del gt_arr, frame_arrs
    if warn:
        _warn_about_failed_frames(outcome)
        _warn_about_pattern(outcome)
    return outcome


def _collect(results, num: int, plane_shifts: np.ndarray, flags: np.ndarray,
             issues: Dict[int, Tuple[int, str]]) -> SceneAlignment:
    """The C results as arrays, with the problems found in Python."""
    shifts = np.full((num, 2), np.nan)
    crops = np.zeros((num, 2), np.int64)
    confidence = np.zeros(num)
    status = np.zeros(num, np.int32)
    used = np.zeros(num, np.int32)
    messages = []
    for i in range(num):
        r = results[i]
        if i in issues:
            status[i], message = issues[i]
        else:
            status[i] = r.status
            message = r.message.decode("utf-8", "replace")
            if r.status == 0:
                shifts[i] = (r.shift[0], r.shift[1])
                crops[i] = (r.crop[0], r.crop[1])
                confidence[i] = r.confidence
                used[i] = r.planes_used
            elif r.status == _native.PTP_ERROR_CANCELLED and not message:
                message = f"frames[{i}] was not aligned: the call was cancelled"
        messages.append(message)
    flags = flags.copy()
    flags[status != 0] = 0
    return SceneAlignment(shifts, crops, confidence, status, tuple(messages), plane_shifts, used,
                          flags)


def _warn_about_pattern(outcome: SceneAlignment) -> None:
    """Warns once, at align_scene's caller (stacklevel 4, through _run),
    where the library doubted the GT frame's CFA family
    (AlignFlag.PATTERN_DOUBT: its note leads each frame's message)."""
    doubted = np.flatnonzero(outcome.flags & AlignFlag.PATTERN_DOUBT)
    if doubted.size:
        note = outcome.messages[doubted[0]].split("; frames[")[0].split(": ", 1)[-1]
        warnings.warn(f"gt: {note.replace('the reference', 'it', 1)}", RuntimeWarning,
                      stacklevel=4)


def _warn_about_failed_frames(outcome: SceneAlignment) -> None:
    failed = [m for m, code in zip(outcome.messages, outcome.status) if code != 0]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        warnings.warn(
            f"{len(failed)} of {len(outcome.status)} frames have no result (NaN shift, "
            f"status in .status, reasons in .messages): {failed[0]}{more}",
            RuntimeWarning, stacklevel=4)


def align_scene(
    gt: ArrayLike,
    frames: Union[ArrayLike, Sequence[ArrayLike]],
    cfa: CfaLike = None,
    upsample_factor: int = 10,
    combine: str = "luma",
    snap: bool = False,
    normalization: Optional[str] = "partial",
    window: Optional[str] = "hann",
    backend: str = "auto",
    progress: Optional[ProgressCallback] = None,
    *,
    num_threads: int = 0,
    planning: str = "auto",
    max_shift: Optional[int] = None,
    method: str = "correlation",
    verify: Union[bool, str, None] = "refine",
) -> SceneAlignment:
    """Register every frame of a scene to its GT frame by FFT correlation.

    By default each frame becomes its luminance image: the mean of the
    period x period windows of the mosaic (every second window for Bayer, every
    third for X-Trans) over the colour planes informative in both frames
    (the mosaic cancels), with its quadratic trend (illumination,
    vignetting) removed.
    The image is correlated with the GT's (Hann window following the
    content, cross-power spectrum partially whitened) and one peak is found
    (refined to 1/`upsample_factor` of an image pixel by an upsampled DFT;
    the X-Trans image takes every third window, so 3/`upsample_factor`
    sensor pixels there):
    one shift of the whole mosaic, never an average of disagreeing planes.
    Then (``verify="refine"``, the default) the two frames are cut to what
    they share under that crop (its central 2048 x 2048 pixels on larger
    frames, the whole of it where those cannot confirm the crop) and
    aligned again (partial whitening whatever `normalization` says),
    which places the shift (coarse to fine), and a least-squares fit of
    their smoothed luminance (and, where in doubt, colour) images checks it, replacing it where the fit
    lies more than 0.1 pixel away (noisy blurred frames, whose correlation
    peaks wander). Last, a search over every shift under which the frames
    share at least half their area re-aligns a frame from a shift far from
    its result that fits clearly better (under the Hann window a large
    shift's peak can sink below an alias's). For colour mosaics every
    estimator but ``method="rawnind"`` first takes out the isolated sites
    the GT shares with at least half the frames (hot, stuck and dead pixels, at the same
    place in every frame; docs/semantics.md, "Isolated sites").
    One library plan serves the whole call: the GT frame is transformed
    once.

    A frame that cannot be aligned (NaN, a shape unlike `gt`'s, not an
    array, no plane with information) gets NaN shifts and its reason in
    ``status`` / ``messages`` while the other frames get their results; a
    RuntimeWarning says how many frames failed. A `gt` that does not look
    like a mosaic of `cfa`'s family (an X-Trans frame given a Bayer name,
    or the reverse: crops of the wrong period break the mosaic) gives every
    frame confidence 0 and a note, and a RuntimeWarning (docs/semantics.md,
    "A pattern of the other family").

    Examples
    --------
    >>> import numpy as np, ptychopatch
    >>> rng = np.random.default_rng(0)
    >>> gt = (rng.random((128, 128)) * 4000).astype(np.uint16)
    >>> moved = np.roll(gt, (4, -6), axis=(0, 1))
    >>> result = ptychopatch.align_scene(gt, [moved], cfa="RGGB")
    >>> result.crops[0].tolist(), bool(result.ok[0])
    ([-4, 6], True)

    Parameters
    ----------
    gt : array
        The reference (ground-truth) frame, (H, W); with ``cfa=None`` also
        planar (C, H, W), one plane per channel. H and W are trimmed to a
        multiple of the pattern period (2 or 6) and must be at least that.
    frames : array or sequence of arrays
        The M moving frames: a sequence of arrays shaped like `gt`, or one
        array (M, H, W) (or (M, C, H, W) for planar frames).
    cfa : None, str, or integer array
        ``None``: no mosaic (planes = channels; a single-channel `gt` that
        looks like a Bayer or X-Trans mosaic gives every frame confidence
        0, a note and a RuntimeWarning). A Bayer name ``"RGGB"``,
        ``"BGGR"``, ``"GRBG"``, ``"GBRG"`` (case-insensitive), a 2x2 array
        of LibRaw / rawpy ``raw_pattern`` codes (0 = R, 1 = G, 2 = B,
        3 = second G; ``rawpy.RawPy.raw_pattern`` can be passed as is), a
        6x6 X-Trans array (0 = R, 1 = G, 2 = B), or ``"XTRANS"``: LibRaw's
        layout of Fujifilm sensors (`XTRANS_PATTERN`, as the CLI's ``--cfa
        XTRANS``; a camera whose visible area starts elsewhere in the period
        needs its own ``raw_pattern``). Bayer gives 4 planes
        ``frame[r::2, c::2]``, X-Trans 36 planes ``frame[r::6, c::6]``.
    upsample_factor : int
        1 to 1000. k (default 10) refines the coarse shift to 1/k pixel
        of the luminance image (2/k sensor pixel for Bayer, 3/k for
        X-Trans; 1/k without a CFA), which the mosaic-preserving
        ``crops`` need (an X-Trans (3, 3) crop is half an image pixel); 1
        gives whole image pixels. The fine stage's polish places shifts
        to 1/k sensor pixel.
    combine : {"luma", "joint", "median", "mean"}
        ``"luma"`` (default): one peak of the frame's luminance image, the
        mean of the windows of the mosaic (3 x 3 Bayer weighted (1, 2, 1)
        x (1, 2, 1), every second pixel; 6 x 6 X-Trans, every third pixel:
        the mosaic cancels) over the planes informative in both frames, with its
        quadratic trend (illumination, vignetting) removed. ``"joint"``,
        ``"median"``, ``"mean"``: retired, they run the default (a
        DeprecationWarning; CHANGELOG.md).
    snap : bool
        True or False (1 or 0). Floor ``shifts`` to a multiple of 2
        (Bayer) or 3 (X-Trans), the output form of the RawNIND alignment
        tool (``crops`` are computed without it). Needs a CFA: with
        ``cfa=None`` the library refuses it.
    normalization : {"partial", "phase", "none", None}
        ``"partial"`` (default): the cross-power spectrum divided by the
        fourth root of its magnitude (partial whitening). ``"phase"``,
        ``"none"``, ``None``: retired, they run the default (a
        DeprecationWarning; CHANGELOG.md). (`phase_cross_correlation` has
        phase and plain correlation.)
    window : {"hann", None}
        ``"hann"`` (default) multiplies the mean-subtracted luminance image
        by a separable periodic Hann window before the transform. The
        moving frame's window then follows its content: up to two more
        passes with the window moved by the last peak, which removes the
        fixed window's pull toward zero shift (docs/semantics.md); and
        image sides of 256 or more are cut at their end to a fast FFT
        size at most 1/32 below (1633 rows become 1600), which about
        halves the transform time of sides with a large prime factor or
        few factors of 2. ``None`` (``"none"``): retired, it runs the
        default (a DeprecationWarning; CHANGELOG.md).
    backend : {"auto", "cpu", "gpu"}
        ``"auto"`` uses the GPU when one is usable, else the CPU.
    progress : None, True or callable, optional
        ``True`` shows a progress bar (tqdm's where it is installed, else a
        line on stderr). A callable is called as
        ``progress(frames_done, frames_total)`` by the library after each
        finished frame (possibly from a library thread). Return ``False``
        (or any false value but ``None``) to cancel; an exception raised
        inside it also cancels and is raised again once the library
        returns. Ctrl-C stops the call either way.
    num_threads : int, keyword-only
        CPU worker threads; 0 means all cores.
    planning : {"auto", "measure", "estimate", "wisdom"}, keyword-only
        How the CPU backend plans its FFTs; results agree up to FFT
        rounding. ``"measure"`` times algorithms the first time a plane
        size is seen in the process (up to seconds) for faster transforms;
        ``"estimate"`` plans in milliseconds; ``"wisdom"`` measured plans
        where known (`import_fft_wisdom`), else estimated. ``"auto"``
        measures when the scene has 8 frames or more, else ``"wisdom"``.
    max_shift : int, keyword-only
        Search only shifts with ``|dy|, |dx| <= max_shift`` sensor pixels
        (None: no bound), so that a periodic scene cannot lock onto an
        alias far away.
    method : {"correlation", "rawnind"}, keyword-only
        ``"rawnind"`` reproduces RawNIND's ``fft_phase_correlate_cfa``
        (plain zero-padded linear correlation per plane, median, truncation
        and snap), for comparing with datasets aligned by it; then leave
        `normalization`, `window`, `combine`, `snap`, `upsample_factor`
        and `max_shift` at their defaults (the method fixes them) and pass
        a CFA. It runs on the CPU.
    verify : {"refine", False}, keyword-only
        (True, "check" and "correct" are retired: they run "refine" with a
        DeprecationWarning; CHANGELOG.md.)
        The fine stage (docs/semantics.md, "The fine stage").
        ``"refine"`` (default): coarse to fine, the fine stage only where
        the result is in doubt. First a quick least-squares polish from the
        coarse estimate: where its result has no `flags` (converged, the
        crop in no doubt: probability >= 0.9999 with more than one colour,
        the GT's scene, moving as a whole, not at the bound) it stands,
        with the polish's shift. A frame it doubts is polished thoroughly
        from the coarse estimate by least squares (continued with robust
        weights, so a part of the scene that moves on its own is left out)
        on the two frames' smoothed luminance images, and where that leaves
        the crop in doubt on their colour images (a shared shift and gain,
        an offset per colour). Where that converges more than 0.1 pixel
        from the shift on an axis, it replaces the shift and its crop
        (given to 1/`upsample_factor` of a sensor pixel), and
        ``confidence`` becomes the probability that the crop is right under
        the fit's variance. Where it does not converge (tiny frames) the
        frame keeps the coarse peak's confidence with the `NO_FIT` flag,
        and its shift is the search's best where that fits better than the
        coarse one (frames of up to 128 pixels a side), else the coarse
        shift. Last, a search over
        every shift under which the frames share half their area: where a
        shift far from the result fits clearly better, the frame is
        polished again from there. Right on 99.5 % of the 252-pixel frames
        of docs/performance.md's robustness benchmark (seed 1; real photon
        noise, SNR down to 9 at mid grey) against 87.3-87.9 % for the
        coarse estimate alone.
        ``False`` (or ``"none"``): the coarse estimate alone, with its
        three tracking passes: faster on small frames, slower from about
        4 MP, where the default takes one pass (docs/performance.md).
        With ``method="rawnind"`` only the default or ``False`` (both: no
        fine stage).

    Returns
    -------
    SceneAlignment
        ``shifts`` (M, 2) float64 and ``crops`` (M, 2) int64, (dy, dx) in
        sensor pixels with scikit-image's sign: if a frame is `gt`
        translated by (+ty, +tx), its shift is (-ty, -tx); ``confidence``,
        ``status``, ``messages``, ``plane_shifts`` (``method="rawnind"``
        only), ``planes_used``, ``flags``.

    Notes
    -----
    Frames all of dtype uint16 (either byte order) are passed as uint16;
    any other real dtype (float64, float16, other integers, bool) is
    converted to float32 first, so float64 data loses precision beyond
    float32's and values beyond its range become infinite (and are
    rejected). Complex frames are a TypeError.

    Raises
    ------
    ValueError
        A `gt` of the wrong number of dimensions or channel-last, frames
        given as one array of the wrong rank, unknown Bayer names or option
        names, cfa arrays that are not 2x2 or 6x6, a `snap` that is not a
        bool.
    TypeError
        A complex or non-numeric `gt`, non-integer cfa codes or sizes.
    PtychoPatchError
        The library rejected the call: frames smaller than the pattern,
        invalid colour codes, `upsample_factor` outside [1, 1000], `snap`
        without a CFA, a non-finite `gt`, GPU requested but unavailable; or
        the progress callback cancelled (``status_name ==
        "PTP_ERROR_CANCELLED"``; the exception's ``partial`` attribute is a
        SceneAlignment holding the finished frames' results and NaN for
        the others).
    """
    _warn_retired(combine, verify, normalization, window)
    gt_arr = _real_array(gt, "gt")
    frame_arrs, problems = _frame_list(frames, gt_arr.ndim)
    return _run(gt_arr, frame_arrs, cfa=cfa, upsample_factor=upsample_factor, combine=combine,
                snap=snap, normalization=normalization, window=window, backend=backend,
                num_threads=num_threads, progress=progress, planning=planning,
                max_shift=max_shift, method=method, verify=verify, problems=problems)


def export_fft_wisdom(path: str) -> None:
    """Write the FFT plans this process has measured (FFTW wisdom) to `path`.

    Import the file in the next run (`import_fft_wisdom`) so that its
    alignments use measured plans without measuring again.

    Examples
    --------
    >>> import ptychopatch
    >>> ptychopatch.export_fft_wisdom("/tmp/ptychopatch.wisdom")  # doctest: +SKIP
    """
    _native.fft_wisdom_export(os.fsencode(path))


def import_fft_wisdom(path: str) -> None:
    """Add the FFT plans measured in an earlier run (`export_fft_wisdom`).

    Raises PtychoPatchError (``PTP_ERROR_INVALID_ARGUMENT``) when the file
    cannot be read as FFTW wisdom.
    """
    _native.fft_wisdom_import(os.fsencode(path))
