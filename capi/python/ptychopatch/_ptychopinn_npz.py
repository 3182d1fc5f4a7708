"""PtychoPINN's dataset files: the ``.npz`` of an object, its scan positions
and (optional) probe, diffraction and start positions.

`load_dataset` reads and checks one as ``ptychopatch patches`` and the
``patches-dataset`` tasks (`ptychopatch._patches_task`) use it,
`default_patch_size` takes N from its probe, and `make_synthetic` writes a
small one to try the commands on.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ._numpy_files import _ZIP_MAGIC, _require_magic

#: The keys of a PtychoPINN dataset ``patches`` reads.
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
