"""The ``ptychopatch`` command line (also ``python -m ptychopatch``).

Subcommands:

* ``patches``: a PtychoPINN ``.npz`` (objectGuess, xcoords, ycoords) ->
  grouped patches ``.npz`` with PtychoPINN's key names;
* ``align``: RAW files (rawpy), or ``.npy`` / ``.tiff`` frames -> each
  frame's shift onto a ground-truth frame, as JSON or CSV;
* ``info``: library version, backend and why (not) the GPU, devices;
* ``bench``: the benchmark suite, the library and its peers in the same run.

Only the standard library and numpy are imported with this module: rawpy,
tifffile and scikit-image are imported when a command needs them, with an
error naming the pip package where one is missing. docs/cli.md documents
the commands, their output formats and exit codes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import re
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _dataset_cli, _native
from ._cli_common import (EXIT_DOUBTED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError, UsageError,
                          _error_text, _import_optional, _int_at_least, threads_value)
from ._errors import PtychoPatchError
from ._frames import (RAW_PATTERNS, FrameResult, RawFrame, align_files, is_array_file,
                      list_frames, make_reader, parse_cfa, select_gt)
from ._progress import ProgressBar
from ._ptychopinn_npz import DEFAULT_PATCH_SIZE, default_patch_size, load_dataset, make_synthetic
from .align import _retired_options

# The names below moved to the modules under this one, which the Dask tasks
# import too; ptychopatch.cli.<name> stays (the "as" marks a re-export).
from ._frames import ARRAY_SUFFIXES as ARRAY_SUFFIXES
from ._frames import STATUS_CFA_MISMATCH as STATUS_CFA_MISMATCH
from ._frames import STATUS_OK as STATUS_OK
from ._frames import STATUS_SHAPE_MISMATCH as STATUS_SHAPE_MISMATCH
from ._frames import STATUS_UNREADABLE as STATUS_UNREADABLE
from ._frames import Progress as Progress
from ._frames import Reader as Reader
from ._frames import align_frames as align_frames
from ._frames import read_raw as read_raw
from ._ptychopinn_npz import GROUPED_KEYS as GROUPED_KEYS
from ._ptychopinn_npz import REQUIRED_KEYS as REQUIRED_KEYS

PROG = "ptychopatch"


# ============================================================== patches

def npz_to_patches(arrays: Dict[str, np.ndarray], N: int, nsamples: int, K: int = 4,
                   gridsize: int = 2, seed: Optional[int] = None, *, sequential: bool = False,
                   oversample: bool = False, backend: str = "auto",
                   num_threads: int = 0) -> Dict[str, np.ndarray]:
    """`ptychopatch.grouped_patches` on a loaded dataset: PtychoPINN's arrays
    (nn_indices, coords_nn, coords_offsets, coords_relative) plus Y, and
    where the dataset has them its diffraction (diffraction, X_full) and
    start positions (coords_start_*) grouped the same way."""
    from . import grouped_patches

    return grouped_patches(arrays["objectGuess"], arrays["xcoords"], arrays["ycoords"], N,
                           nsamples, K=K, gridsize=gridsize, seed=seed, sequential=sequential,
                           oversample=oversample, backend=backend, num_threads=num_threads,
                           diffraction=arrays.get("diff3d"),
                           xcoords_start=arrays.get("xcoords_start"),
                           ycoords_start=arrays.get("ycoords_start"))


def _check_grouping(n: int, nsamples: int, K: int, gridsize: int, oversample: bool) -> None:
    """Option combinations the data cannot satisfy, named by their options
    (the library would name its C fields instead)."""
    members = gridsize * gridsize
    if nsamples > n and not oversample:
        raise CliError(f"--nsamples {nsamples} is more than the {n} scan positions; give "
                       f"--nsamples {n} or fewer, or --oversample for several groups per "
                       "position")
    if members > n:
        raise CliError(f"--gridsize {gridsize} needs {members} positions per group, the "
                       f"dataset has {n}")
    if members > 1 and K < members:
        raise CliError(f"--K {K} is smaller than the group size gridsize**2 = {members}; "
                       f"give --K {members} or more")


PATCHES_EPILOG = """\
Reads objectGuess (complex (H, W) object), xcoords and ycoords (scan
positions in object pixels) and, where present, probeGuess (for N), diff3d
(diffraction amplitudes, one pattern per position) and xcoords_start /
ycoords_start; other keys are ignored. Forms nsamples groups of
gridsize**2 neighbouring positions (PtychoPINN's sample-then-group over a
pool of the K nearest neighbours), cuts every member's N x N object patch,
and writes PtychoPINN's grouped dataset:

  nn_indices       (B, C)        int64     member indices into xcoords/ycoords
  coords_nn        (B, 1, 2, C)  float64   member positions ([.., 0, :] x, [.., 1, :] y)
  coords_offsets   (B, 1, 2, 1)  float64   group centres (member mean)
  coords_relative  (B, 1, 2, C)  float64   -(member - centre)
  Y                (B, N, N, C)  complex64 object patches (float32 for a real object)
  diffraction      (B, h, w, C)  diff3d's  the members' patterns (with diff3d)
  X_full           (B, h, w, C)  float32   diffraction, normalised as PtychoPINN does
  coords_start_nn, coords_start_offsets, coords_start_relative
                                 float64   the start positions grouped alike (with them)
  N, K, gridsize, seed                     the parameters used (seed -1: none given)

