"""PNG plots of a results document (matplotlib, optional): one figure per
curve, time per call and throughput against the swept parameter, with
every implementation on the same axes so a reader sees linear growth, a
knee, or a peer overtaking; and one memory figure per curve (memory.py).

>>> isinstance(matplotlib_missing(), (str, type(None)))
True
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from . import memory
from .style import STYLE


def matplotlib_missing() -> Optional[str]:
    """None when matplotlib can draw here, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no plots were drawn"
    return None


def _series(cases: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """{implementation: {kind, x, median, min, max, rate}} over a curve's points."""
    found: Dict[str, Dict[str, Any]] = {}
    for case in cases:
        for r in case["results"]:
            if r["status"] != "ok":
                continue
            s = found.setdefault(r["name"], {"kind": r["kind"], "x": [], "median": [],
                                             "min": [], "max": [], "rate": []})
            scale = case["items"] / r["items"]  # a subset's time, scaled to the case
            s["x"].append(case["x"])
            for key in ("median", "min", "max"):
                s[key].append(r["seconds"][key] * scale)
            s["rate"].append(r["items_per_s"])  # None on the emulated device
    return found


def draw_curve(key: str, cases: List[Dict[str, Any]], label: str, path: str,
               emulated: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    unit = cases[0]["unit"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, s in _series(cases).items():
        style = STYLE.get(s["kind"], STYLE["peer"])
        low = [m - lo for m, lo in zip(s["median"], s["min"])]
        high = [hi - m for m, hi in zip(s["median"], s["max"])]
        left.errorbar(s["x"], s["median"], yerr=[low, high], label=name, capsize=2, **style)
        if not emulated:
            right.plot(s["x"], s["rate"], label=name, **style)
    log_x = cases[0]["curve"] not in ("threads", "workers")
    for ax in (left, right):
        if log_x:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.grid(True, which="both", alpha=0.3)
    left.set_ylabel(f"seconds for the case's {unit} (median, min–max;\n"
                    "a peer timed on a subset: scaled per item)")
    if emulated:
        # An emulator's time is not a speed: no throughput is drawn.
        right.text(0.5, 0.5, "emulated device:\nno throughput", ha="center", va="center",
                   transform=right.transAxes)
        right.set_yscale("linear")
        left.legend(fontsize=8, loc="best")
    else:
        right.set_ylabel(f"{unit} per second")
        right.legend(fontsize=8, loc="best")
    title = f"{key}: time and throughput against {label}"
    if emulated:
        title += " (EMULATED DEVICE: not a speed)"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _by_curve(doc: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    by_curve: Dict[str, List[Dict[str, Any]]] = {}
    for case in doc["cases"]:
        by_curve.setdefault(f"{case['group']}/{case['curve']}", []).append(case)
    return by_curve


def draw_all(doc: Dict[str, Any], folder: str, labels: Dict[str, str]) -> Dict[str, str]:
    """Draws every curve with at least one timed point; {curve: file name
    relative to `folder`'s parent report}."""
    os.makedirs(folder, exist_ok=True)
    written = {}
    for key, cases in _by_curve(doc).items():
        if not _series(cases):
            continue
        name = key.replace("/", "-") + ".png"
        draw_curve(key, cases, labels.get(key, cases[0]["curve"]), os.path.join(folder, name),
                   emulated=any(c.get("emulated") for c in cases))
        written[key] = f"{os.path.basename(folder)}/{name}"
    return written


def draw_memory_all(doc: Dict[str, Any], folder: str,
                    labels: Dict[str, str]) -> Dict[str, str]:
    """Draws every curve's memory view (memory.py), GROUP-CURVE-memory.png;
    {curve: file name relative to `folder`'s parent report}."""
    os.makedirs(folder, exist_ok=True)
    budget = (doc.get("settings") or {}).get("memory_budget")
    written = {}
    for key, cases in _by_curve(doc).items():
        name = key.replace("/", "-") + "-memory.png"
        if memory.draw(key, cases, labels.get(key, cases[0]["curve"]),
                       os.path.join(folder, name), budget):
            written[key] = f"{os.path.basename(folder)}/{name}"
    return written
