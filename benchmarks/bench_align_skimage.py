#!/usr/bin/env python3
"""Scene alignment: ptychopatch.align_scene against scikit-image, same run.

One scene: a uint16 Bayer GT frame and M moving frames (default 8 frames of
4000 x 6000 = 24 MP, RGGB), cut at different whole-pixel offsets out of a
tiled photograph (scikit-image's astronaut, mosaiced) with Poisson-Gaussian
noise. Timed, for each upsample factor:

* ptychopatch: ``align_scene(gt, frames, cfa="RGGB", upsample_factor=u,
  backend=...)`` -- one plan, the GT planes transformed once, all frames in
  one call (the time includes the plan and the GT transform);
* scikit-image: ``skimage.registration.phase_cross_correlation`` on each of
  the 4 planes of each frame against the same GT plane, same upsample
  factor, median of the 4 plane shifts (x 2, sensor pixels), as a RawNIND-
  style script does it. Planes are converted to float32 first (conversion
  timed; single-precision FFTs, scikit-image's fastest path). scipy.fft
  runs with 1 worker (scikit-image's default) and, with ``--sk-workers``,
  again with that many FFT workers.

Prints frames/s for each and the speed-up, plus the largest difference
between the two results (they agree to one 1/u step of a plane, 2/u sensor
pixels). Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_align_skimage.py [--height 4000 --width 6000 \\
        --frames 8 --upsample 1 10 --repeat 3 --backend cpu --sk-workers 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from _bench_common import print_run_header, timed


def scene(height: int, width: int, frames: int, seed: int):
    """(gt, [frames], true shifts): uint16 RGGB mosaics of a tiled photo."""
    from skimage import data, util

    rng = np.random.default_rng(seed)
    rgb = util.img_as_float32(data.astronaut())  # (512, 512, 3)
    # Mirror-tile so the texture has no seams, then cut a canvas large
    # enough for every frame's offset.
    margin = 64
    tile = np.concatenate([rgb, rgb[::-1]], axis=0)
    tile = np.concatenate([tile, tile[:, ::-1]], axis=1)
    reps = (-(-(height + 2 * margin) // tile.shape[0]), -(-(width + 2 * margin) // tile.shape[1]))
    canvas = np.tile(tile, (reps[0], reps[1], 1))[: height + 2 * margin, : width + 2 * margin]
    # RGGB: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1).
    mono = np.empty(canvas.shape[:2], np.float32)
    mono[0::2, 0::2] = canvas[0::2, 0::2, 0]
    mono[0::2, 1::2] = canvas[0::2, 1::2, 1]
    mono[1::2, 0::2] = canvas[1::2, 0::2, 1]
    mono[1::2, 1::2] = canvas[1::2, 1::2, 2]

    def raw(y: int, x: int, photons: float) -> np.ndarray:
        # A mosaic cut at an even offset keeps the RGGB phase.
        lin = mono[margin + y: margin + y + height, margin + x: margin + x + width]
        dn = rng.poisson(lin * photons).astype(np.float32)
        dn += 512.0 + rng.normal(0.0, 3.0, lin.shape).astype(np.float32)
        return np.clip(np.rint(dn), 0, 65535).astype(np.uint16)

    gt = raw(0, 0, 16000.0)
    shifts = [(2 * int(rng.integers(-20, 21)), 2 * int(rng.integers(-20, 21)))
              for _ in range(frames)]
    moving = [raw(dy, dx, 1000.0) for dy, dx in shifts]
    return gt, moving, np.array(shifts, dtype=np.float64)


def skimage_scene(gt: np.ndarray, frames, upsample: int) -> np.ndarray:
    import warnings

    from skimage.registration import phase_cross_correlation

    # On float32 planes this large, scikit-image's error estimate overflows
    # float32 (a RuntimeWarning about its `error`, which is not used here);
    # the shifts are unaffected.
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)

    gt_planes = [gt[r::2, c::2].astype(np.float32) for r in (0, 1) for c in (0, 1)]
    out = np.empty((len(frames), 2))
    for m, frame in enumerate(frames):
        shifts = [phase_cross_correlation(g, frame[r::2, c::2].astype(np.float32),
                                          upsample_factor=upsample)[0] * 2
                  for g, (r, c) in zip(gt_planes, [(0, 0), (0, 1), (1, 0), (1, 1)])]
        out[m] = np.median(shifts, axis=0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--frames", type=int, default=8, help="moving frames per scene")
    ap.add_argument("--upsample", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--repeat", type=int, default=3, help="ptychopatch repetitions (best kept)")
    ap.add_argument("--sk-repeat", type=int, default=1, help="scikit-image repetitions")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "auto"])
    ap.add_argument("--threads", type=int, default=0, help="library CPU threads, 0 = all")
    ap.add_argument("--sk-workers", type=int, default=None,
                    help="also time scikit-image with scipy.fft using this many workers "
                         "(0 = os.cpu_count()); default: 1 worker only")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    import scipy
    import scipy.fft
    import skimage

    import ptychopatch

    print_run_header(f"ptychopatch {ptychopatch.version()}, scikit-image {skimage.__version__},"
                     f" scipy {scipy.__version__}, numpy {np.__version__}")
    mp = args.height * args.width / 1e6
    print(f"scene     {args.frames} frames + GT, {args.height} x {args.width} uint16 RGGB "
          f"({mp:.1f} MP), 4 planes of {args.height // 2} x {args.width // 2}")
    t0 = time.perf_counter()
    gt, frames, truth = scene(args.height, args.width, args.frames, args.seed)
    print(f"          generated in {time.perf_counter() - t0:.1f} s")

    sk_workers = []
    if args.sk_workers is not None:
        sk_workers.append(args.sk_workers or os.cpu_count() or 1)

    for u in args.upsample:
        print(f"\nupsample_factor = {u}")
        # A first call warms the library (threads, FFTW plans of this size).
        ptychopatch.align_scene(gt, frames[:1], cfa="RGGB", upsample_factor=u,
                                backend=args.backend, num_threads=args.threads)
        best, med, ours = timed(lambda: ptychopatch.align_scene(
            gt, frames, cfa="RGGB", upsample_factor=u, backend=args.backend,
            num_threads=args.threads), args.repeat)
        ours_fps = args.frames / best
        print(f"  ptychopatch  backend={args.backend:<4}      {best:8.3f} s best "
              f"({med:.3f} median of {args.repeat})  {ours_fps:8.3f} frames/s")
        exact = np.abs(ours.shifts - truth).max()
        print(f"               max |shift - truth| = {exact:.3f} px")
        for workers in [1] + sk_workers:
            with scipy.fft.set_workers(workers):
                sk_best, sk_med, theirs = timed(lambda: skimage_scene(gt, frames, u),
                                                args.sk_repeat)
            sk_fps = args.frames / sk_best
            print(f"  scikit-image scipy.fft workers={workers:<3} {sk_best:8.3f} s best "
                  f"({sk_med:.3f} median of {args.sk_repeat})  {sk_fps:8.3f} frames/s")
            print(f"               max |ptychopatch - scikit-image| = "
                  f"{np.abs(ours.shifts - theirs).max():.3f} px;  "
                  f"speed-up {ours_fps / sk_fps:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
