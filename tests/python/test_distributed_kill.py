"""A worker process killed from outside (SIGKILL) while its tasks run: the
job completes, every scene / input is in the output once, and the output
equals a serial run (issue 17).

test_distributed.py's worker ends itself; here the test kills it, as an
OOM killer or a lost node would, at a point it chooses: each task waits at
a gate (a file that does not exist yet) at a known place, the test waits
until both workers of a 2-worker LocalCluster (processes with nannies) are
held there, SIGKILLs one, waits until the scheduler has dropped it, then
opens the gate. The gates are files, not sleeps, so no assertion depends
on timing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import signal
import sys
import time
import uuid

import numpy as np
import pytest

distributed_dask = pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

import ptychopatch  # noqa: E402
from ptychopatch import cli, distributed  # noqa: E402

# The scenes (MOVES: scene -> moves of its frames) and their files.
from test_distributed import MOVES, _frame_files  # noqa: E402

RGGB = np.array([[0, 1], [3, 2]], dtype=np.int32)
#: Longest a gate or the test waits for anything: a hang fails, never blocks CI.
PATIENCE = 60.0


# ------------------------------------------------------- run on the workers

def _log_and_wait(gate: str, what: str) -> None:
    """Logs `what` (a file named after it and this process) and, while the
    gate is closed, waits for it to open."""
    open(os.path.join(gate, f"at-{what}-{os.getpid()}-{uuid.uuid4().hex}"), "w").close()
    deadline = time.monotonic() + PATIENCE
    while not os.path.exists(os.path.join(gate, "open")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate {gate} never opened")
        time.sleep(0.01)


def _gated_reader(gate: str, path: str) -> cli.RawFrame:
    """The command line's reader, held at each scene's GT frame until the
    gate opens: the scene is then in flight on its worker."""
    if path.endswith("gt.npy"):
        _log_and_wait(gate, os.path.basename(os.path.dirname(path)))
    return cli.make_reader(RGGB)(path)


def _hold_second_chunk(gate: str) -> None:
    """Run on each worker (client.run): its patches tasks stop before
    cutting their second chunk, so the group is half-written (grouping
    arrays and Y's first chunk, no completion marker) when the test kills
    the worker. Patches the module attribute `_patches_task._write` looks
    up at each call; a restarted worker is a fresh process without it."""
    from dask.distributed import get_worker

    real = ptychopatch.extract_patches
    calls: dict = {}

    def held(*args, **kwargs):
        key = get_worker().get_current_task()  # ptychopatch-patches-<pid>-<i>-<name>
        calls[key] = calls.get(key, 0) + 1
        if calls[key] == 2:
            _log_and_wait(gate, key.split("-", 4)[-1])
        return real(*args, **kwargs)

    ptychopatch.extract_patches = held


# ------------------------------------------------------------- the test side

@contextlib.contextmanager
def _cluster(allowed_failures=None):
    """2 single-threaded worker processes, each under a nanny that restarts
    it when it dies; this module's functions travel by value (the workers
    cannot import a test module). `allowed_failures`: the scheduler's
    worker deaths a task survives (Dask's default: 3)."""
    import cloudpickle
    import dask

    config = {} if allowed_failures is None else \
        {"distributed.scheduler.allowed-failures": allowed_failures}
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with dask.config.set(config):  # read when the (in-process) scheduler starts
            cluster = distributed_dask.LocalCluster(n_workers=2, threads_per_worker=1,
                                                    processes=True, dashboard_address=":0")
        with cluster, distributed_dask.Client(cluster) as client:
            assert all(isinstance(w, distributed_dask.Nanny) for w in cluster.workers.values())
            yield client
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@contextlib.contextmanager
def _gated_run(gate, allowed_failures=None):
    """The cluster's Client and a thread to run the job in; the gate is
    opened on the way out whatever happened, so that a failed assertion
    does not leave the workers (and the job's thread) held."""
    with _cluster(allowed_failures) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            yield client, pool
        finally:
            (gate / "open").touch()


def _arrivals(gate) -> list:
    """(what, pid) of each arrival at the gate, in no particular order."""
    out = []
    for p in gate.glob("at-*"):
        what, pid, _ = p.name[3:].rsplit("-", 2)
        out.append((what, int(pid)))
    return out


def _wait_for(condition, what: str, job=None):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if job is not None and job.done():
            job.result()  # the run ended (or raised) before the test got here
            raise AssertionError(f"the run ended before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _kill_one_held_worker(client, gate, job, before_kill=None) -> tuple:
    """Waits until both workers hold a task at the gate, SIGKILLs one
    (after ``before_kill(what it holds)``), waits until the scheduler has
    dropped it, opens the gate. Returns (what the killed worker held, its
    pid)."""
    pids = client.run(os.getpid)  # {worker address: pid}
    assert len(pids) == 2
    _wait_for(lambda: len({pid for _, pid in _arrivals(gate)}) == 2,
              "both workers at the gate", job)
    held = sorted(_arrivals(gate))[0]
    assert held[1] in pids.values()
    if before_kill is not None:
        before_kill(held[0])
    address = next(a for a, pid in pids.items() if pid == held[1])
    os.kill(held[1], signal.SIGKILL)
    _wait_for(lambda: address not in client.scheduler_info()["workers"],
              "the scheduler to drop the killed worker", job)
    (gate / "open").touch()
    return held


def _rows(output):
    return distributed.read_alignments(str(output)).drop(["seconds"]).to_pylist()


def _align_with_a_kill(tmp_path, allowed_failures=None):
    """align_dataset on 6 scenes, one worker killed mid-scene: (scenes,
    summary, the killed scene, the killed worker's pid, the reads' pids)."""
    root, gate = tmp_path / "data", tmp_path / "gate"
    _frame_files(root, np.random.default_rng(5))
    gate.mkdir()
    scenes = distributed.scenes_from_folders(str(root), gt="gt.npy", frames=["*.npy"])
    reader = functools.partial(_gated_reader, str(gate))
    with _gated_run(gate, allowed_failures) as (client, pool):
        job = pool.submit(distributed.align_dataset, scenes, str(tmp_path / "out"),
                          client=client, cfa="RGGB", reader=reader)
        killed, victim = _kill_one_held_worker(client, gate, job)
        summary = job.result(timeout=PATIENCE)
        assert victim not in client.run(os.getpid).values()  # the nanny started a new one
    reads = [pid for what, pid in _arrivals(gate) if what == killed]
    return scenes, summary, killed, victim, reads


def _check_moves(rows):
    """The first oracle: the crops are the moves the frames were made with."""
    for r in rows:
        dy, dx = MOVES[r["scene"]][int(r["frame"][1])]
        assert (r["ok"], r["crop_dy"], r["crop_dx"]) == (True, -dy, -dx), r


@pytest.mark.slow
def test_align_dataset_survives_a_worker_killed_mid_scene(tmp_path):
    scenes, summary, killed, victim, reads = _align_with_a_kill(tmp_path)

    # The killed scene was in flight on the victim, and read again elsewhere.
    assert victim in reads and len(reads) >= 2 and set(reads) != {victim}
    assert (summary.scenes, summary.computed, summary.skipped, summary.failed) == (6, 6, 0, 0)
    rows = _rows(tmp_path / "out")
    keys = [(r["scene"], r["frame"]) for r in rows]
    assert len(keys) == len(set(keys)) == 18  # every frame of every scene, once
    # Oracles: the moves the frames were made with, and a serial run (no Dask).
    _check_moves(rows)
    distributed.align_dataset(scenes, str(tmp_path / "serial"), serial=True, cfa="RGGB")
    assert rows == _rows(tmp_path / "serial")
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


@pytest.mark.slow
def test_align_dataset_records_a_scene_dask_gave_up_on(tmp_path):
    """With no worker death allowed, Dask gives up on the tasks the killed
    worker held (KilledWorker): their scenes get TASK_FAILED rows, the rest
    complete. A resumed run aligns exactly those scenes again (their task
    was lost, not their data) and skips the rest."""
    scenes, summary, killed, victim, reads = _align_with_a_kill(tmp_path, allowed_failures=0)
    assert reads == [victim]  # never run again
    output = tmp_path / "out"
    rows = _rows(output)
    assert [(r["scene"], r["frame"]) for r in rows] == \
        [(s, f"f{j}.npy") for s in sorted(MOVES) for j in range(3)]  # all, once
    lost = {r["scene"] for r in rows if r["status"] == "TASK_FAILED"}
    assert killed in lost and len(lost) <= 2  # the one held, perhaps one queued behind it
    assert all("KilledWorker" in r["message"] for r in rows if r["scene"] in lost)
    assert (summary.computed, summary.failed) == (6, 3 * len(lost))
    _check_moves([r for r in rows if r["scene"] not in lost])

    summary = distributed.align_dataset(scenes, str(output), serial=True, cfa="RGGB")
    assert (summary.computed, summary.skipped, summary.failed) == (len(lost), 6 - len(lost), 0)
    assert distributed.align_dataset(scenes, str(output), serial=True,
                                     cfa="RGGB").skipped == 6  # now nothing is left to retry
    distributed.align_dataset(scenes, str(tmp_path / "serial"), serial=True, cfa="RGGB")
    assert _rows(output) == _rows(tmp_path / "serial")


# zarr (or None), its skip mark and the patches-dataset tests' grouping.
from test_distributed import CHUNK, GROUPING, needs_zarr3, zarr  # noqa: E402


def _grouped_patches(folder, name):
    """The oracle: `ptychopatch.grouped_patches` on the file, in memory."""
    d = cli.load_dataset(str(folder / f"{name}.npz"))
    return ptychopatch.grouped_patches(d["objectGuess"], d["xcoords"], d["ycoords"], 16, 100,
                                       backend="cpu", diffraction=d["diff3d"],
                                       xcoords_start=d["xcoords_start"],
                                       ycoords_start=d["ycoords_start"], **GROUPING)


def _half_written(store, folder, name):
    """Asserts what a kill at the gate leaves: group `name` half-written
    (grouping arrays and Y's first chunk), its completion marker unset."""
    group = zarr.open_group(str(store / name), mode="r")
    assert "complete" not in group.attrs
    want = _grouped_patches(folder, name)
    np.testing.assert_array_equal(group["nn_indices"][...], want["nn_indices"])
    np.testing.assert_array_equal(group["Y"][:CHUNK], want["Y"][:CHUNK])
    assert not group["Y"][CHUNK:].any()  # the second chunk was never cut


def _patches_with_a_kill(tmp_path, allowed_failures=None):
    """patches_dataset on 4 files, one worker killed mid-group: (paths,
    store, summary, the killed worker's input)."""
    gate, store = tmp_path / "gate", tmp_path / "out.zarr"
    gate.mkdir()
    paths = []
    for i in range(4):  # 100 positions, N = 16: 7 chunks of 16 groups each
        paths.append(str(tmp_path / f"scan{i}.npz"))
        cli.make_synthetic(paths[-1], size=96, N=16, seed=i)
    with _gated_run(gate, allowed_failures) as (client, pool):
        client.run(_hold_second_chunk, str(gate))
        job = pool.submit(distributed.patches_dataset, paths, str(store), client=client,
                          chunk_groups=CHUNK, **GROUPING)
        killed, victim = _kill_one_held_worker(
            client, gate, job, functools.partial(_half_written, store, tmp_path))
        summary = job.result(timeout=PATIENCE)
        assert victim not in client.run(os.getpid).values()
    return paths, store, summary, killed


def _check_store(tmp_path, store, paths, names):
    """Groups `names` of the store equal, bitwise, grouped_patches on their
    file (the oracle) and a serial run's store (attributes included)."""
    root = zarr.open_group(str(store), mode="r")
    distributed.patches_dataset(paths, str(tmp_path / "serial.zarr"), serial=True,
                                chunk_groups=CHUNK, **GROUPING)
    serial = zarr.open_group(str(tmp_path / "serial.zarr"), mode="r")
    for name in names:
        want = _grouped_patches(tmp_path, name)
        got = root[name]
        assert got.attrs.get("complete") is True
        assert dict(got.attrs) == dict(serial[name].attrs)
        assert sorted(k for k, _ in got.arrays()) == sorted(want)
        for key in want:
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key][...], want[key], err_msg=f"{name} {key}")
            np.testing.assert_array_equal(got[key][...], serial[name][key][...])


