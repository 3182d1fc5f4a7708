#!/usr/bin/env python3
"""What a frame the gate doubts costs: the default against the coarse stage.

The default (`verify="refine"`) passes most frames on a quick polish; a frame
it doubts (smooth scene, heavy noise) takes the thorough polish, the fine
stage's dearest step. Each scene here is a smooth random field (Gaussian
filtered white noise) of side N, a GT and frames moved by random sub-pixel
shifts, Gaussian noise of standard deviation `--noise` times the field's
range added to every frame. Prints, per side: the share of frames the
default leaves below confidence 0.95, the default's and the coarse stage's
(`verify=False`) time per frame (median and range of `--repeat` calls), their
ratio, and the mean |error| of the default's shift.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/bench_align_doubted.py --sides 252 1100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import print_run_header  # noqa: E402


def scene(side: int, frames: int, noise: float, rng: np.random.Generator):
    """(gt, frames, true shifts): float32 RGGB mosaics of one smooth field."""
    from scipy import ndimage
    pad = 32
    field = ndimage.gaussian_filter(rng.standard_normal((side + 2 * pad,) * 2), 10)
    field = (field - field.min()) / np.ptp(field) * 4000.0 + 300.0
    sd = noise * 4000.0

    def exposed(image):
        cut = image[pad:pad + side, pad:pad + side]
        return (cut + rng.normal(0.0, sd, cut.shape)).astype(np.float32)

    shifts = rng.uniform(-8.0, 8.0, (frames, 2))
    moved = [exposed(ndimage.shift(field, s, order=3)) for s in shifts]
    return exposed(field), moved, shifts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[252, 1100])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.75)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import ptychopatch
    print_run_header(f"ptychopatch {ptychopatch.__version__}, numpy {np.__version__}")
    print(f"{args.frames} frames per scene, noise {args.noise} of the range, "
          f"{args.threads} thread(s), {args.repeat} calls each")
    print("side | doubted | default s/frame | coarse s/frame | default / coarse | mean |error| px")
    rng = np.random.default_rng(args.seed)
    opts = dict(cfa="RGGB", num_threads=args.threads, planning="estimate")
    for side in args.sides:
        gt, frames, shifts = scene(side, args.frames, args.noise, rng)
        runs = {}
        for name, verify in (("default", "refine"), ("coarse", False)):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = ptychopatch.align_scene(gt, frames, verify=verify, **opts)
                times.append((time.perf_counter() - start) / args.frames)
            runs[name] = (times, result)
        (t_default, result), (t_coarse, _) = runs["default"], runs["coarse"]
        doubted = int(np.sum(np.asarray(result.confidence) < 0.95))
        # align_scene's shift registers a frame to the GT: minus the motion.
        error = np.abs(np.asarray(result.shifts) + shifts).mean()
        med_d, med_c = statistics.median(t_default), statistics.median(t_coarse)
        print(f"{side} | {doubted}/{args.frames} | {med_d:.4f} ({min(t_default):.4f}-"
              f"{max(t_default):.4f}) | {med_c:.4f} ({min(t_coarse):.4f}-{max(t_coarse):.4f}) | "
              f"{med_d / med_c:.0f} | {error:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
