"""Dataset throughput: scenes per second of ``ptychopatch.distributed.
align_dataset`` against the number of Dask workers (1, 2, 4, ... up to
the cores), on a small synthetic dataset (the one ``align-dataset
--make-synthetic`` writes, larger frames), in the full set only.

The cluster (a LocalCluster of single-threaded worker processes) is
started once per point and closed after it, so the times are those of a
warm cluster: scheduling, reading the frames, aligning and writing one
Parquet part per scene, without the seconds a cluster takes to start.
Each run writes into a fresh folder (a run over an existing one would
resume and skip every scene). The serial path (``serial=True``, no Dask,
this process) runs beside it as the one-process reference; both are
checked to give the same crops, statuses and ok flags. Every path runs
with ``backend="cpu"`` (``BACKEND``): these curves measure CPU worker
scaling, and "auto" would pick a GPU (or the emulated device) where one
is usable, N workers sharing one device. A run checks its own summary and
raises unless every scene (input) was computed and none failed: a run of
TASK_FAILED rows is an error, not a time. The timed run includes reading
the results back (the alignment rows; each input's record and
nn_indices: 2 to 10 % of the call, measured serially here), as the suite's
Impl has no untimed step after a run; removing the output is the next
run's ``prepare`` (untimed): a Zarr store's chunk files take about as
long to delete as the quick point takes to write.

Where the run becomes I/O-bound: the cluster's run again with its inputs
evicted from the page cache before each run (pagecache.py; the eviction
is checked, and the note says what it found), and a limit, a sequential
read of the same files after evicting them: the storage's read bandwidth
measured in the same run. Their bytes/s (of the input frames) put side by
side say how many workers this storage feeds before reading is the limit.

``patches_entries`` is the same for ``patches_dataset``: groups per second
of PtychoPINN-style ``.npz`` files cut into a Zarr store, against workers,
with the serial path beside it (in both sets: its quick point is small).

>>> crops_table([{"scene": "a", "frame": "f0.npy", "status": "PTP_SUCCESS", "ok": True,
...               "crop_dy": 2, "crop_dx": -4}])
[('a', 'f0.npy', 'PTP_SUCCESS', True, 2, -4)]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from . import pagecache
from .registry import Entry, Impl, Skipped, optional_module, same_values

#: The synthetic dataset: scenes x (GT + frames) of side x side uint16 RGGB.
SCENES, FRAMES, SIDE = 16, 4, 512

#: The backend every dataset run uses: the curves measure CPU workers.
BACKEND = "cpu"

#: What each dataset Impl's note says about how its runs are made and timed.
RUN_NOTE = (f'backend="{BACKEND}" (CPU worker scaling); the run fails unless every '
            "item was computed and none failed; the timed run includes reading the "
            "results back, not removing the output (before the next run, untimed)")


def crops_table(rows: List[Dict[str, Any]]) -> List[tuple]:
    """What the implementations must agree on: each frame's status, ok flag and crop."""
    return [(r["scene"], r["frame"], r["status"], bool(r["ok"]), r["crop_dy"], r["crop_dx"])
            for r in rows]


