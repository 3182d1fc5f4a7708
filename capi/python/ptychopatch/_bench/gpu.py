"""GPU cases: the library's GPU backend on the same inputs as the CPU
cases, selected where a GPU is usable (``backend_info``).

Per case, the library with host arrays (staged to the device and back in
the call) is the reference; then

* the library on device arrays (buffers of the CUDA runtime, cudart.py,
  or PyTorch CUDA tensors where no runtime is found by ctypes), checked
  against the reference;
* PyTorch peers on CUDA where torch with CUDA is importable (extraction:
  ``grid_sample``; alignment: ``torch.fft`` batched), and for alignment
  cuCIM's ``phase_cross_correlation`` on each plane where CuPy is (or,
  without cuCIM, the same algorithm in CuPy: what a CuPy user runs), each
  given host arrays and returning host arrays, like the reference;
* limits: a device-to-device copy of the output bytes (extraction,
  reassembly) and a host-to-device copy of the raw frames (alignment).

On the emulated device of tests/emulation every figure is plumbing, not
speed: `status()` says ``emulated`` and the runner then marks each GPU
result so and computes no rate or ratio from it.

>>> sorted(status())[:3]
['device', 'emulated', 'emulation_evidence']
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Dict, List

import numpy as np

from . import cudart
from .align import (TOLERANCE_PX, per_plane, phase_cross_correlation_shift, torch_fft_shifts,
                    within_pixels)
from .extract import position_tolerance, torch_grid_sample
from .reassemble import relative_check
from .registry import Entry, Impl, Skipped, close_to, optional_module, torch_from_numpy

#: The name the emulator of tests/emulation gives its device.
EMULATED_NAME = "emulated CUDA device"


@functools.lru_cache(maxsize=None)
def status() -> Dict[str, Any]:
    """usable, why not (reason, message), the device, and whether it is the
    emulated device (its name, or the emulator's exports in the process:
    either suffices, so an emulated run is never taken for a real one)."""
    from .. import backend_info

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # "auto" resolves to the GPU exactly where backend_info("gpu") finds
        # it usable, and says why not without raising (a CPU-only build).
        info = backend_info("auto")
    rt = cudart.runtime()
    evidence = []
    if EMULATED_NAME in info.message:
        evidence.append(f"the device is named '{EMULATED_NAME}'")
    if not isinstance(rt, str) and rt.emulated:
        evidence.append("the emulator's exports are loaded in this process")
    return {"usable": info.backend == "gpu", "reason": info.reason, "device": info.message,
            "emulated": bool(evidence), "emulation_evidence": "; ".join(evidence),
            "runtime": rt if isinstance(rt, str) else rt.source}


def torch_cuda() -> Any:
    """torch when it can use CUDA here (never on the emulated device, which
    torch does not see), else why not."""
    torch = optional_module("torch", "torch")
    if isinstance(torch, str):
        return torch
    if status()["emulated"] or not torch.cuda.is_available():
        return "torch sees no CUDA device here"
    return torch


def cupy_cuda() -> Any:
    """CuPy when it can use a CUDA device here (never on the emulated device,
    which CuPy does not see), else why not."""
    cupy = optional_module("cupy", "cupy-cuda12x")
    if isinstance(cupy, str):
        return cupy
    try:
        devices = 0 if status()["emulated"] else cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # noqa: BLE001 - no driver, no device: say so
        return f"CuPy sees no CUDA device ({err})"
    return cupy if devices else "CuPy sees no CUDA device here"


def per_plane_pcc_entry(xp: Any, gt: np.ndarray, frames: List[np.ndarray]) -> Entry:
    """cuCIM's ``phase_cross_correlation`` on each Bayer plane, median of 4 (as
    the CPU peer with scikit-image), on `xp`'s device: the frames uploaded in
    the call, the shifts back on the host. Without cuCIM, the same algorithm in
    `xp` (phase_cross_correlation_shift). `xp` numpy runs it on the host."""
    fft = optional_module("scipy.fft" if xp is np else f"{xp.__name__}.fft", "scipy")
    registration = optional_module("cucim.skimage.registration", "cucim")
    where = "" if xp is np else " (CUDA)"
    if isinstance(registration, str) or xp is np:
        name = f"scikit-image's algorithm in {'numpy' if xp is np else 'CuPy'} per plane{where}"

        def plane_shift(g, f):
            return phase_cross_correlation_shift(xp, fft, g, f)
    else:
        name = f"cuCIM phase_cross_correlation per plane{where}"

        def plane_shift(g, f):
            found = registration.phase_cross_correlation(g, f, upsample_factor=1,
                                                         normalization="phase")[0]
            return [float(v) for v in found]

    return Impl(name, "peer", items=len(frames),
                run=lambda: per_plane(xp.asarray(gt), [xp.asarray(f) for f in frames],
                                      plane_shift),
                check=within_pixels(TOLERANCE_PX),
                note="a call per plane, median of 4; frames to the device in the call")


def cupy_entry(gt: np.ndarray, frames: List[np.ndarray]) -> Entry:
    """The per-plane peer on CuPy's device, or why it cannot run here."""
    cupy = cupy_cuda()
    if isinstance(cupy, str):
        return Skipped("cuCIM phase_cross_correlation per plane (CUDA)", "peer", cupy)
    return per_plane_pcc_entry(cupy, gt, frames)


def _synchronized(torch: Any, run):
    def wrapped():
        out = run()
        torch.cuda.synchronize()
        return out

    return wrapped


