#!/usr/bin/env python3
"""Wall time of scene alignment per estimator: the default luminance image
against the joint peak of the colour planes it replaced (its baseline, in
the same run).

A scene of a GT frame and ``--frames`` moving frames (uint16, a smooth
random scene with noise, content moved by (4k, -6k) for frame k), Bayer
(RGGB) and X-Trans, aligned with ``align_scene(..., combine=...)`` on the
CPU backend with measured FFT plans after a first call that plans them;
prints the best of ``--repeat`` wall times per estimator and thread count,
the ratio to the joint peak, and whether every crop is right. Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_align_estimators.py [--height 4024 --width 6048 \\
        --frames 4 --threads 1 2 --repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

XTRANS = np.array([[1, 1, 0, 1, 1, 2], [1, 1, 2, 1, 1, 0], [2, 0, 1, 0, 2, 1],
                   [1, 1, 2, 1, 1, 0], [1, 1, 0, 1, 1, 2], [0, 2, 1, 2, 0, 1]])


def scene(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage
    coarse = rng.uniform(500.0, 4000.0, (height // 8 + 2, width // 8 + 2)).astype(np.float32)
    smooth = ndimage.zoom(coarse, 8, order=1)[:height, :width]
    noisy = smooth + rng.normal(0.0, 30.0, (height, width))
    return noisy.clip(0, 16383).astype(np.uint16)


def main(argv) -> int:
    # The deprecated estimators are compared here on purpose.
    warnings.filterwarnings("ignore", message=r"(combine|verify|normalization|window)=.* is deprecated",
                            category=DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=4024)
    parser.add_argument("--width", type=int, default=6048)
    parser.add_argument("--frames", type=int, default=4, help="moving frames per scene")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--layouts", nargs="+", default=["RGGB", "XTRANS"])
    args = parser.parse_args(argv)

    import ptychopatch

    rng = np.random.default_rng(0)
    gt = scene(args.height, args.width, rng)
    moves = [(4 * k, -6 * k) for k in range(1, args.frames + 1)]
    frames = [np.roll(gt, m, axis=(0, 1)) for m in moves]
    print(f"{args.height} x {args.width} uint16, GT + {args.frames} frames, best of "
          f"{args.repeat} wall times (CPU backend, measured plans)")
    print("layout | threads | luma s | joint s | luma / joint | crops right (luma, joint)")
    for layout in args.layouts:
        cfa = XTRANS if layout == "XTRANS" else layout
        period = 6 if layout == "XTRANS" else 2
        for threads in args.threads:
            best, right = {}, {}
            for combine in ("luma", "joint"):
                call = dict(cfa=cfa, combine=combine, num_threads=threads, planning="measure",
                            backend="cpu")
                ptychopatch.align_scene(gt, frames[:1], **call)  # plans the sizes
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    result = ptychopatch.align_scene(gt, frames, **call)
                    times.append(time.perf_counter() - start)
                best[combine] = min(times)
                # Registering shift -m; right = within half a period per axis.
                right[combine] = all(
                    abs(c[0] + m[0]) <= period / 2 and abs(c[1] + m[1]) <= period / 2
                    for c, m in zip(result.crops.tolist(), moves))
            print(f"{layout} | {threads} | {best['luma']:.2f} | {best['joint']:.2f} | "
                  f"{best['luma'] / best['joint']:.2f} | {right['luma']}, {right['joint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
