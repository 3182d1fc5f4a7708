#!/usr/bin/env python3
"""What an efficient estimator could get right on the robustness benchmark.

bench_align_robustness.py counts the frames whose crop an estimator gets
right. Some of its frames carry too little information for any estimator to
get every crop right: a blurred scene in heavy noise fixes its shift only to
within a fraction of a pixel, and a sub-pixel truth such as 9.4 has a right
crop (10) only 0.4 pixel away on one side. This script builds the same
noiseless frames (same scenes, shifts, layouts, blurs and gains) and computes
for each frame:

* the Cramer-Rao bound on the shift from the Fisher information of the
  moving frame's Poisson-Gaussian pixels (variance = mean * g / 16 + read
  noise^2, in DN) over the part of it the reference also shows, with the
  exposure's gain and offset unknown too (as every estimator that does not
  know the two frames' exposures must treat them), doubled in variance
  because the reference frame is as noisy as the moving one;
  (``--model`` sets what else is unknown and what the estimator sees:
  ``exposure``, that gain and offset, the default; ``colour-offsets``, the
  gain and an offset per colour, for an estimator that keeps each colour
  apart; ``luminance``, the gain and offset but only the sums of the
  pattern's whole periods (for Bayer the 2 x 2 blocks), for an estimator
  that sees no colour, as the library's polish on luminance images does);
* the probability that an unbiased estimator at that bound gets the crop
  right (the crop: the mosaic-preserving shift nearest its estimate; right:
  as the benchmark defines it), by Monte Carlo over its normal law.

It prints, per row (CFA family and blur, and per gain with --by-gain), the
expected number of right crops of such an estimator against the row's total,
and the median bound per axis; with --worst N the N frames least likely to be
right; with --tables N, N simulated whole tables of such an estimator (fresh
noise each, the GT's noise shared by its scene's frames), and per row the
spread of its right crops and how many of the tables reach --target (98 %)
of the row: how far one table's row can fall by the draw of its noise alone.
The library and its peers are no efficient estimators: their rows in
docs/performance.md are to be read against these, not against 100 %.
Needs numpy, scipy and scikit-image; not the library. Usage:

    python3 benchmarks/bound_align_robustness.py --size 252 --sigmas 0 2 8 16 \
        [--model exposure|colour-offsets|luminance] [--by-gain] [--worst N] \
        [--tables N [--target 0.98]]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

from bench_align_robustness import (BAYER, PHOTOS, READ_NOISE_DN, SHIFTS, WHITE, XTRANS,
                                    add_scene_options, collage, crop_is_right, crop_offsets,
                                    mosaic, translate)

HALF_STEP = 0.25  # pixels either side for the derivative of the frame in its shift


MODELS = ("exposure", "colour-offsets", "luminance")


def shift_bound(scene, size, dy, dx, pattern, gain, model="exposure"):
    """Covariance bound (2 x 2, sensor pixels squared) of the registering
    shift of the frame of `scene` moved by (dy, dx) against the unmoved one,
    under one of MODELS."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")

    def frame(oy, ox):
        moved = translate(scene, dy + oy, dx + ox)[32:32 + size, 32:32 + size]
        return mosaic(np.clip(moved, 0.0, 1.0), pattern) * WHITE

    mean = frame(0, 0)
    d_y = (frame(HALF_STEP, 0) - frame(-HALF_STEP, 0)) / (2 * HALF_STEP)
    d_x = (frame(0, HALF_STEP) - frame(0, -HALF_STEP)) / (2 * HALF_STEP)
    variance = mean * gain / 16.0 + READ_NOISE_DN ** 2
    # The moving frame's pixel z shows the reference's z + truth, truth = -(dy, dx).
    rows = np.arange(size) - dy
    cols = np.arange(size) - dx
    shared = ((rows >= 0) & (rows <= size - 1))[:, None] & ((cols >= 0) & (cols <= size - 1))
    # Parameters: the shift (2), the exposure's gain and offset(s).
    if model == "colour-offsets":
        colour = mosaic(np.broadcast_to(np.arange(3.0), (size, size, 3)), pattern)
        offsets = [(colour == c).astype(float) for c in range(3)]
    else:
        offsets = [np.ones_like(mean)]
    derivatives = [d_y, d_x, mean] + offsets
    if model == "luminance":
        # Sums of whole periods (independent pixels: their variances add),
        # shared where all of a block is.
        period = np.asarray(pattern).shape[0]
        blocks = size // period

        def block_sums(a):
            a = a[:blocks * period, :blocks * period]
            return a.reshape(blocks, period, blocks, period).sum(axis=(1, 3))

        derivatives = [block_sums(a) for a in derivatives]
        variance = block_sums(variance)
        shared = block_sums(shared.astype(float)) == period * period
    info = np.array([[np.sum((a * b / variance)[shared]) for b in derivatives]
                     for a in derivatives])
    # Two frames of the same noise: twice the variance of one against a
    # noiseless reference.
    return 2.0 * np.linalg.inv(info)[:2, :2]


