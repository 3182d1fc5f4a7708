"""What the PyTorch comparison benchmarks (align_torch.py, grid_sample_torch.py)
share: finding libptychopatch, a ctypes handle on the few C functions each
calls, a GPU context, and the checks that PyTorch and a CUDA device are there.

Imported as a sibling module (``python3 benchmarks/<script>.py`` puts this
folder first on sys.path); needs neither PyTorch nor numpy to import.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PTP_BACKEND_GPU = 2


class ContextOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint64), ("backend", ctypes.c_int32),
                ("num_threads", ctypes.c_int32), ("device", ctypes.c_int32),
                ("reserved0", ctypes.c_int32), ("device_memory_budget", ctypes.c_uint64)]


def library_path(prog: str) -> str:
    """$PTYCHOPATCH_LIBRARY, else the package's copy, else build*/ of this checkout."""
    explicit = os.environ.get("PTYCHOPATCH_LIBRARY")
    if explicit:
        return explicit
    try:
        from ptychopatch import _native  # noqa: PLC0415

        return _native.LIBRARY_PATH
    except Exception:  # noqa: BLE001 - any failure: look in the build trees
        pass
    for build in ("build-gpu", "build"):
        candidate = REPO / build / "libptychopatch.so"
        if candidate.exists():
            return str(candidate)
    raise SystemExit(f"{prog}: libptychopatch not found; set PTYCHOPATCH_LIBRARY")


class CAbi:
    """The few C functions a benchmark calls, on its own ctypes handle (so the
    prototypes never touch the Python package's): the context functions and
    `protos`, a {name: argtypes} of the benchmark's own, all returning a status."""

    def __init__(self, path: str, protos: dict):
        self.lib = lib = ctypes.CDLL(path)
        self.path = path
        p = ctypes.POINTER
        void_p, i32, size_t = ctypes.c_void_p, ctypes.c_int32, ctypes.c_size_t
        common = {
            "ptp_cuda_device_count": [p(i32)],
            "ptp_context_options_init": [p(ContextOptions), size_t],
            "ptp_context_create": [p(ContextOptions), p(void_p)],
            "ptp_context_destroy": [void_p],
        }
        for name, argtypes in {**common, **protos}.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = i32
        lib.ptp_status_name.argtypes = [i32]
        lib.ptp_status_name.restype = ctypes.c_char_p
        lib.ptp_last_error_message.argtypes = []
        lib.ptp_last_error_message.restype = ctypes.c_char_p
        lib.ptp_version_string.argtypes = []
        lib.ptp_version_string.restype = ctypes.c_char_p

    def call(self, name: str, *args) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise RuntimeError(f"{name}: {self.lib.ptp_status_name(status).decode()}: "
                               f"{self.lib.ptp_last_error_message().decode()}")

    def version(self) -> str:
        return self.lib.ptp_version_string().decode()

    def device_count(self) -> int:
        count = ctypes.c_int32()
        self.call("ptp_cuda_device_count", ctypes.byref(count))
        return count.value

    def gpu_context(self) -> ctypes.c_void_p:
        """A new context on the GPU backend (destroy with ptp_context_destroy)."""
        options = ContextOptions()
        self.call("ptp_context_options_init", ctypes.byref(options), ctypes.sizeof(options))
        options.backend = PTP_BACKEND_GPU
        ctx = ctypes.c_void_p()
        self.call("ptp_context_create", ctypes.byref(options), ctypes.byref(ctx))
        return ctx


def _import_torch(prog: str):
    """PyTorch with a CUDA device, or None after saying why there is nothing
    to compare with (the caller then exits 0)."""
    try:
        import torch  # noqa: PLC0415 - optional: absent means nothing to compare with
    except ImportError:
        print(f"{prog}: PyTorch is not installed; nothing to compare (exit 0).")
        return None
    if not torch.cuda.is_available():
        print(f"{prog}: PyTorch {torch.__version__} sees no CUDA device; "
              "nothing to compare (exit 0).")
        return None
    return torch


def _open_library(torch, prog: str, protos: dict):
    """The library (loaded after PyTorch and its own libraries) with a CUDA
    device, else None after saying it has none (the caller then fails). Prints
    the device and versions line on success."""
    abi = CAbi(library_path(prog), protos)
    if abi.device_count() == 0:
        print(f"{prog}: PyTorch sees {torch.cuda.get_device_name()}, but "
              f"{abi.path} ({abi.version()}) has no usable CUDA device (a CPU-only build?)")
        return None
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}; "
          f"libptychopatch {abi.version()} from {abi.path}", flush=True)
    return abi


def torch_and_library(prog: str, protos: dict):
    """(torch, CAbi) to compare with; otherwise says why and exits: 0 where
    PyTorch or its CUDA device is missing (nothing to compare), 1 where the
    library sees no device that PyTorch sees. PyTorch is imported (and its own
    libraries loaded) before the library."""
    torch = _import_torch(prog)
    if torch is None:
        raise SystemExit(0)
    abi = _open_library(torch, prog, protos)
    if abi is None:
        raise SystemExit(1)
    return torch, abi
