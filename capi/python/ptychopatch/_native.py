"""Loading libptychopatch with ctypes and declaring the C prototypes.

Every status-returning function gets an errcheck that raises
PtychoPatchError, so no call site can forget to check, and the thread-local
message is read right after the failing call on the same thread (ctypes
runs errcheck before any other Python code of this thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re

from ._errors import PtychoPatchError, PtychoPatchMemoryError

# ptp_status values used by the binding itself (the rest arrive by name).
PTP_SUCCESS = 0
PTP_ERROR_INVALID_ARGUMENT = 1
PTP_ERROR_OUT_OF_MEMORY = 6
PTP_ERROR_BACKEND_UNAVAILABLE = 7
PTP_ERROR_UNSUPPORTED = 8
PTP_ERROR_INVALID_SIZE = 2
PTP_ERROR_NON_FINITE = 4
PTP_ERROR_CANCELLED = 10
PTP_ERROR_NO_INFORMATION = 11

PTP_BACKEND_AUTO = 0
PTP_BACKEND_CPU = 1
PTP_BACKEND_GPU = 2

PTP_BACKEND_REASON_GPU = 0
PTP_BACKEND_REASON_CPU_REQUESTED = 1
PTP_BACKEND_REASON_NO_CUDA_BUILD = 2
PTP_BACKEND_REASON_NO_GPU = 3
PTP_BACKEND_REASON_GPU_UNUSABLE = 4

PTP_DTYPE_FLOAT32 = 1
PTP_DTYPE_FLOAT64 = 2
PTP_DTYPE_COMPLEX64 = 3
PTP_DTYPE_UINT16 = 4

PTP_LAYOUT_CHANNEL = 0
PTP_LAYOUT_FLAT = 1

PTP_MEMORY_HOST = 0
PTP_MEMORY_DEVICE = 1

PTP_CFA_NONE = 0
PTP_CFA_BAYER = 1
PTP_CFA_XTRANS = 2

PTP_NORMALIZATION_PHASE = 0
PTP_NORMALIZATION_NONE = 1
PTP_NORMALIZATION_PARTIAL = 2

PTP_WINDOW_NONE = 0
PTP_WINDOW_HANN = 1

PTP_FFT_PLANNING_MEASURE = 0
PTP_FFT_PLANNING_ESTIMATE = 1
PTP_FFT_PLANNING_WISDOM = 2

PTP_COMBINE_MEDIAN = 0
PTP_COMBINE_MEAN = 1
PTP_COMBINE_JOINT = 2
PTP_COMBINE_LUMA = 3

PTP_ALIGN_METHOD_CORRELATION = 0
PTP_ALIGN_METHOD_RAWNIND = 1
PTP_ALIGN_VERIFY_NONE = 0
PTP_ALIGN_VERIFY_CHECK = 1
PTP_ALIGN_VERIFY_CORRECT = 2
PTP_ALIGN_VERIFY_REFINE = 3

_ENV_VAR = "PTYCHOPATCH_LIBRARY"


def _candidate_paths():
    """Where to look, in order: the env var, next to this package, the system."""
    explicit = os.environ.get(_ENV_VAR)
    if explicit:
        # An explicit request must not silently fall back to another copy.
        return [explicit], True
    here = os.path.dirname(os.path.abspath(__file__))
    # A wheel cannot hold symlinks, so the soname chain may arrive as copies
    # of one library; shortest (unversioned) name first.
    bundled = sorted(glob.glob(os.path.join(here, "libptychopatch.so*")), key=lambda p: (len(p), p))
    system = ctypes.util.find_library("ptychopatch")
    return bundled + ([system] if system else []), False


# Libraries libptychopatch.so loads and the Debian / Ubuntu package that has
# each, for the message when one is missing.
_DEPENDENCY_PACKAGES = {
    "libfftw3f.so": "libfftw3-single3",
    "libfftw3.so": "libfftw3-double3",
    "liblz4.so": "liblz4-1",
    "libstdc++.so": "libstdc++6",
    "libgcc_s.so": "libgcc-s1",
}


def _missing_dependency(message: str):
    """The library a dynamic-loader error says it could not find (and the
    Debian package that has it), or None when the error is about something
    else."""
    found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", message)
    if not found:
        return None
    name = found.group(1)
    for prefix, package in _DEPENDENCY_PACKAGES.items():
        if name.startswith(prefix):
            return name, package
    return name, None


def _load():
    paths, explicit = _candidate_paths()
    errors = []
    missing = []
    for path in paths:
        try:
            return ctypes.CDLL(path), path
        except OSError as exc:
            errors.append(f"  {path}: {exc}")
            needed = _missing_dependency(str(exc))
            # A library that is there but needs another one that is not.
            if needed is not None and os.path.exists(path):
                missing.append(needed)
    tried = "\n".join(errors) if errors else "  (no candidate found)"
    if missing:
        name, package = missing[0]
        hint = (f" (Debian / Ubuntu: apt install {package})" if package else "")
        raise ImportError(
            f"libptychopatch was found but cannot be loaded: it needs {name}, which is not "
            f"installed{hint}. Tried:\n" + tried)
    if explicit:
        raise ImportError(f"{_ENV_VAR}={paths[0]!r} could not be loaded:\n" + tried)
    raise ImportError(
        "libptychopatch shared library not found. Install the package with "
        "`pip install .` from the repository root (which bundles it), or set "
        f"{_ENV_VAR} to the path of libptychopatch.so. Tried:\n" + tried
    )


lib, LIBRARY_PATH = _load()


class ContextOptions(ctypes.Structure):
    """Mirror of ``struct ptp_context_options`` (field order is the ABI)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("backend", ctypes.c_int32),
        ("num_threads", ctypes.c_int32),
        ("device", ctypes.c_int32),
        ("reserved0", ctypes.c_int32),
        ("device_memory_budget", ctypes.c_uint64),
    ]


