"""Frames from files, and their alignment onto a ground-truth (GT) frame
file by file: the code behind ``ptychopatch align`` and the
``align-dataset`` tasks (`ptychopatch._scene_task`).

RAW files are read with rawpy, .npy and .tiff arrays with numpy and
tifffile (imported when a file needs them, with an error naming the pip
package where one is missing); `align_files` aligns them a batch at a time
with `ptychopatch.align_scene`, and gives each file a `FrameResult`: its
shift, or its status and why not.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from dataclasses import dataclass
from typing import (Any, Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from ._cli_common import CliError, _import_optional
from ._numpy_files import _NPY_MAGIC, _require_magic
from .align import BAYER_PATTERNS, XTRANS_PATTERN, AlignFlag, align_scene

#: File name patterns ``align --folder`` takes by default (case-insensitive).
RAW_PATTERNS = ("*.arw", "*.cr2", "*.cr3", "*.crw", "*.dng", "*.erf", "*.iiq", "*.kdc",
                "*.mef", "*.mos", "*.mrw", "*.nef", "*.nrw", "*.orf", "*.pef", "*.raf",
                "*.raw", "*.rw2", "*.rwl", "*.sr2", "*.srf", "*.srw", "*.x3f", "*.3fr")
ARRAY_SUFFIXES = (".npy", ".tif", ".tiff")


#: Statuses of frames ``align`` rejects before the library sees them
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
        return {
            "file": self.file, "status": self.status, "ok": self.ok,
            "doubts": list(self.doubts), "message": self.message,
            "shift": None if self.shift is None else list(self.shift),
            "crop": None if self.crop is None else list(self.crop),
            "confidence": self.confidence, "planes_used": self.planes_used}


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
    their shift, crop and confidence. `progress(done, total)` counts all
    of `frames`.
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
            results[i] = _frame_result(frames[i][0], r, k)
    return [results[i] for i in range(len(frames))]


def _for_file(message: str, k: int) -> str:
    """A library message of frame `k` of an align_scene call, said of the
    file its row names: "frames[k]" counts within the call (a batch, after
    the rejected files), not the file's place in the scene, so it would
    mislead. "frames[k]: note" becomes "note", "frames[k] has ..." "the
    frame has ..."."""
    own = f"frames[{k}]"
    return message.replace(own + ": ", "").replace(own, "the frame")


def _frame_result(name: str, r: Any, k: int) -> FrameResult:
    """Frame `k` of a SceneAlignment as a FrameResult."""
    if not r.ok[k]:
        return FrameResult(name, r.status_names[k], _for_file(r.messages[k], k))
    return FrameResult(
        name, STATUS_OK, _for_file(r.messages[k], k),
        doubts=tuple(flag.name for flag in AlignFlag if int(r.flags[k]) & flag),
        shift=(float(r.shifts[k, 0]), float(r.shifts[k, 1])),
        crop=(int(r.crops[k, 0]), int(r.crops[k, 1])),
        confidence=float(r.confidence[k]), planes_used=int(r.planes_used[k]))


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
