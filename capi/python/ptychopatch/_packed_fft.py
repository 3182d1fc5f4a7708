"""Two real transforms for the price of one complex transform.

pocketfft (scipy.fft, numpy.fft) computes a real transform whose length has
a prime factor above its square root (997, 1009, 2 x 509...) by Bluestein's
algorithm on a complex array of the same length: such a real transform
costs what a complex one does, twice the cost of one of half as many rows.
Packing two real arrays into one complex array recovers the factor of two:

* Forward: the spectrum Z of z = a + i b holds both A = (Z(k) + conj Z(-k))/2
  and B = (Z(k) - conj Z(-k))/(2i), so one complex transform gives the
  cross-power product A conj(B) of two images.
* Inverse: two rows whose spectra are Hermitian (real signals) are summed
  as X0 + i X1; one complex inverse then returns the first row in its real
  part and the second in its imaginary part.

The values equal those of separate real transforms to within rounding (not
bitwise). Where the moving image's energy differs from the reference's it is
first scaled by a power of two (exact) so that neither drowns the other's
rounding, and the product is scaled back.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import numpy as np

# Below this many elements fixed costs dominate either way (packing measured
# faster from 32 x 127: 118 against 149 us, float32, one thread).
_MIN_SIZE = 1 << 10

FFT = Callable[..., np.ndarray]


@functools.lru_cache(maxsize=64)
def _largest_prime_factor(n: int) -> int:
    largest, factor = 1, 2
    while factor * factor <= n:
        while n % factor == 0:
            largest, n = factor, n // factor
        factor += 1
    return max(largest, n)


def pays(shape: tuple) -> bool:
    """Whether packing saves time for a real 2-D transform of `shape`: its
    last axis has a prime factor above its square root (pocketfft's real
    transform of it then costs a complex one; measured: 1.9-2.7x the cost
    of a complex transform of half the rows for 127, 251, 509, 1009,
    2039, 4093; 1.05-1.3x for 106 and 202; 1.1-1.2x for powers of two,
    which the extra passes eat)."""
    if len(shape) != 2 or shape[0] < 2 or math.prod(shape) < _MIN_SIZE:
        return False
    last = shape[-1]
    return last > 2 and _largest_prime_factor(last) ** 2 > last


def cross_product(ref: np.ndarray, mov: np.ndarray, ref_energy: float, mov_energy: float,
                  dtype: np.dtype, fft: FFT) -> Optional[np.ndarray]:
    """rfftn(ref) * conj(rfftn(mov)) of two real 2-D images of one shape,
    in complex `dtype` (complex64 or complex128), from one complex fftn.

    `ref_energy` and `mov_energy` are sum |x|^2 of each image. Returns None
    (compute them separately) where an image is all zero or of magnitudes
    a power-of-two scaling could push out of `dtype`'s normal range.
    """
    real = np.empty(0, dtype).real.dtype
    info = np.finfo(real)
    count = ref.size
    for energy in (ref_energy, mov_energy):
        rms = math.sqrt(energy / count)
        # Spectrum bins reach sqrt(energy * count); products of two, their
        # square. Far from both ends of the range, or separately.
        if not (float(info.tiny) * 2.0 ** 64 < rms
                and math.sqrt(energy * count) < math.sqrt(float(info.max)) * 2.0 ** -16):
            return None
    exponent = round(0.5 * math.log2(ref_energy / mov_energy))
    packed = np.empty(ref.shape, dtype)
    packed.real = ref
    np.multiply(mov, real.type(math.ldexp(1.0, exponent)), out=packed.imag, casting="unsafe")
    spectrum = fft("fftn", packed, overwrite_x=True)
    del packed
    rows, cols = ref.shape
    half = cols // 2 + 1
    stored = spectrum[:, :half]
    # mirror[k] = Z(-k mod n) on the stored half: row 0 and column 0 map to
    # themselves, row r to rows - r, column c to cols - c.
    mirror = np.empty_like(stored)
    mirror[0, 0] = spectrum[0, 0]
    mirror[0, 1:] = spectrum[0, :cols - half:-1]
    mirror[1:, 0] = spectrum[:0:-1, 0]
    mirror[1:, 1:] = spectrum[:0:-1, :cols - half:-1]
    np.conjugate(mirror, out=mirror)
    # 2A = Z + conj Z(-k); 2iB = Z - conj Z(-k); A conj(B) = 2A conj(2iB) i / 4.
    twice_a = stored + mirror
    np.subtract(stored, mirror, out=mirror)
    np.conjugate(mirror, out=mirror)
    np.multiply(twice_a, mirror, out=twice_a)
    twice_a *= dtype.type(0.25j * math.ldexp(1.0, -exponent))
    return twice_a


def inverse_rows(spectrum: np.ndarray, shape: tuple, fft: FFT,
                 overwrite: bool = False) -> np.ndarray:
    """irfftn(spectrum, s=shape) of a 2-D half spectrum, unscaled
    (norm="forward"), with the last axis inverted two rows at a time;
    `overwrite` lets the first step work in `spectrum`'s memory.

    As pocketfft's real inverse does, the imaginary parts of the DC bin and
    (for an even length) the Nyquist bin of every row are ignored.
    """
    rows, cols = shape
    half = cols // 2 + 1
    leading = fft("ifft", spectrum, axis=0, norm="forward", overwrite_x=overwrite)
    pairs = rows // 2
    first, second = leading[0:2 * pairs:2], leading[1:2 * pairs:2]
    packed = np.empty((pairs, cols), leading.dtype)
    # Stored bins: X0 + i X1.
    np.multiply(second, 1j, out=packed[:, :half])
    packed[:, :half] += first
    # Omitted bins cols - k (k = 1 .. cols - half): conj X0(k) + i conj X1(k),
    # that is conj(X0(k) - i X1(k)).
    tail = packed[:, half:]
    np.multiply(second[:, cols - half:0:-1], -1j, out=tail)
    tail += first[:, cols - half:0:-1]
    np.conjugate(tail, out=tail)
    edges = [0] + ([cols // 2] if cols % 2 == 0 else [])
    for edge in edges:
        packed[:, edge].real = first[:, edge].real
        packed[:, edge].imag = second[:, edge].real
    both = fft("ifft", packed, axis=1, norm="forward", overwrite_x=True)
    del packed
    out = np.empty(shape, both.real.dtype)
    out[0:2 * pairs:2] = both.real
    out[1:2 * pairs:2] = both.imag
    if rows % 2:
        out[-1] = fft("irfft", leading[-1], n=cols, norm="forward")
    return out

