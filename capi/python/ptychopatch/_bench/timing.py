"""Timing and memory of one implementation: repetitions, min/median/max,
peak resident memory.

Why a budget rather than a fixed count: a curve spans three orders of
magnitude, and a fixed count of repetitions either wastes minutes on the
large points or gives one noisy sample on the small ones. `measure` times
one run, then repeats while the total stays under the budget, up to
`repeat` runs.

>>> t = measure(lambda: sum(range(1000)), repeat=3, budget_s=1.0)
>>> t.repeat, t.min <= t.median <= t.max
(3, True)
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional


@dataclass
class Timing:
    """Seconds of each timed run of one implementation."""

    times: List[float]

    @property
    def repeat(self) -> int:
        return len(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    def as_dict(self) -> Dict[str, Any]:
        return {"repeat": self.repeat, "min": self.min, "median": self.median,
                "max": self.max}


def measure(run: Callable[[], Any], repeat: int, budget_s: float,
            prepare: Optional[Callable[[], None]] = None) -> Timing:
    """Times `run` (already warmed up by the caller) at least once and at
    most `repeat` times, stopping once the runs so far took `budget_s`;
    `prepare`, where given, is called before each run, untimed."""
    times: List[float] = []
    while len(times) < max(1, repeat):
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        if sum(times) >= budget_s:
            break
    return Timing(times)


# ------------------------------------------------------------------ memory
# Linux keeps the process's peak resident set (VmHWM) and resets it when
# "5" is written to /proc/self/clear_refs (kernel >= 4.0); that gives a
# peak per implementation instead of the process's lifetime peak. Where the
# reset is refused, the lifetime peak (getrusage) is reported and marked so.

_STATUS = "/proc/self/status"


def _status_kib(field: str) -> Optional[int]:
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Resets the process's peak RSS; False where the system does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def current_rss_bytes() -> Optional[int]:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int:
    """The peak RSS since the last reset (or since the process started)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS


class PeakRss:
    """Peak host RSS over a ``with`` block.

    >>> with PeakRss() as rss:
    ...     block = bytearray(50 << 20)
    >>> rss.as_dict()["peak_bytes"] >= 50 << 20
    True
    """

    def __enter__(self) -> "PeakRss":
        self.reset = reset_peak_rss()
        self.start = current_rss_bytes()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.peak = peak_rss_bytes()

    def as_dict(self) -> Dict[str, Any]:
        """peak_bytes; above_start_bytes, the growth over the RSS at entry
        (the inputs already held excluded); per_case False where the peak
        is the process's lifetime peak."""
        above = None if self.start is None else max(0, self.peak - self.start)
        return {"peak_bytes": self.peak, "above_start_bytes": above, "per_case": self.reset}