with B = nsamples and C = gridsize**2.

examples:
  ptychopatch patches --make-synthetic demo.npz      # a small dataset to try
  ptychopatch patches demo.npz demo_groups.npz --seed 1
  ptychopatch patches fly001.npz fly001_groups.npz --nsamples 5000 --K 7 --seed 0
  ptychopatch patches fly001.npz out.npz --N 64 --gridsize 1 --backend cpu
"""


def _add_patches_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "patches", help="PtychoPINN .npz -> grouped patches .npz",
        description="Group the scan positions of a PtychoPINN dataset and cut their "
                    "object patches.",
        epilog=PATCHES_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", metavar="INPUT", help="PtychoPINN .npz (objectGuess, xcoords, ycoords)")
    p.add_argument("output", nargs="?", metavar="OUTPUT", help="output .npz")
    p.add_argument("--make-synthetic", metavar="PATH",
                   help="write a small synthetic dataset (400 positions, N = 32) to PATH, "
                        "then stop unless INPUT and OUTPUT are given too")
    p.add_argument("--N", type=int, default=None,
                   help=f"patch size (default: probeGuess's size, else {DEFAULT_PATCH_SIZE})")
    p.add_argument("--nsamples", type=int, default=None, metavar="B",
                   help="groups to form (default: one per scan position)")
    p.add_argument("--K", type=int, default=4,
                   help="neighbour pool of each seed position (default 4)")
    p.add_argument("--gridsize", type=int, default=2,
                   help="group side: gridsize**2 members per group (default 2)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (same seed, same groups on every run and backend)")
    p.add_argument("--sequential", action="store_true",
                   help="seed positions 0, 1, ..., nsamples - 1 instead of random ones")
    p.add_argument("--oversample", action="store_true",
                   help="allow more groups than positions (several groups per position)")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where the patches are cut (default: the GPU when usable)")
    p.add_argument("--threads", type=threads_value, default=0,
                   help="CPU threads (default 0: all cores)")
    p.add_argument("--compress", action="store_true", help="write a compressed .npz")
    p.set_defaults(handler=run_patches, parser=p)


def run_patches(args: argparse.Namespace) -> int:
    """The ``patches`` command."""
    if args.make_synthetic:
        make_synthetic(args.make_synthetic)
        print(f"wrote synthetic dataset {args.make_synthetic}")
        if args.input is None and args.output is None:
            return EXIT_OK
    if args.input is None or args.output is None:
        raise UsageError("INPUT and OUTPUT are required (or --make-synthetic PATH alone)")
    from . import version

    arrays = load_dataset(args.input)
    n = arrays["xcoords"].size
    N = default_patch_size(arrays) if args.N is None else args.N
    nsamples = n if args.nsamples is None else args.nsamples
    _check_grouping(n, nsamples, args.K, args.gridsize, args.oversample)

    start = time.perf_counter()
    result = npz_to_patches(arrays, N, nsamples, K=args.K, gridsize=args.gridsize,
                            seed=args.seed, sequential=args.sequential,
                            oversample=args.oversample, backend=args.backend,
                            num_threads=args.threads)
    elapsed = time.perf_counter() - start

    out: Dict[str, Any] = {"N": N, "K": args.K, "gridsize": args.gridsize,
                           "seed": -1 if args.seed is None else args.seed}
    out.update((name, np.asarray(value)) for name, value in result.items())
    save = np.savez_compressed if args.compress else np.savez
    save(args.output, **out)

    H, W = arrays["objectGuess"].shape
    Y = out["Y"]
    print(f"ptychopatch {version()}: {n} positions, object {H} x {W}")
    print(f"{Y.shape[0]} groups of {Y.shape[-1]}, patches {Y.shape} {Y.dtype} "
          f"in {elapsed:.3f} s -> {args.output}")
    return EXIT_OK


# ================================================================ align

CSV_COLUMNS = ("file", "status", "ok", "shift_dy", "shift_dx", "crop_dy", "crop_dx",
               "confidence", "planes_used", "message", "doubts")


def csv_text(results: Sequence[FrameResult]) -> str:
    """The results as CSV with a header row (CSV_COLUMNS); empty cells for
    the values of a frame without a result."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        shift = ("", "") if r.shift is None else (repr(r.shift[0]), repr(r.shift[1]))
        crop = ("", "") if r.crop is None else r.crop
        confidence = "" if r.confidence is None else repr(r.confidence)
        writer.writerow([r.file, r.status, int(r.ok), *shift, *crop, confidence,
                         r.planes_used, r.message, "|".join(r.doubts)])
    return buffer.getvalue()


