"""The Python examples of capi/python/examples, run without real data.

ptychopinn_npz_to_patches.py runs end to end on the synthetic dataset it
writes itself; align_raw_folder.py's folder logic and alignment run on
synthetic Bayer mosaics with known shifts through a fake reader (no rawpy,
no RAW files).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ptychopatch

EXAMPLES = Path(__file__).resolve().parents[2] / "capi" / "python" / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def npz_example():
    return _load("ptychopinn_npz_to_patches")


@pytest.fixture(scope="module")
def raw_example():
    return _load("align_raw_folder")


# ------------------------------------------------ ptychopinn_npz_to_patches


def test_synthetic_dataset_is_ptychopinn_shaped(npz_example, tmp_path):
    path = tmp_path / "synthetic.npz"
    arrays = npz_example.make_synthetic(str(path))
    loaded = npz_example.load_dataset(str(path))
    obj = loaded["objectGuess"]
    assert obj.ndim == 2 and np.iscomplexobj(obj)
    assert loaded["xcoords"].shape == loaded["ycoords"].shape == arrays["xcoords"].shape
    N = arrays["probeGuess"].shape[0]
    # Every patch centre keeps its N x N window inside the object.
    assert loaded["xcoords"].min() >= N / 2 and loaded["xcoords"].max() <= obj.shape[1] - N / 2
    assert loaded["ycoords"].min() >= N / 2 and loaded["ycoords"].max() <= obj.shape[0] - N / 2


def test_missing_key_is_named(npz_example, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, objectGuess=np.zeros((8, 8), np.complex64), xcoords=np.zeros(3))
    with pytest.raises(KeyError, match="ycoords"):
        npz_example.load_dataset(str(path))


def test_npz_to_patches_end_to_end(npz_example, tmp_path):
    if not hasattr(ptychopatch, "grouped_patches"):
        pytest.skip("this ptychopatch has no grouped_patches yet")
    data = tmp_path / "synthetic.npz"
    out = tmp_path / "patches.npz"
    script = str(EXAMPLES / "ptychopinn_npz_to_patches.py")
    subprocess.run([sys.executable, script, "--make-synthetic", str(data)], check=True)
    run = subprocess.run([sys.executable, script, str(data), str(out), "--nsamples", "40",
                          "--K", "6", "--gridsize", "2", "--seed", "3"],
                         check=True, capture_output=True, text=True)
    assert "groups of 4" in run.stdout

    src = np.load(data)
    res = np.load(out)
    B, C, N = 40, 4, src["probeGuess"].shape[0]
    assert res["nn_indices"].shape == (B, C)
    assert res["coords_nn"].shape == (B, 1, 2, C)
    assert res["coords_offsets"].shape == (B, 1, 2, 1)
    assert res["coords_relative"].shape == (B, 1, 2, C)
    assert res["Y"].shape == (B, N, N, C) and res["Y"].dtype == np.complex64
    assert int(res["N"]) == N and int(res["K"]) == 6 and int(res["seed"]) == 3
    # The groups and patches are what the library's own calls give.
    idx = res["nn_indices"]
    np.testing.assert_array_equal(res["coords_nn"][:, 0, 0, :], src["xcoords"][idx])
    np.testing.assert_array_equal(res["coords_nn"][:, 0, 1, :], src["ycoords"][idx])
    Y = ptychopatch.get_image_patches(src["objectGuess"], res["coords_offsets"],
                                      res["coords_relative"], N=N, gridsize=2)
    np.testing.assert_array_equal(res["Y"], Y)
    # Same seed, same groups.
    again = npz_example.npz_to_patches(npz_example.load_dataset(str(data)), N, B, K=6,
                                       gridsize=2, seed=3)
    np.testing.assert_array_equal(np.asarray(again["nn_indices"]), idx)


# ------------------------------------------------------ align_raw_folder

RGGB = np.array([[0, 1], [3, 2]], dtype=np.int32)


def _scene(rng, size=256):
    """A smooth random RGB scene (H, W, 3), periodic, values in [0, 1]."""
    spectrum = np.fft.fft2(rng.standard_normal((3, size, size)))
    f = np.fft.fftfreq(size)
    lowpass = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * 0.05**2))
    scene = np.real(np.fft.ifft2(spectrum * lowpass))
    scene -= scene.min()
    return np.moveaxis(scene / scene.max(), 0, -1)


def _mosaic(rgb, pattern=RGGB):
    """Bayer mosaic (uint16) of an RGB scene; codes 1 and 3 are both green."""
    colour = np.where(pattern == 3, 1, pattern)
    H, W, _ = rgb.shape
    rows, cols = np.mgrid[0:H, 0:W]
    channel = colour[rows % 2, cols % 2]
    gains = np.array([0.6, 1.0, 0.8])
    return np.round(rgb[rows, cols, channel] * gains[channel] * 60000).astype(np.uint16)


@pytest.fixture
def raw_folder(raw_example, tmp_path, rng):
    """A folder of fake RAW files, their frames, and the expected shifts."""
    scene = _scene(rng)
    translations = {"scene_GT.ARW": (0, 0), "noisy_a.ARW": (4, -6), "noisy_b.arw": (-2, 8),
                    "noisy_c.ARW": (10, 2)}
    frames, expected = {}, {}
    for name, (ty, tx) in translations.items():
        mosaic = _mosaic(np.roll(scene, (ty, tx), axis=(0, 1)))
        noise = rng.normal(0, 40, mosaic.shape)
        frames[name] = raw_example.RawFrame(
            np.clip(mosaic + noise, 0, 65535).astype(np.uint16), RGGB)
        expected[name] = (-ty, -tx)  # the shift that registers the frame onto the GT
    frames["small.ARW"] = raw_example.RawFrame(np.zeros((64, 64), np.uint16), RGGB)
    for name in frames:
        (tmp_path / name).write_bytes(b"not a real raw file")
    (tmp_path / "notes.txt").write_text("ignored: not a RAW extension")
    (tmp_path / "broken.NEF").write_bytes(b"")
    reads = []

    def reader(path):
        name = os.path.basename(path)
        reads.append(name)
        if name == "broken.NEF":
            raise OSError("cannot read")
        return frames[name]

    return tmp_path, reader, expected, reads


def test_align_folder_with_fake_reader(raw_example, raw_folder):
    folder, reader, expected, reads = raw_folder
    report = raw_example.align_folder(str(folder), "*_GT*", reader=reader, batch=2,
                                      upsample_factor=10, backend="cpu")
    assert report["gt"] == "scene_GT.ARW"
    assert report["cfa"] == RGGB.tolist()
    assert "notes.txt" not in reads and reads.count("scene_GT.ARW") == 1
    frames = report["frames"]
    assert set(frames) == {"broken.NEF", "noisy_a.ARW", "noisy_b.arw", "noisy_c.ARW",
                           "small.ARW"}
    assert "OSError" in frames["broken.NEF"]["error"]
    assert "shape" in frames["small.ARW"]["error"]
    for name in ("noisy_a.ARW", "noisy_b.arw", "noisy_c.ARW"):
        entry = frames[name]
        np.testing.assert_allclose(entry["shift"], expected[name], atol=0.15)
        assert entry["crop"] == list(expected[name])
        assert "plane_shifts" not in entry  # the default (luminance) estimator has none
        assert 0.0 < entry["confidence"] <= 1.0
    json.dumps(report)  # what main() writes
    # Per-plane shifts with a per-plane combination.
    report = raw_example.align_folder(str(folder), "*_GT*", reader=reader, batch=2,
                                      upsample_factor=10, backend="cpu", combine="median",
                                      window=None)
    entry = report["frames"]["noisy_a.ARW"]
    np.testing.assert_allclose(np.asarray(entry["plane_shifts"]),
                               np.tile(expected["noisy_a.ARW"], (4, 1)), atol=0.25)


def test_frames_the_library_cannot_align_are_reported(raw_example, rng):
    # A frame with no information (flat) gets the library's per-frame
    # status; the frame next to it is aligned.
    gt = raw_example.RawFrame(_mosaic(_scene(rng, 64)), RGGB)
    flat = raw_example.RawFrame(np.full_like(gt.image, 1000), RGGB)
    out = raw_example.align_frames(gt, {"flat": flat, "same": gt}, backend="cpu")
    assert "PTP_ERROR_NO_INFORMATION" in out["flat"]["error"]
    assert out["same"]["crop"] == [0, 0]


def test_align_frames_refuses_other_cfa(raw_example, rng):
    gt = raw_example.RawFrame(_mosaic(_scene(rng, 64)), RGGB)
    other = raw_example.RawFrame(gt.image.copy(), np.array([[2, 3], [1, 0]], np.int32))
    same = raw_example.RawFrame(gt.image.copy(), RGGB.copy())
    out = raw_example.align_frames(gt, {"other": other, "same": same}, upsample_factor=1,
                                   backend="cpu")
    assert "CFA" in out["other"]["error"]
    assert out["same"]["shift"] == [0.0, 0.0]


def test_gt_selection(raw_example):
    names = ["a_GT.ARW", "b.ARW", "c.ARW"]
    assert raw_example.select_gt(names, "b.ARW") == "b.ARW"
    assert raw_example.select_gt(names, "*GT*") == "a_GT.ARW"
    with pytest.raises(ValueError, match="exactly one"):
        raw_example.select_gt(names, "*.ARW")
    with pytest.raises(ValueError, match="no file"):
        raw_example.select_gt(names, "zzz")


def test_main_without_rawpy_says_so(raw_example, tmp_path, capsys, monkeypatch):
    # As if not installed (CI installs rawpy, for test_align_dataset_raw.py).
    monkeypatch.setitem(sys.modules, "rawpy", None)
    assert raw_example.main([str(tmp_path), "--gt", "x"]) == 2
    assert "pip install rawpy" in capsys.readouterr().err
