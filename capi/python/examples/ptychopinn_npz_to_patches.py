#!/usr/bin/env python3
"""Group the scan positions of a PtychoPINN dataset and cut its object patches.

This script is the ``patches`` command of the ``ptychopatch`` command line
(``ptychopatch patches ...`` or ``python -m ptychopatch patches ...``, see
docs/cli.md) under its old name; the code lives in ``ptychopatch.cli``.

Reads a PtychoPINN-style ``.npz`` (``objectGuess``: complex (H, W) object;
``xcoords``, ``ycoords``: the scan positions in object pixels; where present
``diff3d`` and ``xcoords_start``, ``ycoords_start``; any other key is
ignored), forms ``nsamples`` groups of ``gridsize**2`` neighbouring
positions with ``ptychopatch.grouped_patches`` (PtychoPINN's
sample-then-group over a pool of the ``K`` nearest neighbours), cuts the
N x N object patch of every member, and writes PtychoPINN's arrays to an
output ``.npz``:

    nn_indices       (B, C)        int64    member indices into xcoords/ycoords
    coords_nn        (B, 1, 2, C)  float64  member positions ([.., 0, :] = x, [.., 1, :] = y)
    coords_offsets   (B, 1, 2, 1)  float64  group centres (member mean)
    coords_relative  (B, 1, 2, C)  float64  -(member - centre)
    Y                (B, N, N, C)  complex64 object patches
    diffraction, X_full            diff3d grouped as PtychoPINN's loader groups it
    coords_start_*                 the start positions grouped alike

with B = nsamples (default: one group per scan position) and C =
gridsize**2, plus the parameters used (N, K, gridsize, seed).

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

import sys
from typing import Optional, Sequence

from ptychopatch import cli
# The functions this example used to define, for code that imports them.
from ptychopatch.cli import (REQUIRED_KEYS, load_dataset, make_synthetic,  # noqa: F401
                             npz_to_patches)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``ptychopatch patches`` with this script's arguments."""
    args = sys.argv[1:] if argv is None else list(argv)
    return cli.main(["patches", *args])


if __name__ == "__main__":
    sys.exit(main())
