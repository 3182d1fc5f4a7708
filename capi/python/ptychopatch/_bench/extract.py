"""Extraction cases: the library's extract_patches and its peers on the
same object and offsets.

Peers:

* the legacy per-patch loop, in numpy: the way PtychoPINN's
  ``get_image_patches`` works, the whole padded object bilinearly
  translated once per patch (so that the patch centre lands on the frame's
  centre) and the centre N x N cropped; its cost per patch grows with the
  object, so it is timed on a subset of the patches and compared per patch;
* PtychoPINN's TensorFlow path, where tensorflow is importable: the same
  loop with TensorFlow's bilinear image transform (the op behind
  ``tfa.image.translate``), real and imaginary parts as two channels;
* PyTorch ``grid_sample`` (bilinear, zeros outside) with one sampling grid
  holding every patch pixel's position, the way a PyTorch user batches it;
* a copy of the output's bytes (numpy ``copyto``, one core): the memory
  bandwidth bound of writing the patches at all.

>>> import numpy as np
>>> obj = np.ones((8, 8), np.complex64)
>>> legacy_loop(obj, np.array([[4.0, 4.0]]), 4).shape
(1, 4, 4)
"""

from __future__ import annotations

from typing import Any, List

import numpy as np

from .registry import (Entry, Impl, Skipped, close_to, numpy_from_torch, optional_module,
                       torch_from_numpy)

#: Pixels the legacy loop may warp in one case (patches x padded object):
#: about a second on one core; its rate per patch does not depend on how
#: many patches it is given.
LEGACY_PIXELS = 2.5e7


