#!/usr/bin/env python3
"""Patch extraction with PyTorch's grid_sample against libptychopatch, same GPU.

The job: P patches of 64 x 64 complex64 (P = 20,000 and 200,000) cut from one
1,024 x 1,024 complex64 object with fractional offsets spread over the whole
object (border patches included), as SPEC section 1 defines it: patch pixel
(y, x) with offset (ox, oy) is the bilinear sample of the object at column
x + ox - N//2, row y + oy - N//2, zeros outside.

PyTorch does it the way a PyTorch user would: one ``grid_sample`` call
(bilinear, padding_mode='zeros') over the object as a (1, 2, H, W) real
tensor (real and imaginary parts as two channels) with ONE sampling grid of
(1, P*N, N, 2) holding every patch pixel's position. With
``align_corners=False`` grid_sample reads pixel ((g + 1) * W - 1) / 2 at grid
value g, so the grid holds g = (2 * (x + ox - N//2) + 1) / W - 1. The
offsets are drawn on a 1/1024-pixel lattice; with W = H = 1024 every step of
that formula is then exact in float32, so the grid samples exactly the
positions the library samples, and the two results differ only by float32
rounding of the weighted sum (fused multiply-adds in PyTorch's kernel):
about 1e-7 for |O| <= 1.

libptychopatch runs on the same device arrays, ordered on PyTorch's current
stream: through its C ABI with ctypes (PTP_MEMORY_DEVICE, raw pointers from
``tensor.data_ptr()``, a plan made once, the output allocated once), and,
where the Python package accepts device arrays, through
``ptychopatch.extract_patches`` on the tensors.

Both are checked to agree (max abs difference printed) before anything is
timed. Times are CUDA-event medians after warm-up. Exits 0, saying so, where
PyTorch or a CUDA device is missing.

    PYTHONPATH=capi/python PTYCHOPATCH_LIBRARY=build/libptychopatch.so \\
        python3 benchmarks/grid_sample_torch.py [--sizes 20000,200000]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys

from _torch_bench_common import CAbi, torch_and_library

H = W = 1024
N = 64
TOLERANCE = 1e-5  # the comparison must land near 1e-7; this is the failure line


# ------------------------------------------------------------ the C ABI

class _ExtractDesc(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint64), ("height", ctypes.c_int64),
                ("width", ctypes.c_int64), ("patch_size", ctypes.c_int64),
                ("group_size", ctypes.c_int64), ("object_dtype", ctypes.c_int32),
                ("offset_dtype", ctypes.c_int32), ("layout", ctypes.c_int32),
                ("memory", ctypes.c_int32)]


PTP_DTYPE_FLOAT64 = 2
PTP_DTYPE_COMPLEX64 = 3
PTP_LAYOUT_FLAT = 1
PTP_MEMORY_DEVICE = 1


def extract_protos() -> dict:
    """The extraction functions this benchmark calls, for CAbi."""
    p = ctypes.POINTER
    void_p, i64, size_t = ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t
    return {
        "ptp_context_set_stream": [void_p, void_p],
        "ptp_extract_desc_init": [p(_ExtractDesc), size_t],
        "ptp_extract_output_bytes": [p(_ExtractDesc), i64, p(size_t)],
        "ptp_extract_plan_create": [void_p, p(_ExtractDesc), p(void_p)],
        "ptp_extract_plan_destroy": [void_p],
        "ptp_extract_execute": [void_p, void_p, void_p, i64, void_p, size_t],
    }


class DevicePlan:
    """A GPU context on `stream` and a flat-layout device-array plan."""

    def __init__(self, abi: CAbi, stream_handle: int):
        self.abi = abi
        self.ctx = abi.gpu_context()
        abi.call("ptp_context_set_stream", self.ctx, ctypes.c_void_p(stream_handle or None))
        self.desc = desc = _ExtractDesc()
        abi.call("ptp_extract_desc_init", ctypes.byref(desc), ctypes.sizeof(desc))
        desc.height, desc.width, desc.patch_size, desc.group_size = H, W, N, 1
        desc.object_dtype = PTP_DTYPE_COMPLEX64
        desc.offset_dtype = PTP_DTYPE_FLOAT64
        desc.layout = PTP_LAYOUT_FLAT
        desc.memory = PTP_MEMORY_DEVICE
        self.plan = ctypes.c_void_p()
        abi.call("ptp_extract_plan_create", self.ctx, ctypes.byref(desc), ctypes.byref(self.plan))

    def output_bytes(self, patches: int) -> int:
        nbytes = ctypes.c_size_t()
        self.abi.call("ptp_extract_output_bytes", ctypes.byref(self.desc), patches,
                      ctypes.byref(nbytes))
        return nbytes.value

    def execute(self, obj, offsets, out) -> None:
        patches = offsets.shape[0]
        self.abi.call("ptp_extract_execute", self.plan, ctypes.c_void_p(obj.data_ptr()),
                      ctypes.c_void_p(offsets.data_ptr()), patches,
                      ctypes.c_void_p(out.data_ptr()), out.numel() * out.element_size())

    def close(self) -> None:
        self.abi.call("ptp_extract_plan_destroy", self.plan)
        self.abi.call("ptp_context_destroy", self.ctx)


# --------------------------------------------------------------- PyTorch

def make_inputs(torch, patches: int, device, seed: int):
    """A complex64 object with |O| <= 1 and float64 offsets (P, 2) as (x, y)
    on a 1/1024-pixel lattice over [0, W) x [0, H)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    radius = torch.rand((H, W), generator=gen, device=device)
    phase = torch.rand((H, W), generator=gen, device=device) * (2 * torch.pi)
    obj = torch.polar(radius, phase).to(torch.complex64).contiguous()
    lattice = torch.randint(0, W * 1024, (patches, 2), generator=gen, device=device)
    offsets = (lattice.to(torch.float64) / 1024.0).contiguous()
    return obj, offsets