def json_report(gt_name: str, gt: RawFrame, results: Sequence[FrameResult],
                options: Dict[str, Any], backend: str) -> Dict[str, Any]:
    """The JSON document ``align`` writes (docs/cli.md gives its schema)."""
    from . import version

    ok = sum(r.ok for r in results)
    doubted = sum(r.aligned and not r.ok for r in results)
    return {
        "gt": gt_name,
        "cfa": None if gt.cfa is None else gt.cfa.tolist(),
        "shape": list(gt.shape),
        "options": options,
        "library": version(),
        "backend": backend,
        "frames": [r.as_json() for r in results],
        "summary": {"frames": len(results), "ok": ok, "doubted": doubted,
                    "failed": len(results) - ok - doubted},
    }


# A list of numbers (or nulls) as json.dumps(indent=2) spreads it over lines.
_SPREAD_NUMBER_LIST = re.compile(r"\[\n\s+((?:[-+.\w]+,\n\s+)*[-+.\w]+)\n\s+\]")


def json_text(document: Any) -> str:
    """`document` as indented JSON with each list of numbers on one line
    (shifts, crops, CFA rows), which keeps one frame to a few lines."""
    text = json.dumps(document, indent=2)
    return _SPREAD_NUMBER_LIST.sub(
        lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text) + "\n"