def _bilinear_frame(frame: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """The whole frame moved: out[Y, X] = frame(Y + dy, X + dx), bilinear,
    zeros outside (positions in float64, as an image-warp op computes them)."""
    hp, wp = frame.shape
    border = np.pad(frame, 1)  # a zero ring: clipped indices land on zeros
    sy = np.arange(hp) + dy
    sx = np.arange(wp) + dx
    y0, x0 = np.floor(sy), np.floor(sx)
    wy = (sy - y0).astype(np.float32)[:, None]
    wx = (sx - x0).astype(np.float32)[None, :]
    rows = [np.clip(y0 + k + 1, 0, hp + 1).astype(np.intp) for k in (0, 1)]
    cols = [np.clip(x0 + k + 1, 0, wp + 1).astype(np.intp) for k in (0, 1)]
    top = border[rows[0]]
    bottom = border[rows[1]]
    return ((1 - wy) * ((1 - wx) * top[:, cols[0]] + wx * top[:, cols[1]])
            + wy * ((1 - wx) * bottom[:, cols[0]] + wx * bottom[:, cols[1]]))


def legacy_loop(obj: np.ndarray, offsets_xy: np.ndarray, N: int) -> np.ndarray:
    """(P, N, N) patches, one whole-object warp per patch (see the module
    docstring); offsets_xy (P, 2) patch centres [x, y]."""
    h = N // 2
    padded = np.pad(obj, h)
    cy, cx = padded.shape[0] // 2, padded.shape[1] // 2
    out = np.empty((len(offsets_xy), N, N), obj.dtype)
    for p, (ox, oy) in enumerate(np.asarray(offsets_xy, np.float64)):
        # Patch pixel (y, x) samples the padded object at (y + oy, x + ox);
        # the frame moved by (oy - cy, ox - cx) puts it at (cy + y, cx + x).
        warped = _bilinear_frame(padded, oy - cy, ox - cx)
        out[p] = warped[cy:cy + N, cx:cx + N]
    return out


def tensorflow_loop(tf: Any, obj: np.ndarray, offsets_xy: np.ndarray, N: int) -> np.ndarray:
    """legacy_loop with TensorFlow's bilinear projective transform."""
    h = N // 2
    padded = np.pad(obj, h)
    image = tf.constant(np.stack([padded.real, padded.imag], axis=-1)[None], tf.float32)
    cy, cx = padded.shape[0] // 2, padded.shape[1] // 2
    size = tf.constant(padded.shape, tf.int32)
    out = np.empty((len(offsets_xy), N, N), np.complex64)
    for p, (ox, oy) in enumerate(np.asarray(offsets_xy, np.float64)):
        # Output (Y, X) samples the input at (X + a2, Y + b2): a translation.
        transform = tf.constant([[1, 0, ox - cx, 0, 1, oy - cy, 0, 0]], tf.float32)
        warped = tf.raw_ops.ImageProjectiveTransformV3(
            images=image, transforms=transform, output_shape=size, fill_value=0.0,
            interpolation="BILINEAR", fill_mode="CONSTANT")
        crop = warped[0, cy:cy + N, cx:cx + N].numpy()
        out[p] = crop[..., 0] + 1j * crop[..., 1]
    return out


def torch_grid_sample(torch: Any, obj: np.ndarray, offsets_xy: np.ndarray, N: int,
                      threads: int, device: str = "cpu") -> np.ndarray:
    """(P, N, N) complex64 by one ``grid_sample`` call over the object as a
    (1, 2, H, W) real tensor and a (1, P*N, N, 2) grid, on `device` (the
    inputs copied there and the patches back, in the call)."""
    if threads:
        torch.set_num_threads(threads)
    height, width = obj.shape
    image = torch_from_numpy(torch, np.stack([obj.real, obj.imag])[None].astype(np.float32))
    image = image.to(device)
    off = torch_from_numpy(torch, np.asarray(offsets_xy, np.float32)).to(device)
    r = torch.arange(N, dtype=torch.float32, device=device)
    h = N // 2
    # align_corners=False: pixel i sits at grid value (2 i + 1) / W - 1.
    gx = (2 * (r[None, :] + off[:, 0:1] - h) + 1) / width - 1
    gy = (2 * (r[None, :] + off[:, 1:2] - h) + 1) / height - 1
    p = off.shape[0]
    grid = torch.stack((gx[:, None, :].expand(p, N, N), gy[:, :, None].expand(p, N, N)), -1)
    with torch.no_grad():
        sampled = torch.nn.functional.grid_sample(
            image, grid.reshape(1, p * N, N, 2), mode="bilinear", padding_mode="zeros",
            align_corners=False)
    planes = numpy_from_torch(sampled[0])
    return (planes[0] + 1j * planes[1]).astype(np.complex64).reshape(p, N, N)


def position_tolerance(side: int) -> float:
    """How far a peer that rounds sample positions differently may differ:
    a position off by a few float32 ulps of the object side moves a value of
    |O| <= 1 by at most twice as much (the neighbour difference is <= 2)."""
    return 1e-5 + 8 * float(np.spacing(np.float32(side)))


def entries(obj: np.ndarray, offsets: np.ndarray, N: int, threads: int) -> List[Entry]:
    """The library, the peers and the copy limit for one extraction case."""
    from .. import extract_patches

    flat = offsets.reshape(-1, 2)
    side = max(obj.shape) + N
    found: List[Entry] = [Impl(
        "ptychopatch", "ours", items=len(flat), threads=threads,
        run=lambda: extract_patches(obj, flat[:, None, :], N, layout="flat", backend="cpu",
                                    num_threads=threads))]

    subset = flat[:max(1, min(len(flat), int(LEGACY_PIXELS / side ** 2)))]

    def on_subset(check):
        return lambda theirs, ours: check(theirs, ours[:len(subset)])

    found.append(Impl("legacy loop (numpy)", "peer", items=len(subset),
                      run=lambda: legacy_loop(obj, subset, N),
                      check=on_subset(close_to(position_tolerance(side))),
                      note="whole padded object warped per patch; "
                           f"timed on {len(subset)} patches"))
    tf = optional_module("tensorflow", "tensorflow")
    if isinstance(tf, str):
        found.append(Skipped("PtychoPINN TensorFlow loop", "peer", tf))
    else:
        found.append(Impl("PtychoPINN TensorFlow loop", "peer", items=len(subset),
                          run=lambda: tensorflow_loop(tf, obj, subset, N),
                          check=on_subset(close_to(position_tolerance(side))),
                          note=f"ImageProjectiveTransformV3 per patch; timed on "
                               f"{len(subset)} patches"))
    torch = optional_module("torch", "torch")
    if isinstance(torch, str):
        found.append(Skipped("torch grid_sample", "peer", torch))
    else:
        found.append(Impl("torch grid_sample", "peer", items=len(flat), threads=threads,
                          run=lambda: torch_grid_sample(torch, obj, flat, N, threads),
                          check=close_to(position_tolerance(side)),
                          note="one grid of every patch pixel, CPU"))
    source = np.empty((len(flat), N, N), obj.dtype)
    source.fill(1)  # touch the pages so the copy does not time page faults
    target = np.empty_like(source)
    target.fill(0)
    found.append(Impl("copy of the output bytes", "limit", items=len(flat), threads=1,
                      run=lambda: np.copyto(target, source),
                      note="numpy copyto, one core: the bandwidth bound"))
    return found
