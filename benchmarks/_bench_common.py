"""Shared by the Python benchmarks that compare the library with a Python
baseline in the same run: the timing loop and the header that says where
and with what the figures were taken."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time


def timed(fn, repeat: int):
    """(best, median, last result) of `repeat` calls of fn, in seconds."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def print_run_header(versions: str) -> None:
    """Date, machine and the given versions line, so a figure can be traced."""
    print(f"date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine   {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.platform()}")
    print(f"versions  {versions}, Python {platform.python_version()}")
