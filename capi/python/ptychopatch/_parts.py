"""The output of ``align_dataset``: a folder of Parquet part files, one per scene.

One file per finished scene, written to a temporary name and renamed into
place (atomic on POSIX file systems), so that a part file that exists is
complete: a crash loses at most the scenes in flight, and the scenes
already in the folder are the ones a resumed run skips. The folder is an
ordinary Parquet dataset (pyarrow, pandas, Dask, DuckDB and Spark read
it); `read_parts` gives it in a fixed order, scenes by name, frames in
their scene's order. ``_run.json`` records the options that change the
results, so that a run resumed with other options is refused rather
than mixing two kinds of rows.

pyarrow is imported when a function here needs it.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, List, Sequence, Set, Tuple
from urllib.parse import quote, unquote

from ._optional import optional_import

SUFFIX = ".parquet"
RUN_FILE = "_run.json"

#: (column, pyarrow type name) of every row, one row per frame.
COLUMNS = (("scene", "string"), ("frame", "string"), ("gt", "string"),
           ("status", "string"), ("ok", "bool"),
           ("shift_dy", "float64"), ("shift_dx", "float64"),
           ("crop_dy", "int64"), ("crop_dx", "int64"),
           ("confidence", "float64"), ("message", "string"),
           ("backend", "string"), ("seconds", "float64"))


def _pyarrow() -> Any:
    return optional_import("pyarrow", "writing and reading Parquet results")


def schema() -> Any:
    pa = _pyarrow()
    return pa.schema([(name, getattr(pa, kind)() if kind != "bool" else pa.bool_())
                      for name, kind in COLUMNS])


def part_path(folder: str, scene: str) -> str:
    # Scene names may hold '/', spaces or dots: quoted, they stay one file
    # name that maps back to the name. A leading '.' or '_' is quoted too:
    # readers of a Parquet dataset (pyarrow, pandas, Dask) skip such files,
    # and so does done_scenes for '.'.
    quoted = quote(scene, safe="")
    if quoted[:1] in (".", "_"):
        quoted = f"%{ord(quoted[0]):02X}" + quoted[1:]
    return os.path.join(folder, quoted + SUFFIX)


def done_scenes(folder: str) -> Set[str]:
    """The scenes with a part file in `folder` (none if it does not exist)."""
    if not os.path.isdir(folder):
        return set()
    return {unquote(name[:-len(SUFFIX)]) for name in os.listdir(folder)
            if name.endswith(SUFFIX) and not name.startswith(".")}


def recorded_scenes(folder: str) -> Dict[str, Tuple[Set[str], Set[str]]]:
    """scene -> (the statuses of its rows, the GT paths they name), for
    every part file of `folder` (two small columns a file)."""
    pq = optional_import("pyarrow.parquet", "reading Parquet results", pip_name="pyarrow")
    found = {}
    for scene in done_scenes(folder):
        table = pq.read_table(part_path(folder, scene), columns=["status", "gt"])
        found[scene] = (set(table.column("status").to_pylist()),
                        set(table.column("gt").to_pylist()))
    return found


def write_part(folder: str, scene: str, rows: Sequence[Dict[str, Any]]) -> str:
    """Writes a scene's rows as its part file, atomically; returns the path."""
    pq = optional_import("pyarrow.parquet", "writing Parquet results", pip_name="pyarrow")
    table = _pyarrow().Table.from_pylist(list(rows), schema=schema())
    final = part_path(folder, scene)
    # Hidden temporary name: readers of the folder as a dataset skip it.
    temporary = os.path.join(folder, f".{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, final)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return final


def read_parts(folder: str) -> Any:
    """All part files of `folder` as one pyarrow Table, scenes by name."""
    pa = _pyarrow()
    pq = optional_import("pyarrow.parquet", "reading Parquet results", pip_name="pyarrow")
    tables = [pq.read_table(part_path(folder, scene), schema=schema())
              for scene in sorted(done_scenes(folder))]
    return pa.concat_tables(tables) if tables else schema().empty_table()


def as_recorded(options: Dict[str, Any]) -> Dict[str, Any]:
    """`options` as they read back from JSON (tuples become lists)."""
    return json.loads(json.dumps(options))


def refuse_other_options(where: str, recorded: Dict[str, Any], wanted: Dict[str, Any]) -> None:
    """ValueError naming the options that differ, if any: one output never
    mixes results made with two sets of options (align_dataset's folder,
    patches_dataset's store)."""
    if recorded != wanted:
        changed = sorted(k for k in set(recorded) | set(wanted)
                         if recorded.get(k) != wanted.get(k))
        raise ValueError(f"{where} holds results made with other options "
                         f"({', '.join(changed)}: {[recorded.get(k) for k in changed]}); "
                         "resume with the same options, or give a new output")


def check_run_options(folder: str, options: Dict[str, Any]) -> None:
    """Records `options` in a new folder; refuses a folder made with others."""
    path = os.path.join(folder, RUN_FILE)
    wanted = as_recorded(options)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        # Folders made before threads stopped being a result option.
        recorded.pop("num_threads", None)
        refuse_other_options(folder, recorded, wanted)
        return
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{uuid.uuid4().hex}.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(wanted, f, indent=1, sort_keys=True)
    os.replace(temporary, path)


def rows_as_lists(table: Any, exclude: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """The table's rows as dicts, without the `exclude` columns (tests and
    comparisons: ``seconds`` differs between two runs of the same data)."""
    keep = [name for name in table.column_names if name not in exclude]
    return table.select(keep).to_pylist()
