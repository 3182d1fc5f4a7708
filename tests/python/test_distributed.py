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
    first = {p.name: p.stat().st_mtime_ns for p in output.glob("*.parquet")}
    assert len(first) == 2
    assert not list(output.glob(".*.tmp"))  # no half-written file left

    summary = distributed.align_dataset(_scenes(dataset), str(output), client=client,
                                        cfa="RGGB")
    assert (summary.computed, summary.skipped) == (7, 2)
    # The two scenes of the first run were not written again.
    assert {p: (output / p).stat().st_mtime_ns for p in first} == first
    assert _rows(output) == _serial(dataset, tmp_path / "serial")


def test_resuming_with_other_options_is_refused(dataset, tmp_path):
    scenes = _scenes(dataset)[:1]
    distributed.align_dataset(scenes, str(tmp_path / "out"), serial=True, cfa="RGGB")
    with pytest.raises(ValueError, match="upsample_factor"):
        distributed.align_dataset(scenes, str(tmp_path / "out"), serial=True, cfa="RGGB",
                                  upsample_factor=20)


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


def test_the_command_resumes_and_reports(dataset, tmp_path, capsys):
    output = str(tmp_path / "out")
    argv = ["align-dataset", str(dataset), "--gt", "gt.npy", "--frames", "*.npy",
            "--cfa", "RGGB", "-o", output]
    assert cli.main(argv + ["--workers", "2"]) == cli.EXIT_FAILURE  # 3 bad rows
    out = capsys.readouterr().out
    assert "9 scenes: 9 aligned, 0 already in" in out and "3 failed" in out
    assert cli.main(argv + ["--serial"]) == cli.EXIT_OK  # nothing left to do
    assert "9 scenes: 0 aligned, 9 already in" in capsys.readouterr().out
    assert _rows(output) == _serial(dataset, tmp_path / "serial")


def test_usage_errors(capsys, tmp_path):
    assert cli.main(["align-dataset", "-o", str(tmp_path)]) == cli.EXIT_USAGE
    assert "ROOT and --gt" in capsys.readouterr().err


def test_without_dask_the_package_imports_and_names_the_extra(tmp_path):
    code = """
import sys
for name in ("dask", "distributed", "pyarrow"):
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
