"""Runs the cases and makes the results document (the JSON of ``ptychopatch
bench``): the library first, then each peer after its result has been
checked against the library's; a peer that disagrees is reported as such
and not timed.

Schema (``SCHEMA``), one document per run::

    {"schema", "created", "command", "preset", "settings", "machine",
     "library", "elapsed_s",
     "cases": [{"id", "group", "curve", "x", "unit", "items", "params",
                "output_bytes", "input_bytes", "size_axis", "status", "note",
                "results": [{"name", "kind", "status", "note", "threads",
                             "items", "seconds": {"repeat", "min", "median",
                             "max"}, "items_per_s", "bytes_per_s",
                             "ratio_to_ours", "agreement", "memory",
                             "device_memory", "emulated"}],
                "gpu", "emulated"}]}

``ratio_to_ours`` is the implementation's median time per item over the
library's: above 1 the library is faster (for a limit, below 1 is expected:
how far the library is from the bound). Status: ok, skipped, disagrees,
failed. ``output_bytes`` and ``input_bytes`` are the bytes of the case's
result and inputs (raw frames of a dataset: on disk); ``size_axis`` says
which of the two is the case's data size (``output`` for patches and groups;
``input`` for a reassembly's patches and an alignment's raw frames),
which bytes_per_s is a rate of, the memory budget holds twice and the
memory view plots peak memory against. A GPU case (``gpu`` true) has ``device_memory`` per result
(device_memory.py); on the emulated device it is ``emulated`` and its
results too, with their seconds kept for plumbing and no rate or ratio
(None): an emulator's time is not a speed.

>>> doc = run(cases=[], preset="quick", settings={}, log=None)
>>> doc["schema"], doc["cases"]
('ptychopatch-bench/1', [])
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from .machine import describe_library, describe_machine
from . import cudart, gpu
from .device_memory import DevicePeak
from .registry import Case, Impl, Skipped
from .style import fmt_bytes
from .timing import PeakRss, measure

SCHEMA = "ptychopatch-bench/1"

Log = Optional[Callable[[str], None]]


def _rates(case: Case, impl: Impl, median: float) -> Dict[str, Any]:
    per_item = median / impl.items
    rates: Dict[str, Any] = {"items_per_s": impl.items / median if median > 0 else None,
                             "bytes_per_s": None}
    if case.size_bytes and median > 0:
        rates["bytes_per_s"] = case.size_bytes / case.items / per_item
    return rates


def run_impl(case: Case, impl: Impl, reference: Any, repeat: int,
             budget_s: float) -> (Dict[str, Any], Any):
    """One implementation's result dict and its output (the reference of
    the peers when it is the library's)."""
    result: Dict[str, Any] = {"name": impl.name, "kind": impl.kind, "status": "ok",
                              "note": impl.note, "threads": impl.threads, "items": impl.items}
    device = DevicePeak(cudart.runtime()) if case.gpu else None
    with PeakRss() as rss, (device or contextlib.nullcontext()):
        if impl.prepare is not None:
            impl.prepare()
        output = impl.run()  # untimed: warms caches, plans and thread pools
        if impl.check is not None:
            agreement = impl.check(output, reference)
            result["agreement"] = agreement
            if not agreement["ok"]:
                result["status"] = "disagrees"
        if result["status"] == "ok":
            timing = measure(impl.run, repeat, budget_s, impl.prepare)
    result["memory"] = rss.as_dict()
    if device is not None:
        result["device_memory"] = device.as_dict()
        result["emulated"] = gpu.status()["emulated"]
    if result["status"] == "ok":
        result["seconds"] = timing.as_dict()
        if result.get("emulated"):
            result.update(items_per_s=None, bytes_per_s=None)
        else:
            result.update(_rates(case, impl, timing.median))
    return result, output


