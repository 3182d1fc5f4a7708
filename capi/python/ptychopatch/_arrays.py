"""CUDA device arrays: recognising them, reading their pointers, allocating
outputs next to them, and finding the stream to order work on.

A device array is any object exposing ``__cuda_array_interface__`` (CuPy,
Numba, PyTorch CUDA tensors, ...) or, failing that, DLPack
(``__dlpack__`` / ``__dlpack_device__``) with a CUDA device. Device arrays are
used in place: they must already be C-contiguous and of the right dtype, as
converting them would be a silent device copy.

CuPy, PyTorch and Numba are never imported by this package up front; a
module is imported here only when an array from it has been passed in (so it
is already loaded), or, for an array from an unknown producer, to allocate
the output (CuPy first, then PyTorch).
"""

from __future__ import annotations

import ctypes
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import sys

import numpy as np


def host_asarray(value: Any, name: str) -> np.ndarray:
    """np.asarray of a host argument, refusing a masked array with masked
    elements: the library has no notion of a mask, and np.asarray would
    silently hand it the hidden values."""
    # numpy loads numpy.ma on first use; if it is not loaded, no masked array
    # exists, and importing it here could fail (it did under a memory limit).
    if _library_of(value) == "torch" and getattr(value, "requires_grad", False):
        # As for a CUDA tensor (device_array); np.asarray would raise
        # PyTorch's own RuntimeError.
        raise _requires_grad_error(name)
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(value, ma.MaskedArray) and ma.is_masked(value):
        raise ValueError(
            f"{name} is a numpy masked array with {int(ma.count_masked(value))} masked "
            f"element(s); the library would read the values under the mask. Fill them "
            f"first (e.g. {name}.filled(0)) or pass {name}.data to use them as they are"
        )
    if _library_of(value) == "torch":
        try:
            return np.asarray(value)
        except RuntimeError:
            # A PyTorch built against another numpy ABI ("Numpy is not available"):
            # DLPack needs no numpy C API.
            return np.from_dlpack(value.resolve_conj())
    return np.asarray(value)


# DLPack device types (dlpack.h).
_DL_CPU = 1
_DL_CUDA = 2
_DL_CUDA_MANAGED = 13
_DL_CUDA_TYPES = (_DL_CUDA, _DL_CUDA_MANAGED)

# Producers this module knows how to ask for a device, a stream and an
# allocation, keyed by the top-level module of the array's type.
_KNOWN_LIBRARIES = ("cupy", "torch", "numba")


@dataclass(frozen=True)
class DeviceArray:
    """What the binding needs to know about one caller's device array."""

    obj: Any  # the caller's object
    ptr: int  # address of element 0 (0 only for an empty array)
    shape: Tuple[int, ...]
    dtype: np.dtype
    device: int  # CUDA device ordinal
    library: str  # "cupy", "torch", "numba", or "" for another producer
    cai_stream: Optional[int]  # the interface's 'stream' entry, if any
    keepalive: Any = None  # a DLPack capsule, which owns the memory while held

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _library_of(x: Any) -> str:
    root = type(x).__module__.partition(".")[0]
    return root if root in _KNOWN_LIBRARIES else ""