class ExtractDesc(ctypes.Structure):
    """Mirror of ``struct ptp_extract_desc`` (field order is the ABI)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("height", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("patch_size", ctypes.c_int64),
        ("group_size", ctypes.c_int64),
        ("object_dtype", ctypes.c_int32),
        ("offset_dtype", ctypes.c_int32),
        ("layout", ctypes.c_int32),
        ("memory", ctypes.c_int32),
    ]


# int32_t (*ptp_progress_fn)(int64_t done, int64_t total, void* user_data)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)


class GroupDesc(ctypes.Structure):
    """Mirror of ``struct ptp_group_desc`` (field order is the ABI)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("num_samples", ctypes.c_int64),
        ("num_neighbors", ctypes.c_int32),
        ("group_size", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
        ("sequential", ctypes.c_int32),
        ("oversample", ctypes.c_int32),
        # Appended with ptp_extract_set_progress: a library without them is
        # given the older size (GROUP_DESC_SIZE_WITHOUT_PROGRESS).
        ("progress", PROGRESS_FN),
        ("progress_user_data", ctypes.c_void_p),
    ]


# ptp_group_desc before its progress fields.
GROUP_DESC_SIZE_WITHOUT_PROGRESS = GroupDesc.progress.offset


class AlignDesc(ctypes.Structure):
    """Mirror of ``struct ptp_align_desc`` (field order is the ABI)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("height", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("channels", ctypes.c_int64),
        ("frame_dtype", ctypes.c_int32),
        ("cfa", ctypes.c_int32),
        ("pattern", ctypes.c_int32 * 36),
        ("upsample_factor", ctypes.c_int32),
        ("normalization", ctypes.c_int32),
        ("window", ctypes.c_int32),
        ("combine", ctypes.c_int32),
        ("snap", ctypes.c_int32),
        ("fft_planning", ctypes.c_int32),
        ("max_shift", ctypes.c_int64),
        ("method", ctypes.c_int32),
        ("verify", ctypes.c_int32),
    ]


class CorrelateDesc(ctypes.Structure):
    """Mirror of ``struct ptp_correlate_desc``."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("height", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("normalization", ctypes.c_int32),
        ("fft_planning", ctypes.c_int32),
        ("dtype", ctypes.c_int32),  # appended after 0.4.0 (HAS_CORRELATE_F64)
    ]


class AlignResult(ctypes.Structure):
    """Mirror of ``struct ptp_align_result``."""

    _fields_ = [
        ("shift", ctypes.c_double * 2),
        ("crop", ctypes.c_int64 * 2),
        ("confidence", ctypes.c_double),
        ("status", ctypes.c_int32),
        ("planes_used", ctypes.c_int32),
        ("message", ctypes.c_char * 240),
    ]


