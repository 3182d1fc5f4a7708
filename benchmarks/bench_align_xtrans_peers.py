"""X-Trans scene alignment against scikit-image per plane, one thread.

A smooth random scene (the suite's kind, low-pass noise) mosaicked as one
image, a GT and ``--frames`` moving frames rolled by multiples of 6 (the
pattern is kept) plus Gaussian noise. Prints the best of ``--repeat`` wall
times per frame of the default (``align_scene``), its coarse stage
(``verify=False``) and scikit-image's ``phase_cross_correlation`` on each
of the 36 planes (median of their shifts), and whether each found the
crops. Needs numpy and scikit-image.

Example::

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_align_xtrans_peers.py --height 2004 --width 3000
"""
import argparse
import time

import numpy as np

import ptychopatch

# The X-Trans layout of Fujifilm's sensors (0 R, 1 G, 2 B).
XTRANS = np.array([[1, 1, 0, 1, 1, 2],
                   [1, 1, 2, 1, 1, 0],
                   [2, 0, 1, 0, 2, 1],
                   [1, 1, 2, 1, 1, 0],
                   [1, 1, 0, 1, 1, 2],
                   [0, 2, 1, 2, 0, 1]])


def scene(rng, height, width, frames):
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    lowpass = np.exp(-(fy ** 2 + fx ** 2) / (2 * 0.05 ** 2))
    noise = rng.standard_normal((height, width))
    gt = np.fft.irfft2(np.fft.rfft2(noise) * lowpass, s=(height, width)).astype(np.float32)
    gt -= gt.min()
    gt *= 4000.0 / gt.max()
    moves = 6 * rng.integers(-3, 4, size=(frames, 2))
    moving = [np.roll(gt, (int(dy), int(dx)), axis=(0, 1))
              + rng.normal(0.0, 20.0, gt.shape).astype(np.float32) for dy, dx in moves]
    return gt, moving, -moves


def per_plane(gt, frames):
    from skimage.registration import phase_cross_correlation
    out = []
    for frame in frames:
        shifts = [phase_cross_correlation(gt[r::6, c::6], frame[r::6, c::6],
                                          normalization=None)[0]
                  for r in range(6) for c in range(6)]
        out.append(6 * np.median(shifts, axis=0))
    return np.array(out)


def best(run, repeat, frames):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times) / frames, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=2004, help="a multiple of 6")
    parser.add_argument("--width", type=int, default=3000, help="a multiple of 6")
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for name in ("height", "width"):
        side = getattr(args, name)
        if side < 36 or side % 6:
            parser.error(f"--{name} {side}: must be a multiple of 6, at least 36")
    if args.frames < 1 or args.repeat < 1:
        parser.error("--frames and --repeat must be at least 1")
    gt, frames, truth = scene(np.random.default_rng(args.seed), args.height, args.width,
                              args.frames)
    n = len(frames)
    default, fit = best(lambda: ptychopatch.align_scene(gt, frames, cfa=XTRANS, num_threads=1),
                        args.repeat, n)
    coarse, _ = best(lambda: ptychopatch.align_scene(gt, frames, cfa=XTRANS, num_threads=1,
                                                     verify=False), args.repeat, n)
    peer, theirs = best(lambda: per_plane(gt, frames), 1, n)
    print(f"{args.height} x {args.width} X-Trans, GT + {n} frames, s a frame, one thread")
    print(f"default {default:.3f} | coarse stage {coarse:.3f} ({default / coarse:.2f}x) | "
          f"scikit-image per plane {peer:.3f} ({peer / default:.2f}x the default's time)")
    print(f"crops right: default {bool(np.array_equal(fit.crops, truth))}, "
          f"scikit-image {bool(np.array_equal(np.round(theirs), truth))}")


if __name__ == "__main__":
    main()
