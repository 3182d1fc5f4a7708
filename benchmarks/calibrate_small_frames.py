#!/usr/bin/env python3
"""Is align_scene's confidence a probability on small blurred frames?

The robustness benchmark (bench_align_robustness.py) has 252-pixel frames
and six fixed shifts; this sweep has the frames where the polish knows
least: 64- and 96-pixel RGGB frames of the benchmark's four photographs,
blurred by sigma 8 and 16 pixels, gain 128, three collages per photograph
and four random sub-pixel shifts each (uniform within 15 % of the side per
axis): 192 frames per seed. It prints how many crops are right (the
benchmark's rule), the sum of the confidences (a probability's sum is the
expected number right), the wrong crops at confidence >= 0.95 and >= 0.8
and how many of those lie more than half a pixel from the truth (the rest
lie within the confidence's documented 0.25-pixel tolerance of an odd
truth), and the rms error of the shifts. Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/calibrate_small_frames.py [--seed 5] [--backend cpu]

(--sizes and --sigmas choose other frames; the defaults are the sweep of
docs/notes/alignment.md, "Small blurred frames: the cut draws the fit".)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_align_robustness as bench  # noqa: E402


def sweep(seed: int, backend: str = "cpu", sizes=(64, 96), sigmas=(8, 16)) -> list:
    """(right, confidence, |shift - truth| on the worse axis) per frame."""
    import ptychopatch
    from scipy import ndimage
    from skimage import data, util

    rng = np.random.default_rng(seed)
    photos = {name: util.img_as_float(getattr(data, name)())[..., :3] for name in bench.PHOTOS}
    pattern = bench.BAYER["RGGB"]
    outcomes = []
    for size in sizes:
        margin = 32 + int(0.15 * size) + 2
        window = (slice(margin, margin + size), slice(margin, margin + size))
        for sigma in sigmas:
            for p_index, photo in enumerate(photos.values()):
                for scene_index in range(3):
                    scene = bench.collage(photo, size + 2 * margin, size + 2 * margin,
                                          offset=17 * p_index + 41 * scene_index)
                    if sigma > 0:
                        scene = ndimage.gaussian_filter(scene, (sigma, sigma, 0), mode="wrap")
                    gt = bench.expose(bench.mosaic(scene[window], pattern), 128, rng)
                    frames, truths = [], []
                    for _ in range(4):
                        dy, dx = rng.uniform(-0.15 * size, 0.15 * size, 2)
                        moved = bench.translate(scene, dy, dx)[window]
                        frames.append(bench.expose(bench.mosaic(moved, pattern), 128, rng))
                        truths.append((-dy, -dx))  # the shift that registers it
                    found = ptychopatch.align_scene(gt, frames, cfa="RGGB", backend=backend)
                    for k, truth in enumerate(truths):
                        crop = tuple(int(v) for v in found.crops[k])
                        right = bench.crop_is_right(crop, truth, pattern, False)
                        error = float(np.abs(np.asarray(found.shifts[k]) - truth).max())
                        outcomes.append((right, float(found.confidence[k]), error))
    return outcomes


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[8, 16])
    args = parser.parse_args(argv)
    outcomes = sweep(args.seed, args.backend, args.sizes, args.sigmas)
    right = sum(r for r, _, _ in outcomes)
    print(f"seed {args.seed}: {len(outcomes)} frames, {right} crops right, "
          f"confidences sum to {sum(c for _, c, _ in outcomes):.1f}")
    for level in (0.95, 0.8):
        wrong = [e for r, c, e in outcomes if not r and c >= level]
        print(f"wrong crops at confidence >= {level}: {len(wrong)} "
              f"({sum(e > 0.5 for e in wrong)} more than 0.5 pixel off)")
    print(f"right crops at confidence >= 0.95: {sum(r and c >= 0.95 for r, c, _ in outcomes)}")
    print(f"rms |shift - truth| (worse axis): "
          f"{np.sqrt(np.mean([e * e for _, _, e in outcomes])):.2f} pixel")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
