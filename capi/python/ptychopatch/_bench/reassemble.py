"""Reassembly cases: the library's reassemble_patches against a numpy
``np.add.at`` scatter of the same patches at the same offsets, and the copy
bound (reading the patches' bytes once).

>>> import numpy as np
>>> canvas, weights = add_at(np.ones((1, 2, 2), np.complex64), np.array([[2.0, 2.0]]), 4, 4)
>>> float(weights.sum()), complex(canvas.sum())
(4.0, (4+0j))
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from .registry import Entry, Impl

#: Patches scattered by one np.add.at call: bounds the index arrays
#: (4 corners x N x N int64 per patch) to a few tens of MB.
CHUNK = 256


def add_at(patches: np.ndarray, offsets_xy: np.ndarray, height: int,
           width: int) -> Tuple[np.ndarray, np.ndarray]:
    """(canvas complex64, weights float32) of shape (height, width): every
    patch pixel added at the four pixels extraction samples it from, times
    the same float32 bilinear weights, by np.add.at on a canvas padded by
    N // 2 (corners in the padding dropped with it)."""
    count, N = patches.shape[0], patches.shape[1]
    h = N // 2
    hp, wp = height + 2 * h, width + 2 * h
    canvas = np.zeros(hp * wp + 1, np.complex64)  # the last cell: outside corners
    weights = np.zeros(hp * wp + 1, np.float32)
    pos = np.arange(N, dtype=np.float32)
    off = np.asarray(offsets_xy, np.float32)
    for start in range(0, count, CHUNK):
        o = off[start:start + CHUNK]
        sx = pos[None, None, :] + o[:, 0, None, None]  # float32 sums, as extraction
        sy = pos[None, :, None] + o[:, 1, None, None]
        x0, y0 = np.floor(sx), np.floor(sy)
        wx, wy = sx - x0, sy - y0
        values = patches[start:start + CHUNK]
        for dy, wy_term in ((0, 1 - wy), (1, wy)):
            for dx, wx_term in ((0, 1 - wx), (1, wx)):
                yi = np.broadcast_to(y0 + dy, values.shape)
                xi = np.broadcast_to(x0 + dx, values.shape)
                inside = (yi >= 0) & (yi < hp) & (xi >= 0) & (xi < wp)
                index = np.where(inside, yi * wp + xi, hp * wp).astype(np.intp)
                w = wx_term * wy_term
                np.add.at(canvas, index, w * values)
                np.add.at(weights, index, np.broadcast_to(w, values.shape))
    crop = (slice(h, h + height), slice(h, h + width))
    return canvas[:-1].reshape(hp, wp)[crop], weights[:-1].reshape(hp, wp)[crop]


def relative_check(rtol: float):
    """A check on (canvas, weights) pairs: max difference <= rtol times the
    largest magnitude (float32 sums in another order differ by rounding)."""
    def check(theirs, ours):
        worst = 0.0
        for a, b in zip(theirs, ours):
            a, b = np.asarray(a), np.asarray(b)
            scale = max(float(np.max(np.abs(b))), 1e-30)
            worst = max(worst, float(np.max(np.abs(a - b))) / scale)
        return {"ok": worst <= rtol, "max_rel_diff": worst, "tolerance": rtol}

    return check


def entries(patches: np.ndarray, offsets_xy: np.ndarray, shape: Tuple[int, int],
            threads: int) -> List[Entry]:
    """The library, np.add.at and the copy limit for one reassembly case."""
    from .. import reassemble_patches

    count = len(patches)
    target = np.empty_like(patches)
    target.fill(0)
    return [
        Impl("ptychopatch", "ours", items=count, threads=threads,
             run=lambda: tuple(reassemble_patches(patches, offsets_xy, shape, layout="flat",
                                                  backend="cpu", num_threads=threads))),
        Impl("numpy np.add.at", "peer", items=count, threads=1,
             run=lambda: add_at(patches, offsets_xy, *shape), check=relative_check(1e-4),
             note=f"scatter in chunks of {CHUNK} patches"),
        Impl("copy of the patch bytes", "limit", items=count, threads=1,
             run=lambda: np.copyto(target, patches),
             note="numpy copyto, one core: the bandwidth bound of reading the patches"),
    ]
