#!/usr/bin/env python3
"""A training step through patch extraction: ptychopatch.torch against grid_sample.

The step: P patches of N x N complex64 cut from one H x W complex64 object
at fractional offsets, a real loss <w, P>, and its backward pass, which
gives the gradients with respect to the object and to the offsets (a
position-correcting reconstruction needs both). Written twice, as a
PyTorch user would:

* ``ptychopatch.torch.extract_patches`` (autograd: the reassembly of the
  upstream gradient, and the library's offsets gradient);
* ``torch.nn.functional.grid_sample`` (bilinear, zero padding,
  ``align_corners=False``) on the object as a (1, 2, H, W) real tensor, with
  a sampling grid built from the offsets inside the step, so autograd
  carries the gradient to them.

The step and the peer are the suite's (``ptychopatch bench --only train``,
ptychopatch/_bench/train.py); this script adds CUDA. The offsets lie on a
1/1024-pixel lattice, where every step of the grid's
formula is exact in float32: both sample the same positions, and the
forward results, the object gradients and the offsets gradients are
checked to agree before anything is timed. Times: the median of
``--repeat`` steps after a warm-up, with the spread (min-max), on the CPU
(PyTorch's and the library's threads both torch.get_num_threads()) and on
CUDA when a device is there (events, the current stream).

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/bench_torch_autograd.py [--patches 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings


def inputs(torch, H, P, N, device, seed):
    gen = torch.Generator().manual_seed(seed)
    obj = torch.polar(torch.rand((H, H), generator=gen),
                      torch.rand((H, H), generator=gen) * 6.283).to(torch.complex64)
    offsets = torch.randint(N * 512, (H - N) * 1024, (P, 2), generator=gen).double() / 1024
    weights = torch.polar(torch.rand((P, N, N), generator=gen),
                          torch.rand((P, N, N), generator=gen) * 6.283).to(torch.complex64)
    return obj.to(device), offsets.to(device), weights.to(device)


def timed(torch, device, run, repeat):
    run()  # warm-up (plans, allocator)
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="object side H = W")
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("-N", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a PyTorch built for numpy 1 warns beside numpy 2
        try:
            import torch
        except ImportError:
            print("bench_torch_autograd: PyTorch is not installed; nothing to compare")
            return 0
        import ptychopatch.torch as ptt
        from ptychopatch._bench.train import TOLERANCES, agreement, grid_sample_patches, step

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    N = args.N
    print(f"{args.patches} patches of {N} x {N} from a {args.size} x {args.size} complex64 "
          f"object; forward + backward (object and offsets gradients); PyTorch "
          f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    print("device | ptychopatch.torch s (min-max) | grid_sample s (min-max) | speed-up | "
          "agreement: patches, object grad, offsets grad")
    failed = False
    for device in devices:
        obj, offsets, weights = inputs(torch, args.size, args.patches, N, device, args.seed)
        ours = lambda o, off: ptt.extract_patches(o, off, N, layout="flat")  # noqa: E731
        peer = lambda o, off: grid_sample_patches(torch, o, off, N)  # noqa: E731
        agree = agreement(step(torch, ours, obj, offsets, weights),
                          step(torch, peer, obj, offsets, weights))
        if not all(a <= t for a, t in zip(agree, TOLERANCES)):
            print(f"{device.type}: the two steps disagree ({agree}); not timed")
            failed = True
            continue
        t_ours = timed(torch, device, lambda: step(torch, ours, obj, offsets, weights),
                       args.repeat)
        t_peer = timed(torch, device, lambda: step(torch, peer, obj, offsets, weights),
                       args.repeat)
        print(f"{device.type} | {t_ours[0]:.4f} ({t_ours[1]:.4f}-{t_ours[2]:.4f}) | "
              f"{t_peer[0]:.4f} ({t_peer[1]:.4f}-{t_peer[2]:.4f}) | "
              f"{t_peer[0] / t_ours[0]:.2f}x | "
              + ", ".join(f"{x:.1e}" for x in agree))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
