"""An independent numpy reading of SPEC section 1, used as the test oracle.

Deliberately shares nothing with the library: it materialises the padded
object, gathers the four corners with fancy indexing, and does every float
operation as a separate numpy float32 ufunc in the spec's term order, so
the result should match the library bit for bit.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _lanes(obj: np.ndarray) -> np.ndarray:
    """(H, W, lanes) float32: real and imaginary parts are interpolated apart."""
    if np.iscomplexobj(obj):
        c = np.ascontiguousarray(obj, dtype=np.complex64)
        return c.view(np.float32).reshape(c.shape[0], c.shape[1], 2)
    return np.asarray(obj, dtype=np.float32)[:, :, None]


def extract_flat(obj: np.ndarray, offsets_xy: np.ndarray, n: int) -> np.ndarray:
    """Patches (P, N, N) for float32 offsets (P, 2) = [x, y] per patch."""
    lanes = _lanes(obj)
    h = n // 2
    padded = np.pad(lanes, ((h, h), (h, h), (0, 0)))
    hp, wp = padded.shape[:2]
    off = np.asarray(offsets_xy, dtype=np.float32).reshape(-1, 2)
    pos = np.arange(n, dtype=np.float32)
    # fl32(x + ox) in the padded frame; broadcast to (P, 1, N) and (P, N, 1).
    sx = pos[None, None, :] + off[:, 0, None, None]
    sy = pos[None, :, None] + off[:, 1, None, None]
    assert sx.dtype == np.float32 and sy.dtype == np.float32
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    wx = sx - x0
    wy = sy - y0
    one = F32(1)

    def corner(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        # Bounds in float64 so that huge coordinates never become integers.
        yi, xi = np.broadcast_arrays(yi.astype(np.float64), xi.astype(np.float64))
        ok = (yi >= 0) & (yi < hp) & (xi >= 0) & (xi < wp)
        v = padded[np.where(ok, yi, 0).astype(np.int64), np.where(ok, xi, 0).astype(np.int64)]
        v[~ok] = 0
        return v

    v00 = corner(y0, x0)
    v01 = corner(y0, x0.astype(np.float64) + 1)
    v10 = corner(y0.astype(np.float64) + 1, x0)
    v11 = corner(y0.astype(np.float64) + 1, x0.astype(np.float64) + 1)

    w00 = ((one - wx) * (one - wy))[..., None]
    w01 = (wx * (one - wy))[..., None]
    w10 = ((one - wx) * wy)[..., None]
    w11 = (wx * wy)[..., None]
    out = ((w00 * v00 + w01 * v01) + w10 * v10) + w11 * v11
    assert out.dtype == np.float32
    out = np.ascontiguousarray(out)
    if lanes.shape[2] == 2:
        return out.view(np.complex64)[..., 0]
    return out[..., 0]


def extract_channel(obj: np.ndarray, offsets_bc2: np.ndarray, n: int) -> np.ndarray:
    """Patches (B, N, N, c) for float32 offsets (B, c, 2)."""
    b, c = offsets_bc2.shape[:2]
    flat = extract_flat(obj, np.asarray(offsets_bc2).reshape(-1, 2), n)
    return flat.reshape(b, c, n, n).transpose(0, 2, 3, 1)


def exact_crop(obj: np.ndarray, ox: int, oy: int, n: int) -> np.ndarray:
    """obj[oy-h : oy-h+N, ox-h : ox-h+N] with zeros outside, by slicing."""
    h = n // 2
    out = np.zeros((n, n), dtype=obj.dtype)
    height, width = obj.shape
    for y in range(n):
        for x in range(n):
            i, j = oy - h + y, ox - h + x
            if 0 <= i < height and 0 <= j < width:
                out[y, x] = obj[i, j]
    return out


def random_object(rng: np.random.Generator, height: int, width: int, complex_: bool) -> np.ndarray:
    re = rng.uniform(-1, 1, (height, width)).astype(np.float32)
    if not complex_:
        return re
    im = rng.uniform(-1, 1, (height, width)).astype(np.float32)
    return (re + 1j * im).astype(np.complex64)


def reassemble_flat(patches: np.ndarray, offsets_xy: np.ndarray, height: int, width: int):
    """The adjoint of extract_flat, by a plain scatter loop in float64.

    Each patch pixel is added, times its four float32 bilinear weights (the
    ones extraction samples with), into a float64 canvas padded by N // 2;
    corners outside the padded canvas are dropped, and the padding is
    cropped off at the end. Returns (canvas, weights), complex128 or float64
    and float64, shape (H, W).
    """
    patches = np.asarray(patches)
    p_count, n = patches.shape[0], patches.shape[1]
    h = n // 2
    hp, wp = height + 2 * h, width + 2 * h
    acc_type = np.complex128 if np.iscomplexobj(patches) else np.float64
    canvas = np.zeros((hp, wp), acc_type)
    weights = np.zeros((hp, wp), np.float64)
    off = np.asarray(offsets_xy, dtype=np.float32).reshape(-1, 2)
    pos = np.arange(n, dtype=np.float32)
    one = F32(1)
    for p in range(p_count):
        sx = pos + off[p, 0]  # float32 additions, as extraction
        sy = pos + off[p, 1]
        x0, y0 = np.floor(sx), np.floor(sy)
        wx, wy = sx - x0, sy - y0
        values = patches[p].astype(acc_type)
        for dy, wy_term in ((0, one - wy), (1, wy)):
            for dx, wx_term in ((0, one - wx), (1, wx)):
                # Weight products in float32, as extraction forms them.
                w = (wx_term[None, :] * wy_term[:, None]).astype(np.float64)
                yi = (y0.astype(np.float64) + dy)[:, None] * np.ones((1, n))
                xi = (x0.astype(np.float64) + dx)[None, :] * np.ones((n, 1))
                ok = (yi >= 0) & (yi < hp) & (xi >= 0) & (xi < wp)
                rows, cols = yi[ok].astype(np.int64), xi[ok].astype(np.int64)
                np.add.at(canvas, (rows, cols), w[ok] * values[ok])
                np.add.at(weights, (rows, cols), w[ok])
    return canvas[h:h + height, h:h + width], weights[h:h + height, h:h + width]


def reassemble_channel(patches: np.ndarray, offsets_bc2: np.ndarray, height: int, width: int):
    """reassemble_flat for channel-layout patches (B, N, N, c), offsets (B, c, 2)."""
    b, n, _, c = patches.shape
    flat = np.asarray(patches).transpose(0, 3, 1, 2).reshape(b * c, n, n)
    return reassemble_flat(flat, np.asarray(offsets_bc2).reshape(-1, 2), height, width)