def _requires_grad_error(name: str) -> ValueError:
    return ValueError(
        f"{name} is a PyTorch tensor that requires grad; ptychopatch does not record "
        f"gradients, so pass {name}.detach() (sharing the same memory)"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_c_contiguous(shape: Sequence[int], strides: Optional[Sequence[int]], itemsize: int) -> bool:
    """Whether byte strides describe a C-contiguous array (None means they do).

    Axes of length 1 may have any stride, and an empty array is contiguous,
    as in numpy.
    """
    if strides is None or 0 in shape:
        return True
    expected = itemsize
    for extent, stride in zip(reversed(tuple(shape)), reversed(tuple(strides))):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


# ------------------------------------------------- __cuda_array_interface__


@dataclass(frozen=True)
class InterfaceView:
    """The fields of a parsed ``__cuda_array_interface__``."""

    ptr: int
    readonly: bool
    shape: Tuple[int, ...]
    dtype: np.dtype
    strides: Optional[Tuple[int, ...]]  # bytes; None for C-contiguous
    version: int
    stream: Optional[int]


def parse_cuda_array_interface(cai: Any, name: str) -> InterfaceView:
    """Reads and checks a CUDA Array Interface dict (versions 0 to 3).

    Raises TypeError or ValueError, naming `name`, for a malformed dict, a
    masked array, a null pointer to a non-empty array, or the stream value
    0 (which version 3 forbids as ambiguous).
    """
    where = f"{name}.__cuda_array_interface__"
    if not isinstance(cai, Mapping):
        raise TypeError(f"{where} must be a dict, got {type(cai).__name__}")
    for key in ("shape", "typestr", "data", "version"):
        if key not in cai:
            raise ValueError(f"{where} has no {key!r} entry")

    version = cai["version"]
    if not _is_int(version) or version < 0:
        raise ValueError(f"{where}['version'] must be a non-negative integer, got {version!r}")

    shape = cai["shape"]
    if not isinstance(shape, (tuple, list)) or not all(_is_int(s) and s >= 0 for s in shape):
        raise ValueError(f"{where}['shape'] must be a tuple of non-negative integers, "
                         f"got {shape!r}")
    shape = tuple(int(s) for s in shape)

    typestr = cai["typestr"]
    if not isinstance(typestr, str):
        raise TypeError(f"{where}['typestr'] must be a string, got {typestr!r}")
    try:
        dtype = np.dtype(typestr)
    except TypeError:
        raise TypeError(f"{where}['typestr'] {typestr!r} is not a dtype") from None

    data = cai["data"]
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and _is_int(data[0])
            and data[0] >= 0):
        raise ValueError(f"{where}['data'] must be a (pointer, read_only) pair with an "
                         f"integer pointer, got {data!r}")
    ptr, readonly = int(data[0]), bool(data[1])
    if ptr == 0 and math.prod(shape) != 0:
        raise ValueError(f"{where}['data'] is a null pointer for a non-empty array of "
                         f"shape {shape}")

    strides = cai.get("strides")
    if strides is not None:
        if not (isinstance(strides, (tuple, list)) and len(strides) == len(shape)
                and all(_is_int(s) for s in strides)):
            raise ValueError(f"{where}['strides'] must be None or {len(shape)} integers "
                             f"(bytes), got {strides!r}")
        strides = tuple(int(s) for s in strides)

    if cai.get("mask") is not None:
        raise ValueError(f"{where} has a mask; masked arrays are not supported")

    stream = cai.get("stream")
    if stream is not None:
        if not _is_int(stream):
            raise ValueError(f"{where}['stream'] must be None or an integer, got {stream!r}")
        if stream == 0:
            raise ValueError(f"{where}['stream'] is 0, which the CUDA Array Interface "
                             f"forbids (use 1 for the legacy default stream)")
        stream = int(stream)

    return InterfaceView(ptr, readonly, shape, dtype, strides, int(version), stream)


# ------------------------------------------------------------------ DLPack


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),  # elements, not bytes
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


_CAPSULE_NAME = b"dltensor"
_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid.restype = ctypes.c_int
_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_get_pointer.restype = ctypes.c_void_p

# (type code, bits) -> numpy dtype, for single-lane DLPack types.
_DL_DTYPES = {
    (0, 8): np.int8, (0, 16): np.int16, (0, 32): np.int32, (0, 64): np.int64,
    (1, 8): np.uint8, (1, 16): np.uint16, (1, 32): np.uint32, (1, 64): np.uint64,
    (2, 16): np.float16, (2, 32): np.float32, (2, 64): np.float64,
    (5, 64): np.complex64, (5, 128): np.complex128, (6, 8): np.bool_,
}