def _initialised(struct_type, init, size=None):
    # The size tells the library which version of the struct we hold, so a
    # newer library never writes past it.
    value = struct_type()
    init(ctypes.byref(value), ctypes.sizeof(struct_type) if size is None else size)
    return value


def status_name(status: int) -> str:
    return lib.ptp_status_name(status).decode("utf-8", "replace")


def _check(result, func, args):
    if result != PTP_SUCCESS:
        message = lib.ptp_last_error_message().decode("utf-8", "replace")
        error = (PtychoPatchMemoryError if result == PTP_ERROR_OUT_OF_MEMORY
                 else PtychoPatchError)
        raise error(result, status_name(result), message, func.__name__)
    return result


def _status_function(name, *argtypes):
    func = getattr(lib, name)
    func.argtypes = list(argtypes)
    func.restype = ctypes.c_int32  # ptp_status
    func.errcheck = _check
    return func


_P = ctypes.POINTER
_handle = ctypes.c_void_p  # opaque ptp_context* / ptp_extract_plan*

lib.ptp_status_name.argtypes = [ctypes.c_int32]
lib.ptp_status_name.restype = ctypes.c_char_p
lib.ptp_last_error_message.argtypes = []
lib.ptp_last_error_message.restype = ctypes.c_char_p
lib.ptp_version_string.argtypes = []
lib.ptp_version_string.restype = ctypes.c_char_p

get_version = _status_function(
    "ptp_get_version", _P(ctypes.c_int32), _P(ctypes.c_int32), _P(ctypes.c_int32)
)
context_options_init = _status_function(
    "ptp_context_options_init", _P(ContextOptions), ctypes.c_size_t
)
context_create = _status_function("ptp_context_create", _P(ContextOptions), _P(_handle))
context_destroy = _status_function("ptp_context_destroy", _handle)
context_get_backend = _status_function("ptp_context_get_backend", _handle, _P(ctypes.c_int32))
context_get_num_threads = _status_function(
    "ptp_context_get_num_threads", _handle, _P(ctypes.c_int32)
)
# The stream is a cudaStream_t passed as void*; None is NULL (the default
# stream).
context_set_stream = _status_function("ptp_context_set_stream", _handle, ctypes.c_void_p)
context_get_stream = _status_function("ptp_context_get_stream", _handle, _P(ctypes.c_void_p))
cuda_device_count = _status_function("ptp_cuda_device_count", _P(ctypes.c_int32))
extract_desc_init = _status_function("ptp_extract_desc_init", _P(ExtractDesc), ctypes.c_size_t)
extract_output_bytes = _status_function(
    "ptp_extract_output_bytes", _P(ExtractDesc), ctypes.c_int64, _P(ctypes.c_size_t)
)
extract_plan_create = _status_function(
    "ptp_extract_plan_create", _handle, _P(ExtractDesc), _P(_handle)
)
extract_plan_destroy = _status_function("ptp_extract_plan_destroy", _handle)
extract_execute = _status_function(
    "ptp_extract_execute",
    _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t,
)
extract_execute_legacy = _status_function(
    "ptp_extract_execute_legacy",
    _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_size_t,
)

# weights is declared void* (not float*) so that a plain address, host or
# device, can be passed; None is NULL (no weights wanted).
reassemble_execute = _status_function(
    "ptp_reassemble_execute",
    _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.c_size_t,
)
# Deferred offset checks of device-array calls (ptp_context_synchronize),
# added in 0.4.0: with an older library a device-array call checks its
# offsets before returning, and there is nothing to collect.
HAS_CONTEXT_SYNCHRONIZE = hasattr(lib, "ptp_context_synchronize")
context_synchronize = _status_function(
    "ptp_context_synchronize", _handle
) if HAS_CONTEXT_SYNCHRONIZE else None

# Progress of extraction and reassembly (ptp_extract_set_progress), added
# with the progress fields of ptp_group_desc: with an older library, calls
# run without reports (and Ctrl-C reaches Python when they return).
HAS_EXTRACT_PROGRESS = hasattr(lib, "ptp_extract_set_progress")
extract_set_progress = _status_function(
    "ptp_extract_set_progress", _handle, PROGRESS_FN, ctypes.c_void_p
) if HAS_EXTRACT_PROGRESS else None
reassemble_patches = _status_function(
    "ptp_reassemble_patches",
    _handle, _P(ExtractDesc), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
)


