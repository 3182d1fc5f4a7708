"""align_scene(verify="refine"), the default: the fine stage.

Oracle, from the documentation: the fine stage starts from the coarse
estimate (verify=False's result) and keeps its shift and crop bit for bit
unless the least-squares polish lands more than 0.1 pixel away on an axis;
then the crop is the mosaic-preserving one nearest the polished shift
(expect_refined). Where results must be right, the tests compare with the
truth. (tests/cpp/test_align_verify.cpp also runs every frame through the
thorough fit; here the gate's polish may settle a frame first.)
"""
from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest

import ptychopatch
from ptychopatch import PtychoPatchError

XTRANS = np.array([[1, 1, 0, 1, 1, 2],
                   [1, 1, 2, 1, 1, 0],
                   [2, 0, 1, 0, 2, 1],
                   [1, 1, 2, 1, 1, 0],
                   [1, 1, 0, 1, 1, 2],
                   [0, 2, 1, 2, 0, 1]], dtype=np.uint8)


def _need(module: str):
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="module")
def camera():
    return _need("skimage.data").camera().astype(np.float64) / 255.0


def nearest_crop(shift, period):
    """The mosaic-preserving crop nearest a shift, as documented: Bayer's
    even lattice or whole pixels without a pattern, a tie to the smaller
    |dy| + |dx| (per axis here: the smaller magnitude)."""
    assert period in (1, 2)
    crop = []
    for value in np.asarray(shift, dtype=np.float64):
        low = period * math.floor(value / period)
        crop.append(min((low, low + period), key=lambda c: (abs(c - value), abs(c))))
    return np.array(crop, dtype=np.int64)


def expect_refined(gt, frames, period, **options):
    """verify="refine" against the oracle: the coarse estimate's shift and
    crop, or a polished shift more than 0.1 pixel from it on an axis (at
    least that once rounded to the grid of 1/10 pixel) with the crop
    nearest it; a confidence in [0, 1]."""
    plain = ptychopatch.align_scene(gt, frames, verify=False, **options)
    got = ptychopatch.align_scene(gt, frames, verify="refine", **options)
    for k in range(len(frames)):
        assert got.status[k] == plain.status[k], k
        if np.array_equal(got.shifts[k], plain.shifts[k]):
            np.testing.assert_array_equal(got.crops[k], plain.crops[k])
        else:
            assert np.abs(got.shifts[k] - plain.shifts[k]).max() > 0.1 - 1e-9, (
                got.shifts[k], plain.shifts[k])
            np.testing.assert_array_equal(got.crops[k], nearest_crop(got.shifts[k], period))
        assert 0.0 <= got.confidence[k] <= 1.0, k
    return plain, got


def test_refine_is_the_default(camera):
    """The default is verify="refine": its results, which are not the coarse
    estimate's (the polish's shifts, within 0.1 pixel of the truth, and its
    crop probabilities)."""
    ndi = _need("scipy.ndimage")
    rng = np.random.default_rng(1)
    scene = ndi.gaussian_filter(camera * 3000 + 200, 1.5)
    gt = (scene[64:192, 64:192] + rng.normal(0, 20, (128, 128))).astype(np.float32)
    frames = [(ndi.shift(scene, (dy, dx), order=3)[64:192, 64:192]
               + rng.normal(0, 20, (128, 128))).astype(np.float32)
              for dy, dx in [(2.3, -3.6), (-6.2, 7.7)]]
    default = ptychopatch.align_scene(gt, frames, cfa="RGGB")
    plain, refined = expect_refined(gt, frames, 2, cfa="RGGB")
    np.testing.assert_array_equal(default.shifts, refined.shifts)
    np.testing.assert_array_equal(default.confidence, refined.confidence)
    np.testing.assert_array_equal(default.crops, [[-2, 4], [6, -8]])
    assert not np.array_equal(default.confidence, plain.confidence)
    np.testing.assert_allclose(default.shifts, [[-2.3, 3.6], [6.2, -7.7]], atol=0.1)
    assert np.all(default.confidence > 0.9)


