"""ptychopatch.distributed and ``ptychopatch align-dataset`` on a LocalCluster
of 2 worker processes: the same rows as a serial run, a corrupt file, an
interrupted run resumed, a worker killed mid-run (issue 17).

Small synthetic scenes (64 x 64 Bayer uint16, even moves) keep the module
to seconds; no assertion depends on timing, so a busy 2-core machine only
makes it slower.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

distributed_dask = pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

import ptychopatch  # noqa: E402
from ptychopatch import cli, distributed  # noqa: E402

from test_cli import _env  # noqa: E402  (the subprocess environment)

#: scene -> moves of its frames (even: the RGGB mosaic stays intact).
MOVES = {f"scene{i}": [(2 * i, -2 * j) for j in range(3)] for i in range(6)}
#: Seconds differ between runs; everything else must not.
TIMING = ("seconds",)


def _frame_files(root, rng) -> None:
    for scene, moves in MOVES.items():
        folder = root / scene
        folder.mkdir(parents=True)
        gt = (rng.random((64, 64)) * 4000).astype(np.uint16)
        np.save(folder / "gt.npy", gt)
        for j, move in enumerate(moves):
            np.save(folder / f"f{j}.npy", np.roll(gt, move, axis=(0, 1)))


@pytest.fixture
def dataset(tmp_path):
    """6 good scenes, plus one with a corrupt frame, one with a corrupt GT
    frame and one without a GT frame."""
    root = tmp_path / "data"
    _frame_files(root, np.random.default_rng(5))
    bad_frame, bad_gt, no_gt = root / "bad_frame", root / "bad_gt", root / "no_gt"
    for folder in (bad_frame, bad_gt, no_gt):
        folder.mkdir()
    gt = (np.random.default_rng(1).random((64, 64)) * 4000).astype(np.uint16)
    np.save(bad_frame / "gt.npy", gt)
    np.save(bad_frame / "f0.npy", np.roll(gt, (2, 2), axis=(0, 1)))
    (bad_frame / "f1.npy").write_bytes(b"not an npy file")
    (bad_gt / "gt.npy").write_bytes(b"\x93NUMPY truncated")
    np.save(bad_gt / "f0.npy", gt)
    np.save(no_gt / "f0.npy", gt)
    return root


def _scenes(root):
    return distributed.scenes_from_folders(str(root), gt="gt.npy", frames=["*.npy"])


@pytest.fixture(scope="module")
def client():
    cluster = distributed_dask.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                            dashboard_address=":0")
    with cluster, distributed_dask.Client(cluster) as c:
        yield c


def _rows(output):
    table = distributed.read_alignments(str(output))
    return table.drop(list(TIMING)).to_pylist()


def _serial(root, output):
    distributed.align_dataset(_scenes(root), str(output), serial=True, cfa="RGGB")
    return _rows(output)


@pytest.mark.slow
def test_cluster_run_equals_serial_run(dataset, tmp_path, client):
    summary = distributed.align_dataset(_scenes(dataset), str(tmp_path / "dask"),
                                        client=client, cfa="RGGB")
    assert (summary.scenes, summary.computed, summary.skipped) == (9, 9, 0)
    rows = _rows(tmp_path / "dask")
    assert rows == _serial(dataset, tmp_path / "serial")
    # The good scenes' crops are the moves back (the rows are in scene order).
    for scene, moves in MOVES.items():
        crops = [(r["crop_dy"], r["crop_dx"]) for r in rows if r["scene"] == scene]
        assert crops == [(-dy, -dx) for dy, dx in moves], scene
        assert all(r["ok"] and r["backend"] in ("cpu", "gpu") for r in rows
                   if r["scene"] == scene)


def test_unreadable_files_get_status_rows_and_the_rest_completes(dataset, tmp_path, client):
    summary = distributed.align_dataset(_scenes(dataset), str(tmp_path / "out"), client=client,
                                        cfa="RGGB")
    rows = {(r["scene"], r["frame"]): r for r in _rows(tmp_path / "out")}
    assert rows[("bad_frame", "f0.npy")]["ok"]
    assert rows[("bad_frame", "f1.npy")]["status"] == cli.STATUS_UNREADABLE
    assert rows[("bad_gt", "f0.npy")]["status"] == "GT_UNREADABLE"
    assert "gt.npy" in rows[("bad_gt", "f0.npy")]["message"]
    assert rows[("no_gt", "f0.npy")]["status"] == "SCENE_INVALID"
    assert "no file matches the GT pattern" in rows[("no_gt", "f0.npy")]["message"]
    assert summary.failed == 3
    assert sum(r["ok"] for r in rows.values()) == 3 * len(MOVES) + 1


def test_an_interrupted_run_resumes_without_recomputing(dataset, tmp_path, client):
    output = tmp_path / "out"

    def stop_after_two(done, _total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distributed.align_dataset(_scenes(dataset), str(output), client=client, cfa="RGGB",
                                  progress=stop_after_two)
    assert len(list(output.glob("*.parquet"))) == 2
    assert not list(output.glob(".*.tmp"))  # no half-written file left
    # Scenes with a frame result are kept; a scene that failed as a whole
    # (bad_gt, no_gt: whichever finished first) runs again.
    statuses = {}
    for r in _rows(output):
        statuses.setdefault(r["scene"], set()).add(r["status"])
    kept = {s for s, found in statuses.items()
            if not found <= {"SCENE_INVALID", "GT_UNREADABLE", "SCENE_FAILED", "TASK_FAILED"}}
    first = {p.name: p.stat().st_mtime_ns for p in output.glob("*.parquet")
             if p.name[:-len(".parquet")] in kept}

    summary = distributed.align_dataset(_scenes(dataset), str(output), client=client,
                                        cfa="RGGB")
    assert (summary.computed, summary.skipped) == (9 - len(kept), len(kept))
    # The kept scenes of the first run were not written again.
    assert {p: (output / p).stat().st_mtime_ns for p in first} == first
    assert _rows(output) == _serial(dataset, tmp_path / "serial")


def test_resuming_with_other_options_is_refused(dataset, tmp_path):
    scenes = _scenes(dataset)[:1]
    distributed.align_dataset(scenes, str(tmp_path / "out"), serial=True, cfa="RGGB")
    with pytest.raises(ValueError, match="upsample_factor"):
        distributed.align_dataset(scenes, str(tmp_path / "out"), serial=True, cfa="RGGB",
                                  upsample_factor=20)


def test_verify_is_a_run_option(dataset, tmp_path):
    """verify=True reaches each scene's library call and is recorded: a
    resumed run must ask for it too; a run without it records nothing new."""
    scenes = [s for s in _scenes(dataset) if s.name.startswith("scene")][:2]
    out = str(tmp_path / "out")
    distributed.align_dataset(scenes, out, serial=True, cfa="RGGB", verify=True)
    rows = distributed.read_alignments(out).to_pylist()
    for scene in scenes:
        gt = np.load(scene.gt)
        names = [n for n, _ in scene.frames]
        checked = ptychopatch.align_scene(gt, [np.load(p) for _, p in scene.frames],
                                          cfa="RGGB", verify=True)
        mine = {r["frame"]: r for r in rows if r["scene"] == scene.name}
        for k, name in enumerate(names):
            assert mine[name]["confidence"] == checked.confidence[k]
    with pytest.raises(ValueError, match="verify"):
        distributed.align_dataset(scenes, out, serial=True, cfa="RGGB")
    assert "verify" not in distributed._run_options("RGGB", 10, "luma", False, "hann", None,
                                                    "auto", verify=False)
    assert distributed._run_options("RGGB", 10, "luma", False, "hann", None,
                                    "auto")["verify"] == "refine"


def _killing_reader(marker: str, victim: str, path: str):
    """Reads like the command line, but the first time it reads `victim`'s
    GT frame it ends its worker process (as a crash or an OOM kill would)."""
    if victim in path and path.endswith("gt.npy"):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass  # the second attempt, on a restarted worker: read normally
        else:
            os._exit(1)
    return cli.make_reader(np.array([[0, 1], [3, 2]], dtype=np.int32))(path)


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_gives_every_scene_once(dataset, tmp_path):
    import cloudpickle

    # The workers cannot import this test module: send the reader by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        marker = tmp_path / "killed"
        reader = functools.partial(_killing_reader, str(marker), os.sep + "scene3" + os.sep)
        cluster = distributed_dask.LocalCluster(n_workers=2, threads_per_worker=1,
                                                processes=True, dashboard_address=":0")
        with cluster, distributed_dask.Client(cluster) as c:
            summary = distributed.align_dataset(_scenes(dataset), str(tmp_path / "out"),
                                                client=c, cfa="RGGB", reader=reader)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker did die
    assert (summary.computed, summary.skipped) == (9, 0)
    rows = _rows(tmp_path / "out")
    keys = [(r["scene"], r["frame"]) for r in rows]
    assert len(keys) == len(set(keys))  # every frame once
    assert rows == _serial(dataset, tmp_path / "serial")


def test_a_manifest_gives_the_same_rows_as_the_folders(dataset, tmp_path):
    scenes = [s for s in _scenes(dataset) if s.name.startswith("scene")][:3]
    manifest = tmp_path / "dataset.csv"
    lines = ["scene,gt,frame"] + [
        f"{s.name},{os.path.relpath(s.gt, tmp_path)},{os.path.relpath(p, tmp_path)}"
        for s in scenes for _, p in s.frames]
    manifest.write_text("\n".join(lines) + "\n")
    as_json = tmp_path / "dataset.json"
    as_json.write_text(json.dumps([{"scene": s.name, "gt": os.path.relpath(s.gt, tmp_path),
                                    "frames": [os.path.relpath(p, tmp_path)
                                               for _, p in s.frames]} for s in scenes]))
    for path in (manifest, as_json):
        listed = distributed.scenes_from_manifest(str(path))
        assert [(s.name, s.gt, [p for _, p in s.frames]) for s in listed] == \
            [(s.name, s.gt, [p for _, p in s.frames]) for s in scenes]


@pytest.mark.slow
def test_the_command_resumes_and_reports(dataset, tmp_path, capsys):
    output = str(tmp_path / "out")
    argv = ["align-dataset", str(dataset), "--gt", "gt.npy", "--frames", "*.npy",
            "--cfa", "RGGB", "-o", output]
    assert cli.main(argv + ["--workers", "2"]) == cli.EXIT_FAILURE  # 3 bad rows
    out = capsys.readouterr().out
    assert "9 scenes: 9 aligned, 0 already in" in out and "3 failed" in out
    # bad_gt and no_gt got no frame result: they run again (and fail again);
    # bad_frame, with one frame aligned, is kept.
    assert cli.main(argv + ["--serial"]) == cli.EXIT_FAILURE
    assert "9 scenes: 2 aligned, 7 already in" in capsys.readouterr().out
    assert _rows(output) == _serial(dataset, tmp_path / "serial")


def test_usage_errors(capsys, tmp_path):
    assert cli.main(["align-dataset", "-o", str(tmp_path)]) == cli.EXIT_USAGE
    assert "ROOT and --gt" in capsys.readouterr().err


def test_without_dask_the_package_imports_and_names_the_extra(tmp_path):
    code = """
