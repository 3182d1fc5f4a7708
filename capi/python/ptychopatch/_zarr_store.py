"""The output of ``patches_dataset``: a Zarr store, one group per input file.

Layout (Zarr format 3, zarr-python 3)::

    STORE.zarr/                 attributes: ptychopatch_run (the options),
                                            ptychopatch_seed (see file_seed),
                                            ptychopatch_inputs (one record per input)
      <name>/                   one group per input file, named after it;
                                attributes: source, positions, object_shape,
                                N, K, gridsize, nsamples, seed, ..., complete
        Y                (B, N, N, C)  complex64 (float32 for a real object)
        nn_indices       (B, C)        int64
        coords_nn        (B, 1, 2, C)  float64
        coords_offsets   (B, 1, 2, 1)  float64
        coords_relative  (B, 1, 2, C)  float64

Every array is chunked along its first axis, the group axis, by
``chunk_groups`` groups, and compressed (Zstandard, zarr's default codec).

A group is written by the task that computes it (a worker), arrays first
and the attribute ``complete: true`` last: a group without it is a write
that was cut short, and a resumed run writes it again. The root's
attributes are written by the submitting process only.

Two tasks may write one group at once: a task of an interrupted run that
was still running when the run was resumed (Dask does not stop a running
task it cancels), or a task Dask ran again after losing its worker. So a
group is never deleted, only written over: a store's options are fixed
(`open_store`) and a file's seed is derived from the store's, so every
writer of a group writes the same bytes, and each chunk file is replaced
whole (zarr's local store writes a file and renames it into place). Two
runs on one store at once meet the same way, and also create nodes at
once: a node another writer made between zarr's check that it is missing
and this writer's create is opened, not an error (`_create_or_open`).

zarr is imported when a function here needs it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Callable, Dict, List, Optional

from . import _parts
from ._optional import optional_import

RUN_KEY = "ptychopatch_run"
SEED_KEY = "ptychopatch_seed"  # drawn once per store, for inputs given no seed
INPUTS_KEY = "ptychopatch_inputs"
COMPLETE = "complete"
#: The grouping arrays, in the order `ptychopatch patches` writes them.
GROUPING_KEYS = ("nn_indices", "coords_nn", "coords_offsets", "coords_relative")


def zarr_module() -> Any:
    """zarr 3 (the format 3 API used here), or an ImportError that says so."""
    zarr = optional_import("zarr", "writing patches to a Zarr store")
    if int(zarr.__version__.split(".")[0]) < 3:
        raise ImportError(f"writing patches to a Zarr store needs zarr >= 3 (Python 3.11+), "
                          f"found zarr {zarr.__version__}: pip install 'zarr>=3,<4'")
    return zarr


def _create_or_open(make: Callable[[], Any]) -> Any:
    """``make()``, a zarr call that opens a node or creates it; called again
    (now opening) where another writer created the node in between."""
    try:
        return make()
    except zarr_module().errors.ContainsGroupError:
        return make()


def open_store(store: str, run: Dict[str, Any]) -> Any:
    """The store's root group, made if missing with `run` recorded;
    ValueError if it was made with other options."""
    zarr = zarr_module()
    wanted = _parts.as_recorded(run)
    # Options and seed go in the root's first write, so that no run finds
    # the store without them; read back, so that of two runs making the
    # store at once each goes on with what the store holds, not its own.
    _create_or_open(lambda: zarr.open_group(store, mode="a", attributes={
        RUN_KEY: wanted, SEED_KEY: secrets.randbits(63)}))
    root = zarr.open_group(store, mode="r+")
    if RUN_KEY in root.attrs:
        _parts.refuse_other_options(store, dict(root.attrs[RUN_KEY]), wanted)
    else:
        root.attrs.update({RUN_KEY: wanted, SEED_KEY: secrets.randbits(63)})
    return root


def file_seed(root: Any, name: str, seed: Optional[int]) -> int:
    """`seed`, or without one a seed for input `name` derived from the
    store's (random, but the same for every task that writes the group)."""
    if seed is not None:
        return seed
    digest = hashlib.sha256(f"{root.attrs[SEED_KEY]}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def complete_inputs(root: Any) -> List[str]:
    """Names of the groups whose write finished (the marker is set)."""
    return sorted(name for name, group in root.groups()
                  if group.attrs.get(COMPLETE) is True)


def record(root: Any, records: Dict[str, Dict[str, Any]]) -> None:
    """Writes the per-input records (status, message, groups, ...) to the
    root's attributes, merged with those already there."""
    # Read afresh: another run on this store may have recorded since.
    root = zarr_module().open_group(root.store, path=root.path, mode="r+")
    table = dict(root.attrs.get(INPUTS_KEY, {}))
    table.update(records)
    root.attrs[INPUTS_KEY] = dict(sorted(table.items()))


def record_unrecorded(root: Any, complete: Any) -> None:
    """Records for complete groups that have none, or a failure: tasks of
    an interrupted run that were already running finish their group after
    the submitting process stopped listening (or after it recorded the
    task as lost)."""
    known = root.attrs.get(INPUTS_KEY, {})
    missing = {name: {"path": root[name].attrs["source"], "status": "PTP_SUCCESS",
                      "message": "written by an interrupted run",
                      "groups": root[name]["nn_indices"].shape[0], "backend": "",
                      "seconds": 0.0}
               for name in sorted(complete)
               if known.get(name, {}).get("status") != "PTP_SUCCESS"}
    if missing:
        record(root, missing)


def new_group(store: str, name: str, attributes: Dict[str, Any]) -> Any:
    """Group `name` with `attributes`, made if missing; what it holds is
    written over, not deleted first. A completion marker stays where the
    rest of the attributes are these: that group is already whole, and
    this writer writes the same bytes again."""
    root = zarr_module().open_group(store, mode="r+")
    group = _create_or_open(lambda: root.require_group(name))
    if {k: v for k, v in group.attrs.items() if k != COMPLETE} != attributes:
        group.attrs.put(attributes)
    return group


def is_complete(store: str, name: str, attributes: Dict[str, Any]) -> bool:
    """Whether group `name` is whole and was written with `attributes`
    (what a writer that failed checks: another may have written it)."""
    try:
        group = zarr_module().open_group(store, mode="r")[name]
        attrs = dict(group.attrs)
    except (KeyError, FileNotFoundError):
        return False
    return attrs.pop(COMPLETE, None) is True and attrs == attributes


def new_array(group: Any, name: str, shape: tuple, dtype: Any, chunk_groups: int) -> Any:
    """An array chunked by `chunk_groups` along the group axis, whole along
    the others, with zarr's default compressor (Zstandard); one already
    there with this shape, dtype and chunks is reused (its chunks are all
    written again)."""
    chunks = (max(1, chunk_groups),) + tuple(shape[1:])

    def reusable(existing: Any) -> bool:
        return (existing is not None and hasattr(existing, "chunks")
                and existing.shape == tuple(shape) and existing.dtype == dtype
                and existing.chunks == chunks)

    existing = group.get(name)
    if reusable(existing):
        return existing
    try:
        # Overwrite (delete) only another layout; a missing array is
        # created without, so that one another writer just made survives.
        return group.create_array(name, shape=shape, dtype=dtype, chunks=chunks,
                                  overwrite=existing is not None)
    except zarr_module().errors.ContainsArrayError:
        existing = group.get(name)  # made by another writer since the check
        if reusable(existing):
            return existing
        raise