ALIGN_EPILOG = """\
Each frame is registered onto the GT frame by CFA-aware FFT correlation
(ptychopatch.align_scene). RAW files are read with rawpy (pip install rawpy):
the visible sensor area and its colour-filter pattern. .npy and .tif/.tiff
files (tifffile for the latter) hold one frame each: (H, W) mosaics, or
with --cfa none (C, H, W) / (H, W, C) channels; they need --cfa.

shift is the (dy, dx) in sensor pixels that registers a frame onto the GT
frame (a frame equal to the GT moved by (+ty, +tx) gives (-ty, -tx)), to
1/upsample-factor of a sensor pixel where the fine stage placed it (else
of a luminance-image pixel: 2 sensor pixels for Bayer, 3 for X-Trans);
crop is the nearest integer shift that keeps the mosaic intact (the one
to crop RAW data by); confidence is in [0, 1]. A frame that cannot be aligned (unreadable, other
size or CFA, no information, a NaN) gets its status and message and the
others their results.

exit status: 0 every frame aligned and not doubted; 1 some frame failed
(the others are still written) or the run failed; 2 a usage error; 3 every
frame aligned, but the library doubts some (their "doubts" say why: another
scene, no fit, a crop the fit leaves under 0.95, ...).

examples:
  ptychopatch align --folder /data/scene01 --gt '*_GT_*' -o scene01.json
  ptychopatch align gt.ARW iso3200.ARW iso6400.ARW --format csv
  ptychopatch align gt.npy f1.npy f2.npy --cfa RGGB -o shifts.csv
  ptychopatch align --folder frames/ --pattern '*.npy' --gt gt.npy --cfa 0,1,3,2
  ptychopatch align gt.tif moved.tif --cfa XTRANS --upsample-factor 20
"""


_positive_int = _int_at_least(1)


