#!/usr/bin/env python3
"""ptychopatch.phase_cross_correlation against scikit-image's, same calls.

Two real images (scikit-image's camera photograph, tiled), the moving one
rolled by (3, -5); for each shape, dtype and upsampling factor both
functions are called with the same arguments, after one warm-up call each,
and the median of --repeat calls is printed: CPU time (time.process_time,
robust to other work on the machine) and wall time, with the ratio
scikit-image / ours. Shifts are checked to be identical.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/bench_pcc_skimage.py [--threads 1] [--backend auto]

--threads 1 (default) runs ours single-threaded like scikit-image; set
OPENBLAS_NUM_THREADS=1 as well for a like-for-like CPU time. --threads 0
lets scipy.fft (and the library) use every core.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def median_time(call, repeat: int, clock) -> float:
    call()
    times = []
    for _ in range(repeat):
        start = clock()
        call()
        times.append(clock() - start)
    return float(np.median(times))


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--shapes", nargs="+", default=["256x256", "512x512", "997x1009",
                                                        "1024x1024", "2048x2048"])
    args = parser.parse_args(argv)

    import ptychopatch
    from skimage import data
    from skimage.registration import phase_cross_correlation as skimage_pcc

    photo = np.tile(data.camera().astype(np.float64), (8, 8))
    print("image | dtype | u | scikit-image CPU ms | ours CPU ms | x (CPU) | "
          "scikit-image wall ms | ours wall ms | x (wall)")
    for shape in args.shapes:
        rows, cols = (int(v) for v in shape.split("x"))
        for dtype in (np.float32, np.float64):
            for upsample in (1, 20):
                ref = photo[:rows, :cols].astype(dtype)
                mov = np.roll(ref, (3, -5), axis=(0, 1))

                def theirs():
                    return skimage_pcc(ref, mov, upsample_factor=upsample)

                def ours():
                    return ptychopatch.phase_cross_correlation(
                        ref, mov, upsample_factor=upsample, backend=args.backend,
                        num_threads=args.threads)

                if not np.array_equal(theirs()[0], ours()[0]):
                    print(f"{shape} {np.dtype(dtype).name} u={upsample}: shifts differ",
                          file=sys.stderr)
                    return 1
                cpu = [median_time(f, args.repeat, time.process_time) for f in (theirs, ours)]
                wall = [median_time(f, args.repeat, time.perf_counter) for f in (theirs, ours)]
                print(f"{rows} x {cols} | {np.dtype(dtype).name} | {upsample} | "
                      f"{cpu[0] * 1e3:.1f} | {cpu[1] * 1e3:.1f} | {cpu[0] / cpu[1]:.2f} | "
                      f"{wall[0] * 1e3:.1f} | {wall[1] * 1e3:.1f} | {wall[0] / wall[1]:.2f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
