#!/usr/bin/env python3
"""Group the scan positions of a PtychoPINN dataset and cut its object patches.

Reads a PtychoPINN-style ``.npz`` (``objectGuess``: complex (H, W) object;
``xcoords``, ``ycoords``: the scan positions in object pixels; any other key
is ignored), forms ``nsamples`` groups of ``gridsize**2`` neighbouring
positions with ``ptychopatch.grouped_patches`` (PtychoPINN's
sample-then-group over a pool of the ``K`` nearest neighbours), cuts the
N x N object patch of every member, and writes PtychoPINN's arrays to an
output ``.npz``:

    nn_indices       (B, C)        int64    member indices into xcoords/ycoords
    coords_nn        (B, 1, 2, C)  float64  member positions ([.., 0, :] = x, [.., 1, :] = y)
    coords_offsets   (B, 1, 2, 1)  float64  group centres (member mean)
    coords_relative  (B, 1, 2, C)  float64  -(member - centre)
    Y                (B, N, N, C)  complex64 object patches

with B = nsamples and C = gridsize**2, plus the parameters used (N, K,
gridsize, seed).

Examples::

    # a small synthetic dataset, then its patches
    python3 ptychopinn_npz_to_patches.py --make-synthetic /tmp/synthetic.npz
    python3 ptychopinn_npz_to_patches.py /tmp/synthetic.npz /tmp/patches.npz \
        --nsamples 256 --seed 1

    # a real dataset: N taken from probeGuess when --N is not given
    python3 ptychopinn_npz_to_patches.py fly001.npz fly001_groups.npz \
        --nsamples 5000 --K 7 --gridsize 2 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, Optional, Sequence

import numpy as np

#: Keys written by `make_synthetic`, as PtychoPINN names them.
REQUIRED_KEYS = ("objectGuess", "xcoords", "ycoords")


def make_synthetic(path: str, size: int = 192, N: int = 32, step: float = 8.0,
                   seed: int = 0) -> Dict[str, np.ndarray]:
    """Writes a small PtychoPINN-style dataset to `path` and returns its arrays.

    The object is a smooth complex pattern (amplitude in [0.5, 1], phase in
    [-1, 1] rad); the scan is a jittered raster of step `step` pixels whose
    positions keep every N x N patch inside the object; probeGuess is an
    N x N Gaussian (the example takes N from it).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    amplitude = 0.75 + 0.25 * np.sin(2 * np.pi * 3 * xx) * np.cos(2 * np.pi * 2 * yy)
    phase = np.sin(2 * np.pi * (xx + 2 * yy))
    obj = (amplitude * np.exp(1j * phase)).astype(np.complex64)

    half = N / 2
    grid = np.arange(half + 2, size - half - 2, step)
    gx, gy = np.meshgrid(grid, grid)
    x = gx.ravel() + rng.uniform(-1, 1, gx.size)
    y = gy.ravel() + rng.uniform(-1, 1, gy.size)

    py, px = np.mgrid[0:N, 0:N].astype(np.float64) - (N - 1) / 2
    probe = np.exp(-(px**2 + py**2) / (2 * (N / 6) ** 2)).astype(np.complex64)

    arrays = {"objectGuess": obj, "xcoords": x, "ycoords": y, "probeGuess": probe}
    np.savez(path, **arrays)
    return arrays


