"""Pictures of alignments (ptychopatch.plot, SceneAlignment.plot, align --plot).

Oracle for the views: a frame that is the GT translated by whole pixels,
cut by the crop that registers it, shows exactly the GT's content; the
checkerboard alternates squares of the two.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import ptychopatch
from ptychopatch import cli
from ptychopatch.plot import MATPLOTLIB_MISSING, aligned_views, draw_alignment

PNG = b"\x89PNG\r\n\x1a\n"


def _scene(rng, size=160):
    from scipy import ndimage

    big = ndimage.gaussian_filter(rng.random((size + 40, size + 40)), 3) * 4000 + 200
    gt = big[20:20 + size, 20:20 + size]
    return big, gt


@pytest.mark.parametrize("period", [1, 2, 6])
def test_views_of_a_right_crop_show_the_same_content(rng, period):
    big, gt = _scene(rng)
    frame = big[20 - 6:20 - 6 + 160, 20 + 12:20 + 12 + 160]  # GT row y is frame row y + 6
    g, f, checker = aligned_views(gt, frame, (-6, 12), period)
    np.testing.assert_allclose(f, g, rtol=1e-9)  # window sums from other prefix sums
    assert g.shape == (160 - period + 1 - 6, 160 - period + 1 - 12)
    side = min(g.shape) // 8
    assert np.array_equal(checker[:side, :side], g[:side, :side])          # a GT square
    np.testing.assert_allclose(checker[:side, side:2 * side], f[:side, side:2 * side])
    # A wrong crop: the two views differ.
    g2, f2, _ = aligned_views(gt, frame, (-4, 12), period)
    assert np.abs(f2 - g2).mean() > 0.05 * g2.std()
    with pytest.raises(ValueError, match="nothing in common"):
        aligned_views(gt, frame, (200, 0), period)
    with pytest.raises(ValueError, match="not the GT's"):
        aligned_views(gt, frame[:-2], (-6, 12), period)


def test_planar_channels_are_averaged(rng):
    _, gt = _scene(rng)
    stack = np.stack([gt, 2 * gt])
    g, f, _ = aligned_views(stack, stack, (0, 0), 1)
    np.testing.assert_allclose(g, 1.5 * gt)


def test_draw_writes_a_png_and_scene_alignment_plots_each_frame(rng, tmp_path):
    pytest.importorskip("matplotlib")
    big, gt = _scene(rng)
    frames = [big[14:174, 32:192], np.full_like(gt, np.nan)]
    path = draw_alignment(gt, frames[0], (-6, 12), str(tmp_path / "a" / "one.png"), "t", 2)
    assert open(path, "rb").read(8) == PNG
    with pytest.warns(RuntimeWarning):  # the NaN frame has no result
        r = ptychopatch.align_scene(gt.astype(np.float32), frames, cfa="RGGB", backend="cpu")
    assert r.crops[0].tolist() == [-6, 12] and r.status[1] != 0
    paths = r.plot(gt, frames, str(tmp_path / "b"), names=["moved", "broken"], cfa="RGGB")
    assert [p.split("/")[-1] for p in paths] == ["moved.png"]  # no picture without a result
    assert open(paths[0], "rb").read(8) == PNG
    with pytest.raises(ValueError, match="1 frames for an alignment of 2"):
        r.plot(gt, frames[:1], str(tmp_path / "c"))


def test_without_matplotlib_it_says_so(rng, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    _, gt = _scene(rng)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        draw_alignment(gt, gt, (0, 0), str(tmp_path / "x.png"))
    np.save(tmp_path / "gt.npy", gt.astype(np.uint16))
    code = cli.main(["align", str(tmp_path / "gt.npy"), str(tmp_path / "gt.npy"), "--cfa", "RGGB",
                     "--plot", str(tmp_path / "plots"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and MATPLOTLIB_MISSING in err, err
    assert not (tmp_path / "plots").exists()


def test_align_plot_draws_every_aligned_frame(rng, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    big, gt = _scene(rng)
    np.save(tmp_path / "gt.npy", gt.astype(np.uint16))
    np.save(tmp_path / "f1.npy", big[14:174, 32:192].astype(np.uint16))
    np.save(tmp_path / "f2.npy", big[24:184, 20:180].astype(np.uint16))
    code = cli.main(["align", str(tmp_path / "gt.npy"), str(tmp_path / "f1.npy"),
                     str(tmp_path / "f2.npy"), "--cfa", "RGGB", "--plot",
                     str(tmp_path / "plots"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    drawn = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert drawn == ["f1.npy.png", "f2.npy.png"]
    assert all((tmp_path / "plots" / name).read_bytes()[:8] == PNG for name in drawn)


def test_module_docstring_examples_run():
    import doctest

    from ptychopatch import plot

    failures, tried = doctest.testmod(plot, verbose=False, report=True)[:2]
    assert tried > 0 and failures == 0
