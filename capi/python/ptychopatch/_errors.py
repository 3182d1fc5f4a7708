"""The exception raised for every non-zero ptp_status, and the rewording
of the library's messages in the Python arguments' names."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator, Mapping


class PtychoPatchError(RuntimeError):
    """A libptychopatch call returned a non-zero status.

    Attributes
    ----------
    status : int
        The ``ptp_status`` value, e.g. 4 for ``PTP_ERROR_NON_FINITE``.
    status_name : str
        The status's name as the library spells it (``ptp_status_name``).
    message : str
        What went wrong, naming the offending argument. The patch and
        grouping functions name it as their Python signature does (``N``,
        ``nsamples``, ``obj.shape[0]``, ...).
    library_message : str
        The library's own message (``ptp_last_error_message``), which names
        the C function and the C descriptor fields.
    function : str
        The C function that failed.
    """

    def __init__(self, status: int, status_name: str, message: str, function: str = "") -> None:
        self.status = int(status)
        self.status_name = status_name
        self.message = message
        self.library_message = message
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


class OutsideObjectWarning(UserWarning):
    """Many patches of a call lie entirely outside the object.

    Issued by `extract_patches`, `get_image_patches`, `grouped_patches`,
    `reassemble_patches` and `reassemble_grouped` when more than
    ``OUTSIDE_WARNING_FRACTION`` (5 %) of a call's patches read no object
    pixel at all (all their bilinear samples are the zero padding, so they
    are all zeros, or add nothing to the canvas). Offsets that far away are
    valid, so the call still succeeds; but it is the signature of offsets
    given as (y, x) instead of (x, y), or in another frame than the
    object's pixels (e.g. relative to its centre). Counted by the library
    for host-memory offsets (``ptp_extract_plan_get_diagnostics``); calls
    on CUDA device arrays are not checked.

    Attributes
    ----------
    patches_outside : int
        Patches of the call entirely outside the object.
    patches_total : int
        Patches of the call.
    first_outside : int
        Index (in the flat order b * c + k) of the first of them.

    Silence it with ``warnings.simplefilter("ignore",
    ptychopatch.OutsideObjectWarning)`` where far-away patches are meant.
    """

    def __init__(self, message: str, patches_outside: int = 0, patches_total: int = 0,
                 first_outside: int = -1) -> None:
        super().__init__(message)
        self.patches_outside = patches_outside
        self.patches_total = patches_total
        self.first_outside = first_outside


# "ptp_extract_plan_create: " in front of every library message.
_FUNCTION_PREFIX = re.compile(r"^ptp_\w+: ")

# Wording of the library that no Python signature has, for every function.
_COMMON = {
    "desc->memory is PTP_MEMORY_DEVICE but the context runs on the CPU; device arrays need "
    "a GPU context": "CUDA device arrays cannot run on the CPU backend",
    "num_patches * N * N": "the number of patches * N * N",
    "argument 'num_patches'": "the number of patches",
}


def python_message(message: str, names: Mapping[str, str]) -> str:
    """A library message with the C names replaced by Python ones.

    `names` maps text of the library's messages (``"desc->patch_size"``)
    to what the calling function's user knows it as (``"N"``); the longest
    text is replaced first, and every piece of text at most once.
    """
    message = _FUNCTION_PREFIX.sub("", message)
    table = {**_COMMON, **names}
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))
    return pattern.sub(lambda m: table[m.group(0)], message)


@contextmanager
def python_names(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raises a PtychoPatchError of the block with its message in the
    Python arguments' names (`python_message`); status, function and any
    other attribute are kept, and ``library_message`` keeps the original."""
    try:
        yield
    except PtychoPatchError as err:
        renamed = python_message(err.message, names)
        if renamed == err.message:
            raise
        new = type(err).__new__(type(err))
        new.__dict__.update(err.__dict__)
        new.message = renamed
        new.args = (f"{renamed} [{err.status_name}]",)
        raise new.with_traceback(err.__traceback__) from None