def run_case(case: Case, repeat: int, budget_s: float,
             memory_budget: Optional[int]) -> Dict[str, Any]:
    """The case's dict with every implementation's result."""
    doc: Dict[str, Any] = {"id": case.id, "group": case.group, "curve": case.curve,
                           "x": case.x, "unit": case.unit, "items": case.items,
                           "params": case.params, "output_bytes": case.output_bytes,
                           "input_bytes": case.input_bytes, "size_axis": case.size_axis,
                           "status": "ok", "note": "", "results": [], "gpu": case.gpu,
                           "emulated": case.gpu and gpu.status()["emulated"]}
    if memory_budget and case.size_bytes and 2 * case.size_bytes > memory_budget:
        doc["status"] = "skipped"
        doc["note"] = (f"its {case.size_axis} ({fmt_bytes(case.size_bytes)}, twice that with "
                       f"a copy) is over the memory budget ({fmt_bytes(memory_budget)}, "
                       "--memory-budget)")
        return doc
    entries: List[Any] = []
    try:
        entries = case.build()
        reference = None
        for entry in entries:
            if isinstance(entry, Skipped):
                doc["results"].append({"name": entry.name, "kind": entry.kind,
                                       "status": "skipped", "note": entry.note})
                continue
            try:
                result, output = run_impl(case, entry, reference, repeat, budget_s)
            except Exception as err:  # a peer's own failure: report it, go on
                if entry.kind == "ours":
                    raise
                result = {"name": entry.name, "kind": entry.kind, "status": "failed",
                          "note": f"{type(err).__name__}: {err}"}
                output = None
            if entry.kind == "ours" and reference is None:
                reference = output
            doc["results"].append(result)
            del output
    except Exception as err:
        doc["status"] = "failed"
        doc["note"] = f"{type(err).__name__}: {err}"
        doc["traceback"] = traceback.format_exc()
    finally:
        for entry in entries:
            if getattr(entry, "teardown", None) is not None:
                entry.teardown()
    _add_ratios(doc)
    return doc


def _add_ratios(case_doc: Dict[str, Any]) -> None:
    ours = next((r for r in case_doc["results"]
                 if r["kind"] == "ours" and r["status"] == "ok"), None)
    for r in case_doc["results"]:
        r["ratio_to_ours"] = None
        if case_doc.get("emulated"):
            continue  # an emulator's times are not speeds: no ratio from them
        if ours is not None and r["status"] == "ok":
            mine = r["seconds"]["median"] / r["items"]
            theirs = ours["seconds"]["median"] / ours["items"]
            r["ratio_to_ours"] = mine / theirs if theirs > 0 else None


def summary_line(case_doc: Dict[str, Any]) -> str:
    """One line of progress: the case and each implementation's time per item
    (microseconds per patch, frame or position)."""
    parts = []
    if case_doc.get("emulated"):
        parts.append("EMULATED device (plumbing, not speed)")
    for r in case_doc["results"]:
        if r["status"] == "ok" and case_doc.get("emulated"):
            parts.append(f"{r['name']} ran")
        elif r["status"] == "ok":
            per_item = r["seconds"]["median"] / r["items"]
            parts.append(f"{r['name']} {per_item * 1e6:.3g} us")
        else:
            parts.append(f"{r['name']} {r['status']}")
    tail = "; ".join(parts) if parts else f"{case_doc['status']}: {case_doc['note']}"
    return f"{case_doc['id']}: {tail}"


def run(cases: List[Case], preset: str, settings: Dict[str, Any], log: Log = None,
        command: Optional[List[str]] = None) -> Dict[str, Any]:
    """Runs every case; the results document."""
    started = time.perf_counter()
    doc: Dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command if command is not None else sys.argv,
        "preset": preset, "settings": settings,
        "machine": describe_machine(), "library": describe_library(), "cases": [],
    }
    for i, case in enumerate(cases, 1):
        case_doc = run_case(case, settings.get("repeat", 3), settings.get("budget_s", 1.0),
                            settings.get("memory_budget"))
        doc["cases"].append(case_doc)
        if log:
            log(f"[{i}/{len(cases)}] {summary_line(case_doc)}")
    doc["elapsed_s"] = time.perf_counter() - started
    return doc