@dataclass(frozen=True)
class DLPackView:
    """The fields of a DLPack tensor, as read from its capsule."""

    ptr: int  # data + byte_offset
    shape: Tuple[int, ...]
    dtype: Optional[np.dtype]  # None: a type numpy cannot name (bfloat16, lanes > 1)
    dtype_code: Tuple[int, int, int]  # (code, bits, lanes)
    strides: Optional[Tuple[int, ...]]  # bytes; None for C-contiguous
    device: Tuple[int, int]  # (device_type, device_id)


def parse_dlpack_capsule(capsule: Any, name: str) -> DLPackView:
    """Reads a legacy (unversioned) ``"dltensor"`` capsule without consuming it.

    The capsule keeps ownership: its destructor calls the producer's deleter
    when the capsule is released, so the caller must hold the capsule for as
    long as the memory is in use.
    """
    if not _capsule_is_valid(capsule, _CAPSULE_NAME):
        raise TypeError(f"{name}.__dlpack__() did not return an unconsumed 'dltensor' capsule")
    address = _capsule_get_pointer(capsule, _CAPSULE_NAME)
    tensor = _DLManagedTensor.from_address(address).dl_tensor
    ndim = int(tensor.ndim)
    if ndim < 0 or (ndim > 0 and not tensor.shape):
        raise ValueError(f"{name}: malformed DLPack tensor (ndim {ndim})")
    shape = tuple(int(tensor.shape[i]) for i in range(ndim))
    if any(s < 0 for s in shape):
        raise ValueError(f"{name}: malformed DLPack tensor (shape {shape})")
    code = (int(tensor.dtype.code), int(tensor.dtype.bits), int(tensor.dtype.lanes))
    numpy_type = _DL_DTYPES.get(code[:2]) if code[2] == 1 else None
    dtype = np.dtype(numpy_type) if numpy_type is not None else None
    strides = None
    if tensor.strides and dtype is not None:
        strides = tuple(int(tensor.strides[i]) * dtype.itemsize for i in range(ndim))
    ptr = (tensor.data or 0) + int(tensor.byte_offset)
    device = (int(tensor.device.device_type), int(tensor.device.device_id))
    return DLPackView(ptr, shape, dtype, code, strides, device)


def _dlpack_device(x: Any, name: str) -> Optional[Tuple[int, int]]:
    method = getattr(x, "__dlpack_device__", None)
    if method is None:
        return None
    result = method()
    try:
        device_type, device_id = result
        return int(device_type), int(device_id)
    except (TypeError, ValueError):
        raise TypeError(f"{name}.__dlpack_device__() must return (device_type, device_id), "
                        f"got {result!r}") from None


# --------------------------------------------------------- classification


def _device_of(x: Any, library: str, name: str) -> int:
    """CUDA ordinal of an array exposing the CUDA Array Interface, which
    itself does not say: DLPack's device if the object has it, Numba's
    current device for Numba arrays, else 0 (the library then rejects a
    pointer that is not on that device)."""
    dl = _dlpack_device(x, name) if hasattr(x, "__dlpack_device__") else None
    if dl is not None and dl[0] in _DL_CUDA_TYPES:
        return dl[1]
    if library == "numba":
        from numba import cuda  # already imported: x is a Numba array

        return int(cuda.get_current_device().id)
    return 0


def _require_contiguous(name: str, shape, strides, dtype: np.dtype) -> None:
    if not is_c_contiguous(shape, strides, dtype.itemsize):
        raise ValueError(
            f"{name} is a non-contiguous device array (shape {tuple(shape)}, byte strides "
            f"{tuple(strides)}); device arrays are used in place, never copied, so they must "
            f"be C-contiguous: pass a contiguous copy (cupy.ascontiguousarray(x), "
            f"x.contiguous() in PyTorch)"
        )


def is_device_array(x: Any) -> bool:
    """Whether x lives in CUDA memory (CUDA Array Interface, or DLPack on
    CUDA), decided without using it: for functions that take host arrays
    only and want to say so clearly."""
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float, complex)):
        return False
    # A CPU PyTorch tensor raises AttributeError here, which getattr absorbs.
    if getattr(x, "__cuda_array_interface__", None) is not None:
        return True
    try:
        dl = _dlpack_device(x, "array")
    except Exception:  # noqa: BLE001 - not a usable DLPack producer: not a device array
        return False
    return dl is not None and dl[0] in _DL_CUDA_TYPES


