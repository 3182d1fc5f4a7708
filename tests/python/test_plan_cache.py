"""The alignment plans kept between calls (ptychopatch.align's plan cache).

Repeated `align_scene` calls on one shape reuse this thread's plan instead
of planning again (`phase_cross_correlation` makes none). Oracle: the same call with the
cache cleared first (a fresh plan), which must give bitwise the same
result; and the cache's own bookkeeping (what is kept, what is freed).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ptychopatch
from ptychopatch import align as align_module


def textured(shape, seed):
    rng = np.random.default_rng(seed)
    image = rng.standard_normal(shape)
    # Smooth it a little so the correlation peak is well defined.
    for axis in (0, 1):
        image = image + np.roll(image, 1, axis) + np.roll(image, -1, axis)
    return image


def scene(shape=(96, 128), shifts=((4, -6), (-2, 8)), seed=0):
    """A GT frame and its frames rolled by `shifts`: align_scene finds
    minus each roll (the shift that registers the frame onto the GT)."""
    gt = textured(shape, seed)
    frames = [np.roll(gt, s, (0, 1)) for s in shifts]
    return gt.astype(np.float32), [f.astype(np.float32) for f in frames]


def cached():
    return align_module._plan_cache()


@pytest.fixture(autouse=True)
def empty_cache():
    ptychopatch.clear_plan_cache()
    yield
    ptychopatch.clear_plan_cache()


def test_repeated_calls_reuse_one_plan_and_agree_bitwise_with_a_fresh_plan():
    gt, frames = scene()
    first = ptychopatch.align_scene(gt, frames)
    assert len(cached()) == 1
    plan = next(iter(cached().values()))
    # Another scene of the same shape: the same plan, its own reference.
    gt2, frames2 = scene(seed=1, shifts=((-8, 2), (0, 0)))
    second = ptychopatch.align_scene(gt2, frames2)
    assert next(iter(cached().values())) is plan
    np.testing.assert_array_equal(first.shifts, [[-4, 6], [2, -8]])
    np.testing.assert_array_equal(second.shifts, [[8, -2], [0, 0]])
    ptychopatch.clear_plan_cache()
    assert len(cached()) == 0
    fresh = ptychopatch.align_scene(gt2, frames2)
    for name in ("shifts", "crops", "confidence", "status", "plane_shifts", "planes_used"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(second, name), err_msg=name)


def test_phase_cross_correlation_keeps_no_alignment_plan():
    # It computes on the host whatever the backend (the alignment plan's
    # phase correlation is retired; it kept one plan here before), and a
    # cleared cache changes nothing.
    gt = textured((64, 80), 3)
    moving = np.roll(gt, (3, -5), (0, 1))
    first = ptychopatch.phase_cross_correlation(gt, moving, upsample_factor=10, backend="cpu")
    assert len(cached()) == 0
    again = ptychopatch.phase_cross_correlation(gt.astype(np.float32),
                                                moving.astype(np.float32),
                                                upsample_factor=10, backend="cpu")
    assert len(cached()) == 0
    np.testing.assert_array_equal(again[0], [-3, 5])
    again = ptychopatch.phase_cross_correlation(gt, moving, upsample_factor=10, backend="cpu")
    ptychopatch.clear_plan_cache()
    fresh = ptychopatch.phase_cross_correlation(gt, moving, upsample_factor=10, backend="cpu")
    for a, b, c in zip(first, again, fresh):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(first[0], [-3, 5])


def test_each_shape_and_option_set_has_its_own_plan_and_the_oldest_goes_first():
    limit = align_module._CACHED_PLANS_PER_THREAD
    shapes = [(40 + 8 * k, 48) for k in range(limit + 2)]
    for shape in shapes:
        gt, frames = scene(shape, shifts=((2, 2),))
        ptychopatch.align_scene(gt, frames)
    assert len(cached()) == limit
    # A key is the context handle, then ptp_align_desc, whose height is the
    # int64 after struct_size (see _native.AlignDesc).
    heights = sorted(int.from_bytes(key[16:24], "little") for key in cached())
    assert heights == [shape[0] for shape in shapes[-limit:]]
    # Options are part of the key: another upsampling factor, another plan.
    gt, frames = scene(shapes[-1], shifts=((2, 2),))
    ptychopatch.align_scene(gt, frames, upsample_factor=4)
    assert len(cached()) == limit


def test_a_progress_callback_is_not_left_on_the_cached_plan():
    gt, frames = scene()
    calls = []
    ptychopatch.align_scene(gt, frames, progress=lambda done, total: calls.append(done))
    assert calls == [1, 2]
    ptychopatch.align_scene(gt, frames)  # same plan, no callback any more
    assert calls == [1, 2]


def test_a_call_from_a_progress_callback_gets_its_own_plan():
    gt, frames = scene()
    ptychopatch.align_scene(gt, frames)  # a cached plan both calls could take
    inner = []

    def progress(done, total):
        inner.append(ptychopatch.align_scene(gt, frames[:1]).shifts[0].tolist())

    outer = ptychopatch.align_scene(gt, frames, progress=progress)
    np.testing.assert_array_equal(outer.shifts, [[-4, 6], [2, -8]])
    assert inner == [[-4.0, 6.0], [-4.0, 6.0]]


def test_a_cancelled_call_leaves_a_reusable_plan():
    gt, frames = scene()
    with pytest.raises(ptychopatch.PtychoPatchError) as info:
        ptychopatch.align_scene(gt, frames, progress=lambda done, total: False)
    assert np.isfinite(info.value.partial.shifts[0]).all()
    again = ptychopatch.align_scene(gt, frames)
    np.testing.assert_array_equal(again.shifts, [[-4, 6], [2, -8]])


def test_a_failed_call_frees_its_plan_instead_of_keeping_it():
    gt, frames = scene()
    bad = gt.copy()
    bad[0, 0] = np.float32(3e38)  # refused by the library as a reference
    bad[0, 1] = np.float32(-3e38)
    with pytest.raises(ptychopatch.PtychoPatchError):
        ptychopatch.align_scene(bad, frames)
    assert len(cached()) == 0
    np.testing.assert_array_equal(ptychopatch.align_scene(gt, frames).shifts,
                                  [[-4, 6], [2, -8]])


def test_threads_use_their_own_plans():
    scenes = [scene(seed=k, shifts=((k, -k), (2 * k, k))) for k in range(4)]
    expected = [-np.array([(k, -k), (2 * k, k)], float) for k in range(4)]
    failures = []

    def work(k):
        gt, frames = scenes[k % 4]
        try:
            for _ in range(5):
                got = ptychopatch.align_scene(gt, frames).shifts
                if not np.array_equal(got, expected[k % 4]):
                    failures.append((k, got))
            ptychopatch.clear_plan_cache()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append((k, exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