@pytest.mark.slow
@needs_zarr3
def test_patches_dataset_survives_a_worker_killed_mid_group(tmp_path):
    paths, store, summary, _ = _patches_with_a_kill(tmp_path)
    assert (summary.inputs, summary.computed, summary.skipped, summary.failed) == (4, 4, 0, 0)
    assert summary.groups == 400
    status = distributed.patches_status(str(store))
    assert sorted(status) == [f"scan{i}" for i in range(4)]  # each input recorded once
    assert {r["status"] for r in status.values()} == {"PTP_SUCCESS"}
    assert sorted(zarr.open_group(str(store), mode="r").group_keys()) == sorted(status)
    _check_store(tmp_path, store, paths, sorted(status))
    # The kill left no temporary chunk file behind (it struck between writes).
    assert not [p for p in store.rglob("*") if p.name.endswith(".partial")]


@pytest.mark.slow
@needs_zarr3
def test_patches_dataset_records_an_input_dask_gave_up_on(tmp_path):
    """With no worker death allowed: TASK_FAILED for the inputs the killed
    worker held, their groups left without marker; a resumed run writes
    them (failed inputs are tried again) and the store is whole."""
    paths, store, summary, killed = _patches_with_a_kill(tmp_path, allowed_failures=0)
    status = distributed.patches_status(str(store))
    assert sorted(status) == [f"scan{i}" for i in range(4)]
    lost = {name for name, r in status.items() if r["status"] == "TASK_FAILED"}
    assert killed in lost and len(lost) <= 2  # the one held, perhaps one queued behind it
    assert all("KilledWorker" in status[name]["message"] for name in lost)
    assert (summary.computed, summary.failed) == (4 - len(lost), len(lost))
    _half_written(store, tmp_path, killed)  # as the kill left it
    _check_store(tmp_path, store, paths, sorted(set(status) - lost))

    summary = distributed.patches_dataset(paths, str(store), serial=True, chunk_groups=CHUNK,
                                          **GROUPING)
    assert (summary.computed, summary.skipped, summary.failed) == (len(lost), 4 - len(lost), 0)
    assert {r["status"] for r in distributed.patches_status(str(store)).values()} == \
        {"PTP_SUCCESS"}
    _check_store(tmp_path, store, paths, sorted(status))
