#!/usr/bin/env python3
"""Align every RAW frame of a folder to its ground-truth (GT) frame.

Each RAW file is read with rawpy (LibRaw): the visible sensor area
(``raw_image_visible``, uint16) and its colour-filter layout (the colours of
the visible area's first period, ``raw_colors_visible``: a 2x2 Bayer or 6x6
X-Trans pattern of LibRaw codes, which is what ``raw_pattern`` gives for
the visible area). The GT frame is chosen on the command line; every other
frame is registered onto it with ``ptychopatch.align_scene`` (its default
estimator: the luminance image's correlation peak, refined coarse to fine
and checked in a closed loop), and the results are written as JSON::

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
``confidence`` in [0, 1] is the probability that the crop is right (trust
0.95 and above; docs/performance.md, "The four tables"), and ``note`` holds
the library's note where it has one (why a confidence is 0). With
``--combine median`` or ``mean``
each frame also gets ``plane_shifts``, the per-plane shifts (4 for Bayer,
36 for X-Trans, plane ``r * period + c`` being ``frame[r::period,
c::period]``). A frame that cannot be aligned (unreadable, other size,
other CFA, a NaN, no information) gets an ``error`` instead, and the
others their results.

rawpy is an optional dependency (``pip install rawpy``); only reading needs
it: `align_folder` takes any reader returning `RawFrame`.

The ``align`` command of the ``ptychopatch`` command line does the same
(``ptychopatch align --folder DIR --gt GLOB``, docs/cli.md), with a status
and message for every frame, CSV output, ``.npy`` / ``.tiff`` frames and a
progress bar; this script keeps the JSON form above over the same code
(``ptychopatch.cli``).

Example::

    python3 align_raw_folder.py /data/scene01 --gt '*_GT_*' --upsample-factor 10 \
        -o scene01_shifts.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

from ptychopatch import PtychoPatchError, cli
# Reading, listing and GT selection are the command line's; re-exported
# for code that imported them from this example.
from ptychopatch.cli import (RAW_PATTERNS, RawFrame, Reader, list_frames,  # noqa: F401
                             read_raw, select_gt)


def _entry(result: cli.FrameResult) -> dict:
    """A frame's result in this script's JSON form."""
    if not result.ok:
        return {"error": f"{result.status}: {result.message}"}
    entry = {"shift": list(result.shift), "crop": list(result.crop),
             "confidence": result.confidence}
    if result.message:
        entry["note"] = result.message
    if result.plane_shifts is not None:
        entry["plane_shifts"] = result.plane_shifts
    return entry


def align_frames(gt: RawFrame, frames: Dict[str, RawFrame], **options) -> Dict[str, dict]:
    """Registers `frames` onto `gt` in one `ptychopatch.align_scene` call.

    Frames whose shape or CFA differ from the GT frame's, and frames the
    library reports a problem for, get an ``error`` entry; the others
    ``shift``, ``crop`` and ``confidence`` (and ``plane_shifts`` with a
    per-plane `combine`). `options` go to `ptychopatch.cli.align_frames`.
    """
    results = cli.align_frames(gt, list(frames.items()), **options)
    return {r.file: _entry(r) for r in results}


def align_folder(folder: str, gt: str, *, reader: Reader = read_raw,
                 patterns: Sequence[str] = RAW_PATTERNS, batch: int = 8,
                 progress: Optional[Callable[[str], None]] = None, **options) -> dict:
    """Reads the folder's frames with `reader` and aligns them to the GT frame.

    Frames are read and aligned `batch` at a time, so memory holds the GT
    frame and at most `batch` others. `options` go to `align_frames`.
    """
    names = list_frames(folder, patterns)
    if not names:
        raise ValueError(f"{folder}: no file matches {', '.join(patterns)}")
    gt_name = select_gt(names, gt)
    gt_frame = reader(os.path.join(folder, gt_name))
    others = [(n, os.path.join(folder, n)) for n in names if n != gt_name]
    results = cli.align_files(gt_frame, others, reader, batch=batch,
                              progress=_progress_messages(progress), **options)

    import ptychopatch

    return {
        "gt": gt_name,
        "cfa": None if gt_frame.cfa is None else gt_frame.cfa.tolist(),
        "upsample_factor": options.get("upsample_factor", 10),
        "library": ptychopatch.version(),
        "frames": {r.file: _entry(r) for r in results},
    }


def _progress_messages(progress: Optional[Callable[[str], None]]):
    """A progress(done, total) callback that reports each new count as text."""
    if progress is None:
        return None
    reported: List[int] = [-1]

    def report(done: int, total: int) -> None:
        if done != reported[0]:
            reported[0] = done
            progress(f"{done}/{total} frames")

    return report


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
    parser.add_argument("--combine", choices=("luma", "joint", "median", "mean"), default="luma",
                        help="the estimator (default luma, the library's; docs/python.md)")
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
    except (OSError, ValueError, cli.CliError, PtychoPatchError) as err:
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