def _add_align_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "align", help="RAW / .npy / .tiff frames -> per-frame shifts (JSON or CSV)",
        description="Align frames of one scene to its ground-truth (GT) frame.",
        epilog=ALIGN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", metavar="GT FRAME",
                   help="the GT frame, then the frames to align (or use --folder)")
    p.add_argument("--folder", metavar="DIR", help="align the files of DIR (needs --gt)")
    p.add_argument("--gt", metavar="NAME",
                   help="with --folder: the GT frame, a file name in DIR or a glob pattern "
                        "(e.g. '*_GT_*') that must match exactly one file")
    p.add_argument("--pattern", action="append", metavar="GLOB",
                   help="with --folder: files to take (repeatable; default: common RAW "
                        "extensions)")
    p.add_argument("--cfa", metavar="LAYOUT",
                   help="colour-filter layout: RGGB, BGGR, GRBG, GBRG, XTRANS, none (no "
                        "mosaic), or 4 / 36 comma-separated LibRaw codes in row order; "
                        "required for .npy/.tiff frames, overrides RAW files' own")
    p.add_argument("--upsample-factor", type=int, default=10, metavar="K",
                   help="sub-pixel refinement: 1/k pixel of the luminance image (2/k "
                        "sensor pixel for Bayer, 3/k for X-Trans), 1/k sensor pixel where "
                        "the fine stage places the shift (default 10; 1 = whole image "
                        "pixels)")
    p.add_argument("--combine", choices=("luma", "joint", "median", "mean"), default="luma",
                   help="luma: one peak of the frame's luminance image (default); joint, "
                        "median and mean are retired and run luma (a warning)")
    p.add_argument("--snap", action="store_true",
                   help="floor the shift to a multiple of 2 (Bayer) or 3 (X-Trans)")
    p.add_argument("--window", choices=("hann", "none"), default="hann",
                   help="window of the luminance image before the transform (default "
                        "hann); none is retired and runs hann (a warning)")
    p.add_argument("--max-shift", type=_positive_int, default=None, metavar="PIXELS",
                   help="search only |dy|, |dx| <= PIXELS sensor pixels (>= 1; leave it out "
                        "for no bound)")
    p.add_argument("--verify", nargs="?", const="check",
                   choices=("refine", "none", "check", "correct"), default="refine",
                   help="the fine stage: 'refine' (default) fits the frames its first polish "
                        "doubts thoroughly by least squares; 'none' skips it (up to 1.8x "
                        "faster); 'check' (--verify alone) and 'correct' are retired and run "
                        "'refine'")
    p.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where frames are aligned (default: the GPU when usable)")
    p.add_argument("--threads", type=threads_value, default=0,
                   help="CPU threads (default 0: all cores)")
    p.add_argument("--batch", type=int, default=8, metavar="M",
                   help="frames read and aligned per library call (default 8)")
    p.add_argument("-o", "--output", default="-", metavar="FILE",
                   help="output file (default: stdout); a .csv name implies --format csv")
    p.add_argument("--plot", metavar="DIR", default=None,
                   help="also draw each aligned frame beside the GT frame (and a "
                        "checkerboard of the two) into DIR/<frame>.png (needs matplotlib)")
    p.add_argument("--format", choices=("json", "csv"), default=None,
                   help="output format (default: json, or csv for a .csv output)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(handler=run_align, parser=p)


def _align_inputs(args: argparse.Namespace) -> Tuple[Tuple[str, str], List[Tuple[str, str]]]:
    """((GT name, path), [(frame name, path)]) from the positional files or --folder."""
    if args.folder is not None:
        if args.files:
            raise UsageError("give either files or --folder, not both")
        if args.gt is None:
            raise UsageError("--folder needs --gt (the GT frame's name or a glob pattern)")
        if not os.path.isdir(args.folder):
            raise CliError(f"--folder {args.folder}: not a folder")
        patterns = args.pattern or RAW_PATTERNS
        names = list_frames(args.folder, patterns)
        if not names:
            raise CliError(f"{args.folder}: no file matches {', '.join(patterns)}")
        gt_name = select_gt(names, args.gt)
        paths = {n: os.path.join(args.folder, n) for n in names}
        return (gt_name, paths[gt_name]), [(n, paths[n]) for n in names if n != gt_name]
    if args.gt is not None or args.pattern:
        raise UsageError("--gt and --pattern go with --folder; without it the first file "
                         "is the GT frame")
    if len(args.files) < 2:
        raise UsageError("give the GT frame and at least one frame to align (or --folder)")
    return (args.files[0], args.files[0]), [(f, f) for f in args.files[1:]]


def _check_readers(paths: Sequence[str], cfa_given: bool) -> None:
    """Fails before any work when a kind of file cannot be read at all."""
    if any(is_array_file(p) for p in paths) and not cfa_given:
        raise UsageError(".npy and .tiff frames carry no colour-filter layout: give --cfa "
                         "(e.g. --cfa RGGB, or --cfa none for no mosaic)")
    if any(p.lower().endswith((".tif", ".tiff")) for p in paths):
        _import_optional("tifffile", "tifffile", "reading .tiff frames")
    if not all(is_array_file(p) for p in paths):
        _import_optional("rawpy", "rawpy", "reading RAW files")


def _output_format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return args.format
    return "csv" if args.output.lower().endswith(".csv") else "json"


def _write_text(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with open(output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        print(f"wrote {output}", file=sys.stderr)


def _plot_results(gt: RawFrame, files: Sequence[Tuple[str, str]],
                  results: Sequence[FrameResult], reader: Callable[[str], RawFrame],
                  folder: str) -> None:
    """--plot: each aligned frame, read again (one at a time), drawn beside
    the GT frame into folder/<its file name>.png."""
    from .plot import draw_alignment

    period = 1 if gt.cfa is None else int(np.asarray(gt.cfa).shape[0])
    for (name, path), r in zip(files, results):
        if not r.aligned:
            continue
        title = (f"{name}: crop ({r.crop[0]}, {r.crop[1]}), confidence {r.confidence:.3f}"
                 + (f", doubted: {', '.join(r.doubts)}" if r.doubts else ""))
        draw_alignment(gt.image, reader(path).image, r.crop,
                       os.path.join(folder, os.path.basename(name) + ".png"), title, period)


def run_align(args: argparse.Namespace) -> int:
    """The ``align`` command."""
    from . import backend_info

    cfa = "file"
    if args.cfa is not None:
        try:
            cfa = parse_cfa(args.cfa)
        except ValueError as err:
            raise UsageError(str(err)) from None
    if args.batch < 1:
        raise UsageError(f"--batch {args.batch}: must be at least 1")
    (gt_name, gt_path), files = _align_inputs(args)
    _check_readers([gt_path] + [p for _, p in files], args.cfa is not None)
    fmt = _output_format(args)

    backend = backend_info(args.backend).backend  # fails early where "gpu" is unusable
    if args.plot is not None:
        from .plot import MATPLOTLIB_MISSING

        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CliError(f"--plot: {MATPLOTLIB_MISSING}") from None
    reader = make_reader(cfa)
    try:
        gt = reader(gt_path)
    except CliError:
        raise
    except Exception as err:
        raise CliError(f"cannot read the GT frame {gt_path}: {type(err).__name__}: {err}") \
            from None

    retired = _retired_options(args.combine, args.verify, window=args.window)
    if retired is not None:
        print(f"ptychopatch align: warning: {retired}", file=sys.stderr)
    options = {"upsample_factor": args.upsample_factor, "combine": args.combine,
               "snap": args.snap, "window": None if args.window == "none" else args.window,
               "backend": args.backend, "max_shift": args.max_shift,
               "num_threads": args.threads, "verify": args.verify}
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(len(files), sys.stderr) if show_progress and files else None
    try:
        results = align_files(gt, files, reader, batch=args.batch,
                              progress=None if bar is None else bar.update, **options)
    finally:
        if bar is not None:
            bar.close()

    if fmt == "csv":
        text = csv_text(results)
    else:
        shown = {k: v for k, v in options.items() if k not in ("backend", "num_threads")}
        if args.verify == "none":  # reports of runs without the fine stage stay as they were
            del shown["verify"]
        shown["window"] = args.window
        text = json_text(json_report(gt_name, gt, results, shown, backend))
    _write_text(text, args.output)
    if args.plot is not None:
        _plot_results(gt, files, results, reader, args.plot)
    failed = [r for r in results if not r.aligned]
    doubted = [r for r in results if r.aligned and not r.ok]
    for r in failed:
        print(f"{PROG} align: {r.file}: {r.status}: {r.message}", file=sys.stderr)
    for r in doubted:
        print(f"{PROG} align: {r.file}: doubted ({', '.join(r.doubts)}): {r.message}",
              file=sys.stderr)
    return EXIT_FAILURE if failed else EXIT_DOUBTED if doubted else EXIT_OK


# ================================================================= info

#: The optional components ``info`` lists: (name, its distributions), each
#: with what needs it.
OPTIONAL_PACKAGES = (("rawpy", "rawpy"),                # RAW files (align --folder)
                     ("tifffile", "tifffile"),          # .tif frames
                     ("scikit-image", "scikit-image"),  # the registration drop-in's tests, bench
                     ("dask", "dask"),                  # align-dataset, patches-dataset
                     ("distributed", "distributed"),    # their --scheduler
                     ("pyarrow", "pyarrow"),            # align-dataset's Parquet table
                     ("zarr", "zarr"),                  # patches-dataset's store
                     ("matplotlib", "matplotlib"),      # bench's plots
                     ("cupy", ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x")),
                     # (CuPy: device arrays)
                     ("torch", "torch"))                # device arrays, bench peers


def collect_info() -> Dict[str, Any]:
    """What ``info`` reports, as a dict (the --json document)."""
    from . import backend_info, cuda_device_count, version
    from ._bench.machine import installed_version

    with warnings.catch_warnings():
        # The reason is reported below; no warning on top of it.
        warnings.simplefilter("ignore")
        info = backend_info("auto")
    return {
        "version": version(),
        "library_path": _native.LIBRARY_PATH,
        "package_path": os.path.dirname(os.path.abspath(__file__)),
        "backend": info.backend,
        "backend_reason": info.reason,
        "backend_message": info.message,
        "cuda_device_count": cuda_device_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "optional": {name: next(filter(None, map(installed_version, (
            (dists,) if isinstance(dists, str) else dists))), None)
            for name, dists in OPTIONAL_PACKAGES},
    }


def info_text(info: Dict[str, Any]) -> str:
    """The human-readable form of `collect_info`'s dict."""
    if info["backend"] == "gpu":
        gpu = f"used: {info['backend_message']}"
    else:
        gpu = f"not used ({info['backend_reason']}): {info['backend_message']}"
    optional = ", ".join(f"{name} {v}" if v else f"{name} not installed"
                         for name, v in info["optional"].items())
    lines = [
        f"ptychopatch   {info['version']}",
        f"library       {info['library_path']}",
        f"package       {info['package_path']}",
        f"backend       {info['backend']} (what backend='auto' resolves to)",
        f"GPU           {gpu}",
        f"CUDA devices  {info['cuda_device_count']}",
        f"python        {info['python']}, numpy {info['numpy']}",
        f"optional      {optional}",
    ]
    return "\n".join(lines) + "\n"


INFO_EPILOG = """\
backend is what backend="auto" resolves to on this machine; the GPU line
says why the GPU is not used where it is not (a library built without
CUDA, no driver or device, a driver older than the build needs, ...).

examples:
  ptychopatch info
  ptychopatch info --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backend"])'
"""


def _add_info_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="version, backend, why not the GPU, devices",
        description="Show the library's version, path, backend and CUDA devices.",
        epilog=INFO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_info, parser=p)


def run_info(args: argparse.Namespace) -> int:
    """The ``info`` command."""
    info = collect_info()
    sys.stdout.write(json.dumps(info, indent=2) + "\n" if args.json else info_text(info))
    return EXIT_OK


# ================================================================ bench

BENCH_EPILOG = """\
Runs the benchmark suite (docs/benchmarks.md): patch extraction,
reassembly, scene alignment and neighbour grouping on synthetic data, each
as curves over a swept parameter (patches, N, object size, frame
megapixels, frames per scene, positions, threads), with the peers a user
would otherwise use measured in the same run on the same inputs: the legacy
per-patch loop, PtychoPINN's TensorFlow loop, torch grid_sample, numpy
np.add.at, scikit-image, OpenCV, RawNIND's method, torch.fft, SciPy cKDTree,
scikit-learn, and the copy / FFT-only bounds. A peer whose package is not
installed is skipped with a note; a peer whose result disagrees with the
library's is reported and not timed. Writes OUT/results.json, OUT/report.md
and OUT/plots/*.png (matplotlib: per curve, time and throughput, and peak
memory against the data size and the memory budget). Where a GPU is usable the gpu-* curves
time its backend too; on the emulated device of the tests they run for
plumbing only, marked emulated, with no rate or ratio.

examples:
  ptychopatch bench --quick                     # about a minute
  ptychopatch bench --out bench-full            # every curve (tens of minutes)
  ptychopatch bench --only extract/patches group --out bench-some
  ptychopatch bench --quick --compare bench-out/results.json --out bench-new
  ptychopatch bench --from bench-full/results.json --update-doc docs/performance.md
"""


def _add_bench_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="the benchmark suite: the library and its peers, same run",
        description="Time the library against its peers on the same inputs; write "
                    "results.json, report.md and plots.",
        epilog=BENCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="the reduced set: two small points per curve (about a minute)")
    p.add_argument("--out", default="bench-out", metavar="DIR",
                   help="output folder (default: bench-out)")
    p.add_argument("--only", nargs="+", default=[], metavar="PATTERN",
                   help="curves or cases to run: a group (extract), a curve "
                        "(extract/patches) or a pattern (align/*)")
    p.add_argument("--compare", metavar="OLD_JSON",
                   help="an earlier results.json: print each time's ratio to it")
    p.add_argument("--from", dest="source", nargs="+", default=[], metavar="RESULTS_JSON",
                   help="run nothing: remake the report and plots of an earlier results "
                        "file (several, of one run split by --only: merged)")
    p.add_argument("--update-doc", metavar="MARKDOWN",
                   help="write the tables into this file's generated section "
                        "(docs/performance.md)")
    p.add_argument("--threads", type=threads_value, default=0,
                   help="CPU threads of the library and the threaded peers "
                        "(default 0: all cores; the threads curves sweep it)")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed runs at most per implementation and point "
                        "(default 3 quick, 5 full)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="stop repeating once an implementation's runs took this "
                        "long (default 0.3 quick, 3 full)")
    p.add_argument("--memory-budget", type=float, default=None, metavar="GB",
                   help="skip points whose data (the output; the input for reassembly "
                        "and alignment), twice over, exceeds this (default: a quarter "
                        "of the memory); drawn in the memory plots")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--json", action="store_true",
                   help="print the results document on stdout instead of the summary")
    p.set_defaults(handler=run_bench, parser=p)


