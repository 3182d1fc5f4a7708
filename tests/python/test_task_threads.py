"""Library threads of the Dask dataset tasks (issue 58): without a
num_threads each task gets max(1, the processors its worker may use //
the task threads running at once on its host), on any cluster shape; an
integer is kept.

The clusters run their workers in this process (processes=False), so a
stand-in affinity mask reaches them and the library calls can be
recorded: each call's context is asked (ptp_context_get_num_threads) how
many threads it got, beside the count the task asked for.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import pytest

distributed_dask = pytest.importorskip("dask.distributed")

from ptychopatch import _context, _native, _task_threads, cli, distributed  # noqa: E402

try:
    import zarr
except ImportError:
    zarr = None
needs_zarr3 = pytest.mark.skipif(zarr is None or int(zarr.__version__.split(".")[0]) < 3,
                                 reason="patches-dataset needs zarr >= 3")

REAL_PROCESSORS = _task_threads.available_processors()


@pytest.fixture
def calls(monkeypatch):
    """(asked, got) of every library context the tasks use."""
    seen = []
    lock = threading.Lock()
    real = _context.context

    def recording(backend, num_threads):
        handle = real(backend, num_threads)
        if sys._getframe(1).f_code.co_name == "backend_info":  # not a computation
            return handle
        got = ctypes.c_int32()
        _native.context_get_num_threads(handle, ctypes.byref(got))
        with lock:
            seen.append((num_threads, got.value))
        return handle

    monkeypatch.setattr(_context, "context", recording)
    return seen


def _fake_processors(monkeypatch, count):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)),
                        raising=False)


@pytest.fixture
def scans(tmp_path):
    paths = [str(tmp_path / f"scan{i}.npz") for i in range(3)]
    for i, path in enumerate(paths):
        cli.make_synthetic(path, size=96, N=16, seed=i)
    return paths


def _patches(scans, output, client, **kwargs):
    summary = distributed.patches_dataset(scans, str(output), client=client, K=6, seed=3,
                                          chunk_groups=64, backend="cpu", **kwargs)
    assert (summary.computed, summary.failed) == (len(scans), 0)


@pytest.mark.slow
@needs_zarr3
@pytest.mark.parametrize("workers, threads", [(1, 2), (2, 1), (1, 1)])
@pytest.mark.parametrize("processors", [None, 8, 3])
def test_each_task_gets_its_share_of_the_host(scans, tmp_path, calls, monkeypatch,
                                              workers, threads, processors):
    if processors is not None:
        _fake_processors(monkeypatch, processors)
    cores = REAL_PROCESSORS if processors is None else processors
    want = max(1, cores // (workers * threads))
    with distributed_dask.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                       processes=False, dashboard_address=":0") as cluster, \
            distributed_dask.Client(cluster) as client:
        _patches(scans, tmp_path / "out.zarr", client)
    assert calls and {asked for asked, _ in calls} == {want}, calls
    # The library caps a request at the processors it may really use.
    assert {got for _, got in calls} == {min(want, REAL_PROCESSORS)}, calls


@needs_zarr3
def test_an_integer_is_kept(scans, tmp_path, calls, monkeypatch):
    _fake_processors(monkeypatch, 8)
    with distributed_dask.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0") as cluster, \
            distributed_dask.Client(cluster) as client:
        _patches(scans, tmp_path / "three.zarr", client, num_threads=3)
        assert {asked for asked, _ in calls} == {3}
        calls.clear()
        _patches(scans, tmp_path / "zero.zarr", client, num_threads=0)
        assert {asked for asked, _ in calls} == {0}


def test_align_tasks_get_their_share_too(tmp_path, calls, monkeypatch):
    pytest.importorskip("pyarrow")
    from ptychopatch._dataset_cli import make_synthetic_scenes

    make_synthetic_scenes(str(tmp_path / "scenes"), scenes=3, frames=2, size=64)
    scenes = distributed.scenes_from_folders(str(tmp_path / "scenes"), gt="gt.npy",
                                             frames=["f*.npy"])
    _fake_processors(monkeypatch, 12)
    with distributed_dask.LocalCluster(n_workers=1, threads_per_worker=3, processes=False,
                                       dashboard_address=":0") as cluster, \
            distributed_dask.Client(cluster) as client:
        summary = distributed.align_dataset(scenes, str(tmp_path / "out"), client=client,
                                            cfa="RGGB", backend="cpu")
    assert (summary.computed, summary.failed) == (3, 0)
    assert calls and {asked for asked, _ in calls} == {4}, calls


def test_serial_runs_use_every_processor(scans, tmp_path, calls, monkeypatch):
    _fake_processors(monkeypatch, 5)
    if zarr is not None and int(zarr.__version__.split(".")[0]) >= 3:
        distributed.patches_dataset(scans, str(tmp_path / "out.zarr"), serial=True, K=6,
                                    seed=3, backend="cpu")
        assert {asked for asked, _ in calls} == {5}


def test_the_rule():
    assert _task_threads.task_threads(3) == 3 and _task_threads.task_threads(0) == 0
    # Outside a worker one task runs at a time.
    assert _task_threads.task_threads(None) == REAL_PROCESSORS
    assert _task_threads.task_threads(None, {"10.0.0.1": 64}) == REAL_PROCESSORS


def test_the_affinity_mask_is_what_counts(monkeypatch):
    _fake_processors(monkeypatch, 6)
    assert _task_threads.available_processors() == 6
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert _task_threads.available_processors() == 7


def test_threads_per_host_sums_the_workers_of_each_host():
    class Client:
        def scheduler_info(self):
            return {"workers": {
                "tcp://a:1": {"host": "a", "nthreads": 4},
                "tcp://a:2": {"host": "a", "nthreads": 2},
                "tcp://b:1": {"host": "b", "nthreads": 1}}}

    assert _task_threads.threads_per_host(Client()) == {"a": 6, "b": 1}


def test_a_worker_on_a_host_not_listed_counts_its_own_threads(monkeypatch):
    """A worker that joined after the call listed the hosts."""
    _fake_processors(monkeypatch, 8)
    with distributed_dask.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       dashboard_address=":0") as cluster, \
            distributed_dask.Client(cluster) as client:
        future = client.submit(_task_threads.task_threads, None, {"elsewhere": 8}, pure=False)
        assert future.result() == 4
        hosts = _task_threads.threads_per_host(client)
        assert list(hosts.values()) == [2]
        # Its host listed with more task threads (another worker there).
        host = next(iter(hosts))
        future = client.submit(_task_threads.task_threads, None, {host: 8}, pure=False)
        assert future.result() == 1
