"""The memory view of a results document: per curve, each implementation's
peak memory against the swept parameter and against the case's data size,
with the memory budgets drawn as lines, and a short table.

What is plotted (all measured by the runner, nothing new is run):

* peak host RSS per implementation (``memory.peak_bytes``: the whole
  process, the interpreter and the case's inputs included), and the
  library's growth above the RSS at its start (``above_start_bytes``: what
  the call itself allocated, its output included);
* on GPU cases, peak device memory (``device_memory``), and the library's
  own device budget where the case's params set one
  (``device_memory_budget``, bytes; the suite's cases set none today: the
  library then uses half the free device memory);
* against the curve's x, and against the case's data size: its output
  bytes (patches, groups), or its input bytes where those are the data (a
  reassembly's patches, an alignment's raw frames: the case's
  ``size_axis`` says which);
* the suite's ``--memory-budget`` as a horizontal line: points whose data
  size, twice over, exceeds it are skipped (on the size panel, a vertical
  line at half the budget).

>>> cases = [{"x": 10, "size_axis": "output", "output_bytes": 4e6, "input_bytes": 1e6,
...           "status": "ok", "results": [{"name": "ptychopatch", "kind": "ours",
...           "status": "ok", "memory": {"peak_bytes": 9e7, "above_start_bytes": 4.5e6}}]}]
>>> s = series(cases)["ptychopatch"]
>>> s["x"], s["size"], s["peak_mb"], s["growth_mb"]
([10], [4000000.0], [90.0], [4.5])
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .style import STYLE, fmt_bytes

MB = 1e6


def size_bytes(case: Dict[str, Any]) -> Optional[float]:
    """The case's data size the view plots against (output or input bytes)."""
    axis = case.get("size_axis", "output")
    return case.get("input_bytes") if axis == "input" else case.get("output_bytes")


