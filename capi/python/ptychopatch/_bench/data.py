"""Synthetic inputs of the benchmark cases, made from a seed.

Every implementation of a case (the library and each peer) is handed the
same arrays made here, so a difference in time is a difference in method.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> complex_object(rng, 64).dtype, offsets(rng, 3, 4, 64, 16).shape
(dtype('complex64'), (3, 4, 2))
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np


def complex_object(rng: np.random.Generator, size: int) -> np.ndarray:
    """A size x size complex64 object with |O| <= 1 (random amplitude and phase)."""
    amplitude = rng.uniform(0.0, 1.0, (size, size))
    phase = rng.uniform(-np.pi, np.pi, (size, size))
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


def offsets(rng: np.random.Generator, groups: int, members: int, size: int,
            N: int) -> np.ndarray:
    """(groups, members, 2) float64 patch centres [x, y] whose windows lie
    inside the object, as a scan's do (borders are a separate matter)."""
    low, high = N / 2 + 1, size - N / 2 - 2
    return rng.uniform(low, high, size=(groups, members, 2))


def bayer_scene(rng: np.random.Generator, height: int, width: int,
                frames: int) -> Tuple[np.ndarray, List[np.ndarray], np.ndarray]:
    """(gt, moving frames, true registering shifts (M, 2)): float32 RGGB
    mosaics of a smooth random scene; each moving frame is the GT rolled by
    an even whole-pixel shift (so the mosaic is kept) plus Gaussian noise.

    The scene is smooth (low-pass noise) and periodic, so np.roll is a true
    translation and every estimator has one right answer: ``np.roll(frame,
    shift) ~ gt``.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    lowpass = np.exp(-(fy ** 2 + fx ** 2) / (2 * 0.05 ** 2)).astype(np.float32)
    rgb = np.empty((3, height, width), np.float32)
    for c in range(3):
        noise = rng.standard_normal((height, width), dtype=np.float32)
        rgb[c] = np.fft.irfft2(np.fft.rfft2(noise) * lowpass, s=(height, width))
    rgb -= rgb.min()
    rgb *= 4000.0 / max(float(rgb.max()), 1e-30)
    gt = np.empty((height, width), np.float32)
    # RGGB: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1).
    for (r, c), channel in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [0, 1, 1, 2]):
        gt[r::2, c::2] = rgb[channel, r::2, c::2]
    moves = 2 * rng.integers(-8, 9, size=(frames, 2))
    moving = [np.roll(gt, (int(dy), int(dx)), axis=(0, 1))
              + rng.normal(0.0, 20.0, gt.shape).astype(np.float32) for dy, dx in moves]
    return gt, moving, -moves.astype(np.float64)


def positions(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(x, y) float64 scan positions, uniform over a square with on average
    one position per 4 x 4 pixels."""
    extent = np.sqrt(n) * 4.0
    return rng.uniform(0.0, extent, n), rng.uniform(0.0, extent, n)
