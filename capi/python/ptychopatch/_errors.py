"""The exception raised for every non-zero ptp_status."""

from __future__ import annotations


class PtychoPatchError(RuntimeError):
    """A libptychopatch call returned a non-zero status.

    Attributes
    ----------
    status : int
        The ``ptp_status`` value, e.g. 4 for ``PTP_ERROR_NON_FINITE``.
    status_name : str
        The status's name as the library spells it (``ptp_status_name``).
    message : str
        The library's thread-local message for the failing call
        (``ptp_last_error_message``); it names the offending argument.
    function : str
        The C function that failed.
    """

    def __init__(self, status: int, status_name: str, message: str, function: str = "") -> None:
        self.status = int(status)
        self.status_name = status_name
        self.message = message
        self.function = function
        text = message or f"{function or 'libptychopatch'} failed"
        super().__init__(f"{text} [{status_name}]")


class PtychoPatchMemoryError(PtychoPatchError, MemoryError):
    """``PTP_ERROR_OUT_OF_MEMORY``: host or device memory ran out.

    Both a `PtychoPatchError` (with the library's status and message) and a
    `MemoryError`, so ``except MemoryError`` catches it as Python users
    expect.
    """


class GpuUnavailableWarning(RuntimeWarning):
    """A GPU is present, but the library runs on the CPU (issued once).

    Raised as a warning, never an error: results are the same on the CPU,
    only slower. The message says why (e.g. a driver older than the build
    needs, or a GPU architecture the build carries no code for); call
    `ptychopatch.backend_info` for it at any time. Silence it with
    ``warnings.simplefilter("ignore", ptychopatch.GpuUnavailableWarning)``.
    """
