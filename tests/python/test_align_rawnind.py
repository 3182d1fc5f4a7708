"""align_scene(method="rawnind") against an independent reimplementation of
RawNIND's fft_phase_correlate_cfa (ptychopatch/_bench/rawnind.py, also a
peer of the benchmark suite): the combined shift and every plane's shift, on blurred, noisy mosaics with
even, odd and negative shifts, Bayer and X-Trans, uint16 and float32."""

import numpy as np
import pytest

import ptychopatch
from ptychopatch._bench.rawnind import rawnind_align

ndimage = pytest.importorskip("scipy.ndimage")

XTRANS = np.array([[1, 1, 0, 1, 1, 2], [1, 1, 2, 1, 1, 0], [2, 0, 1, 0, 2, 1],
                   [1, 1, 2, 1, 1, 0], [1, 1, 0, 1, 1, 2], [0, 2, 1, 2, 0, 1]])


def _scene(rng, height, width, sigma):
    big = ndimage.gaussian_filter(rng.random((height + 80, width + 80)), sigma, mode="wrap")
    return (big - big.min()) / (big.max() - big.min())


def _pair(rng, height, width, shift, dtype, sigma=2.0):
    scene = _scene(rng, height, width, sigma)
    gt = scene[40:40 + height, 40:40 + width]
    dy, dx = shift
    moved = scene[40 - dy:40 - dy + height, 40 - dx:40 - dx + width]
    noise = lambda a: a * 3000 + 200 + rng.normal(0, 20, a.shape)  # noqa: E731
    return noise(gt).astype(dtype), noise(moved).astype(dtype)


CASES = [((4, -6), 96, 128), ((-3, 5), 100, 90), ((7, 1), 64, 64), ((-12, -9), 120, 96),
         ((0, 0), 64, 80), ((1, -1), 72, 72)]


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("shift,height,width", CASES)
def test_bayer_matches_rawnind(shift, height, width, dtype):
    rng = np.random.default_rng(abs(hash((shift, height, width))) % 2**32)
    gt, moved = _pair(rng, height, width, shift, dtype)
    want, want_planes = rawnind_align(gt, moved, "bayer")
    got = ptychopatch.align_scene(gt, [moved], cfa="RGGB", method="rawnind")
    assert got.status_names == ("PTP_SUCCESS",)
    np.testing.assert_array_equal(got.shifts[0], want)
    np.testing.assert_array_equal(got.plane_shifts[0], np.array(want_planes, float))


@pytest.mark.parametrize("shift,height,width", [((6, -12), 144, 150), ((3, -5), 150, 133),
                                               ((-4, 5), 121, 126), ((-7, 2), 132, 138)])
def test_xtrans_matches_rawnind(shift, height, width):
    rng = np.random.default_rng(7)
    gt, moved = _pair(rng, height, width, shift, np.float32, sigma=3.0)
    want, want_planes = rawnind_align(gt, moved, "xtrans")
    got = ptychopatch.align_scene(gt, [moved], cfa=XTRANS, method="rawnind")
    np.testing.assert_array_equal(got.shifts[0], want)
    np.testing.assert_array_equal(got.plane_shifts[0], np.array(want_planes, float))


def test_rawnind_snap_and_truncation_differ_from_the_default():
    # An odd true shift: RawNIND floors it to CFA blocks (3 -> 2, -5 -> -6),
    # while the default estimator's crop is the nearest mosaic-preserving
    # shift (3 -> 2 or 4, ties toward zero: 2; -5 -> -4 or -6: -4).
    rng = np.random.default_rng(3)
    gt, moved = _pair(rng, 128, 128, (3, -5), np.float32)
    registering = (-3, 5)
    rawnind = ptychopatch.align_scene(gt, [moved], cfa="RGGB", method="rawnind")
    assert tuple(rawnind.shifts[0]) == rawnind_align(gt, moved, "bayer")[0]
    default = ptychopatch.align_scene(gt, [moved], cfa="RGGB", upsample_factor=10)
    assert np.all(np.abs(default.shifts[0] - registering) <= 0.3)
    assert tuple(default.crops[0]) == (-2, 4)


def test_rawnind_options_are_fixed():
    gt = np.ones((16, 16), np.uint16)
    with pytest.raises(ptychopatch.PtychoPatchError, match="method"):
        ptychopatch.align_scene(gt, [gt], cfa="RGGB", method="rawnind", upsample_factor=2)
    with pytest.raises(ptychopatch.PtychoPatchError, match="cfa is None"):
        ptychopatch.align_scene(gt, [gt], method="rawnind")
    with pytest.raises(ValueError, match="method"):
        ptychopatch.align_scene(gt, [gt], cfa="RGGB", method="opencv")
    with pytest.raises(ptychopatch.PtychoPatchError, match="combine"):
        ptychopatch.align_scene(gt, [gt], cfa="RGGB", method="rawnind", combine="median")
    # combine="joint" was the default before "luma": callers that pass it keep working.
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 4000, (32, 32)).astype(np.uint16)
    moved = np.roll(scene, (2, -4), axis=(0, 1))
    a = ptychopatch.align_scene(scene, [moved], cfa="RGGB", method="rawnind")
    b = ptychopatch.align_scene(scene, [moved], cfa="RGGB", method="rawnind", combine="joint")
    np.testing.assert_array_equal(a.shifts, b.shifts)


def test_a_frame_without_information_has_no_shift():
    # RawNIND returns the lag its flat correlations peak at for a constant
    # frame (a review saw (-120, -126)); the library reports no shift, as
    # for every estimator, and aligns the other frames as RawNIND does.
    rng = np.random.default_rng(11)
    gt, moved = _pair(rng, 96, 128, (4, -6), np.uint16)
    flat = np.full_like(gt, 700)
    with pytest.warns(RuntimeWarning, match="1 of 2 frames have no result"):
        got = ptychopatch.align_scene(gt, [moved, flat], cfa="RGGB", method="rawnind")
    assert got.status_names == ("PTP_SUCCESS", "PTP_ERROR_NO_INFORMATION")
    assert np.all(np.isnan(got.shifts[1])) and got.confidence[1] == 0.0
    assert "no shift" in got.messages[1]
    want, _ = rawnind_align(gt, moved, "bayer")
    np.testing.assert_array_equal(got.shifts[0], want)


@pytest.mark.parametrize("height,width", [(82, 82), (96, 128), (146, 150)])
def test_identical_frames_correlate_with_coefficient_one(height, width):
    # The confidence is the correlation coefficient at the peak, whatever
    # the padding (planes of 41 pixels are padded to 81, not 82: a scale
    # taken from a padding of 2n made it 0.976 there).
    rng = np.random.default_rng(height * width)
    gt, _ = _pair(rng, height, width, (0, 0), np.float32)
    got = ptychopatch.align_scene(gt, [gt.copy()], cfa="RGGB", method="rawnind")
    np.testing.assert_array_equal(got.shifts[0], [0, 0])
    assert abs(got.confidence[0] - 1.0) < 1e-5