def test_a_frame_too_small_for_the_fit_is_placed_by_the_search(camera):
    """On frames (32 pixels a side) too small for the least-squares polish,
    the search over every shift places a frame whose coarse crop is wrong
    (the Hann window's pull on so small a frame): the right crop, its shift
    within 0.25 pixel of the truth on the 1/10-pixel grid, the coarse
    peak's confidence (not a probability), and the NO_FIT flag with its
    note."""
    ndi = _need("scipy.ndimage")
    rng = np.random.default_rng(569)
    n = 32
    scene = ndi.gaussian_filter(camera * 3000 + 200, 2)
    y0, x0 = rng.integers(40, 300, 2)
    dy, dx = rng.uniform(-3, 3, 2)  # (-1.95, 1.49)
    gt = (scene[y0:y0 + n, x0:x0 + n] + rng.normal(0, 20, (n, n))).astype(np.float32)
    moved = ndi.shift(scene, (dy, dx), order=3)[y0:y0 + n, x0:x0 + n]
    frame = (moved + rng.normal(0, 20, (n, n))).astype(np.float32)
    plain, refined = expect_refined(gt, [frame], 2, cfa="RGGB")
    assert plain.crops[0].tolist() == [2, 0]  # wrong: the truth is (1.95, -1.49)
    assert refined.crops[0].tolist() == [2, -2]
    np.testing.assert_allclose(refined.shifts[0], [-dy, -dx], atol=0.25)
    np.testing.assert_array_equal(refined.shifts[0] * 10, np.round(refined.shifts[0] * 10))
    assert refined.confidence[0] == plain.confidence[0] > 0.1
    assert "no least-squares fit" in refined.messages[0]
    assert refined.flags[0] == ptychopatch.AlignFlag.NO_FIT


def test_frames_without_the_fit_say_their_confidence_is_no_probability(camera):
    """Where the least-squares polish does not converge (frames of 32 pixels
    a side), confidence is the peak's margin, which on such frames does not
    tell right crops from wrong ones: each such frame's message says so
    (unless its confidence is 0 already, whose own note says why). Frames
    of 64 pixels are fitted and get no note where their confidence is
    above 0; nor does verify=False, whose confidence is always the margin
    (documented)."""
    ndi = _need("scipy.ndimage")
    rng = np.random.default_rng(208)
    scene = ndi.gaussian_filter(camera * 3000 + 200, 2)
    noted = 0
    for n in (32, 64):
        for _ in range(4):
            y0, x0 = rng.integers(40, 300, 2)
            shifts = rng.uniform(-3, 3, (2, 2))
            gt = (scene[y0:y0 + n, x0:x0 + n] + rng.normal(0, 20, (n, n))).astype(np.float32)
            frames = [(ndi.shift(scene, tuple(s), order=3)[y0:y0 + n, x0:x0 + n]
                       + rng.normal(0, 20, (n, n))).astype(np.float32) for s in shifts]
            result = ptychopatch.align_scene(gt, frames, cfa="RGGB")
            assert list(result.status) == [0, 0]
            flag = ptychopatch.AlignFlag
            for k, message in enumerate(result.messages):
                if n == 32 and result.confidence[k] > 0:
                    assert message.startswith(f"frames[{k}]: no least-squares fit"), message
                    assert "not a probability" in message
                    assert result.flags[k] == flag.NO_FIT
                    noted += 1
                elif result.confidence[k] == 0:
                    assert message.startswith(f"frames[{k}]: ") and "(confidence 0)" in message
                    assert result.flags[k] != 0, message  # each 0 says why
                else:
                    assert message == "", (n, result.confidence[k], message)
                    # A fitted probability: doubted where under 0.95.
                    low = flag.LOW_CONFIDENCE if result.confidence[k] < 0.95 else 0
                    assert result.flags[k] == low, (result.confidence[k], result.flags[k])
            coarse = ptychopatch.align_scene(gt, frames, cfa="RGGB", verify=False)
            assert list(coarse.messages) == ["", ""], n
            assert list(coarse.flags) == [0, 0], n
    assert noted >= 2


def test_right_crops_of_a_photograph_keep_their_confidence(camera):
    rng = np.random.default_rng(3)
    scene = camera * 3000 + 200
    gt = scene[64:320, 64:320] + rng.normal(0, 20, (256, 256))
    shifts = [(4, -6), (-10, 2), (3, 5), (0, 0)]
    frames = [scene[64 - dy:320 - dy, 64 - dx:320 - dx] + rng.normal(0, 20, (256, 256))
              for dy, dx in shifts]
    frames = [f.astype(np.float32) for f in frames]
    # Refined: the coarse crops, shifts placed by the fine stage.
    plain, refined = expect_refined(gt.astype(np.float32), frames, 2, cfa="BGGR")
    np.testing.assert_array_equal(refined.crops, plain.crops)
    np.testing.assert_allclose(refined.shifts, -np.array(shifts), atol=0.2)
    # Right crops of clean frames: the polish's crop probability near 1.
    assert np.all(refined.confidence >= 0.95), refined.confidence


