#!/usr/bin/env python3
"""How often scene alignment is right, per estimator, on synthetic RAW scenes.

Scenes are made the way a RAW dataset is: colour photographs from
scikit-image (astronaut, coffee, chelsea, rocket), mirror-tiled into a
collage at their own scale (no zoom, so pixel detail is kept), blurred
(Gaussian, sigma in sensor pixels), translated by a known shift (whole
pixels, even or odd, or sub-pixel by Fourier interpolation), mosaiced with a
Bayer layout (RGGB, BGGR, GRBG, GBRG) or X-Trans, scaled to 14 bits and
given Poisson-Gaussian noise for a photon gain g (16 to 1024; g / 16 DN
per electron, so higher is darker and noisier: at 30 % of white the SNR is
70 at g = 16 and 8.8 at g = 1024) and read noise of 2 DN. The GT frame and each moving
frame get independent noise.

Right means (issue 13's definition): the crop an estimator gives preserves
the mosaic, equals the true registering shift exactly when that shift
preserves the mosaic itself, and is otherwise within half a period per
axis of it (1 pixel for Bayer, 3 for X-Trans). The mosaic-preserving
shifts are multiples of 2 for Bayer, and for X-Trans multiples of 6 and
(3, 3) + multiples of 6 (Fujifilm's layout repeats under (3, 3)). With
``--strict`` the crop must instead be the preserving shift nearest to the
truth (either one of equally near ones), which on X-Trans fails where the
truth lies near the edge between two lattice points and the estimate is a
fraction of a pixel off. For ptychopatch the crop is the library's
``crops``; for scikit-image the preserving shift nearest its estimate;
RawNIND's snapped shift is taken as its crop (its X-Trans snap to
multiples of 3 does not always preserve the mosaic, and then counts as
wrong).

Estimators, all on the same frames:

* ptychopatch ``align_scene``: the default, coarse to fine: one peak of
  the frame's luminance image (the mean of every period x period window
  over the informative planes with its quadratic trend removed, partially
  whitened, Hann window following the content), refined by least squares
  where that result is in doubt (``verify="refine"``); and that coarse
  estimate alone (``verify=False``, the default until 0.4). (The other
  normalisations, the joint peak of the summed plane spectra and 0.3.0's
  per-plane median, compared here before, are retired: they run the
  default; their last rows are in docs/performance.md.)
* RawNIND's method: the library's ``method="rawnind"``, which agrees with
  an independent reimplementation of RawNIND's ``fft_phase_correlate_cfa``
  (tests/python/test_align_rawnind.py);
* scikit-image ``phase_cross_correlation`` per plane, median of the plane
  shifts.

Prints right/total for every estimator overall and per row (CFA family and
blur), the same per gain with ``--by-gain``, and for the default its
sub-pixel error per row (mean and 95th percentile of |shift - truth|, the
larger axis, in sensor pixels) and the confidence threshold that best
separates right from wrong answers with the fractions of each on its side,
and how many wrong crops it trusted (confidence >= 0.95) against the number
a calibrated probability would (the sum of 1 - confidence over the trusted
frames). Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_align_robustness.py [--size 256 --sigmas 0 2 8 16 32 \\
        --gains 16 128 1024 --seed 1]

What an efficient estimator would get right on the same frames (their
Cramer-Rao bounds): bound_align_robustness.py.

``--large-shifts F`` replaces the six fixed shifts of every scene by six
whole-pixel shifts drawn uniformly from [-F * size, F * size] per axis (their
own random stream, seed + 2000), on collages wide enough that no shift wraps
content around: large shifts of small frames, where the Hann window's
overlap weighs the content's peak down (docs/performance.md, "Large shifts
of small frames"); e.g. ``--size 128 --large-shifts 0.25 --sigmas 0 --gains
16 1024 --default-only``.

``--scene photo`` makes each scene of one photograph enlarged to cover the
frames (smooth, no mirror tiling); ``--clip F`` brightens each scene so a
share F of its values clip at white (over-exposure); ``--frame-exposure X``
exposes the moving frames X times as long as the GT (clipped at white).

``--unrelated`` also aligns a frame of noise and one of another photograph
per scene and counts the frames the default's match check flags (the
message's note "may not show the reference's scene"): those and the
scene's own, right and wrong.

``--backend gpu`` runs the library's estimators on its CUDA backend (cuFFT),
also on the emulated device of tests/emulation (preload the emulator and
the emulated library, as scripts/test.sh does, and point
PTYCHOPATCH_LIBRARY at the latter).
"""

from __future__ import annotations

import argparse
import json
import math
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
# Even, odd and sub-pixel shifts of the moving frame's content.
SHIFTS = [(4, -6), (-12, 8), (3, -5), (-7, 1), (2.5, -3.25), (-9.4, 6.6)]
READ_NOISE_DN = 2.0
WHITE = 16383  # 14 bits