def _bench_command(args: argparse.Namespace) -> List[str]:
    """The command line that reproduces this run, from the parsed options
    (sys.argv is not this command's when main() is given argv)."""
    words = [PROG, "bench"]
    for name, value in sorted(vars(args).items()):
        if name in ("handler", "parser", "command", "version") or value in (None, False, []):
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            words += [flag] + ([str(v) for v in value] if isinstance(value, list) else [str(value)])
    return words


def run_bench(args: argparse.Namespace) -> int:
    """The ``bench`` command: a thin layer over ptychopatch._bench."""
    from . import _bench

    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    options = _bench.Options(
        out=args.out, quick=args.quick, only=args.only, compare=args.compare,
        source=args.source, update_doc=args.update_doc,
        threads=args.threads, seed=args.seed, repeat=args.repeat, budget_s=args.budget,
        memory_budget=None if args.memory_budget is None else int(args.memory_budget * 1e9))

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    with warnings.catch_warnings():
        # Peers and synthetic data may warn (scikit-image on float32 planes);
        # the report says what matters.
        warnings.simplefilter("ignore")
        doc = _bench.run_suite(options, log=log, command=_bench_command(args))
    failed = [c["id"] for c in doc["cases"] if c["status"] == "failed"]
    if args.json:
        # The document on stdout; the exit status still says whether a case failed.
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        if failed:
            print("cases that failed: " + ", ".join(failed), file=sys.stderr)
        return EXIT_FAILURE if failed else EXIT_OK
    if "compare" in doc:
        print()
        print("\n".join(_bench.compare.table(doc["compare"]["rows"], args.compare)))
    disagree = [f"{c['id']} {r['name']}" for c in doc["cases"] for r in c["results"]
                if r["status"] == "disagrees"]
    print(f"\n{len(doc['cases'])} cases in {doc['elapsed_s']:.0f} s; wrote "
          + ", ".join(doc["outputs"].values()))
    if disagree:
        print("peers that disagree with the library (not timed): " + "; ".join(disagree))
    if failed:
        print("cases that failed: " + ", ".join(failed))
        return EXIT_FAILURE
    return EXIT_OK


