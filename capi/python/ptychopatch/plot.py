"""Pictures of scene alignments: the GT frame beside the aligned frame.

`aligned_views` cuts the GT frame and a frame moved by its crop to what
they share and makes both displayable (the mosaic averaged away);
`draw_alignment` draws them with a checkerboard of the two, where a wrong
crop shows as edges broken at the squares' borders, and the crop,
confidence and flags in the title. matplotlib is optional: without it
`draw_alignment` raises ImportError saying so.

>>> import numpy as np
>>> gt = np.arange(64.0 * 64).reshape(64, 64)
>>> views = aligned_views(gt, np.roll(gt, (2, -4), (0, 1)), (-2, 4), period=2)
>>> [v.shape for v in views]
[(61, 59), (61, 59), (61, 59)]
>>> bool(np.array_equal(views[0], views[1]))
True
"""

from __future__ import annotations

import os
from typing import Sequence, Tuple

import numpy as np

#: Squares of the checkerboard per side of the shorter axis.
CHECKER_SQUARES = 8

MATPLOTLIB_MISSING = ("matplotlib is not installed (pip install matplotlib): it draws the "
                      "pictures of alignments")


def _luminance(frame: np.ndarray, period: int) -> np.ndarray:
    """The mean of every period x period window (the mosaic cancels), of the
    channels' mean for a (channels, H, W) frame; (H - P + 1, W - P + 1)."""
    x = np.asarray(frame, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=0)
    s = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), axis=0), axis=1)
    p = max(int(period), 1)
    return (s[p:, p:] - s[:-p, p:] - s[p:, :-p] + s[:-p, :-p]) / (p * p)


def aligned_views(gt: np.ndarray, frame: np.ndarray, crop: Sequence[int],
                  period: int = 1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(GT, aligned frame, checkerboard) over what the two share under `crop`.

    `crop` (cy, cx) registers the frame onto the GT as `align_scene`'s
    crops do: GT row y shows what frame row y - cy shows. Both views are
    the luminance (`period` x `period` window means; 1 without a pattern,
    2 Bayer, 6 X-Trans) of that shared part; the checkerboard takes its
    squares alternately from each, the frame's scaled to the GT's mean and
    spread.
    """
    if np.shape(gt) != np.shape(frame):
        raise ValueError(f"the frame's shape {np.shape(frame)} is not the GT's {np.shape(gt)}")
    g, f = _luminance(gt, period), _luminance(frame, period)
    cy, cx = (int(c) for c in crop)
    rows, cols = g.shape
    top, left = max(cy, 0), max(cx, 0)
    bottom, right = min(rows, rows + cy), min(cols, cols + cx)
    if bottom <= top or right <= left:
        raise ValueError(f"crop {tuple(crop)} leaves the frames nothing in common")
    g = g[top:bottom, left:right]
    f = f[top - cy:bottom - cy, left - cx:right - cx]
    spread = f.std()
    matched = (f - f.mean()) * (g.std() / spread if spread > 0 else 1.0) + g.mean()
    side = max(min(g.shape) // CHECKER_SQUARES, 1)
    yy, xx = np.indices(g.shape)
    checker = np.where(((yy // side) + (xx // side)) % 2 == 0, g, matched)
    return g, f, checker


def draw_alignment(gt: np.ndarray, frame: np.ndarray, crop: Sequence[int], path: str,
                   title: str = "", period: int = 1) -> str:
    """Draws `aligned_views` side by side into the PNG `path`; returns it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(MATPLOTLIB_MISSING) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    views = aligned_views(gt, frame, crop, period)
    low, high = np.percentile(views[0], [1, 99])
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), constrained_layout=True)
    for ax, view, name in zip(axes, views, ("GT", "frame, cropped", "checkerboard")):
        ax.imshow(view, cmap="gray", vmin=low, vmax=high if high > low else low + 1)
        ax.set_title(name)
        ax.set_axis_off()
    fig.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
