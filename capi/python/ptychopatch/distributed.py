"""Dataset-scale alignment on Dask: many scenes, many workers, results on disk.

`align_dataset` aligns every scene of a RAW dataset (`scenes_from_folders`
or `scenes_from_manifest`), one Dask task per scene, and writes one row per
frame to a folder of Parquet files, one file per finished scene
(`read_alignments` reads it back). The work runs on a
``dask.distributed.Client`` you give (any cluster: ``LocalCluster``,
``dask-jobqueue``'s ``SLURMCluster``, Kubernetes), on a scheduler address,
or on a ``LocalCluster`` started for the call and sized to the machine;
``serial=True`` runs it in this process without Dask, with the same rows.

Failure behaviour (docs/distributed.md):

* a scene that cannot be read (no GT frame, a corrupt file, a missing
  reader package) gets its status rows; the job goes on;
* a worker lost mid-run: Dask runs its scenes again elsewhere; each scene's
  file is written once, by this process, when its result arrives;
* an interrupted run loses at most the scenes in flight: run the same call
  again and the scenes already in the folder are skipped.

Dask and pyarrow are the ``distributed`` extra (``pip install
'ptychopatch[distributed]'``); ``import ptychopatch`` does not need them.

Examples
--------
>>> from ptychopatch import distributed  # doctest: +SKIP
>>> scenes = distributed.scenes_from_folders("/data/rawnind", gt="gt/*",
...                                          frames=["*.arw"])  # doctest: +SKIP
>>> summary = distributed.align_dataset(scenes, "alignments/")  # doctest: +SKIP
>>> distributed.read_alignments("alignments/").to_pandas()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence

from . import _parts
from ._dataset import Scene, scenes_from_folders, scenes_from_manifest
from ._optional import optional_import
from ._scene_task import STATUS_TASK_FAILED, align_scene_rows, failed_rows

__all__ = ["AlignDatasetSummary", "Scene", "align_dataset", "read_alignments",
           "scenes_from_folders", "scenes_from_manifest"]


class AlignDatasetSummary(NamedTuple):
    """What `align_dataset` did.

    Attributes
    ----------
    output : str
        The output folder.
    scenes : int
        Scenes in the dataset.
    computed : int
        Scenes aligned (and written) by this call.
    skipped : int
        Scenes already in the output folder (a resumed run), not recomputed.
    frames : int
        Rows written by this call.
    failed : int
        Of those, rows whose status is not PTP_SUCCESS.
    seconds : float
        Wall time of the call.
    """

    output: str
    scenes: int
    computed: int
    skipped: int
    frames: int
    failed: int
    seconds: float


def _distributed() -> Any:
    return optional_import("dask.distributed", "ptychopatch.distributed",
                           pip_name="dask[distributed]")


def _default_cluster(n_workers: Optional[int]) -> Any:
    """A LocalCluster of `n_workers` single-threaded worker processes, or
    sized to this machine: one worker per GPU with dask-cuda (no two
    processes on one device), else one per core."""
    from . import cuda_device_count

    if n_workers is not None:
        return _distributed().LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           dashboard_address=":0")
    gpus = cuda_device_count()
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            # Several processes initialising CUDA on one device is what ran
            # RawNIND's hand-parallel run out of memory: one worker instead.
            warnings.warn(f"{gpus} GPU(s) but dask-cuda is not installed: one worker "
                          "(pip install dask-cuda for one worker per GPU)", RuntimeWarning)
            return _distributed().LocalCluster(n_workers=1, threads_per_worker=1,
                                               dashboard_address=":0")
        return LocalCUDACluster(threads_per_worker=1, dashboard_address=":0")
    return _distributed().LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                                       dashboard_address=":0")


@contextlib.contextmanager
def _client(client: Any, n_workers: Optional[int]) -> Iterator[Any]:
    """The Client to use: the one given, one on a scheduler address, or one
    on a LocalCluster of its own (closed on exit)."""
    distributed = _distributed()
    if isinstance(client, distributed.Client):
        yield client
        return
    if isinstance(client, str):
        with distributed.Client(client) as c:
            yield c
        return
    if client is not None:
        raise TypeError(f"client: a dask.distributed.Client, a scheduler address or None, "
                        f"not {type(client).__name__}")
    with _default_cluster(n_workers) as cluster, distributed.Client(cluster) as c:
        yield c


def _run_options(cfa: Any, upsample_factor: int, combine: str, snap: bool,
                 window: Optional[str], max_shift: Optional[int], backend: str,
                 num_threads: int) -> Dict[str, Any]:
    from . import cli

    if isinstance(cfa, str) and cfa != "file":
        cfa = cli.parse_cfa(cfa)
    return {"cfa": cfa if isinstance(cfa, str) or cfa is None else
            [[int(v) for v in row] for row in cfa],
            "upsample_factor": upsample_factor, "combine": combine, "snap": snap,
            "window": window, "max_shift": max_shift, "backend": backend,
            "num_threads": num_threads}


def align_dataset(scenes: Sequence[Scene], output: str, *, client: Any = None,
                  n_workers: Optional[int] = None, serial: bool = False,
                  cfa: Any = "file", upsample_factor: int = 10,
                  combine: str = "joint", snap: bool = False, window: Optional[str] = "hann",
                  max_shift: Optional[int] = None, backend: str = "auto",
                  num_threads: int = 1, batch: int = 8,
                  reader: Optional[Callable[[str], Any]] = None,
                  progress: Optional[Callable[[int, int], Any]] = None
                  ) -> AlignDatasetSummary:
    """Align every scene of a dataset, one task per scene, to Parquet files.

    Parameters
    ----------
    scenes : sequence of Scene
        From `scenes_from_folders` or `scenes_from_manifest`.
    output : str
        Output folder: one Parquet file per scene (made if missing). Scenes
        whose file is already there are skipped (resume); a folder made
        with other alignment options is refused (ValueError).
    client : dask.distributed.Client, str or None
        Where to run: a Client, a scheduler address (``"tcp://host:8786"``),
        or None for a LocalCluster sized to this machine (one worker per GPU
        with dask-cuda, else one per core), closed when done.
    n_workers : int, optional
        With ``client=None``: the LocalCluster's worker processes.
    serial : bool
        Run here, scene after scene, without Dask (same rows).
    cfa : "file", str, array or None
        The colour-filter layout: "file" takes RAW files' own (array files
        then need one); a name (RGGB, XTRANS, ...), 4 / 36 LibRaw codes, or
        None for no mosaic, as ``ptychopatch align --cfa``.
    upsample_factor, combine, snap, window, max_shift, backend
        As `ptychopatch.align_scene`; ``backend="auto"`` is resolved by each
        worker (its GPU where it has one). Per-plane shifts of
        ``combine="median"/"mean"`` are not written.
    num_threads : int
        Library threads per task (default 1: Dask's workers are the
        parallelism; 0 uses every core in each task).
    batch : int
        Frames read and aligned per library call (memory: GT + `batch`).
    reader : callable, optional
        ``reader(path) -> ptychopatch.cli.RawFrame`` for another file format
        (it must be picklable: the workers call it).
    progress : callable, optional
        ``progress(scenes_done, scenes_total)`` after each scene is written.

    Returns
    -------
    AlignDatasetSummary

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from ptychopatch import distributed
    >>> root = tempfile.mkdtemp()
    >>> gt = (np.random.default_rng(0).random((64, 64)) * 4000).astype(np.uint16)
    >>> os.makedirs(os.path.join(root, "scene1"))
    >>> np.save(os.path.join(root, "scene1", "gt.npy"), gt)
    >>> np.save(os.path.join(root, "scene1", "f1.npy"), np.roll(gt, (2, -4), axis=(0, 1)))
    >>> scenes = distributed.scenes_from_folders(root, gt="gt.npy", frames=["*.npy"])
    >>> out = os.path.join(root, "out")
    >>> distributed.align_dataset(scenes, out, cfa="RGGB", serial=True).computed
    1
    >>> distributed.read_alignments(out).select(["frame", "crop_dy", "crop_dx"]).to_pylist()
    [{'frame': 'f1.npy', 'crop_dy': -2, 'crop_dx': 4}]
    """
    start = time.perf_counter()
    _parts.schema()  # pyarrow, and Dask below: missing ones fail before any work
    if not serial:
        _distributed()
    names = [s.name for s in scenes]
    if len(set(names)) != len(names):
        raise ValueError("scene names must be unique: each names its output file")
    run = _run_options(cfa, upsample_factor, combine, snap, window, max_shift, backend,
                       num_threads)
    _parts.check_run_options(output, run)
    options = dict(run, batch=batch)
    done = _parts.done_scenes(output)
    todo = [s for s in scenes if s.name not in done]
    skipped = len(scenes) - len(todo)
    counts = {"scenes": 0, "rows": 0, "failed": 0}

    def finish(scene: Scene, rows: List[Dict[str, Any]]) -> None:
        _parts.write_part(output, scene.name, rows)
        counts["scenes"] += 1
        counts["rows"] += len(rows)
        counts["failed"] += sum(not r["ok"] for r in rows)
        if progress is not None:
            progress(skipped + counts["scenes"], len(scenes))

    if serial:
        for scene in todo:
            finish(scene, align_scene_rows(scene, options, reader))
    elif todo:
        _run_on_dask(todo, options, reader, client, n_workers, finish)
    return AlignDatasetSummary(output, len(scenes), counts["scenes"], skipped, counts["rows"],
                               counts["failed"], time.perf_counter() - start)


def _run_on_dask(todo: Sequence[Scene], options: Dict[str, Any], reader: Any, client: Any,
                 n_workers: Optional[int],
                 finish: Callable[[Scene, List[Dict[str, Any]]], None]) -> None:
    """Submits one task per scene and writes each result as it arrives.

    Results come back to this process, which alone writes the files: a
    task Dask runs twice (its worker died) still gives one file, and the
    workers need no write access to the output folder.
    """
    distributed = _distributed()
    with _client(client, n_workers) as c:
        futures = {}
        for scene in todo:
            # pure=False: a resubmitted scene is computed again, not taken
            # from a result some earlier call left on the cluster.
            future = c.submit(align_scene_rows, scene, options, reader, pure=False,
                              key=f"ptychopatch-align-{os.getpid()}-{len(futures)}-{scene.name}")
            futures[future] = scene
        try:
            for future in distributed.as_completed(futures):
                scene = futures[future]
                try:
                    rows = future.result()
                except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: rows say so
                    rows = failed_rows(scene, STATUS_TASK_FAILED, f"{type(err).__name__}: {err}")
                finish(scene, rows)
                future.release()
        finally:
            # Interrupted (Ctrl-C, an error writing): stop the rest; the
            # files written so far are complete and a rerun skips them.
            c.cancel(list(futures))


def read_alignments(output: str) -> Any:
    """The rows `align_dataset` wrote, as a pyarrow Table.

    Scenes in name order, frames in their scene's order: two runs over the
    same data give the same table except for ``seconds`` (timings). Columns:
    scene, frame, gt, status, ok, shift_dy, shift_dx (sensor pixels), crop_dy,
    crop_dx (the CFA-consistent integer shift to crop by), confidence,
    message, backend, seconds (the scene's wall time, on each of its rows).
    ``.to_pandas()`` gives a DataFrame.
    """
    return _parts.read_parts(output)
