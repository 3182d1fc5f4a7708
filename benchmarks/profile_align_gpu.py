#!/usr/bin/env python3
"""Where a GPU scene alignment spends its time, without Nsight Systems.

The lent GPU machines have PyTorch but (2026-11-26) no ``nsys``. PyTorch's
profiler records, through CUPTI, every kernel, copy and CUDA runtime call of
the process, the library's included. This script aligns one Bayer uint16
scene (default 24 MP, 4000 x 6000, a reference and 8 moving frames, as
``bench_align_gpu``) with ``align_scene(..., backend="gpu")`` once to warm
up, then once under the profiler, and prints:

* the call's wall time and, over the profiled call, the summed device time
  of kernels and of copies, and their share of the wall time;
* the kernels, copies and runtime calls with the most time (device time
  for kernels and copies, host time for runtime calls such as
  ``cudaEventSynchronize``, which is where the host waits).

``--verify none`` (the default here) profiles the coarse estimate alone, the
``verify:0`` rows of ``bench_align_gpu``; ``--verify refine`` the default
estimator, whose fine stage runs on the host. ``--calls N`` profiles N
calls in a row in one profiler session and prints each one's wall time (the
tables sum them): the H200 run of 2026-11-26 saw 28 ms before a lone
profiled call's first CUDA call that the C++ benchmark, without a
profiler, does not show; a second call in the same session tells whether
that is the profiler's start-up. ``--trace FILE`` also writes a Chrome
trace (chrome://tracing, Perfetto). Exits 0, saying so, where PyTorch or a
CUDA device is missing.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build-gpu/libptychopatch.so \\
        python3 benchmarks/profile_align_gpu.py [--size 4000 6000] [--frames 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def scene(height: int, width: int, frames: int, seed: int = 0):
    """A uint16 RGGB scene: the benchmark data module's smooth mosaic, moved
    by even whole-pixel shifts, with noise, clipped to 12 bits."""
    from ptychopatch._bench.data import bayer_scene

    gt, moving, _ = bayer_scene(np.random.default_rng(seed), height, width, frames)
    as_raw = lambda f: np.clip(np.rint(f), 0, 4095).astype(np.uint16)  # noqa: E731
    return as_raw(gt), [as_raw(f) for f in moving]


def device_time(event) -> float:
    """An averaged event's own device time in microseconds (PyTorch renamed
    the field from cuda to device)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(4000, 6000), metavar=("H", "W"))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--verify", choices=("none", "refine"), default="none")
    parser.add_argument("--rows", type=int, default=25, help="rows of each table")
    parser.add_argument("--calls", type=int, default=1, help="calls profiled in a row")
    parser.add_argument("--trace", help="also write a Chrome trace here")
    args = parser.parse_args(argv)

    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        print("profile_align_gpu: PyTorch is not installed: nothing to profile")
        return 0
    if not torch.cuda.is_available():
        print("profile_align_gpu: no CUDA device: nothing to profile")
        return 0
    import ptychopatch

    info = ptychopatch.backend_info()
    if info.backend != "gpu":
        print(f"profile_align_gpu: the library runs on the CPU here ({info.message}): "
              "nothing to profile")
        return 0

    height, width = args.size
    gt, frames = scene(height, width, args.frames)
    verify = False if args.verify == "none" else "refine"
    kwargs = dict(cfa="RGGB", backend="gpu", verify=verify)
    ptychopatch.align_scene(gt, frames, **kwargs)  # plans, device memory, warm-up
    torch.cuda.synchronize()
    walls = []
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(max(1, args.calls)):
            start = time.perf_counter()
            ptychopatch.align_scene(gt, frames, **kwargs)
            walls.append(time.perf_counter() - start)
    wall = sum(walls)
    if args.trace:
        prof.export_chrome_trace(args.trace)

    events = prof.key_averages()
    kernels = [e for e in events if device_time(e) > 0 and "memcpy" not in e.key.lower()
               and "memset" not in e.key.lower()]
    copies = [e for e in events if device_time(e) > 0 and e not in kernels]
    runtime = [e for e in events if e.key.startswith("cuda") and device_time(e) == 0]
    kernel_us = sum(device_time(e) for e in kernels)
    copy_us = sum(device_time(e) for e in copies)
    calls = len(walls)
    print(f"scene {height} x {width}, {args.frames} moving frames, verify={args.verify}: "
          f"{wall * 1e3 / calls:.1f} ms wall per call "
          f"({wall * 1e3 / calls / args.frames:.1f} ms per frame)")
    if calls > 1:
        print("  each call: " + ", ".join(f"{w * 1e3:.1f} ms" for w in walls)
              + f" (the tables below sum the {calls} calls)")
    print(f"  kernels {kernel_us / 1e3:.1f} ms ({kernel_us / 1e4 / wall:.0f} % of the wall time), "
          f"copies {copy_us / 1e3:.1f} ms ({copy_us / 1e4 / wall:.0f} %)")

    def table(title, rows, key):
        print(f"\n{title}")
        print(f"  {'ms':>9} {'calls':>7}  name")
        for e in sorted(rows, key=key, reverse=True)[:args.rows]:
            print(f"  {key(e) / 1e3:9.2f} {e.count:7d}  {e.key[:110]}")

    table("kernels (device time)", kernels, device_time)
    table("copies and fills (device time)", copies, device_time)
    table("CUDA runtime calls (host time)", runtime, lambda e: float(e.self_cpu_time_total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
