"""The Python example of capi/python/examples, run without real data:
ptychopinn_npz_to_patches.py end to end on the synthetic dataset it writes
itself. (RAW folders are `ptychopatch align --folder`'s: test_cli.py.)
"""

from __future__ import annotations

import importlib.util
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
