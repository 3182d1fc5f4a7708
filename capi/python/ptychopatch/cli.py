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
import fnmatch
import importlib
import io
import json
import math
import os
import platform
import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from . import _dataset_cli, _native
from ._errors import PtychoPatchError
from ._progress import ProgressBar
from .align import (BAYER_PATTERNS, XTRANS_PATTERN, AlignFlag, _retired_options,
                    align_scene)

PROG = "ptychopatch"

#: Exit statuses: every frame / command fine; a run that failed (or some
#: frame that failed); a command line that cannot be right.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DOUBTED = 0, 1, 2, 3


class CliError(Exception):
    """A failure to report as ``ptychopatch <cmd>: error: <message>`` (exit 1)."""


class UsageError(Exception):
    """A command line that cannot be right: reported with the usage (exit 2)."""


def _import_optional(module: str, pip_name: str, purpose: str) -> Any:
    """Imports an optional dependency, or raises CliError naming its pip package."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CliError(f"{purpose} needs {pip_name}, which is not installed: "
                       f"pip install {pip_name}") from None


# ============================================================== patches

#: The keys of a PtychoPINN dataset this command reads.
REQUIRED_KEYS = ("objectGuess", "xcoords", "ycoords")
#: Per-position arrays grouped beside the patches where the dataset has them
#: (`ptychopatch.group.training_arrays`).
GROUPED_KEYS = ("diff3d", "xcoords_start", "ycoords_start")
#: Patch size when neither --N nor a probeGuess gives one.
DEFAULT_PATCH_SIZE = 64


def make_synthetic(path: str, size: int = 192, N: int = 32, step: float = 8.0,
                   seed: int = 0) -> Dict[str, np.ndarray]:
    """Writes a small PtychoPINN-style dataset to `path` and returns its arrays.

    The object is a smooth complex pattern (amplitude in [0.5, 1], phase in
    [-1, 1] rad); the scan is a jittered raster of step `step` pixels whose
    positions keep every N x N patch inside the object (400 positions with
    the defaults); probeGuess is an N x N Gaussian (``patches`` takes N
    from it); diff3d holds each position's far-field amplitude |FFT(probe x
    the object's N x N patch at the nearest pixel)|, float32; the start
    positions are the raster's, before the jitter.
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

    corners = np.rint(np.stack([y, x], axis=1) - half).astype(np.int64)
    diff3d = np.stack([np.abs(np.fft.fftshift(np.fft.fft2(
        probe * obj[r:r + N, c:c + N]))) for r, c in corners]).astype(np.float32)
    arrays = {"objectGuess": obj, "xcoords": x, "ycoords": y, "probeGuess": probe,
              "diff3d": diff3d, "xcoords_start": gx.ravel(), "ycoords_start": gy.ravel()}
    np.savez(path, **arrays)
    return arrays


#: The first bytes of numpy's .npy and of a zip (.npz) file.
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _require_magic(path: str, magics: Tuple[bytes, ...], what: str) -> None:
    """ValueError where `path` does not start as `what` does: numpy's own
    message for such a file is about pickled data, which misleads."""
    with open(path, "rb") as f:
        head = f.read(max(len(m) for m in magics))
    if not any(head.startswith(m) for m in magics):
        raise ValueError(f"not a {what}: its first bytes are {head!r}")