def right_probability(truth, covariance, pattern, rng, draws):
    """P(right crop) for an unbiased normal estimate about the truth."""
    estimates = rng.multivariate_normal(truth, covariance, size=draws)
    return float(np.mean(crops_are_right(estimates, truth, pattern)))


def crops_are_right(estimates, truth, pattern):
    """Whether each estimate's crop (the mosaic-preserving shift nearest it)
    is right for the truth: a boolean per row of estimates (N x 2)."""
    period = np.asarray(pattern).shape[0]
    best = None
    for offset in crop_offsets(pattern):
        offset = np.asarray(offset, dtype=float)
        crop = offset + period * np.round((estimates - offset) / period)
        distance = np.sum((crop - estimates) ** 2, axis=1)
        if best is None:
            best, crops = distance, crop
        else:
            closer = distance < best
            best = np.where(closer, distance, best)
            crops = np.where(closer[:, None], crop, crops)
    # Few distinct crops: judge each once.
    unique, inverse = np.unique(crops.astype(int), axis=0, return_inverse=True)
    verdicts = np.array([crop_is_right(tuple(int(v) for v in crop), truth, pattern, strict=False)
                         for crop in unique])
    return verdicts[inverse.ravel()]


def count_distribution(frames, rows, rng, tables):
    """Right crops per row of an efficient estimator over `tables` whole
    tables, each with fresh noise: an array (tables x len(rows)).

    Each frame's error is normal with its bound's covariance, half of it
    from its own noise and half from its scene's GT (the two are as noisy,
    shift_bound's doubling), the GT's half shared by every frame aligned
    against that GT: when the GT's noise moves one frame's estimate it
    moves its scene's other frames alike, so a row's misses come together
    more often than independent frames would give."""
    counts = np.zeros((tables, len(rows)))
    shared = {}
    for frame in frames:
        scene = frame["scene"]
        if scene not in shared:
            shared[scene] = rng.standard_normal((tables, 2))
        own = rng.standard_normal((tables, 2))
        whitened = (own + shared[scene]) / np.sqrt(2.0)
        estimates = np.asarray(frame["truth"]) + whitened @ np.linalg.cholesky(
            frame["covariance"]).T
        counts[:, rows.index(frame["row"])] += crops_are_right(estimates, frame["truth"],
                                                               frame["pattern"])
    return counts


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_scene_options(parser)
    parser.add_argument("--by-gain", action="store_true")
    parser.add_argument("--draws", type=int, default=4000,
                        help="Monte Carlo draws per frame")
    parser.add_argument("--model", choices=MODELS, default="exposure",
                        help="what else is unknown and what the estimator sees (above)")
    parser.add_argument("--worst", type=int, default=0, metavar="N",
                        help="also list the N frames least likely to be right")
    parser.add_argument("--tables", type=int, default=0, metavar="N",
                        help="also simulate N whole tables (fresh noise each, the GT's share "
                             "of each frame's error common to its scene) and print per row "
                             "the spread of the right crops and how often a table reaches "
                             "--target of the row")
    parser.add_argument("--target", type=float, default=0.98,
                        help="the fraction of a row that --tables counts a table reaching")
    args = parser.parse_args(argv)

    from scipy import ndimage
    from skimage import data, util

    rng = np.random.default_rng(0)
    photos = {name: util.img_as_float(getattr(data, name)())[..., :3] for name in PHOTOS}
    size = args.size - args.size % 6
    expected = defaultdict(float)
    total = defaultdict(int)
    bounds = defaultdict(list)
    frames = []
    for layout in args.layouts:
        xtrans = layout == "XTRANS"
        pattern = XTRANS if xtrans else BAYER[layout]
        family = "X-Trans" if xtrans else "Bayer"
        for sigma in args.sigmas:
            for p_index, (photo_name, photo) in enumerate(photos.items()):
                # The benchmark's scene; the gain changes only the noise.
                scene = collage(photo, size + 64, size + 64, offset=17 * p_index)
                if sigma > 0:
                    scene = ndimage.gaussian_filter(scene, (sigma, sigma, 0), mode="wrap")
                for gain in args.gains:
                    row = (family, sigma) if not args.by_gain else (family, sigma, gain)
                    for dy, dx in SHIFTS:
                        truth = (-dy, -dx)
                        covariance = shift_bound(scene, size, dy, dx, pattern, gain, args.model)
                        p = right_probability(truth, covariance, pattern, rng, args.draws)
                        expected[row] += p
                        total[row] += 1
                        bounds[row].append(np.sqrt(np.diag(covariance)))
                        frames.append(dict(p=p, layout=layout, sigma=sigma, gain=gain,
                                           photo=photo_name, truth=truth, row=row,
                                           pattern=pattern, covariance=covariance,
                                           scene=(layout, sigma, photo_name, gain)))
    print(f"An efficient estimator's expected right crops, {size} px, model {args.model} "
          "(bound: median standard deviation rows / columns, sensor pixels)")
    for row in sorted(total, key=lambda r: (r[0] != "Bayer",) + tuple(r[1:])):
        spread = np.median(np.array(bounds[row]), axis=0)
        label = " ".join(f"{v:g}" if not isinstance(v, str) else v for v in row)
        print(f"  {label:24s} {expected[row]:7.1f} / {total[row]:4d}  "
              f"({100 * expected[row] / total[row]:5.1f} %)  bound {spread[0]:.3f} / "
              f"{spread[1]:.3f}")
    all_expected, all_total = sum(expected.values()), sum(total.values())
    print(f"  {'all':24s} {all_expected:7.1f} / {all_total:4d}  "
          f"({100 * all_expected / all_total:5.1f} %)")
    if args.worst:
        print(f"The {args.worst} frames least likely to be right:")
        for f in sorted(frames, key=lambda f: f["p"])[:args.worst]:
            spread = np.sqrt(np.diag(f["covariance"]))
            print(f"  P(right) {f['p']:.3f}  {f['layout']:6s} sigma {f['sigma']:g} "
                  f"gain {f['gain']:g} {f['photo']:9s} truth {f['truth']}  "
                  f"bound {spread[0]:.3f} / {spread[1]:.3f}")
    if args.tables:
        rows = sorted(total, key=lambda r: (r[0] != "Bayer",) + tuple(r[1:]))
        counts = count_distribution(frames, rows, rng, args.tables)
        print(f"{args.tables} simulated tables of an efficient estimator: right crops per row "
              f"(mean, 5th-95th percentile, fewest) and the share of tables with at least "
              f"{100 * args.target:g} % of the row right")
        for i, row in enumerate(rows):
            need = int(np.ceil(args.target * total[row] - 1e-9))
            c = counts[:, i]
            label = " ".join(f"{v:g}" if not isinstance(v, str) else v for v in row)
            print(f"  {label:24s} {c.mean():7.1f}  {np.percentile(c, 5):5.0f}-"
                  f"{np.percentile(c, 95):3.0f}  min {c.min():3.0f} / {total[row]:4d}  "
                  f">= {need}: {100 * np.mean(c >= need):5.1f} %")
        every = np.all(counts >= np.ceil(args.target * np.array([total[r] for r in rows])
                                         - 1e-9), axis=1)
        print(f"  every row at once: {100 * np.mean(every):5.1f} % of tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
