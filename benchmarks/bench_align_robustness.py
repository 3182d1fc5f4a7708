#!/usr/bin/env python3
"""How often scene alignment is right, per estimator, on synthetic RAW scenes.

Scenes are made the way a RAW dataset is: colour photographs from
scikit-image (astronaut, coffee, chelsea, rocket), mirror-tiled into a
collage at their own scale (no zoom, so pixel detail is kept), blurred
(Gaussian, sigma in sensor pixels), translated by a known shift (whole
pixels, even or odd, or sub-pixel by Fourier interpolation), mosaiced with a
Bayer layout (RGGB, BGGR, GRBG, GBRG) or X-Trans, scaled to 14 bits and
given Poisson-Gaussian noise for a photon gain (16 to 1024 e-/DN: higher is
darker and noisier) and read noise of 2 DN. The GT frame and each moving
frame get independent noise.

Right means: the integer crop an estimator gives, rounded to the nearest
multiple of the CFA period P (2 for Bayer, 6 for X-Trans), equals the true
registering shift rounded the same way (either neighbour when the truth is
half-way). So a whole-pixel shift that is a multiple of P must be found
exactly, and any other shift must give the nearest mosaic-preserving crop.

Estimators, all on the same frames:

* ptychopatch ``align_scene`` with each normalisation (phase, none), window
  (none, hann) and combination (median, mean) of the plane shifts;
* RawNIND's method, reimplemented here from its description (per plane:
  zero-mean, plain zero-padded linear cross-correlation by
  ``scipy.signal.fftconvolve(a, b[::-1, ::-1], mode="same")``, peak minus
  the centre; plane shifts times P; median, truncated to an integer, then
  floored to a multiple of 2 (Bayer) or 3 (X-Trans));
* scikit-image ``phase_cross_correlation`` per plane, median of the plane
  shifts;
* prototypes of candidate defaults, in numpy (not yet in the library): one
  peak from the summed cross-power spectra of all planes (Hann-windowed),
  with phase, partial (|X|^0.5) or no normalisation.

Prints right/total for every estimator overall and per row (CFA family and
blur), and the same per gain with ``--by-gain``. Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_align_robustness.py [--size 256 --sigmas 0 2 8 16 32 \\
        --gains 16 128 1024 --seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

BAYER = {"RGGB": [[0, 1], [1, 2]], "BGGR": [[2, 1], [1, 0]], "GRBG": [[1, 0], [2, 1]],
         "GBRG": [[1, 2], [0, 1]]}
# The X-Trans layout of Fujifilm's sensors (0 R, 1 G, 2 B).
XTRANS = [[1, 1, 0, 1, 1, 2],
          [1, 1, 2, 1, 1, 0],
          [2, 0, 1, 0, 2, 1],
          [1, 1, 2, 1, 1, 0],
          [1, 1, 0, 1, 1, 2],
          [0, 2, 1, 2, 0, 1]]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]
READ_NOISE_DN = 2.0
WHITE = 16383  # 14 bits


def collage(photo: np.ndarray, height: int, width: int, offset: int) -> np.ndarray:
    """Mirror-tiles an RGB photo (floats in [0, 1]) to cover height x width."""
    tile = np.concatenate([photo, photo[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    reps = (height + offset) // tile.shape[0] + 2, (width + offset) // tile.shape[1] + 2
    big = np.tile(tile, (reps[0], reps[1], 1))
    return big[offset:offset + height, offset:offset + width]


def translate(rgb: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """rgb moved by (dy, dx): out(y, x) = rgb(y - dy, x - dx), periodic.

    Whole pixels by np.roll; fractions by the Fourier shift theorem."""
    if float(dy).is_integer() and float(dx).is_integer():
        return np.roll(rgb, (int(dy), int(dx)), axis=(0, 1))
    ky = np.fft.fftfreq(rgb.shape[0])[:, None]
    kx = np.fft.fftfreq(rgb.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (ky * dy + kx * dx))
    return np.stack([np.fft.ifft2(np.fft.fft2(rgb[..., c]) * ramp).real for c in range(3)],
                    axis=-1)


def mosaic(rgb: np.ndarray, layout) -> np.ndarray:
    pattern = np.asarray(layout)
    p = pattern.shape[0]
    h, w = rgb.shape[:2]
    rows = np.arange(h)[:, None] % p
    cols = np.arange(w)[None, :] % p
    channel = pattern[rows, cols]
    return np.take_along_axis(rgb, channel[..., None], axis=2)[..., 0]


def expose(mosaiced: np.ndarray, gain: float, rng: np.random.Generator) -> np.ndarray:
    electrons = np.clip(mosaiced, 0.0, 1.0) * WHITE * gain / 16.0
    counts = rng.poisson(electrons) / (gain / 16.0)
    counts = counts + rng.normal(0.0, READ_NOISE_DN, counts.shape)
    return np.clip(np.rint(counts), 0, WHITE).astype(np.uint16)


def planes(frame: np.ndarray, period: int):
    return [frame[r::period, c::period].astype(np.float64)
            for r in range(period) for c in range(period)]


def rawnind_like(gt: np.ndarray, moving: np.ndarray, period: int):
    """RawNIND's fft_phase_correlate_cfa, reimplemented from its semantics."""
    from scipy import signal
    shifts = []
    for a, b in zip(planes(gt, period), planes(moving, period)):
        a = a - a.mean()
        b = b - b.mean()
        corr = signal.fftconvolve(a, b[::-1, ::-1], mode="same")
        peak = np.array(np.unravel_index(np.argmax(corr), corr.shape))
        shifts.append((peak - np.array(corr.shape) // 2) * period)
    combined = [int(np.median([s[k] for s in shifts])) for k in (0, 1)]
    block = 2 if period == 2 else 3
    # The peak's lag is the registering shift (a(x) ~ b(x - lag)), the
    # convention of everything else here.
    return [(v // block) * block for v in combined]


def skimage_per_plane(gt: np.ndarray, moving: np.ndarray, period: int):
    from skimage.registration import phase_cross_correlation
    found = [phase_cross_correlation(a, b)[0] * period
             for a, b in zip(planes(gt, period), planes(moving, period))]
    return list(np.median(np.array(found), axis=0))


def joint_prototype(gt: np.ndarray, moving: np.ndarray, period: int, power: float):
    """A candidate default, prototyped in numpy (not the library): one peak
    from the cross-power spectra of all planes, summed, each normalised as
    X / |X|**power (1: phase, 0: plain, between: partial whitening), planes
    mean-subtracted and Hann-windowed. CFA-consistent by construction."""
    total = None
    for a, b in zip(planes(gt, period), planes(moving, period)):
        window = np.outer(np.hanning(a.shape[0] + 1)[:-1], np.hanning(a.shape[1] + 1)[:-1])
        x = np.fft.rfft2((a - a.mean()) * window) * np.conj(np.fft.rfft2((b - b.mean()) * window))
        if power > 0:
            x = x / np.maximum(np.abs(x), 1e-12) ** power
        total = x if total is None else total + x
    corr = np.fft.irfft2(total, s=a.shape)
    peak = np.array(np.unravel_index(np.argmax(corr), corr.shape))
    size = np.array(corr.shape)
    peak = np.where(peak > size // 2, peak - size, peak)
    return list(peak * period)


def nearest_multiples(value: float, period: int):
    """The multiple(s) of `period` nearest `value` (two when half-way)."""
    q = value / period
    low = np.floor(q)
    if abs(q - low - 0.5) < 1e-9:
        return {int(low) * period, int(low + 1) * period}
    return {int(np.rint(q)) * period}


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=252, help="frame side (a multiple of 6)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0, 2, 8, 16, 32])
    parser.add_argument("--gains", type=float, nargs="+", default=[16, 128, 1024])
    parser.add_argument("--layouts", nargs="+", default=list(BAYER) + ["XTRANS"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--by-gain", action="store_true")
    args = parser.parse_args(argv)

    import ptychopatch
    from scipy import ndimage
    from skimage import data, util

    rng = np.random.default_rng(args.seed)
    photos = {name: util.img_as_float(getattr(data, name)())[..., :3] for name in PHOTOS}
    # Even, odd and sub-pixel shifts of the moving frame's content.
    shift_set = [(4, -6), (-12, 8), (3, -5), (-7, 1), (2.5, -3.25), (-9.4, 6.6)]
    estimators = {}
    for norm in ("phase", "none"):
        for window in (None, "hann"):
            for combine in ("median", "mean"):
                name = f"ours {norm}/{window or 'no window'}/{combine}"
                estimators[name] = dict(normalization=norm, window=window, combine=combine)
    right = defaultdict(lambda: defaultdict(int))
    total = defaultdict(int)
    size = args.size - args.size % 6
    started = time.time()
    for layout in args.layouts:
        xtrans = layout == "XTRANS"
        period = 6 if xtrans else 2
        pattern = XTRANS if xtrans else BAYER[layout]
        cfa = np.array(XTRANS) if xtrans else layout  # align_scene takes the name
        family = "X-Trans" if xtrans else "Bayer"
        for sigma in args.sigmas:
            for gain in args.gains:
                for p_index, (photo_name, photo) in enumerate(photos.items()):
                    scene = collage(photo, size + 64, size + 64, offset=17 * p_index)
                    if sigma > 0:
                        scene = ndimage.gaussian_filter(scene, (sigma, sigma, 0), mode="wrap")
                    gt = expose(mosaic(scene[32:32 + size, 32:32 + size], pattern), gain, rng)
                    frames, truths = [], []
                    for dy, dx in shift_set:
                        moved = translate(scene, dy, dx)[32:32 + size, 32:32 + size]
                        frames.append(expose(mosaic(moved, pattern), gain, rng))
                        truths.append((-dy, -dx))  # the shift that registers it
                    row = (family, sigma) if not args.by_gain else (family, sigma, gain)
                    total[row] += len(frames)
                    results = {}
                    for name, options in estimators.items():
                        found = ptychopatch.align_scene(gt, frames, cfa=cfa, **options)
                        results[name] = [list(s) for s in found.shifts]
                    results["RawNIND method"] = [rawnind_like(gt, f, period) for f in frames]
                    for power, label in ((1.0, "phase"), (0.5, "partial 0.5"), (0.0, "plain")):
                        results[f"prototype joint {label}/hann"] = [
                            joint_prototype(gt, f, period, power) for f in frames]
                    results["scikit-image per plane"] = [skimage_per_plane(gt, f, period)
                                                         for f in frames]
                    for name, shifts in results.items():
                        for (ty, tx), (ey, ex) in zip(truths, shifts):
                            ok = (next(iter(nearest_multiples(ey, period)))
                                  in nearest_multiples(ty, period)
                                  and next(iter(nearest_multiples(ex, period)))
                                  in nearest_multiples(tx, period))
                            right[name][row] += ok
    elapsed = time.time() - started

    rows = sorted(total)
    names = list(right)
    width = max(len(n) for n in names)
    header = " | ".join(f"{r[0]} s={r[1]:g}" + (f" g={r[2]:g}" if len(r) > 2 else "")
                        for r in rows)
    print(f"frames per row: {total[rows[0]]}; {sum(total.values())} frames; {elapsed:.0f} s")
    print(f"{'estimator':<{width}} | all | {header}")
    for name in names:
        overall = sum(right[name].values()) / sum(total.values())
        cells = " | ".join(f"{right[name][r]}/{total[r]}" for r in rows)
        print(f"{name:<{width}} | {100 * overall:.0f}% | {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
