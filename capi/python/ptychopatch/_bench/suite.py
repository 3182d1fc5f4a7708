"""The cases of the suite: each curve (a swept parameter) and its points,
in a quick and a full set.

The quick set (``--quick``) has two small points per curve and runs in
about a minute on two cores; it keeps the suite from rotting (CI runs it)
and its figures are not for quoting. The full set spans the ranges of the
docs' tables: up to 10^6 patches and 10^7 positions where memory allows.
The GPU curves (groups ``gpu-*``) are in both sets where a GPU is usable.

>>> [c.id for c in cases(quick=True, threads=0, only=["group/positions"])]
['group/positions=1000', 'group/positions=10000']
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from . import align, busy, data, dataset, extract, gpu, group, reassemble, train
from .registry import Case


@dataclass(frozen=True)
class Curve:
    group: str
    curve: str
    label: str                   # the x axis, in words
    unit: str                    # what an item is
    quick: Sequence[float]
    full: Sequence[float]
    make: Callable[[float, bool, int, int], Case]
    gpu: bool = False            # selected only where a GPU is usable


#: Bytes of an element: complex64 pixels, an (x, y) float64 offset or
#: position, a float32 or uint16 raw pixel, a frame's (dy, dx) int64 crop,
#: a reassembly's canvas pixel (complex64 sum + float32 weight). Input
#: bytes count the arrays of the data (object and offsets, patches, frames,
#: positions; a reassembly's offsets left out: its patches are the data).
COMPLEX64, OFFSET, FLOAT32, UINT16, CROP, CANVAS = 8, 16, 4, 2, 16, 12


def _extract_case(curve: str, x: float, N: int, size: int, patches: int,
                  threads: int, seed: int) -> Case:
    def build():
        rng = np.random.default_rng(seed)
        return extract.entries(data.complex_object(rng, size),
                               data.offsets(rng, patches, 1, size, N), N, threads)

    return Case("extract", curve, x, "patches", patches,
                {"patches": patches, "N": N, "object": size, "threads": threads,
                 "dtype": "complex64"}, build, output_bytes=patches * N * N * COMPLEX64,
                input_bytes=size * size * COMPLEX64 + patches * OFFSET)


def _patch_stack(seed: int, patches: int, N: int, size: int):
    """(patches (P, N, N), offsets (P, 2)): what the reassembly cases scatter."""
    from .. import extract_patches

    rng = np.random.default_rng(seed)
    obj = data.complex_object(rng, size)
    offsets = data.offsets(rng, patches, 1, size, N).reshape(-1, 2)
    return extract_patches(obj, offsets[:, None, :], N, layout="flat", backend="cpu"), offsets


def _train_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    N, size, patches = (32, 256, int(x)) if quick else (64, 1024, int(x))

    def build():
        rng = np.random.default_rng(seed)
        weights = np.exp(1j * rng.uniform(-np.pi, np.pi, (patches, N, N))).astype(np.complex64)
        return train.entries(data.complex_object(rng, size),
                             train.lattice_offsets(rng, patches, size, N), weights, N, threads)

    return Case("train", "patches", x, "patches", patches,
                {"patches": patches, "N": N, "object": size, "threads": threads,
                 "dtype": "complex64"}, build, output_bytes=patches * N * N * COMPLEX64,
                input_bytes=size * size * COMPLEX64 + patches * OFFSET)


def _reassemble_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    patches, N, size = int(x), 32, 512 if quick else 1024

    def build():
        stack, offsets = _patch_stack(seed, patches, N, size)
        return reassemble.entries(stack, offsets, (size, size), threads)

    return Case("reassemble", "patches", x, "patches", patches,
                {"patches": patches, "N": N, "object": size, "threads": threads,
                 "dtype": "complex64"}, build, output_bytes=size * size * CANVAS,
                input_bytes=patches * N * N * COMPLEX64, size_axis="input")


def frame_shape(megapixels: float) -> tuple:
    """(height, width), 2:3 and even, of about `megapixels` million pixels."""
    height = int(round(np.sqrt(megapixels * 1e6 / 1.5) / 2)) * 2
    return height, int(round(height * 1.5 / 2)) * 2


def _align_case(curve: str, x: float, megapixels: float, frames: int, threads: int,
                seed: int) -> Case:
    height, width = frame_shape(megapixels)

    def build():
        gt, moving, _ = data.bayer_scene(np.random.default_rng(seed), height, width, frames)
        return align.entries(gt, moving, threads)

    return Case("align", curve, x, "frames", frames,
                {"height": height, "width": width, "megapixels": height * width / 1e6,
                 "frames": frames, "cfa": "RGGB", "dtype": "float32", "upsample_factor": 1,
                 "threads": threads}, build, output_bytes=frames * CROP,
                input_bytes=(frames + 1) * height * width * FLOAT32, size_axis="input")


def _group_case(curve: str, x: float, n: int, threads: int, seed: int) -> Case:
    K, gridsize = 8, 2

    def build():
        px, py = data.positions(np.random.default_rng(seed), n)
        return group.entries(px, py, K, gridsize, threads, seed)

    return Case("group", curve, x, "positions", n,
                {"positions": n, "nsamples": n, "K": K, "gridsize": gridsize,
                 "threads": threads}, build, output_bytes=n * gridsize ** 2 * 8,
                input_bytes=n * OFFSET)


def _gpu_extract_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    patches, N, size = int(x), 32, 512 if quick else 1024

    def build():
        rng = np.random.default_rng(seed)
        return gpu.extract_entries(data.complex_object(rng, size),
                                   data.offsets(rng, patches, 1, size, N), N)

    return Case("gpu-extract", "patches", x, "patches", patches,
                {"patches": patches, "N": N, "object": size, "dtype": "complex64"}, build,
                output_bytes=patches * N * N * COMPLEX64, gpu=True,
                input_bytes=size * size * COMPLEX64 + patches * OFFSET)


def _gpu_reassemble_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    patches, N, size = int(x), 32, 512 if quick else 1024

    def build():
        stack, offsets = _patch_stack(seed, patches, N, size)
        return gpu.reassemble_entries(stack, offsets, (size, size))

    return Case("gpu-reassemble", "patches", x, "patches", patches,
                {"patches": patches, "N": N, "object": size, "dtype": "complex64"}, build,
                output_bytes=size * size * CANVAS, gpu=True,
                input_bytes=patches * N * N * COMPLEX64, size_axis="input")


def _gpu_align_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    height, width = frame_shape(x)

    def build():
        gt, moving, _ = data.bayer_scene(np.random.default_rng(seed), height, width, 2)
        return gpu.align_entries(gt, moving)

    return Case("gpu-align", "megapixels", x, "frames", 2,
                {"height": height, "width": width, "megapixels": height * width / 1e6,
                 "frames": 2, "cfa": "RGGB", "dtype": "float32", "upsample_factor": 1},
                build, output_bytes=2 * CROP, gpu=True,
                input_bytes=3 * height * width * FLOAT32, size_axis="input")


def _dataset_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    workers = int(x)
    return Case("dataset", "workers", x, "scenes", dataset.SCENES,
                {"workers": workers, "scenes": dataset.SCENES, "frames": dataset.FRAMES,
                 "side": dataset.SIDE, "cfa": "RGGB", "dtype": "uint16",
                 "upsample_factor": 1, "backend": dataset.BACKEND},
                lambda: dataset.entries(workers, seed),
                output_bytes=dataset.SCENES * dataset.FRAMES * CROP,
                input_bytes=dataset.SCENES * (dataset.FRAMES + 1) * dataset.SIDE ** 2 * UINT16,
                size_axis="input")


def _patches_dataset_case(x: float, quick: bool, threads: int, seed: int) -> Case:
    workers, size = int(x), dataset.patches_sizes(quick)
    files, groups, n = size["FILES"], size["GROUPS"], size["N"]
    patch_bytes = files * groups * 4 * n * n * COMPLEX64  # gridsize 2: 4 patches a group
    return Case("patches-dataset", "workers", x, "groups", files * groups,
                {"workers": workers, "files": files, "object": size["OBJECT"],
                 "groups_per_file": groups, "N": n, "K": 4, "gridsize": 2,
                 "dtype": "complex64", "chunk_groups": 256, "backend": dataset.BACKEND},
                lambda: dataset.patches_entries(workers, quick, seed),
                output_bytes=patch_bytes,
                input_bytes=files * (size["OBJECT"] ** 2 * COMPLEX64 + groups * OFFSET))


def _busy_case(workload: str, size: int) -> Callable[[float, bool, int, int], Case]:
    """A busy/<workload>-<size> point: x busy processes per core."""
    def make(x: float, quick: bool, threads: int, seed: int) -> Case:
        entries = busy.extract_entries if workload == "extract" else busy.group_entries
        unit = "patches" if workload == "extract" else "positions"
        return Case("busy", f"{workload}-{size}", x, "calls", busy.CALLS,
                    {"load_per_core": x, unit: size, "threads": busy.cores()},
                    lambda: entries(x, size, seed))

    return make


def thread_counts() -> List[int]:
    """1, 2, 4, ... up to every core, and every core itself."""
    cores = os.cpu_count() or 1
    counts = [1 << k for k in range(cores.bit_length()) if 1 << k < cores]
    return counts + [cores]


def curves(seed: int = 0) -> List[Curve]:
    """Every curve of the suite; `make(x, quick, threads, seed)` gives its case."""
    threads_axis = [float(t) for t in thread_counts()]
    return [
        Curve("extract", "patches", "patches (B·c)", "patches",
              [400, 4000], [1e3, 1e4, 1e5, 1e6],
              lambda x, q, t, s: _extract_case("patches", x, 32, 512 if q else 1024,
                                               int(x), t, s)),
        Curve("extract", "N", "patch side N (pixels)", "patches", [16, 64],
              [16, 32, 64, 128, 256],
              lambda x, q, t, s: _extract_case("N", x, int(x), 512 if q else 1024,
                                               200 if q else 2000, t, s)),
        Curve("extract", "object", "object side (pixels)", "patches", [256, 1024],
              [256, 512, 1024, 2048, 4096],
              lambda x, q, t, s: _extract_case("object", x, 32 if q else 64, int(x),
                                               400 if q else 4000, t, s)),
        Curve("extract", "threads", "threads", "patches", threads_axis, threads_axis,
              lambda x, q, t, s: _extract_case("threads", x, 32 if q else 64,
                                               512 if q else 1024, 2000 if q else 20000,
                                               int(x), s)),
        Curve("reassemble", "patches", "patches", "patches", [400, 4000], [1e3, 1e4, 1e5],
              _reassemble_case),
        # A training step (forward and backward) through ptychopatch.torch
        # against grid_sample's autograd (train.py), where PyTorch is installed.
        Curve("train", "patches", "patches (B·c)", "patches", [100, 400], [1e3, 1e4, 1e5],
              _train_case),
        Curve("align", "megapixels", "frame size (megapixels)", "frames", [0.25, 1],
              [1, 4, 16, 24, 60],
              lambda x, q, t, s: _align_case("megapixels", x, x, 2, t, s)),
        Curve("align", "frames", "frames per scene", "frames", [1, 3], [1, 2, 4, 8, 16],
              lambda x, q, t, s: _align_case("frames", x, 0.25 if q else 4, int(x), t, s)),
        Curve("align", "threads", "threads", "frames", threads_axis, threads_axis,
              lambda x, q, t, s: _align_case("threads", x, 0.25 if q else 4, 2 if q else 4,
                                             int(x), s)),
        Curve("group", "positions", "scan positions", "positions", [1e3, 1e4],
              [1e3, 1e4, 1e5, 1e6, 1e7],
              lambda x, q, t, s: _group_case("positions", x, int(x), t, s)),
        Curve("group", "threads", "threads", "positions", threads_axis, threads_axis,
              lambda x, q, t, s: _group_case("threads", x, 10_000 if q else 1_000_000,
                                             int(x), s)),
        # One thread against every core beside x busy processes per core
        # (busy.py); the small calls in the quick set too.
        Curve("busy", "extract-80", "busy processes per core", "calls", [2], [0, 2, 8],
              _busy_case("extract", 80)),
        Curve("busy", "extract-8000", "busy processes per core", "calls", [], [0, 2, 8],
              _busy_case("extract", 8000)),
        Curve("busy", "group-1000", "busy processes per core", "calls", [2], [0, 2, 8],
              _busy_case("group", 1000)),
        Curve("busy", "group-20000", "busy processes per core", "calls", [], [0, 2, 8],
              _busy_case("group", 20000)),
        # Scenes per second of align_dataset against Dask workers
        # (dataset.py): full set only (clusters take seconds to start).
        Curve("dataset", "workers", "Dask workers", "scenes", [], threads_axis,
              _dataset_case),
        # Groups per second of patches_dataset against Dask workers: in the
        # quick set too (tiny files), so CI keeps the cluster path working.
        Curve("patches-dataset", "workers", "Dask workers", "groups", threads_axis,
              threads_axis, _patches_dataset_case),
        # The GPU backend (gpu.py); small quick points, as the emulated
        # device of CI runs them for plumbing only.
        Curve("gpu-extract", "patches", "patches (B·c)", "patches", [100, 400],
              [1e3, 1e4, 1e5, 1e6], _gpu_extract_case, gpu=True),
        Curve("gpu-reassemble", "patches", "patches", "patches", [100, 400],
              [1e3, 1e4, 1e5], _gpu_reassemble_case, gpu=True),
        Curve("gpu-align", "megapixels", "frame size (megapixels)", "frames", [0.05, 0.1],
              [1, 4, 16, 60], _gpu_align_case, gpu=True),
    ]


def curve_of(case: Case) -> Optional[Curve]:
    for c in curves():
        if (c.group, c.curve) == (case.group, case.curve):
            return c
    return None


def selected(name: str, only: Optional[Sequence[str]]) -> bool:
    """Whether a curve ("extract/patches") or case id is picked by --only
    patterns (fnmatch; a bare group name picks the whole group)."""
    if not only:
        return True
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name, p + "/*") for p in only)


def cases(quick: bool, threads: int, only: Optional[Sequence[str]] = None,
          seed: int = 0) -> List[Case]:
    """The cases to run, in order."""
    found = []
    for c in curves(seed):
        if not selected(f"{c.group}/{c.curve}", only) or (c.gpu and not gpu_usable()):
            continue
        for x in (c.quick if quick else c.full):
            found.append(c.make(x, quick, threads, seed))
    return found


def gpu_usable() -> bool:
    """Whether the GPU curves run here (``backend_info("gpu")``)."""
    return bool(gpu.status()["usable"])


def curve_labels() -> Dict[str, str]:
    return {f"{c.group}/{c.curve}": c.label for c in curves()}