def _failures(rows: List[Dict[str, Any]], key: str) -> str:
    """The first few failed rows or records, for the error a failed run raises."""
    bad = [f"{r[key]}: {r['status']} ({r.get('message') or 'no message'})" for r in rows]
    return "; ".join(bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")


class _Outputs:
    """The output folders of one implementation's runs under `root`:
    `fresh` makes the next run's; `clear`, the implementation's prepare
    (before each run, untimed), removes the earlier ones. Removing them
    inside the run would time it (a Zarr store's chunk files take about as
    long to delete as the quick point takes to write); the last one goes
    with `root` at the case's teardown."""

    def __init__(self, root: str, prefix: str) -> None:
        self.root, self.prefix = root, prefix
        self.made: List[str] = []

    def fresh(self) -> str:
        self.made.append(tempfile.mkdtemp(dir=self.root, prefix=self.prefix))
        return self.made[-1]

    def clear(self) -> None:
        while self.made:
            shutil.rmtree(self.made.pop(), ignore_errors=True)


def _runner(root: str, scenes: Any, **how: Any) -> Tuple[Callable[[], Any], Callable[[], None]]:
    """A run (align_dataset into a fresh folder, its crops; RuntimeError
    unless every scene was aligned and none failed) and what removes the
    folders of earlier runs (the Impl's prepare)."""
    from .. import distributed

    outputs = _Outputs(root, "out-")

    def run():
        out = outputs.fresh()
        # One library thread a task: the curve measures scaling with workers.
        summary = distributed.align_dataset(scenes, out, cfa="RGGB", upsample_factor=1,
                                            backend=BACKEND, num_threads=1, **how)
        rows = distributed.read_alignments(out).to_pylist()
        if summary.failed or summary.computed != len(scenes) or summary.skipped:
            raise RuntimeError(
                f"align_dataset computed {summary.computed} of {len(scenes)} scenes "
                f"({summary.skipped} skipped), {summary.failed} of {summary.frames} rows "
                "failed: " + _failures([r for r in rows if not r["ok"]], "frame"))
        return crops_table(rows)

    return run, outputs.clear


def entries(workers: int, seed: int) -> List[Entry]:
    """align_dataset on a warm LocalCluster of `workers`, and the serial path."""
    from .. import distributed
    from .._dataset_cli import make_synthetic_scenes

    name = f"ptychopatch align_dataset (Dask, {workers} workers)"
    for module, pip in (("pyarrow", "pyarrow"), ("dask.distributed", "dask[distributed]")):
        missing = optional_module(module, pip)
        if isinstance(missing, str):
            return [Skipped(name, "ours", missing),
                    Skipped("align_dataset serial (no Dask)", "peer", missing)]
    root = tempfile.mkdtemp(prefix="ptychopatch-bench-dataset-")
    close = None
    try:
        make_synthetic_scenes(os.path.join(root, "scenes"), SCENES, FRAMES, SIDE, seed)
        scenes = distributed.scenes_from_folders(os.path.join(root, "scenes"), gt="gt.npy",
                                                 frames=["f*.npy"])
        inputs = [path for scene in scenes
                  for path in [scene.gt] + [p for _, p in scene.frames]]
        evidence = "" if pagecache.available() else pagecache.eviction_evidence(inputs)
        client, close = _warm_cluster(workers, root)

        cold, read = _cold_entries(
            f"ptychopatch align_dataset (Dask, {workers} workers, cold)", inputs, evidence,
            SCENES, workers, *_runner(root, scenes, client=client))
        warm_run, warm_clear = _runner(root, scenes, client=client)
        serial_run, serial_clear = _runner(root, scenes, serial=True)
        return [
            Impl(name, "ours", items=SCENES, threads=workers, teardown=close,
                 run=warm_run, prepare=warm_clear,
                 note=f"warm LocalCluster, {workers} single-threaded worker processes; "
                      f"{RUN_NOTE}"),
            cold,
            Impl("align_dataset serial (no Dask)", "peer", items=SCENES, threads=1,
                 run=serial_run, prepare=serial_clear, check=same_values(),
                 note=f"serial=True: this process, scene after scene; {RUN_NOTE}"),
            read,
        ]
    except BaseException:
        _give_up(root, close)
        raise


def _give_up(root: str, close: Any) -> None:
    """entries failed before returning its Impls (whose teardown would):
    close the cluster if one was started, remove `root`; the caller re-raises
    the error that got it here, not one of closing."""
    try:
        if close is not None:
            close()
    except Exception:
        pass
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _warm_cluster(workers: int, root: str) -> Tuple[Any, Callable[[], None]]:
    """A Client on a LocalCluster of `workers` single-threaded worker
    processes, started once for every run of a point (a warm cluster), and
    the teardown that closes both and removes `root`."""
    dd = optional_module("dask.distributed", "dask[distributed]")
    cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None)
    try:
        client = dd.Client(cluster)
    except BaseException:
        cluster.close()
        raise

    def close() -> None:
        try:
            client.close()
        finally:
            try:
                cluster.close()
            finally:
                shutil.rmtree(root, ignore_errors=True)

    return client, close


def _cold_entries(name: str, inputs: List[str], evidence: str, items: int, workers: int,
                  run: Any, clear: Callable[[], None]) -> List[Entry]:
    """The cold-cache run (`run`, with `clear` removing its earlier
    outputs) and the storage's read of the same files (a limit);
    `evidence` is pagecache.eviction_evidence's note."""
    read_name = "sequential read of the inputs, cold (storage bandwidth)"
    why_not = pagecache.available()
    if why_not:
        return [Skipped(name, "peer", why_not), Skipped(read_name, "limit", why_not)]

    def evict():  # before each run, untimed (Impl.prepare)
        pagecache.evict(inputs)

    def clear_and_evict():
        clear()
        evict()

    return [
        Impl(name, "peer", items=items, threads=workers, run=run, check=same_values(),
             prepare=clear_and_evict,
             note=f"inputs evicted from the page cache before each run (untimed); {evidence}"),
        Impl(read_name, "limit", items=items, threads=1, prepare=evict,
             run=lambda: pagecache.read_files(inputs),
             note="every input file read whole in 1 MiB blocks, one after another, "
                  "evicted before each read: what storage delivers to one reader"),
    ]


