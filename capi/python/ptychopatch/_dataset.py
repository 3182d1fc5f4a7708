"""A RAW dataset as a list of scenes: from a folder layout or a manifest.

Only the standard library: listing folders is done once, on the machine
that submits the work (cheap next to reading the frames, which the
workers do). A scene whose ground-truth (GT) frame cannot be found is
still a Scene, with `problem` saying why, so that it gets its status row
in the output instead of silently vanishing from it (the failure RawNIND's
hand-written parallel runs had: whole scenes dropped).
"""

from __future__ import annotations

import csv
import glob
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple


class Scene(NamedTuple):
    """One scene: a GT frame and the frames to align onto it.

    Attributes
    ----------
    name : str
        The scene's name, unique in the dataset (its folder's name, or the
        manifest's ``scene`` value).
    gt : str or None
        Path of the GT frame; None when it could not be found (see `problem`).
    frames : tuple of (str, str)
        (name, path) of each frame to align, in order; the name is what the
        output's ``frame`` column says (the path relative to the scene's
        folder, or the manifest's value).
    problem : str
        Empty, or why the scene cannot be aligned at all (no GT frame,
        several, no frames).
    """

    name: str
    gt: Optional[str]
    frames: Tuple[Tuple[str, str], ...]
    problem: str = ""


def _any_case(pattern: str) -> str:
    """`pattern` with each letter outside brackets matching either case:
    cameras write ``.ARW`` or ``.arw``, and ``--frames '*.arw'`` must find
    both (as ``ptychopatch align`` does), not leave a scene without frames."""
    out, in_brackets = [], False
    for c in pattern:
        if c == "[":
            in_brackets = True
        elif c == "]":
            in_brackets = False
        out.append(f"[{c.lower()}{c.upper()}]" if c.isalpha() and not in_brackets
                   and c.lower() != c.upper() else c)
    return "".join(out)


def _matches(folder: str, patterns: Sequence[str]) -> List[str]:
    """Files under `folder` matching any glob (relative to it, letters in
    either case), sorted, as relative paths with '/' separators."""
    found = set()
    for pattern in patterns:
        for path in glob.glob(os.path.join(glob.escape(folder), _any_case(pattern))):
            if os.path.isfile(path):
                found.add(os.path.relpath(path, folder).replace(os.sep, "/"))
    return sorted(found)


def scenes_from_folders(root: str, gt: str, frames: Sequence[str] = ("*",)) -> List[Scene]:
    """The scenes of a dataset laid out as one folder per scene.

    Parameters
    ----------
    root : str
        The folder holding one sub-folder per scene.
    gt : str
        Glob (relative to a scene's folder) of its GT frame, e.g.
        ``"*_GT_*"`` or ``"gt/*"``; it must match exactly one file.
    frames : sequence of str
        Globs of the frames to align (the GT frame is left out of them).
        Globs match letters in either case (``*.arw`` finds ``X.ARW``).
        Hidden folders (``.ipynb_checkpoints``, ``.snapshot``) are not scenes.

    Returns
    -------
    list of Scene
        Sorted by name, with absolute paths. A scene whose `gt` matches no
        file or several, or that has no frame, has its `problem` set.

    Examples
    --------
    >>> import os, tempfile
    >>> from ptychopatch.distributed import scenes_from_folders
    >>> root = tempfile.mkdtemp()
    >>> for name in ("s1/gt.npy", "s1/f1.npy", "s2/f1.npy"):
    ...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    ...     open(os.path.join(root, name), "w").close()
    >>> [(s.name, [f for f, _ in s.frames], s.problem) for s in
    ...  scenes_from_folders(root, gt="gt.npy", frames=["*.npy"])]
    [('s1', ['f1.npy'], ''), ('s2', ['f1.npy'], "no file matches the GT pattern 'gt.npy'")]
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: not a folder")
    # Absolute: the workers may run in another directory (or machine).
    root = os.path.abspath(root)
    if isinstance(frames, str):
        frames = (frames,)
    scenes = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        gts = _matches(folder, [gt])
        others = [(f, os.path.join(folder, f)) for f in _matches(folder, frames)
                  if f not in gts]
        problem = ""
        if len(gts) != 1:
            problem = (f"no file matches the GT pattern {gt!r}" if not gts else
                       f"{len(gts)} files match the GT pattern {gt!r}: {', '.join(gts)}")
        elif not others:
            problem = f"no frame matches {', '.join(map(repr, frames))}"
        gt_path = os.path.join(folder, gts[0]) if len(gts) == 1 else None
        scenes.append(Scene(name, gt_path, tuple(others), problem))
    return scenes


def _scene_name(value: object, path: str, where: int) -> str:
    """A manifest's scene name; ValueError for an empty one (it names the
    scene's output file, and rows without it belong to no scene)."""
    name = "" if value is None else str(value).strip()
    if not name:
        raise ValueError(f"{path}: entry {where} has an empty scene name")
    return name


def scenes_from_manifest(path: str) -> List[Scene]:
    """The scenes a manifest lists (CSV or JSON), paths relative to its folder.

    CSV: a header with ``scene``, ``gt`` and ``frame`` columns and one row
    per frame (``gt`` may be left empty after a scene's first row; a
    UTF-8 byte-order mark, as spreadsheets write, is allowed). JSON: a
    list of ``{"scene": ..., "gt": ..., "frames": [...]}`` objects (``gt``
    null or empty: no GT frame given). Scenes keep the manifest's order of
    first appearance; an empty scene name is a ValueError.

    Examples
    --------
    >>> import os, tempfile
    >>> from ptychopatch.distributed import scenes_from_manifest
    >>> path = os.path.join(tempfile.mkdtemp(), "dataset.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("scene,gt,frame\\nA,a/gt.npy,a/1.npy\\nA,,a/2.npy\\n")
    >>> [(s.name, [f for f, _ in s.frames]) for s in scenes_from_manifest(path)]
    [('A', ['a/1.npy', 'a/2.npy'])]
    """
    base = os.path.dirname(os.path.abspath(path))
    entries: Dict[str, Tuple[List[str], List[str]]] = {}  # scene -> (gts, frames)
    if path.lower().endswith(".json"):
        with open(path, encoding="utf-8-sig") as f:
            document = json.load(f)
        if not isinstance(document, list):
            raise ValueError(f"{path}: a JSON manifest is a list of "
                             '{"scene", "gt", "frames"} objects')
        for number, item in enumerate(document):
            gts, frames = entries.setdefault(_scene_name(item["scene"], path, number),
                                             ([], []))
            if item.get("gt"):
                gts.append(str(item["gt"]))
            frames.extend(str(f) for f in item["frames"])
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = csv.DictReader(f)
            missing = {"scene", "gt", "frame"} - set(rows.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: the CSV manifest lacks column(s) "
                                 f"{sorted(missing)} (header: scene,gt,frame)")
            for row in rows:
                gts, frames = entries.setdefault(
                    _scene_name(row["scene"], path, rows.line_num), ([], []))
                if row["gt"]:
                    gts.append(row["gt"])
                if row["frame"]:
                    frames.append(row["frame"])
    scenes = []
    for name, (gts, frames) in entries.items():
        distinct = sorted(set(gts))
        problem = ""
        if len(distinct) != 1:
            problem = "no GT frame given" if not distinct else \
                f"several GT frames given: {', '.join(distinct)}"
        elif not frames:
            problem = "no frame given"
        gt = os.path.join(base, distinct[0]) if len(distinct) == 1 else None
        scenes.append(Scene(name, gt, tuple((f, os.path.join(base, f)) for f in frames),
                            problem))
    return scenes
