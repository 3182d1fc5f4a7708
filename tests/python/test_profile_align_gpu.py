"""benchmarks/profile_align_gpu.py: on a machine with PyTorch and a GPU
(the lent ones) it profiles a small scene and prints its tables; elsewhere
it says why there is nothing to profile and exits 0."""

from __future__ import annotations

import numpy as np


def test_profiles_or_says_why_not(benchmark_module, capsys):
    profile = benchmark_module("profile_align_gpu")
    assert profile.main(["--size", "64", "96", "--frames", "2", "--rows", "5"]) == 0
    out = capsys.readouterr().out
    if "nothing to profile" in out:
        assert out.startswith("profile_align_gpu: ")
    else:
        assert "scene 64 x 96, 2 moving frames" in out
        assert "kernels (device time)" in out


def test_the_scene_is_a_12_bit_raw_frame_with_content(benchmark_module):
    profile = benchmark_module("profile_align_gpu")
    gt, frames = profile.scene(64, 96, 3)
    assert gt.dtype == np.uint16 and gt.shape == (64, 96)
    assert len(frames) == 3 and all(f.dtype == np.uint16 and f.shape == gt.shape for f in frames)
    assert gt.max() <= 4095 and gt.std() > 100  # 12-bit, with content
