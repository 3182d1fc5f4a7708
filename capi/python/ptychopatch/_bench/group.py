"""Grouping cases: the library's group_neighbors (PtychoPINN's whole
sample-then-group: seed draw, exact K-NN pool, member draw, coordinate
outputs) against the K-nearest-neighbour search alone in SciPy's cKDTree
(one worker and all) and scikit-learn's NearestNeighbors, which is where
PtychoPINN's grouping spends its time. The peers do less work than the
library; they are checked by asking whether the library's groups of the
first seeds (drawn in order) lie in the peer's K-NN pools.

>>> import numpy as np
>>> pools_hold(np.array([[1, 2]]), np.array([[0, 1, 2, 3]]))
{'ok': True, 'groups_checked': 1, 'outside': 0}
"""

from __future__ import annotations

from typing import List

import numpy as np

from .registry import Entry, Impl, Skipped, optional_module

#: Groups compared with each peer's pools.
PROBE = 500


def pools_hold(groups: np.ndarray, neighbours: np.ndarray) -> dict:
    """Whether every group b (members of seed b) lies in seed b's pool,
    neighbours[b] without b itself (a K-NN query of a point finds it first)."""
    outside = sum(not set(row.tolist()) <= set(neighbours[b].tolist()) - {b}
                  for b, row in enumerate(groups))
    return {"ok": outside == 0, "groups_checked": len(groups), "outside": outside}


def entries(x: np.ndarray, y: np.ndarray, K: int, gridsize: int, threads: int,
            seed: int) -> List[Entry]:
    """The library and the K-NN peers on positions (x, y)."""
    from .. import group_neighbors

    n = len(x)
    points = np.column_stack([x, y])
    probe = min(n, PROBE)
    first = group_neighbors(x, y, probe, K=K, gridsize=gridsize, seed=seed, sequential=True,
                            num_threads=threads)["nn_indices"]

    def check(theirs, _ours):
        return pools_hold(first, np.asarray(theirs)[:probe])

    found: List[Entry] = [Impl(
        "ptychopatch", "ours", items=n, threads=threads,
        run=lambda: group_neighbors(x, y, n, K=K, gridsize=gridsize, seed=seed,
                                    num_threads=threads)["nn_indices"])]
    spatial = optional_module("scipy.spatial", "scipy")
    for workers, label in ((1, "1 worker"), (threads or -1, "all workers")):
        name = f"scipy cKDTree, {label}"
        if isinstance(spatial, str):
            found.append(Skipped(name, "peer", spatial))
            continue
        found.append(Impl(
            name, "peer", items=n, threads=1 if workers == 1 else threads, check=check,
            run=lambda w=workers: spatial.cKDTree(points).query(points, k=K + 1,
                                                                workers=w)[1],
            note="tree build + K-NN query of every position (no sampling)"))
    neighbors = optional_module("sklearn.neighbors", "scikit-learn")
    if isinstance(neighbors, str):
        found.append(Skipped("scikit-learn NearestNeighbors", "peer", neighbors))
    else:
        found.append(Impl(
            "scikit-learn NearestNeighbors", "peer", items=n, threads=threads, check=check,
            run=lambda: neighbors.NearestNeighbors(
                n_neighbors=K + 1, algorithm="kd_tree", n_jobs=threads or -1
            ).fit(points).kneighbors(points)[1],
            note="kd_tree fit + K-NN query of every position (no sampling)"))
    return found
