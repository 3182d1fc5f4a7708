"""Training-step cases: forward and backward through patch extraction.

The step: patches of one complex64 object at fractional offsets, a real loss
<w, P>, and its backward pass, giving the gradients with respect to the
object and to the offsets (what a position-correcting reconstruction
needs). Ours: ``ptychopatch.torch.extract_patches``. The peer, as a PyTorch
user writes it: ``grid_sample`` (bilinear, zeros outside,
``align_corners=False``) on the object as a (1, 2, H, W) real tensor with a
grid built from the offsets inside the step, so autograd reaches them. On a
1/1024-pixel lattice of offsets both sample the same positions, so the
patches and both gradients are compared before the peer is timed. Both run
on the CPU with PyTorch's threads set to the case's.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from .registry import Entry, Impl, Skipped, numpy_from_torch, optional_module, torch_from_numpy


def grid_sample_patches(torch: Any, obj: Any, offsets: Any, N: int) -> Any:
    """(P, N, N) complex64 patches by one grid_sample call, differentiable in
    the object and the (P, 2) offsets."""
    height, width = obj.shape
    planar = torch.view_as_real(obj).permute(2, 0, 1).unsqueeze(0)  # (1, 2, H, W)
    off = offsets.to(torch.float32)
    r = torch.arange(N, device=obj.device, dtype=torch.float32)
    gx = (2 * (r[None, :] + off[:, 0:1] - N // 2) + 1) / width - 1  # (P, N)
    gy = (2 * (r[None, :] + off[:, 1:2] - N // 2) + 1) / height - 1
    count = offsets.shape[0]
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)
    sampled = torch.nn.functional.grid_sample(planar, grid.reshape(1, count * N, N, 2),
                                              mode="bilinear", padding_mode="zeros",
                                              align_corners=False)  # (1, 2, P*N, N)
    return torch.complex(sampled[0, 0], sampled[0, 1]).reshape(count, N, N)


def step(torch: Any, cut: Any, obj: Any, offsets: Any, weights: Any) -> Tuple[Any, Any, Any]:
    """One forward and backward pass: (patches, object gradient, offsets gradient)."""
    o = obj.detach().clone().requires_grad_(True)
    off = offsets.detach().clone().requires_grad_(True)
    patches = cut(o, off)
    (patches * weights.conj()).real.sum().backward()
    return patches.detach(), o.grad, off.grad


def agreement(ours: Tuple[Any, ...], theirs: Tuple[Any, ...]) -> List[float]:
    """Each result's largest difference over its largest magnitude."""
    out = []
    for a, b in zip(ours, theirs):
        a, b = numpy_from_torch(a), numpy_from_torch(b)
        out.append(float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30)))
    return out


#: Largest relative differences accepted: float32 rounding of the sums
#: (PyTorch's kernels fuse multiply-adds) in patches, object and offsets gradients.
TOLERANCES = (1e-5, 1e-4, 1e-3)


def _check(theirs: Any, ours: Any) -> Dict[str, Any]:
    found = agreement(ours, theirs)
    return {"ok": all(f <= t for f, t in zip(found, TOLERANCES)), "relative_diffs": found,
            "tolerances": list(TOLERANCES)}


def entries(obj: np.ndarray, offsets: np.ndarray, weights: np.ndarray, N: int,
            threads: int) -> List[Entry]:
    """ptychopatch.torch's step and grid_sample's on the same inputs."""
    torch = optional_module("torch", "torch")
    if isinstance(torch, str):
        return [Skipped("ptychopatch.torch", "ours", torch),
                Skipped("torch grid_sample autograd", "peer", torch)]
    import ptychopatch.torch as ptt

    if threads:
        torch.set_num_threads(threads)
    o, off, w = (torch_from_numpy(torch, a) for a in (obj, offsets, weights))
    return [
        Impl("ptychopatch.torch", "ours", items=len(offsets), threads=threads,
             run=lambda: step(torch, lambda a, b: ptt.extract_patches(a, b, N, layout="flat"),
                              o, off, w)),
        Impl("torch grid_sample autograd", "peer", items=len(offsets), threads=threads,
             run=lambda: step(torch, lambda a, b: grid_sample_patches(torch, a, b, N), o, off, w),
             check=_check, note="one grid of every patch pixel, built from the offsets in "
                                "the step; CPU"),
    ]


def lattice_offsets(rng: np.random.Generator, count: int, side: int, N: int) -> np.ndarray:
    """(count, 2) float64 offsets on a 1/1024-pixel lattice, patches inside the object."""
    return rng.integers(N // 2 * 1024, (side - N // 2) * 1024, (count, 2)) / 1024.0
