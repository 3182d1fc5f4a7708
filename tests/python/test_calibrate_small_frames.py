"""benchmarks/calibrate_small_frames.py measures what it says: crops and
errors against the truth it made the frames with."""
import pytest

pytest.importorskip("scipy.ndimage")
pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def study(benchmark_module):
    return benchmark_module("calibrate_small_frames")


@pytest.mark.slow
def test_sharp_frames_are_right_and_near_the_truth(study):
    # Sharp 96-pixel frames at gain 128 are mostly aligned to within a
    # tenth of a pixel: errors that small say the truth and its sign are
    # the frames' own (with the sign wrong they would be twice the shifts,
    # up to 29 pixels). (The rocket's first collage, mostly sky at this
    # size, is not: 43 of the 48 crops are right.)
    outcomes = study.sweep(3, sizes=(96,), sigmas=(0,))
    assert len(outcomes) == 48
    errors = sorted(e for _, _, e in outcomes)
    assert errors[len(errors) // 2] <= 0.1
    assert sum(r for r, _, _ in outcomes) >= 40


@pytest.mark.slow
def test_main_prints_the_counts(study, capsys):
    assert study.main(["--seed", "3", "--sizes", "96", "--sigmas", "0"]) == 0
    out = capsys.readouterr().out
    assert "seed 3: 48 frames" in out and "confidences sum to" in out
    assert "wrong crops at confidence >= 0.95" in out