def planar(torch, obj):
    """(H, W) complex64 -> (1, 2, H, W) float32: real and imaginary channels."""
    return torch.view_as_real(obj).permute(2, 0, 1).unsqueeze(0).contiguous()


def build_grid(torch, offsets):
    """(1, P*N, N, 2) float32 grid; row p*N + y, column x samples patch p's
    pixel (y, x). Every operation is exact in float32 for lattice offsets."""
    off = offsets.to(torch.float32)
    r = torch.arange(N, device=offsets.device, dtype=torch.float32)
    h = N // 2
    gx = (2 * (r[None, :] + off[:, 0:1] - h) + 1) / W - 1  # (P, N) over x
    gy = (2 * (r[None, :] + off[:, 1:2] - h) + 1) / H - 1  # (P, N) over y
    p = off.shape[0]
    grid = torch.stack((gx[:, None, :].expand(p, N, N), gy[:, :, None].expand(p, N, N)), dim=-1)
    return grid.reshape(1, p * N, N, 2)


def torch_sample(torch, obj_planar, grid):
    return torch.nn.functional.grid_sample(obj_planar, grid, mode="bilinear",
                                           padding_mode="zeros", align_corners=False)


def to_complex(torch, sampled, patches: int):
    """(1, 2, P*N, N) float32 -> (P, N, N) complex64."""
    inter = sampled[0].permute(1, 2, 0).contiguous()
    return torch.view_as_complex(inter).view(patches, N, N)


def max_abs_diff(torch, a, b) -> float:
    diff = (torch.view_as_real(a) - torch.view_as_real(b)).abs()
    if torch.isnan(diff).any():
        return float("nan")
    return float(diff.max())


