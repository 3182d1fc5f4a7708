"""The ``ptychopatch`` command line (ptychopatch.cli), end to end on synthetic data.

Most tests call ``cli.main([...])`` in-process (fast, and the output is
captured by capsys); a few run ``python -m ptychopatch`` in a subprocess so
that the module entry point, the exit statuses and the absence of
tracebacks are those a user sees.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ptychopatch
from ptychopatch import _native, cli

RGGB = [[0, 1], [3, 2]]
# Known translations of the moving frames (even: the Bayer mosaic stays intact).
MOVES = {"a.npy": (4, -6), "b.npy": (-2, 8), "c.npy": (10, 2)}


def _env() -> dict:
    """The environment for a subprocess: this package and this library."""
    env = dict(os.environ)
    package_parent = str(Path(ptychopatch.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PTYCHOPATCH_LIBRARY"] = _native.LIBRARY_PATH
    return env


def run_module(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python -m ptychopatch ARGS``: exit status, stdout, stderr."""
    return subprocess.run([sys.executable, "-m", "ptychopatch", *args], env=_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def run_main(capsys, *args: str):
    """``cli.main(ARGS)`` in-process: (exit status, stdout, stderr)."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------- top level


def test_module_help_lists_commands_with_examples():
    run = run_module("--help")
    assert run.returncode == 0, run.stderr
    for command in ("patches", "align", "info", "bench", "align-dataset", "patches-dataset"):
        assert command in run.stdout
    assert "examples:" in run.stdout


@pytest.mark.parametrize("command", ["patches", "align", "info", "bench", "align-dataset",
                                     "patches-dataset"])
def test_every_command_help_has_examples(capsys, command):
    code, out, _ = run_main(capsys, command, "--help")
    assert code == 0
    assert "examples:" in out and f"ptychopatch {command}" in out


def test_version(capsys):
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"ptychopatch {ptychopatch.version()}"


@pytest.mark.parametrize("argv", [
    [],                                         # no command
    ["frobnicate"],                             # unknown command
    ["patches", "--nsamples", "many"],          # not an integer
    ["patches", "only_input.npz"],              # no output
    ["align", "gt.npy"],                        # nothing to align
    ["align", "gt.npy", "a.npy"],               # .npy frames without --cfa
    ["align", "gt.npy", "a.npy", "--cfa", "RGBG"],  # unknown layout
    ["align", "--folder", "."],                 # --folder without --gt
    ["align", "gt.npy", "a.npy", "--cfa", "RGGB", "--gt", "x"],  # --gt without --folder
    ["info", "--bogus"],
    ["align", "gt.npy", "a.npy", "--cfa", "RGGB", "--max-shift", "0"],  # no bound: leave it out
])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    if argv:
        assert "error:" in err


# --------------------------------------------------------------- patches


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "synthetic.npz"
    arrays = cli.make_synthetic(str(path))
    return path, arrays


def test_patches_end_to_end_as_module(dataset, tmp_path):
    path, arrays = dataset
    out = tmp_path / "groups.npz"
    run = run_module("patches", str(path), str(out), "--nsamples", "40", "--K", "6",
                     "--gridsize", "2", "--seed", "3")
    assert run.returncode == 0, run.stderr
    assert "40 groups of 4" in run.stdout

    res = np.load(out)
    N = arrays["probeGuess"].shape[0]  # taken from probeGuess
    B, C = 40, 4
    assert set(res.files) == {"nn_indices", "coords_nn", "coords_offsets", "coords_relative",
                              "Y", "diffraction", "X_full", "coords_start_nn",
                              "coords_start_offsets", "coords_start_relative",
                              "N", "K", "gridsize", "seed"}
    assert res["nn_indices"].shape == (B, C)
    assert res["coords_nn"].shape == (B, 1, 2, C)
    assert res["coords_offsets"].shape == (B, 1, 2, 1)
    assert res["coords_relative"].shape == (B, 1, 2, C)
    assert res["Y"].shape == (B, N, N, C) and res["Y"].dtype == np.complex64
    assert (int(res["N"]), int(res["K"]), int(res["gridsize"]), int(res["seed"])) == (N, 6, 2, 3)
    # The library's own call on the same input gives the same arrays.
    expected = ptychopatch.grouped_patches(arrays["objectGuess"], arrays["xcoords"],
                                           arrays["ycoords"], N, B, K=6, gridsize=2, seed=3,
                                           diffraction=arrays["diff3d"],
                                           xcoords_start=arrays["xcoords_start"],
                                           ycoords_start=arrays["ycoords_start"])
    for key, value in expected.items():
        np.testing.assert_array_equal(res[key], value, err_msg=key)


def test_patches_defaults_work_on_the_synthetic_data(capsys, tmp_path):
    data, out = tmp_path / "demo.npz", tmp_path / "out.npz"
    code, stdout, _ = run_main(capsys, "patches", "--make-synthetic", str(data))
    assert code == 0 and "wrote synthetic dataset" in stdout
    code, stdout, err = run_main(capsys, "patches", str(data), str(out))
    assert code == 0, err
    n = np.load(data)["xcoords"].size
    res = np.load(out)
    assert res["nn_indices"].shape == (n, 4)  # default: one group per position
    assert int(res["seed"]) == -1


def test_a_file_that_is_not_numpys_says_so(capsys, tmp_path):
    """Garbage named .npz or .npy: its first bytes, not numpy's advice about
    pickled data (which such a file does not hold)."""
    junk = b"\x80-garbage, not numpy"
    (tmp_path / "junk.npz").write_bytes(junk)
    code, _, err = run_main(capsys, "patches", str(tmp_path / "junk.npz"),
                            str(tmp_path / "o.npz"))
    assert code == 1 and "not a .npz" in err and "pickled" not in err, err
    (tmp_path / "junk.npy").write_bytes(junk)
    np.save(tmp_path / "gt.npy", np.zeros((64, 64), np.uint16))
    code, out, err = run_main(capsys, "align", str(tmp_path / "gt.npy"),
                              str(tmp_path / "junk.npy"), "--cfa", "RGGB", "--no-progress")
    assert code == 1 and "not a .npy file" in err and "pickled" not in err, err


@pytest.mark.parametrize("command", [
    ["patches", "in.npz", "out.npz"], ["align", "gt.npy", "f.npy", "--cfa", "RGGB"],
    ["align-dataset", "scenes", "-o", "out"], ["patches-dataset", "scans", "-o", "out.zarr"]])
def test_negative_threads_is_a_usage_error_naming_the_option(capsys, command):
    code, _, err = run_main(capsys, *command, "--threads", "-1")
    assert code == 2
    assert "--threads" in err and ">= 0" in err and "num_threads" not in err, err


@pytest.mark.parametrize("key,value,match", [
    ("diff3d", lambda a: a["diff3d"][:10], "diff3d must hold one entry per scan position"),
    ("diff3d", lambda a: np.zeros_like(a["diff3d"]), "diff3d is all zeros"),
    ("xcoords_start", lambda a: a["xcoords_start"][:-1], "xcoords_start must hold")])
def test_patches_names_a_bad_grouped_array_and_writes_nothing(capsys, dataset, tmp_path, key,
                                                               value, match):
    path, arrays = dataset
    bad = tmp_path / "bad.npz"
    np.savez(bad, **dict(arrays, **{key: value(arrays)}))
    code, _, err = run_main(capsys, "patches", str(bad), str(tmp_path / "o.npz"))
    assert code == 1 and match in err, err
    assert not (tmp_path / "o.npz").exists()


def test_patches_too_many_samples_names_the_option(capsys, dataset, tmp_path):
    path, arrays = dataset
    n = arrays["xcoords"].size
    code, _, err = run_main(capsys, "patches", str(path), str(tmp_path / "o.npz"),
                            "--nsamples", str(n + 1))
    assert code == 1
    assert err.startswith("ptychopatch patches: error: --nsamples")
    assert str(n) in err and "--oversample" in err
    code, _, err = run_main(capsys, "patches", str(path), str(tmp_path / "o.npz"),
                            "--nsamples", str(n + 1), "--oversample", "--seed", "0")
    assert code == 0, err
    assert np.load(tmp_path / "o.npz")["Y"].shape[0] == n + 1


def test_patches_bad_input_is_an_error_not_a_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, objectGuess=np.zeros((8, 8), np.complex64), xcoords=np.zeros(3))
    code, _, err = run_main(capsys, "patches", str(bad), str(tmp_path / "o.npz"))
    assert code == 1 and "ycoords" in err and "Traceback" not in err
    (tmp_path / "text.npz").write_text("not an npz")
    code, _, err = run_main(capsys, "patches", str(tmp_path / "text.npz"), str(bad))
    assert code == 1 and err.startswith("ptychopatch patches: error:")
    code, _, err = run_main(capsys, "patches", str(tmp_path / "missing.npz"), str(bad))
    assert code == 1 and "missing.npz" in err


# ----------------------------------------------------------------- align


def _bayer_mosaic(rng, size=128):
    """A smooth periodic RGGB mosaic (uint16): np.roll is a true translation."""
    f = np.fft.fftfreq(size)
    lowpass = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * 0.05**2))
    rgb = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((3, size, size))) * lowpass))
    rgb = (rgb - rgb.min()) / np.ptp(rgb)
    rows, cols = np.mgrid[0:size, 0:size]
    channel = np.array([[0, 1], [1, 2]])[rows % 2, cols % 2]
    return np.round(np.take_along_axis(rgb, channel[None], 0)[0] * 60000).astype(np.uint16)


@pytest.fixture
def frames(tmp_path, rng):
    """gt.npy and the frames of MOVES in tmp_path; returns the folder."""
    gt = _bayer_mosaic(rng)
    np.save(tmp_path / "gt.npy", gt)
    for name, move in MOVES.items():
        np.save(tmp_path / name, np.roll(gt, move, axis=(0, 1)))
    return tmp_path


def _check_aligned(entry, name):
    ty, tx = MOVES[name]
    assert entry["status"] == "PTP_SUCCESS" and entry["ok"] is True, entry
    assert entry["doubts"] == [], entry
    # Sub-pixel: within one refinement step (1/10 plane pixel = 0.2 sensor
    # pixels); the crop, the whole-pixel answer, exactly.
    np.testing.assert_allclose(entry["shift"], (-ty, -tx), atol=0.2 + 1e-9)
    assert entry["crop"] == [-ty, -tx]
    assert 0.0 < entry["confidence"] <= 1.0
    assert entry["planes_used"] == 4


def test_align_npy_frames_json(capsys, frames):
    paths = [str(frames / n) for n in ("gt.npy", *MOVES)]
    code, out, err = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--no-progress")
    assert code == 0, err
    report = json.loads(out)
    assert report["gt"] == paths[0]
    assert report["cfa"] == RGGB
    assert report["summary"] == {"frames": 3, "ok": 3, "doubted": 0, "failed": 0}
    assert report["library"] == ptychopatch.version()
    assert [e["file"] for e in report["frames"]] == paths[1:]
    for entry, name in zip(report["frames"], MOVES):
        _check_aligned(entry, name)
        assert "plane_shifts" not in entry  # one shift per frame


def test_align_verify_checks_every_crop(capsys, frames):
    """--verify reaches the library: the report records it; alone it asks
    for the retired "check", which warns and runs the default."""
    paths = [str(frames / n) for n in ("gt.npy", *MOVES)]
    code, out, err = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--no-progress",
                              "--verify")
    assert code == 0, err
    assert "warning: verify='check' is deprecated" in err
    report = json.loads(out)
    assert report["options"]["verify"] == "check"
    gt = np.load(paths[0])
    moved = [np.load(p) for p in paths[1:]]
    refined = ptychopatch.align_scene(gt, moved, cfa="RGGB")
    for k, (entry, name) in enumerate(zip(report["frames"], MOVES)):
        _check_aligned(entry, name)
        assert entry["confidence"] == refined.confidence[k]
        assert entry["shift"] == refined.shifts[k].tolist()
    # The default, refine, is recorded; none (the coarse estimate) is not,
    # as in reports from before the option.
    code, out, err = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--no-progress")
    assert "deprecated" not in err
    default = json.loads(out)
    assert default["options"]["verify"] == "refine"
    for k, entry in enumerate(default["frames"]):
        assert entry["shift"] == refined.shifts[k].tolist()
    code, out, _ = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--no-progress",
                            "--verify", "none")
    coarse = json.loads(out)
    assert "verify" not in coarse["options"]
    plain = ptychopatch.align_scene(gt, moved, cfa="RGGB", verify=False)
    for k, entry in enumerate(coarse["frames"]):
        assert entry["shift"] == plain.shifts[k].tolist()


def test_align_reports_failed_frames_and_aligns_the_others(capsys, frames, rng):
    np.save(frames / "small.npy", _bayer_mosaic(rng, 64))           # other shape
    (frames / "broken.npy").write_bytes(b"not an npy file")          # unreadable
    names = ["a.npy", "small.npy", "b.npy", "broken.npy", "c.npy"]
    out_file = frames / "out.json"
    code, _, err = run_main(capsys, "align", str(frames / "gt.npy"),
                            *[str(frames / n) for n in names], "--cfa", "rggb",
                            "--batch", "2", "-o", str(out_file))
    assert code == 1  # some frame failed, the others are written
    assert "Traceback" not in err
    report = json.loads(out_file.read_text())
    entries = {Path(e["file"]).name: e for e in report["frames"]}
    assert [Path(e["file"]).name for e in report["frames"]] == names
    for name in MOVES:
        _check_aligned(entries[name], name)
    small = entries["small.npy"]
    assert small["status"] == "PTP_ERROR_INVALID_SIZE" and small["ok"] is False
    assert "(64, 64)" in small["message"]
    assert small["shift"] is None and small["crop"] is None and small["confidence"] is None
    assert entries["broken.npy"]["status"] == "UNREADABLE"
    assert report["summary"] == {"frames": 5, "ok": 3, "doubted": 0, "failed": 2}
    assert "small.npy: PTP_ERROR_INVALID_SIZE" in err


def test_align_notes_name_no_index_of_the_library_call(capsys, frames, rng):
    """A note's "frames[k]" counts within the library's call (a batch,
    after the rejected files), so the CLI says it of the row's file: a
    frame of another scene, third in the list after a rejected file, said
    "frames[1]: ... may not show the reference's scene". Such a frame is
    doubted: not ok, its doubt named, counted apart and said on stderr."""
    np.save(frames / "small.npy", _bayer_mosaic(rng, 64))
    np.save(frames / "other.npy", _bayer_mosaic(np.random.default_rng(99)))
    noise = np.random.default_rng(5).poisson(20000, (128, 128)).astype(np.uint16)
    np.save(frames / "noise.npy", noise)
    names = ["a.npy", "small.npy", "other.npy", "noise.npy"]
    code, out, err = run_main(capsys, "align", str(frames / "gt.npy"),
                              *[str(frames / n) for n in names], "--cfa", "RGGB", "--batch", "2")
    assert code == 1  # small.npy
    report = json.loads(out)
    assert report["summary"] == {"frames": 4, "ok": 1, "doubted": 2, "failed": 1}
    entries = {Path(e["file"]).name: e for e in report["frames"]}
    _check_aligned(entries["a.npy"], "a.npy")
    for name in ("other.npy", "noise.npy"):
        entry = entries[name]
        assert entry["status"] == "PTP_SUCCESS" and entry["ok"] is False, entry
        assert entry["doubts"] == ["OTHER_SCENE"] and entry["confidence"] == 0.0, entry
        assert f"{name}: doubted (OTHER_SCENE)" in err, err
        assert "may not show the reference's scene" in entry["message"], entry
        assert entry["message"].startswith("at this shift"), entry
    for entry in entries.values():
        assert "frames[" not in entry["message"], entry


def test_align_exits_3_where_every_frame_aligned_but_some_are_doubted(capsys, frames):
    """Only a doubted frame (another scene): exit status 3, not 0."""
    np.save(frames / "other.npy", _bayer_mosaic(np.random.default_rng(99)))
    code, out, err = run_main(capsys, "align", str(frames / "gt.npy"), str(frames / "a.npy"),
                              str(frames / "other.npy"), "--cfa", "RGGB", "--no-progress")
    assert code == 3, err
    assert json.loads(out)["summary"] == {"frames": 2, "ok": 1, "doubted": 1, "failed": 0}
    code, _, err = run_main(capsys, "align", str(frames / "gt.npy"), str(frames / "a.npy"),
                            "--cfa", "RGGB", "--no-progress")
    assert code == 0, err


def test_align_csv(capsys, frames, rng):
    np.save(frames / "small.npy", _bayer_mosaic(rng, 64))
    paths = [str(frames / n) for n in ("gt.npy", "a.npy", "small.npy")]
    code, out, _ = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--format", "csv")
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == cli.CSV_COLUMNS
    assert [r["file"] for r in rows] == paths[1:]
    a, small = rows
    assert a["status"] == "PTP_SUCCESS" and a["ok"] == "1"
    np.testing.assert_allclose([float(a["shift_dy"]), float(a["shift_dx"])], [-4, 6],
                               atol=0.2 + 1e-9)
    assert (int(a["crop_dy"]), int(a["crop_dx"])) == (-4, 6)
    assert 0 < float(a["confidence"]) <= 1
    assert small["ok"] == "0" and small["shift_dy"] == "" and "shape" in small["message"]
    # A .csv output name implies the format.
    code, _, _ = run_main(capsys, "align", *paths[:2], "--cfa", "RGGB",
                          "-o", str(frames / "x.csv"))
    assert code == 0
    assert (frames / "x.csv").read_text().startswith(",".join(cli.CSV_COLUMNS))


def test_align_folder_with_glob_gt(capsys, frames):
    (frames / "gt.npy").rename(frames / "scene_GT.npy")
    (frames / "notes.txt").write_text("not a frame")
    code, out, err = run_main(capsys, "align", "--folder", str(frames), "--gt", "*_GT*",
                              "--pattern", "*.npy", "--cfa", "0,1,3,2")
    assert code == 0, err
    report = json.loads(out)
    assert report["gt"] == "scene_GT.npy"
    assert [e["file"] for e in report["frames"]] == sorted(MOVES)
    for entry in report["frames"]:
        _check_aligned(entry, entry["file"])


@pytest.mark.parametrize("option", [("--combine", "median"), ("--combine", "joint"),
                                    ("--combine", "mean"), ("--window", "none")])
def test_align_retired_options_warn_and_run_the_default(capsys, frames, option):
    """The retired --combine and --window values are accepted, say so on
    stderr, and report the default's frames (only the options echo them;
    --combine median/mean wrote per-plane shifts before). Without the fine
    stage, whose fit makes these frames' results alike for any coarse
    estimate, so that the coarse estimates are compared."""
    paths = [str(frames / n) for n in ("gt.npy", *MOVES)]
    common = ("align", *paths, "--cfa", "RGGB", "--no-progress", "--verify", "none")
    code, default, err = run_main(capsys, *common)
    assert code == 0, err
    assert "deprecated" not in err
    code, out, err = run_main(capsys, *common, *option)
    assert code == 0, err
    name = option[0][2:]
    assert f"warning: {name}=" in err and "is deprecated: the default" in err
    assert "runs in its place" in err
    report, expected = json.loads(out), json.loads(default)
    assert report["options"][name] == option[1]
    assert report["frames"] == expected["frames"]
    for entry in report["frames"]:
        assert "plane_shifts" not in entry


def test_align_progress_bar(capsys, frames):
    paths = [str(frames / n) for n in ("gt.npy", *MOVES)]
    code, _, err = run_main(capsys, "align", *paths, "--cfa", "RGGB", "--progress",
                            "--batch", "2")
    assert code == 0
    assert "3/3" in err and "[" + "#" * 30 + "]" in err
    code, _, err = run_main(capsys, "align", *paths, "--cfa", "RGGB")
    assert "3/3" not in err  # off by default when stderr is not a terminal


def test_align_library_error_is_reported(capsys, frames):
    gt = np.load(frames / "gt.npy").astype(np.float32)
    gt[3, 5] = np.nan
    np.save(frames / "nan_gt.npy", gt)
    code, _, err = run_main(capsys, "align", str(frames / "nan_gt.npy"), str(frames / "a.npy"),
                            "--cfa", "RGGB")
    assert code == 1
    assert err.startswith("ptychopatch align: error:") and "PTP_ERROR_NON_FINITE" in err


def test_align_as_module_exit_status(frames, rng):
    np.save(frames / "small.npy", _bayer_mosaic(rng, 64))
    run = run_module("align", "gt.npy", "a.npy", "small.npy", "--cfa", "RGGB", cwd=frames)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert json.loads(run.stdout)["summary"]["ok"] == 1


def test_missing_rawpy_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "rawpy", None)  # makes `import rawpy` fail
    for name in ("gt.ARW", "a.ARW"):
        (tmp_path / name).write_bytes(b"not a raw file")
    code, _, err = run_main(capsys, "align", str(tmp_path / "gt.ARW"), str(tmp_path / "a.ARW"))
    assert code == 1
    assert "ptychopatch align: error:" in err and "pip install rawpy" in err
    code, _, err = run_main(capsys, "align", "--folder", str(tmp_path), "--gt", "gt.ARW")
    assert code == 1 and "pip install rawpy" in err


def test_missing_tifffile_is_named(capsys, monkeypatch, frames):
    monkeypatch.setitem(sys.modules, "tifffile", None)
    code, _, err = run_main(capsys, "align", str(frames / "gt.tif"), str(frames / "a.npy"),
                            "--cfa", "RGGB")
    assert code == 1 and "pip install tifffile" in err


def test_align_tiff_frames(capsys, frames):
    tifffile = pytest.importorskip("tifffile")
    for name in ("gt", "a"):
        tifffile.imwrite(frames / f"{name}.tiff", np.load(frames / f"{name}.npy"))
    code, out, err = run_main(capsys, "align", str(frames / "gt.tiff"), str(frames / "a.tiff"),
                              "--cfa", "RGGB")
    assert code == 0, err
    entry = json.loads(out)["frames"][0]
    entry["file"] = "a.npy"
    _check_aligned(entry, "a.npy")



def test_channel_last_files_are_named_by_their_own_shape(capsys, tmp_path, rng):
    """Channel-last (H, W, 3) .npy frames: with --cfa none they align, and
    the report and a size mismatch name the shapes the files have (not the
    planar (3, H, W) the library is given); with a CFA pattern the GT file
    is refused by its shape, as not a mosaic."""
    rgb = np.stack([_bayer_mosaic(rng, 96) for _ in range(3)], axis=-1)  # (96, 96, 3)
    np.save(tmp_path / "gt.npy", rgb)
    np.save(tmp_path / "a.npy", np.roll(rgb, (4, -6), axis=(0, 1)))
    np.save(tmp_path / "small.npy", rgb[:64, :80])
    paths = [str(tmp_path / n) for n in ("gt.npy", "a.npy", "small.npy")]
    code, out, err = run_main(capsys, "align", *paths, "--cfa", "none", "--no-progress")
    assert code == 1  # small.npy failed, a.npy aligned
    report = json.loads(out)
    assert report["shape"] == [96, 96, 3]
    a, small = report["frames"]
    assert a["ok"] is True and a["crop"] == [-4, 6], a
    assert small["status"] == "PTP_ERROR_INVALID_SIZE"
    assert small["message"] == "shape (64, 80, 3), the GT frame's is (96, 96, 3)"
    assert "(3, 64, 80)" not in err
    code, out, err = run_main(capsys, "align", *paths[:2], "--cfa", "RGGB", "--no-progress")
    assert code != 0 and "Traceback" not in err
    assert "shape (96, 96, 3)" in err and "--cfa none" in err
    assert "(3, 96, 96)" not in err

def test_cfa_names():
    assert cli.parse_cfa("rggb").tolist() == RGGB
    assert cli.parse_cfa("none") is None
    assert cli.parse_cfa("XTRANS").shape == (6, 6)
    assert cli.parse_cfa("2;3;1;0").tolist() == [[2, 3], [1, 0]]
    with pytest.raises(ValueError, match="--cfa"):
        cli.parse_cfa("1,2,3")


# ------------------------------------------------------------------ info
# (bench: tests/python/test_bench.py)


def test_info_json(capsys):
    code, out, _ = run_main(capsys, "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["version"] == ptychopatch.version()
    assert info["backend"] in ("cpu", "gpu")
    assert info["backend"] == ptychopatch.backend_info().backend
    assert info["backend_reason"] == ptychopatch.backend_info().reason
    assert info["cuda_device_count"] == ptychopatch.cuda_device_count()
    assert info["library_path"] == _native.LIBRARY_PATH
    assert set(info["optional"]) == {"rawpy", "tifffile", "scikit-image", "dask", "distributed",
                                     "pyarrow", "zarr", "matplotlib", "cupy", "torch"}
    from importlib import metadata

    for name in ("dask", "zarr", "matplotlib", "pyarrow"):
        try:
            want = metadata.version(name)
        except metadata.PackageNotFoundError:
            want = None
        assert info["optional"][name] == want, name


def test_info_text_says_why_not_the_gpu(capsys):
    code, out, _ = run_main(capsys, "info")
    assert code == 0
    assert ptychopatch.version() in out and "CUDA devices" in out
    info = ptychopatch.backend_info()
    assert info.message in out
    if info.backend == "cpu":
        assert "GPU           not used" in out
