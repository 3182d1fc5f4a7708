"""Python binding of libptychopatch (ctypes over its C ABI).

The shared library is found, in order, at ``$PTYCHOPATCH_LIBRARY``, next to
this package (what ``pip install .`` ships), or on the system search path.

The patch functions take numpy (host) arrays, or CUDA device arrays (CuPy,
PyTorch, Numba, anything exposing ``__cuda_array_interface__`` or CUDA
DLPack) which are used in place; the neighbour grouping functions
(`group_neighbors`, `grouped_patches`) and the alignment functions
(`align_scene`, `phase_cross_correlation`) take host arrays. Host inputs of
any kind (numpy arrays, lists, CPU PyTorch tensors) give numpy results;
device inputs give arrays of their own library on their device. See
docs/python.md.
"""

# Helpers are imported under private names, so that dir(ptychopatch) lists
# the public API only (and the submodules).
import ctypes as _ctypes
from typing import NamedTuple as _NamedTuple

from . import _context, _native
from ._diagnostics import OUTSIDE_WARNING_FRACTION
from ._errors import (GpuUnavailableWarning, OutsideObjectWarning, PtychoPatchError,
                      PtychoPatchMemoryError)
from .align import (BAYER_PATTERNS, AlignFlag, SceneAlignment, align_scene, clear_plan_cache,
                    export_fft_wisdom, import_fft_wisdom)
from .registration import phase_cross_correlation
from ._device import deferred_checks, synchronize
from .extract import extract_patches, get_image_patches
from .group import group_neighbors, grouped_patches
from .reassemble import (Reassembly, extract_offsets_gradient, legacy_offsets, reassemble_grouped,
                          reassemble_patches)

__all__ = [
    "AlignFlag",
    "BAYER_PATTERNS",
    "BackendInfo",
    "GpuUnavailableWarning",
    "OUTSIDE_WARNING_FRACTION",
    "OutsideObjectWarning",
    "PtychoPatchError",
    "PtychoPatchMemoryError",
    "Reassembly",
    "SceneAlignment",
    "align_scene",
    "backend_info",
    "clear_plan_cache",
    "cuda_device_count",
    "deferred_checks",
    "export_fft_wisdom",
    "extract_offsets_gradient",
    "extract_patches",
    "get_image_patches",
    "group_neighbors",
    "grouped_patches",
    "import_fft_wisdom",
    "legacy_offsets",
    "phase_cross_correlation",
    "reassemble_grouped",
    "reassemble_patches",
    "synchronize",
    "version",
]


_REASONS = {
    _native.PTP_BACKEND_REASON_GPU: "gpu",
    _native.PTP_BACKEND_REASON_CPU_REQUESTED: "cpu_requested",
    _native.PTP_BACKEND_REASON_NO_CUDA_BUILD: "no_cuda_build",
    _native.PTP_BACKEND_REASON_NO_GPU: "no_gpu",
    _native.PTP_BACKEND_REASON_GPU_UNUSABLE: "gpu_unusable",
}


class BackendInfo(_NamedTuple):
    """Where calls run, and why (`backend_info`).

    Attributes
    ----------
    backend : str
        ``"gpu"`` or ``"cpu"``.
    reason : str
        ``"gpu"``, ``"cpu_requested"``, ``"no_cuda_build"`` (a library built
        without CUDA), ``"no_gpu"`` (no NVIDIA driver or device) or
        ``"gpu_unusable"`` (a GPU is present but this build cannot use it).
    message : str
        The device, or the reason in words, e.g. ``"the NVIDIA driver
        supports CUDA 12.2, older than the CUDA 13.0 this build needs:
        install driver 580 or newer"``.
    """

    backend: str
    reason: str
    message: str


def backend_info(backend: str = "auto") -> BackendInfo:
    """Where calls with ``backend=`` run on this machine, and why.

    Parameters
    ----------
    backend : {"auto", "cpu", "gpu"}
        The backend a call would ask for. ``"gpu"`` raises PtychoPatchError
        (``PTP_ERROR_BACKEND_UNAVAILABLE``, with the reason) where no GPU
        is usable.

    Returns
    -------
    BackendInfo

    Examples
    --------
    >>> import ptychopatch
    >>> info = ptychopatch.backend_info()
    >>> info.backend in ("gpu", "cpu")
    True
    >>> print(info.message)  # doctest: +SKIP
    CUDA device 0 (NVIDIA H100 80GB HBM3, compute capability 9.0)
    """
    handle = _context.context(backend, 0)
    reason, message = _context.backend_reason(handle)
    where = _ctypes.c_int32()
    _native.context_get_backend(handle, _ctypes.byref(where))
    return BackendInfo("gpu" if where.value == _native.PTP_BACKEND_GPU else "cpu",
                       _REASONS.get(reason, str(reason)), message)


def version() -> str:
    """Version of the loaded library, and whether its GPU backend runs here.

    Returns
    -------
    str
        ``"MAJOR.MINOR.PATCH+cpu"`` for a library built without CUDA;
        ``"MAJOR.MINOR.PATCH+cuda"`` where the GPU backend runs on device 0;
        else ``"MAJOR.MINOR.PATCH+cuda (GPU backend unavailable: REASON)"``.

    Examples
    --------
    >>> import ptychopatch
    >>> ptychopatch.version()  # doctest: +SKIP
    '0.4.0+cuda (GPU backend unavailable: no NVIDIA driver is installed)'
    """
    text = _native.lib.ptp_version_string().decode("utf-8", "replace")
    if text.endswith(" (GPU backend unavailable)"):
        reason, message = _context.backend_reason(None)
        text = f"{text[:-1]}: {message})"
    return text


def cuda_device_count() -> int:
    """Number of usable CUDA devices.

    Returns
    -------
    int
        0 when the library was built without CUDA or no driver or device is
        present (not an error).
    """
    count = _ctypes.c_int32()
    _native.cuda_device_count(_ctypes.byref(count))
    return count.value


def _package_version() -> str:
    """The installed distribution's version when this very package is the
    installed one; else (a source checkout on sys.path, say) the loaded
    library's MAJOR.MINOR.PATCH, which CMakeLists.txt's project() VERSION
    sets for both."""
    import importlib.metadata as metadata
    import os

    try:
        dist = metadata.distribution("ptychopatch")
        installed = os.path.realpath(str(dist.locate_file("ptychopatch/__init__.py")))
        if installed == os.path.realpath(__file__):
            return dist.version
    except Exception:  # noqa: BLE001 - not installed, or unreadable metadata
        pass
    major, minor, patch = _ctypes.c_int32(), _ctypes.c_int32(), _ctypes.c_int32()
    _native.get_version(_ctypes.byref(major), _ctypes.byref(minor), _ctypes.byref(patch))
    return f"{major.value}.{minor.value}.{patch.value}"


__version__ = _package_version()