def collage(photo: np.ndarray, height: int, width: int, offset: int) -> np.ndarray:
    """Mirror-tiles an RGB photo (floats in [0, 1]) to cover height x width."""
    tile = np.concatenate([photo, photo[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    reps = (height + offset) // tile.shape[0] + 2, (width + offset) // tile.shape[1] + 2
    big = np.tile(tile, (reps[0], reps[1], 1))
    return big[offset:offset + height, offset:offset + width]


def zoomed(photo: np.ndarray, side: int) -> np.ndarray:
    """One photograph (no tiling) enlarged by cubic interpolation until it
    covers side x side, its centre cut out: a smooth single-photo scene."""
    from scipy import ndimage
    z = side / min(photo.shape[:2]) * 1.001
    big = np.clip(ndimage.zoom(photo, (z, z, 1), order=3), 0.0, 1.0)
    top, left = (big.shape[0] - side) // 2, (big.shape[1] - side) // 2
    return big[top:top + side, left:left + side]


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
    # gain / 16 DN per electron: at gain 16 a white pixel collects WHITE
    # electrons, at 1024 a 64th of that (SNR 8.8 at 30 % grey).
    electrons = np.clip(mosaiced, 0.0, 1.0) * WHITE * 16.0 / gain
    counts = rng.poisson(electrons) * (gain / 16.0)
    counts = counts + rng.normal(0.0, READ_NOISE_DN, counts.shape)
    return np.clip(np.rint(counts), 0, WHITE).astype(np.uint16)


def planes(frame: np.ndarray, period: int):
    return [frame[r::period, c::period].astype(np.float64)
            for r in range(period) for c in range(period)]


def skimage_per_plane(gt: np.ndarray, moving: np.ndarray, period: int):
    from skimage.registration import phase_cross_correlation
    found = [phase_cross_correlation(a, b)[0] * period
             for a, b in zip(planes(gt, period), planes(moving, period))]
    return list(np.median(np.array(found), axis=0))


def crop_offsets(pattern) -> list:
    """Shifts (a, b) in [0, P)^2 that map the colour pattern onto itself."""
    p = np.asarray(pattern)
    period = p.shape[0]
    return [(a, b) for a in range(period) for b in range(period)
            if np.array_equal(np.roll(p, (-a, -b), axis=(0, 1)), p)]


def nearest_crops(dy: float, dx: float, pattern) -> set:
    """Every pattern-preserving integer shift nearest to (dy, dx)."""
    period = np.asarray(pattern).shape[0]
    best, found = None, set()
    for a, b in crop_offsets(pattern):
        ky = np.floor((dy - a) / period)
        kx = np.floor((dx - b) / period)
        for y in (a + period * ky, a + period * (ky + 1)):
            for x in (b + period * kx, b + period * (kx + 1)):
                d = (y - dy) ** 2 + (x - dx) ** 2
                if best is None or d < best - 1e-9:
                    best, found = d, {(int(y), int(x))}
                elif abs(d - best) <= 1e-9:
                    found.add((int(y), int(x)))
    return found


def crop_is_right(crop, truth, pattern, strict: bool) -> bool:
    """Whether an integer crop is right for the true shift (see the module
    docstring)."""
    if crop not in nearest_crops(crop[0], crop[1], pattern):
        return False  # not mosaic-preserving
    if strict:
        return crop in nearest_crops(truth[0], truth[1], pattern)
    if (round(truth[0]), round(truth[1])) == tuple(truth) and \
            tuple(int(v) for v in truth) in nearest_crops(truth[0], truth[1], pattern):
        return tuple(crop) == tuple(int(v) for v in truth)  # preserving truth: exact
    half = np.asarray(pattern).shape[0] / 2
    return abs(crop[0] - truth[0]) <= half + 1e-9 and abs(crop[1] - truth[1]) <= half + 1e-9


def calibrate(pairs):
    """The confidence threshold t that maximises the smaller of (right
    answers >= t) and (wrong answers < t), as fractions."""
    right = np.array([c for c, ok in pairs if ok])
    wrong = np.array([c for c, ok in pairs if not ok])
    best = (0.0, 0.0, 1.0, 0.0)
    for t in np.unique(np.concatenate([right, wrong, [0.0]])):
        above = float(np.mean(right >= t)) if right.size else 1.0
        below = float(np.mean(wrong < t)) if wrong.size else 1.0
        if min(above, below) > best[0]:
            best = (min(above, below), float(t), above, below)
    return best[1:], right.size, wrong.size


def add_scene_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the benchmark's frames (its table's rows)."""
    parser.add_argument("--size", type=int, default=252, help="frame side (a multiple of 6)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0, 2, 8, 16, 32])
    parser.add_argument("--gains", type=float, nargs="+", default=[16, 128, 1024])
    parser.add_argument("--layouts", nargs="+", default=list(BAYER) + ["XTRANS"])
    parser.add_argument("--scene", choices=("collage", "photo"), default="collage",
                        help="collage: each photograph mirror-tiled at its own scale; photo: "
                             "one photograph enlarged to cover the frames (smooth, no tiling)")
    parser.add_argument("--clip", type=float, default=0.0, metavar="F",
                        help="brighten each scene so that a share F of its values clip at "
                             "white (e.g. 0.33: over-exposed)")
    parser.add_argument("--frame-exposure", type=float, default=1.0, metavar="X",
                        help="the moving frames' exposure over the GT's (clipped at white)")


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_scene_options(parser)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--by-gain", action="store_true")
    parser.add_argument("--default-only", action="store_true",
                        help="run only the default estimator (no peers)")
    parser.add_argument("--dump", metavar="JSON",
                        help="write every frame's outcome under the default estimator")
    parser.add_argument("--strict", action="store_true",
                        help="right = the nearest mosaic-preserving crop")
    parser.add_argument("--unrelated", action="store_true",
                        help="also align, per scene, a frame of photon noise on 30 %% grey and "
                             "one of the next photograph's collage (own random stream, so the "
                             "table is unchanged) with the default, and count the frames its "
                             "match check flags ('may not show' in the message), theirs and "
                             "the scene's own")
    parser.add_argument("--large-shifts", type=float, default=None, metavar="F",
                        help="six whole-pixel shifts per scene drawn from [-F size, F size] "
                             "per axis instead of the fixed ones")
    parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                        help="the library's backend for its estimators (RawNIND's method "
                             "runs on the CPU); gpu on an emulated device works too")
    args = parser.parse_args(argv)
    if not 0.0 <= args.clip < 1.0:
        parser.error(f"--clip {args.clip}: must be in [0, 1)")
    if not args.frame_exposure > 0.0:
        parser.error(f"--frame-exposure {args.frame_exposure}: must be above 0")

    import ptychopatch
    from scipy import ndimage
    from skimage import data, util

    rng = np.random.default_rng(args.seed)
    unrelated_rng = np.random.default_rng(args.seed + 1000)
    # Frames the match check flags: kind -> [flagged, total].
    flagged = defaultdict(lambda: [0, 0])
    trusted = defaultdict(int)  # frames of another scene at confidence >= 0.95
    unflagged = defaultdict(int)  # ... and without any ptp_align_flag
    photos = {name: util.img_as_float(getattr(data, name)())[..., :3] for name in PHOTOS}
    # The default refines its coarse estimate (luma, partial, Hann) by
    # least squares where in doubt (verify="refine"); verify=False is that
    # coarse estimate alone.
    estimators = {
        "ours default (luma partial/hann, refined)": {},
        "ours coarse: luma partial/hann (verify=False)": dict(verify=False),
        "RawNIND method (method='rawnind')": dict(method="rawnind"),
    }
    if args.default_only:  # the default and its coarse estimate
        estimators = dict(list(estimators.items())[:2])
    confidence_pairs = []
    outcomes = []
    # The default's sub-pixel estimate against the truth (|shift - truth|,
    # the larger axis), per row: "where did the content move?".
    errors = defaultdict(list)
    right = defaultdict(lambda: defaultdict(int))
    total = defaultdict(int)
    size = args.size - args.size % 6
    # Collage border around the frames: enough that no shift wraps content.
    reach = 0 if args.large_shifts is None else int(math.ceil(args.large_shifts * size))
    margin = 32 + reach
    shift_rng = np.random.default_rng(args.seed + 2000)
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
                    if args.scene == "photo":
                        scene = zoomed(photo, size + 2 * margin)
                    else:
                        scene = collage(photo, size + 2 * margin, size + 2 * margin,
                                        offset=17 * p_index)
                    if sigma > 0:
                        scene = ndimage.gaussian_filter(scene, (sigma, sigma, 0), mode="wrap")
                    if args.clip > 0:
                        scene = scene / max(float(np.quantile(scene, 1.0 - args.clip)), 1e-6)
                    window = (slice(margin, margin + size), slice(margin, margin + size))
                    gt = expose(mosaic(scene[window], pattern), gain, rng)
                    frames, truths = [], []
                    shifts = SHIFTS if args.large_shifts is None else [
                        tuple(int(v) for v in shift_rng.integers(-reach, reach + 1, 2))
                        for _ in SHIFTS]
                    for dy, dx in shifts:
                        moved = translate(scene, dy, dx)[window] * args.frame_exposure
                        frames.append(expose(mosaic(moved, pattern), gain, rng))
                        truths.append((-dy, -dx))  # the shift that registers it
                    if args.unrelated:
                        names = list(photos)
                        other = collage(photos[names[(p_index + 1) % len(names)]], size + 64,
                                        size + 64, offset=5)
                        if sigma > 0:
                            other = ndimage.gaussian_filter(other, (sigma, sigma, 0),
                                                            mode="wrap")
                        cut = other[32:32 + size, 32:32 + size]
                        strangers = {
                            "noise": expose(mosaic(np.full_like(cut, 0.3), pattern), gain,
                                            unrelated_rng),
                            "another photograph": expose(mosaic(cut, pattern), gain,
                                                         unrelated_rng)}
                        found = ptychopatch.align_scene(gt, list(strangers.values()), cfa=cfa,
                                                        backend=args.backend)
                        for kind, message, confidence, flags in zip(
                                strangers, found.messages, found.confidence, found.flags):
                            flagged[kind][0] += "may not show" in message
                            flagged[kind][1] += 1
                            trusted[kind] += bool(confidence >= 0.95)
                            unflagged[kind] += int(flags) == 0
                    row = (family, sigma) if not args.by_gain else (family, sigma, gain)
                    total[row] += len(frames)
                    crops, confidences, shifts = {}, {}, {}
                    for name, options in estimators.items():
                        backend = "cpu" if "method" in options else args.backend
                        found = ptychopatch.align_scene(gt, frames, cfa=cfa, backend=backend,
                                                        **options)
                        if "method" in options:  # RawNIND's snapped shift is its crop
                            crops[name] = [tuple(int(v) for v in s) for s in found.shifts]
                        else:
                            crops[name] = [tuple(int(v) for v in c) for c in found.crops]
                        confidences[name] = found.confidence
                        shifts[name] = found.shifts
                        if name == next(iter(estimators)) and args.unrelated:
                            for k, message in enumerate(found.messages):
                                ok = crop_is_right(tuple(int(v) for v in found.crops[k]),
                                                   truths[k], pattern, args.strict)
                                kind = "the scene's, right" if ok else "the scene's, wrong"
                                flagged[kind][0] += "may not show" in message
                                flagged[kind][1] += 1
                        if name == next(iter(estimators)):
                            errors[row].extend(
                                float(np.abs(np.asarray(s) - np.asarray(t)).max())
                                for s, t in zip(found.shifts, truths))
                    if not args.default_only:
                        crops["scikit-image per plane"] = [
                            min(nearest_crops(*skimage_per_plane(gt, f, period), pattern))
                            for f in frames]
                    default = next(iter(estimators))
                    for name, found in crops.items():
                        for k, ((ty, tx), crop) in enumerate(zip(truths, found)):
                            ok = crop_is_right(crop, (ty, tx), pattern, args.strict)
                            right[name][row] += ok
                            if name == default:
                                confidence_pairs.append((float(confidences[name][k]), ok))
                                outcomes.append(dict(
                                    layout=layout, sigma=sigma, gain=gain, photo=photo_name,
                                    truth=[ty, tx], crop=list(crop), right=bool(ok),
                                    shift=[float(v) for v in shifts[name][k]],
                                    confidence=float(confidences[name][k])))
    elapsed = time.time() - started
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(outcomes, f)

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
        print(f"{name:<{width}} | {100 * overall:.1f}% | {cells}")
    cells = " | ".join(f"{np.mean(errors[r]):.3f} / {np.percentile(errors[r], 95):.2f}"
                       for r in rows)
    print(f"{'default: |shift - truth| mean / p95':<{width}} | "
          f"{np.mean(sum(errors.values(), [])):.3f} | {cells}")
    (threshold, above, below), n_right, n_wrong = calibrate(confidence_pairs)
    print(f"default's confidence threshold {threshold:.4f}: {100 * above:.1f}% of its "
          f"{n_right} right answers at or above, {100 * below:.1f}% of its {n_wrong} wrong "
          "answers below")
    trusted_pairs = [(c, ok) for c, ok in confidence_pairs if c >= 0.95]
    print(f"default's confidence >= 0.95: {len(trusted_pairs)} frames, "
          f"{sum(not ok for _, ok in trusted_pairs)} wrong; a calibrated probability would "
          f"have {sum(1 - c for c, _ in trusted_pairs):.2f} wrong")
    if flagged:
        print("the default's match check flagged: " + ", ".join(
            f"{n}/{t} frames of {kind}" for kind, (n, t) in sorted(flagged.items())))
        print("frames of another scene at confidence >= 0.95: " + ", ".join(
            f"{trusted[kind]}/{flagged[kind][1]} of {kind}"
            for kind in ("noise", "another photograph")) + "; without any flag: " + ", ".join(
            f"{unflagged[kind]}/{flagged[kind][1]} of {kind}"
            for kind in ("noise", "another photograph")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