# ================================================================= main

MAIN_EPILOG = """\
examples:
  ptychopatch info
  ptychopatch patches --make-synthetic demo.npz && ptychopatch patches demo.npz groups.npz
  ptychopatch align --folder /data/scene01 --gt '*_GT_*' -o scene01.json
  ptychopatch align gt.npy f1.npy f2.npy --cfa RGGB --format csv
  ptychopatch bench --quick

'ptychopatch COMMAND --help' describes a command; docs/cli.md all of them.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="libptychopatch on the command line: grouped patches of "
                               "PtychoPINN datasets, RAW frame alignment, backend "
                               "information and the benchmark suite.",
        epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="store_true",
                        help="print the library's version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_patches_parser(subparsers)
    _add_align_parser(subparsers)
    _add_info_parser(subparsers)
    _add_bench_parser(subparsers)
    _dataset_cli.add_parsers(subparsers)  # align-dataset, patches-dataset (Dask): distributed
    return parser



def _warning_printer(command: str) -> Callable[..., None]:
    """A warnings.showwarning that prints one line in the command's voice
    (a GPU that cannot be used, ...) instead of a source location."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{PROG} {command}: warning: {message}", file=file or sys.stderr)

    return show


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line on `argv` (default: sys.argv[1:]); the exit status.

    Never raises for a usage error, a library error or a bad file: those
    print ``ptychopatch <command>: error: <message>`` on stderr and return
    2 (usage) or 1.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse reported
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if args.version:
        from . import version

        print(f"{PROG} {version()}")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)
            return args.handler(args)
    except UsageError as err:
        try:
            args.parser.error(str(err))  # prints the usage and the message
        except SystemExit:
            pass
        return EXIT_USAGE
    except (CliError, PtychoPatchError, OSError, ValueError, TypeError, KeyError,
            MemoryError) as err:
        print(f"{PROG} {args.command}: error: {_error_text(err)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