def _device_arrays(*arrays: np.ndarray) -> Any:
    """(device copies, kind note), or why none can be made."""
    rt = cudart.runtime()
    if not isinstance(rt, str):
        return [cudart.DeviceArray.of(rt, a) for a in arrays], "CUDA runtime buffers"
    torch = torch_cuda()
    if isinstance(torch, str):
        return f"{rt}; {torch}"
    return [torch_from_numpy(torch, a).cuda() for a in arrays], "torch CUDA"


def _copy_limit(name: str, nbytes: int, kind: int, items: int, note: str) -> Entry:
    rt = cudart.runtime()
    if isinstance(rt, str):
        return Skipped(name, "limit", rt)
    return Impl(name, "limit", items=items, run=cudart.copy_limit(rt, nbytes, kind), note=note)


def extract_entries(obj: np.ndarray, offsets: np.ndarray, N: int) -> List[Entry]:
    from .. import extract_patches

    flat = offsets.reshape(-1, 2)
    found: List[Entry] = [Impl(
        "ptychopatch GPU, host arrays", "ours", items=len(flat),
        run=lambda: extract_patches(obj, flat[:, None, :], N, layout="flat", backend="gpu"),
        note="object and offsets to the device, patches back, in the call")]
    device = _device_arrays(obj, flat[:, None, :])
    name = "ptychopatch GPU, device arrays"
    if isinstance(device, str):
        found.append(Skipped(name, "ours", device))
    else:
        (d_obj, d_off), how = device
        out = (cudart.DeviceArray(cudart.runtime(), (len(flat), N, N), np.complex64)
               if how.startswith("CUDA") else None)
        found.append(Impl(
            name, "ours", items=len(flat), note=f"inputs and output on the device ({how})",
            run=lambda: extract_patches(d_obj, d_off, N, layout="flat", out=out),
            check=lambda theirs, ours: close_to(0.0)(cudart.to_host(theirs), ours)))
    torch = torch_cuda()
    side = max(obj.shape) + N
    if isinstance(torch, str):
        found.append(Skipped("torch grid_sample (CUDA)", "peer", torch))
    else:
        found.append(Impl(
            "torch grid_sample (CUDA)", "peer", items=len(flat),
            run=_synchronized(torch, lambda: torch_grid_sample(torch, obj, flat, N, 0, "cuda")),
            check=close_to(position_tolerance(side)),
            note="object and grid to the device, patches back, in the call"))
    found.append(_copy_limit("device-to-device copy of the output bytes", len(flat) * N * N * 8,
                             cudart.D2D, len(flat), "cudaMemcpy: the bandwidth bound"))
    return found


def reassemble_entries(patches: np.ndarray, offsets_xy: np.ndarray, shape) -> List[Entry]:
    from .. import reassemble_patches

    count = len(patches)
    found: List[Entry] = [Impl(
        "ptychopatch GPU, host arrays", "ours", items=count,
        run=lambda: tuple(reassemble_patches(patches, offsets_xy, shape, layout="flat",
                                             backend="gpu")),
        note="patches and offsets to the device, canvas and weights back, in the call")]
    device = _device_arrays(patches, offsets_xy)
    name = "ptychopatch GPU, device arrays"
    if isinstance(device, str):
        found.append(Skipped(name, "ours", device))
    else:
        (d_patches, d_off), how = device
        outputs = {}
        if how.startswith("CUDA"):
            rt = cudart.runtime()
            outputs = {"out": cudart.DeviceArray(rt, shape, np.complex64),
                       "weights_out": cudart.DeviceArray(rt, shape, np.float32)}
        found.append(Impl(
            name, "ours", items=count, note=f"inputs and outputs on the device ({how})",
            run=lambda: tuple(reassemble_patches(d_patches, d_off, shape, layout="flat",
                                                 **outputs)),
            # float32 sums whose order may differ between calls (atomics)
            check=lambda theirs, ours: relative_check(1e-5)(cudart.to_host(theirs), ours)))
    found.append(_copy_limit("device-to-device copy of the patch bytes", patches.nbytes,
                             cudart.D2D, count, "cudaMemcpy: the bandwidth bound"))
    return found


def align_entries(gt: np.ndarray, frames: List[np.ndarray]) -> List[Entry]:
    from .. import align_scene

    found: List[Entry] = [Impl(
        "ptychopatch GPU", "ours", items=len(frames),
        run=lambda: align_scene(gt, frames, cfa="RGGB", upsample_factor=1, backend="gpu",
                                planning="estimate").shifts,
        note="host frames; one call per scene (alignment takes host arrays)")]
    torch = torch_cuda()
    if isinstance(torch, str):
        found.append(Skipped("torch.fft batched (CUDA)", "peer", torch))
    else:
        found.append(Impl(
            "torch.fft batched (CUDA)", "peer", items=len(frames),
            run=_synchronized(torch, lambda: torch_fft_shifts(torch, gt, frames, 0, "cuda")),
            check=within_pixels(TOLERANCE_PX),
            note="every plane of every frame in one batch; frames to the device in the call"))
    found.append(cupy_entry(gt, frames))
    found.append(Skipped("FFTs only (cuFFT)", "limit",
                         "cuFFT is not reachable from Python without a CUDA package; "
                         "the GPU benchmarks of docs/gpu-validation.md time it"))
    raw = gt.nbytes + sum(f.nbytes for f in frames)
    found.append(_copy_limit("host-to-device copy of the raw frames", raw, cudart.H2D,
                             len(frames), "cudaMemcpy from pageable host memory"))
    return found
