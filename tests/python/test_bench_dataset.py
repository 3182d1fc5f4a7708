"""``ptychopatch bench``'s dataset curves: scenes per second of
align_dataset against Dask workers (full set only), with its cold-cache
run and the storage's read bandwidth beside it, and groups per second of
patches_dataset (quick and full sets); each checked against its serial
path, skipped with a note without Dask. Structure only: speed is never
asserted.
"""

import math
import os
import sys
import tempfile

import pytest

from ptychopatch import distributed
from ptychopatch._bench import dataset, pagecache, runner, suite


def _positive(value):
    return value is not None and math.isfinite(value) and value > 0


def _record_backends(monkeypatch, name):
    """distributed.`name`, still run, with the backend of each call recorded."""
    original, backends = getattr(distributed, name), []

    def recorded(*args, **kwargs):
        backends.append(kwargs.get("backend", "auto (not given)"))
        return original(*args, **kwargs)

    monkeypatch.setattr(distributed, name, recorded)
    return backends


def test_the_dataset_curve_is_in_the_full_set_only():
    assert suite.cases(quick=True, threads=0, only=["dataset"]) == []
    full = suite.cases(quick=False, threads=0, only=["dataset"])
    assert [c.id for c in full] == [f"dataset/workers={n}" for n in suite.thread_counts()]
    assert full[0].unit == "scenes" and full[0].items == dataset.SCENES


@pytest.mark.slow
def test_align_dataset_on_a_warm_cluster_agrees_with_serial(monkeypatch):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    monkeypatch.setattr(dataset, "SCENES", 3)
    monkeypatch.setattr(dataset, "FRAMES", 2)
    monkeypatch.setattr(dataset, "SIDE", 64)
    backends = _record_backends(monkeypatch, "align_dataset")
    case = suite._dataset_case(1, False, 0, 0)
    doc = runner.run_case(case, repeat=1, budget_s=0.0, memory_budget=None)
    assert doc["status"] == "ok", doc.get("traceback")
    ours, cold, serial, read = doc["results"]
    # CPU worker scaling: every run on the CPU backend, never "auto" (a GPU,
    # or the emulated device, where one is usable), and the case says so.
    assert backends and set(backends) == {"cpu"}
    assert case.params["backend"] == "cpu" and 'backend="cpu"' in ours["note"]
    assert ours["status"] == "ok" and ours["items"] == 3 and _positive(ours["items_per_s"])
    assert serial["status"] == "ok" and serial["agreement"]["ok"], serial
    assert _positive(serial["ratio_to_ours"])
    if pagecache.available():
        pytest.skip(pagecache.available())
    # The cold run gives the same crops; the read of the inputs is a limit
    # with a rate in bytes/s (the storage's bandwidth), and the cold run's
    # note says what the eviction did.
    assert cold["kind"] == "peer" and cold["status"] == "ok" and cold["agreement"]["ok"]
    assert "of the inputs before eviction" in cold["note"]
    assert read["kind"] == "limit" and read["status"] == "ok"
    assert _positive(read["bytes_per_s"]) and _positive(cold["bytes_per_s"])


def test_eviction_empties_the_page_cache_of_a_file(tmp_path):
    if pagecache.available():
        pytest.skip(pagecache.available())
    path = tmp_path / "f.bin"
    path.write_bytes(b"\1" * (4 << 20))
    assert pagecache.read_files([str(path)]) == 4 << 20
    pagecache.flush([str(path)])
    pagecache.evict([str(path)])
    fraction = pagecache.resident_fraction([str(path)])
    if fraction is None:
        pytest.skip("mincore is not available here")
    # tmpfs keeps its pages (they are the file): only a disk-backed file drops them.
    if _file_system(str(tmp_path)) in ("tmpfs", "ramfs"):
        pytest.skip("tmp_path is on tmpfs")
    assert fraction < 0.5


def _file_system(path):
    """The type of the file system `path` is on (longest mount point)."""
    best, kind = "", ""
    with open("/proc/mounts") as f:
        for line in f:
            point, fstype = line.split()[1:3]
            if (path + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best):
                best, kind = point, fstype
    return kind


def test_the_patches_dataset_curve_is_in_both_sets():
    quick = suite.cases(quick=True, threads=0, only=["patches-dataset"])
    full = suite.cases(quick=False, threads=0, only=["patches-dataset/workers"])
    expected = [f"patches-dataset/workers={n}" for n in suite.thread_counts()]
    assert [c.id for c in quick] == expected and [c.id for c in full] == expected
    size = dataset.patches_sizes(True)
    assert quick[0].unit == "groups" and quick[0].items == size["FILES"] * size["GROUPS"]
    assert quick[0].output_bytes == quick[0].items * 4 * size["N"] ** 2 * 8
    # --only dataset picks the align curve alone, not this one.
    assert all(c.group == "dataset" for c in suite.cases(False, 0, only=["dataset"]))