import sys
for name in ("dask", "distributed", "pyarrow", "zarr"):
    sys.modules[name] = None  # as if not installed
import ptychopatch
from ptychopatch import cli, distributed
assert cli.main(["--help"]) == 0
try:
    distributed.align_dataset([], "out")
except ImportError as err:
    print(err)
"""
    run = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "pip install 'ptychopatch[distributed]'" in run.stdout
    assert not (tmp_path / "out").exists()  # refused before any work


# ======================================================= patches-dataset

try:
    import zarr
except ImportError:
    zarr = None
#: patches-dataset writes with zarr 3's API (Python 3.11+).
needs_zarr3 = pytest.mark.skipif(zarr is None or int(zarr.__version__.split(".")[0]) < 3,
                                 reason="patches-dataset needs zarr >= 3")

#: Grouping options of the patches-dataset tests (N from each probeGuess: 16).
GROUPING = {"K": 6, "gridsize": 2, "seed": 3}
CHUNK = 16


@pytest.fixture
def scans(tmp_path):
    """Three small PtychoPINN files (100 positions, N = 16; one with a real
    object), a corrupt one and one without xcoords."""
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(3):
        cli.make_synthetic(str(folder / f"scan{i}.npz"), size=96, N=16, seed=i)
    with np.load(folder / "scan2.npz") as d:
        arrays = dict(d)
    np.savez(folder / "scan2.npz", **dict(arrays, objectGuess=np.abs(arrays["objectGuess"])))
    (folder / "corrupt.npz").write_bytes(b"PK\x03\x04 truncated zip")
    np.savez(folder / "no_x.npz", objectGuess=arrays["objectGuess"], ycoords=arrays["ycoords"])
    return sorted(str(p) for p in folder.glob("*.npz"))


def _store(path):
    """{group: ({array: values}, attributes)} of the complete groups."""
    root = zarr.open_group(str(path), mode="r")
    return {name: ({key: array[...] for key, array in group.arrays()}, dict(group.attrs))
            for name, group in root.groups()}


def _same_store(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name][1] == b[name][1], name
        assert a[name][0].keys() == b[name][0].keys(), name
        for key in a[name][0]:
            np.testing.assert_array_equal(a[name][0][key], b[name][0][key], err_msg=name + key)


def _serial_store(scans, output):
    distributed.patches_dataset(scans, str(output), serial=True, chunk_groups=CHUNK, **GROUPING)
    return _store(output)


@pytest.mark.slow
@needs_zarr3
def test_patches_cluster_run_equals_serial_run_and_grouped_patches(scans, tmp_path, client):
    summary = distributed.patches_dataset(scans, str(tmp_path / "dask.zarr"), client=client,
                                          chunk_groups=CHUNK, **GROUPING)
    assert (summary.inputs, summary.computed, summary.skipped, summary.failed) == (5, 3, 0, 2)
    assert summary.groups == 300
    got = _store(tmp_path / "dask.zarr")
    assert sorted(got) == ["scan0", "scan1", "scan2"]
    _same_store(got, _serial_store(scans, tmp_path / "serial.zarr"))
    # The oracle: grouped_patches on each file, with the same arguments.
    import ptychopatch

    for name, (arrays, attrs) in got.items():
        d = cli.load_dataset(str(tmp_path / "scans" / f"{name}.npz"))
        want = ptychopatch.grouped_patches(d["objectGuess"], d["xcoords"], d["ycoords"], 16,
                                           100, backend="cpu", diffraction=d["diff3d"],
                                           xcoords_start=d["xcoords_start"],
                                           ycoords_start=d["ycoords_start"], **GROUPING)
        assert arrays.keys() == want.keys()
        for key in want:
            assert arrays[key].dtype == want[key].dtype, (name, key)
            np.testing.assert_array_equal(arrays[key], want[key], err_msg=f"{name} {key}")
        assert attrs["complete"] is True and attrs["seed"] == 3 and attrs["N"] == 16
    assert got["scan2"][0]["Y"].dtype == np.float32  # a real object's patches


@needs_zarr3
def test_patches_store_is_chunked_and_compressed_as_documented(scans, tmp_path):
    output = tmp_path / "out.zarr"
    distributed.patches_dataset(scans[2:4], str(output), serial=True, chunk_groups=CHUNK,
                                **GROUPING)
    group = zarr.open_group(str(output), mode="r")["scan0"]
    shapes = {key: (array.shape, array.chunks) for key, array in group.arrays()}
    assert shapes == {"Y": ((100, 16, 16, 4), (CHUNK, 16, 16, 4)),
                      "nn_indices": ((100, 4), (CHUNK, 4)),
                      "coords_nn": ((100, 1, 2, 4), (CHUNK, 1, 2, 4)),
                      "coords_offsets": ((100, 1, 2, 1), (CHUNK, 1, 2, 1)),
                      "coords_relative": ((100, 1, 2, 4), (CHUNK, 1, 2, 4)),
                      "diffraction": ((100, 16, 16, 4), (CHUNK, 16, 16, 4)),
                      "X_full": ((100, 16, 16, 4), (CHUNK, 16, 16, 4)),
                      "coords_start_nn": ((100, 1, 2, 4), (CHUNK, 1, 2, 4)),
                      "coords_start_offsets": ((100, 1, 2, 1), (CHUNK, 1, 2, 1)),
                      "coords_start_relative": ((100, 1, 2, 4), (CHUNK, 1, 2, 4))}
    assert all(array.compressors for _, array in group.arrays())
    # One file per chunk along the group axis: ceil(100 / 16) = 7.
    assert len([p for p in (output / "scan0" / "Y").rglob("*") if p.is_file()
                and p.name != "zarr.json"]) == 7


@needs_zarr3
def test_patches_are_cut_one_chunk_at_a_time(scans, tmp_path, monkeypatch):
    import ptychopatch

    cut = []
    extract = ptychopatch.extract_patches

    def counting(obj, offsets, *args, **kwargs):
        cut.append(offsets.shape[0])
        return extract(obj, offsets, *args, **kwargs)

    monkeypatch.setattr(ptychopatch, "extract_patches", counting)
    distributed.patches_dataset(scans[2:3], str(tmp_path / "out.zarr"), serial=True,
                                chunk_groups=CHUNK, **GROUPING)
    assert cut == [CHUNK] * 6 + [4]  # never more than one chunk of groups in memory


@needs_zarr3
def test_patches_corrupt_inputs_are_recorded_and_the_rest_completes(scans, tmp_path, client):
    output = str(tmp_path / "out.zarr")
    summary = distributed.patches_dataset(scans, output, client=client, chunk_groups=CHUNK,
                                          **GROUPING)
    status = distributed.patches_status(output)
    assert {name: r["status"] for name, r in status.items()} == {
        "corrupt": "UNREADABLE", "no_x": "UNREADABLE", "scan0": "PTP_SUCCESS",
        "scan1": "PTP_SUCCESS", "scan2": "PTP_SUCCESS"}
    assert "xcoords" in status["no_x"]["message"]
    assert "not a readable .npz" in status["corrupt"]["message"]
    assert summary.failed == 2
    assert sorted(zarr.open_group(output, mode="r").group_keys()) == ["scan0", "scan1", "scan2"]


def _chunk_times(output, names):
    return {str(p): p.stat().st_mtime_ns for name in names
            for p in (output / name).rglob("*") if p.is_file()}


@pytest.mark.slow
@needs_zarr3
def test_patches_interrupted_run_resumes_without_rewriting(scans, tmp_path, client):
    output = tmp_path / "out.zarr"
    good = [p for p in scans if os.path.basename(p).startswith("scan")]

    def stop_after_two(done, _total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        distributed.patches_dataset(good, str(output), client=client, chunk_groups=CHUNK,
                                    progress=stop_after_two, **GROUPING)
    first = sorted(distributed.patches_status(str(output)))
    assert len(first) == 2
    before = _chunk_times(output, first)

    summary = distributed.patches_dataset(good, str(output), client=client,
                                          chunk_groups=CHUNK, **GROUPING)
    # The third input's task may have been running when the first run
    # stopped: it then finished its group, which counts as done.
    assert summary.skipped >= 2 and summary.computed == 3 - summary.skipped
    assert _chunk_times(output, first) == before  # complete inputs not rewritten
    assert {r["status"] for r in distributed.patches_status(str(output)).values()} == \
        {"PTP_SUCCESS"}
    want = _serial_store(good, tmp_path / "serial.zarr")
    _same_store(_store(output), want)

    # A group whose write was cut short (no marker) is written again.
    group = zarr.open_group(str(output / "scan1"), mode="r+")
    del group.attrs["complete"]
    group["Y"][:CHUNK] = 0
    summary = distributed.patches_dataset(good, str(output), serial=True, chunk_groups=CHUNK,
                                          **GROUPING)
    assert (summary.computed, summary.skipped) == (1, 2)
    _same_store(_store(output), want)

    with pytest.raises(ValueError, match="chunk_groups"):
        distributed.patches_dataset(good, str(output), serial=True, **GROUPING)


@pytest.mark.slow
@needs_zarr3
def test_patches_two_tasks_writing_one_group_leave_it_whole(scans, tmp_path):
    """What a resumed run meets when a task of the interrupted one is still
    running (or Dask reran a task): two writers of one group at once."""
    from concurrent.futures import ThreadPoolExecutor

    from ptychopatch import _patches_task, _zarr_store

    output = tmp_path / "out.zarr"
    scan0 = [p for p in scans if p.endswith("scan0.npz")]
    # No seed: each file's is derived from the store's, the same for both.
    distributed.patches_dataset(scan0, str(output), serial=True, chunk_groups=CHUNK, K=6)
    first = _store(output)
    run = dict(zarr.open_group(str(output), mode="r").attrs[_zarr_store.RUN_KEY])
    options = dict(run, backend="cpu", num_threads=1)
    item = _patches_task.PatchesInput("scan0", scan0[0])
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            records = list(pool.map(
                lambda _: _patches_task.patches_to_zarr(item, str(output), options), range(2)))
        assert [r["status"] for r in records] == ["PTP_SUCCESS"] * 2, records
        _same_store(_store(output), first)


@pytest.mark.slow
@needs_zarr3
def test_the_patches_command_writes_resumes_and_reports(scans, tmp_path, capsys):
    output = str(tmp_path / "out.zarr")
    argv = ["patches-dataset", *scans, "--output", output, "--K", "6", "--seed", "3",
            "--chunk-groups", str(CHUNK)]
    assert cli.main(argv + ["--workers", "2"]) == cli.EXIT_FAILURE  # 2 bad files
    captured = capsys.readouterr()
    assert "5 files: 3 written, 0 already in" in captured.out and "2 failed" in captured.out
    assert "corrupt: UNREADABLE" in captured.err
    good = [p for p in scans if os.path.basename(p).startswith("scan")]
    assert cli.main(["patches-dataset", *good, "-o", output, "--K", "6", "--seed", "3",
                     "--chunk-groups", str(CHUNK), "--serial"]) == cli.EXIT_OK
    assert "3 files: 0 written, 3 already in" in capsys.readouterr().out
    _same_store(_store(output), _serial_store(good, tmp_path / "serial.zarr"))
    assert cli.main(["patches-dataset", "--output", output]) == cli.EXIT_USAGE
    assert "INPUT files and --output" in capsys.readouterr().err


@needs_zarr3
def test_the_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(distributed, verbose=False, report=True)[:2]
    assert tried > 10 and failures == 0


def test_planning_reaches_every_library_call_and_keeps_the_results(dataset, tmp_path,
                                                                    monkeypatch):
    """``planning`` (``--planning``) goes to each align_scene call; measured
    plans give the same crops, and confidences within FFT rounding."""
    from ptychopatch import _frames  # align_files' module: where align_scene is called

    seen = []
    real = _frames.align_scene

    def recording(*args, **kwargs):
        seen.append(kwargs.get("planning"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_frames, "align_scene", recording)
    distributed.align_dataset(_scenes(dataset), str(tmp_path / "measure"), serial=True,
                              cfa="RGGB", planning="measure")
    assert seen and set(seen) == {"measure"}
    measured, default = _rows(tmp_path / "measure"), _serial(dataset, tmp_path / "serial")
    assert set(seen) == {"measure", "auto"}  # the default run's calls came after
    strip = ("confidence",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in measured] == \
        [{k: v for k, v in r.items() if k not in strip} for r in default]
    for a, b in zip(measured, default):
        assert (a["confidence"] is None) == (b["confidence"] is None)
        if a["confidence"] is not None:
            assert abs(a["confidence"] - b["confidence"]) < 1e-6  # float32 FFT rounding
    with pytest.raises(ValueError, match="planning must be"):
        distributed.align_dataset(_scenes(dataset), str(tmp_path / "bad"), serial=True,
                                  cfa="RGGB", planning="fast")


def test_cli_planning_option(dataset, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "ptychopatch", "align-dataset", str(dataset),
                          "--gt", "gt.npy", "--frames", "*.npy", "-o", str(out), "--cfa",
                          "RGGB", "--serial", "--planning", "estimate", "--no-progress"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # the dataset's three bad scenes
    crops = {(r["scene"], r["frame"]): (r["crop_dy"], r["crop_dx"]) for r in _rows(out)}
    for scene, moves in MOVES.items():
        assert [crops[(scene, f"f{j}.npy")] for j in range(3)] == [(-dy, -dx) for dy, dx in moves]
