"""Dataset throughput: scenes per second of ``ptychopatch.distributed.
align_dataset`` against the number of Dask workers (1, 2, 4, ... up to
the cores), on a small synthetic dataset (the one ``align-dataset
--make-synthetic`` writes, larger frames), in the full set only.

The cluster (a LocalCluster of single-threaded worker processes) is
started once per point and closed after it, so the times are those of a
warm cluster: scheduling, reading the frames, aligning and writing one
Parquet part per scene, without the seconds a cluster takes to start.
Each run writes into a fresh folder (a run over an existing one would
resume and skip every scene). The serial path (``serial=True``, no Dask,
this process) runs beside it as the one-process reference; both are
checked to give the same crops.

>>> crops_table([{"scene": "a", "frame": "f0.npy", "crop_dy": 2, "crop_dx": -4}])
[('a', 'f0.npy', 2, -4)]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Dict, List

from .registry import Entry, Impl, Skipped, optional_module, same_values

#: The synthetic dataset: scenes x (GT + frames) of side x side uint16 RGGB.
SCENES, FRAMES, SIDE = 16, 4, 512


def crops_table(rows: List[Dict[str, Any]]) -> List[tuple]:
    """What the implementations must agree on: each frame's crop."""
    return [(r["scene"], r["frame"], r["crop_dy"], r["crop_dx"]) for r in rows]


def _runner(root: str, scenes: Any, **how: Any):
    """A run: align_dataset into a fresh folder, its crops, the folder removed."""
    from .. import distributed

    def run():
        out = tempfile.mkdtemp(dir=root, prefix="out-")
        try:
            distributed.align_dataset(scenes, out, cfa="RGGB", upsample_factor=1, **how)
            return crops_table(distributed.read_alignments(out).to_pylist())
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return run


def entries(workers: int, seed: int) -> List[Entry]:
    """align_dataset on a warm LocalCluster of `workers`, and the serial path."""
    from .. import distributed
    from .._dataset_cli import make_synthetic_scenes

    name = f"ptychopatch align_dataset (Dask, {workers} workers)"
    for module, pip in (("pyarrow", "pyarrow"), ("dask.distributed", "dask[distributed]")):
        missing = optional_module(module, pip)
        if isinstance(missing, str):
            return [Skipped(name, "ours", missing),
                    Skipped("align_dataset serial (no Dask)", "peer", missing)]
    root = tempfile.mkdtemp(prefix="ptychopatch-bench-dataset-")
    make_synthetic_scenes(os.path.join(root, "scenes"), SCENES, FRAMES, SIDE, seed)
    scenes = distributed.scenes_from_folders(os.path.join(root, "scenes"), gt="gt.npy",
                                             frames=["f*.npy"])
    dd = optional_module("dask.distributed", "dask[distributed]")
    cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None)
    client = dd.Client(cluster)

    def close():
        client.close()
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)

    return [
        Impl(name, "ours", items=SCENES, threads=workers, teardown=close,
             run=_runner(root, scenes, client=client),
             note=f"warm LocalCluster, {workers} single-threaded worker processes"),
        Impl("align_dataset serial (no Dask)", "peer", items=SCENES, threads=1,
             run=_runner(root, scenes, serial=True), check=same_values(),
             note="serial=True: this process, scene after scene"),
    ]
