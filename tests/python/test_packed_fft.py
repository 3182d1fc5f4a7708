"""Two real transforms packed into one complex transform (_packed_fft),
against numpy.fft's separate real transforms as the oracle, and
phase_cross_correlation on shapes that take the packed path against
scikit-image's."""

from __future__ import annotations

import numpy as np
import pytest

import ptychopatch
from ptychopatch import _packed_fft, registration


def _fft(name, x, **kwargs):
    return registration._fft(name, x, 1, **kwargs)


def _energy(x):
    return float(np.sum(np.square(x, dtype=np.float64)))


@pytest.fixture
def camera():
    return pytest.importorskip("skimage.data").camera()


def _relative(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


# Odd and even row counts (the odd one's last row is inverted alone), odd
# and even prime-factor lengths (an even one has a Nyquist bin).
SHAPES = [(64, 127), (65, 127), (31, 1018), (40, 502), (2, 2039), (3, 1009)]
TOLERANCE = {np.float32: 6e-6, np.float64: 5e-14}


def test_pays_where_a_real_transform_costs_a_complex_one():
    # Last sides with a prime factor above their square root, 2-D, not tiny.
    for shape in [(997, 1009), (256, 251), (64, 127), (32, 127), (2, 2039), (512, 1018),
                  (100, 106)]:
        assert _packed_fft.pays(shape), shape
    for shape in [(256, 256), (997, 1000), (1009, 1024), (512, 289), (8, 127),
                  (1, 2039), (997,), (9, 9, 1009)]:
        assert not _packed_fft.pays(shape), shape


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ratio", [1.0, 1e-5, 3e4])
def test_cross_product_is_that_of_separate_transforms(rng, shape, dtype, ratio):
    # A moving image of very different energy is scaled by a power of two
    # first: the smaller image's spectrum keeps its own precision.
    ref = rng.standard_normal(shape).astype(dtype)
    mov = (rng.standard_normal(shape) * ratio + 0.3 * ratio).astype(dtype)
    complex_dtype = np.dtype(np.complex64 if dtype == np.float32 else np.complex128)
    want = np.fft.rfftn(ref.astype(np.float64)) * np.conj(np.fft.rfftn(mov.astype(np.float64)))
    got = _packed_fft.cross_product(ref, mov, _energy(ref), _energy(mov), complex_dtype, _fft)
    assert got.dtype == complex_dtype and got.shape == want.shape
    # As close as separate transforms in the same precision are, and per bin
    # where both spectra carry energy (the phase of each bin is what phase
    # normalisation keeps).
    separate = _fft("rfftn", ref) * np.conj(_fft("rfftn", mov))
    strong = np.abs(want) > 1e-3 * np.max(np.abs(want))

    def per_bin(x):
        return float(np.max(np.abs(x[strong] / want[strong] - 1)))

    assert _relative(got, want) < TOLERANCE[dtype]
    assert per_bin(got) < 2e3 * TOLERANCE[dtype]
    if dtype == np.float32:  # (float64 separate transforms are the oracle's own)
        assert per_bin(got) < 5 * per_bin(separate)


def test_cross_product_declines_what_scaling_could_spoil(rng):
    ref = rng.standard_normal((64, 127)).astype(np.float32)
    zero = np.zeros_like(ref)
    tiny = ref * np.float32(1e-36)  # subnormal neighbourhood of float32
    for mov in (zero, tiny):
        assert _packed_fft.cross_product(ref, mov, _energy(ref), _energy(mov),
                                         np.dtype(np.complex64), _fft) is None


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_inverse_rows_is_irfftn(rng, shape, dtype):
    rows, cols = shape
    half = cols // 2 + 1
    spectrum = (rng.standard_normal((rows, half))
                + 1j * rng.standard_normal((rows, half))).astype(dtype)
    # irfftn ignores the imaginary parts of the DC (and Nyquist) bins of the
    # last axis after the leading-axis inverse; these have some.
    want = np.fft.irfftn(spectrum.astype(np.complex128), s=shape, axes=(0, 1), norm="forward")
    original = spectrum.copy()
    got = _packed_fft.inverse_rows(spectrum, shape, _fft)
    np.testing.assert_array_equal(spectrum, original)  # not overwritten by default
    assert got.dtype == np.empty(0, dtype).real.dtype and got.shape == shape
    assert _relative(got, want) < TOLERANCE[np.float32 if dtype == np.complex64 else np.float64]


@pytest.mark.parametrize("shape", [(96, 1009), (97, 251), (60, 502)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("upsample", [1, 20])
def test_phase_cross_correlation_on_packed_shapes(shape, dtype, upsample, camera):
    skimage_registration = pytest.importorskip("skimage.registration")
    # The host's packed path (or, for float32 and float64 pairs with a
    # prime side, the library's pair correlation).
    assert _packed_fft.pays(shape)
    ref = np.tile(camera, (1, 3))[:shape[0], :shape[1]].astype(dtype)
    moving = np.roll(ref, (5, -7), axis=(0, 1))
    shift, error, phasediff = ptychopatch.phase_cross_correlation(
        ref, moving, upsample_factor=upsample)
    theirs = skimage_registration.phase_cross_correlation(ref, moving,
                                                          upsample_factor=upsample)
    np.testing.assert_array_equal(shift, theirs[0])
    assert shift.dtype == theirs[0].dtype
    assert error.dtype == theirs[1].dtype and phasediff.dtype == theirs[2].dtype
    np.testing.assert_allclose(error, theirs[1], atol=1e-3)
    # Plain correlation: the error is telling (near zero for an exact roll,
    # so float32 rounding shows as about sqrt(eps) in it). Upsampled, the
    # broad peak of a smooth image is a near-tie in float32 for either
    # transform; whole pixels only.
    if upsample == 1:
        ours = ptychopatch.phase_cross_correlation(ref, moving, normalization=None)
        theirs = skimage_registration.phase_cross_correlation(ref, moving, normalization=None)
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_allclose(ours[1], theirs[1], atol=2e-3)


def test_packed_and_separate_transforms_agree(monkeypatch, rng):
    # Subpixel shifts of a noisy image, with and without packing: the same
    # shifts, errors to rounding.
    ref = rng.standard_normal((120, 509))
    spectrum = np.fft.fft2(ref)
    rows = np.fft.fftfreq(ref.shape[0])[:, None]
    cols = np.fft.fftfreq(ref.shape[1])[None, :]
    moving = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * (rows * 3.3 + cols * -7.6))).real
    moving += 0.2 * rng.standard_normal(ref.shape)
    results = []
    for packed in (True, False):
        monkeypatch.setattr(_packed_fft, "pays", lambda shape, packed=packed: packed)
        results.append(ptychopatch.phase_cross_correlation(ref, moving, upsample_factor=50))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][0], [-3.3, 7.6], atol=0.03)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-9)