def load_dataset(path: str) -> Dict[str, np.ndarray]:
    """The arrays of a PtychoPINN ``.npz`` that ``patches`` uses, checked.

    Raises OSError for a file that cannot be opened, ValueError for one
    that is not an ``.npz`` or holds arrays of the wrong shapes (diff3d and
    the start positions too, where present), KeyError (naming the missing
    keys) for one without objectGuess, xcoords or ycoords.
    """
    try:
        _require_magic(path, (_ZIP_MAGIC,), ".npz (a zip of named arrays)")
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    try:
        data = np.load(path, allow_pickle=False)
    except OSError:
        raise
    except Exception as err:  # zipfile.BadZipFile, ...
        raise ValueError(f"{path}: not a readable .npz file ({err})") from None
    if not hasattr(data, "files"):
        raise ValueError(f"{path}: a single .npy array, not an .npz of named arrays")
    with data:
        missing = [k for k in REQUIRED_KEYS if k not in data.files]
        if missing:
            raise KeyError(f"{path}: missing key(s) {missing}; present: {sorted(data.files)}")
        arrays = {k: data[k] for k in REQUIRED_KEYS}
        for key in ("probeGuess",) + GROUPED_KEYS:
            if key in data.files:
                arrays[key] = data[key]
    obj = np.squeeze(arrays["objectGuess"])  # (H, W, 1) is accepted too
    if obj.ndim != 2:
        raise ValueError(f"{path}: objectGuess must be (H, W), got shape "
                         f"{arrays['objectGuess'].shape}")
    arrays["objectGuess"] = obj
    x = np.asarray(arrays["xcoords"], dtype=np.float64).ravel()
    y = np.asarray(arrays["ycoords"], dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{path}: xcoords has {x.size} positions, ycoords {y.size}")
    arrays["xcoords"], arrays["ycoords"] = x, y
    try:  # checked here, before anything is written
        from .group import _training_inputs

        _training_inputs(x.size, arrays.get("diff3d"), arrays.get("xcoords_start"),
                         arrays.get("ycoords_start"), diffraction_name="diff3d")
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: {err}") from None
    return arrays


def default_patch_size(arrays: Dict[str, np.ndarray]) -> int:
    """N from the dataset's probeGuess (N x N), else DEFAULT_PATCH_SIZE."""
    probe = arrays.get("probeGuess")
    if probe is None:
        return DEFAULT_PATCH_SIZE
    return int(np.squeeze(probe).shape[0])


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

#: File name patterns ``align --folder`` takes by default (case-insensitive).
RAW_PATTERNS = ("*.arw", "*.cr2", "*.cr3", "*.crw", "*.dng", "*.erf", "*.iiq", "*.kdc",
                "*.mef", "*.mos", "*.mrw", "*.nef", "*.nrw", "*.orf", "*.pef", "*.raf",
                "*.raw", "*.rw2", "*.rwl", "*.sr2", "*.srf", "*.srw", "*.x3f", "*.3fr")
ARRAY_SUFFIXES = (".npy", ".tif", ".tiff")


#: Statuses of frames this command rejects before the library sees them
#: (the others are the library's ``PTP_*`` names).
STATUS_OK = "PTP_SUCCESS"
STATUS_UNREADABLE = "UNREADABLE"
STATUS_CFA_MISMATCH = "CFA_MISMATCH"
STATUS_SHAPE_MISMATCH = "PTP_ERROR_INVALID_SIZE"  # the library's status for it too


class RawFrame(NamedTuple):
    """A frame as `align_frames` takes it.

    image : (H, W) mosaic (uint16 or float) for a CFA; (C, H, W) planar
        channels (or one (H, W) plane) when ``cfa`` is None.
    cfa : 2x2 (Bayer) or 6x6 (X-Trans) integer array of LibRaw colour codes
        (0 = R, 1 = G, 2 = B, 3 = second G), or None for no mosaic.
    stored_shape : the array file's own shape where `image` was reordered
        from it (a channel-last (H, W, C) file), else None. Messages and
        the report name this one: the shape the user's file has.
    """

    image: np.ndarray
    cfa: Optional[np.ndarray]
    stored_shape: Optional[Tuple[int, ...]] = None

    @property
    def shape(self) -> Tuple[int, ...]:
        """The frame's shape as its file holds it."""
        return self.stored_shape if self.stored_shape is not None else self.image.shape


Reader = Callable[[str], RawFrame]
#: progress(frames_done, frames_total), as align_scene calls it.
Progress = Callable[[int, int], Any]


@dataclass
class FrameResult:
    """One frame's alignment: a result, or its status and why not."""

    file: str
    status: str
    message: str = ""
    shift: Optional[Tuple[float, float]] = None
    crop: Optional[Tuple[int, int]] = None
    confidence: Optional[float] = None
    planes_used: int = 0
    plane_shifts: Optional[List[List[Optional[float]]]] = None
    #: Why the library doubts the result: AlignFlag names, e.g. "OTHER_SCENE".
    doubts: Tuple[str, ...] = ()

    @property
    def aligned(self) -> bool:
        """Whether the frame has a result (doubted or not)."""
        return self.status == STATUS_OK

    @property
    def ok(self) -> bool:
        """Whether the frame has a result the library does not doubt."""
        return self.aligned and not self.doubts

    def as_json(self) -> Dict[str, Any]:
        entry: Dict[str, Any] = {
            "file": self.file, "status": self.status, "ok": self.ok,
            "doubts": list(self.doubts), "message": self.message,
            "shift": None if self.shift is None else list(self.shift),
            "crop": None if self.crop is None else list(self.crop),
            "confidence": self.confidence, "planes_used": self.planes_used}
        if self.plane_shifts is not None:
            entry["plane_shifts"] = self.plane_shifts
        return entry


def parse_cfa(text: str) -> Optional[np.ndarray]:
    """``--cfa``: a Bayer name, XTRANS, NONE, or 4 / 36 comma-separated codes.

    Returns the pattern as an int32 array (None for NONE); raises
    ValueError naming the accepted forms.
    """
    name = text.strip().upper()
    if name == "NONE":
        return None
    if name in BAYER_PATTERNS:
        return np.array(BAYER_PATTERNS[name], dtype=np.int32)
    if name in ("XTRANS", "X-TRANS"):
        return np.array(XTRANS_PATTERN, dtype=np.int32)
    try:
        codes = [int(c) for c in text.replace(";", ",").split(",") if c.strip()]
    except ValueError:
        codes = []
    if len(codes) in (4, 36):
        side = 2 if len(codes) == 4 else 6
        return np.array(codes, dtype=np.int32).reshape(side, side)
    raise ValueError(f"--cfa {text!r}: give one of {', '.join(sorted(BAYER_PATTERNS))}, XTRANS, "
                     "NONE, or 4 (Bayer) or 36 (X-Trans) comma-separated LibRaw colour codes "
                     "in row order (0 = R, 1 = G, 2 = B, 3 = second G)")


def is_array_file(path: str) -> bool:
    """Whether a path is read as an array (.npy, .tif, .tiff) rather than RAW."""
    return path.lower().endswith(ARRAY_SUFFIXES)


def _planar(image: np.ndarray) -> np.ndarray:
    """A channel-last (H, W, C) image as planar (C, H, W); others unchanged.

    Same test as align_scene's refusal of channel-last images: a last axis
    of at most 4 after two larger ones.
    """
    if image.ndim == 3 and image.shape[-1] <= 4 < min(image.shape[0], image.shape[1]):
        return np.ascontiguousarray(np.moveaxis(image, -1, 0))
    return image


def _load_array(path: str) -> np.ndarray:
    """The array of a .npy or .tif/.tiff file, as stored."""
    if path.lower().endswith(".npy"):
        _require_magic(path, (_NPY_MAGIC,), ".npy file")
        return np.asarray(np.load(path, allow_pickle=False))
    tifffile = _import_optional("tifffile", "tifffile", "reading .tiff frames")
    return np.asarray(tifffile.imread(path))


def _array_frame(path: str, cfa: Optional[np.ndarray]) -> RawFrame:
    """An array file as a frame of pattern `cfa` (None: channels).

    With a pattern the file must hold one (H, W) mosaic: a colour image
    would otherwise reach the library reordered and be refused under a
    shape the file does not have.
    """
    stored = _load_array(path)
    if cfa is not None and stored.ndim != 2:
        raise ValueError(
            f"{path}: shape {stored.shape}; with a CFA pattern a frame must be one (H, W) "
            "mosaic (colour or multi-channel images take --cfa none)")
    image = _planar(stored)
    return RawFrame(image, cfa, stored.shape if image.shape != stored.shape else None)


def read_raw(path: str) -> RawFrame:
    """Reads a RAW file with rawpy: the visible area and its CFA pattern."""
    rawpy = _import_optional("rawpy", "rawpy", "reading RAW files")
    with rawpy.imread(path) as raw:
        # Copies: the arrays are views into LibRaw's memory, freed on close.
        image = np.array(raw.raw_image_visible, copy=True)
        if raw.raw_type == rawpy.RawType.Stack or image.ndim == 3:
            # Already one value per channel per pixel (sRAW, linear DNG):
            # (H, W, C) -> planar (C, H, W), no mosaic.
            planar = image if image.ndim == 3 else image[:, :, None]
            return RawFrame(np.ascontiguousarray(np.moveaxis(planar, -1, 0)), None)
        pattern = raw.raw_pattern
        if pattern is None:
            raise ValueError(f"{path}: no colour-filter pattern (monochrome sensor?)")
        period = pattern.shape[0]
        if pattern.shape not in ((2, 2), (6, 6)):
            raise ValueError(f"{path}: a {pattern.shape[0]}x{pattern.shape[1]} CFA pattern; "
                             "only 2x2 (Bayer) and 6x6 (X-Trans) are supported")
        # The colours of the visible area's first period: raw_pattern is the
        # pattern of the visible area in LibRaw, and this makes it certain.
        cfa = np.array(raw.raw_colors_visible[:period, :period], dtype=np.int32, copy=True)
    return RawFrame(image, cfa)


def make_reader(cfa: Any = "file") -> Reader:
    """A reader of RAW, .npy and .tiff files.

    `cfa` is the pattern given on the command line (an array or None for
    no mosaic), or "file" when none was given: RAW files then use their
    own pattern, and array files are refused (their CFA is unknown).
    """
    def read(path: str) -> RawFrame:
        if is_array_file(path):
            if isinstance(cfa, str):
                raise ValueError(f"{path}: an array file has no CFA: give --cfa")
            return _array_frame(path, cfa)
        frame = read_raw(path)
        return frame if isinstance(cfa, str) else RawFrame(frame.image, cfa)

    return read


def list_frames(folder: str, patterns: Sequence[str] = RAW_PATTERNS) -> List[str]:
    """Sorted file names in `folder` matching any of `patterns` (case-insensitive)."""
    names = []
    for name in sorted(os.listdir(folder)):
        if os.path.isfile(os.path.join(folder, name)) and any(
                fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns):
            names.append(name)
    return names


def select_gt(names: Sequence[str], gt: str) -> str:
    """The one name equal to `gt` or matching it as a glob pattern."""
    if gt in names:
        return gt
    matches = [n for n in names if fnmatch.fnmatchcase(n, gt)]
    if len(matches) != 1:
        found = "no file" if not matches else f"{len(matches)} files ({', '.join(matches)})"
        raise ValueError(f"--gt {gt!r} matches {found}; it must match exactly one")
    return matches[0]


def _same_cfa(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.all(a == b))


def _cfa_text(cfa: Optional[np.ndarray]) -> str:
    return "none" if cfa is None else str(cfa.tolist())


def _mismatch(name: str, frame: RawFrame, gt: RawFrame) -> Optional[FrameResult]:
    """The result of a frame that cannot be aligned to `gt` at all, or None.

    Checked here rather than left to the library so that the message names
    the file rather than a position in one library call.
    """
    if frame.image.shape != gt.image.shape:
        return FrameResult(name, STATUS_SHAPE_MISMATCH,
                           f"shape {frame.shape}, the GT frame's is {gt.shape}")
    if not _same_cfa(frame.cfa, gt.cfa):
        return FrameResult(name, STATUS_CFA_MISMATCH,
                           f"CFA {_cfa_text(frame.cfa)}, the GT frame's is {_cfa_text(gt.cfa)}")
    return None


def _finite_or_none(values: Iterable[float]) -> List[Optional[float]]:
    # JSON has no NaN: a plane without information is null.
    return [float(v) if math.isfinite(v) else None for v in values]


def align_frames(gt: RawFrame, frames: Sequence[Tuple[str, RawFrame]], *,
                 progress: Optional[Progress] = None, upsample_factor: int = 10,
                 combine: str = "luma", snap: bool = False, window: Optional[str] = "hann",
                 backend: str = "auto", max_shift: Optional[int] = None,
                 num_threads: int = 0, planning: str = "auto",
                 verify: Union[bool, str, None] = "refine") -> List[FrameResult]:
    """Registers named `frames` onto `gt` in one `align_scene` call.

    Returns one FrameResult per frame, in order. Frames whose shape or CFA
    differ from the GT frame's, and frames the library reports a problem
    for, get a status other than PTP_SUCCESS and a message; the others
    their shift, crop and confidence (and plane shifts with a per-plane
    `combine`). `progress(done, total)` counts all of `frames`.
    """
    results: Dict[int, FrameResult] = {}
    good: List[int] = []
    for i, (name, frame) in enumerate(frames):
        rejected = _mismatch(name, frame, gt)
        if rejected is None:
            good.append(i)
        else:
            results[i] = rejected
    rejected_count = len(frames) - len(good)
    if progress is not None and rejected_count:
        progress(rejected_count, len(frames))
    if good:
        report = None if progress is None else (
            lambda done, _total: progress(rejected_count + done, len(frames)))
        with warnings.catch_warnings():
            # Failed frames are reported per frame: no summary warning.
            warnings.filterwarnings("ignore", message=r"\d+ of \d+ frames have no result",
                                    category=RuntimeWarning)
            r = align_scene(gt.image, [frames[i][1].image for i in good], cfa=gt.cfa,
                            upsample_factor=upsample_factor, combine=combine, snap=snap,
                            window=window, backend=backend, progress=report,
                            num_threads=num_threads, max_shift=max_shift, planning=planning,
                            verify=verify)
        for k, i in enumerate(good):
            results[i] = _frame_result(frames[i][0], r, k,
                                       per_plane=combine not in ("luma", "joint"))
    return [results[i] for i in range(len(frames))]


def _for_file(message: str, k: int) -> str:
    """A library message of frame `k` of an align_scene call, said of the
    file its row names: "frames[k]" counts within the call (a batch, after
    the rejected files), not the file's place in the scene, so it would
    mislead. "frames[k]: note" becomes "note", "frames[k] has ..." "the
    frame has ..."."""
    own = f"frames[{k}]"
    return message.replace(own + ": ", "").replace(own, "the frame")


def _frame_result(name: str, r: Any, k: int, per_plane: bool) -> FrameResult:
    """Frame `k` of a SceneAlignment as a FrameResult."""
    if not r.ok[k]:
        return FrameResult(name, r.status_names[k], _for_file(r.messages[k], k))
    return FrameResult(
        name, STATUS_OK, _for_file(r.messages[k], k),
        doubts=tuple(flag.name for flag in AlignFlag if int(r.flags[k]) & flag),
        shift=(float(r.shifts[k, 0]), float(r.shifts[k, 1])),
        crop=(int(r.crops[k, 0]), int(r.crops[k, 1])),
        confidence=float(r.confidence[k]), planes_used=int(r.planes_used[k]),
        plane_shifts=[_finite_or_none(row) for row in r.plane_shifts[k]] if per_plane else None)


def align_files(gt: RawFrame, files: Sequence[Tuple[str, str]], reader: Reader, *,
                batch: int = 8, progress: Optional[Progress] = None,
                **options: Any) -> List[FrameResult]:
    """Reads (name, path) `files` with `reader` and aligns them onto `gt`.

    Frames are read and aligned `batch` at a time, so memory holds the GT
    frame and at most `batch` others. A file that cannot be read gets the
    status UNREADABLE (and the others their results). `progress(done,
    total)` counts all of `files`; `options` go to `align_frames`.
    """
    batch = max(1, batch)
    results: List[FrameResult] = []
    for start in range(0, len(files), batch):
        frames: List[Tuple[str, RawFrame]] = []
        unreadable: Dict[str, FrameResult] = {}
        for name, path in files[start:start + batch]:
            try:
                frames.append((name, reader(path)))
            except CliError:
                raise  # a missing dependency: no frame can be read
            except Exception as err:  # an unreadable file is reported, not fatal
                unreadable[name] = FrameResult(name, STATUS_UNREADABLE,
                                               f"{type(err).__name__}: {err}")
        done_before = start + len(unreadable)
        report = None if progress is None else (
            lambda done, _total, base=done_before: progress(base + done, len(files)))
        aligned = {r.file: r for r in align_frames(gt, frames, progress=report, **options)}
        # Back in the order of `files`.
        for name, _path in files[start:start + batch]:
            results.append(unreadable.get(name) or aligned[name])
        if progress is not None:
            progress(min(start + batch, len(files)), len(files))
    return results


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
1/upsample-factor of a colour-plane pixel; crop is the nearest integer
shift that keeps the mosaic intact (the one to crop RAW data by);
confidence is in [0, 1]. A frame that cannot be aligned (unreadable, other
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


def _int_at_least(low: int, meaning: str = "") -> Callable[[str], int]:
    """argparse type: an integer >= `low` (a usage error otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}{meaning}, got {value}")
        return value
    return parse


#: --threads of every command: 0 means all cores.
threads_value = _int_at_least(0, " (0: all cores)")
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
                   help="sub-pixel refinement: 1/k plane pixel, with --combine luma 1/k "
                        "sensor pixel (default 10; 1 = whole plane pixels)")
    p.add_argument("--combine", choices=("luma", "joint", "median", "mean"), default="luma",
                   help="luma: one peak of the frame's luminance image (default); joint: one "
                        "peak of all planes; median/mean: per-plane shifts combined (JSON "
                        "then has plane_shifts)")
    p.add_argument("--snap", action="store_true",
                   help="floor the shift to a multiple of 2 (Bayer) or 3 (X-Trans)")
    p.add_argument("--window", choices=("hann", "none"), default="hann",
                   help="window of the luminance image (or every colour plane) before the "
                        "transform (default hann)")
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

    retired = _retired_options(args.combine, args.verify)
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


def _error_text(err: BaseException) -> str:
    # A KeyError's str() is the repr of its argument: quotes around the text.
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err)


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