def test_a_fixed_pattern_under_a_moving_scene_is_caught(camera):
    """Sensor-fixed 4 x 4 blocks under a smooth scene moved by (6, -4): the
    coarse stage locks onto the blocks (crop (0, 0), a high confidence);
    the fine stage follows the scene."""
    ndi = _need("scipy.ndimage")
    rng = np.random.default_rng(0)
    n = 128
    smooth = ndi.gaussian_filter(rng.random((n, n)), 6, mode="wrap")
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    blocks = np.kron(rng.random((n // 4, n // 4)), np.ones((4, 4)))
    gt = (1000 * (smooth + 0.3 * blocks) + 100).astype(np.float32)
    moved = (1000 * (np.roll(smooth, (6, -4), (0, 1)) + 0.3 * blocks) + 100).astype(np.float32)
    # The polish (its smoothing averages the blocks away) gives the scene's
    # crop the probability that it is right.
    plain, refined = expect_refined(gt, [moved], 2, cfa="RGGB")
    assert plain.crops[0].tolist() == [0, 0] and plain.confidence[0] > 0.3
    assert refined.crops[0].tolist() == [-6, 4]
    assert refined.confidence[0] > 0.95


def test_xtrans_and_planar_channels(camera):
    rng = np.random.default_rng(5)
    scene = camera * 3000 + 200
    gt = scene[:252, :252]
    frames = [np.roll(gt, s, (0, 1)) + rng.normal(0, 5, gt.shape) for s in [(6, -12), (3, 3)]]
    xtrans = ptychopatch.align_scene(gt.astype(np.float32),
                                     [f.astype(np.float32) for f in frames], cfa=XTRANS)
    np.testing.assert_array_equal(xtrans.crops, [[-6, 12], [-3, -3]])
    assert np.all(xtrans.confidence > 0.95), xtrans.confidence
    planar = np.stack([gt[:120, :100], gt[100:220, 100:200]])
    moved = [np.roll(planar, s, (1, 2)) for s in [(1, -3), (-5, 2)]]
    _, refined = expect_refined(planar, moved, 1)
    np.testing.assert_array_equal(refined.crops, [[-1, 3], [5, -2]])


def test_failed_frames_and_rawnind(camera):
    gt = (camera[:128, :128] * 4000).astype(np.float32)
    bad = gt.copy()
    bad[3, 4] = np.nan
    with pytest.warns(RuntimeWarning, match="1 of 2 frames"):
        r = ptychopatch.align_scene(gt, [bad, np.roll(gt, 2, 0)], cfa="RGGB")
    assert r.status[0] != 0 and r.confidence[0] == 0.0
    assert r.crops[1].tolist() == [-2, 0] and r.confidence[1] > 0.3
    with pytest.raises(PtychoPatchError, match=r'verify.*method="rawnind"'), \
            pytest.warns(DeprecationWarning):
        ptychopatch.align_scene(gt, [gt], cfa="RGGB", method="rawnind", verify=True)
    # RawNIND's method has no fine stage: its default and False agree.
    moved = np.roll(gt, (4, -6), (0, 1))
    rawnind = ptychopatch.align_scene(gt, [moved], cfa="RGGB", method="rawnind")
    off = ptychopatch.align_scene(gt, [moved], cfa="RGGB", method="rawnind", verify=False)
    np.testing.assert_array_equal(rawnind.shifts, off.shifts)
    for bad in ("yes", 2, "corrected"):
        with pytest.raises(ValueError, match="verify must be"):
            ptychopatch.align_scene(gt, [gt], cfa="RGGB", verify=bad)
    # Names are case-blind, as `normalization`'s, `method`'s and `cfa`'s.
    upper = ptychopatch.align_scene(gt, [moved], cfa="RGGB", verify="CHECK")
    lower = ptychopatch.align_scene(gt, [moved], cfa="RGGB", verify="check")
    np.testing.assert_array_equal(upper.shifts, lower.shifts)
    np.testing.assert_array_equal(upper.confidence, lower.confidence)