# ----------------------------- the double path's peak from a float32 inverse


def _double_path(monkeypatch):
    """phase_cross_correlation with the float32 inverse turned off."""
    monkeypatch.setattr(registration, "_single_precision_peak", lambda *args: None)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(96, 1009), (97, 251), (61, 67), (200, 502)])
@pytest.mark.parametrize("normalization", ["phase", None])
@pytest.mark.parametrize("upsample", [1, 20])
def test_a_float32_inverse_finds_the_double_inverse_peak(rng, camera, monkeypatch, shape,
                                                         normalization, upsample):
    # float64 images on packed shapes: the peak of the float32 inverse,
    # checked in double, is the double inverse's: the same shifts, errors
    # and phase differences to the double sums' rounding. A photograph
    # (its large mean makes the plain correlation flat but for 0.5 %) and
    # noise, moved by a whole and a sub-pixel shift, with noise added.
    # The numpy double path: where the library has ptp_correlate_execute_f64,
    # float64 pairs of these (prime) shapes go to it instead; this path
    # serves libraries without it and packed shapes of smaller primes.
    monkeypatch.setattr(registration._native, "HAS_CORRELATE_F64", False)
    photo = np.tile(camera, (2, 6))[:shape[0], :shape[1]].astype(np.float64)
    noise = rng.standard_normal(shape)
    rows = np.fft.fftfreq(shape[0])[:, None]
    cols = np.fft.fftfreq(shape[1])[None, :]
    cases = []
    for ref in (photo, noise):
        for dy, dx in ((5, -7), (2.3, -4.6)):
            ramp = np.exp(-2j * np.pi * (rows * dy + cols * dx))
            moving = np.fft.ifft2(np.fft.fft2(ref) * ramp).real
            cases.append((ref, moving + 0.3 * ref.std() * rng.standard_normal(shape)))
    calls = []
    single = registration._single_precision_peak
    monkeypatch.setattr(registration, "_single_precision_peak",
                        lambda *args: calls.append(single(*args)) or calls[-1])
    ours = [ptychopatch.phase_cross_correlation(r, m, upsample_factor=upsample,
                                                normalization=normalization)
            for r, m in cases]
    # Decided from float32 but where the plain correlation of a flat patch
    # of the photograph (61 x 67 of its sky) leaves more candidates than it
    # sums in double.
    assert len(calls) == len(cases)
    decided = calls if normalization == "phase" else calls[2:]
    assert all(found is not None for found in decided)
    _double_path(monkeypatch)
    for (r, m), got in zip(cases, ours):
        want = ptychopatch.phase_cross_correlation(r, m, upsample_factor=upsample,
                                                   normalization=normalization)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got[2], want[2], atol=1e-9)


