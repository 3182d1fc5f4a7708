#!/usr/bin/env python3
"""Neighbour grouping: ptychopatch.group_neighbors against scipy's cKDTree, same run.

Scan positions (default n = 1,000,000), float64 pixels:

* ``uniform`` (default): x and y independent and uniform over the square
  [0, L) x [0, L) with L = sqrt(n) * 4, i.e. on average one position per
  4 x 4 pixels (numpy's default_rng(seed));
* ``raster`` (``--layout raster``): a sqrt(n) x sqrt(n) raster of step 4
  pixels, each position jittered by a uniform offset in [-1, 1) pixels per
  axis (n rounded down to a square).

Timed, best of ``--repeat`` runs (the median is printed too):

* ptychopatch: ``group_neighbors(x, y, nsamples, K, gridsize, seed)``, the
  whole of PtychoPINN's sample-then-group: seed draw, exact k-NN pool of
  every seed (K nearest, the seed excluded), member draw, and the
  nn_indices / coords_nn / coords_offsets / coords_relative outputs;
* scipy: ``cKDTree(points)`` build plus ``query(points, k=K + 1)`` for all n
  points, with ``workers=1`` and ``workers=-1`` (all cores): the k-NN
  search alone, which is what PtychoPINN's grouping spends its time in; no
  sampling, member draw or coordinate arrays.

Prints the times and the ratio cKDTree / ptychopatch (> 1: ptychopatch is
faster, although it does more). As a check, the pools of a few sequential
seeds are compared with cKDTree's neighbours. Usage:

    PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python \\
        python3 benchmarks/bench_group_ckdtree.py [--n 1000000 --nsamples 1000000 \\
        --K 8 --gridsize 2 --repeat 3 --threads 0 --layout uniform]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from _bench_common import print_run_header, timed


def positions(n: int, layout: str, seed: int):
    """(x, y) float64 scan positions, see the module docstring."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(n))
    if layout == "uniform":
        extent = np.sqrt(n) * 4.0
        return rng.uniform(0.0, extent, n), rng.uniform(0.0, extent, n)
    gx, gy = np.meshgrid(np.arange(side) * 4.0, np.arange(side) * 4.0)
    m = side * side
    return (gx.ravel() + rng.uniform(-1.0, 1.0, m), gy.ravel() + rng.uniform(-1.0, 1.0, m))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="scan positions")
    ap.add_argument("--nsamples", type=int, default=None, help="groups (default: n)")
    ap.add_argument("--K", type=int, default=8, help="neighbour pool size")
    ap.add_argument("--gridsize", type=int, default=2, help="group side (C = gridsize**2)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of each (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="library CPU threads, 0 = all")
    ap.add_argument("--layout", choices=["uniform", "raster"], default="uniform")
    ap.add_argument("--seed", type=int, default=1, help="positions and grouping seed")
    args = ap.parse_args(argv)

    import scipy
    from scipy.spatial import cKDTree

    import ptychopatch

    x, y = positions(args.n, args.layout, args.seed)
    n = x.size
    nsamples = n if args.nsamples is None else args.nsamples
    K, grid = args.K, args.gridsize
    points = np.column_stack([x, y])

    print_run_header(f"ptychopatch {ptychopatch.version()}, scipy {scipy.__version__},"
                     f" numpy {np.__version__}")
    print(f"positions {n} float64, layout {args.layout} (seed {args.seed}); "
          f"nsamples {nsamples}, K {K}, gridsize {grid} (C = {grid * grid})")

    def ours():
        return ptychopatch.group_neighbors(x, y, nsamples, K=K, gridsize=grid, seed=args.seed,
                                           oversample=nsamples > n, num_threads=args.threads)

    # A first small call creates the library context and its threads.
    ptychopatch.group_neighbors(x[:1000], y[:1000], 10, K=K, gridsize=grid, seed=0,
                                num_threads=args.threads)
    best, med, groups = timed(ours, args.repeat)
    print(f"  ptychopatch group_neighbors threads={args.threads or os.cpu_count():<3} "
          f"{best:8.3f} s best ({med:.3f} median of {args.repeat})")
    assert groups["nn_indices"].shape == (nsamples, grid * grid)

    # Check: the pools of the first sequential seeds against cKDTree.
    probe = min(n, 2000)
    seq = ptychopatch.group_neighbors(x, y, probe, K=K, gridsize=grid, seed=args.seed,
                                      sequential=True, num_threads=args.threads)
    _, nearest = cKDTree(points).query(points[:probe], k=K + 1)
    bad = sum(not set(row.tolist()) <= set(nearest[b].tolist()) - {b}
              for b, row in enumerate(seq["nn_indices"]))
    print(f"  check: {probe - bad} / {probe} sequential groups inside cKDTree's K-NN pool")

    for workers in (1, -1):
        def theirs():
            tree = cKDTree(points)
            return tree.query(points, k=K + 1, workers=workers)

        sk_best, sk_med, _ = timed(theirs, args.repeat)
        label = "all" if workers == -1 else str(workers)
        print(f"  scipy cKDTree build+query(k={K + 1}) workers={label:<3}  "
              f"{sk_best:8.3f} s best ({sk_med:.3f} median of {args.repeat});  "
              f"cKDTree / ptychopatch = {sk_best / best:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
