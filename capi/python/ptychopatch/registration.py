"""scikit-image's ``phase_cross_correlation``, as a drop-in.

`phase_cross_correlation` takes the arguments of scikit-image 0.26's
``skimage.registration.phase_cross_correlation`` and returns its
``(shift, error, phasediff)`` with its dtypes. Everything is computed on
the host: with numpy (half-spectrum transforms, threaded), and for pairs
of real 2-D images where the library's FFTW is the faster, by its pair
correlation (``ptp_correlate_*``: the cross-power spectrum and the
correlation in one call), whose peak and refinement are then found here.
(The library's alignment plan, which served two real 2-D images on a GPU
or with ``backend`` named, no longer does: its phase and plain correlation
are retired, it aligns luminance images only; CHANGELOG.md.)

FFTs on the host use ``scipy.fft`` (multi-threaded) when SciPy is
installed, else ``numpy.fft``; SciPy is not a requirement of this package.
Where the last side has a large prime factor (997 x 1009), the two images
share one complex transform and the correlation is inverted two rows at a
time (`_packed_fft`): pocketfft's real transforms of such sides cost
complex ones. (Float32 pairs go to the library instead, which does the
same with Bluestein's algorithm on FFTW.)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import math
import operator
import warnings
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _arrays, _context, _native, _packed_fft

# scipy.fft (optional: faster, threaded host FFTs; numpy.fft otherwise) is
# imported on the first transform, not with the package: its import takes
# longer than the whole package's.
_UNLOADED = object()
_scipy_fft: Any = _UNLOADED

ArrayLike = Any

__all__ = ["phase_cross_correlation"]

_PLANNINGS = ("auto", "measure", "estimate", "wisdom")
# Two float32 images of at most this many elements are correlated by the
# library's FFTW (ptp_correlate_*) where scipy.fft would run them on one
# thread: there FFTW's plans are faster than pocketfft's (one thread,
# FFTW_ESTIMATE, 256 x 256: r2c 74 and c2r 68 us against 95 and 103; 512 x
# 512: 329 and 298 against 404 and 417), and larger ones run faster on
# scipy's threads, or with pocketfft at 1024 x 1024 (ESTIMATE: 2.2 ms
# against 1.7).
_LIBRARY_CORRELATE_MAX_SIZE = 1 << 18


# ------------------------------------------------------------------ FFTs


def _workers(num_threads: int) -> int:
    """scipy.fft's `workers` for num_threads: -1 (every core) for 0."""
    return -1 if num_threads == 0 else num_threads


# Below this many elements (in real space: _transform_size) a transform runs
# on one thread where the caller left the thread count to us
# (num_threads=0): waking scipy.fft's threads costs about 60 us a call, more
# than a 384 x 384 transform saves by them (two cores: rfftn of 256 x 256
# float32 takes 0.09 ms on one thread, 0.12 ms on two; of 512 x 512, 0.39
# and 0.29 ms). An explicit count is obeyed.
_THREADED_MIN_SIZE = 1 << 18


def _scipy() -> Any:
    """scipy.fft, or None without SciPy (imported on first use)."""
    global _scipy_fft
    if _scipy_fft is _UNLOADED:
        try:
            import scipy.fft as module
        except ImportError:  # pragma: no cover - depends on the environment
            module = None
        _scipy_fft = module
    return _scipy_fft


def _transform_size(name: str, x: np.ndarray, kwargs: dict) -> int:
    """The real-space element count of a transform: its real input or
    output, or its complex input (padded or cut to `s` or `n`)."""
    shape = list(x.shape)
    if kwargs.get("s") is not None:
        s = kwargs["s"]
        axes = kwargs.get("axes")
        for axis, n in zip(range(x.ndim - len(s), x.ndim) if axes is None else axes, s):
            shape[axis] = n
    elif kwargs.get("n") is not None:
        shape[kwargs.get("axis", -1)] = kwargs["n"]
    elif name.startswith("irfft"):  # the real output: about twice the half spectrum
        shape[kwargs.get("axis", -1) if name == "irfft" else -1] *= 2
    return math.prod(shape)


def _fft(name: str, x: np.ndarray, workers: int, **kwargs: Any) -> np.ndarray:
    module = _scipy()
    if module is not None:
        if workers == -1 and _transform_size(name, x, kwargs) < _THREADED_MIN_SIZE:
            workers = 1
        return getattr(module, name)(x, workers=workers, **kwargs)
    kwargs.pop("overwrite_x", None)
    return getattr(np.fft, name)(x, **kwargs)


@functools.lru_cache(maxsize=64)
def _spectrum_dtype(dtype: np.dtype) -> np.dtype:
    """The complex dtype scipy.fft gives a transform of `dtype` (numpy >= 2
    gives the same; older numpy computes in complex128 and is cast)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return dtype
    if dtype.kind == "f":
        if dtype.itemsize <= 4:
            return np.dtype(np.complex64)
        if dtype == np.longdouble and np.dtype(np.longdouble) != np.dtype(np.float64):
            return np.dtype(np.clongdouble)
    return np.dtype(np.complex128)


def _forward(x: np.ndarray, half: bool, workers: int) -> np.ndarray:
    """fftn, or rfftn (`half`) of a real array, in scipy's precision."""
    spectrum = _fft("rfftn" if half else "fftn", x, workers)
    return spectrum.astype(_spectrum_dtype(x.dtype), copy=False)