def time_ms(torch, fn, warmup: int, reps: int) -> float:
    """Median of `reps` CUDA-event timings of fn() on the current stream."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def binding_extract():
    """ptychopatch.extract_patches if it takes device arrays, else None and why."""
    try:
        import ptychopatch  # noqa: PLC0415

        return ptychopatch.extract_patches, ""
    except Exception as exc:  # noqa: BLE001 - report why and go on without it
        return None, f"ptychopatch package not importable: {exc}"


def run_size(torch, abi, patches: int, warmup: int, reps: int, rows: list) -> bool:
    device = torch.device("cuda")
    obj, offsets = make_inputs(torch, patches, device, seed=patches)
    obj_planar = planar(torch, obj)
    stream_handle = torch.cuda.current_stream().cuda_stream
    plan = DevicePlan(abi, stream_handle)
    try:
        out_bytes = plan.output_bytes(patches)
        lib_out = torch.empty((patches, N, N), dtype=torch.complex64, device=device)
        assert lib_out.numel() * lib_out.element_size() == out_bytes

        # ---- correctness first
        torch.view_as_real(lib_out).fill_(float("nan"))  # poison: unwritten pixels fail
        plan.execute(obj, offsets, lib_out)
        grid = build_grid(torch, offsets)
        ref = to_complex(torch, torch_sample(torch, obj_planar, grid), patches)
        torch.cuda.synchronize()
        diff = max_abs_diff(torch, lib_out, ref)
        print(f"P={patches}: max |libptychopatch - grid_sample| = {diff:.3e} "
              f"(per real/imaginary part; |O| <= 1)", flush=True)
        ok = diff <= TOLERANCE  # NaN compares False
        if not ok:
            print(f"P={patches}: DISAGREE (tolerance {TOLERANCE:g}); not timed", flush=True)
            return False
        del ref

        extract, why = binding_extract()
        binding_ok = False
        if extract is not None:
            try:
                got = extract(obj, offsets, N, layout="flat")
                if isinstance(got, torch.Tensor) and got.is_cuda:
                    torch.cuda.synchronize()
                    binding_ok = bool(torch.equal(got, lib_out))
                    why = "" if binding_ok else "differs from the C ABI's result"
                else:
                    why = f"returned {type(got).__name__}, not a CUDA tensor"
                del got
            except Exception as exc:  # noqa: BLE001 - an older binding: host arrays only
                why = f"{type(exc).__name__}: {exc}"
        if not binding_ok:
            print(f"P={patches}: Python binding on device tensors not used ({why})", flush=True)
            if why == "differs from the C ABI's result":
                return False

        # ---- timing
        def lib_call():
            plan.execute(obj, offsets, lib_out)

        def torch_prebuilt():
            torch_sample(torch, obj_planar, grid)

        def torch_full():
            to_complex(torch, torch_sample(torch, obj_planar, build_grid(torch, offsets)), patches)

        t_lib = time_ms(torch, lib_call, warmup, reps)
        entries = [("libptychopatch, C ABI, device pointers", t_lib)]
        if binding_ok:
            entries.append(("libptychopatch, Python binding (allocates)",
                            time_ms(torch, lambda: extract(obj, offsets, N, layout="flat"),
                                    warmup, reps)))
        entries.append(("torch grid_sample, grid prebuilt, planar out",
                        time_ms(torch, torch_prebuilt, warmup, reps)))
        entries.append(("torch grid build + grid_sample + to complex64",
                        time_ms(torch, torch_full, warmup, reps)))
        for name, ms in entries:
            rows.append((patches, name, ms, patches / (ms * 1e-3), out_bytes / (ms * 1e-3) / 1e9,
                         ms / t_lib))
        return True
    finally:
        plan.close()
        obj = offsets = obj_planar = None  # the timing closures hold them; freed here
        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000",
                        help="comma-separated patch counts (default 20000,200000)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, default=0,
                        help="timed repetitions (default 20, 10 for >= 100,000 patches)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    torch, abi = torch_and_library("grid_sample_torch", extract_protos())
    print(f"job: P patches of {N}x{N} complex64 from a {H}x{W} complex64 object, flat "
          f"(P, N, N) output, offsets float64 on a 1/1024-pixel lattice", flush=True)

    rows: list = []
    ok = True
    with torch.no_grad():
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            for patches in sizes:
                reps = args.reps or (10 if patches >= 100_000 else 20)
                try:
                    ok = run_size(torch, abi, patches, args.warmup, reps, rows) and ok
                except Exception as exc:  # noqa: BLE001 - report, go on to the next size
                    print(f"P={patches}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                    ok = False

    print("\n(CUDA-event medians; GB/s counts the complex64 output once; "
          "x library = time / libptychopatch C ABI time)")
    print(f"{'patches':>8}  {'method':<48} {'ms':>9} {'patches/s':>13} {'GB/s':>8} "
          f"{'x library':>9}")
    for patches, name, ms, rate, gbs, ratio in rows:
        print(f"{patches:>8}  {name:<48} {ms:>9.3f} {rate:>13.0f} {gbs:>8.1f} {ratio:>9.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
