#!/usr/bin/env python3
"""Scene alignment on large frames whose scenes do not repeat.

bench_align_robustness.py mirror-tiles one photograph, so beyond twice the
photograph's side its scenes are periodic and a shift and its alias show
the same content. Here each scene is a patchwork of pieces of scikit-image's
photographs (random pieces, places and flips: nothing repeats), blurred by
sigma, moved by the robustness benchmark's even, odd and sub-pixel shifts,
mosaiced (RGGB or X-Trans) and exposed with Poisson-Gaussian noise at each
gain. `--flat-centre F` makes the central F x F part of every scene one flat
grey (a scene whose detail lies only near its edges). Prints, per row, the
right crops (as the robustness benchmark counts them), the mean and largest
error of the sub-pixel shift, the lowest confidence of a right crop, the
highest of a wrong one, and the alignment's wall time per frame.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/bench_align_large_frames.py --height 3000 --width 4500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_align_robustness import (BAYER, PHOTOS, SHIFTS, XTRANS,  # noqa: E402
                                    crop_is_right, expose, mosaic, translate)


def patchwork(height: int, width: int, rng: np.random.Generator, piece: int = 256) -> np.ndarray:
    """An RGB scene (floats in [0, 1]) of pieces of the photographs."""
    from skimage import data
    photos = [getattr(data, name)().astype(np.float64) / 255.0 for name in PHOTOS]
    out = np.empty((height, width, 3))
    for top in range(0, height, piece):
        for left in range(0, width, piece):
            photo = photos[rng.integers(len(photos))]
            y = rng.integers(photo.shape[0] - piece + 1)
            x = rng.integers(photo.shape[1] - piece + 1)
            part = photo[y:y + piece, x:x + piece]
            if rng.random() < 0.5:
                part = part[::-1]
            if rng.random() < 0.5:
                part = part[:, ::-1]
            rows, cols = min(piece, height - top), min(piece, width - left)
            out[top:top + rows, left:left + cols] = part[:rows, :cols]
    return out


def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return rgb
    from scipy.ndimage import gaussian_filter
    return np.stack([gaussian_filter(rgb[..., c], sigma, mode="reflect") for c in range(3)],
                    axis=-1)


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--width", type=int, default=4500)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 16.0])
    parser.add_argument("--gains", type=float, nargs="+", default=[16.0, 1024.0])
    parser.add_argument("--layouts", nargs="+", default=["RGGB", "XTRANS"])
    parser.add_argument("--flat-centre", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default="cpu")
    args = parser.parse_args(argv)

    import ptychopatch
    margin = 32
    print("layout | sigma | gain | right | mean error px | largest error px | "
          "lowest right conf | highest wrong conf | s per frame")
    for layout in args.layouts:
        pattern = XTRANS if layout == "XTRANS" else BAYER[layout]
        cfa = np.asarray(XTRANS) if layout == "XTRANS" else layout
        for sigma in args.sigmas:
            for gain in args.gains:
                rng = np.random.default_rng([args.seed, int(sigma), int(gain), len(layout)])
                scene = patchwork(args.height + 2 * margin, args.width + 2 * margin, rng)
                if args.flat_centre:
                    f = args.flat_centre
                    cy, cx = scene.shape[0] // 2, scene.shape[1] // 2
                    scene[cy - f // 2:cy + f // 2, cx - f // 2:cx + f // 2] = 0.3
                scene = blur(scene, sigma)
                window = (slice(margin, margin + args.height), slice(margin, margin + args.width))
                gt = expose(mosaic(scene[window], pattern), gain, rng)
                frames = [expose(mosaic(translate(scene, dy, dx)[window], pattern), gain, rng)
                          for dy, dx in SHIFTS]
                start = time.perf_counter()
                result = ptychopatch.align_scene(gt, frames, cfa=cfa, backend=args.backend)
                seconds = (time.perf_counter() - start) / len(frames)
                right, errors, right_conf, wrong_conf = 0, [], [], []
                for k, truth in enumerate(SHIFTS):
                    # The frame shows the scene moved by truth; its crop is -truth.
                    want = (-truth[0], -truth[1])
                    crop = tuple(int(v) for v in result.crops[k])
                    ok = crop_is_right(crop, want, pattern, strict=False)
                    right += ok
                    errors.append(float(np.max(np.abs(np.asarray(result.shifts[k]) - want))))
                    (right_conf if ok else wrong_conf).append(float(result.confidence[k]))
                print(f"{layout} | {sigma:g} | {gain:g} | {right}/{len(SHIFTS)} | "
                      f"{np.mean(errors):.3f} | {np.max(errors):.3f} | "
                      f"{min(right_conf) if right_conf else float('nan'):.3f} | "
                      f"{max(wrong_conf) if wrong_conf else float('nan'):.3f} | {seconds:.2f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