def _missing_function(name, feature):
    """Stands in for a symbol an older library lacks: the rest of the binding
    keeps working, and only a call that needs the symbol fails, saying why."""

    def missing(*args, **kwargs):
        raise RuntimeError(
            f"{name} is not exported by {LIBRARY_PATH} ({lib.ptp_version_string().decode()}); "
            f"this function needs a libptychopatch with {feature}"
        )

    missing.__name__ = name
    return missing


def _optional_status_function(name, *argtypes, feature="scene alignment (ptp_align_*)"):
    if not hasattr(lib, name):
        return _missing_function(name, feature)
    return _status_function(name, *argtypes)


# Scene alignment (docs/semantics.md), added after 0.2.0: resolved lazily so
# that the binding still loads an older library for extraction.
align_desc_init = _optional_status_function("ptp_align_desc_init", _P(AlignDesc), ctypes.c_size_t)
align_plan_create = _optional_status_function(
    "ptp_align_plan_create", _handle, _P(AlignDesc), _P(_handle)
)
align_plan_destroy = _optional_status_function("ptp_align_plan_destroy", _handle)
align_plan_num_planes = _optional_status_function(
    "ptp_align_plan_num_planes", _handle, _P(ctypes.c_int64)
)
align_plan_get_backend = _optional_status_function(
    "ptp_align_plan_get_backend", _handle, _P(ctypes.c_int32), _P(ctypes.c_char_p),
    feature="backend reasons (0.3.0)",
)
fft_wisdom_export = _optional_status_function(
    "ptp_fft_wisdom_export", ctypes.c_char_p, feature="FFT wisdom (0.3.0)"
)
fft_wisdom_import = _optional_status_function(
    "ptp_fft_wisdom_import", ctypes.c_char_p, feature="FFT wisdom (0.3.0)"
)
# The gradient of extraction with respect to the offsets (issue 63),
# added after 0.4.0: resolved lazily, as alignment is.
extract_offsets_gradient = _optional_status_function(
    "ptp_extract_offsets_gradient",
    _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_size_t,
    ctypes.c_void_p, ctypes.c_size_t,
    feature="the offset gradient of extraction (ptp_extract_offsets_gradient)",
)
context_get_backend_reason = _optional_status_function(
    "ptp_context_get_backend_reason", _handle, _P(ctypes.c_int32), _P(ctypes.c_char_p),
    feature="backend reasons (0.3.0)",
)
align_set_progress = _optional_status_function(
    "ptp_align_set_progress", _handle, PROGRESS_FN, ctypes.c_void_p
)
align_set_reference = _optional_status_function("ptp_align_set_reference", _handle, ctypes.c_void_p)
# frames is a const void* const*: an array of frame addresses; outputs are
# double* declared void* so that numpy addresses (or None) pass as they are.
align_execute = _optional_status_function(
    "ptp_align_execute",
    _handle, _P(ctypes.c_void_p), ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p,
)

align_execute_frames = _optional_status_function(
    "ptp_align_execute_frames",
    _handle, _P(ctypes.c_void_p), ctypes.c_int64, _P(AlignResult), ctypes.c_void_p,
    feature="per-frame alignment results (0.4.0)",
)
align_execute_frames_flags = _optional_status_function(
    "ptp_align_execute_frames_flags",
    _handle, _P(ctypes.c_void_p), ctypes.c_int64, _P(AlignResult), ctypes.c_void_p,
    ctypes.c_void_p, feature="alignment flags (after 0.4.0)",
)

