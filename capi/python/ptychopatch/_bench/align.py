"""Alignment cases: the library's align_scene (one call per scene) against
per-plane peers on the same mosaics, all estimating whole-pixel shifts.

Every implementation returns the (M, 2) shifts in sensor pixels that
register each moving frame on the GT frame (``np.roll(frame, shift) ~
gt``); a peer agrees when its shifts are within one plane pixel of the
library's on every frame (two sensor pixels): they are
different estimators of one true shift, and the per-plane ones resolve it
in plane pixels.

Peers: scikit-image ``phase_cross_correlation`` on each of the four Bayer
planes (median of the plane shifts, as a RawNIND-style script does it);
OpenCV ``phaseCorrelate`` likewise; RawNIND's method (rawnind.py, a
reimplementation from its documented semantics); ``torch.fft``, all planes
of all frames in one batch. Limit: the FFTs alone (scipy.fft: a forward
transform of the frame's four planes and one inverse per frame, the
least any FFT phase correlation does), the algorithmic floor.

>>> import numpy as np
>>> len(planes(np.zeros((4, 6), np.float32))), planes(np.zeros((4, 6)))[0].shape
(4, (2, 3))
"""

from __future__ import annotations

from typing import Any, Callable, List, Sequence

import numpy as np

from .registry import Entry, Impl, Skipped, numpy_from_torch, optional_module, torch_from_numpy

TOLERANCE_PX = 2.0
PHASES = [(0, 0), (0, 1), (1, 0), (1, 1)]


def planes(frame: np.ndarray) -> List[np.ndarray]:
    """The four Bayer phase planes (views)."""
    return [frame[r::2, c::2] for r, c in PHASES]


def per_plane(gt: np.ndarray, frames: Sequence[np.ndarray],
              plane_shift: Callable[[np.ndarray, np.ndarray], Any]) -> np.ndarray:
    """(M, 2): for each frame, the median over planes of 2 x plane_shift(gt
    plane, frame plane), the plane shift in plane pixels as (dy, dx)."""
    reference = planes(gt)
    out = np.empty((len(frames), 2))
    for m, frame in enumerate(frames):
        found = [np.asarray(plane_shift(g, f), np.float64) * 2
                 for g, f in zip(reference, planes(frame))]
        out[m] = np.median(found, axis=0)
    return out


def within_pixels(tolerance: float):
    def check(theirs, ours):
        diff = float(np.max(np.abs(np.asarray(theirs) - np.asarray(ours))))
        return {"ok": diff <= tolerance, "max_abs_diff_px": diff, "tolerance": tolerance}

    return check


def skimage_entry(gt, frames, threads: int) -> Entry:
    registration = optional_module("skimage.registration", "scikit-image")
    if isinstance(registration, str):
        return Skipped("scikit-image per plane", "peer", registration)
    import scipy.fft

    def run():
        with scipy.fft.set_workers(threads or -1):
            return per_plane(gt, frames, lambda g, f: registration.phase_cross_correlation(
                g, f, upsample_factor=1, normalization="phase")[0])

    return Impl("scikit-image per plane", "peer", items=len(frames), run=run,
                check=within_pixels(TOLERANCE_PX), threads=threads,
                note="phase_cross_correlation on each plane, median of 4")


def opencv_entry(gt, frames, threads: int) -> Entry:
    cv2 = optional_module("cv2", "opencv-python-headless")
    if isinstance(cv2, str):
        return Skipped("OpenCV phaseCorrelate per plane", "peer", cv2)

    def plane_shift(g, f):
        # phaseCorrelate(a, b) is the shift that moves a onto b, (x, y).
        (dx, dy), _ = cv2.phaseCorrelate(np.ascontiguousarray(f), np.ascontiguousarray(g))
        return dy, dx

    def run():
        cv2.setNumThreads(threads or -1)
        return per_plane(gt, frames, plane_shift)

    return Impl("OpenCV phaseCorrelate per plane", "peer", items=len(frames), run=run,
                check=within_pixels(TOLERANCE_PX), threads=threads,
                note="on each plane, median of 4")


def rawnind_entry(gt, frames) -> Entry:
    rawnind = optional_module("ptychopatch._bench.rawnind", "scipy")
    if isinstance(rawnind, str):
        return Skipped("RawNIND method (reimplemented)", "peer", rawnind)
    return Impl("RawNIND method (reimplemented)", "peer", items=len(frames), threads=1,
                run=lambda: np.array([rawnind.rawnind_align(gt, f, "bayer")[0]
                                      for f in frames], np.float64),
                check=within_pixels(TOLERANCE_PX),
                note="zero-padded linear correlation per plane, median, scipy.fft")


