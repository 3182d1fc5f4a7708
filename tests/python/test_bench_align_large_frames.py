"""benchmarks/bench_align_large_frames.py: its scenes do not repeat, and it
counts crops against the truth it moved the frames by."""
import numpy as np
import pytest

pytest.importorskip("scipy.ndimage")
pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("bench_align_large_frames")


def test_patchwork_scenes_do_not_repeat(bench):
    # The robustness benchmark's mirror tiling repeats every 2 photograph
    # sides; a patchwork's grey level must differ from itself moved by
    # those periods (and every other whole tile count).
    scene = bench.patchwork(1100, 1100, np.random.default_rng(1)).mean(axis=2)
    for period in (256, 512, 600, 800, 1024):
        moved = scene[period:, :] - scene[:-period, :]
        assert np.abs(moved).mean() > 0.05, period


def test_main_counts_right_crops(bench, capsys):
    assert bench.main(["--height", "600", "--width", "660", "--sigmas", "0",
                       "--gains", "16", "--layouts", "RGGB"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split(" | ")
    assert row[:3] == ["RGGB", "0", "16"]
    assert row[3] == "6/6"
    assert float(row[5]) <= 0.1  # largest error, pixels


def test_a_flat_centre_is_flat(bench, capsys):
    assert bench.main(["--height", "600", "--width", "660", "--sigmas", "0",
                       "--gains", "16", "--layouts", "XTRANS", "--flat-centre", "300"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("XTRANS | 0 | 16 | ")
