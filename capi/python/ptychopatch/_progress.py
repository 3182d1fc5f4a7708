"""Progress reports and Ctrl-C during long library calls (private).

Every long call (align_scene, extraction, grouping, reassembly) installs a
C progress callback, `Progress`, whether or not the caller asked for
progress: the library calls it on the calling thread between pieces of
work, and it is what notices a Ctrl-C and stops the call. `deferred_interrupt`
turns SIGINT during the call into a flag the callback reads (Python can
only print an exception raised inside a ctypes callback and carry on); the
caller raises KeyboardInterrupt once the library has returned.

`progress=` arguments: None (no report; Ctrl-C still handled), True (a
progress bar on stderr: tqdm's where tqdm is importable, else a one-line
text bar), or a callable ``progress(done, total)`` that returns False (or
any false value other than None) to cancel.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional, TextIO

from . import _native

# progress(done, total): return False to cancel (None or True go on).
ProgressCallback = Callable[[int, int], Optional[bool]]
# What a progress= argument takes.
ProgressArgument = Any


class ProgressBar:
    """A one-line text progress bar on a stream (no dependency).

    `update` may be called from a library thread (align_scene's callback)
    and is throttled so that a fast run does not flood the terminal.
    """

    def __init__(self, total: int, stream: TextIO, label: str = "frames",
                 width: int = 30, interval: float = 0.1) -> None:
        self.total, self.stream, self.label, self.width = total, stream, label, width
        self.interval = interval
        self.start = time.monotonic()
        self.last_draw = -math.inf
        self.done = 0
        self.lock = threading.Lock()

    def update(self, done: int, _total: Optional[int] = None) -> None:
        with self.lock:
            self.done = max(self.done, min(done, self.total))
            now = time.monotonic()
            if self.done < self.total and now - self.last_draw < self.interval:
                return
            self.last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} "
                          f"{now - self.start:5.1f} s")
        self.stream.flush()

    def close(self) -> None:
        with self.lock:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


class _Bar:
    """progress=True: a bar made at the first report (when the total is
    known) and closed after the call; tqdm's when importable."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is optional
                self.bar = ProgressBar(total, sys.stderr, self.label)
            else:
                unit = {"patches": "patch", "groups": "group", "frames": "frame"}
                self.bar = tqdm(total=total, unit=unit.get(self.label, "it"), desc=self.label)
        if isinstance(self.bar, ProgressBar):
            self.bar.update(done)
        else:
            self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def callback(progress: ProgressArgument, label: str) -> Optional[ProgressCallback]:
    """The callable behind a progress= argument: None, a bar for True, the
    callable itself; TypeError for anything else (False is None)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return _Bar(label)
    if not callable(progress):
        raise TypeError(
            f"progress must be None, True or a callable progress(done, total), got "
            f"{type(progress).__name__}")
    return progress


class Progress:
    """The C progress callback around a Python callable (or none), which
    also stops the call after a Ctrl-C (`interrupted`, set by
    deferred_interrupt).

    No exception may leave a ctypes callback (ctypes would print it and
    return 0, i.e. carry on), so one raised by the callable is kept, the
    call is cancelled, and the exception is raised again after the call.
    """

    def __init__(self, callback: Optional[ProgressCallback]) -> None:
        self.callback = callback
        self.error: Optional[BaseException] = None
        self.interrupted = False
        self.function = _native.PROGRESS_FN(self._call)

    def _call(self, done: int, total: int, _user_data: Any) -> int:
        try:
            if self.error is not None or self.interrupted:
                return 1
            if self.callback is None:
                return 0
            keep_going = self.callback(int(done), int(total))
            # The truth test too may raise (a numpy array, say).
            go_on = keep_going is None or bool(keep_going)
            return 0 if go_on and not self.interrupted else 1
        except BaseException as exc:  # noqa: BLE001 - re-raised after the call
            self.error = exc
            return 1

    def close(self) -> None:
        """Closes a bar made for progress=True."""
        close = getattr(self.callback, "close", None)
        if isinstance(self.callback, _Bar) and close is not None:
            close()


@contextlib.contextmanager
def deferred_interrupt(watcher: Progress) -> Iterator[None]:
    """Ctrl-C during the library's call: noted (the progress callback then
    stops the call at its next report) instead of raised inside a ctypes
    callback, where Python could only print it and carry on. The caller
    raises KeyboardInterrupt after the call. Only in the main thread (where
    Python takes signals) and only over Python's own SIGINT handler (a
    program's own handler is left alone)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def note(_signum, _frame):
        watcher.interrupted = True

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def reported(progress: ProgressArgument, label: str,
             on_stop: Optional[Callable[[], None]] = None) -> Iterator[Progress]:
    """One library call with progress and Ctrl-C (extraction, grouping,
    reassembly): yields the `Progress` whose .function the call installs.
    If the call was stopped — by Ctrl-C, by the callback returning False,
    or by an exception the callback raised — `on_stop()` runs first (it
    marks a caller's output as incomplete), then KeyboardInterrupt, the
    callback's exception, or the library's PTP_ERROR_CANCELLED is raised."""
    watcher = Progress(callback(progress, label))
    stopped = False
    try:
        with deferred_interrupt(watcher):
            try:
                yield watcher
            except Exception as err:
                stopped = getattr(err, "status", None) == _native.PTP_ERROR_CANCELLED
                if stopped and on_stop is not None:
                    on_stop()
                if watcher.interrupted and watcher.error is None and stopped:
                    raise KeyboardInterrupt from None
                if watcher.error is not None and stopped:
                    raise watcher.error from None
                raise
    finally:
        watcher.close()
    # A Ctrl-C that came after the last report (the call finished, its
    # output is whole) still interrupts, as Python would right after the call.
    if watcher.interrupted:
        raise KeyboardInterrupt
    if watcher.error is not None:
        raise watcher.error