def series(cases: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """{implementation: {kind, x, size, peak_mb, growth_mb, device_mb}} over
    a curve's points that ran (device_mb: None where not recorded)."""
    found: Dict[str, Dict[str, Any]] = {}
    for case in cases:
        for r in case["results"]:
            mem = r.get("memory")
            if r["status"] not in ("ok", "disagrees") or not mem or not mem.get("peak_bytes"):
                continue
            s = found.setdefault(r["name"], {"kind": r["kind"], "x": [], "size": [],
                                             "peak_mb": [], "growth_mb": [], "device_mb": []})
            s["x"].append(case["x"])
            s["size"].append(size_bytes(case))
            s["peak_mb"].append(mem["peak_bytes"] / MB)
            above = mem.get("above_start_bytes")
            s["growth_mb"].append(None if above is None else above / MB)
            device = (r.get("device_memory") or {}).get("peak_bytes")
            s["device_mb"].append(None if device is None else device / MB)
    return found


def library_budget(cases: List[Dict[str, Any]]) -> Optional[float]:
    """The library's device memory budget (bytes) that the curve's cases set, if any."""
    budgets = {c["params"].get("device_memory_budget") for c in cases if c.get("params")}
    budgets.discard(None)
    budgets.discard(0)
    return max(budgets) if budgets else None


def _label(case: Dict[str, Any]) -> str:
    return "input" if case.get("size_axis") == "input" else "output"


def table(cases: List[Dict[str, Any]], budget: Optional[float]) -> List[str]:
    """A Markdown table, one row per point: its output and input bytes, the
    library's peak RSS and growth (and the growth over the output), the
    highest peak of another implementation, device memory on GPU cases."""
    gpu = any(c.get("gpu") for c in cases)
    lines = [f"| {cases[0]['curve']} | output | input | ptychopatch peak RSS | "
             f"its growth | growth / {_label(cases[0])} | highest other peak RSS | "
             + ("ptychopatch peak device memory | " if gpu else "") + "status |",
             "|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if gpu else "") + "---|"]
    for case in cases:
        ran = [r for r in case["results"] if (r.get("memory") or {}).get("peak_bytes")]
        ours = next((r for r in ran if r["kind"] == "ours"), None)
        others = [r for r in ran if r["kind"] != "ours"]
        cells = ["–", "–", "–", "–"] + (["–"] if gpu else [])
        if ours is not None:
            growth = ours["memory"].get("above_start_bytes")
            size = size_bytes(case)
            cells[:3] = [fmt_bytes(ours["memory"]["peak_bytes"]), fmt_bytes(growth),
                         "–" if growth is None or not size else f"{growth / size:.2g}"]
            if gpu:
                cells[4] = fmt_bytes((ours.get("device_memory") or {}).get("peak_bytes"))
        if others:
            top = max(others, key=lambda r: r["memory"]["peak_bytes"])
            cells[3] = f"{fmt_bytes(top['memory']['peak_bytes'])} ({top['name']})"
        status = case["status"] if case["status"] == "ok" else \
            f"{case['status']}: {case['note']}"
        lines.append(f"| {case['x']:g} | {fmt_bytes(case.get('output_bytes'))} | "
                     f"{fmt_bytes(case.get('input_bytes'))} | " + " | ".join(cells)
                     + f" | {status} |")
    if budget:
        lines += ["", f"Memory budget (`--memory-budget`): {fmt_bytes(budget)}; points "
                  f"whose {_label(cases[0])} bytes, twice over, exceed it are skipped."]
    return lines


def draw(key: str, cases: List[Dict[str, Any]], label: str, path: str,
         budget: Optional[float]) -> bool:
    """The curve's memory figure; False (nothing drawn) when no point has a
    measured peak."""
    found = series(cases)
    if not found:
        return False
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    axis = _label(cases[0])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    def both(points, label, **style):
        """Plots (x, size, y) points against x (left) and size (right)."""
        line, = left.plot([p[0] for p in points], [p[2] for p in points], label=label,
                          **style)
        sized = [(p[1] / MB, p[2]) for p in points if p[1]]
        if sized:
            right.plot(*zip(*sized), label=label, color=line.get_color(),
                       **{k: v for k, v in style.items() if k != "color"})
        return line.get_color()

    for name, s in found.items():
        color = both(list(zip(s["x"], s["size"], s["peak_mb"])), f"{name}: peak RSS",
                     **STYLE.get(s["kind"], STYLE["peer"]))
        if s["kind"] == "ours":  # the library's own growth (a peer's is its business)
            grown = [p for p in zip(s["x"], s["size"], s["growth_mb"]) if p[2]]
            if grown:
                both(grown, f"{name}: growth above start", color=color, linestyle=":",
                     marker="o", linewidth=1)
        device = [p for p in zip(s["x"], s["size"], s["device_mb"]) if p[2] is not None]
        if device:
            both(device, f"{name}: peak device memory", color=color, linestyle="-.",
                 marker="^", linewidth=1)
    sizes = sorted({size_bytes(c) / MB for c in cases if size_bytes(c)})
    if sizes:
        right.plot(sizes, sizes, color="grey", linewidth=0.8,
                   label=f"the {axis} itself (y = x)")
    lines = [("--memory-budget", budget, "red")]
    lines.append(("the library's device budget", library_budget(cases), "purple"))
    for name, value, color in lines:
        if value:
            for ax in (left, right):
                ax.axhline(value / MB, color=color, linestyle="--", linewidth=1, label=name)
    if budget:
        right.axvline(budget / 2 / MB, color="red", linestyle=":", linewidth=1,
                      label=f"{axis} beyond this: skipped")
    log_x = cases[0]["curve"] not in ("threads", "workers")
    if log_x:
        left.set_xscale("log")
    right.set_xscale("log")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_ylabel("MB")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    left.set_xlabel(label)
    right.set_xlabel(f"{axis} bytes of the case (MB)")
    title = f"{key}: peak memory against {label} and the {axis} size"
    if any(c.get("emulated") for c in cases):
        title += " (EMULATED DEVICE)"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
