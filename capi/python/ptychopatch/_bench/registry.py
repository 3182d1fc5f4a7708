"""What a benchmark case is: its parameters, its implementations (the
library first, then peers and limits) and how a peer's result is checked
against the library's before the peer is timed.

A case's ``build`` makes the inputs and returns the implementations; the
runner (runner.py) times them. A peer that cannot run here (its package is
not installed, no device) is returned as `Skipped` with the reason, so the
report says why it is missing instead of leaving a gap.

>>> impl = Impl("numpy", "peer", run=lambda: 2, items=1, check=close_to(1e-9))
>>> impl.check(2.0, 2)["ok"], impl.check(3.0, 2)["ok"]
(True, False)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

#: Kinds of implementation: the library; another tool doing the same work;
#: a bound no implementation can beat (a copy of the output bytes, the FFTs
#: alone), timed to show how close the library comes to it.
KINDS = ("ours", "peer", "limit")

Check = Callable[[Any, Any], Dict[str, Any]]


@dataclass
class Impl:
    """One implementation of a case's work.

    run: does the work once and returns what `check` compares (its output).
    items: work items one run does; a slow peer may run a subset of the
        case's items (its rate per item is what is compared).
    check: (this run's output, the library's output) -> dict with "ok" and
        the evidence (e.g. max_abs_diff, tolerance); None for the library
        itself and for limits, whose output is not the same work's.
    """

    name: str
    kind: str
    run: Callable[[], Any]
    items: int
    check: Optional[Check] = None
    note: str = ""
    threads: Optional[int] = None
    # Called once the case's implementations have all run (a cluster to
    # close, files to remove): what they share outlives each one.
    teardown: Optional[Callable[[], None]] = None
    # Called before each run, outside its time: state a run must start
    # from that costs time to make (inputs evicted from the page cache).
    prepare: Optional[Callable[[], None]] = None


@dataclass
class Skipped:
    """An implementation that cannot run here, and why."""

    name: str
    kind: str
    note: str


Entry = Union[Impl, Skipped]


@dataclass
class Case:
    """One point of one curve: e.g. extraction at 10,000 patches."""

    group: str                 # extract, reassemble, align, group
    curve: str                 # the swept parameter (the plot's x axis)
    x: float                   # its value at this point
    unit: str                  # what an item is: patches, frames, positions
    items: int                 # items of work at this point
    params: Dict[str, Any]
    build: Callable[[], List[Entry]] = field(repr=False)
    output_bytes: Optional[int] = None
    gpu: bool = False          # runs on the GPU backend (device memory measured)
    input_bytes: Optional[int] = None
    # Which of the two is the case's data size: "output" where the result is
    # the bulk (patches, groups), "input" where it is the inputs (the patches
    # a reassembly scatters, the raw frames an alignment reads into a few
    # shifts). bytes_per_s is its rate, the memory budget and the memory
    # view use it.
    size_axis: str = "output"

    @property
    def size_bytes(self) -> Optional[int]:
        return self.input_bytes if self.size_axis == "input" else self.output_bytes

    @property
    def id(self) -> str:
        return f"{self.group}/{self.curve}={self.x:g}"


def optional_module(name: str, pip_name: str) -> Union[Any, str]:
    """The module, or the note a Skipped carries when it is not installed."""
    try:
        return importlib.import_module(name)
    except Exception as err:  # ImportError, or a broken install's own error
        kind = "not installed" if isinstance(err, ImportError) else f"unusable ({err})"
        return f"{pip_name} {kind} (pip install {pip_name})"


def torch_from_numpy(torch: Any, array: np.ndarray) -> Any:
    """torch.from_numpy, or DLPack where PyTorch was built against another
    numpy ABI (Debian's PyTorch 1.13 beside numpy 2: "Numpy is not available")."""
    array = np.ascontiguousarray(array)
    try:
        return torch.from_numpy(array)
    except RuntimeError:
        return torch.utils.dlpack.from_dlpack(array)


def numpy_from_torch(tensor: Any) -> np.ndarray:
    """A CPU tensor's values as numpy (tensor.numpy(), or a DLPack copy)."""
    tensor = tensor.detach().cpu()
    try:
        return tensor.numpy()
    except RuntimeError:
        return np.array(np.from_dlpack(tensor.resolve_conj().contiguous()))


def close_to(tolerance: float) -> Check:
    """A check: max |peer - library| <= tolerance (arrays, complex allowed)."""
    def check(theirs: Any, ours: Any) -> Dict[str, Any]:
        a, b = np.asarray(theirs), np.asarray(ours)
        if a.shape != b.shape:
            return {"ok": False, "why": f"shape {a.shape} != {b.shape}"}
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        return {"ok": bool(diff <= tolerance), "max_abs_diff": diff, "tolerance": tolerance}

    return check


def same_values() -> Check:
    """A check: equal element by element (integer results, shifts)."""
    def check(theirs: Any, ours: Any) -> Dict[str, Any]:
        a, b = np.asarray(theirs), np.asarray(ours)
        ok = a.shape == b.shape and bool(np.array_equal(a, b))
        return {"ok": ok, "differing": None if a.shape != b.shape else int(np.sum(a != b))}

    return check
