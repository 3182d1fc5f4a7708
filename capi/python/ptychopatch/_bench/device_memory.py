"""Peak device memory of one GPU implementation, beside the host RSS.

How it is known:

* on the emulated device: exactly, from the emulator's counter of the
  process's device allocations (``ptp_emu_device_memory_peak``, reset per
  implementation);
* on a real GPU: device-wide memory in use (``cudaMemGetInfo``: every
  process's, the CUDA context's own included) sampled every millisecond
  by a thread while the implementation runs, so an allocation that lives
  shorter than that can be missed; ``method`` says which.

Without a CUDA runtime (cudart.py) the figures are None with the reason.

>>> peak = DevicePeak("no CUDA runtime")
>>> with peak:
...     pass
>>> peak.as_dict()["peak_bytes"] is None
True
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Dict, Optional, Union

from .cudart import Runtime

SAMPLE_S = 0.001


class DevicePeak:
    def __init__(self, rt: Union[Runtime, str]):
        self.rt = rt
        self.peak: Optional[int] = None
        self.start: Optional[int] = None
        self.method: Optional[str] = None
        self.reason = rt if isinstance(rt, str) else ""
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _emulator(self) -> Optional[ctypes.CDLL]:
        lib = self.rt.lib
        if hasattr(lib, "ptp_emu_device_memory_peak"):
            for name in ("ptp_emu_device_memory_peak", "ptp_emu_device_memory_in_use"):
                getattr(lib, name).restype = ctypes.c_size_t
            return lib
        return None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            used = self.rt.used_bytes()
            if used is not None:
                self.peak = max(self.peak or 0, used)

    def __enter__(self) -> "DevicePeak":
        if isinstance(self.rt, str):
            return self
        if self.rt.emulated:
            lib = self._emulator()
            if lib is None:
                self.reason = ("this emulator build has no ptp_emu_device_memory_peak "
                               "(rebuild tests/emulation)")
                return self
            lib.ptp_emu_reset_device_memory_peak()
            self.start = lib.ptp_emu_device_memory_in_use()
            self.method = "emulator allocation counter (this process, exact)"
            return self
        self.start = self.rt.used_bytes()
        if self.start is None:
            self.reason = "cudaMemGetInfo failed"
            return self
        self.peak = self.start
        self.method = f"cudaMemGetInfo sampled every {SAMPLE_S * 1e3:g} ms (device-wide)"
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            used = self.rt.used_bytes()
            if used is not None:
                self.peak = max(self.peak or 0, used)
        elif self.method is not None:
            self.peak = int(self._emulator().ptp_emu_device_memory_peak())

    def as_dict(self) -> Dict[str, Any]:
        """peak_bytes, above_start_bytes (the growth over what was in use at
        entry: the inputs already on the device excluded), method; or the
        reason they are None."""
        above = None if self.peak is None or self.start is None else max(0, self.peak
                                                                          - self.start)
        return {"peak_bytes": self.peak, "above_start_bytes": above, "method": self.method,
                "reason": self.reason if self.peak is None else ""}
