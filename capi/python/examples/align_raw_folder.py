#!/usr/bin/env python3
"""Align every RAW frame of a folder to its ground-truth (GT) frame.

Each RAW file is read with rawpy (LibRaw): the visible sensor area
(``raw_image_visible``, uint16) and its colour-filter layout (the colours of
the visible area's first period, ``raw_colors_visible``: a 2x2 Bayer or 6x6
X-Trans pattern of LibRaw codes, which is what ``raw_pattern`` gives for
the visible area). The GT frame is chosen on the command line; every other
frame is registered onto it with ``ptychopatch.align_scene`` (CFA-aware
correlation: one peak of the colour planes' summed cross-power spectra),
and the results are written as JSON::

    {
      "gt": "scene_gt.ARW",
      "cfa": [[0, 1], [3, 2]],
      "upsample_factor": 10,
      "library": "0.4.0+cuda",
      "frames": {
        "scene_iso3200.ARW": {"shift": [dy, dx], "crop": [cy, cx],
                              "confidence": 0.93},
        "odd_size.ARW": {"error": "..."}
      }
    }

``shift`` is the (dy, dx) in sensor pixels that registers the frame onto
the GT frame (scikit-image's sign); ``crop`` the nearest integer shift that
keeps the colour-filter mosaic intact (the one to crop RAW data by);
``confidence`` is in [0, 1] (docs/performance.md gives the threshold below
which an answer is likely wrong). With ``--combine median`` or ``mean``
each frame also gets ``plane_shifts``, the per-plane shifts (4 for Bayer,
36 for X-Trans, plane ``r * period + c`` being ``frame[r::period,
c::period]``). A frame that cannot be aligned (unreadable, other size,
other CFA, a NaN, no information) gets an ``error`` instead, and the
others their results.

rawpy is an optional dependency (``pip install rawpy``); only reading needs
it: `align_folder` takes any reader returning `RawFrame`.

Example::

    python3 align_raw_folder.py /data/scene01 --gt '*_GT_*' --upsample-factor 10 \
        -o scene01_shifts.json
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

#: File name patterns taken by default (case-insensitive).
RAW_PATTERNS = ("*.arw", "*.cr2", "*.cr3", "*.crw", "*.dng", "*.erf", "*.iiq", "*.kdc",
                "*.mef", "*.mos", "*.mrw", "*.nef", "*.nrw", "*.orf", "*.pef", "*.raf",
                "*.raw", "*.rw2", "*.rwl", "*.sr2", "*.srf", "*.srw", "*.x3f", "*.3fr")


class RawFrame(NamedTuple):
    """A frame as `align_frames` takes it.

    image : (H, W) mosaic (uint16 or float) for a CFA; (C, H, W) planar
        channels when ``cfa`` is None.
    cfa : 2x2 (Bayer) or 6x6 (X-Trans) integer array of LibRaw colour codes
        (0 = R, 1 = G, 2 = B, 3 = second G), or None for planar data.
    """

    image: np.ndarray
    cfa: Optional[np.ndarray]


Reader = Callable[[str], RawFrame]


def read_raw(path: str) -> RawFrame:
    """Reads a RAW file with rawpy: the visible area and its CFA pattern."""
    import rawpy  # optional dependency, checked in main()

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


def select_gt(names: Sequence[str], gt: str) -> str:
    """The one name equal to `gt` or matching it as a glob pattern."""
    if gt in names:
        return gt
    matches = [n for n in names if fnmatch.fnmatchcase(n, gt)]
    if len(matches) != 1:
        found = "no file" if not matches else f"{len(matches)} files ({', '.join(matches)})"
        raise ValueError(f"--gt {gt!r} matches {found}; it must match exactly one")
    return matches[0]


def list_frames(folder: str, patterns: Sequence[str] = RAW_PATTERNS) -> List[str]:
    """Sorted file names in `folder` matching any of `patterns` (case-insensitive)."""
    names = []
    for name in sorted(os.listdir(folder)):
        if os.path.isfile(os.path.join(folder, name)) and any(
                fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns):
            names.append(name)
    return names


def _same_cfa(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.all(a == b))


def align_frames(gt: RawFrame, frames: Dict[str, RawFrame], *, upsample_factor: int = 10,
                 combine: str = "joint", snap: bool = False, window: Optional[str] = "hann",
                 backend: str = "auto") -> Dict[str, dict]:
    """Registers `frames` onto `gt` in one `ptychopatch.align_scene` call.

    Frames whose shape or CFA differ from the GT frame's, and frames the
    library reports a problem for, get an ``error`` entry; the others
    ``shift``, ``crop`` and ``confidence`` (and ``plane_shifts`` with a
    per-plane `combine`).
    """
    import ptychopatch

    results: Dict[str, dict] = {}
    good: List[str] = []
    for name, frame in frames.items():
        if frame.image.shape != gt.image.shape:
            results[name] = {"error": f"shape {frame.image.shape}, GT frame {gt.image.shape}"}
        elif not _same_cfa(frame.cfa, gt.cfa):
            results[name] = {"error": f"CFA {None if frame.cfa is None else frame.cfa.tolist()}, "
                                      f"GT frame {None if gt.cfa is None else gt.cfa.tolist()}"}
        else:
            good.append(name)
    if good:
        import warnings

        with warnings.catch_warnings():
            # Failed frames are reported per frame below.
            warnings.simplefilter("ignore", RuntimeWarning)
            r = ptychopatch.align_scene(gt.image, [frames[n].image for n in good], cfa=gt.cfa,
                                        upsample_factor=upsample_factor, combine=combine,
                                        snap=snap, window=window, backend=backend)
        for i, name in enumerate(good):
            if not r.ok[i]:
                results[name] = {"error": f"{r.status_names[i]}: {r.messages[i]}"}
                continue
            results[name] = {"shift": r.shifts[i].tolist(), "crop": r.crops[i].tolist(),
                             "confidence": float(r.confidence[i])}
            if combine != "joint":
                results[name]["plane_shifts"] = r.plane_shifts[i].tolist()
    return results


def align_folder(folder: str, gt: str, *, reader: Reader = read_raw,
                 patterns: Sequence[str] = RAW_PATTERNS, batch: int = 8,
                 progress: Optional[Callable[[str], None]] = None, **options) -> dict:
    """Reads the folder's frames with `reader` and aligns them to the GT frame.

    Frames are read and aligned `batch` at a time, so memory holds the GT
    frame and at most `batch` others. `options` go to `align_frames`.
    """
    batch = max(1, batch)
    names = list_frames(folder, patterns)
    if not names:
        raise ValueError(f"{folder}: no file matches {', '.join(patterns)}")
    gt_name = select_gt(names, gt)
    gt_frame = reader(os.path.join(folder, gt_name))
    others = [n for n in names if n != gt_name]
    results: Dict[str, dict] = {}
    for start in range(0, len(others), batch):
        frames: Dict[str, RawFrame] = {}
        for name in others[start:start + batch]:
            try:
                frames[name] = reader(os.path.join(folder, name))
            except Exception as err:  # an unreadable file is reported, not fatal
                results[name] = {"error": f"{type(err).__name__}: {err}"}
        results.update(align_frames(gt_frame, frames, **options))
        if progress is not None:
            progress(f"{min(start + batch, len(others))}/{len(others)} frames")

    import ptychopatch

    return {
        "gt": gt_name,
        "cfa": None if gt_frame.cfa is None else gt_frame.cfa.tolist(),
        "upsample_factor": options.get("upsample_factor", 10),
        "library": ptychopatch.version(),
        "frames": {n: results[n] for n in others if n in results},
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="folder of RAW files of one scene")
    parser.add_argument("--gt", required=True,
                        help="the GT frame: a file name in the folder, or a glob pattern "
                             "(e.g. '*_GT_*') that must match exactly one file")
    parser.add_argument("--pattern", action="append", metavar="GLOB",
                        help="files to take (repeatable; default: common RAW extensions)")
    parser.add_argument("--upsample-factor", type=int, default=10,
                        help="sub-pixel refinement: 1/k plane pixel (default 10; 1 = whole "
                             "plane pixels)")
    parser.add_argument("--combine", choices=("joint", "median", "mean"), default="joint")
    parser.add_argument("--snap", action="store_true",
                        help="floor the combined shift to a multiple of 2 (Bayer) or 3 (X-Trans)")
    parser.add_argument("--window", choices=("hann", "none"), default="hann")
    parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--batch", type=int, default=8,
                        help="frames read and aligned per library call (default 8)")
    parser.add_argument("-o", "--output", default="-", help="JSON file (default: stdout)")
    args = parser.parse_args(argv)

    try:
        import rawpy  # noqa: F401
    except ImportError:
        print("error: reading RAW files needs rawpy, an optional dependency of this example: "
              "pip install rawpy", file=sys.stderr)
        return 2
    try:
        report = align_folder(
            args.folder, args.gt, patterns=args.pattern or RAW_PATTERNS, batch=args.batch,
            upsample_factor=args.upsample_factor, combine=args.combine, snap=args.snap,
            window=args.window, backend=args.backend,
            progress=lambda msg: print(msg, file=sys.stderr))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    if args.output == "-":
        print(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
