"""Python binding of libptychopatch (ctypes over its C ABI).

The shared library is found, in order, at ``$PTYCHOPATCH_LIBRARY``, next to
this package (what ``pip install .`` ships), or on the system search path.

The patch functions take numpy (host) arrays, or CUDA device arrays (CuPy,
PyTorch, Numba, anything exposing ``__cuda_array_interface__`` or CUDA
DLPack) which are used in place; the neighbour grouping functions
(`group_neighbors`, `grouped_patches`) and the alignment functions
(`align_scene`, `phase_cross_correlation`) take host arrays. See
docs/python.md.
"""

from __future__ import annotations

import ctypes

from . import _native
from ._errors import PtychoPatchError
from .align import (BAYER_PATTERNS, Registration, SceneAlignment, align_scene,
                    phase_cross_correlation)
from .extract import extract_patches, get_image_patches
from .group import group_neighbors, grouped_patches
from .reassemble import Reassembly, legacy_offsets, reassemble_patches

__all__ = [
    "BAYER_PATTERNS",
    "PtychoPatchError",
    "Reassembly",
    "Registration",
    "SceneAlignment",
    "align_scene",
    "cuda_device_count",
    "extract_patches",
    "get_image_patches",
    "group_neighbors",
    "grouped_patches",
    "legacy_offsets",
    "phase_cross_correlation",
    "reassemble_patches",
    "version",
]


def version() -> str:
    """Version of the loaded library.

    Returns
    -------
    str
        ``"MAJOR.MINOR.PATCH+cuda"`` or ``"MAJOR.MINOR.PATCH+cpu"``, as
        ``ptp_version_string`` reports it.
    """
    return _native.lib.ptp_version_string().decode("utf-8", "replace")


def cuda_device_count() -> int:
    """Number of usable CUDA devices.

    Returns
    -------
    int
        0 when the library was built without CUDA or no driver or device is
        present (not an error).
    """
    count = ctypes.c_int32()
    _native.cuda_device_count(ctypes.byref(count))
    return count.value
