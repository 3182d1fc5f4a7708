"""One input file's grouped patches, streamed into its Zarr group: the task
``patches_dataset`` runs per file.

A plain function with no Dask in it: the serial run calls it in a loop and
the distributed run submits it, so the two write the same arrays. The file
is read with the ``patches`` command's reader (`load_dataset`,
`default_patch_size` of `ptychopatch._ptychopinn_npz`); the groups are `group_neighbors`' (the groups
`grouped_patches` forms for the same arguments and seed), and the patches
are cut `chunk_groups` groups at a time with `extract_patches` at the
offsets `grouped_patches` cuts at, so each chunk of ``Y`` equals the same
rows of ``grouped_patches(...)["Y"]`` and only one chunk is ever in memory.

It never raises for the data: an unreadable file or a library error gives
a record with the status and the message (a job over thousands of files
must not stop for one bad file).
"""

from __future__ import annotations

import time
from typing import Any, Dict, NamedTuple, Optional

import numpy as np

from . import _frames, _zarr_store
from ._cli_common import _error_text
from ._ptychopinn_npz import default_patch_size, load_dataset
from ._task_threads import task_threads

STATUS_OK = _frames.STATUS_OK                  # "PTP_SUCCESS"
STATUS_UNREADABLE = _frames.STATUS_UNREADABLE  # "UNREADABLE": not an .npz with the keys
STATUS_FAILED = "FAILED"                       # an error while grouping, cutting or writing


class PatchesInput(NamedTuple):
    """One input file: its group's name in the store and its path."""

    name: str
    path: str


def _record(item: PatchesInput, status: str, message: str, groups: int, backend: str,
            start: float) -> Dict[str, Any]:
    return {"path": item.path, "status": status, "message": message, "groups": groups,
            "backend": backend, "seconds": time.perf_counter() - start}


def lost_record(item: PatchesInput, status: str, message: str) -> Dict[str, Any]:
    """The record of an input whose task never finished (Dask gave up)."""
    return _record(item, status, message, 0, "", time.perf_counter())


def offsets(d: Dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
    """(stop - start, C, 2) [x, y] offsets at which `grouped_patches` cuts
    groups start..stop: coords_offsets + coords_relative, summed in float64
    (the library rounds each pair to float32 once, as get_image_patches)."""
    centre = d["coords_offsets"][start:stop, 0, :, 0]         # (G, 2)
    relative = d["coords_relative"][start:stop, 0]            # (G, 2, C)
    return (centre[:, :, None] + relative).transpose(0, 2, 1)


def _write_training(group: Any, nn_indices: np.ndarray, N: int, n: int,
                    arrays: Dict[str, np.ndarray], chunk: int) -> None:
    """The dataset's diffraction and start positions grouped into `group` as
    `ptychopatch.group.training_arrays` groups them, the diffraction a
    chunk of groups at a time."""
    from .group import _training_inputs, diffraction_scale, grouped_diffraction, training_arrays

    diff, xs, ys = _training_inputs(n, arrays.get("diff3d"), arrays.get("xcoords_start"),
                                    arrays.get("ycoords_start"))
    if xs is not None:
        for key, value in training_arrays(nn_indices, N, n, None, xs, ys).items():
            _zarr_store.new_array(group, key, value.shape, value.dtype, chunk)[...] = value
    if diff is None:
        return
    rows, c = nn_indices.shape
    shape = (rows, diff.shape[1], diff.shape[2], c)
    grouped = _zarr_store.new_array(group, "diffraction", shape, diff.dtype, chunk)
    normalised = _zarr_store.new_array(group, "X_full", shape, np.float32, chunk)
    scale = diffraction_scale(diff, nn_indices, N)
    for start in range(0, rows, chunk):
        grouped[start:start + chunk], normalised[start:start + chunk] = grouped_diffraction(
            diff, nn_indices[start:start + chunk], scale)


def _write(item: PatchesInput, arrays: Dict[str, np.ndarray], store: str,
           options: Dict[str, Any], backend: str) -> int:
    from . import extract_patches, group_neighbors
    from .extract import _object_array

    n = arrays["xcoords"].size
    N = default_patch_size(arrays) if options["N"] is None else options["N"]
    nsamples = n if options["nsamples"] is None else options["nsamples"]
    # No seed given: the store's own decides (recorded in the group), so
    # that every task writing this group writes the same groups.
    seed = _zarr_store.file_seed(_zarr_store.zarr_module().open_group(store, mode="r"),
                                 item.name, options["seed"])
    d = group_neighbors(arrays["xcoords"], arrays["ycoords"], nsamples, K=options["K"],
                        gridsize=options["gridsize"], seed=seed,
                        sequential=options["sequential"], oversample=options["oversample"],
                        num_threads=options["num_threads"])
    # Converted once (complex64 or float32), not once per chunk.
    obj, _ = _object_array(arrays.pop("objectGuess"), "objectGuess")
    rows, c = d["nn_indices"].shape
    chunk = options["chunk_groups"]
    attributes = {
        "source": item.path, "positions": n, "object_shape": list(obj.shape), "N": N,
        "K": options["K"], "gridsize": options["gridsize"], "nsamples": nsamples,
        "seed": seed, "sequential": options["sequential"],
        "oversample": options["oversample"], "chunk_groups": chunk}
    try:
        group = _zarr_store.new_group(store, item.name, attributes)
        for key in _zarr_store.GROUPING_KEYS:
            _zarr_store.new_array(group, key, d[key].shape, d[key].dtype, chunk)[...] = d[key]
        Y = _zarr_store.new_array(group, "Y", (rows, N, N, c), obj.dtype, chunk)
        for start in range(0, rows, chunk):
            stop = min(start + chunk, rows)
            Y[start:stop] = extract_patches(obj, offsets(d, start, stop), N, layout="channel",
                                            backend=backend,
                                            num_threads=options["num_threads"])
        _write_training(group, d["nn_indices"], N, n, arrays, chunk)
        group.attrs[_zarr_store.COMPLETE] = True  # last: the group is whole
    except Exception:
        # Another writer of this group (another run on the store) finished
        # it with these attributes, hence these bytes: it is written.
        if _zarr_store.is_complete(store, item.name, attributes):
            return rows
        raise
    return rows


def patches_to_zarr(item: PatchesInput, store: str, options: Dict[str, Any],
                    hosts: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Reads one input, writes its group to `store`; its record (path,
    status, message, groups, backend, seconds).

    `options`: N and nsamples (None: from the file), K, gridsize, seed,
    sequential, oversample, chunk_groups, backend, num_threads (None: from
    the worker's processors and `hosts`, as `task_threads`).
    """
    from . import backend_info

    start = time.perf_counter()
    options = dict(options, num_threads=task_threads(options.get("num_threads"), hosts))
    backend: Optional[str] = None
    try:
        # The backend this worker resolves "auto" to: its GPU where it has one.
        backend = backend_info(options["backend"]).backend
        arrays = load_dataset(item.path)  # a bad file: UNREADABLE, nothing written
    except Exception as err:  # noqa: BLE001 - recorded, never fatal
        status = STATUS_FAILED if backend is None else STATUS_UNREADABLE
        return _record(item, status, f"{type(err).__name__}: {_error_text(err)}", 0,
                       backend or "", start)
    try:
        rows = _write(item, arrays, store, options, backend)
    except Exception as err:  # noqa: BLE001 - a library error, a full disk
        # A group left without its marker is written again by the next run.
        return _record(item, STATUS_FAILED, f"{type(err).__name__}: {_error_text(err)}",
                       0, backend, start)
    return _record(item, STATUS_OK, "", rows, backend, start)
