"""The benchmark suite behind ``ptychopatch bench`` (private: the command
line and docs/benchmarks.md are its interface).

One run times every case of the suite (suite.py) with the library and its
peers on the same inputs (extract.py, reassemble.py, align.py, group.py;
each peer optional and skipped with a note where its package is absent),
and writes into an output folder:

* ``results.json``: the results document (runner.py documents the schema);
* ``report.md``: the Markdown report (report.py), with
* ``plots/*.png``: per curve a time figure and a memory figure (plots.py,
  memory.py; needs matplotlib).

Where a GPU is usable the gpu-* curves run too (gpu.py); on the emulated
device of the tests they are marked emulated and never reported as speed.

``--compare old.json`` adds the ratios to an earlier run (compare.py);
``--from results.json`` remakes the report and plots of an earlier run (of
several, split by ``--only``: merged into one document), and
``--update-doc FILE`` writes its tables into FILE's generated section
(perfdoc.py; docs/performance.md has one).

>>> from ptychopatch._bench import Options
>>> Options(out="bench-out", quick=True).preset
'quick'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import compare, perfdoc, plots, report, runner, suite
from .machine import memory_bytes

#: Repetitions and seconds per implementation and point, by preset.
PRESETS = {"quick": (3, 0.3), "full": (5, 3.0)}


@dataclass
class Options:
    out: str
    quick: bool = False
    only: List[str] = field(default_factory=list)
    compare: Optional[str] = None
    source: List[str] = field(default_factory=list)  # --from: earlier results files
    update_doc: Optional[str] = None
    threads: int = 0
    seed: int = 0
    repeat: Optional[int] = None
    budget_s: Optional[float] = None
    memory_budget: Optional[int] = None   # bytes; default a quarter of the memory

    @property
    def preset(self) -> str:
        return "quick" if self.quick else "full"


def settings(options: Options) -> Dict[str, Any]:
    repeat, budget = PRESETS[options.preset]
    total = memory_bytes()
    return {"repeat": options.repeat or repeat,
            "budget_s": options.budget_s if options.budget_s is not None else budget,
            "memory_budget": options.memory_budget or (total // 4 if total else None),
            "threads": options.threads, "seed": options.seed, "only": options.only}


def write_outputs(doc: Dict[str, Any], out: str,
                  comparison: Optional[List[str]] = None) -> Dict[str, str]:
    """Writes results.json, report.md and plots/ into `out`; their paths."""
    os.makedirs(out, exist_ok=True)
    paths = {"results": os.path.join(out, "results.json"),
             "report": os.path.join(out, "report.md")}
    with open(paths["results"], "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    missing = plots.matplotlib_missing()
    drawn, memory_drawn = {}, {}
    if not missing:
        folder, labels = os.path.join(out, "plots"), suite.curve_labels()
        drawn = plots.draw_all(doc, folder, labels)
        memory_drawn = plots.draw_memory_all(doc, folder, labels)
    if drawn or memory_drawn:
        paths["plots"] = os.path.join(out, "plots")
    with open(paths["report"], "w", encoding="utf-8") as f:
        f.write(report.markdown(doc, drawn, plot_note=missing, comparison=comparison,
                                memory_plots=memory_drawn))
    return paths


def run_suite(options: Options, log: Optional[Callable[[str], None]] = None,
              command: Optional[List[str]] = None) -> Dict[str, Any]:
    """Runs the selected cases, writes the outputs; the results document
    (with ``"compare"`` rows when options.compare names an earlier run)."""
    old = compare.load(options.compare) if options.compare else None
    if options.source:
        doc = compare.merge([compare.load(p) for p in options.source], options.source)
    else:
        chosen = suite.cases(options.quick, options.threads, options.only, options.seed)
        if not chosen:
            gpu = suite.gpu.status()
            why = "" if gpu["usable"] else f" (the gpu-* curves need a usable GPU: {gpu['device']})"
            raise ValueError(f"--only {' '.join(options.only)} selects no case{why}; the "
                             "curves: " + ", ".join(suite.curve_labels()))
        doc = runner.run(chosen, options.preset, settings(options), log=log, command=command)
    lines = None
    if old is not None:
        doc["compare"] = {"file": options.compare, "rows": compare.ratios(doc, old)}
        lines = compare.table(doc["compare"]["rows"], options.compare)
    doc["outputs"] = write_outputs(doc, options.out, lines)
    if options.update_doc:
        perfdoc.update(options.update_doc, doc,
                       " + ".join(options.source) or doc["outputs"]["results"])
        doc["outputs"]["doc"] = options.update_doc
    return doc
