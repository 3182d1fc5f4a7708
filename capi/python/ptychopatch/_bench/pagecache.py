"""Cold reads for the dataset curves: evicting input files from the page
cache, checking that they were evicted, and the storage's sequential read
bandwidth on the same files.

Why: a benchmark that writes its inputs and then reads them reads memory,
not storage, so it cannot show where a dataset run becomes I/O-bound.
``posix_fadvise(POSIX_FADV_DONTNEED)`` drops a file's clean pages without
root (dirty ones are kept, hence the fsync first); whether it worked is
checked with mincore(2) rather than assumed (tmpfs, for one, ignores it).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "f")
>>> with open(path, "wb") as f:
...     _ = f.write(b"x" * (1 << 20))
>>> read_files([path])
1048576
>>> flush([path]); evict([path]); fraction = resident_fraction([path])
>>> fraction is None or 0.0 <= fraction <= 1.0
True
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Optional, Sequence

_libc = None


def _mincore_libc():
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.c_ubyte)]
        _libc = libc
    return _libc


def available() -> Optional[str]:
    """None where files can be evicted here, else why not (the note of a
    Skipped cold variant)."""
    if not hasattr(os, "posix_fadvise"):
        return "os.posix_fadvise is not available on this system (no cold-read variant)"
    return None


def flush(paths: Sequence[str]) -> None:
    """Writes the files' dirty pages to storage: `evict` drops clean pages
    only, so files just written must be flushed once first. Separate from
    `evict` because an fsync costs milliseconds a file even when there is
    nothing to write (a journal commit), which a timed run must not include."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def evict(paths: Sequence[str]) -> None:
    """Drops the files' clean pages from the page cache (`flush` first)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_fraction(paths: Sequence[str]) -> Optional[float]:
    """Fraction of the files' pages in the page cache (mincore over a
    read-only mapping, which reads no page), or None where it cannot be
    asked."""
    try:
        libc = _mincore_libc()
    except (OSError, AttributeError):
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    resident = total = 0
    for path in paths:
        size = os.path.getsize(path)
        if size == 0:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
            if addr in (None, ctypes.c_void_p(-1).value):
                return None
            try:
                pages = (size + page - 1) // page
                vec = (ctypes.c_ubyte * pages)()
                if libc.mincore(addr, size, vec) != 0:
                    return None
                resident += sum(v & 1 for v in vec)
                total += pages
            finally:
                libc.munmap(addr, size)
        finally:
            os.close(fd)
    return resident / total if total else None


def read_files(paths: Sequence[str], block: int = 1 << 20) -> int:
    """Reads every file whole, in order, `block` bytes a call; bytes read."""
    buffer = bytearray(block)
    view = memoryview(buffer)
    done = 0
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(view)
                if not n:
                    break
                done += n
    return done


def eviction_evidence(paths: Sequence[str]) -> str:
    """Flushes the files, then words for a note: residency before and
    after evicting, the time the eviction took, and of a read of the files
    warm and cold (a cold read that is not slower than a warm one means
    the eviction did not reach storage)."""
    flush(paths)
    read_files(paths)
    before = resident_fraction(paths)
    start = time.perf_counter()
    size = read_files(paths)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    evict(paths)
    evicting = time.perf_counter() - start
    after = resident_fraction(paths)
    start = time.perf_counter()
    read_files(paths)
    cold = time.perf_counter() - start

    def pct(f: Optional[float]) -> str:
        return "unknown" if f is None else f"{100 * f:.0f}%"

    return (f"page cache holds {pct(before)} of the inputs before eviction, {pct(after)} "
            f"after (evicting took {evicting * 1e3:.1f} ms); reading their "
            f"{size / 1e6:.1f} MB took {warm * 1e3:.1f} ms warm, {cold * 1e3:.1f} ms cold")
