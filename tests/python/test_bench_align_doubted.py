"""benchmarks/bench_align_doubted.py: it scores the default against the
motion it moved the frames by, and times both stages."""
import pytest

pytest.importorskip("scipy.ndimage")


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("bench_align_doubted")


def test_noiseless_frames_give_the_motion_back(bench, capsys):
    assert bench.main(["--sides", "128", "--frames", "2", "--noise", "0",
                       "--repeat", "1"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split(" | ")
    assert row[0] == "128"
    assert row[1].endswith("/2")
    assert float(row[-1]) < 0.1  # mean |error|, pixels: the sign of the motion is right
    assert float(row[-2]) > 0  # default / coarse