#: The synthetic patches dataset: FILES .npz scans of an OBJECT² complex64
#: object and GROUPS scan positions (one group of gridsize² = 4 patches of
#: N² each per position), in the full set; the quick set's is smaller.
FILES, OBJECT, GROUPS, N = 8, 512, 200, 64
QUICK = dict(FILES=4, OBJECT=128, GROUPS=100, N=16)


def patches_sizes(quick: bool) -> Dict[str, int]:
    return dict(QUICK) if quick else dict(FILES=FILES, OBJECT=OBJECT, GROUPS=GROUPS, N=N)


def write_scans(folder: str, files: int, size: int, groups: int, n: int,
                seed: int) -> List[str]:
    """PtychoPINN-style .npz files (objectGuess, xcoords, ycoords,
    probeGuess): a random object (compresses little, as measured data
    does) and uniform scan positions whose patches lie inside it."""
    from . import data

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    py, px = np.mgrid[0:n, 0:n] - (n - 1) / 2
    probe = np.exp(-(px ** 2 + py ** 2) / (2 * (n / 6) ** 2)).astype(np.complex64)
    paths = []
    for i in range(files):
        xy = data.offsets(rng, groups, 1, size, n)[:, 0, :]
        path = os.path.join(folder, f"scan{i:03d}.npz")
        np.savez(path, objectGuess=data.complex_object(rng, size), xcoords=xy[:, 0],
                 ycoords=xy[:, 1], probeGuess=probe)
        paths.append(path)
    return paths


def _patches_runner(root: str, paths: List[str],
                    **how: Any) -> Tuple[Callable[[], Any], Callable[[], None]]:
    """A run (patches_dataset into a fresh store, what the paths must agree
    on: each input's status and group count, and its nn_indices, the same
    seed giving the same groups; RuntimeError unless every input was
    written and none failed) and what removes the stores of earlier runs
    (the Impl's prepare)."""
    from .. import distributed

    outputs = _Outputs(root, "store-")

    def run():
        out = outputs.fresh()
        # One library thread a task: the curve measures scaling with workers.
        summary = distributed.patches_dataset(paths, out, seed=0, backend=BACKEND,
                                              num_threads=1, **how)
        status = distributed.patches_status(out)
        if summary.failed or summary.computed != len(paths) or summary.skipped:
            raise RuntimeError(
                f"patches_dataset wrote {summary.computed} of {len(paths)} inputs "
                f"({summary.skipped} skipped), {summary.failed} failed: "
                + _failures([dict(r, name=n) for n, r in sorted(status.items())
                             if r["status"] != "PTP_SUCCESS"], "name"))
        store = optional_module("zarr", "zarr")
        root_group = store.open_group(out, mode="r")
        return [(name, status[name]["status"], status[name]["groups"],
                 int(np.asarray(root_group[name]["nn_indices"]).sum()))
                for name in sorted(status)]

    return run, outputs.clear


def patches_entries(workers: int, quick: bool, seed: int) -> List[Entry]:
    """patches_dataset on a warm LocalCluster of `workers`, and the serial path."""
    name = f"ptychopatch patches_dataset (Dask, {workers} workers)"
    serial_name = "patches_dataset serial (no Dask)"
    for module, pip in (("dask.distributed", "dask[distributed]"), ("zarr", "zarr")):
        missing = optional_module(module, pip)
        if isinstance(missing, str):
            return [Skipped(name, "ours", missing), Skipped(serial_name, "peer", missing)]
    size = patches_sizes(quick)
    root = tempfile.mkdtemp(prefix="ptychopatch-bench-patches-")
    close = None
    try:
        paths = write_scans(os.path.join(root, "scans"), size["FILES"], size["OBJECT"],
                            size["GROUPS"], size["N"], seed)
        client, close = _warm_cluster(workers, root)

        groups = size["FILES"] * size["GROUPS"]
        warm_run, warm_clear = _patches_runner(root, paths, client=client)
        serial_run, serial_clear = _patches_runner(root, paths, serial=True)
        return [
            Impl(name, "ours", items=groups, threads=workers, teardown=close,
                 run=warm_run, prepare=warm_clear,
                 note=f"warm LocalCluster, {workers} single-threaded worker processes; "
                      f"each run cuts, compresses and writes a fresh Zarr store; {RUN_NOTE}"),
            Impl(serial_name, "peer", items=groups, threads=1,
                 run=serial_run, prepare=serial_clear, check=same_values(),
                 note=f"serial=True: this process, file after file; {RUN_NOTE}"),
        ]
    except BaseException:
        _give_up(root, close)
        raise
