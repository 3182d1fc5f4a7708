"""Ctrl-C during align_scene, extraction, grouping and reassembly: a
KeyboardInterrupt, soon (with the frames finished before it for
align_scene), and nothing printed or left behind.

The signal is a real SIGINT sent to this process (what Ctrl-C sends), from
the progress callback (deterministic) or from a timer thread while the
library works without a callback of the caller's.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import ptychopatch

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT here")


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Python's own SIGINT handler, as in an interactive session. A process
    started in the background by a shell without job control (nohup, `&`
    in a script) inherits SIGINT ignored, and Python then installs no
    handler: Ctrl-C would do nothing there, with or without the library."""
    inherited = signal.getsignal(signal.SIGINT)
    if inherited is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, inherited)


def scene(frames: int, size: int = 128):
    rng = np.random.default_rng(3)
    gt = (rng.random((size, size)) * 4000).astype(np.uint16)
    return gt, [np.roll(gt, (2 * (k % 3), -2), axis=(0, 1)) for k in range(frames)]


def interrupt_self():
    os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_from_the_progress_callback_raises_keyboard_interrupt(capfd):
    gt, frames = scene(12)
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 3:
            interrupt_self()

    with pytest.raises(KeyboardInterrupt) as info:
        ptychopatch.align_scene(gt, frames, cfa="RGGB", progress=progress)
    partial = info.value.partial
    # Stopped after the frame in hand: frames 1-3 (the signal may be taken
    # only after the callback returned: then the next frame finishes too).
    done = int(partial.ok.sum())
    assert seen == [1, 2, 3] and done in (3, 4)
    assert partial.ok[:done].all() and not partial.ok[done:].any()
    np.testing.assert_array_equal(partial.crops[:3], [[0, 2], [-2, 2], [-4, 2]])
    assert set(partial.status_names[done:]) == {"PTP_ERROR_CANCELLED"}
    assert "Exception ignored" not in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # Nothing left behind: the next call is whole.
    again = ptychopatch.align_scene(gt, frames, cfa="RGGB")
    assert again.ok.all()


@pytest.mark.slow
def test_ctrl_c_without_a_progress_callback_stops_the_call():
    # Long enough (well over a second) that the signal, 0.3 s in, lands
    # inside the library's call, after align_scene's own checks.
    gt, frames = scene(1000, size=256)
    timer = threading.Timer(0.3, interrupt_self)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ptychopatch.align_scene(gt, frames, cfa="RGGB")
    finally:
        timer.cancel()
    partial = info.value.partial
    done = int(partial.ok.sum())
    # Stopped before the end. On a heavily loaded machine the signal can
    # land before the first frame is finished (done == 0); that finished
    # frames are kept is shown deterministically by the test above.
    assert done < len(frames)
    assert partial.ok[:done].all() and not partial.ok[done:].any()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_program_s_own_sigint_handler_is_left_alone():
    gt, frames = scene(6)
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        result = ptychopatch.align_scene(
            gt, frames, cfa="RGGB",
            progress=lambda done, total: interrupt_self() if done == 2 else None)
        assert result.ok.all()  # the program's handler decides: it did not stop anything
        assert caught == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_outside_the_main_thread_nothing_is_installed():
    gt, frames = scene(4)
    results = []
    worker = threading.Thread(
        target=lambda: results.append(ptychopatch.align_scene(gt, frames, cfa="RGGB")))
    worker.start()
    worker.join()
    assert results and results[0].ok.all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------- extraction, grouping, reassembly
#
# Ctrl-C during a long extraction, grouping or reassembly: the progress
# callback the binding always installs notices it at the library's next
# report (about every 0.1 s of work), the call stops, KeyboardInterrupt
# follows within a second, and the next call works. The reports recorded
# show the call stopped before its end.


# "Within about a second": the library reports every ~0.1 s of work (the
# delays measured here, on a loaded two-core machine: 0.001 to 0.11 s).
WITHIN = 1.0


SENT: list = []  # when the SIGINT of the running test was sent
REPORTS: list = []  # when the recorder's callback was called, this test


def soon(delay, chunk=0.0):
    """Whether the KeyboardInterrupt came soon: within WITHIN, or, where
    other load slows the machine down, within three of the longest gaps
    between the library's reports before the signal (or three times
    `chunk`, a report's worth of work timed just before). A library that
    did not stop at its next report would take many gaps."""
    before = [t for t in REPORTS if not SENT or t <= SENT[0]]
    gaps = [b - a for a, b in zip(before, before[1:])] + [chunk]
    return delay < max(WITHIN, 3 * max(gaps))


def fire():
    SENT.append(time.monotonic())
    interrupt_self()


def interrupted(call, after=0.3):
    """Runs call() with a SIGINT sent `after` seconds in by a timer thread,
    or, with after=None, by the call's progress callback (recorder's, on
    its first report of work done: inside the library's call whatever the
    machine's speed); returns the seconds from the signal to the
    KeyboardInterrupt."""
    SENT.clear()
    REPORTS.clear()
    timer = threading.Timer(after, fire) if after is not None else None
    if timer is not None:
        timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
        raised = time.monotonic()
    finally:
        if timer is not None:
            timer.cancel()
    assert SENT, "the call ended before the signal: make it longer"
    print(f"KeyboardInterrupt {raised - SENT[0]:.3f} s after the signal")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    return raised - SENT[0]


