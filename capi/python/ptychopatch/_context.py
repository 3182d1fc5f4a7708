"""Per-thread contexts, streams and plan lifetime.

A ptp_context must not be used from two threads at once, so each thread
keeps its own: one per (backend, num_threads) for host arrays, and one GPU
context per CUDA device ordinal for device arrays. Plans are cheap (they
only validate a descriptor) and are made per call, which keeps them from
ever outliving their context. The stream of a device-array call is set on
the context for that call only and reset to NULL afterwards, so a cached
context never holds on to a stream the caller may destroy.
"""

from __future__ import annotations

import ctypes
import math
import operator
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np

from . import _native
from ._errors import GpuUnavailableWarning

_BACKENDS = {
    "auto": _native.PTP_BACKEND_AUTO,
    "cpu": _native.PTP_BACKEND_CPU,
    "gpu": _native.PTP_BACKEND_GPU,
}

_INT32_MAX = 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def as_int(value, name: str, low: int = _INT64_MIN, high: int = _INT64_MAX) -> int:
    """An integer argument, range-checked: ctypes would silently truncate it.

    Python and numpy integers, 0-d integer arrays and integral floats
    (``64.0``, ``np.float32(4)``) are taken; a float with a fractional part
    (or NaN, infinity) is a ValueError, a bool or a non-number a TypeError.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got a bool")
    if isinstance(value, (float, np.floating)):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ValueError(f"{name} must be an integer, got {float(value)!r}")
        result = int(value)
    else:
        try:
            result = operator.index(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an integer, got {type(value).__name__}") from None
    if not low <= result <= high:
        raise ValueError(f"{name} = {result} is out of range [{low}, {high}]")
    return result


def backend_code(backend: str) -> int:
    """The PTP_BACKEND_* value of a backend name; ValueError for others."""
    try:
        return _BACKENDS[backend]
    except (KeyError, TypeError):
        raise ValueError(
            f"backend must be one of {sorted(_BACKENDS)}, got {backend!r}"
        ) from None


class _Context:
    def __init__(self, backend: int, num_threads: int, device: int = 0) -> None:
        options = _native.new_context_options()
        options.backend = backend
        options.num_threads = num_threads
        options.device = device
        handle = ctypes.c_void_p()
        _native.context_create(ctypes.byref(options), ctypes.byref(handle))
        self.handle = handle
        # Held so that destruction still works while the interpreter tears
        # down module globals.
        self._destroy = _native.context_destroy
        if backend == _native.PTP_BACKEND_AUTO:
            reason, message = backend_reason(handle)
            if reason == _native.PTP_BACKEND_REASON_GPU_UNUSABLE:
                warn_gpu_unavailable(f"ptychopatch runs on the CPU: {message}")

    def __del__(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            try:
                self._destroy(handle)
            except Exception:
                pass


_local = threading.local()
_warned_lock = threading.Lock()
_warned = set()


def warn_gpu_unavailable(text: str, topic: str = "context") -> None:
    """Issues GpuUnavailableWarning once per process and topic."""
    with _warned_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    warnings.warn(text, GpuUnavailableWarning, stacklevel=5)


def backend_reason(handle) -> Tuple[int, str]:
    """(ptp_backend_reason, message) of a context; None: the shared default."""
    reason = ctypes.c_int32()
    message = ctypes.c_char_p()
    _native.context_get_backend_reason(handle, ctypes.byref(reason), ctypes.byref(message))
    return reason.value, (message.value or b"").decode("utf-8", "replace")


def context(backend: str, num_threads: int) -> ctypes.c_void_p:
    """This thread's context for (backend, num_threads), created on first use."""
    code = backend_code(backend)
    threads = as_int(num_threads, "num_threads", 0, _INT32_MAX)
    cache = getattr(_local, "contexts", None)
    if cache is None:
        cache = _local.contexts = {}
    ctx = cache.get((code, threads))
    if ctx is None:
        # A failed creation (e.g. no GPU) raises and is not cached.
        ctx = cache[(code, threads)] = _Context(code, threads)
    return ctx.handle


def gpu_context(device: int) -> ctypes.c_void_p:
    """This thread's GPU context on CUDA device `device`, created on first use.

    Raises PtychoPatchError (PTP_ERROR_BACKEND_UNAVAILABLE) where the library
    has no CUDA support or the device is not usable; nothing is cached then.
    """
    ordinal = as_int(device, "device", 0, _INT32_MAX)
    cache = getattr(_local, "gpu_contexts", None)
    if cache is None:
        cache = _local.gpu_contexts = {}
    ctx = cache.get(ordinal)
    if ctx is None:
        ctx = cache[ordinal] = _Context(_native.PTP_BACKEND_GPU, 0, ordinal)
    return ctx.handle


def checks_deferred() -> bool:
    """Whether this thread is inside ``ptychopatch.deferred_checks()``."""
    return getattr(_local, "deferred", 0) > 0


@contextmanager
def deferring_checks() -> Iterator[None]:
    _local.deferred = getattr(_local, "deferred", 0) + 1
    try:
        yield
    finally:
        _local.deferred -= 1


def synchronize(ctx: ctypes.c_void_p) -> None:
    """ptp_context_synchronize on ctx (nothing with a library without it)."""
    if _native.HAS_CONTEXT_SYNCHRONIZE:
        _native.context_synchronize(ctx)


@contextmanager
def stream(ctx: ctypes.c_void_p, cuda_stream: int) -> Iterator[None]:
    """Orders the context's device-array work on `cuda_stream` (0 = NULL)."""
    _native.context_set_stream(ctx, cuda_stream or None)
    try:
        yield
    finally:
        _native.context_set_stream(ctx, None)


@contextmanager
def plan(ctx: ctypes.c_void_p, desc: _native.ExtractDesc) -> Iterator[ctypes.c_void_p]:
    """A plan for `desc` on `ctx`, destroyed on leaving the block."""
    handle = ctypes.c_void_p()
    _native.extract_plan_create(ctx, ctypes.byref(desc), ctypes.byref(handle))
    try:
        yield handle
    finally:
        _native.extract_plan_destroy(handle)
