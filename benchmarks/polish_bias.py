#!/usr/bin/env python3
"""The default estimator's mean error on one scene of the robustness benchmark.

A study, not a benchmark of speed: it builds one scene of
bench_align_robustness.py (same collage, blur, mosaic and Poisson-Gaussian
noise), moves it by one shift, and aligns ``--draws`` independent noise
draws of a GT frame and six moved frames with the default ``align_scene``.
It prints the mean error of the shift (estimate - truth, sensor pixels,
rows and columns), its standard deviation, and the standard error of the
mean taken over the GT draws (the six frames of one call share their GT's
noise, so their errors are not independent).

Why: on the benchmark's Bayer sigma 16 row every wrong crop is the rocket
at gain 1024, and their row errors are all negative, also for truths of
opposite sign. With enough draws this shows that the estimator's mean is
within about 0.1 pixel of the truth there: the misses' sign comes from
where the wrong crops lie (docs/notes/alignment.md, "Is the polish biased on
the rocket's rows?"). Options make either frame nearly noiseless (``--gt-gain`` or
``--frame-gain`` 4), flip the photograph upside down (``--flip``), or swap
the frames' roles (``--swap``: each moved frame is the reference of a call
with the GT as its one frame; the error is then of the negated shift).

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/polish_bias.py --draws 30 --seed 20 --shift 4 -6

Needs numpy, scipy and scikit-image, as the robustness benchmark does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_align_robustness as scenes  # noqa: E402  (the benchmark's scene builders)


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", default="rocket", choices=scenes.PHOTOS)
    parser.add_argument("--sigma", type=float, default=16.0)
    parser.add_argument("--gain", type=float, default=1024.0)
    parser.add_argument("--gt-gain", type=float, default=None, help="the GT's gain (default --gain)")
    parser.add_argument("--frame-gain", type=float, default=None,
                        help="the moved frames' gain (default --gain)")
    parser.add_argument("--layout", default="RGGB", choices=sorted(scenes.BAYER))
    parser.add_argument("--shift", type=float, nargs=2, default=[4.0, -6.0],
                        metavar=("DY", "DX"), help="the content's move (truth = its negation)")
    parser.add_argument("--size", type=int, default=252)
    parser.add_argument("--draws", type=int, default=10, help="GT noise draws (calls)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--flip", action="store_true", help="the photograph upside down")
    parser.add_argument("--swap", action="store_true",
                        help="each moved frame as the reference, the GT as its frame")
    parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="cpu")
    parser.add_argument("--dump", metavar="NPY", help="save the errors (draws x 6 x 2) there")
    args = parser.parse_args(argv)
    if args.draws < 2:
        parser.error("--draws must be at least 2 (the standard error is taken over the draws)")
    return args


def measure(args: argparse.Namespace) -> np.ndarray:
    """The errors (estimate - truth), draws x 6 frames x (rows, cols)."""
    import ptychopatch
    from scipy import ndimage
    from skimage import data, util

    photo = util.img_as_float(getattr(data, args.photo)())[..., :3]
    if args.flip:
        photo = photo[::-1]
    margin = 32
    size = args.size - args.size % 6
    scene = scenes.collage(photo, size + 2 * margin, size + 2 * margin,
                           offset=17 * scenes.PHOTOS.index(args.photo))
    if args.sigma > 0:
        scene = ndimage.gaussian_filter(scene, (args.sigma, args.sigma, 0), mode="wrap")
    window = (slice(margin, margin + size), slice(margin, margin + size))
    pattern = scenes.BAYER[args.layout]
    dy, dx = args.shift
    truth = np.array([-dy, -dx])
    reference = scenes.mosaic(scene[window], pattern)
    moved = scenes.mosaic(scenes.translate(scene, dy, dx)[window], pattern)
    rng = np.random.default_rng(args.seed)
    errors = []  # per draw, the six frames' (row, column) errors
    for _ in range(args.draws):
        gt = scenes.expose(reference, args.gt_gain or args.gain, rng)
        frames = [scenes.expose(moved, args.frame_gain or args.gain, rng) for _ in range(6)]
        if args.swap:
            shifts = [-np.asarray(ptychopatch.align_scene(f, [gt], cfa=args.layout,
                                                          backend=args.backend).shifts[0])
                      for f in frames]
        else:
            shifts = ptychopatch.align_scene(gt, frames, cfa=args.layout,
                                             backend=args.backend).shifts
        errors.append([np.asarray(s, dtype=float) - truth for s in shifts])
    return np.asarray(errors)


def main(argv) -> int:
    args = parse(argv)
    e = measure(args)
    if args.dump:
        np.save(args.dump, e)
    dy, dx = args.shift
    flat = e.reshape(-1, 2)
    per_draw = e.mean(axis=1)
    standard_error = per_draw.std(axis=0, ddof=1) / np.sqrt(args.draws)
    print(f"{args.photo} {args.layout} sigma {args.sigma:g} gain {args.gain:g} "
          f"(GT {args.gt_gain or args.gain:g}, frames {args.frame_gain or args.gain:g}) "
          f"move {dy:g}, {dx:g}{' flipped' if args.flip else ''}{' swapped' if args.swap else ''}: "
          f"{flat.shape[0]} frames, {args.draws} GT draws")
    print(f"mean error (rows, cols) {flat.mean(axis=0).round(3)}  "
          f"sd {flat.std(axis=0).round(3)}  standard error of the mean {standard_error.round(3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
