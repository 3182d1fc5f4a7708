"""Datasets on Dask: many scenes or scans, many workers, results on disk.

`patches_dataset` groups and cuts the patches of many PtychoPINN ``.npz``
files, one task per file, into one chunked, compressed Zarr store, a chunk
at a time (`patches_status` gives its per-file records); its docstring
says how it fails and resumes. The rest of this text is about alignment.

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

Dask, pyarrow and zarr are the ``distributed`` extra (``pip install
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
import uuid
import warnings
from typing import (Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

from . import _parts, _zarr_store
from ._dataset import Scene, scenes_from_folders, scenes_from_manifest
from ._optional import optional_import
from ._patches_task import PatchesInput, lost_record, patches_to_zarr
from ._scene_task import (STATUS_GT_UNREADABLE, STATUS_NO_SCENE, STATUS_SCENE_FAILED,
                          STATUS_TASK_FAILED, align_scene_rows, failed_rows)
from ._task_threads import threads_per_host
from .align import PLANNING_CHOICES, _warn_retired

__all__ = ["AlignDatasetSummary", "PatchesDatasetSummary", "Scene", "align_dataset",
           "patches_dataset", "patches_status", "read_alignments", "scenes_from_folders",
           "scenes_from_manifest"]


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
                 verify: Union[bool, str, None] = "refine") -> Dict[str, Any]:
    from ._frames import parse_cfa

    if isinstance(cfa, str) and cfa != "file":
        cfa = parse_cfa(cfa)
    run = {"cfa": cfa if isinstance(cfa, str) or cfa is None else
           [[int(v) for v in row] for row in cfa],
           "upsample_factor": upsample_factor, "combine": combine, "snap": snap,
           "window": window, "max_shift": max_shift, "backend": backend}
    # Recorded unless off: folders written before the option (no loop) keep
    # their options, and resuming one needs verify=False.
    if verify and verify != "none":
        run["verify"] = "check" if verify is True else verify
    return run


def align_dataset(scenes: Sequence[Scene], output: str, *, client: Any = None,
                  n_workers: Optional[int] = None, serial: bool = False,
                  cfa: Any = "file", upsample_factor: int = 10,
                  combine: str = "luma", snap: bool = False, window: Optional[str] = "hann",
                  max_shift: Optional[int] = None, backend: str = "auto",
                  verify: Union[bool, str, None] = "refine",
                  num_threads: Optional[int] = None, batch: int = 8, planning: str = "auto",
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
        whose file is already there are skipped (resume), except those none
        of whose frames got a result (``TASK_FAILED``, ``SCENE_INVALID``,
        ``GT_UNREADABLE``, ``SCENE_FAILED``), which run again; a scene whose
        recorded GT file differs from this run's is skipped with a
        RuntimeWarning; a folder made with other alignment options is
        refused (ValueError).
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
    upsample_factor, combine, snap, window, max_shift, backend, verify
        As `ptychopatch.align_scene` (``verify="refine"``, the default:
        coarse to fine; ``False``: the coarse estimate alone, as folders
        written before 0.4 were); ``backend="auto"`` is resolved by each
        worker (its GPU where it has one). The retired ``combine``,
        ``window`` and ``verify`` values run the default, with a
        DeprecationWarning (CHANGELOG.md).
    num_threads : int, optional
        Library threads per task; None (default): the processors each
        worker may use divided by the tasks running at once on its host
        (docs/python.md, "Threads"); 0: every core in each task.
    batch : int
        Frames read and aligned per library call (memory: GT + `batch`).
    planning : {"auto", "measure", "estimate", "wisdom"}
        FFT planning, as `ptychopatch.align_scene` ("auto": measured plans
        for calls of 8 frames or more). A worker keeps its plans, so
        ``"measure"`` plans each frame size once per worker: on 24 MP
        Bayer frames it makes a GT + 4 scene 1.07x faster after the first
        (docs/distributed.md). Results agree up to FFT rounding, so it is
        not one of the options a resumed run must share.
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
    _warn_retired(combine, verify, window=window)
    _parts.schema()  # pyarrow, and Dask below: missing ones fail before any work
    if not serial:
        _distributed()
    names = [s.name for s in scenes]
    if len(set(names)) != len(names):
        raise ValueError("scene names must be unique: each names its output file")
    # Threads and planning change the speed, not the rows: a run may be
    # resumed with others (a job resubmitted on another node size).
    run = _run_options(cfa, upsample_factor, combine, snap, window, max_shift, backend,
                       verify)
    _parts.check_run_options(output, run)
    if str(planning).lower() not in PLANNING_CHOICES:  # before any work, not per scene
        raise ValueError(f"planning must be one of {list(PLANNING_CHOICES)}, got {planning!r}")
    options = dict(run, batch=batch, planning=planning, num_threads=num_threads)
    recorded = _parts.recorded_scenes(output)
    # A scene none of whose frames got a result (its task lost, its GT frame
    # unreadable or not found, an error while aligning) runs again: the
    # cause may be gone (a reader package installed, a pattern corrected),
    # as patches-dataset retries its failed inputs. Scenes with any frame
    # result are kept.
    done = {name for name, (statuses, _) in recorded.items()
            if not statuses <= _SCENE_FAILURES}
    _warn_other_sources("scene", [(s.name, sorted(recorded[s.name][1])[0], s.gt)
                                  for s in scenes if s.name in done and s.gt is not None
                                  and s.gt not in recorded[s.name][1]], output)
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

    _run(todo, align_scene_rows, (options, reader), serial, client, n_workers, finish,
         lambda scene, message: failed_rows(scene, STATUS_TASK_FAILED, message), "align")
    return AlignDatasetSummary(output, len(scenes), counts["scenes"], skipped, counts["rows"],
                               counts["failed"], time.perf_counter() - start)


#: Row statuses that say a scene as a whole got no result.
_SCENE_FAILURES = frozenset({STATUS_TASK_FAILED, STATUS_NO_SCENE, STATUS_GT_UNREADABLE,
                             STATUS_SCENE_FAILED})


def _warn_other_sources(kind: str, differing: Sequence[Tuple[str, str, str]],
                        output: str) -> None:
    """Warns that items already in `output` were made from other files than
    this run names (they are skipped: outputs are matched by name)."""
    if differing:
        name, before, now = differing[0]
        warnings.warn(f"{len(differing)} {kind}(s) already in {output} were made from other "
                      f"files than this run gives and are skipped ({kind} {name!r}: {before} "
                      f"there, {now} now); if these are other data, use a new output",
                      RuntimeWarning, stacklevel=3)


def _run(todo: Sequence[Any], task: Callable[..., Any], args: Tuple[Any, ...], serial: bool,
         client: Any, n_workers: Optional[int], finish: Callable[[Any, Any], None],
         lost: Callable[[Any, str], Any], kind: str) -> None:
    """``finish(item, task(item, *args))`` for each item, here one after
    another (`serial`) or on Dask (`_run_on_dask`)."""
    if serial:
        for item in todo:
            finish(item, task(item, *args))
    elif todo:
        _run_on_dask(todo, task, args, client, n_workers, finish, lost, kind)


def _run_on_dask(todo: Sequence[Any], task: Callable[..., Any], args: Tuple[Any, ...],
                 client: Any, n_workers: Optional[int], finish: Callable[[Any, Any], None],
                 lost: Callable[[Any, str], Any], kind: str) -> None:
    """Submits ``task(item, *args, hosts=...)`` for each item (a Scene, an
    input file; `hosts`: `threads_per_host`) and calls
    ``finish(item, result)`` in this process as results arrive;
    a task Dask gave up on (e.g. KilledWorker) finishes with
    ``lost(item, message)`` instead, so that it is recorded, not dropped.

    Results come back to this process, which alone writes the records: a
    task Dask runs twice (its worker died) is still recorded once.
    """
    distributed = _distributed()
    # Keys unique to this call: a task of an earlier call on the same
    # cluster (cancelled, still running) must not answer for this one.
    call = uuid.uuid4().hex
    with _client(client, n_workers) as c:
        # Each task divides its worker's processors by its host's task
        # threads (`_task_threads.task_threads`) when num_threads is None.
        hosts = threads_per_host(c)
        futures = {}
        for item in todo:
            # pure=False: a resubmitted item is computed again, not taken
            # from a result some earlier call left on the cluster.
            future = c.submit(task, item, *args, hosts=hosts, pure=False,
                              key=f"ptychopatch-{kind}-{call}-{len(futures)}-{item.name}")
            futures[future] = item
        try:
            for future in distributed.as_completed(futures):
                item = futures[future]
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 - e.g. KilledWorker: recorded
                    result = lost(item, f"{type(err).__name__}: {err}")
                finish(item, result)
                future.release()
        finally:
            # Interrupted (Ctrl-C, an error writing): stop the rest; what
            # was recorded so far is complete and a rerun skips it.
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


class PatchesDatasetSummary(NamedTuple):
    """What `patches_dataset` did.

    Attributes
    ----------
    output : str
        The Zarr store.
    inputs : int
        Input files given.
    computed : int
        Inputs whose group this call wrote.
    skipped : int
        Inputs already complete in the store (a resumed run), not rewritten.
    failed : int
        Inputs this call could not write (their records say why).
    groups : int
        Groups (rows of ``Y``) written by this call.
    seconds : float
        Wall time of the call.
    """

    output: str
    inputs: int
    computed: int
    skipped: int
    failed: int
    groups: int
    seconds: float


def _patches_inputs(inputs: Sequence[str]) -> List[PatchesInput]:
    """Each path with its group name: the file name without ``.npz``."""
    items = []
    for path in inputs:
        name = os.path.basename(os.fspath(path))
        name = name[:-4] if name.lower().endswith(".npz") else name
        if not name or name.startswith("__") or name in (".", ".."):
            raise ValueError(f"{path}: its file name cannot name a Zarr group")
        # Absolute: the workers may run in another folder.
        items.append(PatchesInput(name, os.path.abspath(path)))
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"input file names must be unique, each names its group: {twice}")
    return items


def patches_dataset(inputs: Sequence[str], output: str, *, client: Any = None,
                    n_workers: Optional[int] = None, serial: bool = False,
                    N: Optional[int] = None, nsamples: Optional[int] = None, K: int = 4,
                    gridsize: int = 2, seed: Optional[int] = None, sequential: bool = False,
                    oversample: bool = False, chunk_groups: int = 256,
                    backend: str = "auto", num_threads: Optional[int] = None,
                    progress: Optional[Callable[[int, int], Any]] = None
                    ) -> PatchesDatasetSummary:
    """Grouped patches of many PtychoPINN ``.npz`` files into one Zarr store.

    Each file (objectGuess, xcoords, ycoords, optional probeGuess: what
    ``ptychopatch patches`` reads) is one Dask task, which groups its scan
    positions and cuts the patches `chunk_groups` groups at a time into
    the file's group of the store: ``Y`` and the grouping arrays of
    `ptychopatch.grouped_patches`, chunked along the group axis and
    compressed. So the store may outgrow memory; a task holds the object,
    the grouping arrays (40 C + 16 bytes a group) and one chunk of patches
    (chunk_groups x N x N x C x 8 bytes for a complex object) at a time.

    Parameters
    ----------
    inputs : sequence of str
        The ``.npz`` files; each gives the group named after the file
        (``fly001.npz`` -> ``fly001``), so their names must be unique.
    output : str
        The Zarr store (a folder; made if missing). Inputs whose group is
        complete in it are skipped (resume), unfinished groups written
        over; a store made with other options is refused (ValueError).
    client, n_workers, serial
        Where to run, as for `align_dataset`: a Client, a scheduler
        address, or None for a LocalCluster (`n_workers` processes, default
        one per core or GPU); ``serial=True`` runs here without Dask. The
        workers write the groups, so they need write access to `output`.
    N, nsamples, K, gridsize, seed, sequential, oversample
        As ``ptychopatch patches``: N defaults to each file's probeGuess
        size (else 64), nsamples to its number of positions. With
        ``seed=None`` each file's seed is derived from a random one the
        store draws when it is made (recorded in the group's ``seed``
        attribute); give a seed for output another store reproduces.
    chunk_groups : int
        Groups per chunk, and per library call.
    backend : {"auto", "cpu", "gpu"}
        Where the patches are cut; "auto" is resolved by each worker.
    num_threads : int, optional
        Library threads per task, as for `align_dataset` (None: the
        worker's processors divided by the tasks running at once on its host).
    progress : callable, optional
        ``progress(inputs_done, inputs_total)`` after each input is recorded.

    Returns
    -------
    PatchesDatasetSummary
        `patches_status` gives the per-input records.

    Examples
    --------
    >>> import os, tempfile, numpy as np, zarr, ptychopatch
    >>> from ptychopatch import cli, distributed
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"scan{i}.npz") for i in range(2)]
    >>> for i, path in enumerate(paths):
    ...     _ = cli.make_synthetic(path, seed=i)     # 400 positions, N = 32
    >>> store = os.path.join(folder, "patches.zarr")
    >>> s = distributed.patches_dataset(paths, store, serial=True, seed=0, chunk_groups=64)
    >>> s.computed, s.groups
    (2, 800)
    >>> Y = zarr.open_group(store, mode="r")["scan1"]["Y"]
    >>> Y.shape, Y.chunks
    ((400, 32, 32, 4), (64, 32, 32, 4))
    >>> d = cli.load_dataset(paths[1])
    >>> oracle = ptychopatch.grouped_patches(d["objectGuess"], d["xcoords"], d["ycoords"],
    ...                                      32, 400, seed=0)
    >>> bool(np.array_equal(Y[:], oracle["Y"]))
    True
    >>> distributed.patches_status(store)["scan1"]["status"]
    'PTP_SUCCESS'
    """
    start = time.perf_counter()
    _zarr_store.zarr_module()  # zarr, and Dask below: missing ones fail before any work
    if not serial:
        _distributed()
    if chunk_groups < 1:
        raise ValueError(f"chunk_groups must be at least 1, got {chunk_groups}")
    items = _patches_inputs(inputs)
    store = os.path.abspath(output)
    run = {"N": N, "nsamples": nsamples, "K": K, "gridsize": gridsize, "seed": seed,
           "sequential": sequential, "oversample": oversample, "chunk_groups": chunk_groups}
    root = _zarr_store.open_store(store, run)
    options = dict(run, backend=backend, num_threads=num_threads)
    done = set(_zarr_store.complete_inputs(root))
    _zarr_store.record_unrecorded(root, done)
    sources = {name: root[name].attrs.get("source") for name in done}
    _warn_other_sources("input", [(item.name, sources[item.name], item.path) for item in items
                                  if item.name in done and sources[item.name] != item.path],
                        output)
    todo = [item for item in items if item.name not in done]
    skipped = len(items) - len(todo)
    counts = {"inputs": 0, "failed": 0, "groups": 0}

    def finish(item: PatchesInput, result: Dict[str, Any]) -> None:
        _zarr_store.record(root, {item.name: result})
        counts["inputs"] += 1
        counts["failed"] += result["status"] != "PTP_SUCCESS"
        counts["groups"] += result["groups"]
        if progress is not None:
            progress(skipped + counts["inputs"], len(items))

    _run(todo, patches_to_zarr, (store, options), serial, client, n_workers, finish,
         lambda item, message: lost_record(item, STATUS_TASK_FAILED, message), "patches")
    return PatchesDatasetSummary(output, len(items), counts["inputs"] - counts["failed"],
                                 skipped, counts["failed"], counts["groups"],
                                 time.perf_counter() - start)


def patches_status(output: str) -> Dict[str, Dict[str, Any]]:
    """The records `patches_dataset` kept in the store, by input name: path,
    status (``PTP_SUCCESS``, ``UNREADABLE``, ``FAILED``, ``TASK_FAILED``),
    message, groups, backend, seconds (the input's wall time)."""
    root = _zarr_store.zarr_module().open_group(output, mode="r")
    return {name: dict(r) for name, r in root.attrs.get(_zarr_store.INPUTS_KEY, {}).items()}