def load_dataset(path: str) -> Dict[str, np.ndarray]:
    """The arrays of a PtychoPINN ``.npz`` this example uses, checked."""
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in REQUIRED_KEYS if k not in data.files]
        if missing:
            raise KeyError(f"{path}: missing key(s) {missing}; present: {sorted(data.files)}")
        arrays = {k: data[k] for k in REQUIRED_KEYS}
        if "probeGuess" in data.files:
            arrays["probeGuess"] = data["probeGuess"]
    obj = np.squeeze(arrays["objectGuess"])  # (H, W, 1) is accepted too
    if obj.ndim != 2:
        raise ValueError(f"{path}: objectGuess must be (H, W), got shape {arrays['objectGuess'].shape}")
    arrays["objectGuess"] = obj
    x = np.asarray(arrays["xcoords"], dtype=np.float64).ravel()
    y = np.asarray(arrays["ycoords"], dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{path}: xcoords has {x.size} positions, ycoords {y.size}")
    arrays["xcoords"], arrays["ycoords"] = x, y
    return arrays


def npz_to_patches(arrays: Dict[str, np.ndarray], N: int, nsamples: int, K: int = 4,
                   gridsize: int = 2, seed: Optional[int] = None, *, oversample: bool = False,
                   backend: str = "auto") -> Dict[str, np.ndarray]:
    """`ptychopatch.grouped_patches` on a loaded dataset: PtychoPINN's arrays."""
    import ptychopatch

    if not hasattr(ptychopatch, "grouped_patches"):
        raise RuntimeError(
            f"this ptychopatch ({ptychopatch.version()}) has no grouped_patches; "
            "install the package from a checkout that has it (pip install .)"
        )
    return ptychopatch.grouped_patches(arrays["objectGuess"], arrays["xcoords"],
                                       arrays["ycoords"], N, nsamples, K=K,
                                       gridsize=gridsize, seed=seed, oversample=oversample,
                                       backend=backend)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes nn_indices, coords_nn, coords_offsets, coords_relative and Y.")
    parser.add_argument("input", nargs="?", help="PtychoPINN .npz (objectGuess, xcoords, ycoords)")
    parser.add_argument("output", nargs="?", help="output .npz")
    parser.add_argument("--make-synthetic", metavar="PATH",
                        help="write a small synthetic dataset to PATH (then stop unless "
                             "input and output are given too)")
    parser.add_argument("--N", type=int, default=None,
                        help="patch size; default: probeGuess's size, else 64")
    parser.add_argument("--nsamples", type=int, default=512, help="groups to form (default 512)")
    parser.add_argument("--K", type=int, default=4,
                        help="neighbour pool of each seed position (default 4)")
    parser.add_argument("--gridsize", type=int, default=2,
                        help="group side: gridsize**2 members per group (default 2)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (same seed, same groups on every run and backend)")
    parser.add_argument("--oversample", action="store_true",
                        help="allow more groups than positions (several groups per seed)")
    parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where the patches are cut (default: the GPU when usable)")
    args = parser.parse_args(argv)

    if args.make_synthetic:
        make_synthetic(args.make_synthetic)
        print(f"wrote synthetic dataset {args.make_synthetic}")
        if args.input is None:
            return 0
    if args.input is None or args.output is None:
        parser.error("input and output are required (or --make-synthetic PATH alone)")

    import ptychopatch

    try:
        arrays = load_dataset(args.input)
    except (OSError, KeyError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    N = args.N
    if N is None:
        probe = arrays.get("probeGuess")
        N = int(np.squeeze(probe).shape[0]) if probe is not None else 64
    start = time.perf_counter()
    try:
        result = npz_to_patches(arrays, N, args.nsamples, K=args.K, gridsize=args.gridsize,
                                seed=args.seed, oversample=args.oversample,
                                backend=args.backend)
    except (RuntimeError, ValueError, TypeError, ptychopatch.PtychoPatchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start

    out = {"N": N, "K": args.K, "gridsize": args.gridsize,
           "seed": -1 if args.seed is None else args.seed}  # -1: no seed given
    out.update((name, np.asarray(value)) for name, value in result.items())
    np.savez(args.output, **out)

    H, W = arrays["objectGuess"].shape
    Y = out["Y"]
    print(f"ptychopatch {ptychopatch.version()}: {arrays['xcoords'].size} positions, "
          f"object {H} x {W}")
    print(f"{Y.shape[0]} groups of {Y.shape[-1]}, patches {Y.shape} {Y.dtype} "
          f"in {elapsed:.3f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
