"""progress= on extract_patches, get_image_patches, group_neighbors,
grouped_patches and reassemble_patches: a callable(done, total) gets counts
from 0 to the total and cancels by returning False; True draws a bar (tqdm's
when importable, else a text bar on stderr); bad values are a TypeError;
results never depend on it."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import ptychopatch


def scan(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2000, n), rng.uniform(0, 2000, n)


def extraction(patches=8_000):
    rng = np.random.default_rng(2)
    obj = (rng.random((256, 256)) + 1j * rng.random((256, 256))).astype(np.complex64)
    return obj, rng.uniform(0, 256, (patches // 4, 4, 2))


def check_counts(seen, total):
    assert seen[0] == (0, total)
    assert all(t == total for _, t in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert done[-1] == total


def calls():
    seen = []
    return seen, lambda done, total: seen.append((done, total))


def test_extract_patches_reports_and_changes_nothing():
    obj, offsets = extraction()
    seen, progress = calls()
    got = ptychopatch.extract_patches(obj, offsets, 16, backend="cpu", progress=progress)
    check_counts(seen, offsets.shape[0] * 4)
    assert len(seen) > 20
    np.testing.assert_array_equal(got, ptychopatch.extract_patches(obj, offsets, 16,
                                                                   backend="cpu"))


def test_get_image_patches_reports():
    obj, offsets = extraction(400)
    b = offsets.shape[0]
    g = np.zeros((b, 1, 2, 1)) + 100.0
    loc = offsets.transpose(0, 2, 1).reshape(b, 1, 2, 4) - 100.0
    seen, progress = calls()
    got = ptychopatch.get_image_patches(obj, g, loc, 8, 2, backend="cpu", progress=progress)
    check_counts(seen, 4 * b)
    np.testing.assert_array_equal(got, ptychopatch.get_image_patches(obj, g, loc, 8, 2,
                                                                     backend="cpu"))


def test_reassemble_patches_reports_and_is_bitwise_the_same():
    obj, offsets = extraction()
    patches = ptychopatch.extract_patches(obj, offsets, 16, backend="cpu")
    seen, progress = calls()
    got = ptychopatch.reassemble_patches(patches, offsets, obj.shape, backend="cpu",
                                         progress=progress)
    want = ptychopatch.reassemble_patches(patches, offsets, obj.shape, backend="cpu")
    check_counts(seen, offsets.shape[0] * 4)
    assert got.canvas.tobytes() == want.canvas.tobytes()
    assert got.weights.tobytes() == want.weights.tobytes()


def test_group_neighbors_reports_groups():
    x, y = scan()
    seen, progress = calls()
    got = ptychopatch.group_neighbors(x, y, 10_000, K=8, gridsize=2, seed=3, progress=progress)
    check_counts(seen, 10_000)
    want = ptychopatch.group_neighbors(x, y, 10_000, K=8, gridsize=2, seed=3)
    np.testing.assert_array_equal(got["nn_indices"], want["nn_indices"])


def test_grouped_patches_counts_groups_then_patches():
    x, y = scan()
    obj = np.ones((2000, 2000), np.float32)
    seen, progress = calls()
    got = ptychopatch.grouped_patches(obj, x, y, 8, 5_000, K=8, gridsize=2, seed=3,
                                      backend="cpu", progress=progress)
    check_counts(seen, 5_000 + 4 * 5_000)
    assert any(d == 5_000 for d, _ in seen)
    want = ptychopatch.grouped_patches(obj, x, y, 8, 5_000, K=8, gridsize=2, seed=3,
                                       backend="cpu")
    np.testing.assert_array_equal(got["Y"], want["Y"])


def test_returning_false_cancels_and_marks_out_incomplete():
    obj, offsets = extraction()
    out = np.zeros((offsets.shape[0], 16, 16, 4), np.complex64)
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.extract_patches(obj, offsets, 16, backend="cpu", out=out,
                                    progress=lambda done, total: done < total // 2)
    assert info.value.status_name == "PTP_ERROR_CANCELLED"
    assert np.isnan(out.real).all()
    # The next call, into the same out=, is whole.
    got = ptychopatch.extract_patches(obj, offsets, 16, backend="cpu", out=out)
    assert got is out and not np.isnan(out.real).any()


def test_an_exception_in_the_callback_is_raised_after_the_call():
    x, y = scan()

    def explode(done, total):
        if done > 0:
            raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        ptychopatch.group_neighbors(x, y, 10_000, K=8, gridsize=2, seed=3, progress=explode)
    canvas = np.zeros((64, 64), np.float32)
    patches = np.ones((100, 8, 8, 1), np.float32)
    offsets = np.full((100, 1, 2), 30.0)
    with pytest.raises(ValueError, match="from the callback"):
        ptychopatch.reassemble_patches(patches, offsets, (64, 64), backend="cpu", out=canvas,
                                       progress=explode)
    assert np.isnan(canvas).all()


@pytest.mark.parametrize("bad", [5, "yes", object()])
def test_a_bad_progress_is_a_type_error(bad):
    obj, offsets = extraction(8)
    with pytest.raises(TypeError, match="progress"):
        ptychopatch.extract_patches(obj, offsets, 8, progress=bad)
    x, y = scan(100)
    with pytest.raises(TypeError, match="progress"):
        ptychopatch.group_neighbors(x, y, 10, progress=bad)


def test_progress_true_without_tqdm_draws_a_text_bar(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    obj, offsets = extraction()
    ptychopatch.extract_patches(obj, offsets, 16, backend="cpu", progress=True)
    err = capsys.readouterr().err
    total = offsets.shape[0] * 4
    assert f"patches [{'#' * 30}] {total}/{total}" in err and err.endswith("\n")
    x, y = scan(1000)
    ptychopatch.group_neighbors(x, y, 100, progress=True)
    assert "groups [" in capsys.readouterr().err


def test_progress_true_uses_tqdm_when_importable(monkeypatch):
    bars = []

    class FakeTqdm:
        def __init__(self, total, unit, desc):
            self.total, self.unit, self.desc, self.n, self.closed = total, unit, desc, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeTqdm
    package = types.ModuleType("tqdm")
    package.auto = auto
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    obj, offsets = extraction()
    patches = ptychopatch.extract_patches(obj, offsets, 16, backend="cpu", progress=True)
    ptychopatch.reassemble_patches(patches, offsets, obj.shape, backend="cpu", progress=True)
    total = offsets.shape[0] * 4
    assert [(b.total, b.n, b.unit, b.closed) for b in bars] == [(total, total, "patch", True)] * 2


def test_progress_false_and_none_report_nothing(capsys):
    obj, offsets = extraction(40)
    for value in (None, False):
        ptychopatch.extract_patches(obj, offsets, 8, backend="cpu", progress=value)
    assert capsys.readouterr().err == ""


def test_reassemble_grouped_reports_and_changes_nothing():
    x, y = scan(2_000, seed=5)
    obj = np.ones((2100, 2100), np.complex64)
    grouped = ptychopatch.grouped_patches(obj, x + 50, y + 50, 16, 500, seed=4, backend="cpu")
    seen, progress = calls()
    got = ptychopatch.reassemble_grouped(grouped["Y"], grouped, obj.shape, backend="cpu",
                                         progress=progress)
    check_counts(seen, 500 * 4)
    plain = ptychopatch.reassemble_grouped(grouped["Y"], grouped, obj.shape, backend="cpu")
    np.testing.assert_array_equal(got.canvas, plain.canvas)
    np.testing.assert_array_equal(got.weights, plain.weights)
