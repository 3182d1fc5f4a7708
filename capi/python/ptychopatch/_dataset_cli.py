"""``ptychopatch align-dataset`` and ``ptychopatch patches-dataset``: thin
layers over `ptychopatch.distributed`.

Registered by cli.build_parser (`add_parsers`), without importing cli:
what the two command lines share is in `ptychopatch._cli_common`. Dask,
pyarrow and zarr are imported when a command runs, so ``ptychopatch
--help`` and the other commands work without them.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from ._cli_common import EXIT_FAILURE, EXIT_OK, CliError, UsageError, threads_value
from ._frames import RAW_PATTERNS, parse_cfa
from ._ptychopinn_npz import make_synthetic
from .align import PLANNING_CHOICES, _retired_options

ALIGN_DATASET_EPILOG = """\
The dataset is one folder per scene under ROOT (--gt: the glob of a
scene's ground-truth frame, relative to its folder; --frames: the globs of
the frames to align), or a manifest (--manifest: CSV with the columns
scene,gt,frame, one row per frame, or JSON [{"scene", "gt", "frames"}]).
Each scene is one Dask task on the workers (frames read there: rawpy for
RAW files, .npy / .tiff with --cfa), and its rows go to OUT/<scene>.parquet
as soon as it is done: one row per frame with scene, frame, gt, status,
ok, shift_dy, shift_dx, crop_dy, crop_dx (the CFA-consistent integer
shift), confidence, message, backend, seconds.

A scene that cannot be read gets rows with its status (SCENE_INVALID,
GT_UNREADABLE, UNREADABLE, ...) and the run goes on. Run the same command
again after an interruption: the scenes already in OUT are skipped (those
none of whose frames got a result, e.g. SCENE_INVALID or TASK_FAILED, run
again).

exit status: 0 every frame this run wrote aligned; 1 some frame failed (all
scenes are still written) or the run failed; 2 a usage error.

examples:
  ptychopatch align-dataset --make-synthetic demo-scenes     # a small dataset to try
  ptychopatch align-dataset demo-scenes --gt gt.npy --frames '*.npy' --cfa RGGB -o demo-out
  ptychopatch align-dataset /data/rawnind --gt 'gt/*' --frames '*.arw' -o aligned/
  ptychopatch align-dataset /data/scenes --gt '*_GT_*' --frames '*.ARW' --workers 8 -o out/
  ptychopatch align-dataset --manifest dataset.csv --cfa RGGB -o out/ --serial
  ptychopatch align-dataset --manifest dataset.json --scheduler tcp://head:8786 -o out/
"""


def add_parsers(subparsers: Any) -> None:
    """Adds ``align-dataset`` to the command line's subparsers."""
    p = subparsers.add_parser(
        "align-dataset", help="a dataset of scenes -> per-frame shifts (Parquet), on Dask",
        description="Align every scene of a RAW dataset on a Dask cluster, resumably.",
        epilog=ALIGN_DATASET_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", nargs="?", metavar="ROOT", help="folder with one folder per scene")
    p.add_argument("--manifest", metavar="FILE", help="CSV or JSON manifest instead of ROOT")
    p.add_argument("--gt", metavar="GLOB", help="with ROOT: a scene's GT frame (one file)")
    p.add_argument("--frames", action="append", metavar="GLOB",
                   help="with ROOT: frames to align (repeatable; default: common RAW "
                        "extensions)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output folder of Parquet files (resumed if it exists)")
    p.add_argument("--make-synthetic", metavar="DIR",
                   help="write a small synthetic dataset (8 scenes of a 128 x 128 RGGB GT "
                        "frame and 4 moved frames, .npy) to DIR; with -o OUT and no ROOT also "
                        "align it (--gt gt.npy --frames '*.npy' --cfa RGGB)")
    _add_where(p, "scene")
    p.add_argument("--cfa", metavar="LAYOUT",
                   help="as in 'ptychopatch align' (required for .npy/.tiff frames)")
    p.add_argument("--upsample-factor", type=int, default=10, metavar="K")
    p.add_argument("--combine", choices=("luma", "joint", "median", "mean"), default="luma",
                   help="as in 'ptychopatch align': luma (default); joint, median and mean "
                        "are retired and run luma")
    p.add_argument("--snap", action="store_true")
    p.add_argument("--window", choices=("hann", "none"), default="hann",
                   help="as in 'ptychopatch align': hann (default); none is retired and "
                        "runs hann")
    p.add_argument("--max-shift", type=int, default=None, metavar="PIXELS")
    p.add_argument("--verify", nargs="?", const="check",
                   choices=("refine", "none", "check", "correct"), default="refine",
                   help="as in 'ptychopatch align': the fine stage where a crop is in "
                        "doubt (default refine; none to resume a folder written before 0.4)")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                   help="resolved by each worker (default: its GPU when usable)")
    p.add_argument("--threads", type=threads_value, default=None, metavar="T",
                   help="library threads per task (default: the worker's cores / the tasks "
                        "running at once on its host; 0: all cores; docs/python.md, "
                        "'Threads')")
    p.add_argument("--batch", type=int, default=8, metavar="M",
                   help="frames read and aligned per library call (default 8)")
    p.add_argument("--planning", choices=PLANNING_CHOICES, default="auto",
                   help="FFT planning (default auto: measured from 8 frames a call); "
                        "measure pays off on large frames: each worker plans a frame "
                        "size once")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(handler=run_align_dataset, parser=p)
    _add_patches_dataset_parser(subparsers)


