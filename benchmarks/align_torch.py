#!/usr/bin/env python3
"""Bayer scene alignment with torch.fft against libptychopatch, same GPU.

The job (SPEC section 3, integer shifts): one reference and M moving Bayer
uint16 frames (default 24 MP, 4000 x 6000, M = 8; ``--scene 60`` for
6336 x 9504 with M = 15), in host memory as a raw decoder produces them.
For each of the 4 colour planes of each frame: subtract the plane mean,
FFT, cross-power spectrum with the reference plane's spectrum normalised
by its modulus (guarded like scikit-image: max(|X|, 100 float32 eps)),
inverse FFT, arg-max of |correlation|, wrap to signed shifts; the frame's
shift is the median of its planes' shifts times 2.

PyTorch does it the way a PyTorch user would, batched over every plane of
every frame: ``rfft2`` of the (M, 4, H/2, W/2) float32 planes, the
cross-power in one expression, ``irfft2``, ``argmax`` over each plane. Two
timings: from the host frames (upload included: ``torch.from_numpy(...)
.cuda()`` of the uint16 frames, as the library also starts from host
memory), and from frames already on the device (compute only, a lower
bound no host-array API can reach).

libptychopatch runs through its C ABI with ctypes on the same numpy frames
(``ptp_align_set_reference`` + ``ptp_align_execute``, a GPU context, a plan
made once). The two must agree on every frame's integer shift before
anything is timed. Times are medians of wall-clock runs after warm-up.
Exits 0, saying so, where PyTorch or a CUDA device is missing.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/align_torch.py [--scene 24|60] [--reps 5]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time

from _torch_bench_common import CAbi, torch_and_library

SCENES = {24: (4000, 6000, 8), 60: (6336, 9504, 15)}


# ------------------------------------------------------------ the C ABI

class _AlignDesc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint64), ("height", ctypes.c_int64),
                ("width", ctypes.c_int64), ("channels", ctypes.c_int64),
                ("frame_dtype", ctypes.c_int32), ("cfa", ctypes.c_int32),
                ("pattern", ctypes.c_int32 * 36), ("upsample_factor", ctypes.c_int32),
                ("normalization", ctypes.c_int32), ("window", ctypes.c_int32),
                ("combine", ctypes.c_int32), ("snap", ctypes.c_int32),
                ("reserved0", ctypes.c_int32)]


PTP_DTYPE_UINT16 = 4
PTP_CFA_BAYER = 1


def align_protos() -> dict:
    """The alignment functions this benchmark calls, for CAbi."""
    p = ctypes.POINTER
    void_p, i64, size_t = ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t
    dbl_p = p(ctypes.c_double)
    return {
        "ptp_align_desc_init": [p(_AlignDesc), size_t],
        "ptp_align_plan_create": [void_p, p(_AlignDesc), p(void_p)],
        "ptp_align_plan_destroy": [void_p],
        "ptp_align_set_reference": [void_p, void_p],
        "ptp_align_execute": [void_p, p(void_p), i64, dbl_p, dbl_p, dbl_p],
    }


class AlignPlan:
    """A GPU context and a Bayer RGGB uint16 plan of integer shifts."""

    def __init__(self, abi: CAbi, height: int, width: int):
        self.abi = abi
        self.ctx = abi.gpu_context()
        desc = _AlignDesc()
        abi.call("ptp_align_desc_init", ctypes.byref(desc), ctypes.sizeof(desc))
        desc.height, desc.width = height, width
        desc.frame_dtype = PTP_DTYPE_UINT16
        desc.cfa = PTP_CFA_BAYER  # RGGB by default
        desc.upsample_factor = 1
        self.plan = ctypes.c_void_p()
        abi.call("ptp_align_plan_create", self.ctx, ctypes.byref(desc), ctypes.byref(self.plan))

    def align(self, reference, frames):
        """Shifts (M, 2) float64 of C-contiguous uint16 numpy frames."""
        import numpy as np  # noqa: PLC0415

        self.abi.call("ptp_align_set_reference", self.plan,
                      ctypes.c_void_p(reference.ctypes.data))
        pointers = (ctypes.c_void_p * len(frames))(*[f.ctypes.data for f in frames])
        shifts = np.empty((len(frames), 2), np.float64)
        self.abi.call("ptp_align_execute", self.plan, pointers, len(frames),
                      shifts.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), None, None)
        return shifts

    def close(self) -> None:
        self.abi.call("ptp_align_plan_destroy", self.plan)
        self.abi.call("ptp_context_destroy", self.ctx)


# ---------------------------------------------------------------- the data

def make_scene(np, height: int, width: int, count: int, seed: int = 7):
    """A textured scene (white noise, 3-tap box blur per axis) and frames:
    the scene translated circularly by even (whole Bayer block) amounts,
    with fresh sensor noise, uint16. Returns reference, frames, truths."""
    rng = np.random.default_rng(seed)
    field = rng.standard_normal((height, width), dtype=np.float32)
    field = (np.roll(field, 1, 1) + field + np.roll(field, -1, 1)) / 3
    field = (np.roll(field, 1, 0) + field + np.roll(field, -1, 0)) / 3

    def frame(ty, tx):
        moved = np.roll(field, (ty, tx), axis=(0, 1))
        counts = 4000.0 + 6000.0 * moved + rng.normal(0.0, 15.0, moved.shape).astype(np.float32)
        return np.clip(counts, 0, 65535).astype(np.uint16)

    truths = [(2 * (f % 5) - 4, 6 - 2 * (f % 7)) for f in range(count)]
    return frame(0, 0), [frame(ty, tx) for ty, tx in truths], truths


# --------------------------------------------------------------- PyTorch

def planes_of(torch, frames_u16):
    """(M, H, W) uint16 on the device -> (M, 4, H/2, W/2) mean-free float32."""
    m, h, w = frames_u16.shape
    x = frames_u16.to(torch.float32)
    x = x[:, : h - h % 2, : w - w % 2]
    planes = torch.stack([x[:, r::2, c::2] for r in range(2) for c in range(2)], dim=1)
    return planes - planes.mean(dim=(-2, -1), keepdim=True)


def torch_shifts(torch, ref_spectrum, frames_u16):
    """Per-frame median shifts (M, 2) in sensor pixels, as a float64 tensor."""
    planes = planes_of(torch, frames_u16)
    spectra = torch.fft.rfft2(planes)
    x = ref_spectrum.unsqueeze(0) * spectra.conj()
    x = x / torch.clamp(x.abs(), min=100 * torch.finfo(torch.float32).eps)
    corr = torch.fft.irfft2(x, s=planes.shape[-2:])
    ny, nx = planes.shape[-2:]
    index = corr.abs().flatten(-2).argmax(dim=-1)  # (M, 4)
    rows = index // nx
    cols = index % nx
    rows = torch.where(rows > ny // 2, rows - ny, rows)
    cols = torch.where(cols > nx // 2, cols - nx, cols)
    plane_shifts = torch.stack((rows, cols), dim=-1).to(torch.float64) * 2  # (M, 4, 2)
    # Median of 4: the mean of the two middle values (as the library).
    ordered = plane_shifts.sort(dim=1).values
    return (ordered[:, 1] + ordered[:, 2]) / 2


def time_s(torch, fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=int, choices=sorted(SCENES), default=24,
                        help="24 (4000 x 6000, 8 frames) or 60 (6336 x 9504, 15 frames)")
    parser.add_argument("--frames", type=int, default=0, help="moving frames (default: scene's)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    torch, abi = torch_and_library("align_torch", align_protos())
    import numpy as np  # noqa: PLC0415 - PyTorch needs it anyway

    height, width, count = SCENES[args.scene]
    count = args.frames or count
    print(f"job: Bayer uint16 {height} x {width} ({height * width / 1e6:.0f} MP), 1 reference + "
          f"{count} moving frames in host memory; integer shifts, phase normalisation",
          flush=True)
    reference, frames, truths = make_scene(np, height, width, count)
    expected = np.array([(-ty, -tx) for ty, tx in truths], np.float64)

    plan = AlignPlan(abi, height, width)
    ok = True
    try:
        with torch.no_grad():
            device = torch.device("cuda")
            ref_dev = torch.from_numpy(reference).to(device).unsqueeze(0)
            ref_spectrum = torch.fft.rfft2(planes_of(torch, ref_dev))[0]
            stacked = np.stack(frames)

            def torch_from_host():
                ref_spec = torch.fft.rfft2(
                    planes_of(torch, torch.from_numpy(reference).to(device).unsqueeze(0)))[0]
                return torch_shifts(torch, ref_spec, torch.from_numpy(stacked).to(device))

            frames_dev = torch.from_numpy(stacked).to(device)

            def torch_on_device():
                return torch_shifts(torch, ref_spectrum, frames_dev)

            def library():
                return plan.align(reference, frames)

            # ---- correctness first
            ours = library()
            theirs = torch_from_host().cpu().numpy()
            print(f"library shifts == known translations: {np.array_equal(ours, expected)}; "
                  f"torch shifts == known translations: {np.array_equal(theirs, expected)}",
                  flush=True)
            if not np.array_equal(ours, theirs):
                print("DISAGREE: library", ours.tolist(), "torch", theirs.tolist(), flush=True)
                return 1

            # ---- timing
            raw_bytes = reference.nbytes + stacked.nbytes
            host_pinned = torch.from_numpy(stacked).pin_memory()
            t_copy = time_s(torch, lambda: host_pinned.to(device, non_blocking=True),
                            args.warmup, args.reps)
            rows = [("libptychopatch, C ABI, host frames (set_reference + execute)",
                     time_s(torch, library, args.warmup, args.reps)),
                    ("torch.fft batched, host frames (upload included)",
                     time_s(torch, torch_from_host, args.warmup, args.reps)),
                    ("torch.fft batched, frames already on the device",
                     time_s(torch, torch_on_device, args.warmup, args.reps)),
                    ("H2D copy of the moving frames' raw bytes (pinned)", t_copy)]
            t_lib = rows[0][1]
            print(f"\n(wall-clock medians of {args.reps}; scene raw bytes "
                  f"{raw_bytes / 1e6:.0f} MB; x library = time / library time)")
            print(f"{'method':<64} {'ms':>9} {'frames/s':>9} {'x library':>9}")
            for name, seconds in rows:
                print(f"{name:<64} {seconds * 1e3:>9.1f} {count / seconds:>9.2f} "
                      f"{seconds / t_lib:>9.2f}")
    except Exception as exc:  # noqa: BLE001 - report and fail
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
        ok = False
    finally:
        plan.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