def device_array(x: Any, name: str) -> Optional[DeviceArray]:
    """A DeviceArray for a CUDA device array, None for anything else.

    Raises for device arrays that cannot be used in place (non-contiguous,
    masked, a PyTorch tensor requiring grad) and for arrays on a device that
    is neither the host nor CUDA.
    """
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float, complex)):
        return None
    library = _library_of(x)
    if library == "torch":
        if not getattr(x, "is_cuda", False):
            return None
        if getattr(x, "requires_grad", False):
            raise _requires_grad_error(name)

    cai = getattr(x, "__cuda_array_interface__", None)
    if cai is not None:
        view = parse_cuda_array_interface(cai, name)
        _require_contiguous(name, view.shape, view.strides, view.dtype)
        return DeviceArray(x, view.ptr, view.shape, view.dtype, _device_of(x, library, name),
                           library, view.stream)

    dl = _dlpack_device(x, name)
    if dl is None or dl[0] == _DL_CPU:
        return None  # host memory: numpy takes it
    if dl[0] not in _DL_CUDA_TYPES:
        raise TypeError(f"{name} is on DLPack device type {dl[0]}, which is neither the host "
                        f"(1) nor CUDA ({_DL_CUDA}, or {_DL_CUDA_MANAGED} for managed memory)")
    # stream=None: the producer makes the data ready for CUDA's legacy
    # default stream, which is the stream this call then uses (NULL).
    capsule = x.__dlpack__()
    view = parse_dlpack_capsule(capsule, name)
    if view.device[0] not in _DL_CUDA_TYPES or view.device[1] != dl[1]:
        raise ValueError(f"{name}: __dlpack_device__() says {dl} but its capsule says "
                         f"{view.device}")
    if view.dtype is None:
        code, bits, lanes = view.dtype_code
        raise TypeError(f"{name} is a device array of DLPack type (code {code}, {bits} bits, "
                        f"{lanes} lanes), which this package does not use")
    if view.ptr == 0 and math.prod(view.shape) != 0:
        raise ValueError(f"{name}: DLPack tensor of shape {view.shape} has a null data pointer")
    _require_contiguous(name, view.shape, view.strides, view.dtype)
    return DeviceArray(x, view.ptr, view.shape, view.dtype, dl[1], library, None,
                       keepalive=capsule)


def _plural(names: Sequence[str]) -> str:
    return ", ".join(names) + (" is" if len(names) == 1 else " are")


def split_host_device(arrays: Dict[str, Any]) -> Optional[Dict[str, DeviceArray]]:
    """None when every array is a host array; else a DeviceArray for each.

    Mixing host and device arrays is a TypeError, arrays on different CUDA
    devices a ValueError: nothing is copied between memories implicitly.
    """
    found = {name: device_array(x, name) for name, x in arrays.items()}
    on_device = [name for name, d in found.items() if d is not None]
    if not on_device:
        return None
    on_host = [name for name, d in found.items() if d is None]
    if on_host:
        raise TypeError(
            f"{_plural(on_device)} on a CUDA device but {_plural(on_host)} in host memory; "
            f"host and device arrays cannot be mixed in one call (nothing is copied "
            f"implicitly): move them to the same place first"
        )
    devices = {name: d.device for name, d in found.items()}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on device {dev}" for name, dev in devices.items())
        raise ValueError(f"all device arrays of one call must be on one CUDA device; got {where}")
    return found  # type: ignore[return-value]


def require_dtype(array: DeviceArray, name: str, allowed: Sequence[type]) -> None:
    """TypeError unless a device array already has one of the allowed dtypes."""
    if array.dtype not in [np.dtype(t) for t in allowed]:
        names = " or ".join(np.dtype(t).name for t in allowed)
        raise TypeError(
            f"{name} is a device array of dtype {array.dtype.str} ({array.dtype.name}); device "
            f"arrays are used in place, never converted, so it must be {names} "
            f"(native byte order): convert it on the device first"
        )


