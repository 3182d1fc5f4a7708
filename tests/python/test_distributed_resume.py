"""Datasets as users lay them out, and resuming into an output that exists
(issue 17): letters in either case, hidden folders, spreadsheet manifests,
scene names a Parquet reader would skip, scenes that failed as a whole
running again, outputs made from other files, and the options a resumed
run may change. Serial runs: what is checked is the bookkeeping, which
is the same on a cluster (test_distributed.py runs it there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("pyarrow")
import pyarrow.dataset  # noqa: E402

from ptychopatch import cli, distributed  # noqa: E402
from ptychopatch import _zarr_store  # noqa: E402

from test_cli import _env  # noqa: E402

MOVE = (2, -4)  # even: the RGGB mosaic stays intact


def _scene(folder, seed, frames=("f0.npy",), gt="gt.npy"):
    folder.mkdir(parents=True)
    image = (np.random.default_rng(seed).random((64, 64)) * 4000).astype(np.uint16)
    if gt:
        np.save(folder / gt, image)
    for name in frames:
        with open(folder / name, "wb") as f:
            np.save(f, np.roll(image, MOVE, axis=(0, 1)))


def _align(root, output, **options):
    scenes = distributed.scenes_from_folders(str(root), gt="gt.npy", frames=["*.npy"])
    return distributed.align_dataset(scenes, str(output), serial=True, cfa="RGGB", **options)


def _rows(output):
    return distributed.read_alignments(str(output)).to_pylist()


def test_globs_match_letters_in_either_case(tmp_path):
    """Cameras write .ARW as often as .arw: '*.npy' finds F1.NPY."""
    _scene(tmp_path / "s", 1, frames=("F1.NPY", "f2.npy"))
    scene, = distributed.scenes_from_folders(str(tmp_path), gt="gt.npy", frames=["*.npy"])
    assert [name for name, _ in scene.frames] == ["F1.NPY", "f2.npy"] and not scene.problem


def test_hidden_folders_are_not_scenes(tmp_path):
    _scene(tmp_path / "s", 1)
    _scene(tmp_path / ".ipynb_checkpoints", 2)
    assert [s.name for s in distributed.scenes_from_folders(str(tmp_path), gt="gt.npy",
                                                            frames=["*.npy"])] == ["s"]


def test_manifests_from_spreadsheets_and_null_gt(tmp_path):
    _scene(tmp_path / "a", 1)
    csv_path = tmp_path / "m.csv"
    # A spreadsheet's "CSV UTF-8" starts with a byte-order mark.
    csv_path.write_bytes("scene,gt,frame\na,a/gt.npy,a/f0.npy\n".encode("utf-8-sig"))
    scene, = distributed.scenes_from_manifest(str(csv_path))
    assert (scene.name, scene.problem) == ("a", "")
    json_path = tmp_path / "m.json"
    json_path.write_text(json.dumps([{"scene": "a", "gt": None, "frames": ["a/f0.npy"]}]))
    scene, = distributed.scenes_from_manifest(str(json_path))
    assert (scene.gt, scene.problem) == (None, "no GT frame given")
    empty = tmp_path / "e.csv"
    empty.write_text("scene,gt,frame\na,a/gt.npy,a/f0.npy\n,,a/f0.npy\n")
    with pytest.raises(ValueError, match="empty scene name"):
        distributed.scenes_from_manifest(str(empty))


@pytest.mark.parametrize("name", [".x", "_ref", "a b/c", "%2E"])
def test_scene_names_parquet_readers_skip_are_kept(tmp_path, name):
    """A part file named '.x.parquet' or '_ref.parquet' is skipped by
    pyarrow, pandas and Dask (and by the resume): its name is quoted."""
    folder = tmp_path / "out"
    gt = (np.random.default_rng(0).random((64, 64)) * 4000).astype(np.uint16)
    np.save(tmp_path / "gt.npy", gt)
    np.save(tmp_path / "f0.npy", np.roll(gt, MOVE, axis=(0, 1)))
    scene = distributed.Scene(name, str(tmp_path / "gt.npy"), (("f0.npy", str(tmp_path / "f0.npy")),))
    assert distributed.align_dataset([scene], str(folder), serial=True, cfa="RGGB").computed == 1
    assert [r["scene"] for r in _rows(folder)] == [name]
    assert pyarrow.dataset.dataset(str(folder), format="parquet").to_table() \
        .column("scene").to_pylist() == [name]
    again = distributed.align_dataset([scene], str(folder), serial=True, cfa="RGGB")
    assert (again.computed, again.skipped) == (0, 1)


def test_scenes_that_failed_as_a_whole_run_again(tmp_path):
    """A scene without its GT frame is recorded SCENE_INVALID; once the file
    is there, the resumed run aligns it (and only it)."""
    _scene(tmp_path / "data" / "good", 1)
    _scene(tmp_path / "data" / "late", 2, gt=None)
    out = tmp_path / "out"
    first = _align(tmp_path / "data", out)
    assert (first.computed, first.failed) == (2, 1)
    assert {r["scene"]: r["status"] for r in _rows(out)}["late"] == "SCENE_INVALID"
    image = (np.random.default_rng(2).random((64, 64)) * 4000).astype(np.uint16)
    np.save(tmp_path / "data" / "late" / "gt.npy", image)
    second = _align(tmp_path / "data", out)
    assert (second.computed, second.skipped, second.failed) == (1, 1, 0)
    rows = {r["scene"]: r for r in _rows(out)}
    assert rows["late"]["ok"] and (rows["late"]["crop_dy"], rows["late"]["crop_dx"]) == \
        (-MOVE[0], -MOVE[1])
    # A scene with a frame result is kept, even with another frame failed.
    assert _align(tmp_path / "data", out).skipped == 2


def test_a_scene_made_from_other_files_is_named(tmp_path):
    _scene(tmp_path / "day1" / "s", 1)
    _scene(tmp_path / "day2" / "s", 2)
    out = tmp_path / "out"
    _align(tmp_path / "day1", out)
    with pytest.warns(RuntimeWarning, match=r"1 scene\(s\) already in .* other files.*day1"):
        assert _align(tmp_path / "day2", out).skipped == 1
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _align(tmp_path / "day1", out)  # the same files: nothing to say
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]


def test_threads_and_planning_may_change_on_resume(tmp_path):
    _scene(tmp_path / "data" / "s", 1)
    out = tmp_path / "out"
    _align(tmp_path / "data", out, num_threads=1)
    assert _align(tmp_path / "data", out, num_threads=2, planning="estimate").skipped == 1
    with pytest.raises(ValueError, match="upsample_factor"):
        _align(tmp_path / "data", out, upsample_factor=4)


def test_make_synthetic_with_an_output_aligns_it(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ptychopatch", "align-dataset",
                          "--make-synthetic", str(tmp_path / "demo"), "-o", str(tmp_path / "out"),
                          "--serial", "--no-progress"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = _rows(tmp_path / "out")
    assert len(rows) == 8 * 4 and all(r["ok"] for r in rows)


try:
    import zarr
except ImportError:
    zarr = None


@pytest.mark.skipif(zarr is None or int(zarr.__version__.split(".")[0]) < 3,
                    reason="patches-dataset needs zarr >= 3")
def test_patches_resume_names_other_files_and_corrects_stale_records(tmp_path):
    for day, seed in (("day1", 0), ("day2", 1)):
        os.makedirs(tmp_path / day)
        cli.make_synthetic(str(tmp_path / day / "scan0.npz"), seed=seed)
    store = str(tmp_path / "p.zarr")
    distributed.patches_dataset([str(tmp_path / "day1" / "scan0.npz")], store, serial=True,
                                seed=0, chunk_groups=64)
    with pytest.warns(RuntimeWarning, match=r"1 input\(s\) already in .*day1"):
        summary = distributed.patches_dataset([str(tmp_path / "day2" / "scan0.npz")], store,
                                              serial=True, seed=0, chunk_groups=64)
    assert (summary.computed, summary.skipped) == (0, 1)
    # A group finished after its task was recorded lost (a task of an
    # interrupted run on a persistent cluster): the next run corrects it.
    root = zarr.open_group(store, mode="r+")
    _zarr_store.record(root, {"scan0": {"status": "TASK_FAILED", "message": "KilledWorker"}})
    distributed.patches_dataset([str(tmp_path / "day1" / "scan0.npz")], store, serial=True,
                                seed=0, chunk_groups=64)
    assert distributed.patches_status(store)["scan0"]["status"] == "PTP_SUCCESS"