def test_candidates_near_the_float32_peak_are_decided_in_double(rng, monkeypatch):
    # Two peaks 2e-6 apart relative to their height (plain correlation is
    # linear: the moving image is the reference at two shifts, weighted
    # 1 and 1 - 2e-6): within float32's rounding of each other, far apart
    # in double. Both are summed in double, and the higher wins, in either
    # order of the two.
    shape = (64, 251)
    ref = rng.standard_normal(shape)
    for first, second in (((3, -5), (-9, 11)), ((-9, 11), (3, -5))):
        moving = np.roll(ref, first, axis=(0, 1)) + (1 - 2e-6) * np.roll(ref, second,
                                                                        axis=(0, 1))
        # The host's packed path: the numpy double path, as in the test above.
        monkeypatch.setattr(registration._native, "HAS_CORRELATE_F64", False)
        summed = []
        samples = registration._dft_samples
        monkeypatch.setattr(registration, "_dft_samples",
                            lambda *args: summed.append(1) or samples(*args))
        shift, _, _ = ptychopatch.phase_cross_correlation(ref, moving, normalization=None)
        np.testing.assert_array_equal(shift, [-first[0], -first[1]])
        assert len(summed) == 2
        monkeypatch.undo()


def test_a_flat_or_unrepresentable_correlation_takes_the_double_inverse():
    shape = (16, 127)
    half = (shape[0], shape[1] // 2 + 1)
    flat = np.zeros(half, np.complex128)
    flat[0, 0] = 1.0  # a constant correlation: every sample ties
    assert registration._single_precision_peak(flat, shape, 1, True) is None
    assert registration._single_precision_peak(np.zeros(half, np.complex128), shape, 1,
                                               False) is None
    huge = np.full(half, 1e300, np.complex128)
    huge[0, 0] = np.inf
    assert registration._single_precision_peak(huge, shape, 1, False) is None
    # A spike: one candidate, its value the double sum.
    spike = np.exp(-2j * np.pi * (np.arange(half[0])[:, None] * 3 / shape[0]
                                  + np.arange(half[1])[None, :] * 5 / shape[1]))
    peak, value = registration._single_precision_peak(spike, shape, 1, True)
    assert peak == (3, 5)
    want = np.fft.irfft2(spike, s=shape)[peak] * np.prod(shape)
    assert abs(value - want) < 1e-9 * abs(want)
