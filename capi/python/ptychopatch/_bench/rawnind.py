"""RawNIND's alignment method, reimplemented: the oracle of the library's
RawNIND-compatibility mode (tests/python/test_align_rawnind.py) and a peer
of the benchmark suite's alignment cases (align.py).

``rawnind_align`` is an independent numpy/scipy reimplementation, written
from the documented semantics (not from the code) of RawNIND's
``fft_phase_correlate_cfa``: repository github.com/CommReteris/rawnind_jddc,
branch ``performance-optimizations`` (commit 8a18ff1c, 2025-10-24), file
``src/rawnind/libs/raw.py`` (with its helpers ``extract_bayer_channels``,
``extract_xtrans_channels`` and ``_fft_phase_correlate_single``).

What that function does, in short:

* CFA phase planes of period P (2 for Bayer, 6 for X-Trans; X-Trans frames
  are first cropped from the origin to multiples of 6, Bayer frames are not
  cropped, so odd sizes give planes that differ by one);
* no dtype conversion: each plane minus its own mean, with numpy promotion
  (float32 stays float32, integers become float64);
* plain linear (zero-padded, non-circular) cross-correlation
  ``C[s] = sum_x a[x] * b[x - s]`` with no normalisation and no window,
  for lags ``s`` in ``[-(n // 2), n - 1 - n // 2]`` on each axis (n: the
  plane's size on that axis), the window that
  ``scipy.signal.fftconvolve(a, b[::-1, ::-1], mode="same")`` covers;
* the largest signed value wins, the first in row-major lag order on a tie;
* plane shift = lag * P; the plane shifts are combined per axis by
  ``int(np.median(...))`` (or ``int(np.mean(...))``, truncating toward
  zero), then floored to a multiple of 2 (Bayer) or 3 (X-Trans).

Sign: the result ``s`` registers the moving frame on the reference,
``gt[y + s_y, x + s_x] ~ moving[y, x]``, i.e. ``np.roll(moving, s) ~ gt``.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

_NAMED = {"bayer": 2, "xtrans": 6, "x-trans": 6}


def _layout(cfa):
    """(period, ordered list of (row, col) phases) for a CFA name or pattern.

    A name uses every phase in raster order. A pattern orders the phases as
    RawNIND reports its plane shifts: Bayer in raster order, X-Trans by
    colour code (0, then 1, then 2) and raster order within a colour, with
    phases of any other code left out. The combined shift does not depend
    on this order.
    """
    if isinstance(cfa, str):
        period = _NAMED.get(cfa.lower())
        if period is None:
            raise ValueError(f"unknown CFA {cfa!r}: expected 'bayer' or 'xtrans'")
        return period, [(r, c) for r in range(period) for c in range(period)]
    pattern = np.asarray(cfa)
    if pattern.shape == (2, 2):
        # RawNIND names the codes R/G/B/G; a valid Bayer layout has one R,
        # one B and two G, and then every phase gets its own plane.
        names = ["RGBG"[int(v)] if 0 <= int(v) <= 3 else "?" for v in pattern.ravel()]
        if sorted(names) != ["B", "G", "G", "R"]:
            raise ValueError(f"not a Bayer layout: {pattern.tolist()}")
        return 2, [(r, c) for r in range(2) for c in range(2)]
    if pattern.shape == (6, 6):
        phases = [(r, c) for code in (0, 1, 2)
                  for r in range(6) for c in range(6) if pattern[r, c] == code]
        return 6, phases
    raise ValueError(f"unsupported CFA pattern shape {pattern.shape}")


def _frame(img):
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected an (H, W) or (1, H, W) frame, got {a.shape}")
    return a


def _best_lag(ref, mov):
    """Lag (s_y, s_x) maximising sum_x ref0[x] * mov0[x - s] over the window
    [-(n // 2), n - 1 - n // 2] per axis, ref0/mov0 being the mean-removed
    planes. Ties: the smallest s_y, then the smallest s_x."""
    if ref.size == 0 or mov.size == 0:
        raise ValueError("empty colour plane: the frame is too small for its CFA")
    ref0 = ref - ref.mean()
    mov0 = mov - mov.mean()
    n = ref0.shape
    # Zero padding to at least 2n - 1 makes the circular correlation equal
    # to the linear one for every lag |s| <= n - 1.
    size = tuple(sfft.next_fast_len(2 * k - 1, real=True) for k in n)
    spec = sfft.rfft2(ref0, s=size) * np.conj(sfft.rfft2(mov0, s=size))
    circ = sfft.irfft2(spec, s=size)  # circ[s mod size] = C[s]
    lags = [np.arange(-(k // 2), k - k // 2) for k in n]
    window = circ[np.ix_(lags[0] % size[0], lags[1] % size[1])]
    # np.argmax: signed maximum, first in C order; a NaN anywhere (which
    # then fills the whole window) is taken as the maximum at index 0.
    iy, ix = np.unravel_index(int(np.argmax(window)), window.shape)
    return int(lags[0][iy]), int(lags[1][ix])


def rawnind_align(gt, moving, cfa, method="median"):
    """Whole-pixel shift of ``moving`` onto ``gt``, as RawNIND computes it.

    Reimplementation from the documented semantics of RawNIND's
    ``fft_phase_correlate_cfa`` (github.com/CommReteris/rawnind_jddc, branch
    ``performance-optimizations``, ``src/rawnind/libs/raw.py``), used as the
    oracle of the library's RawNIND-compatibility mode.

    gt, moving: mosaiced frames, (H, W) or (1, H, W), same shape; any dtype
        (float32 is computed in float32, integers in float64, as RawNIND).
    cfa: "bayer" / "xtrans", or RawNIND's ``RGBG_pattern`` (2x2 or 6x6 codes
        0 R, 1 G, 2 B, 3 G); only its shape matters to the combined shift,
        the pattern only orders ``plane_shifts``.
    method: "median" (RawNIND's default) or "mean".

    Returns ``((dy, dx), plane_shifts)`` like RawNIND: ``(dy, dx)`` Python
    ints in sensor pixels, floored to a multiple of 2 (Bayer) or 3 (X-Trans),
    with ``np.roll(moving, (dy, dx)) ~ gt``; ``plane_shifts`` the per-plane
    ``(dy, dx)`` (lag times the CFA period), before combination.
    """
    period, phases = _layout(cfa)
    a = _frame(gt)
    b = _frame(moving)
    if a.shape != b.shape:
        raise ValueError(f"frame shapes differ: {a.shape} vs {b.shape}")
    if period == 6:
        h, w = (a.shape[0] // 6) * 6, (a.shape[1] // 6) * 6
        a, b = a[:h, :w], b[:h, :w]

    plane_shifts = []
    for r, c in phases:
        sy, sx = _best_lag(a[r::period, c::period], b[r::period, c::period])
        plane_shifts.append((sy * period, sx * period))

    if method == "median":
        combine = np.median
    elif method == "mean":
        combine = np.mean
    else:
        raise ValueError(f"unknown method {method!r}")
    block = 3 if period == 6 else 2
    combined = []
    for axis in (0, 1):
        v = int(combine([s[axis] for s in plane_shifts]))  # int(): toward zero
        combined.append((v // block) * block)               # //: toward -inf
    return (combined[0], combined[1]), plane_shifts