def recorder(interrupt=True):
    """A progress callback recording (done, total); with `interrupt` it
    sends the SIGINT on its first report of work done."""
    seen = []

    def progress(done, total):
        seen.append((done, total))
        REPORTS.append(time.monotonic())
        if interrupt and done > 0 and not SENT:
            fire()

    return seen, progress


def long_extraction(patches=24_000, n=48):
    rng = np.random.default_rng(5)
    obj = (rng.random((512, 512)) + 1j * rng.random((512, 512))).astype(np.complex64)
    offsets = rng.uniform(0, 512, (patches // 4, 4, 2))
    return obj, offsets, n


@pytest.mark.slow
def test_ctrl_c_stops_a_long_extraction_and_marks_out_incomplete():
    obj, offsets, n = long_extraction()
    out = np.ones((offsets.shape[0], n, n, 4), np.complex64)  # a reused (touched) array
    seen, progress = recorder()
    delay = interrupted(lambda: ptychopatch.extract_patches(
        obj, offsets, n, backend="cpu", out=out, progress=progress), after=None)
    assert soon(delay)
    total = offsets.shape[0] * 4
    assert seen and seen[-1][0] < total  # stopped before its end
    # A partly written out= never passes for a result.
    assert np.isnan(out.real).all()
    small = offsets[:50]
    np.testing.assert_array_equal(
        ptychopatch.extract_patches(obj, small, n, backend="cpu"),
        ptychopatch.extract_patches(obj, small, n, backend="cpu", progress=lambda d, t: True))


def test_ctrl_c_stops_a_long_extraction_without_a_callback():
    obj, offsets, n = long_extraction()
    # No callback: a timer sends the signal, into one of several calls in a
    # row (one may end before it on a fast machine).
    def calls():
        for _ in range(20):
            ptychopatch.extract_patches(obj, offsets, n, backend="cpu")

    start = time.monotonic()  # a hundredth of the work: about one report's
    ptychopatch.extract_patches(obj, offsets[: len(offsets) // 100], n, backend="cpu")
    assert soon(interrupted(calls), chunk=time.monotonic() - start)
    again = ptychopatch.extract_patches(obj, offsets[:10], n, backend="cpu")
    assert again.shape == (10, n, n, 4)


def test_ctrl_c_stops_get_image_patches():
    obj, offsets, n = long_extraction()
    b = offsets.shape[0]
    centre = offsets.mean(axis=1)
    g = centre.reshape(b, 1, 2, 1)
    loc = (offsets - centre[:, None, :]).transpose(0, 2, 1).reshape(b, 1, 2, 4)
    seen, progress = recorder()
    assert soon(interrupted(lambda: ptychopatch.get_image_patches(
        obj, g, loc, n, 2, backend="cpu", progress=progress), after=None))
    assert seen and seen[-1][0] < 4 * b


def test_ctrl_c_stops_a_long_reassembly():
    rng = np.random.default_rng(6)
    patches = rng.random((8_000, 48, 48, 4), dtype=np.float32)
    offsets = rng.uniform(0, 512, (8_000, 4, 2))
    canvas = np.zeros((512, 512), np.float32)
    weights = np.zeros((512, 512), np.float32)
    seen, progress = recorder()
    delay = interrupted(lambda: ptychopatch.reassemble_patches(
        patches, offsets, (512, 512), backend="cpu", out=canvas, weights_out=weights,
        progress=progress), after=None)
    assert soon(delay)
    assert seen and seen[-1][0] < 32_000
    assert np.isnan(canvas).all() and np.isnan(weights).all()
    whole = ptychopatch.reassemble_patches(patches[:100], offsets[:100], (512, 512),
                                           backend="cpu")
    again = ptychopatch.reassemble_patches(patches[:100], offsets[:100], (512, 512),
                                           backend="cpu", out=canvas, weights_out=weights)
    np.testing.assert_array_equal(again.canvas, whole.canvas)


def long_scan(n=400_000):
    rng = np.random.default_rng(7)
    return rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)


def test_ctrl_c_stops_a_long_grouping():
    x, y = long_scan()
    seen, progress = recorder()
    delay = interrupted(lambda: ptychopatch.group_neighbors(
        x, y, len(x), K=8, gridsize=2, seed=1, num_threads=0, progress=progress), after=None)
    assert soon(delay)
    assert seen and seen[-1][0] < len(x)
    d = ptychopatch.group_neighbors(x[:1000], y[:1000], 100, K=8, gridsize=2, seed=1)
    assert d["nn_indices"].shape == (100, 4)


def test_ctrl_c_stops_grouped_patches_and_marks_out_incomplete():
    x, y = long_scan()
    obj = np.ones((5000, 5000), np.float32)
    b = 150_000
    out = np.ones((b, 8, 8, 4), np.float32)
    seen, progress = recorder()
    delay = interrupted(lambda: ptychopatch.grouped_patches(
        obj, x, y, 8, b, K=8, gridsize=2, seed=1, backend="cpu", out=out, progress=progress),
        after=None)
    assert soon(delay)
    assert seen and seen[-1][0] < b + 4 * b
    assert np.isnan(out).all()
