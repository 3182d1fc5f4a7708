"""Device-array calls that do not wait: deferred offset checks.

A call on CUDA device arrays (CuPy, PyTorch, anything with
``__cuda_array_interface__`` or DLPack) is ordered on the array library's
current stream. By default it then waits for that stream, so that a
non-finite offset raises ``PtychoPatchError`` at the call, as on host
arrays. Inside ``deferred_checks()`` it returns at once instead: nothing is
waited for and nothing is allocated by the library, so the call can run in
a pipeline or be captured in a CUDA graph, and a call that finds a
non-finite offset writes nothing; ``synchronize(array)`` then raises for it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from . import _arrays, _context


@contextmanager
def deferred_checks() -> Iterator[None]:
    """Device-array calls made in this block (on this thread) do not wait.

    Each such call enqueues its offset check and its work on the stream and
    returns; one whose offsets are not all finite writes nothing, and the
    next ``synchronize`` on this thread and device raises for it (as does
    the next device-array call there made outside this block, which
    synchronizes). Host-array calls are unaffected (they always return
    complete results).

    Examples
    --------
    >>> import cupy as cp                                    # doctest: +SKIP
    >>> obj = cp.ones((256, 256), cp.complex64)              # doctest: +SKIP
    >>> offsets = cp.full((100, 1, 2), 40.0)                 # doctest: +SKIP
    >>> with ptychopatch.deferred_checks():                  # doctest: +SKIP
    ...     patches = ptychopatch.extract_patches(obj, offsets, 32)
    >>> ptychopatch.synchronize(patches)                     # doctest: +SKIP
    """
    with _context.deferring_checks():
        yield


def synchronize(array: Any) -> None:
    """Waits for the stream that calls on ``array`` use; raises for bad offsets.

    ``array`` is a device array: its device and its library's current
    stream (the ones a call on it would use) are waited for. Raises
    ``PtychoPatchError`` (``PTP_ERROR_NON_FINITE``) if a device-array call
    made on this thread since the last ``synchronize`` on that device found
    a non-finite offset and so wrote nothing; the message counts such calls
    and names the first bad patch.
    """
    view = _arrays.device_array(array, "array")
    if view is None:
        raise TypeError("synchronize takes a CUDA device array (the one whose stream to wait "
                        f"for), got {type(array).__name__}")
    ctx = _context.gpu_context(view.device)
    with _context.stream(ctx, _arrays.stream_of(view)):
        _context.synchronize(ctx)
