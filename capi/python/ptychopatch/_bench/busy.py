"""Busy-machine cases: a workload on one thread and on every core, beside
a synthetic load of busy processes (x per core; 0 is an idle machine).

What it shows: whether the library's own threads cost more than they gain
when other processes hold the cores (a shared node, a notebook beside
other kernels, a Dask worker per core). The library on every core is
"ours"; the same call on one thread is the reference it is compared with,
so ``ratio_to_ours`` is t(1 thread) / t(every core): at least 1 where the
threads pay, and the project's bar is at least 1 / 1.5 under any load.
The one-thread result must equal the all-core result bit for bit.

A machine this loaded deschedules any thread, one alone too, for tens of
milliseconds at a time, so single calls are bimodal; a timed run is
`CALLS` calls, and the times are per call.

The load is bounded: each process spins for at most `LOAD_SECONDS` and is
killed when the case ends, so a run can never leave it behind.

>>> with Load(0) as load:
...     load.processes
0
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Callable, List

import numpy as np

from . import data
from .._task_threads import available_processors
from .registry import Entry, Impl, same_values

#: The longest a load process lives, whatever happens to the run.
LOAD_SECONDS = 900
#: Calls per timed run.
CALLS = 10

_SPIN = ("import time\n"
         f"end = time.monotonic() + {LOAD_SECONDS}\n"
         "while time.monotonic() < end:\n"
         "    for _ in range(10000):\n"
         "        pass\n")


def cores() -> int:
    """The processors this process may run on."""
    return available_processors()


class Load:
    """`per_core` x cores busy processes for the life of the context (or
    until stop()); each spins at normal priority."""

    def __init__(self, per_core: float):
        self.processes = int(round(per_core * cores()))
        self._running: List[subprocess.Popen] = []

    def start(self) -> "Load":
        for _ in range(self.processes):
            self._running.append(subprocess.Popen([sys.executable, "-c", _SPIN],
                                                  stdin=subprocess.DEVNULL,
                                                  stdout=subprocess.DEVNULL))
        return self

    def stop(self) -> None:
        for p in self._running:
            p.kill()
        for p in self._running:
            p.wait()
        self._running = []

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _entries(load: float, run: Callable[[int], Any]) -> List[Entry]:
    """The call on every core (ours) and on one thread, beside `load`."""
    every = cores()
    run(1)  # plans, pools and inputs made before the load starts
    background = Load(load).start()
    note = f"beside {background.processes} busy processes; {CALLS} calls a run"

    def calls(threads: int) -> Callable[[], Any]:
        def timed():
            for _ in range(CALLS - 1):
                run(threads)
            return run(threads)
        return timed

    return [
        Impl("ptychopatch, every core", "ours", run=calls(every), items=CALLS,
             threads=every, note=note, teardown=background.stop),
        Impl("ptychopatch, 1 thread", "peer", run=calls(1), items=CALLS, threads=1,
             check=same_values(), note=note, teardown=background.stop),
    ]


def extract_entries(load: float, patches: int, seed: int) -> List[Entry]:
    """extract_patches of `patches` 64 x 64 patches from a 1024^2 object."""
    from .. import extract_patches

    rng = np.random.default_rng(seed)
    obj = data.complex_object(rng, 1024)
    offsets = data.offsets(rng, patches, 1, 1024, 64)
    return _entries(load, lambda t: extract_patches(obj, offsets, 64, backend="cpu",
                                                    num_threads=t))


def group_entries(load: float, positions: int, seed: int) -> List[Entry]:
    """group_neighbors of every one of `positions` positions (K 8, gridsize 2)."""
    from .. import group_neighbors

    x, y = data.positions(np.random.default_rng(seed), positions)
    return _entries(load, lambda t: group_neighbors(x, y, positions, K=8, gridsize=2,
                                                    seed=seed,
                                                    num_threads=t)["nn_indices"])