def _add_where(p: argparse.ArgumentParser, unit: str) -> None:
    """--scheduler / --workers / --serial, the same for every dataset command."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler (default: a local cluster)")
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local cluster of N worker processes (default: one per core, "
                            "or per GPU with dask-cuda)")
    where.add_argument("--serial", action="store_true",
                       help=f"no Dask: {unit} after {unit} here")


def _distributed_module(serial: bool, workers: Any, zarr: bool = False) -> Any:
    """ptychopatch.distributed, with Dask checked unless serial (and zarr if
    asked): a missing package fails before any work."""
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: must be at least 1")
    try:
        from . import _zarr_store, distributed
        if not serial:
            distributed._distributed()
        if zarr:
            _zarr_store.zarr_module()
    except ImportError as err:
        raise CliError(str(err)) from None
    return distributed


def _scenes(args: argparse.Namespace) -> Any:
    from .distributed import scenes_from_folders, scenes_from_manifest

    if args.manifest is not None:
        if args.root is not None or args.gt is not None or args.frames:
            raise UsageError("give either ROOT (with --gt, --frames) or --manifest")
        return scenes_from_manifest(args.manifest)
    if args.root is None or args.gt is None:
        raise UsageError("give ROOT and --gt (the GT frame's glob), or --manifest")
    return scenes_from_folders(args.root, args.gt, args.frames or RAW_PATTERNS)


def run_align_dataset(args: argparse.Namespace) -> int:
    """The ``align-dataset`` command."""
    from ._progress import ProgressBar

    if args.make_synthetic:
        make_synthetic_scenes(args.make_synthetic)
        print(f"wrote synthetic dataset {args.make_synthetic} (--gt gt.npy --frames '*.npy' "
              "--cfa RGGB)")
        if args.output is None:
            return EXIT_OK
        if args.root is None and args.manifest is None:  # align what was just written
            args.root = args.make_synthetic
            args.gt = args.gt or "gt.npy"
            args.frames = args.frames or ["*.npy"]
            args.cfa = args.cfa or "RGGB"
    if args.output is None:
        raise UsageError("-o OUT is required (or --make-synthetic DIR alone)")
    cfa: Any = "file"
    if args.cfa is not None:
        try:
            cfa = parse_cfa(args.cfa)
        except ValueError as err:
            raise UsageError(str(err)) from None
    if args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be at least 1")
    retired = _retired_options(args.combine, args.verify, window=args.window)
    if retired is not None:
        print(f"ptychopatch align-dataset: warning: {retired}", file=sys.stderr)
    distributed = _distributed_module(args.serial, args.workers)
    scenes = _scenes(args)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(len(scenes), sys.stderr, label="scenes") if show and scenes else None
    try:
        summary = distributed.align_dataset(
            scenes, args.output, client=args.scheduler, n_workers=args.workers,
            serial=args.serial, cfa=cfa, upsample_factor=args.upsample_factor,
            combine=args.combine, snap=args.snap,
            window=None if args.window == "none" else args.window,
            max_shift=args.max_shift, backend=args.backend, verify=args.verify,
            num_threads=args.threads,
            batch=args.batch, planning=args.planning,
            progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    print(f"{summary.scenes} scenes: {summary.computed} aligned, {summary.skipped} already in "
          f"{summary.output}; {summary.frames} frames written, {summary.failed} failed, "
          f"{summary.seconds:.1f} s")
    return EXIT_FAILURE if summary.failed else EXIT_OK


def make_synthetic_scenes(root: str, scenes: int = 8, frames: int = 4, size: int = 128,
                          seed: int = 0) -> None:
    """Writes `scenes` folders under `root`, each a random uint16 RGGB
    ``gt.npy`` and `frames` copies ``f<j>.npy`` moved by even (dy, dx) (so
    the crops are the moves back)."""
    rng = np.random.default_rng(seed)
    for i in range(scenes):
        folder = os.path.join(root, f"scene{i:03d}")
        os.makedirs(folder, exist_ok=True)
        gt = (rng.random((size, size)) * 4000).astype(np.uint16)
        np.save(os.path.join(folder, "gt.npy"), gt)
        for j in range(frames):
            move = 2 * rng.integers(-4, 5, 2)
            np.save(os.path.join(folder, f"f{j}.npy"), np.roll(gt, tuple(move), axis=(0, 1)))


PATCHES_DATASET_EPILOG = """\
Each INPUT is a PtychoPINN .npz (objectGuess, xcoords, ycoords, optional
probeGuess), read as 'ptychopatch patches' reads it, and one Dask task:
its scan positions are grouped and the patches cut --chunk-groups groups
at a time into the store's group named after the file (fly001.npz ->
fly001), with the arrays of 'ptychopatch patches':

  Y                (B, N, N, C)  complex64 (float32 for a real object)
  nn_indices       (B, C)        int64
  coords_nn        (B, 1, 2, C)  float64
  coords_offsets   (B, 1, 2, 1)  float64
  coords_relative  (B, 1, 2, C)  float64

