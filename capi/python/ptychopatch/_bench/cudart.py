"""The CUDA runtime by ctypes, for what the GPU cases need beyond the
library: device buffers any ``__cuda_array_interface__`` consumer takes,
raw copies (host to device, device to device) and a device-wide wait.

Where it comes from:

* on the emulated device of tests/emulation (its emulator preloaded, as
  scripts/test.sh and tests/python/test_bench_gpu.py run it): the
  emulator's own exports, found in the process; the run is then marked
  emulated (`Runtime.emulated`) and its figures are never speeds;
* elsewhere libcudart, where the dynamic loader finds it (a CUDA toolkit,
  or the nvidia-cuda-runtime wheel PyTorch installs).

Neither: `runtime()` returns why, and the implementations that need it
are skipped with that reason.

>>> isinstance(runtime(), (Runtime, str))
True
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from .registry import numpy_from_torch

H2D, D2H, D2D = 1, 2, 3  # cudaMemcpyKind

#: Names libcudart goes by (unversioned first: a toolkit's own).
LIBCUDART = ("libcudart.so", "libcudart.so.13", "libcudart.so.12")

#: A symbol only the emulator of tests/emulation exports.
EMULATOR_SYMBOL = "ptp_emu_device_allocations"


class Runtime:
    """The CUDA runtime functions the GPU cases call."""

    def __init__(self, lib: ctypes.CDLL, source: str):
        self.lib, self.source = lib, source
        self.emulated = hasattr(lib, EMULATOR_SYMBOL)
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaFree.argtypes = [ctypes.c_void_p]
        lib.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int]
        lib.cudaMemGetInfo.argtypes = [ctypes.POINTER(ctypes.c_size_t)] * 2
        for name in ("cudaMalloc", "cudaFree", "cudaMemcpy", "cudaDeviceSynchronize",
                     "cudaMemGetInfo"):
            getattr(lib, name).restype = ctypes.c_int

    def check(self, code: int, what: str) -> None:
        if code != 0:
            raise RuntimeError(f"{what} failed: CUDA error {code}")

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self.check(self.lib.cudaMalloc(ctypes.byref(ptr), max(nbytes, 1)), "cudaMalloc")
        return int(ptr.value)

    def free(self, ptr: int) -> None:
        self.lib.cudaFree(ctypes.c_void_p(ptr))

    def copy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        self.check(self.lib.cudaMemcpy(ctypes.c_void_p(dst), ctypes.c_void_p(src), nbytes,
                                       kind), "cudaMemcpy")

    def synchronize(self) -> None:
        # A device-to-device cudaMemcpy may return before the copy is done.
        self.check(self.lib.cudaDeviceSynchronize(), "cudaDeviceSynchronize")

    def used_bytes(self) -> Optional[int]:
        """Device memory in use, device-wide (every process's), or None."""
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        if self.lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) != 0:
            return None
        return total.value - free.value


@functools.lru_cache(maxsize=None)
def runtime() -> Union[Runtime, str]:
    """The runtime of this process, or why there is none."""
    here = ctypes.CDLL(None)  # what is loaded already: a preloaded emulator
    if hasattr(here, EMULATOR_SYMBOL) and hasattr(here, "cudaMalloc"):
        return Runtime(here, "the emulator of tests/emulation (preloaded)")
    for name in LIBCUDART:
        try:
            return Runtime(ctypes.CDLL(name), name)
        except OSError:
            continue
    return ("no CUDA runtime found by ctypes (" + ", ".join(LIBCUDART)
            + "): device buffers and raw copies are not measured")


class DeviceArray:
    """A C-contiguous array in device memory, exposing the CUDA Array
    Interface (what extract_patches and reassemble_patches take as device
    arrays of no known library; they then need ``out=``)."""

    def __init__(self, rt: Runtime, shape: Sequence[int], dtype: Any):
        self.rt, self.shape, self.dtype = rt, tuple(shape), np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.ptr = rt.malloc(self.nbytes)
        self.__cuda_array_interface__ = {"shape": self.shape, "typestr": self.dtype.str,
                                         "data": (self.ptr, False), "version": 3}

    @classmethod
    def of(cls, rt: Runtime, array: np.ndarray) -> "DeviceArray":
        host = np.ascontiguousarray(array)
        device = cls(rt, host.shape, host.dtype)
        rt.copy(device.ptr, host.ctypes.data, device.nbytes, H2D)
        return device

    def to_host(self) -> np.ndarray:
        host = np.empty(self.shape, self.dtype)
        self.rt.copy(host.ctypes.data, self.ptr, self.nbytes, D2H)
        return host

    def __del__(self) -> None:
        if getattr(self, "ptr", None):
            self.rt.free(self.ptr)
            self.ptr = 0


def to_host(value: Any) -> Any:
    """Host numpy copies of device results (DeviceArray, torch CUDA tensors,
    tuples of them); host values as they are."""
    if isinstance(value, tuple):
        return tuple(to_host(v) for v in value)
    if isinstance(value, DeviceArray):
        return value.to_host()
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return numpy_from_torch(value)
    return value


def copy_limit(rt: Runtime, nbytes: int, kind: int) -> Callable[[], None]:
    """A run that copies `nbytes` once (D2D: device to device; H2D: host to
    device) and waits; it holds its buffers."""
    dst = DeviceArray(rt, (nbytes,), np.uint8)
    if kind == D2D:
        src: Any = DeviceArray(rt, (nbytes,), np.uint8)
        src_ptr = src.ptr
    else:
        src = np.ones(nbytes, np.uint8)  # touched: no page faults in the timing
        src_ptr = src.ctypes.data

    def run(buffers=(dst, src)):  # the default keeps the buffers alive
        rt.copy(dst.ptr, src_ptr, nbytes, kind)
        rt.synchronize()

    return run
