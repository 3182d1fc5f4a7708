"""One scene's alignment as rows: the task ``align_dataset`` runs per scene.

A plain function of a Scene and the options, with no Dask in it: the serial
run calls it in a loop and the distributed run submits it, so the two give
the same rows. Frames are read with the command line's readers (rawpy for
RAW files, numpy / tifffile for arrays) and aligned with `align_files`, the
code behind ``ptychopatch align`` (all in `ptychopatch._frames`).

It never raises for the data: a scene without a GT frame, a GT frame that
cannot be read, a missing reader package or a library error give every
frame of the scene a row with the status and the message (a job of
thousands of scenes must not stop, nor lose a scene, for one bad file).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ._dataset import Scene
from ._frames import STATUS_OK, FrameResult, RawFrame, align_files, make_reader
from ._task_threads import task_threads

#: Statuses of rows for frames whose scene could not be aligned at all
#: (the frame statuses of ``ptychopatch align`` are used otherwise).
STATUS_NO_SCENE = "SCENE_INVALID"        # no GT frame, several, or no frames
STATUS_GT_UNREADABLE = "GT_UNREADABLE"
STATUS_SCENE_FAILED = "SCENE_FAILED"     # an error while aligning the scene
STATUS_TASK_FAILED = "TASK_FAILED"       # the task itself was lost (Dask)


def _row(scene: Scene, frame: str, status: str, message: str, backend: str,
         seconds: float, result: Optional[FrameResult] = None) -> Dict[str, Any]:
    shift = result.shift if result is not None and result.shift is not None else (None, None)
    crop = result.crop if result is not None and result.crop is not None else (None, None)
    return {"scene": scene.name, "frame": frame, "gt": scene.gt or "", "status": status,
            "ok": status == STATUS_OK and (result is None or result.ok), "shift_dy": shift[0], "shift_dx": shift[1],
            "crop_dy": crop[0], "crop_dx": crop[1],
            "confidence": None if result is None else result.confidence,
            "message": message, "backend": backend, "seconds": seconds}


def failed_rows(scene: Scene, status: str, message: str, backend: str = "",
                seconds: float = 0.0) -> List[Dict[str, Any]]:
    """One row per frame of `scene` with `status` (one row with an empty
    frame name for a scene without frames, so that it is still recorded)."""
    names = [name for name, _ in scene.frames] or [""]
    return [_row(scene, name, status, message, backend, seconds) for name in names]


def align_scene_rows(scene: Scene, options: Dict[str, Any],
                     reader: Optional[Callable[[str], RawFrame]] = None,
                     hosts: Optional[Dict[str, int]] = None) -> List[Dict[str, Any]]:
    """Reads and aligns one scene; one row per frame (see ``_parts.COLUMNS``).

    `options` are ``cfa`` ("file" or a pattern array / None), ``batch``
    and the keyword options of `_frames.align_frames` (``num_threads`` None or
    missing: from the worker's processors and `hosts`, as `task_threads`);
    `reader` replaces the file readers (a custom format). ``seconds`` is
    the scene's time, reading included, on each of its rows.
    """
    from . import backend_info

    start = time.perf_counter()
    options = dict(options)
    options["num_threads"] = task_threads(options.get("num_threads"), hosts)
    cfa = options.pop("cfa", "file")
    if isinstance(cfa, list):  # as recorded in the output's _run.json
        cfa = np.array(cfa, dtype=np.int32)
    read = reader if reader is not None else make_reader(cfa)
    batch = options.pop("batch", 8)
    if scene.problem:
        return failed_rows(scene, STATUS_NO_SCENE, scene.problem)
    try:
        # The backend this worker resolves "auto" to: its GPU where it has
        # one (dask-cuda gives each worker its own), else the CPU.
        backend = backend_info(options.get("backend", "auto")).backend
    except Exception as err:  # noqa: BLE001 - "gpu" asked where there is none
        return failed_rows(scene, STATUS_SCENE_FAILED, f"{type(err).__name__}: {err}")
    try:
        gt = read(scene.gt)
    except Exception as err:  # noqa: BLE001 - reported in the rows, never fatal
        return failed_rows(scene, STATUS_GT_UNREADABLE, f"{scene.gt}: {type(err).__name__}: "
                           f"{err}", backend, time.perf_counter() - start)
    try:
        results = align_files(gt, list(scene.frames), read, batch=batch, **options)
    except Exception as err:  # noqa: BLE001 - a missing reader package, a library error
        return failed_rows(scene, STATUS_SCENE_FAILED, f"{type(err).__name__}: {err}",
                           backend, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    return [_row(scene, r.file, r.status, r.message, backend, seconds, r) for r in results]
