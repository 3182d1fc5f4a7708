"""``--compare old.json``: this run against an earlier one, implementation
by implementation, as the ratio of median times per item (new / old:
below 1 is faster now). Cases and implementations are matched by id and
name; ones only in one file are listed as such. Cases run on the emulated
GPU are left out: their times are not speeds.

>>> old = {"cases": [{"id": "a", "results": [{"name": "ptychopatch", "status": "ok",
...        "items": 10, "seconds": {"median": 2.0}}]}]}
>>> new = {"cases": [{"id": "a", "results": [{"name": "ptychopatch", "status": "ok",
...        "items": 10, "seconds": {"median": 1.0}}]}]}
>>> ratios(new, old)[0]["ratio"]
0.5
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple


def load(path: str) -> Dict[str, Any]:
    """A results document, checked to be one (ValueError otherwise)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(
            "ptychopatch-bench/"):
        raise ValueError(f"{path}: not a results file of ptychopatch bench")
    return doc


def merge(docs: List[Dict[str, Any]], paths: List[str]) -> Dict[str, Any]:
    """One document of runs split by ``--only`` (``--from A.json B.json``):
    their cases in order (a later file's case replaces an earlier one of the
    same id in its place), the first file's machine, library and settings,
    the parts listed under ``parts``, and ``elapsed_s`` their sum.
    ValueError when the files come from different machines, libraries or
    presets, or were run with different settings (threads, repeat, budget,
    memory budget, seed: all but ``only``): their times are not one run's.

    >>> a = {"machine": {"hostname": "h", "cpu": "c"}, "library": {"version": "1"},
    ...      "preset": "full", "settings": {"only": ["x"]}, "created": "t1",
    ...      "elapsed_s": 2.0, "cases": [{"id": "x=1"}], "command": ["a"]}
    >>> b = dict(a, settings={"only": ["y"]}, created="t2", cases=[{"id": "y=1"}])
    >>> m = merge([a, b], ["a.json", "b.json"])
    >>> [c["id"] for c in m["cases"]], m["elapsed_s"], m["settings"]["only"]
    (['x=1', 'y=1'], 4.0, ['x', 'y'])
    """
    if len(docs) == 1:
        return docs[0]
    first = docs[0]
    for doc, path in zip(docs[1:], paths[1:]):
        for key, fields in (("machine", ("hostname", "cpu")), ("library", ("version",))):
            for field in fields:
                if doc[key].get(field) != first[key].get(field):
                    raise ValueError(f"{path}: {key} {field} {doc[key].get(field)!r} is not "
                                     f"{paths[0]}'s {first[key].get(field)!r}: not one run")
        if doc["preset"] != first["preset"]:
            raise ValueError(f"{path}: preset {doc['preset']} is not {paths[0]}'s "
                             f"{first['preset']}")
        mine, theirs = doc.get("settings") or {}, first.get("settings") or {}
        differ = sorted(k for k in set(mine) | set(theirs)
                        if k != "only" and mine.get(k) != theirs.get(k))
        if differ:
            raise ValueError(f"{path}: run with other settings than {paths[0]} ("
                             + ", ".join(f"{k} {mine.get(k)!r}, not {theirs.get(k)!r}"
                                         for k in differ)
                             + "): not one run; rerun that part with the same options")
    cases: Dict[str, Dict[str, Any]] = {}
    for doc in docs:
        for case in doc["cases"]:
            cases[case["id"]] = case  # a case seen before keeps its place
    merged = dict(first, cases=list(cases.values()),
                  elapsed_s=sum(d.get("elapsed_s") or 0.0 for d in docs))
    merged["settings"] = dict(first["settings"], only=[
        p for d in docs for p in (d["settings"].get("only") or [])])
    merged["parts"] = [{"file": path, "created": d.get("created"),
                        "elapsed_s": d.get("elapsed_s"), "command": d.get("command"),
                        "cases": len(d["cases"])} for d, path in zip(docs, paths)]
    return merged


def _per_item(doc: Dict[str, Any]) -> Dict[Tuple[str, str], float]:
    found = {}
    for case in doc["cases"]:
        if case.get("emulated"):
            continue  # an emulator's times are not speeds: never compared
        for r in case["results"]:
            if r.get("status") == "ok":
                found[(case["id"], r["name"])] = r["seconds"]["median"] / r["items"]
    return found


def ratios(new: Dict[str, Any], old: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per (case, implementation) in either run: old and new
    seconds per item and their ratio (None where one run lacks it)."""
    a, b = _per_item(new), _per_item(old)
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        now, before = a.get(key), b.get(key)
        ratio: Optional[float] = now / before if now is not None and before else None
        rows.append({"case": key[0], "name": key[1], "old_s_per_item": before,
                     "new_s_per_item": now, "ratio": ratio})
    return rows


def table(rows: List[Dict[str, Any]], old_path: str) -> List[str]:
    """Markdown lines: the ratio table against `old_path`."""
    lines = [f"New / old median time per item, against `{old_path}` (below 1: faster now).",
             "", "| case | implementation | old s/item | new s/item | new / old |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        def cell(v):
            return "only in the other run" if v is None else f"{v:.3g}"

        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.3f}"
        lines.append(f"| {r['case']} | {r['name']} | {cell(r['old_s_per_item'])} | "
                     f"{cell(r['new_s_per_item'])} | {ratio} |")
    return lines