def _inverse_real(spectrum: np.ndarray, shape: Sequence[int], workers: int,
                  overwrite: bool = False, scaled: bool = True) -> np.ndarray:
    """irfftn(spectrum, s=shape) over every axis, bitwise as scipy.fft computes it
    (without its 1/N factor, _inverse_scale, where not `scaled`).

    scipy's irfftn runs the inverse over the leading axes into a temporary
    and then the real inverse of the last axis, scaled by 1/N; done as two
    calls here (unscaled, then the same 1/N product, _INVERSE_IN_STEPS) it
    is up to twice as fast (a 2048 x 2048 float32 spectrum: 44 -> 24 ms,
    one thread) with the same values. `overwrite` lets the first step work
    in `spectrum`'s memory.
    """
    ndim = len(shape)
    expected = tuple(shape[:-1]) + (shape[-1] // 2 + 1,)
    if (ndim < 2 or spectrum.shape != expected or spectrum.dtype.char not in "FD"
            or not _inverse_in_steps(spectrum.dtype)):
        return _fft("irfftn", spectrum, workers, s=tuple(shape), axes=tuple(range(ndim)),
                    norm="backward" if scaled else "forward")
    return _inverse_steps(spectrum, shape, workers, overwrite, scaled)


def _inverse_steps(spectrum: np.ndarray, shape: Sequence[int], workers: int,
                   overwrite: bool, scaled: bool = True) -> np.ndarray:
    """The two unscaled calls and the 1/N product of _inverse_real."""
    ndim = len(shape)
    leading = _fft("ifftn", spectrum, workers, axes=tuple(range(ndim - 1)), norm="forward",
                   overwrite_x=overwrite)
    out = _fft("irfft", leading, workers, n=shape[-1], axis=ndim - 1, norm="forward",
               overwrite_x=True)
    del leading
    if scaled:
        out *= _inverse_scale(math.prod(shape), out.dtype)
    return out


@functools.lru_cache(maxsize=64)
def _inverse_scale(count: int, dtype: np.dtype) -> Any:
    """1/count as pocketfft computes its scale factor: in long double, then
    rounded once to `dtype`."""
    return np.dtype(dtype).type(np.longdouble(1) / np.longdouble(count))


_INVERSE_IN_STEPS: dict = {}


def _inverse_in_steps(dtype: np.dtype) -> bool:
    """Whether _inverse_real's two calls give scipy.fft.irfftn's values
    bitwise for spectra of `dtype`, on probes with prime and composite
    sides (checked once per dtype; never with numpy.fft)."""
    key = np.dtype(dtype).char
    known = _INVERSE_IN_STEPS.get(key)
    if known is None:
        known = _scipy() is not None
        rng = np.random.default_rng(2026)
        for shape in ((7, 6), (12, 17), (3, 5, 8), (67, 71)):
            if not known:
                break
            real = rng.standard_normal(shape).astype(np.empty(0, dtype).real.dtype)
            spectrum = _fft("rfftn", real, 1).astype(dtype, copy=False)
            axes = tuple(range(len(shape)))
            expected = _fft("irfftn", spectrum, 1, s=shape, axes=axes)
            got = _inverse_steps(spectrum, shape, 1, overwrite=False)
            known = expected.dtype == got.dtype and bool(np.array_equal(expected, got))
        _INVERSE_IN_STEPS[key] = known
    return known


def _argmax_abs(x: np.ndarray) -> int:
    """np.argmax(np.abs(x)) (the first largest magnitude, NaN first) for a
    real array, from its first maximum and first minimum: no |x| array."""
    if x.dtype.kind != "f":
        return int(np.argmax(np.abs(x)))
    high, low = int(np.argmax(x)), int(np.argmin(x))
    top, bottom = x.flat[high], -x.flat[low]
    if top > bottom:
        return high
    if bottom > top:
        return low
    return min(high, low)


def _next_fast_length(n: int) -> int:
    """The smallest 2-3-5-smooth integer >= n."""
    best = 1
    while best < n:
        best *= 2
    five = 1
    while five < best:
        three = five
        while three < best:
            size = three
            while size < n:
                size *= 2
            best = min(best, size)
            three *= 3
        five *= 5
    return best


@functools.lru_cache(maxsize=16)
def _signed_frequencies(n: int) -> np.ndarray:
    """numpy.fft.fftfreq(n) * n as integers (the Nyquist bin of an even n
    is -n/2), read-only (cached)."""
    k = np.arange(n)
    frequencies = np.where(k <= (n - 1) // 2, k, k - n)
    frequencies.flags.writeable = False
    return frequencies


# ------------------------------------------------- the correlation itself


def _packs(shape: Tuple[int, ...], either_constant: bool) -> bool:
    """Whether two real images are transformed packed (_packed_fft): where a
    real transform of the last axis costs a complex one (_packed_fft.pays),
    unless an image is constant. A constant image's separate transform is
    zero off the DC bin, and its correlation flat: packed, the other image's
    rounding would reach those bins (phase normalisation then makes a
    random correlation of it) and would break the flat correlation's ties
    differently from scikit-image's first index."""
    return _packed_fft.pays(shape) and not either_constant


def _half_product(ref: np.ndarray, mov: np.ndarray, energies: Tuple[float, float],
                  workers: int, pack: bool) -> np.ndarray:
    """rfftn(ref) * conj(rfftn(mov)) for two real images of one shape, in
    scipy's precision; `energies` are their sums of |x|^2. With `pack`
    (_packs), both spectra come from one complex transform."""
    dtype = _spectrum_dtype(ref.dtype)
    if pack and dtype.char in "FD" and dtype == _spectrum_dtype(mov.dtype) and min(energies) > 0:
        product = _packed_fft.cross_product(ref, mov, energies[0], energies[1], dtype,
                                            functools.partial(_fft, workers=workers))
        if product is not None:
            return product
    return _conj_product(_forward(ref, True, workers), _forward(mov, True, workers))


def _conj_product(src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """src * conj(tgt) of two spectra made here (in src's memory where the
    dtypes agree; tgt is overwritten)."""
    if src.dtype == tgt.dtype:
        return np.multiply(src, np.conjugate(tgt, out=tgt), out=src)
    return src * tgt.conj()


def _cross_power(product: np.ndarray, normalization: Optional[str],
                 check_guard: bool = False) -> Tuple[np.ndarray, bool]:
    """The cross-power spectrum X = src * conj(tgt) (`product`, whose memory
    it takes), divided by max(|X|, 100 eps) for phase normalisation; and
    (with `check_guard`) whether a bin other than the DC one was at or
    under that guard."""
    if normalization is None:
        return product, False
    real_dtype = product.real.dtype
    if real_dtype.kind != "f":
        raise ValueError(
            f"normalization='phase' needs floating-point or complex spectra, got dtype "
            f"{product.dtype} (with space='fourier' the inputs are taken as spectra)"
        )
    guard = _phase_guard(real_dtype)
    magnitude = np.abs(product)
    guarded = False
    if check_guard:
        dc = magnitude.flat[0]
        magnitude.flat[0] = np.inf
        guarded = bool(magnitude.min() <= guard)
        magnitude.flat[0] = dc
    # max(|X|, guard) changes only bins under the guard, and the minimum (a
    # reduction) is several times cheaper than the maximum's pass: skipped
    # where no bin is under it (NaN, which the maximum keeps, runs it).
    if magnitude.size == 0 or not magnitude.min() >= guard:
        np.maximum(magnitude, guard, out=magnitude)
    _divide_by_magnitude(product, magnitude)
    return product, guarded


@functools.lru_cache(maxsize=16)
def _phase_guard(real_dtype: np.dtype) -> Any:
    """scikit-image's phase-normalisation floor: 100 eps of the precision."""
    return real_dtype.type(100 * np.finfo(real_dtype).eps)


def _divide_by_magnitude(product: np.ndarray, magnitude: np.ndarray) -> None:
    """product /= magnitude (complex by real, in place), as numpy computes it.

    numpy divides a complex value by a real one (cast to complex, Smith's
    algorithm) as a * (1 / c) and b * (1 / c), with 1 / c rounded; the
    product with the rounded reciprocal (cast to complex: a c' - b 0 and
    a 0 + b c', the same two real products) is several times faster than
    the complex division loop, and faster than scaling the real and
    imaginary parts separately (two strided passes). Whether this numpy
    computes both the same, bitwise, is checked once
    (_RECIPROCAL_DIVISION); where it does not, the division itself runs.
    """
    if product.dtype.char in "FD" and _reciprocal_division(product.dtype):
        np.reciprocal(magnitude, out=magnitude)
        np.multiply(product, magnitude, out=product)
    else:
        product /= magnitude


_RECIPROCAL_DIVISION: dict = {}


def _reciprocal_division(dtype: np.dtype) -> bool:
    """Whether numpy's complex division by a real value of `dtype`'s
    precision equals the product with its rounded reciprocal, bitwise, on a
    probe of awkward values (subnormal, huge and ordinary magnitudes)."""
    key = np.dtype(dtype).char
    known = _RECIPROCAL_DIVISION.get(key)
    if known is None:
        real = np.empty(0, dtype).real.dtype
        rng = np.random.default_rng(12345)
        tiny, huge = float(np.finfo(real).tiny), float(np.finfo(real).max)
        values = np.concatenate([rng.standard_normal(4093), [tiny, tiny / 8, huge, -huge, 0.0]])
        denominators = np.concatenate([np.abs(rng.standard_normal(4093)) + 1e-3,
                                       [3.0, 7.0, 0.5, 1e-30, 1.0]]).astype(real)
        probe = (values + 1j * values[::-1]).astype(dtype)
        with np.errstate(all="ignore"):
            expected = probe / denominators
            got = probe.copy()
            np.multiply(got, np.reciprocal(denominators), out=got)
        known = bool(np.array_equal(expected.view(real), got.view(real), equal_nan=True))
        _RECIPROCAL_DIVISION[key] = known
    return known


def _kernel(n: int, bins: np.ndarray, positions: np.ndarray, upsample: Any,
            dtype: np.dtype) -> np.ndarray:
    """exp(+2 pi i m f / (n u)) for samples m (rows) and bins (columns).

    `positions` are the sample positions times the upsampling factor u, so
    the phase is exact (reduced modulo n u in integers) when m and u are
    integers; then the values come from a table of the n u phasors (the
    same arithmetic as computing them here, looked up instead).
    """
    freqs = _signed_frequencies(n)[bins]
    m = np.asarray(positions, dtype=np.float64)
    period = float(n) * float(upsample)
    if float(upsample).is_integer() and np.all(m == np.round(m)) and \
            np.max(np.abs(m), initial=0.0) * n < 2.0 ** 52:
        turns = np.mod(np.multiply.outer(m.astype(np.int64), freqs), int(period))
        if period <= _PHASOR_TABLE_MAX:
            return _phasor_table(int(period), np.dtype(dtype))[turns]
        turns = turns / period
    else:
        turns = np.multiply.outer(m, freqs.astype(np.float64)) / period
    return np.exp(2j * np.pi * turns).astype(dtype, copy=False)


# Tables of n u phasors are kept for the 8 most recent (n u, precision)
# pairs, each of at most _PHASOR_TABLE_MAX entries (4 MiB in complex128);
# a larger n u computes its phasors per call.
_PHASOR_TABLE_MAX = 1 << 18


@functools.lru_cache(maxsize=8)
def _phasor_table(period: int, dtype: np.dtype) -> np.ndarray:
    """exp(2 pi i k / period) for k in [0, period), in `dtype`, read-only."""
    turns = np.arange(period, dtype=np.float64) / float(period)
    table = np.exp(2j * np.pi * turns).astype(dtype, copy=False)
    table.flags.writeable = False
    return table


def _dft_samples(spectrum: np.ndarray, shape: Sequence[int], half: bool,
                 positions: Sequence[np.ndarray], upsample: Any,
                 dtype: Optional[np.dtype] = None) -> np.ndarray:
    """sum over all bins k of X(k) * prod_a exp(2 pi i m_a f_a(k_a) / (n_a u)),
    on the grid of sample positions m (per axis, times u): the upsampled DFT
    of Guizar-Sicairos et al. at chosen points, unnormalised.

    With `half`, `spectrum` is the rfftn half of a Hermitian spectrum; the
    bins it omits are the conjugates of its interior last-axis columns.
    Computed in `dtype` (default: the spectrum's precision, as scikit-image).
    """
    ndim = len(shape)
    dtype = np.result_type(spectrum.dtype, np.complex64, *([] if dtype is None else [dtype]))
    last = shape[-1]
    # The leading axes are contracted first: the first contraction, over
    # the whole stored spectrum, is nearly all of the work, and done on the
    # half spectrum it is done once for the stored and the omitted bins.
    direct = spectrum
    mirror = None
    interior = np.arange(1, (last - 1) // 2 + 1) if half else np.arange(0)
    for axis in range(ndim - 1):
        n = shape[axis]
        kernel = _kernel(n, np.arange(n), positions[axis], upsample, dtype)
        contracted = _contract_axis(kernel, direct, axis)
        if interior.size == 0:
            direct = contracted
            continue
        # The omitted bin (k, last - j) holds conj(X(-k mod n, j)); its sum
        # conj(X) * kernel is conj(sum X * conj(kernel(-k))), and
        # conj(kernel(m, -k)) == kernel(m, k) for every bin k but the
        # Nyquist bin of an even n: a rank-one correction of the first
        # contraction, a contraction of its own after that.
        if mirror is None:
            mirror = contracted
            if n % 2 == 0:
                nyquist = n // 2
                mirrored_column = _kernel(n, np.array([nyquist]), positions[axis], upsample,
                                          dtype).conj()[:, 0]
                difference = mirrored_column - kernel[:, nyquist]
                plane = np.take(direct, [nyquist], axis=axis)
                shape_of = [1] * direct.ndim
                shape_of[axis] = difference.size
                mirror = mirror + difference.reshape(shape_of) * plane
        else:
            mirrored_kernel = _kernel(n, (-np.arange(n)) % n, positions[axis], upsample,
                                      dtype).conj()
            mirror = _contract_axis(mirrored_kernel, mirror, axis)
        direct = contracted
    kernel = _kernel(last, np.arange(spectrum.shape[-1]), positions[-1], upsample, dtype)
    out = _contract_axis(kernel, direct, ndim - 1)
    if interior.size == 0:
        return out
    if mirror is None:  # 1-D
        mirror = spectrum
    # The omitted last-axis bin last - j has frequency -j, so the conjugate
    # of its kernel is the stored bin j's.
    columns = slice(1, interior[-1] + 1)
    mirrored = _contract_axis(kernel[:, columns], mirror[..., columns], ndim - 1)
    return out + mirrored.conj()


def _contract_axis(kernel: np.ndarray, data: np.ndarray, axis: int) -> np.ndarray:
    """out[..., r, ...] = sum_n kernel[r, n] * data[..., n, ...] along `axis`.

    A few rows by einsum's own loop (see _energy: small BLAS calls can be
    very slow after the library has run); many (an upsampled region) by
    BLAS, where the work is large enough to repay it.
    """
    if kernel.shape[0] > 8 and data.ndim == 2:
        # tensordot's own steps for a matrix, without its Python overhead:
        # the summed axis first (a contiguous copy when it is not), np.dot.
        if axis == 0:
            return np.dot(kernel, data)
        return np.dot(kernel, data.T.reshape(data.shape[1], data.shape[0])).T
    if kernel.shape[0] > 8 and axis == 0:
        return np.tensordot(kernel, data, axes=(1, 0))
    if kernel.shape[0] > 8:
        return np.moveaxis(np.tensordot(kernel, data, axes=(1, axis)), 0, axis)
    letters = "abcdefghijklmnopqrstuvwxyz"[:data.ndim]
    result = letters[:axis] + "R" + letters[axis + 1:]
    return np.einsum(f"R{letters[axis]},{letters}->{result}", kernel, data)


def _wrap(index: Sequence[int], shape: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """Peak indices as signed shifts (those past the middle of their axis
    less its length), in `dtype`: the index rounded to `dtype`, the length
    subtracted in double and the difference rounded again, as numpy does
    below (per value in Python for float32/64: a few values, no arrays).
    In native byte order, as scikit-image's shift is (a big-endian
    complex spectrum gave a big-endian shift)."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if dtype.char in "fd":
        kind = np.dtype(dtype).type
        values = []
        for i, n in zip(index, shape):
            value = kind(i)
            if float(value) > math.trunc(n / 2):
                value = kind(float(value) - n)
            values.append(value)
        return np.array(values, dtype=dtype)
    shift = np.asarray(index).astype(dtype, copy=False)
    midpoint = np.array([np.trunc(n / 2) for n in shape])
    over = shift > midpoint
    shift[over] -= np.array(shape)[over]
    return shift


def _sample_dtype(spectrum: np.ndarray, bounded: bool) -> Optional[np.dtype]:
    """The precision in which the upsampled DFT of a cross-power spectrum
    is summed: double for a single-precision one that is not
    phase-normalised (not `bounded`), else None (its own, as scikit-image).

    Without normalisation the DC bin, (sum ref)(sum moving), is added to
    every sample: the samples of a photograph (a large mean) are that term
    plus a sub-pixel peak that falls by 2e-8 of it a step away (a 120 x
    90 camera crop, u = 20), where float32 resolves 6e-8 at best. Summed in
    float32 (scikit-image's way) the refined shift is the argmax of
    rounding, up to 3 steps off on camera crops, and which of the tied
    samples wins depends on BLAS's summation order (OpenBLAS's AVX-512
    kernels and its AVX2 ones pick differently); summed in double from the
    float32 spectrum it is the float64 computation's shift (12-17 % more
    time for such a call, 256^2 to 2048^2, docs/notes/phase-cross-correlation.md). Phase
    normalisation bounds every bin by 1, and its peak stands out of float32
    rounding: there scikit-image's precision is kept, and so its rounding.
    """
    if not bounded and spectrum.dtype == np.complex64:
        return np.dtype(np.complex128)
    return None


def _refine(spectrum: np.ndarray, shape: Sequence[int], half: bool, shift: np.ndarray,
            upsample: Any, bounded: bool) -> Tuple[np.ndarray, Any]:
    """scikit-image's refinement around the whole-pixel `shift`: the
    upsampled DFT on ceil(1.5 u) samples per axis, centred on it (summed in
    double where _sample_dtype says, `bounded` as there); returns the
    refined shift and the correlation value at it, in the spectrum's
    precision."""
    real_dtype = shift.dtype
    factor = np.array(upsample, dtype=real_dtype)
    shift = np.round(shift * factor) / factor
    region = np.ceil(factor * 1.5)
    centre = np.trunc(region / 2.0)
    offsets = centre - shift * factor
    samples = np.arange(int(region))
    positions = [samples - offset for offset in offsets.astype(np.float64)]
    correlation = _dft_samples(spectrum, shape, half, positions, upsample,
                               _sample_dtype(spectrum, bounded))
    peak = np.unravel_index(np.argmax(np.abs(correlation)), correlation.shape)
    value = correlation[peak].astype(np.result_type(spectrum.dtype, np.complex64))
    steps = np.stack(peak).astype(real_dtype, copy=False)
    steps -= centre
    shift += steps / factor
    return shift, value


def _register_spectrum(spectrum: np.ndarray, shape: Tuple[int, ...], half: bool,
                       upsample: Any, workers: int, bounded: bool = False,
                       pack: bool = False,
                       correlation: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Any]:
    """Shift and correlation value at it, from the cross-power spectrum
    (`bounded`: phase-normalised, every |bin| at most 1; `pack`: the last
    axis inverted two rows at a time, see _packs), or from its inverse
    where the library gave that (`correlation`, real)."""
    real_dtype = spectrum.real.dtype
    if correlation is not None:
        return _register_correlation(spectrum, correlation, shape, half, upsample, bounded)
    # The real inverse runs unscaled and is scaled by 1/N after; a spectrum
    # that could overflow that way is scaled first (as scipy's complex
    # inverse, scikit-image's, does within its first pass). (The spectrum
    # is needed again only to upsample.)
    count = math.prod(shape)
    source, scaled_first = spectrum, False
    if half and not bounded and _unscaled_inverse_may_overflow(spectrum, count):
        source = spectrum * _inverse_scale(count, real_dtype)
        scaled_first = True
    overwrite = upsample == 1 or scaled_first
    if half and pack and spectrum.dtype.char == "D" and not scaled_first:
        found = _single_precision_peak(spectrum, shape, workers, bounded)
        if found is not None:
            peak, value = found
            shift = _wrap(peak, shape, real_dtype)
            if upsample == 1:
                value = np.float64(value) * _inverse_scale(count, np.dtype(np.float64))
                return shift, np.asarray(value).astype(np.complex128)[()]
            return _refine(spectrum, shape, half, shift, upsample, bounded)
    if half and pack and spectrum.dtype.char in "FD":
        correlation = _packed_fft.inverse_rows(source, shape,
                                               functools.partial(_fft, workers=workers),
                                               overwrite=overwrite)
        if not scaled_first:
            correlation *= _inverse_scale(count, correlation.dtype)
    elif half:
        correlation = _inverse_real(source, shape, workers, overwrite=overwrite,
                                    scaled=not scaled_first)
    else:
        correlation = _fft("ifftn", spectrum, workers)
    del source
    return _register_correlation(spectrum, correlation, shape, half, upsample, bounded)


# _single_precision_peak: the candidates for the peak are the samples of the
# float32 correlation within 2 * _SINGLE_ERROR_BOUND * eps32 * log2(N) of
# its largest magnitude (times that magnitude), and at most
# _SINGLE_MAX_CANDIDATES of them are evaluated in double.
_SINGLE_ERROR_BOUND = 16.0
_SINGLE_MAX_CANDIDATES = 4


def _single_precision_peak(spectrum: np.ndarray, shape: Tuple[int, ...], workers: int,
                           bounded: bool) -> Optional[Tuple[Tuple[int, ...], float]]:
    """The first largest |sample| of irfftn(spectrum, s=shape) (unscaled) for a
    complex128 half spectrum of a packed shape (_packs), and its value, from a
    float32 inverse: half the cost of the double one, and the inverse is a
    third of such a call (997 x 1009, one thread: 15 against 30 ms). None
    where it cannot decide (then the double inverse runs).

    Every sample of the float32 inverse lies within its rounding of the
    double one: at most 0.6 eps32 log2(N) times the largest |sample| on
    photographs and noise, either normalisation, 61 x 67 to 997 x 1009
    (docs/notes/phase-cross-correlation.md). The samples within 16 times that bound (twice
    over) of the float32 maximum are the candidates; each is summed in
    double from the spectrum itself (the DFT at that point, as _refine's
    samples are), and the largest magnitude wins, the first in row-major
    order among equals (as np.argmax). More than _SINGLE_MAX_CANDIDATES
    candidates (a flat correlation: a constant image, ties) or a spectrum
    whose float32 copy would not be finite: None.
    """
    if bounded:  # phase-normalised: every |bin| at most 1
        single = spectrum.astype(np.complex64)
    else:
        parts = (spectrum.real, spectrum.imag)
        largest = max(max(abs(float(p.max())), abs(float(p.min()))) for p in parts)
        if not (math.isfinite(largest) and largest > 0.0):
            return None
        # Scaled by a power of two (exact) to a largest |part| in [0.5, 1):
        # far from float32's overflow, and every bin that matters above its
        # underflow.
        single = np.empty(spectrum.shape, np.complex64)
        np.multiply(spectrum, math.ldexp(1.0, -math.frexp(largest)[1]), out=single,
                    casting="unsafe")
    correlation = _packed_fft.inverse_rows(single, shape,
                                           functools.partial(_fft, workers=workers),
                                           overwrite=True)
    del single
    high, low = float(correlation.max()), float(correlation.min())
    height = max(high, -low)
    if not (math.isfinite(height) and height > 0.0):
        return None
    count = math.prod(shape)
    margin = 2.0 * _SINGLE_ERROR_BOUND * float(np.finfo(np.float32).eps) \
        * math.log2(count) * height
    floor = np.float32(height - margin)
    if not floor > 0:
        return None
    if -low < floor:
        candidates = np.flatnonzero(correlation >= floor)
    elif high < floor:
        candidates = np.flatnonzero(correlation <= -floor)
    else:
        candidates = np.flatnonzero((correlation >= floor) | (correlation <= -floor))
    del correlation
    if candidates.size == 0 or candidates.size > _SINGLE_MAX_CANDIDATES:
        return None
    best, best_value = None, 0.0
    for flat in candidates:  # row-major order
        index = np.unravel_index(int(flat), shape)
        positions = [np.array([i], dtype=np.float64) for i in index]
        value = float(_dft_samples(spectrum, shape, True, positions, 1).real.reshape(-1)[0])
        if best is None or abs(value) > abs(best_value):
            best, best_value = tuple(int(i) for i in index), value
    return best, best_value


def _register_correlation(spectrum: np.ndarray, correlation: np.ndarray,
                          shape: Tuple[int, ...], half: bool,
                          upsample: Any, bounded: bool) -> Tuple[np.ndarray, Any]:
    """_register_spectrum from the correlation (the spectrum's inverse)."""
    real_dtype = spectrum.real.dtype
    peak = np.unravel_index(_argmax_abs(correlation), shape)
    shift = _wrap(peak, shape, real_dtype)
    if upsample == 1:
        value = correlation[peak]
        return shift, np.asarray(value).astype(np.result_type(value, real_dtype, np.complex64))[()]
    return _refine(spectrum, shape, half, shift, upsample, bounded)


def _unscaled_inverse_may_overflow(spectrum: np.ndarray, count: int) -> bool:
    """Whether an inverse transform without its 1/count factor could leave
    the precision's range: count * max |bin| near its largest value (two
    reductions, no |X| array; NaN says yes)."""
    largest = 0.0
    for part in (spectrum.real, spectrum.imag):
        if part.size:
            largest = max(largest, abs(float(part.max())), abs(float(part.min())))
    limit = float(np.finfo(spectrum.real.dtype).max) / 16
    return not largest * 2.0 * count < limit


def _amplitude_type(image: np.ndarray, fourier: bool) -> np.dtype:
    """The real dtype of the spectrum of `image` (the image itself when
    `fourier`), float64 for one of integers."""
    return _amplitude_dtype(image.dtype, fourier)


@functools.lru_cache(maxsize=64)
def _amplitude_dtype(image_dtype: np.dtype, fourier: bool) -> np.dtype:
    dtype = image_dtype if fourier else _spectrum_dtype(image_dtype)
    real = np.empty(0, dtype).real.dtype
    return real if np.issubdtype(real, np.inexact) else np.dtype(np.float64)


def _energy(x: np.ndarray) -> float:
    """sum |x|^2, accumulated in double precision.

    einsum rather than BLAS (vdot): after the library has run, OpenBLAS's
    threads compete with the library's OpenMP threads and small BLAS calls
    can become slower by orders of magnitude. float32 values are summed in
    float32 within blocks of _ENERGY_BLOCK and the block sums in double:
    einsum's conversion of every value to double costs three times as much
    (a 2048 x 2048 image: 5.5 -> 1.7 ms). The sum stays within float32
    rounding of the exact one (1e-10 to 5e-8 relative on the images tried;
    scikit-image's own float32 sum of |F|^2 was off by about 1e-7 on
    them). Blocks whose squares overflow float32 are summed in double.
    """
    parts = (x.real, x.imag) if x.dtype.kind == "c" else (x,)
    total = 0.0
    for part in parts:
        flat = part.reshape(-1)
        if flat.dtype == np.float32 and flat.size >= 2 * _ENERGY_BLOCK:
            whole = flat.size // _ENERGY_BLOCK * _ENERGY_BLOCK
            blocks = flat[:whole].reshape(-1, _ENERGY_BLOCK)
            # (einsum's loops raise no floating-point warnings: an overflow
            # is an inf block sum, caught below.)
            sums = np.einsum("ij,ij->i", blocks, blocks)
            blocked = float(np.add.reduce(sums, dtype=np.float64))
            if math.isfinite(blocked):
                total += blocked
                flat = flat[whole:]
        if flat.size:
            total += float(np.einsum("i,i->", flat, flat, dtype=np.float64, casting="unsafe"))
    return total


_ENERGY_BLOCK = 128


# ------------------------------------------------------- the library path


def _correlates_in_library(ref: np.ndarray, mov: np.ndarray, workers: int) -> bool:
    """Whether the library's FFTW correlates two real images that are not
    constant (a constant image's correlation is flat, and FFTW's rounding
    would break its ties differently from scipy's; the caller knows):
    native float64, 2-D, with a side the library transforms by Bluestein's
    algorithm, none of them longer than 2048 (on _library_threads, as
    below); or native float32, 2-D, and either

    * with a side the library transforms by Bluestein's algorithm
      (_library_transforms_by_lines), on the threads scipy would use
      (_library_threads): one thread took 14 ms at 997 x 1009, pocketfft's
      packed transforms 25 (and 26 ms of wall time on two threads); or
    * at most _LIBRARY_CORRELATE_MAX_SIZE pixels where scipy.fft would run
      on one thread too (num_threads=1, or the default num_threads=0 and
      fewer than _THREADED_MIN_SIZE; an explicit count above 1 is obeyed
      by scipy): there FFTW's plans are the faster, on one thread.

    Shifts are scikit-image's wherever the peak stands out of float32
    rounding. Without normalisation, the upsampled peak of float32
    photographs (a large mean) does not: there, on this path and on the
    scipy one alike, the refinement is summed in double (_sample_dtype) and
    the shift is scikit-image's on the images in float64."""
    # (dtype equality, not the kind: ">f4" on a little-endian machine is
    # float32 too, and the library reads native floats.)
    if not (_native.HAS_CORRELATE and ref.ndim == 2):
        return False
    if ref.dtype == np.float64 and mov.dtype == np.float64:
        # float64 pairs with a Bluestein side (ptp_correlate_execute_f64):
        # 997 x 1009, one thread, 28 ms where scipy's packed double
        # transforms took 51; but in double the library's lines of a chirp
        # of 8192 (sides of 4093) were slower than pocketfft's, so only
        # sides up to _LIBRARY_F64_LONGEST_CHIRP_SIDE go (docs/performance.md,
        # "Prime sides").
        chirp_sides = [n for n in ref.shape if _library_chirp_side(n)]
        return (_native.HAS_CORRELATE_F64 and bool(chirp_sides)
                and max(chirp_sides) <= _LIBRARY_F64_LONGEST_CHIRP_SIDE)
    if not (ref.dtype == np.float32 and mov.dtype == np.float32):
        return False
    if _library_transforms_by_lines(ref.shape):
        return True
    return (ref.size <= _LIBRARY_CORRELATE_MAX_SIZE
            and (workers == 1 or workers == -1 and ref.size < _THREADED_MIN_SIZE))


def _library_threads(shape: Tuple[int, ...], workers: int) -> int:
    """The context threads of the library's pair correlation: scipy's
    `workers` (-1: every core, the library's 0) for shapes it transforms by
    Bluestein's algorithm, whose passes use them from 2^16 pixels; one
    otherwise (FFTW's plans there run on one thread anyway)."""
    if not _library_transforms_by_lines(shape) or workers == 1:
        return 1
    if workers == -1 and math.prod(shape) < _THREADED_MIN_SIZE:
        return 1  # as scipy.fft would: waking threads costs more there
    return 0 if workers == -1 else workers


# LineDft::kLargestDirectPrime (src/correlate/line_dft.hpp): the library's
# ptp_correlate_* transforms a side whose largest prime factor is above it
# by Bluestein's algorithm (FFTW's own transforms of such sides are slow).
_LIBRARY_LARGEST_DIRECT_PRIME = 31


# The longest side that float64 pairs send to Bluestein's algorithm in the
# library (one thread, phase_cross_correlation against the numpy path: 1.04-
# 1.37x faster for sides of 1009-2039, even at 2053, 0.70-0.81x at 4093).
_LIBRARY_F64_LONGEST_CHIRP_SIDE = 2048


def _library_chirp_side(n: int) -> bool:
    return (n > _LIBRARY_LARGEST_DIRECT_PRIME
            and _packed_fft._largest_prime_factor(n) > _LIBRARY_LARGEST_DIRECT_PRIME)


def _library_transforms_by_lines(shape: Tuple[int, ...]) -> bool:
    return any(_library_chirp_side(n) for n in shape)


class _CorrelatePlan:
    """A ptp_correlate_plan, destroyed with its last reference."""

    def __init__(self, shape: Tuple[int, int], normalization: int, planning: int,
                 threads: int, double: bool = False) -> None:
        desc = _native.new_correlate_desc()
        desc.height, desc.width = shape
        desc.normalization = normalization
        desc.fft_planning = planning
        if double:
            desc.dtype = _native.PTP_DTYPE_FLOAT64
        handle = ctypes.c_void_p()
        # The plan keeps only the context's thread count: any thread's
        # context of that count will do.
        _native.correlate_plan_create(_context.context("cpu", threads), ctypes.byref(desc),
                                      ctypes.byref(handle))
        self.handle = handle
        self._destroy = _native.correlate_plan_destroy

    def __del__(self) -> None:
        handle = getattr(self, "handle", None)
        if handle:
            self._destroy(handle)


@functools.lru_cache(maxsize=8)
def _correlate_plan(shape: Tuple[int, int], normalization: int, planning: int,
                    threads: int, double: bool = False) -> _CorrelatePlan:
    # Plans are shared by threads (ptp_correlate_execute keeps no state).
    return _CorrelatePlan(shape, normalization, planning, threads, double)


def _library_correlation(ref: np.ndarray, mov: np.ndarray, normalization: Optional[str],
                         planning: str, with_spectrum: bool,
                         workers: int = 1) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(cross-power half spectrum, correlation) of two float32 or two float64
    2-D images from the library (_correlates_in_library), in their
    precision; the spectrum is an empty complex array unless
    `with_spectrum` (only the upsampled refinement reads it). None where
    the library finds the spectrum not finite (NaN reached it, or an
    overflowing transform: the numpy path then says which)."""
    height, width = ref.shape
    double = ref.dtype == np.float64
    code = (_native.PTP_NORMALIZATION_NONE if normalization is None
            else _native.PTP_NORMALIZATION_PHASE)
    plan = _correlate_plan((height, width), code, _PLANNING_CODES[planning],
                           _library_threads(ref.shape, workers), double)
    ref = np.ascontiguousarray(ref)
    mov = np.ascontiguousarray(mov)
    spectrum = np.empty((height, width // 2 + 1) if with_spectrum else 0,
                        np.complex128 if double else np.complex64)
    correlation = np.empty((height, width), ref.dtype)
    execute = _native.correlate_execute_f64 if double else _native.correlate_execute
    try:
        execute(plan.handle, ref.ctypes.data, mov.ctypes.data,
                spectrum.ctypes.data if with_spectrum else None, correlation.ctypes.data)
    except _native.PtychoPatchError as error:
        if error.status == _native.PTP_ERROR_NON_FINITE:
            return None
        raise
    return spectrum, correlation


def _blas_on_one_thread() -> Any:
    """A context in which BLAS runs on one thread (threadpoolctl; a no-op
    without it), for the upsampled refinement after the library's
    correlation ran on several OpenMP threads. Both runtimes' idle threads
    spin: OpenBLAS's, woken by the refinement's matrix products, took the
    cores from the library's next call, and the library's from the
    products (997 x 1009 float32, u = 20, two cores: 28.2 ms a call, 13.4
    with BLAS on one thread; docs/performance.md, "Prime sides")."""
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    # Finding the loaded BLAS libraries scans the process's libraries: once.
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    try:
        return ThreadpoolController()
    except Exception:  # threadpoolctl could not inspect this process: leave BLAS be
        return None


# phase_cross_correlation's `planning` for one pair: "auto" never measures.
_PLANNING_CODES = {
    "auto": _native.PTP_FFT_PLANNING_WISDOM,
    "wisdom": _native.PTP_FFT_PLANNING_WISDOM,
    "estimate": _native.PTP_FFT_PLANNING_ESTIMATE,
    "measure": _native.PTP_FFT_PLANNING_MEASURE,
}


# --------------------------------------------------------- disambiguation


def _periodic_shift(image: np.ndarray, shift: np.ndarray, workers: int) -> np.ndarray:
    """`image` translated by `shift` with periodic boundaries, as
    ``scipy.ndimage.shift(image, shift, mode="grid-wrap", order=o)``: a roll
    for whole pixels (o = 0), else cubic B-spline interpolation (o = 3),
    computed exactly in the Fourier domain, where both the spline prefilter
    and the evaluation at the shifted points are circular convolutions."""
    if not np.any(np.asarray(shift) % 1 != 0):
        whole = [int(round(float(s))) for s in shift]
        return np.roll(image, whole, axis=tuple(range(image.ndim)))
    complex_input = image.dtype.kind == "c"
    half = not complex_input
    work = image.astype(np.complex128 if complex_input else np.float64)
    spectrum = _fft("rfftn" if half else "fftn", work, workers)
    for axis, (n, s) in enumerate(zip(image.shape, np.asarray(shift, dtype=np.float64))):
        k = np.arange(spectrum.shape[axis])
        taps = math.floor(s) + np.arange(-1, 3)
        t = np.abs(taps - s)
        bspline = np.where(t < 1, 2.0 / 3.0 - t ** 2 + t ** 3 / 2.0, (2.0 - t) ** 3 / 6.0)
        moved = (bspline[:, None] * np.exp(-2j * np.pi * np.outer(taps, k) / n)).sum(axis=0)
        prefilter = 2.0 / 3.0 + np.cos(2 * np.pi * k / n) / 3.0
        view = [1] * image.ndim
        view[axis] = k.size
        spectrum = spectrum * (moved / prefilter).reshape(view)
    if half:
        out = _inverse_real(spectrum, image.shape, workers, overwrite=True)
    else:
        out = _fft("ifftn", spectrum, workers)
    if image.dtype.kind == "b":
        # scipy casts its spline's values to bool by truncation: true
        # where |value| >= 1 (rounded, a shifted edge came out wider than
        # scikit-image's, and disambiguation chose another candidate).
        return np.trunc(out) != 0
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(image.dtype)
    return out.astype(image.dtype, copy=False)


def _pearson(a: np.ndarray, b: np.ndarray) -> Any:
    """numpy.corrcoef(a, b)[0, 1], as scikit-image scores the tiles, NaN
    (silently) where a tile is constant. numpy's own, not a correlation
    computed here: the tiles of a circular shift all correlate at 1 but for
    rounding, which then decides the tile, and a sum of our own (einsum)
    rounded otherwise than numpy's (a review: 204 of 450 rolled 64-pixel
    crops of the camera disambiguated to another shift than
    scikit-image's)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        with np.errstate(all="ignore"):
            return np.corrcoef(a, b)[0, 1]


def _disambiguate(ref: np.ndarray, mov: np.ndarray, shift: np.ndarray, workers: int
                  ) -> Tuple[np.ndarray, Optional[str]]:
    """Of the 2^ndim shifts equal to `shift` modulo the image shape, the one
    whose overlap (a quadrant of the periodically shifted moving image)
    correlates best with the reference (scikit-image's `disambiguate`)."""
    positive = [s % n for s, n in zip(shift, ref.shape)]
    negative = [p - n for p, n in zip(positive, ref.shape)]
    moved = _periodic_shift(mov, shift, workers)
    cuts = np.round(positive).astype(int)
    best, chosen = -1.0, None
    for tile in itertools.product(*[(slice(0, c), slice(c, None)) for c in cuts]):
        a = ref[tile].reshape(-1)
        b = moved[tile].reshape(-1)
        score = -1.0
        if a.size > 2:
            score = _pearson(a, b)
        if score > best:
            best, chosen = score, tile
    if chosen is None:
        return shift, (
            f"Could not determine real-space shift for periodic shift {shift!r} as requested "
            "by `disambiguate=True`: no part of the overlap correlates (disambiguation is "
            "degenerate); the periodic shift is returned."
        )
    picked = [p if part.stop is None else q for part, p, q in zip(chosen, positive, negative)]
    return np.array(picked), None


# ------------------------------------------------------ masked registration


def _supported_float(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32 if np.dtype(dtype).char in "ef" else np.float64)


def _masked_shift(ref: np.ndarray, mov: np.ndarray, reference_mask: ArrayLike,
                  moving_mask: ArrayLike, overlap_ratio: float, workers: int) -> np.ndarray:
    """Masked normalised cross-correlation (Padfield 2012), all axes, 'full'
    extent; the shift is the mean position of the largest values."""
    if reference_mask is None:
        raise ValueError("moving_mask without reference_mask: pass reference_mask too "
                         "(moving_mask defaults to reference_mask, not the other way)")
    if ref.dtype.kind == "c" or mov.dtype.kind == "c":
        raise ValueError("complex-valued images are not supported with masks")
    if ref.ndim != mov.ndim:
        raise ValueError(f"reference_image and moving_image must have the same number of "
                         f"dimensions, got shapes {ref.shape} and {mov.shape}")
    ref_mask = np.array(_arrays.host_asarray(reference_mask, "reference_mask"), dtype=bool)
    if moving_mask is None:
        if ref.shape != mov.shape:
            raise ValueError("Input images have different shapes, moving_mask must be "
                             "explicitly set.")
        mov_mask = ref_mask
    else:
        mov_mask = np.array(_arrays.host_asarray(moving_mask, "moving_mask"), dtype=bool)
    for image, mask, name in ((ref, ref_mask, "reference"), (mov, mov_mask, "moving")):
        if image.shape != mask.shape:
            raise ValueError(f"Image sizes must match their respective mask sizes: the {name} "
                             f"image is {image.shape}, its mask {mask.shape}.")
        if image.dtype.kind == "f" and not np.all(np.isfinite(image[mask])):
            raise ValueError(f"the {name} image has NaN or infinite values where its mask is "
                             "True; leave them out of the mask")
    real_dtype = np.result_type(_supported_float(ref.dtype), _supported_float(mov.dtype))
    eps = np.finfo(real_dtype).eps
    axes = tuple(range(ref.ndim))
    flip = (slice(None, None, -1),) * ref.ndim

    # The moving image is the fixed one of the correlation, the reference
    # the rotated (flipped) one, as in scikit-image.
    fixed = np.where(mov_mask, mov, 0).astype(real_dtype)
    rotated = np.where(ref_mask, ref, 0).astype(real_dtype)[flip]
    full = tuple(a + b - 1 for a, b in zip(mov.shape, ref.shape))
    padded = tuple(_next_fast_length(n) for n in full)
    crop = tuple(slice(0, n) for n in full)

    def forward(x: np.ndarray) -> np.ndarray:
        return _fft("rfftn", x, workers, s=padded, axes=axes).astype(
            _spectrum_dtype(real_dtype), copy=False)

    def inverse(x: np.ndarray) -> np.ndarray:
        return _inverse_real(x, padded, workers, overwrite=True).astype(real_dtype, copy=False)

    fixed_f = forward(fixed)
    rotated_f = forward(rotated)
    fixed_mask_f = forward(mov_mask.astype(real_dtype))
    rotated_mask_f = forward(ref_mask[flip].astype(real_dtype))

    overlap = np.round(inverse(rotated_mask_f * fixed_mask_f))
    overlap = np.fmax(overlap, eps)
    fixed_sum = inverse(rotated_mask_f * fixed_f)
    rotated_sum = inverse(fixed_mask_f * rotated_f)
    numerator = inverse(rotated_f * fixed_f) - fixed_sum * rotated_sum / overlap
    fixed_var = inverse(rotated_mask_f * forward(np.square(fixed)))
    fixed_var -= np.square(fixed_sum) / overlap
    fixed_var = np.fmax(fixed_var, 0.0)
    rotated_var = inverse(fixed_mask_f * forward(np.square(rotated)))
    rotated_var -= np.square(rotated_sum) / overlap
    rotated_var = np.fmax(rotated_var, 0.0)
    denominator = np.sqrt(fixed_var * rotated_var)

    numerator, denominator, overlap = numerator[crop], denominator[crop], overlap[crop]
    tolerance = 1e3 * eps * np.max(np.abs(denominator))
    ncc = np.zeros(full, dtype=real_dtype)
    usable = denominator > tolerance
    ncc[usable] = numerator[usable] / denominator[usable]
    np.clip(ncc, -1, 1, out=ncc)
    ncc[overlap < overlap_ratio * np.max(overlap)] = 0.0

    centre = np.mean(np.argwhere(ncc == ncc.max()), axis=0)
    size_mismatch = np.array(mov.shape) - np.array(ref.shape)
    return -(centre - np.array(ref.shape) + 1) + size_mismatch / 2


# ------------------------------------------------------------ arguments


def _upsample_factor(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"upsample_factor must be a number, got {type(value).__name__}")
    try:
        integral = operator.index(value)
    except TypeError:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"upsample_factor must be a number, got "
                            f"{type(value).__name__}") from None
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"upsample_factor must be a finite number > 0, got {value!r}")
        return int(number) if number.is_integer() else number
    if integral < 1:
        raise ValueError(f"upsample_factor must be >= 1, got {integral}")
    return integral


def _normalization(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        if value == "phase":
            return "phase"
        if value.lower() == "none":
            return None
    raise ValueError(f"normalization must be either phase or None, got {value!r}")


def _space(value: Any) -> str:
    if isinstance(value, str) and value.lower() in ("real", "fourier"):
        return value.lower()
    raise ValueError(f'space argument must be "real" or "fourier", got {value!r}')


def _image(value: ArrayLike, name: str) -> np.ndarray:
    arr = _arrays.host_asarray(value, name)
    if not (arr.dtype.kind in "biufc" or np.issubdtype(arr.dtype, np.number)):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty array of at least one dimension, "
                         f"got shape {arr.shape}")
    return arr


def _finite(arr: np.ndarray) -> bool:
    """Whether every value of an array is finite."""
    if arr.dtype.kind == "c":
        return bool(np.all(np.isfinite(arr)))
    if arr.dtype.kind != "f":
        return True
    return bool(np.isfinite(arr.min()) and np.isfinite(arr.max()))


def _constant(arr: np.ndarray) -> bool:
    """Whether every value of a finite array is the same. A few values spread
    over the array answer first (an image almost never has all of them
    equal); only then are the whole array's extremes compared (two passes,
    3 ms of a 997 x 1009 float64 call)."""
    if arr.size > 64:
        probe = arr.flat[_probe_indices(arr.size)]
        if np.any(probe != probe[0]):
            return False
    if arr.dtype.kind == "c":
        return bool(np.all(arr == arr.flat[0]))
    return bool(arr.min() == arr.max())


@functools.lru_cache(maxsize=16)
def _probe_indices(size: int) -> np.ndarray:
    """17 flat indices spread evenly over an array of `size` elements."""
    return np.linspace(0, size - 1, 17).astype(np.intp)


# ----------------------------------------------------------- the function


def phase_cross_correlation(
    reference_image: ArrayLike,
    moving_image: ArrayLike,
    *,
    upsample_factor: Any = 1,
    space: str = "real",
    disambiguate: bool = False,
    reference_mask: Optional[ArrayLike] = None,
    moving_mask: Optional[ArrayLike] = None,
    overlap_ratio: float = 0.3,
    normalization: Optional[str] = "phase",
    backend: str = "auto",
    num_threads: int = 0,
    planning: str = "wisdom",
):
    """Subpixel translation between two images, as scikit-image computes it.

    A drop-in for ``skimage.registration.phase_cross_correlation``
    (scikit-image 0.26): the same arguments, the same ``(shift, error,
    phasediff)`` with the same dtypes, the same warnings and errors. The
    cross-correlation of the two images (phase-normalised by default) is
    computed by FFT; its largest magnitude gives the shift to a whole pixel,
    and an upsampled DFT around it (Guizar-Sicairos et al., 2008) refines it
    to 1/`upsample_factor` pixel. With a mask, the masked normalised
    cross-correlation of Padfield (2012) is used instead.

    Where the work is done (on the host, whatever `backend` says):

    * Two native float32 2-D images that scipy.fft would transform on
      one thread (fewer than 2^18 pixels with the default
      `num_threads`, up to 2^18 with ``num_threads=1``), or of any size
      and thread count where a side has a prime factor above 31 (neither
      image constant): the library's FFTW computes their cross-power
      spectrum and correlation in one call (``ptp_correlate_execute``;
      faster than scipy's transforms at these sizes, and for prime sides
      by Bluestein's algorithm, on scipy's threads), and the peak and its
      refinement are found here. Two native float64 2-D images with such
      a side, none longer than 2048, go to its double plans
      (``ptp_correlate_execute_f64``) the same way.
    * Everything else is computed here with numpy (FFTs by ``scipy.fft``
      when SciPy is installed, else ``numpy.fft``): other 2-D images, n-D
      and complex images, ``space="fourier"``, masks, constant images;
      and ``disambiguate``, ``error`` and
      ``phasediff`` in every case. Where a real transform of the last
      axis costs a complex one (a large prime factor, as 997 x 1009),
      both images are transformed as one complex array; for float64
      images there the correlation's peak is found in a float32 inverse
      and decided among its candidates by sums in double (the double
      inverse's peak, at half its cost).

    Parameters
    ----------
    reference_image : array
        Reference image, or its Fourier transform with ``space="fourier"``.
    moving_image : array
        Image to register, the same shape as `reference_image` (with masks:
        the same number of dimensions, any shape).
    upsample_factor : int or float, optional
        Register to within 1/`upsample_factor` of a pixel; 1 (default)
        gives whole pixels. Ignored with masks.
    space : {"real", "fourier"}, optional
        ``"fourier"``: the inputs are already Fourier transforms (complex;
        real arrays get a UserWarning, as they are most likely images).
        Case insensitive. Ignored with masks.
    disambiguate : bool, optional
        The phase correlation gives the shift modulo the image shape; with
        True, of the 2**ndim candidates the one whose overlap correlates
        best in real space is returned. Ignored with masks.
    reference_mask, moving_mask : array of bool, optional
        True on valid pixels. Either given selects masked registration (the
        images may then differ in shape, and may hold NaN outside their
        masks); `moving_mask` defaults to `reference_mask`.
    overlap_ratio : float, optional
        With masks: shifts whose overlap of the masks is below this fraction
        of the largest overlap are ignored. Default 0.3.
    normalization : {"phase", None}, optional
        ``"phase"`` (default): phase correlation; ``None`` (or ``"none"``):
        plain cross-correlation. Ignored with masks.
    backend : {"auto", "cpu", "gpu"}, keyword-only
        Accepted for compatibility: every call computes on the host, as
        above (the library's alignment plan, which took two real 2-D
        images on a GPU or with `backend` named, no longer does; its phase
        correlation is retired). ``"gpu"`` still raises PtychoPatchError
        where no GPU is usable. The results are scikit-image's either way.
    num_threads : int, keyword-only
        CPU threads of the library and of ``scipy.fft``; 0 (default) means
        all cores.
    planning : {"wisdom", "estimate", "measure", "auto"}, keyword-only
        FFT planning of the library's pair correlation (as `align_scene`'s).
        The default never measures, so a one-off call on a new shape costs
        only its transforms; ``"measure"`` pays once per shape and process
        for faster transforms in later calls.

    Returns
    -------
    shift : numpy.ndarray
        The shift (per axis, in pixels) that registers `moving_image` onto
        `reference_image`: if `moving_image` is `reference_image` translated
        by ``t``, `shift` is ``-t``. float32 for float16/float32 (and
        complex64) images, float64 otherwise, whole-pixel results included;
        float64 with masks.
    error : numpy floating scalar
        scikit-image's translation-invariant normalised RMS error; NaN with
        masks, or when an image is all zero (with a UserWarning).
    phasediff : numpy floating scalar
        The global phase difference, the argument of the correlation value
        at the peak (0 for real images, up to rounding, or pi at a negative
        peak); NaN with masks.

    Raises
    ------
    ValueError
        Images of different shapes (without masks), NaN or infinite values
        (in valid pixels, with masks), finite values whose transforms
        overflow the images' precision (a NaN or infinite correlation
        peak), unknown `space`, `normalization`, `backend` or `planning`,
        `upsample_factor` not > 0, masks of the wrong shape, complex images
        with masks.
    TypeError
        Images that do not hold numbers; an `upsample_factor` that is not a
        number.
    PtychoPatchError
        The library failed (``backend="gpu"`` without a usable GPU, ...).

    Warns
    -----
    UserWarning
        An all-zero image (the RMS error cannot be determined; it is NaN),
        and a degenerate disambiguation (the periodic shift is returned).

    Notes
    -----
    Results are scikit-image's, with these differences:

    * The library computes in float32: on the library path a float64 image
      can get a different whole-pixel shift where two peaks are equal to
      within float32 rounding, and an upsampled shift one 1/`upsample_factor`
      step away where two neighbouring samples are. ``error`` and
      ``phasediff`` agree to rounding. For real images ``phasediff`` is 0
      (or pi) plus rounding noise, in scikit-image too; phase
      normalisation can amplify that noise to about 1/N (N pixels), with
      a sign that differs between the two (pi and -pi are the same phase).
    * Without normalisation, the upsampled DFT of float32 (and complex64)
      images is summed in double, where scikit-image sums it in float32:
      there a photograph's sub-pixel peak, on top of its mean's DC term,
      varies by less than float32 resolves, and scikit-image's shift is
      rounding (up to 3 steps of 1/`upsample_factor` off on camera crops);
      ours is the one scikit-image gives the same images in float64.
    * NaN or infinite values always raise ValueError (scikit-image raises
      for them through the NaN they produce, except with masks, where it
      returns a meaningless shift for NaN in valid pixels).
    * `moving_mask` without `reference_mask` is a ValueError (an
      AttributeError in scikit-image); options are validated even where
      masks make them unused; ``normalization="none"`` is accepted as None.
    * A masked array with masked elements is a ValueError (scikit-image
      reads the values under its mask); pass ``a.filled(v)`` or ``a.data``.
    * Where the cross-power spectrum has bins that are zero in exact
      arithmetic (sparse images, images that share no content), phase
      normalisation makes their rounding unit bins of random phase, in
      both libraries alike: the peak is then rounding, and the two can
      differ by a step of 1/`upsample_factor` and in ``phasediff`` by a
      few hundredths of a radian.
    * Warnings have scikit-image's categories and the same opening words
      (a filter on the message's start matches both); what follows says
      more about the cause.

    Examples
    --------
    >>> import numpy as np
    >>> from ptychopatch import phase_cross_correlation
    >>> rng = np.random.default_rng(0)
    >>> reference = rng.random((128, 128))
    >>> moving = np.roll(reference, (3, -5), axis=(0, 1))  # content moved by (3, -5)
    >>> shift, error, phasediff = phase_cross_correlation(reference, moving)
    >>> shift
    array([-3.,  5.])

    The error is only telling without normalisation (phase normalisation
    flattens the spectra, and scikit-image's error with them):

    >>> shift, error, phasediff = phase_cross_correlation(reference, moving,
    ...                                                   normalization=None)
    >>> round(float(error), 6), round(abs(float(phasediff)), 6)
    (0.0, 0.0)

    Subpixel shifts, masks and n-D images take the same call:

    >>> shift, _, _ = phase_cross_correlation(reference.astype(np.float32),
    ...                                       moving.astype(np.float32),
    ...                                       upsample_factor=20)
    >>> shift, shift.dtype
    (array([-3.,  5.], dtype=float32), dtype('float32'))
    >>> mask = np.ones(reference.shape, dtype=bool)
    >>> mask[:, :16] = False
    >>> phase_cross_correlation(reference, moving, reference_mask=mask)[0]
    array([-3.,  5.])
    """
    ref = _image(reference_image, "reference_image")
    mov = _image(moving_image, "moving_image")
    upsample = _upsample_factor(upsample_factor)
    space_name = _space(space)
    norm = _normalization(normalization)
    _context.backend_code(backend)
    threads = _context.as_int(num_threads, "num_threads", 0, 2**31 - 1)
    if backend == "gpu":
        # Computed on the host whatever `backend` says; a GPU asked for and
        # not usable is still the error it was when the library's
        # alignment plan answered on it.
        _context.context(backend, threads)
    if planning not in _PLANNINGS:
        raise ValueError(f"planning must be one of {list(_PLANNINGS)}, got {planning!r}")
    overlap = float(overlap_ratio)
    workers = _workers(threads)

    if reference_mask is not None or moving_mask is not None:
        shift = _masked_shift(ref, mov, reference_mask, moving_mask, overlap, workers)
        return shift, np.nan, np.nan

    if ref.shape != mov.shape:
        raise ValueError(f"images must be same shape, got {ref.shape} and {mov.shape}")
    # sum |x|^2 of each image, needed for the error, is finite when every
    # value is: the finiteness check costs a pass only where it is not.
    src_energy, tgt_energy = _energy(ref), _energy(mov)
    if not (math.isfinite(src_energy) and math.isfinite(tgt_energy)
            or _finite(ref) and _finite(mov)):
        raise ValueError(
            # scikit-image's opening words, so that a filter on them matches.
            "NaN values found (or infinite ones), please remove them from your input data or use "
            "the `reference_mask`/`moving_mask` keywords, eg: "
            "phase_cross_correlation(reference_image, moving_image, "
            "reference_mask=np.isfinite(reference_image), "
            "moving_mask=np.isfinite(moving_image))"
        )

    fourier = space_name == "fourier"
    real = ref.dtype.kind != "c" and mov.dtype.kind != "c"
    if fourier and real:
        # Transforms of images are complex (a real one belongs to a
        # point-symmetric image), so real "spectra" are most likely images
        # passed with the wrong `space`. scikit-image says nothing at
        # upsample_factor 1 and, above it, casts its upsampling kernel to
        # the real dtype (a ComplexWarning), which moves the sub-pixel
        # shift; ours keeps the complex kernel, so the shifts differ there.
        warnings.warn(
            'space="fourier" with real arrays: they are taken as spectra, and the transform '
            'of an image is complex (real only for point-symmetric images). If these are '
            'images, pass space="real". (scikit-image, with upsample_factor > 1, drops the '
            "imaginary part of its upsampling kernel here, with a ComplexWarning, and its "
            "sub-pixel shift can differ from this one.)",
            UserWarning, stacklevel=2)
    half = not fourier and real
    # (Constant images never reach the library, nor are they packed.)
    either_constant = half and (_constant(ref) or _constant(mov))
    pack = half and _packs(ref.shape, either_constant)
    shift = spectrum = None
    correlation = None
    blas = contextlib.nullcontext()
    if half and not either_constant and _correlates_in_library(ref, mov, workers):
        found = _library_correlation(ref, mov, norm, planning, with_spectrum=upsample != 1,
                                     workers=workers)
        if found is not None:
            spectrum, correlation = found
            if upsample != 1 and _library_threads(ref.shape, workers) != 1:
                blas = _blas_on_one_thread()
    if shift is None:
        if spectrum is None:
            if fourier:
                product = ref * mov.conj()
            elif half:
                product = _half_product(ref, mov, (src_energy, tgt_energy), workers, pack)
            else:  # complex images
                product = _conj_product(_forward(ref, False, workers),
                                        _forward(mov, False, workers))
            spectrum, _ = _cross_power(product, norm)
            del product
        with blas:
            shift, value = _register_spectrum(spectrum, ref.shape, half, upsample, workers,
                                              bounded=norm is not None, pack=pack,
                                              correlation=correlation)
        del correlation
        for axis, n in enumerate(ref.shape):
            if n == 1:
                shift[axis] = 0
    del spectrum
    # Finite images whose transforms overflow their precision give a NaN or
    # infinite correlation peak: scikit-image raises ValueError for NaN, and
    # a shift found from either would mean nothing.
    if not np.isfinite(value):
        precision = np.empty(0, np.result_type(value)).real.dtype.name
        raise ValueError(
            f"the cross-correlation of these finite images is not finite at its peak "
            f"({value}): their transforms overflow {precision} (largest |value| "
            f"{max(float(np.max(np.abs(ref))), float(np.max(np.abs(mov)))):.3g}); scale the "
            f"images down or pass them in double precision"
        )

    # The amplitudes sum |F|^2 of the two spectra (divided by their size
    # without upsampling, as scikit-image does), by Parseval for images.
    src_amp, tgt_amp = src_energy, tgt_energy
    if fourier and upsample == 1:
        src_amp, tgt_amp = src_amp / ref.size, tgt_amp / mov.size
    elif not fourier and upsample != 1:  # Parseval: sum |F|^2 = N sum |x|^2
        src_amp, tgt_amp = src_amp * ref.size, tgt_amp * mov.size
    src_amp = _amplitude_type(ref, fourier).type(src_amp)
    tgt_amp = _amplitude_type(mov, fourier).type(tgt_amp)

    notes = []
    if disambiguate:
        if fourier:
            ref_space = _fft("ifftn", ref, workers)
            mov_space = _fft("ifftn", mov, workers)
        else:
            ref_space, mov_space = ref, mov
        shift, note = _disambiguate(ref_space, mov_space, shift, workers)
        if note:
            notes.append(note)

    amp = src_amp * tgt_amp
    if amp == 0:
        notes.append(
            f"Could not determine RMS error between images with the normalized average "
            f"intensities {src_amp!r} and {tgt_amp!r}: the reference or the moving image is "
            f"all zero, or their intensities are so small that their product underflows "
            f"(error is NaN)."
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.sqrt(np.abs(1.0 - value * value.conj() / amp))
    phasediff = np.arctan2(value.imag, value.real)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return shift, error, phasediff