# ------------------------------------------------------ streams, outputs


def stream_of(array: DeviceArray) -> int:
    """The cudaStream_t (as an int, 0 = NULL) to order a call on.

    CuPy: the current stream of the array's device; PyTorch: the current
    stream of the tensor's device; others: the interface's 'stream' entry
    (1 and 2 are CUDA's legacy and per-thread default-stream handles), else
    NULL, the default stream.
    """
    if array.library == "cupy":
        import cupy  # already imported: the array is CuPy's

        with cupy.cuda.Device(array.device):
            return int(cupy.cuda.get_current_stream().ptr)
    if array.library == "torch":
        import torch  # already imported: the tensor is PyTorch's

        return int(torch.cuda.current_stream(array.device).cuda_stream)
    return array.cai_stream or 0


_TORCH_DTYPE_NAMES = {np.dtype(np.complex64): "complex64", np.dtype(np.float32): "float32"}


def _allocate(library: str, device: int, shape: Tuple[int, ...], dtype: np.dtype) -> Any:
    if library == "cupy":
        import cupy

        with cupy.cuda.Device(device):
            return cupy.empty(shape, dtype=dtype)
    if library == "torch":
        import torch

        return torch.empty(shape, dtype=getattr(torch, _TORCH_DTYPE_NAMES[np.dtype(dtype)]),
                           device=torch.device("cuda", device))
    if library == "numba":
        from numba import cuda

        with cuda.gpus[device]:
            return cuda.device_array(shape, dtype=dtype)
    raise AssertionError(library)


def output_library(array: DeviceArray) -> str:
    """The library that allocates outputs for calls on `array`: its own
    (CuPy, PyTorch, Numba), else CuPy, else PyTorch, whichever imports."""
    if array.library:
        return array.library
    for candidate in ("cupy", "torch"):
        try:
            importlib.import_module(candidate)
        except ImportError:
            continue
        return candidate
    raise TypeError(
        f"device arrays of type {type(array.obj).__module__}.{type(array.obj).__qualname__} "
        f"are accepted, but the result must be allocated by CuPy or PyTorch and neither "
        f"can be imported"
    )


def empty(library: str, device: int, shape: Tuple[int, ...], dtype: type) -> Tuple[Any, int]:
    """An uninitialised device array of `library` and its address."""
    out = _allocate(library, device, tuple(shape), np.dtype(dtype))
    if library == "torch":
        return out, int(out.data_ptr())
    return out, int(out.__cuda_array_interface__["data"][0])


_AVERAGE_BLOCK = 1 << 16  # about this many elements per block of the numpy division


def average_in_place(canvas: Any, weights: Any, library: str, device: int = 0) -> None:
    """canvas /= weights where weights > 0, and 0 elsewhere, in the canvas's library."""
    if library == "numpy":
        # In blocks, so that the masks stay small: a caller reusing its
        # canvas (out=) allocates nothing of the canvas's size.
        rows = max(1, _AVERAGE_BLOCK // max(1, canvas[:1].size))
        for start in range(0, canvas.shape[0], rows):
            part = canvas[start:start + rows]  # a view: written in place
            part_weights = weights[start:start + rows]
            covered = part_weights > 0
            np.divide(part, part_weights, out=part, where=covered)
            part[~covered] = 0
    elif library == "cupy":
        import cupy

        with cupy.cuda.Device(device):
            covered = weights > 0
            canvas /= cupy.where(covered, weights, cupy.float32(1))
            canvas[~covered] = 0
    elif library == "torch":
        import torch

        covered = weights > 0
        canvas.div_(torch.where(covered, weights, torch.ones_like(weights)))
        canvas.masked_fill_(~covered, 0)
    else:
        raise TypeError(
            f"average=True needs NumPy, CuPy or PyTorch arrays, not {library}; call with "
            f"average=False and divide the canvas by the returned weights where they are > 0"
        )