# The cross-correlation of one pair of images, added after 0.4.0: optional
# (phase_cross_correlation computes it with scipy where the library lacks it).
_CORRELATE = "pair cross-correlation (ptp_correlate_*, after 0.4.0)"
HAS_CORRELATE = hasattr(lib, "ptp_correlate_execute")
correlate_desc_init = _optional_status_function(
    "ptp_correlate_desc_init", _P(CorrelateDesc), ctypes.c_size_t, feature=_CORRELATE
)
correlate_plan_create = _optional_status_function(
    "ptp_correlate_plan_create", _handle, _P(CorrelateDesc), _P(_handle), feature=_CORRELATE
)
correlate_plan_destroy = _optional_status_function(
    "ptp_correlate_plan_destroy", _handle, feature=_CORRELATE
)
# Images and outputs are declared void* so that numpy addresses (or None,
# an output not wanted) pass as they are.
correlate_execute = _optional_status_function(
    "ptp_correlate_execute", _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p, feature=_CORRELATE,
)
# float64 pairs (CorrelateDesc.dtype, ptp_correlate_execute_f64), added
# later still: a library without them gets the descriptor without dtype.
_CORRELATE_F64 = "float64 pair cross-correlation (ptp_correlate_execute_f64)"
HAS_CORRELATE_F64 = hasattr(lib, "ptp_correlate_execute_f64")
correlate_execute_f64 = _optional_status_function(
    "ptp_correlate_execute_f64", _handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p, feature=_CORRELATE_F64,
)

# Neighbour grouping (docs/semantics.md), added in 0.3.0: optional like the
# alignment functions. Positions are const double*; the outputs are declared
# void* so that numpy addresses pass as they are and None is NULL (an
# optional output not wanted).
_GROUPING = "neighbour grouping (ptp_group_*, 0.3.0 or later)"
group_desc_init = _optional_status_function(
    "ptp_group_desc_init", _P(GroupDesc), ctypes.c_size_t, feature=_GROUPING
)
group_neighbors = _optional_status_function(
    "ptp_group_neighbors",
    _handle, _P(GroupDesc), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
    feature=_GROUPING,
)
grouped_patches = _optional_status_function(
    "ptp_grouped_patches",
    _handle, _P(GroupDesc), _P(ExtractDesc), ctypes.c_void_p,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p, ctypes.c_size_t,
    feature=_GROUPING,
)


def new_context_options() -> ContextOptions:
    return _initialised(ContextOptions, context_options_init)


def new_extract_desc() -> ExtractDesc:
    return _initialised(ExtractDesc, extract_desc_init)


def new_align_desc() -> AlignDesc:
    return _initialised(AlignDesc, align_desc_init)


def new_correlate_desc() -> CorrelateDesc:
    size = None if HAS_CORRELATE_F64 else CorrelateDesc.dtype.offset
    return _initialised(CorrelateDesc, correlate_desc_init, size)


def new_group_desc() -> GroupDesc:
    # An older library knows only the struct without the progress fields.
    size = None if HAS_EXTRACT_PROGRESS else GROUP_DESC_SIZE_WITHOUT_PROGRESS
    return _initialised(GroupDesc, group_desc_init, size)


# Diagnostics of patch geometry (ptp_extract_plan_get_diagnostics), added
# in 0.4: optional, so that an older library still loads (and calls on it
# are simply not checked for patches outside the object).
PTP_DIAGNOSED_NONE = 0
PTP_DIAGNOSED_EXTRACT = 1
PTP_DIAGNOSED_REASSEMBLE = 2


class ExtractDiagnostics(ctypes.Structure):
    """Mirror of ``struct ptp_extract_diagnostics`` (field order is the ABI)."""

    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("call", ctypes.c_int32),
        ("reserved0", ctypes.c_int32),
        ("patches_total", ctypes.c_int64),
        ("patches_outside", ctypes.c_int64),
        ("first_outside", ctypes.c_int64),
        ("first_outside_offset", ctypes.c_double * 2),
        ("message", ctypes.c_char * 384),
    ]


_DIAGNOSTICS = "diagnostics of patch geometry (ptp_extract_plan_get_diagnostics)"
extract_diagnostics_init = _optional_status_function(
    "ptp_extract_diagnostics_init", _P(ExtractDiagnostics), ctypes.c_size_t,
    feature=_DIAGNOSTICS,
)
extract_plan_get_diagnostics = _optional_status_function(
    "ptp_extract_plan_get_diagnostics", _handle, _P(ExtractDiagnostics), feature=_DIAGNOSTICS,
)
HAS_DIAGNOSTICS = hasattr(lib, "ptp_extract_plan_get_diagnostics")


def last_diagnostics():
    """The diagnostics of this thread's most recent extraction or reassembly
    call (ExtractDiagnostics), or None where the library has no diagnostics."""
    if not HAS_DIAGNOSTICS:
        return None
    found = _initialised(ExtractDiagnostics, extract_diagnostics_init)
    extract_plan_get_diagnostics(None, ctypes.byref(found))
    return found
