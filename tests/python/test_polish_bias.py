"""benchmarks/polish_bias.py measures what it says: the error of the
default's shift against the truth it made the frames with."""
import numpy as np
import pytest

pytest.importorskip("scipy.ndimage")
pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def study(benchmark_module):
    return benchmark_module("polish_bias")


@pytest.mark.parametrize("flags", [[], ["--swap"], ["--flip"]])
def test_sharp_low_noise_frames_give_the_truth(study, flags):
    # Sharp frames at low gain are aligned to within a tenth of a pixel,
    # so errors near 0 say the truth and its sign are the frames' own (with
    # the truth's sign wrong the errors would be 2 x (4, -6) pixels).
    args = study.parse(["--photo", "astronaut", "--sigma", "0", "--gain", "16", "--size", "96",
                        "--draws", "2", "--shift", "4", "-6"] + flags)
    errors = study.measure(args)
    assert errors.shape == (2, 6, 2)
    assert np.abs(errors).max() <= 0.15  # the shifts are given to 0.1 pixel


def test_sub_pixel_shifts_and_noise_stay_near_the_truth(study):
    args = study.parse(["--photo", "coffee", "--sigma", "2", "--gain", "128", "--size", "96",
                        "--draws", "2", "--shift", "2.5", "-3.25"])
    errors = study.measure(args)
    assert np.abs(errors).max() <= 0.5


def test_one_draw_is_refused(study):
    with pytest.raises(SystemExit):
        study.parse(["--draws", "1"])


def test_main_prints_the_mean_error(study, capsys):
    assert study.main(["--photo", "astronaut", "--sigma", "0", "--gain", "16", "--size", "96",
                       "--draws", "2"]) == 0
    out = capsys.readouterr().out
    assert "mean error (rows, cols)" in out and "12 frames, 2 GT draws" in out
