"""The inputs the docs' Python and shell snippets assume (the "prelude").

The docs write `obj`, `offsets`, `gt_raw`, `data.npz`, `/data/scene01`...
as a reader would have them. tests/python/test_docs_snippets.py runs each
snippet as written, with these made up beforehand:

Python names (`namespace()`; small synthetic data, host numpy arrays):
  obj, objectGuess      (256, 256) complex64 object
  offsets               (16, 4, 2) float64 patch centres [x, y] inside obj
  global_offsets, local_offsets   (16, 1, 2, 1) and (16, 1, 2, 4), PtychoPINN's form
  cupy_obj, cupy_offsets          CuPy arrays of obj and offsets where CuPy and a
                                  usable GPU are present, else the numpy arrays
                                  themselves (the call is the same)
  xcoords, ycoords      (6000,) scan positions in obj (nsamples=5000 needs > 5000)
  scan                  (6000, 2) the same as [x, y] columns
  B, batches            8, and two (8, 4, 2) offset arrays
  gt_raw, noisy_raws    a 256 x 256 uint16 RGGB mosaic and 3 frames moved by even shifts
  gt_path, noisy_paths  fake RAW files of those (read by tests/docs/stubs/rawpy)

Files in the snippets' working directory (`write_files()`):
  data.npz                      PtychoPINN dataset (objectGuess, xcoords, ycoords
                                (6000 positions), probeGuess 32 x 32)
  gt.npy f1.npy f2.npy small.npy  RGGB uint16 mosaics (small.npy: a wrong shape)
  gt.tif moved.tif              X-Trans uint16 mosaics (with tifffile)
  gt.ARW iso3200.ARW iso6400.ARW  fake RAW files (RGGB)
  scene01/, /data/scene01/      fake RAW files, one named *_GT_*
  frames/                       gt.npy f1.npy
Paths under /data/ and /tmp/ in shell snippets are taken relative to the
working directory (SUBSTITUTIONS); `capi/`, `benchmarks/` and `scripts/`
there are links to the repository's.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

STUBS = Path(__file__).resolve().parent / "stubs"

# (text in a shell snippet, replacement; {work} is the working directory)
# `ptychopatch bench` in a snippet runs one small curve: the whole quick set
# (about a minute) runs in CI's own stage of scripts/test.sh.
SUBSTITUTIONS = [("/data/", "{work}/data/"), ("/tmp/", "{work}/"),
                 ("ptychopatch bench", "ptychopatch bench --only group/positions --repeat 1")]

RGGB = np.array([[0, 1], [3, 2]], dtype=np.uint8)
# LibRaw's Fujifilm X-Trans layout (docs/cli.md, --cfa XTRANS).
XTRANS = np.array([[{"R": 0, "G": 1, "B": 2}[c] for c in row] for row in
                   ("GGRGGB", "GGBGGR", "BRGRBG", "GGBGGR", "GGRGGB", "RBGBRG")], dtype=np.uint8)


def _scene(rng, size):
    """A smooth periodic random RGB scene (size, size, 3) in [0, 1]."""
    spectrum = np.fft.fft2(rng.standard_normal((3, size, size)))
    f = np.fft.fftfreq(size)
    scene = np.real(np.fft.ifft2(spectrum * np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / 0.005)))
    scene -= scene.min()
    return np.moveaxis(scene / scene.max(), 0, -1)


def _mosaic(rgb, pattern, rng):
    colour = np.where(pattern == 3, 1, pattern)
    h, w, _ = rgb.shape
    period = pattern.shape[0]
    rows, cols = np.mgrid[0:h, 0:w]
    channel = colour[rows % period, cols % period]
    values = rgb[rows, cols, channel] * 50000 + rng.normal(0, 30, (h, w))
    return np.clip(np.round(values), 0, 65535).astype(np.uint16)


def frames(pattern=RGGB, size=256, shifts=((0, 0), (4, -6), (-2, 8)), seed=1):
    """Mosaics of one scene moved by `shifts` (multiples of the period keep
    the crops exact); the first is the GT frame."""
    rng = np.random.default_rng(seed)
    scene = _scene(rng, size)
    return [_mosaic(np.roll(scene, s, axis=(0, 1)), pattern, rng) for s in shifts]


def write_raw(path, image, pattern=RGGB):
    """A fake RAW file: an .npz archive whatever the extension."""
    buffer = io.BytesIO()
    np.savez(buffer, image=image, pattern=pattern)
    Path(path).write_bytes(buffer.getvalue())


def dataset(n=6000, size=256, probe=32, seed=2):
    rng = np.random.default_rng(seed)
    obj = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size)))
    margin = probe / 2
    return {"objectGuess": obj.astype(np.complex64),
            "xcoords": rng.uniform(margin, size - margin, n),
            "ycoords": rng.uniform(margin, size - margin, n),
            "probeGuess": np.ones((probe, probe), np.complex64)}


def namespace(work: Path) -> dict:
    """The names the Python snippets use (module docstring)."""
    rng = np.random.default_rng(3)
    d = dataset()
    obj = d["objectGuess"]
    offsets = rng.uniform(40, 216, (16, 4, 2))
    global_offsets = rng.uniform(60, 196, (16, 1, 2, 1))
    local_offsets = rng.uniform(-8, 8, (16, 1, 2, 4))
    cupy_obj, cupy_offsets = obj, offsets
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            cupy_obj, cupy_offsets = cupy.asarray(obj), cupy.asarray(offsets)
    except Exception:  # no CuPy, or no usable GPU: the host arrays
        pass
    gt_raw, *noisy_raws = frames()
    gt_path = str(work / "gt.ARW")
    noisy_paths = [str(work / f"noisy{i}.ARW") for i in range(len(noisy_raws))]
    write_raw(gt_path, gt_raw)
    for path, frame in zip(noisy_paths, noisy_raws):
        write_raw(path, frame)
    return {
        "obj": obj, "objectGuess": obj, "offsets": offsets,
        "global_offsets": global_offsets, "local_offsets": local_offsets,
        "cupy_obj": cupy_obj, "cupy_offsets": cupy_offsets,
        "xcoords": d["xcoords"], "ycoords": d["ycoords"],
        "scan": np.stack([d["xcoords"], d["ycoords"]], axis=1),
        "B": 8, "batches": [rng.uniform(40, 216, (8, 4, 2)) for _ in range(2)],
        "gt_raw": gt_raw, "noisy_raws": noisy_raws, "gt_path": gt_path, "noisy_paths": noisy_paths,
    }


def write_files(work: Path, repo: Path) -> None:
    """The files the shell snippets use (module docstring)."""
    for name in ("capi", "benchmarks", "scripts"):
        (work / name).symlink_to(repo / name)
    np.savez(work / "data.npz", **dataset())
    bayer = frames()
    for name, frame in zip(("gt.npy", "f1.npy", "f2.npy"), bayer):
        np.save(work / name, frame)
    np.save(work / "small.npy", bayer[1][:64, :64])
    (work / "frames").mkdir()
    np.save(work / "frames" / "gt.npy", bayer[0])
    np.save(work / "frames" / "f1.npy", bayer[1])
    for name, frame in zip(("gt.ARW", "iso3200.ARW", "iso6400.ARW"), bayer):
        write_raw(work / name, frame)
    scene = work / "scene01"
    scene.mkdir()
    for name, frame in zip(("scene_GT_iso100.ARW", "scene_iso3200.ARW", "scene_iso6400.ARW"), bayer):
        write_raw(scene / name, frame)
    (work / "data").mkdir()
    (work / "data" / "scene01").symlink_to(scene)
    try:
        import tifffile
    except ImportError:
        return
    xtrans = frames(XTRANS, size=288, shifts=((0, 0), (6, -12)))
    tifffile.imwrite(work / "gt.tif", xtrans[0])
    tifffile.imwrite(work / "moved.tif", xtrans[1])
