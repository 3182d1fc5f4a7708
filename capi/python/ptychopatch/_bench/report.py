"""The Markdown report of a results document, and its tables (which
docs/performance.md's generated section also uses).

>>> print(fmt_seconds(0.0123), fmt_bytes(3e9), fmt_rate(2.5e6))
12.3 ms 3.0 GB 2.5 M
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import memory
from .style import fmt_bytes, fmt_rate, fmt_seconds
from .suite import curve_labels

SPEED_WARNING = ("Figures from the quick set (`--quick`) are small problems timed briefly: "
                 "they show that the suite runs, not how fast the library is.")
EMULATED_WARNING = ("The GPU curves (`gpu-*`) ran on the EMULATED CUDA device of the tests, "
                    "for plumbing only: their times are not speeds, and no throughput or "
                    "ratio is computed from them.")


def _by_curve(doc: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    found: Dict[str, List[Dict[str, Any]]] = {}
    for case in doc["cases"]:
        found.setdefault(f"{case['group']}/{case['curve']}", []).append(case)
    return found


def _device_cell(r: Dict[str, Any]) -> str:
    mem = r.get("device_memory") or {}
    if mem.get("peak_bytes") is None:
        return f"– ({mem.get('reason', '')})"
    return f"{fmt_bytes(mem['peak_bytes'])} ({fmt_bytes(mem['above_start_bytes'])})"


def curve_table(cases: List[Dict[str, Any]]) -> List[str]:
    """A Markdown table: one row per point and implementation (GPU curves
    add the peak device memory; emulated ones show no rate or ratio)."""
    unit = cases[0]["unit"]
    gpu = any(c.get("gpu") for c in cases)
    lines = [f"| {cases[0]['curve']} | implementation | median | min … max | runs | "
             f"{unit}/s | GB/s | × ptychopatch | peak RSS (above start) | "
             + ("peak device memory (above start) | " if gpu else "") + "agreement |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu else "")
             + "---|"]
    empty = "| " * (9 if gpu else 8)
    for case in cases:
        if case["status"] != "ok":
            lines.append(f"| {case['x']:g} | {case['status']}: {case['note']} {empty}|")
            continue
        for r in case["results"]:
            if r["status"] == "skipped":
                continue
            agreement = r.get("agreement")
            agree = "" if agreement is None else ("agrees" if agreement["ok"] else "DISAGREES")
            if r["status"] != "ok":
                lines.append(f"| {case['x']:g} | {r['name']} | {r['status']} {empty[4:]}"
                             f"{agree or r.get('note', '')} |")
                continue
            s, mem = r["seconds"], r["memory"]
            ratio = r["ratio_to_ours"]
            gbs = "–" if r["bytes_per_s"] is None else f"{r['bytes_per_s'] / 1e9:.2f}"
            if r.get("emulated"):
                rates = "emulated | emulated | – | "
            else:
                rates = (f"{fmt_rate(r['items_per_s'])} | {gbs} | "
                         f"{'–' if ratio is None else f'{ratio:.3g}'} | ")
            lines.append(
                f"| {case['x']:g} | {r['name']} ({r['kind']}) | {fmt_seconds(s['median'])} | "
                f"{fmt_seconds(s['min'])} … {fmt_seconds(s['max'])} | {s['repeat']} | "
                + rates
                + f"{fmt_bytes(mem['peak_bytes'])} ({fmt_bytes(mem['above_start_bytes'])}) | "
                + (f"{_device_cell(r)} | " if gpu else "") + f"{agree} |")
    return lines


def skip_notes(cases: List[Dict[str, Any]]) -> List[str]:
    """One line per implementation skipped on this curve, with why."""
    seen: Dict[str, str] = {}
    for case in cases:
        for r in case["results"]:
            if r["status"] in ("skipped", "failed") and r["name"] not in seen:
                seen[r["name"]] = f"{r['status']}: {r['note']}"
    return [f"- {name}: {why}" for name, why in seen.items()]


def machine_lines(doc: Dict[str, Any]) -> List[str]:
    m, lib = doc["machine"], doc["library"]
    gpu = lib["gpu"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"- machine: {m['cpu']}, {m['cores']} cores, {fmt_bytes(m['memory_bytes'])} "
        f"({m['system']}, host {m['hostname']})",
        f"- library: ptychopatch {lib['version']} ({lib['library_path']}), "
        f"backend measured: {lib['backend']}",
        "- GPU: " + ("usable; " if gpu["usable"] else "not measured: ")
        + f"{gpu['message']} ({gpu['reason']})"
        + (f"; EMULATED ({gpu.get('emulation_evidence')}): its figures are not speeds"
           if gpu.get("emulated") else ""),
        f"- Python {m['python']}; {packages}",
        f"- run: {doc['created']}, preset {doc['preset']}, {doc['elapsed_s']:.0f} s; "
        f"settings {doc['settings']}",
    ] + _environment_line(m) + _parts_line(doc)


def _environment_line(machine: Dict[str, Any]) -> List[str]:
    env = machine.get("environment")
    return [f"- environment: {', '.join(f'{k}={v}' for k, v in env.items())}"] if env else []


def _parts_line(doc: Dict[str, Any]) -> List[str]:
    """Where the document merges runs split by --only: each part and its seconds."""
    if not doc.get("parts"):
        return []

    def name(part: Dict[str, Any]) -> str:
        words = part.get("command") or []
        picked = words[words.index("--only") + 1:] if "--only" in words else []
        return " ".join(w for w in picked[:1]) or part["file"]

    return [f"- in {len(doc['parts'])} parts (`--only`), merged by `--from`: "
            + ", ".join(f"{name(p)} {p['elapsed_s']:.0f} s" for p in doc["parts"])]


def markdown(doc: Dict[str, Any], plots: Dict[str, str],
             plot_note: Optional[str] = None,
             comparison: Optional[List[str]] = None,
             memory_plots: Optional[Dict[str, str]] = None) -> str:
    """The report: where it ran, then per curve its plot, table and skips."""
    labels = curve_labels()
    lines = ["# ptychopatch benchmark report", ""] + machine_lines(doc) + [""]
    if doc["preset"] == "quick":
        lines += [f"> {SPEED_WARNING}", ""]
    if any(c.get("emulated") for c in doc["cases"]):
        lines += [f"> {EMULATED_WARNING}", ""]
    lines += ["Every implementation ran on the same inputs in this run; each peer's result "
              "was checked against the library's before it was timed (a peer that "
              "disagrees is not timed). Times are per call; `× ptychopatch` is the time "
              "per item over the library's (above 1: the library is faster; for a limit, "
              "how far the library is from the bound). Peak RSS is the process's peak "
              "while that implementation ran; each curve's memory view plots it against "
              "the swept parameter and the case's data bytes (output; input for reassembly "
              "and alignment), "
              "with the memory budget.", ""]
    if plot_note:
        lines += [f"Plots: {plot_note}", ""]
    if comparison:
        lines += ["## Compared with an earlier run", ""] + comparison + [""]
    for key, cases in _by_curve(doc).items():
        emulated = " (EMULATED device: plumbing, not speed)" if cases[0].get("emulated") else ""
        lines += [f"## {key}: time against {labels.get(key, cases[0]['curve'])}{emulated}", ""]
        if key in plots:
            lines += [f"![{key}]({plots[key]})", ""]
        lines += ["Parameters: " + ", ".join(
            f"{k} {v}" for k, v in cases[0]["params"].items() if k != cases[0]["curve"]), ""]
        lines += curve_table(cases) + [""]
        notes = skip_notes(cases)
        if notes:
            lines += ["Not measured here:", ""] + notes + [""]
        lines += memory_section(key, cases, doc, (memory_plots or {}).get(key))
    return "\n".join(lines)


def memory_section(key: str, cases: List[Dict[str, Any]], doc: Dict[str, Any],
                   plot: Optional[str] = None, heading: str = "###") -> List[str]:
    """The curve's memory view: its plot (where drawn) and table (memory.py)."""
    lines = [f"{heading} {key}: memory against {curve_labels().get(key, cases[0]['curve'])} "
             "and the "
             f"{'input' if cases[0].get('size_axis') == 'input' else 'output'} size", ""]
    if plot:
        lines += [f"![{key} memory]({plot})", ""]
    budget = (doc.get("settings") or {}).get("memory_budget")
    return lines + memory.table(cases, budget) + [""]