each chunked by --chunk-groups groups along B and compressed (Zstandard);
the group's attributes hold N, K, gridsize, nsamples, seed and the source.
Memory per task: the object, the grouping arrays and one chunk of patches.

An unreadable input is recorded in the store's attribute
ptychopatch_inputs (status UNREADABLE, with the reason) and the run goes
on. Run the same command again after an interruption: inputs already
complete in the store are skipped.

exit status: 0 every input written; 1 some input failed (the others are
still written) or the run failed; 2 a usage error.

examples:
  ptychopatch patches-dataset --make-synthetic scans      # 4 small .npz files to try
  ptychopatch patches-dataset scans/*.npz --output scans.zarr --seed 0 --workers 2
  ptychopatch patches-dataset /data/fly*.npz --output /data/train.zarr --K 7 --seed 0
  ptychopatch patches-dataset /shared/*.npz --output /shared/p.zarr --scheduler tcp://head:8786
"""


def _add_patches_dataset_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "patches-dataset", help="many PtychoPINN .npz -> grouped patches (Zarr), on Dask",
        description="Group and cut the patches of many PtychoPINN datasets into one "
                    "chunked, compressed Zarr store, resumably.",
        epilog=PATCHES_DATASET_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="PtychoPINN .npz files")
    p.add_argument("-o", "--output", metavar="STORE",
                   help="the Zarr store (a folder, e.g. patches.zarr; resumed if it exists)")
    p.add_argument("--make-synthetic", metavar="DIR",
                   help="write 4 small synthetic .npz files (400 positions, N = 32) to DIR; "
                        "with --output also process them (or the INPUTs given)")
    _add_where(p, "file")
    p.add_argument("--N", type=int, default=None,
                   help="patch size (default: each file's probeGuess size, else 64)")
    p.add_argument("--nsamples", type=int, default=None, metavar="B",
                   help="groups per file (default: one per scan position)")
    p.add_argument("--K", type=int, default=4, help="neighbour pool (default 4)")
    p.add_argument("--gridsize", type=int, default=2,
                   help="group side: gridsize**2 members per group (default 2)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed, the same for every file (default: one per file, "
                        "recorded in its group)")
    p.add_argument("--sequential", action="store_true")
    p.add_argument("--oversample", action="store_true")
    p.add_argument("--chunk-groups", type=int, default=256, metavar="G",
                   help="groups per chunk and per library call (default 256)")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                   help="resolved by each worker (default: its GPU when usable)")
    p.add_argument("--threads", type=threads_value, default=None, metavar="T",
                   help="library threads per task (default: the worker's cores / the tasks "
                        "running at once on its host; 0: all cores; docs/python.md, "
                        "'Threads')")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(handler=run_patches_dataset, parser=p)


def run_patches_dataset(args: argparse.Namespace) -> int:
    """The ``patches-dataset`` command."""
    from ._progress import ProgressBar

    if args.make_synthetic:
        os.makedirs(args.make_synthetic, exist_ok=True)
        for i in range(4):
            make_synthetic(os.path.join(args.make_synthetic, f"scan{i}.npz"), seed=i)
        print(f"wrote 4 synthetic datasets to {args.make_synthetic}")
        if args.output is None:
            return EXIT_OK
        if not args.inputs:  # process what was just written
            args.inputs = [os.path.join(args.make_synthetic, f"scan{i}.npz") for i in range(4)]
    if not args.inputs or args.output is None:
        raise UsageError("INPUT files and --output STORE are required "
                         "(or --make-synthetic DIR alone)")
    if args.chunk_groups < 1:
        raise UsageError(f"--chunk-groups {args.chunk_groups}: must be at least 1")
    distributed = _distributed_module(args.serial, args.workers, zarr=True)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(len(args.inputs), sys.stderr, label="files") if show else None
    try:
        summary = distributed.patches_dataset(
            args.inputs, args.output, client=args.scheduler, n_workers=args.workers,
            serial=args.serial, N=args.N, nsamples=args.nsamples, K=args.K,
            gridsize=args.gridsize, seed=args.seed, sequential=args.sequential,
            oversample=args.oversample, chunk_groups=args.chunk_groups,
            backend=args.backend, num_threads=args.threads,
            progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    print(f"{summary.inputs} files: {summary.computed} written, {summary.skipped} already in "
          f"{summary.output}, {summary.failed} failed; {summary.groups} groups, "
          f"{summary.seconds:.1f} s")
    if summary.failed:
        for name, r in distributed.patches_status(args.output).items():
            if r["status"] != "PTP_SUCCESS":
                print(f"  {name}: {r['status']}: {r['message']}", file=sys.stderr)
    return EXIT_FAILURE if summary.failed else EXIT_OK
