"""Ctrl-C during align_scene: a KeyboardInterrupt, soon, with the frames
finished before it, and nothing printed or left behind.

The signal is a real SIGINT sent to this process (what Ctrl-C sends), from
the progress callback (deterministic) or from a timer thread while the
library works without a callback of the caller's.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

import ptychopatch

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT here")


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
    assert 0 < done < len(frames)
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
