"""One library call, on host arrays or on device arrays.

Host arrays: this thread's context for (backend, num_threads), numpy
outputs. Device arrays: this thread's GPU context on the arrays' device, the
producer's current stream set on it for the call, outputs allocated by the
producer's library on that device, and PTP_MEMORY_DEVICE in the descriptor.
The library is never handed a device pointer on a CPU context.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from . import _arrays, _context, _native, _progress

Shape = Tuple[int, ...]


def extract_desc(
    height: int,
    width: int,
    patch_size: int,
    group_size: int,
    object_dtype: int,
    offset_dtype: int,
    layout: int,
) -> _native.ExtractDesc:
    """A descriptor with the library's defaults and these fields (run() sets its memory)."""
    desc = _native.new_extract_desc()
    desc.height, desc.width = height, width
    desc.patch_size = patch_size
    # c = 0 means no patches at all; the library still wants c >= 1.
    desc.group_size = max(group_size, 1)
    desc.object_dtype = object_dtype
    desc.offset_dtype = offset_dtype
    desc.layout = layout
    return desc


def run(
    desc: _native.ExtractDesc,
    primary: Optional[_arrays.DeviceArray],
    backend: str,
    num_threads: int,
    outputs: Sequence[Tuple[Shape, type]],
    execute: Callable[[ctypes.c_void_p, List[int]], None],
    check: Optional[Callable[[], None]] = None,
    given: Optional[Sequence[Optional[Any]]] = None,
    progress: Optional[_progress.Progress] = None,
) -> Tuple[List[Any], Optional[str]]:
    """Makes a plan for `desc`, allocates `outputs`, runs `execute(plan, ptrs)`.

    `primary` is the device array whose library, device and stream the call
    follows, or None for host arrays. `check()` runs once the plan exists
    and before anything is allocated (e.g. to let the library reject an
    overflowing size rather than the allocator). `given[i]`, where not None,
    is the caller's checked output (`out=`: its .obj, .ptr and .nbytes),
    used instead of allocating output i. Returns the outputs and the name of
    the library that allocated them ("numpy" for host calls; None where every
    output was the caller's device array). `progress`, where given, is
    installed on the plan (its reports, and its stop after a Ctrl-C).
    """
    _context.backend_code(backend)
    if primary is None:
        desc.memory = _native.PTP_MEMORY_HOST
        ctx = _context.context(backend, num_threads)
    else:
        _context.as_int(num_threads, "num_threads", 0, 2**31 - 1)
        if backend == "cpu":
            raise ValueError(
                'backend="cpu" cannot take CUDA device arrays; use backend="auto" or "gpu", '
                "or pass host (numpy) arrays"
            )
        desc.memory = _native.PTP_MEMORY_DEVICE
        # Fails with PTP_ERROR_BACKEND_UNAVAILABLE where no GPU is usable,
        # before any pointer reaches the library.
        ctx = _context.gpu_context(primary.device)

    # The device library is looked up only to allocate: a call whose device
    # outputs are all the caller's needs neither CuPy nor PyTorch.
    library: Optional[str] = "numpy" if primary is None else None
    with _context.plan(ctx, desc) as plan:
        if progress is not None and _native.HAS_EXTRACT_PROGRESS:
            _native.extract_set_progress(plan, progress.function, None)
        if check is not None:
            check()
        arrays: List[Any] = []
        pointers: List[int] = []
        for (shape, dtype), target in zip(outputs, given or [None] * len(outputs)):
            if target is not None:
                # The caller checked it; a last guard, as the library is told
                # the size the result needs, not the array's.
                if target.nbytes != nbytes(shape, dtype):
                    raise RuntimeError(f"internal error: an output of {target.nbytes} bytes "
                                       f"for a result of shape {shape}")
                array, ptr = target.obj, target.ptr
            elif primary is None:
                array = np.empty(shape, dtype=dtype)
                ptr = array.ctypes.data
            else:
                library = library or _arrays.output_library(primary)
                array, ptr = _arrays.empty(library, primary.device, shape, dtype)
            arrays.append(array)
            pointers.append(ptr)
        if primary is None:
            execute(plan, pointers)
        else:
            with _context.stream(ctx, _arrays.stream_of(primary)):
                execute(plan, pointers)
                # The library enqueued the work and returned; a non-finite
                # offset is reported by synchronizing, which raises here
                # unless the caller deferred it (deferred_checks()).
                if not _context.checks_deferred():
                    _context.synchronize(ctx)
    return arrays, library


def nbytes(shape: Shape, dtype: type) -> int:
    """Bytes of a C-contiguous array (of any library) of this shape and dtype."""
    count = 1
    for extent in shape:
        count *= extent
    return count * np.dtype(dtype).itemsize