def phase_cross_correlation_shift(xp: Any, fft: Any, reference: Any, moving: Any) -> List[float]:
    """scikit-image's ``phase_cross_correlation`` at ``upsample_factor=1``
    with phase normalisation, for 2-D arrays of any array module `xp` with
    its FFT module `fft` (numpy and scipy.fft, or CuPy and cupy.fft: the
    algorithm cuCIM runs on the device): the whole-pixel (dy, dx) that
    registers `moving` on `reference`.

    >>> import scipy.fft
    >>> ref = np.random.default_rng(0).random((16, 12))
    >>> phase_cross_correlation_shift(np, scipy.fft, ref, np.roll(ref, (3, -2), (0, 1)))
    [-3.0, 2.0]
    """
    product = fft.fftn(reference) * fft.fftn(moving).conj()
    product /= xp.maximum(xp.abs(product), 100 * xp.finfo(product.real.dtype).eps)
    magnitude = xp.abs(fft.ifftn(product))
    peak = divmod(int(xp.argmax(magnitude)), magnitude.shape[1])
    # Past the middle of an axis a peak is a negative shift.
    return [float(p - n) if p > n // 2 else float(p) for p, n in zip(peak, magnitude.shape)]


def torch_fft_shifts(torch: Any, gt: np.ndarray, frames: Sequence[np.ndarray],
                     threads: int, device: str = "cpu") -> np.ndarray:
    """All planes of all frames in one batched phase correlation on `device`."""
    if threads:
        torch.set_num_threads(threads)
    ref = torch_from_numpy(torch, np.stack(planes(gt)).astype(np.float32)).to(device)  # (4, h, w)
    mov = torch_from_numpy(torch, np.stack([np.stack(planes(f)) for f in frames])).to(device)
    # Standardised planes: raw, from 16 MP the bins' products overflow |x| in float32 (NaN peaks).
    ref = (ref - ref.mean(dim=(-2, -1), keepdim=True)) / ref.std(dim=(-2, -1), keepdim=True)
    mov = (mov - mov.mean(dim=(-2, -1), keepdim=True)) / mov.std(dim=(-2, -1), keepdim=True)
    cross = torch.fft.rfft2(ref)[None] * torch.conj(torch.fft.rfft2(mov))
    cross /= cross.abs().clamp_min(1e-12)
    corr = torch.fft.irfft2(cross, s=ref.shape[-2:])
    h, w = ref.shape[-2:]
    peak = numpy_from_torch(corr.flatten(-2).argmax(-1))                        # (M, 4)
    dy, dx = peak // w, peak % w
    dy = np.where(dy > h // 2, dy - h, dy)
    dx = np.where(dx > w // 2, dx - w, dx)
    return np.stack([np.median(dy * 2.0, axis=1), np.median(dx * 2.0, axis=1)], axis=1)


def fft_floor(gt_planes_shape, frames: Sequence[np.ndarray], threads: int):
    """The FFTs any FFT phase correlation of these frames does at least."""
    import scipy.fft

    def run():
        with scipy.fft.set_workers(threads or -1):
            for frame in frames:
                spectra = scipy.fft.rfft2(np.stack(planes(frame)))
                scipy.fft.irfft2(spectra[0], s=gt_planes_shape)

    return run


def entries(gt: np.ndarray, frames: List[np.ndarray], threads: int) -> List[Entry]:
    """The library, its peers and the FFT floor for one scene."""
    from .. import align_scene

    found: List[Entry] = [Impl(
        "ptychopatch", "ours", items=len(frames), threads=threads,
        run=lambda: align_scene(gt, frames, cfa="RGGB", upsample_factor=1, backend="cpu",
                                num_threads=threads, planning="estimate").shifts)]
    # The coarse stage alone (verify=False), with its three tracking passes; the
    # default's own coarse stage takes one (the polish sets the shift) and adds
    # a quick least-squares polish of every frame (at most 256 x 256 pixels: a
    # fixed cost that weighs most on small frames) and, for the frames it
    # doubts, the thorough polish and the search.
    found.append(Impl(
        "ptychopatch coarse stage (verify=False)", "limit", items=len(frames), threads=threads,
        run=lambda: align_scene(gt, frames, cfa="RGGB", upsample_factor=1, backend="cpu",
                                num_threads=threads, planning="estimate", verify=False).shifts,
        note="the coarse stage alone, up to three tracking passes; the default's coarse stage "
             "takes one and adds a quick least-squares polish of each frame (at most 256 x 256 "
             "pixels, a fixed cost that weighs most on small frames) and more work only on the "
             "frames it doubts"))
    found += [skimage_entry(gt, frames, threads), opencv_entry(gt, frames, threads),
              rawnind_entry(gt, frames)]
    torch = optional_module("torch", "torch")
    if isinstance(torch, str):
        found.append(Skipped("torch.fft batched", "peer", torch))
    else:
        found.append(Impl("torch.fft batched", "peer", items=len(frames), threads=threads,
                          run=lambda: torch_fft_shifts(torch, gt, frames, threads),
                          check=within_pixels(TOLERANCE_PX),
                          note="every plane of every frame in one batch, CPU"))
    scipy_fft = optional_module("scipy.fft", "scipy")
    if isinstance(scipy_fft, str):
        found.append(Skipped("FFTs only (scipy.fft)", "limit", scipy_fft))
    else:
        found.append(Impl("FFTs only (scipy.fft)", "limit", items=len(frames), threads=threads,
                          run=fft_floor(planes(gt)[0].shape, frames, threads),
                          note="forward FFT of 4 planes + 1 inverse per frame"))
    return found