@pytest.mark.slow
def test_patches_dataset_quick_point_agrees_with_serial(monkeypatch):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    pytest.importorskip("zarr", reason="zarr is not installed")
    monkeypatch.setattr(dataset, "QUICK", dict(FILES=2, OBJECT=64, GROUPS=20, N=8))
    backends = _record_backends(monkeypatch, "patches_dataset")
    case = suite._patches_dataset_case(1, True, 0, 0)
    doc = runner.run_case(case, repeat=1, budget_s=0.0, memory_budget=None)
    assert doc["status"] == "ok", doc.get("traceback")
    ours, serial = doc["results"]
    assert backends and set(backends) == {"cpu"}
    assert case.params["backend"] == "cpu" and 'backend="cpu"' in serial["note"]
    assert ours["status"] == "ok" and ours["items"] == 40
    assert _positive(ours["items_per_s"]) and _positive(ours["bytes_per_s"])
    assert serial["name"] == "patches_dataset serial (no Dask)"
    assert serial["status"] == "ok" and serial["agreement"]["ok"], serial
    assert _positive(serial["items_per_s"]) and _positive(serial["ratio_to_ours"])


@pytest.mark.parametrize("make", [suite._dataset_case, suite._patches_dataset_case])
def test_without_dask_the_curve_is_skipped_with_a_note(monkeypatch, make):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    doc = runner.run_case(make(2, False, 0, 0), repeat=1, budget_s=0.0, memory_budget=None)
    assert doc["status"] == "ok"
    assert [r["status"] for r in doc["results"]] == ["skipped", "skipped"]
    assert doc["results"][0]["note"] == \
        "dask[distributed] not installed (pip install dask[distributed])"


def test_an_align_run_with_failed_rows_raises_instead_of_being_timed(tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    from ptychopatch._dataset_cli import make_synthetic_scenes

    make_synthetic_scenes(str(tmp_path / "scenes"), 2, 2, 64, 0)
    scenes = distributed.scenes_from_folders(str(tmp_path / "scenes"), gt="gt.npy",
                                             frames=["f*.npy"])
    run, clear = dataset._runner(str(tmp_path), scenes, serial=True)
    good = run()
    # Status and ok are part of what the paths must agree on.
    assert [row[2:4] for row in good] == [("PTP_SUCCESS", True)] * 4
    # A run leaves its output for the next run's prepare to remove, untimed.
    run()
    assert len([n for n in os.listdir(tmp_path) if n.startswith("out-")]) == 2
    clear()
    assert sorted(os.listdir(tmp_path)) == ["scenes"]
    (tmp_path / "scenes" / scenes[1].name / "f1.npy").write_bytes(b"not an array")
    with pytest.raises(RuntimeError, match=r"computed 2 of 2 scenes \(0 skipped\), 1 of 4 "
                                           r"rows failed: f1.npy: "):
        run()
    clear()  # the runs' output folders are removed by the next run's prepare
    assert sorted(os.listdir(tmp_path)) == ["scenes"]


def test_a_patches_run_with_a_failed_input_raises_instead_of_being_timed(tmp_path):
    pytest.importorskip("zarr", reason="zarr is not installed")
    paths = dataset.write_scans(str(tmp_path / "scans"), 2, 64, 10, 8, 0)
    run, clear = dataset._patches_runner(str(tmp_path), paths, serial=True)
    assert [row[1] for row in run()] == ["PTP_SUCCESS"] * 2
    with open(paths[0], "wb") as f:
        f.write(b"not an npz")
    with pytest.raises(RuntimeError, match=r"wrote 1 of 2 inputs \(0 skipped\), 1 failed: "
                                           r"scan000: "):
        run()
    clear()
    assert sorted(os.listdir(tmp_path)) == ["scans"]


def _tracked_roots(monkeypatch):
    made, mkdtemp = [], tempfile.mkdtemp

    def tracked(*args, **kwargs):
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(dataset.tempfile, "mkdtemp", tracked)
    return made


@pytest.mark.parametrize("where", ["data", "cluster", "after the cluster"])
def test_entries_that_fail_remove_their_folder_and_close_their_cluster(monkeypatch, where):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    pytest.importorskip("zarr", reason="zarr is not installed")
    from ptychopatch import _dataset_cli

    monkeypatch.setattr(dataset, "SCENES", 1)
    monkeypatch.setattr(dataset, "FRAMES", 1)
    monkeypatch.setattr(dataset, "SIDE", 32)
    monkeypatch.setattr(dataset, "QUICK", dict(FILES=1, OBJECT=32, GROUPS=4, N=8))
    closed = []

    def broken(*args, **kwargs):
        raise OSError("disk full")

    def cluster(workers, root):  # no real cluster: its close is recorded
        return object(), lambda: closed.append(root)

    if where == "data":
        monkeypatch.setattr(_dataset_cli, "make_synthetic_scenes", broken)
        monkeypatch.setattr(dataset, "write_scans", broken)
    elif where == "cluster":
        monkeypatch.setattr(dataset, "_warm_cluster", broken)
    else:
        monkeypatch.setattr(dataset, "_warm_cluster", cluster)
        monkeypatch.setattr(dataset, "_cold_entries", broken)
        monkeypatch.setattr(dataset, "Impl", broken)
    for make in (lambda: dataset.entries(1, 0), lambda: dataset.patches_entries(1, True, 0)):
        made = _tracked_roots(monkeypatch)
        with pytest.raises(OSError, match="disk full"):
            make()
        assert len(made) == 1 and not os.path.exists(made[0])
        assert closed == (made if where == "after the cluster" else [])
        closed.clear()
