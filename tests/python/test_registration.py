"""ptychopatch.phase_cross_correlation, scikit-image's drop-in, against
skimage.registration.phase_cross_correlation as the oracle.

Every case compares the whole 3-tuple: the shift (values and dtype), the
error (dtype; value to rounding) and the phase difference (dtype; value to
rounding, modulo 2 pi). Where the result comes from the library (2-D real
images in real space) the tests also check that the library did compute it,
and where the library's peak cannot be scikit-image's, that the numpy path
took over. scikit-image's own tests run on ours in skimage_registration/.
"""

from __future__ import annotations

import doctest
import functools
import warnings

import numpy as np
import pytest

import ptychopatch
from ptychopatch import registration

skimage_registration = pytest.importorskip("skimage.registration")
ndi = pytest.importorskip("scipy.ndimage")
sp_fft = pytest.importorskip("scipy.fft")  # scikit-image's transforms
skimage_data = pytest.importorskip("skimage.data")
sk_pcc = skimage_registration.phase_cross_correlation
# The CPU backend, named: every call computes on the host whatever the
# backend (the library's pair correlation for the pairs where its FFTW is
# the faster, numpy for the others), as with the default backend="auto".
pcc = functools.partial(ptychopatch.phase_cross_correlation, backend="cpu")


# ----------------------------------------------------------------- helpers


class Routes:
    """Counts the calls of the library: its pair correlation
    (``library_calls``), those it answered (``library``) and those the
    numpy path answered after it (``fallback``: a non-finite spectrum);
    and calls of its alignment plan (``align_calls``), which no call may
    make (its phase correlation is retired)."""

    def __init__(self, monkeypatch):
        self.library = self.fallback = self.library_calls = self.align_calls = 0
        inner = registration._library_correlation
        align_run = ptychopatch.align._run

        def spy(*args, **kwargs):
            self.library_calls += 1
            result = inner(*args, **kwargs)
            if result is None:
                self.fallback += 1
            else:
                self.library += 1
            return result

        def run_spy(*args, **kwargs):
            self.align_calls += 1
            return align_run(*args, **kwargs)

        monkeypatch.setattr(registration, "_library_correlation", spy)
        monkeypatch.setattr(ptychopatch.align, "_run", run_spy)


@pytest.fixture
def routes(monkeypatch):
    return Routes(monkeypatch)


def _run_both(reference, moving, **kwargs):
    """(ours, theirs, our warnings, their warnings) of one call."""
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = sk_pcc(reference, moving, **kwargs)
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = pcc(reference, moving, **kwargs)
    return ours, theirs, ours_w, theirs_w


def _user_warnings(records):
    return [str(r.message) for r in records if issubclass(r.category, UserWarning)]


def assert_same(ours, theirs, *, shift_steps=0.0, phase_atol=1e-6):
    """ours == theirs: the shift exactly (or within `shift_steps` pixels),
    dtypes exactly, error and phasediff to rounding."""
    assert isinstance(ours, tuple) and len(ours) == 3
    shift, error, phasediff = ours
    sk_shift, sk_error, sk_phasediff = theirs
    assert isinstance(shift, np.ndarray)
    assert shift.dtype == sk_shift.dtype and shift.shape == sk_shift.shape
    if shift_steps:
        assert np.all(np.abs(shift - sk_shift) <= shift_steps + 1e-6), (shift, sk_shift)
    else:
        np.testing.assert_array_equal(shift, sk_shift)
    assert type(error) is type(sk_error), (type(error), type(sk_error))
    assert type(phasediff) is type(sk_phasediff), (type(phasediff), type(sk_phasediff))
    if np.isnan(sk_error):
        assert np.isnan(error)
    else:
        # error = sqrt(|1 - r|) with r near 1 carries rounding of r of the
        # order of the precision: compare the squares.
        single = np.asarray(sk_error).dtype == np.float32
        np.testing.assert_allclose(float(error) ** 2, float(sk_error) ** 2,
                                   rtol=1e-4 if single else 1e-9,
                                   atol=2e-5 if single else 1e-11)
    if np.isnan(sk_phasediff):
        assert np.isnan(phasediff)
    else:
        difference = np.angle(np.exp(1j * (float(phasediff) - float(sk_phasediff))))
        assert abs(difference) <= phase_atol + 1e-3 * abs(float(sk_phasediff)), \
            (phasediff, sk_phasediff)


def _fourier_shift(image, shift):
    moved = np.fft.ifftn(ndi.fourier_shift(np.fft.fftn(image), shift))
    return moved if np.iscomplexobj(image) else moved.real


@pytest.fixture(scope="module")
def camera():
    return skimage_data.camera()


# --------------------------------------------------------------- 2-D real


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float16, np.float32,
                                   np.float64, ">f4", bool])
@pytest.mark.parametrize("upsample", [1, 7, 20])
def test_dtypes_of_real_images(routes, camera, dtype, upsample):
    ref = camera[100:228, 150:310]
    mov = camera[109:237, 144:304]  # content moved by (-9, +6)
    if dtype is bool:
        ref, mov = ref > 100, mov > 100
    ours, theirs, _, _ = _run_both(ref.astype(dtype), mov.astype(dtype),
                                   upsample_factor=upsample)
    assert_same(ours, theirs, phase_atol=1e-2)
    # Native float32 pairs this small go to the library's pair correlation,
    # the others to numpy; none to its alignment plan (with backend="cpu",
    # all of them did before its phase correlation was retired).
    assert routes.library == (np.dtype(dtype) == np.dtype(np.float32))
    assert routes.fallback == routes.align_calls == 0
    np.testing.assert_allclose(ours[0], [9, -6], atol=1.0 / upsample)


@pytest.mark.parametrize("normalization", ["phase", None])
@pytest.mark.parametrize("upsample", [1, 10, 100])
@pytest.mark.parametrize("shape", [(96, 96), (97, 131), (64, 33), (1, 200), (150, 1)])
def test_random_subpixel_shifts(routes, rng, normalization, upsample, shape):
    smooth = ndi.gaussian_filter(rng.random((shape[0] + 40, shape[1] + 40)), 2)
    image = smooth[20:20 + shape[0], 20:20 + shape[1]] * 1000
    for _ in range(3):
        true = rng.uniform(-8, 8, size=2) * (np.array(shape) > 1)
        moving = _fourier_shift(image, true)
        ours, theirs, _, _ = _run_both(image, moving, upsample_factor=upsample,
                                       normalization=normalization)
        assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.align_calls == 0


@pytest.mark.parametrize("shift", [(0, 0), (5, -9), (-31, 17), (64, -64), (-60, 63)])
def test_circular_and_cropped_whole_pixel_shifts(routes, camera, shift):
    ref = camera[128:256, 200:328]
    for moving in (np.roll(ref, shift, axis=(0, 1)),
                   camera[128 - shift[0]:256 - shift[0], 200 - shift[1]:328 - shift[1]]):
        for normalization in ("phase", None):
            ours, theirs, _, _ = _run_both(ref, moving, normalization=normalization)
            assert_same(ours, theirs, phase_atol=1e-2)
    np.testing.assert_array_equal(pcc(ref, np.roll(ref, shift, axis=(0, 1)))[0],
                                  -((np.array(shift) + 64) % 128 - 64))
    assert routes.align_calls == 0


@pytest.mark.parametrize("backend", ["cpu", "auto"])
def test_single_precision_plain_upsampling_is_summed_in_double(camera, backend):
    # float32 images with plain correlation: the mean's huge DC term swamps
    # the subpixel peak's curvature in float32, where scikit-image sums its
    # upsampled DFT, so its shift is rounding. Ours is summed in double:
    # the oracle is scikit-image on the same images in float64.
    # (Summed in float32, ours was 1-2 steps off on the top-left crop, the
    # sky's, with OpenBLAS's AVX-512 kernels: (-2.25, 4.8), (-2.95, 5),
    # (-0.45, -2.65), (6.95, -10.95).)
    for crop in (camera[64:192, 64:192], camera[:63, :64]):
        ref = crop.astype(np.float32)
        for shift in ((2.37, -4.81), (3, -5), (0.4, 2.7), (-7, 11)):
            moving = _fourier_shift(ref, shift).astype(np.float32)
            ours = ptychopatch.phase_cross_correlation(ref, moving, upsample_factor=20,
                                                       normalization=None, backend=backend)
            theirs = sk_pcc(ref, moving, upsample_factor=20, normalization=None)
            exact = sk_pcc(ref.astype(np.float64), moving.astype(np.float64),
                           upsample_factor=20, normalization=None)
            np.testing.assert_allclose(ours[0], exact[0], rtol=0, atol=1e-6,
                                       err_msg=str((crop.shape, shift)))
            assert_same((theirs[0], ours[1], ours[2]), theirs, phase_atol=1e-2)
            assert ours[0].dtype == theirs[0].dtype


def test_inverted_contrast(routes, camera):
    # The negative peak of an inverted image: a correlation with each
    # image's mean removed would find it, scikit-image's (mean kept) may
    # not; ours is scikit-image's. (The library's alignment plan removed
    # the means; the numpy path answered after it.)
    ref = camera[100:228, 100:228]
    moving = 255 - np.roll(ref, (4, -7), axis=(0, 1))
    for upsample in (1, 10):
        ours, theirs, _, _ = _run_both(ref, moving, upsample_factor=upsample,
                                       normalization=None)
        assert_same(ours, theirs, phase_atol=1e-2)
        ours, theirs, _, _ = _run_both(ref.astype(float), moving.astype(float),
                                       upsample_factor=upsample)
        assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.align_calls == 0


@pytest.mark.parametrize("normalization", ["phase", None])
def test_single_precision_images_in_tiny_units(routes, camera, normalization):
    # scikit-image's phase guard covers such images' bins, and from about
    # 1e-30 their product underflows float32: the shift is scikit-image's
    # (the library's alignment plan, which scales planes with N max|x -
    # mean| < 1 up, gave (-1.7, -1.7) for their (-0.7, -0.7) at 1e-30,
    # u = 10, and was kept from them; the pair correlation does not scale).
    ref = camera[100:164, 150:214].astype(np.float64)
    moving = np.roll(camera, (3, -5), axis=(0, 1))[100:164, 150:214].astype(np.float64)
    for scale in (1e-10, 1e-30):
        for upsample in (1, 10):
            ours, theirs, _, _ = _run_both((ref * scale).astype(np.float32),
                                           (moving * scale).astype(np.float32),
                                           upsample_factor=upsample,
                                           normalization=normalization)
            np.testing.assert_array_equal(ours[0], theirs[0], err_msg=str((scale, upsample)))
    assert routes.align_calls == 0


def test_float64_detail_on_a_large_offset(routes, rng):
    # float32 would lose the detail: float64 images stay in float64 (the
    # library's alignment plan got them centred in float64 before they
    # were rounded to float32).
    detail = ndi.gaussian_filter(rng.random((80, 90)), 1.5) * 1e-3
    ref = 1e6 + detail
    moving = 1e6 + np.roll(detail, (3, 8), axis=(0, 1))
    ours, theirs, _, _ = _run_both(ref, moving, upsample_factor=4)
    assert_same(ours, theirs, phase_atol=1e-2)
    np.testing.assert_array_equal(ours[0], [-3, -8])
    assert routes.library_calls == routes.align_calls == 0


def test_library_options_are_passed(routes, camera):
    ref = camera[:96, :96].astype(np.float32)
    moving = np.roll(ref, (2, 3), axis=(0, 1))
    for kwargs in ({"backend": "cpu"}, {"num_threads": 1}, {"planning": "estimate"},
                   {"planning": "measure"}):
        np.testing.assert_array_equal(pcc(ref, moving, **kwargs)[0], [-2, -3])
    assert routes.library_calls == routes.library == 4
    assert routes.align_calls == 0


# -------------------------------------------------------------- numpy path


@pytest.mark.parametrize("shape", [(40,), (17, 19, 12), (6, 8, 10, 6)])
@pytest.mark.parametrize("upsample", [1, 10])
def test_nd_real(routes, rng, shape, upsample):
    image = ndi.gaussian_filter(rng.random(shape), 1) * 50
    true = rng.uniform(-3, 3, size=len(shape))
    for normalization in ("phase", None):
        ours, theirs, _, _ = _run_both(image, _fourier_shift(image, true),
                                       upsample_factor=upsample, normalization=normalization)
        assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.library_calls == 0


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("upsample", [1, 3, 10])
def test_complex_images(routes, rng, dtype, upsample):
    image = ndi.gaussian_filter(rng.random((48, 40)), 1) + 1j * ndi.gaussian_filter(
        rng.random((48, 40)), 1)
    moving = _fourier_shift(image, (1.3, -2.6)) * np.exp(0.7j)
    for normalization in ("phase", None):
        ours, theirs, _, _ = _run_both(image.astype(dtype), moving.astype(dtype),
                                       upsample_factor=upsample, normalization=normalization)
        assert_same(ours, theirs)
        assert abs(float(ours[2]) + 0.7) < 0.1  # the global phase, recovered
    assert routes.library_calls == 0


@pytest.mark.parametrize("upsample", [1, 10])
def test_fourier_space(routes, camera, upsample):
    spectrum = np.fft.fftn(camera[:128, :128].astype(float))
    moved = ndi.fourier_shift(spectrum, (-3.3, 7.6))
    for normalization in ("phase", None):
        ours, theirs, _, _ = _run_both(spectrum, moved, space="FOURIER",
                                       upsample_factor=upsample, normalization=normalization)
        assert_same(ours, theirs)
    assert routes.library_calls == 0


@pytest.mark.parametrize("upsample", [1, 4])
def test_real_arrays_in_fourier_space_warn_and_keep_the_complex_kernel(camera, upsample):
    # Real "spectra" are most likely images passed with the wrong space:
    # they warn. scikit-image, above u = 1, casts its upsampling kernel to
    # the real dtype (ComplexWarning) and moves the sub-pixel shift; ours
    # must equal scikit-image's on the same spectra cast to complex.
    image = camera[:64, :64].astype(float)
    ref = np.fft.fftn(image).real
    mov = np.fft.fftn(np.roll(image, (3, -2), axis=(0, 1))).real
    with pytest.warns(UserWarning, match='pass space="real"'):
        ours = pcc(ref, mov, space="fourier", upsample_factor=upsample)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theirs = sk_pcc(ref.astype(complex), mov.astype(complex), space="fourier",
                        upsample_factor=upsample)
    # The real part of a spectrum is the spectrum of the image's even part,
    # whose cross-correlation is even too: its peaks at +s and -s tie
    # exactly, and which one an argmax takes depends on the FFT's rounding
    # (scipy 1.17 gives scikit-image 0.26 the one ours takes, scipy 1.18
    # the other, 2026-11-26). Either is scikit-image's answer.
    assert np.array_equal(np.abs(ours[0]), [3, 2]), ours[0]
    if not np.array_equal(ours[0], theirs[0]):
        theirs = (-theirs[0], theirs[1], theirs[2])
    assert_same(ours, theirs)


@pytest.mark.slow
@pytest.mark.parametrize("upsample", [2.5, 1.5, 1500])
def test_upsample_factors_the_library_does_not_take(routes, camera, upsample):
    ref = camera[200:264, 200:264]
    moving = _fourier_shift(ref.astype(float), (1.37, -2.71))
    ours, theirs, _, _ = _run_both(ref, moving, upsample_factor=upsample)
    assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.library_calls == 0


def test_integral_float_upsample_factor_is_an_integer(routes, camera):
    ref = camera[200:264, 200:264]
    moving = _fourier_shift(ref.astype(float), (1.37, -2.71))
    ours, theirs, _, _ = _run_both(ref, moving, upsample_factor=10.0)
    assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.align_calls == 0


@pytest.mark.parametrize("shift", [(30, -40), (-90, 100), (12.5, -20.25)])
@pytest.mark.parametrize("space", ["real", "fourier"])
def test_disambiguate(camera, shift, space):
    ref = camera[100:300, 100:300]
    whole = np.round(shift).astype(int)
    moving = camera[100 + whole[0]:300 + whole[0], 100 + whole[1]:300 + whole[1]]
    if shift[0] % 1:
        moving = ndi.shift(camera.astype(float), -np.array(shift), order=3)[100:300, 100:300]
    if space == "fourier":
        ref, moving = np.fft.fftn(ref), np.fft.fftn(moving)
    ours, theirs, ours_w, theirs_w = _run_both(ref, moving, disambiguate=True, space=space,
                                               upsample_factor=4)
    assert_same(ours, theirs, phase_atol=1e-2)
    assert len(_user_warnings(ours_w)) == len(_user_warnings(theirs_w))
    if space == "real":
        np.testing.assert_allclose(ours[0], shift, atol=0.25)


def test_periodic_spline_shift_is_scipys(rng):
    for dtype in (np.float64, np.float32, np.uint8, np.int16, np.complex128, bool):
        image = (rng.random((9, 12)) * 100).astype(dtype) if dtype is not bool else \
            rng.random((9, 12)) > 0.5
        if np.iscomplexobj(image):
            image = image + 1j * rng.random((9, 12))
        for shift in ((0.5, -1.25), (3, 2.75), (-4, 1)):
            ours = registration._periodic_shift(image, np.array(shift), -1)
            theirs = ndi.shift(image, shift, mode="grid-wrap",
                               order=3 if np.any(np.array(shift) % 1) else 0)
            assert ours.dtype == theirs.dtype
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * 100
                                       if dtype != np.uint8 else 1)


# ------------------------------------------------------------------- masks


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_random_masks(routes, camera, rng, dtype):
    ref = camera[100:228, 100:228].astype(dtype)
    moving = np.roll(camera, (-5, 9), axis=(0, 1))[100:228, 100:228].astype(dtype)
    ref_mask = rng.random(ref.shape) < 0.75
    mov_mask = rng.random(ref.shape) < 0.75
    for overlap in (0.3, 0.1):
        ours, theirs, _, _ = _run_both(ref, moving, reference_mask=ref_mask,
                                       moving_mask=mov_mask, overlap_ratio=overlap)
        assert_same(ours, theirs)
        np.testing.assert_array_equal(ours[0], [5, -9])
        assert ours[1] is np.nan or np.isnan(ours[1])
    # moving_mask defaults to reference_mask.
    ours, theirs, _, _ = _run_both(ref, moving, reference_mask=ref_mask)
    assert_same(ours, theirs)
    assert routes.library_calls == 0


def test_masks_with_different_shapes_and_nan_outside(camera):
    ref = camera[100:300, 100:300].astype(float)
    moving = camera[110:250, 96:236].astype(float)  # smaller, moved
    ref_mask = np.ones(ref.shape, bool)
    mov_mask = np.ones(moving.shape, bool)
    ref_mask[:20, :] = False
    ref[:20, :] = np.nan  # invalid pixels may hold anything
    ours, theirs, _, _ = _run_both(ref, moving, reference_mask=ref_mask, moving_mask=mov_mask)
    assert_same(ours, theirs)
    assert np.all(np.isfinite(ours[0]))


def test_masked_3d(rng):
    volume = ndi.gaussian_filter(rng.random((12, 40, 44)), 1.5)
    moving = ndi.shift(volume, (1, -3, 4))
    mask = np.zeros(volume.shape, bool)
    mask[2:10, 8:32, 8:36] = True
    ours, theirs, _, _ = _run_both(volume, moving, reference_mask=mask, moving_mask=mask)
    assert_same(ours, theirs)
    np.testing.assert_array_equal(ours[0], [-1, 3, -4])


def test_mask_errors(camera):
    ref = camera[:64, :64].astype(float)
    mask = np.ones(ref.shape, bool)
    with pytest.raises(ValueError, match="mask sizes"):
        pcc(ref, ref, reference_mask=mask[:, :10])
    with pytest.raises(ValueError, match="moving_mask must be"):
        pcc(ref, ref[:50], reference_mask=mask)
    with pytest.raises(ValueError, match="reference_mask"):
        pcc(ref, ref, moving_mask=mask)
    with pytest.raises(ValueError, match="complex"):
        pcc(ref + 1j, ref, reference_mask=mask)
    bad = ref.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pcc(bad, ref, reference_mask=mask)
    with pytest.raises(ValueError, match="dimensions"):
        pcc(ref, ref[None], reference_mask=mask, moving_mask=np.ones((1, 64, 64), bool))


# -------------------------------------------------------- edge cases, API


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", [0, 1])
def test_non_finite_values_are_a_value_error(camera, value, which):
    images = [camera[:64, :64].astype(np.float32), camera[5:69, :64].astype(np.float32)]
    images[which][10, 20] = value
    kept = [image.copy() for image in images]
    for kwargs in ({}, {"upsample_factor": 10}, {"space": "fourier"}, {"disambiguate": True}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and no RuntimeWarning first
            # scikit-image's opening words first (a filter on them matches).
            with pytest.raises(ValueError, match=r"^NaN values found \(or infinite ones\)"):
                pcc(*images, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-image warns first
            with pytest.raises(ValueError):
                sk_pcc(*images, **kwargs)
    for image, before in zip(images, kept):
        np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("shape", [(64, 64), (64, 127)])  # (64, 127): the packed inverse
@pytest.mark.parametrize("backend", ["auto", "cpu"])
def test_transforms_that_overflow_are_a_value_error(camera, shape, backend):
    # Finite float32 images whose spectra overflow float32: the correlation
    # is NaN. scikit-image raises ValueError; so do we, never a shift.
    ref = (camera[:shape[0], :shape[1]].astype(np.float32) - 100) * np.float32(1e34)
    moving = np.roll(ref, (2, 3), axis=(0, 1))
    assert np.all(np.isfinite(ref))
    for kwargs in ({}, {"upsample_factor": 10}, {"normalization": None}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's overflow warnings come first
            with pytest.raises(ValueError, match="overflow float32"):
                ptychopatch.phase_cross_correlation(ref, moving, backend=backend, **kwargs)
            with pytest.raises(ValueError):
                sk_pcc(ref, moving, **kwargs)
    # In double precision the same values are fine.
    shift, _, _ = ptychopatch.phase_cross_correlation(ref.astype(np.float64),
                                                      moving.astype(np.float64),
                                                      backend=backend)
    np.testing.assert_array_equal(shift, [-2, -3])
    # Smaller, without normalisation: the spectrum's bins are finite but an
    # inverse without its 1/N would overflow; scikit-image's (scaled within
    # its first pass) finds the shift, and so must ours.
    ref = (np.random.default_rng(7).standard_normal(shape) * 1e16).astype(np.float32)
    moving = np.roll(ref, (2, 3), axis=(0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sk_pcc(ref, moving, normalization=None)
        ours = ptychopatch.phase_cross_correlation(ref, moving, normalization=None,
                                                   backend=backend)
    np.testing.assert_array_equal(theirs[0], [-2, -3])
    np.testing.assert_array_equal(ours[0], theirs[0])


@pytest.mark.parametrize("upsample", [1, 10])
@pytest.mark.parametrize("pair", ["zero-zero", "zero-image", "image-zero", "flat-image",
                                  "flat-flat"])
@pytest.mark.parametrize("width", [50, 127])  # separate, and packed (_packed_fft) transforms
def test_constant_images(monkeypatch, routes, camera, upsample, pair, width):
    """Each pair holds a constant image, whose spectrum is zero off the DC
    bin: so is the cross-power spectrum, and the correlation is flat, every
    shift a tie. What is meaningful: scikit-image's error, phasediff,
    dtypes and warnings; the numpy path, unpacked (the library's rounding
    or, packed, the other image's would reach the empty bins); and a shift
    of the tie set, which is scikit-image's own only where its ties are
    exact in floating point too."""
    image = camera[:48, :width]
    zero = np.zeros_like(image)
    flat = np.full_like(image, 7)
    a, b = {"zero-zero": (zero, zero), "zero-image": (zero, image),
            "image-zero": (image, zero), "flat-image": (flat, image),
            "flat-flat": (flat, flat)}[pair]
    packed = []
    cross_product = registration._packed_fft.cross_product
    monkeypatch.setattr(registration._packed_fft, "cross_product",
                        lambda *args: packed.append(1) or cross_product(*args))
    ours, theirs, ours_w, theirs_w = _run_both(a, b, upsample_factor=upsample)
    assert not packed and routes.library_calls == routes.library == routes.fallback == 0
    assert_same((theirs[0], ours[1], ours[2]), theirs)
    assert ours[0].dtype == theirs[0].dtype and ours[0].shape == theirs[0].shape
    if not np.any((sp_fft.fftn(a) * sp_fft.fftn(b).conj()).flat[1:]):
        # Exactly zero off DC (a zero image; a flat one of 48 x 50): every
        # sample is the DC term plus exact zeros, in any summation order,
        # and both take numpy argmax's first.
        np.testing.assert_array_equal(ours[0], theirs[0])
    else:
        # A flat image of 127 columns leaves about 1e-12 of rounding in its
        # transform's first row, which phase normalisation raises to unit
        # bins: scikit-image's shift is that rounding's argmax, and along the
        # rows, where its samples are equal, which one ours takes depends on
        # OpenBLAS's kernels (AVX-512 and AVX2 ones round equal rows
        # differently). A shift of the search, then: on the 1/u grid, within
        # 0.75 px (the refined region) of a whole pixel of the wrapped range.
        np.testing.assert_array_equal(ours[0] * upsample, np.round(ours[0] * upsample))
        reach = np.array(image.shape) // 2 + (0.75 if upsample > 1 else 0.0)
        assert np.all(np.abs(ours[0]) <= reach), ours[0]
    assert [w.split(":")[0][:40] for w in _user_warnings(ours_w)] == \
        [w.split(":")[0][:40] for w in _user_warnings(theirs_w)]
    if "zero" in pair:
        assert np.isnan(ours[1])
        assert "Could not determine RMS error between images" in _user_warnings(ours_w)[0]


def test_warnings_point_at_the_caller(camera):
    zero = np.zeros((40, 40))
    with pytest.warns(UserWarning) as records:
        pcc(zero, zero, disambiguate=True)  # the line the warnings must name
    line = test_warnings_point_at_the_caller.__code__.co_firstlineno + 3
    assert len(records) == 2
    assert "Could not determine real-space shift" in str(records[0].message)
    assert "Could not determine RMS error" in str(records[1].message)
    for record in records:
        assert record.filename == __file__ and record.lineno == line


def test_shape_mismatch_and_bad_options(camera):
    ref = camera[:32, :32]
    with pytest.raises(ValueError, match="same shape"):
        pcc(ref, ref[:, :31])
    with pytest.raises(ValueError, match="same shape"):
        pcc(ref, ref[None])
    with pytest.raises(ValueError, match="space"):
        pcc(ref, ref, space="frank")
    with pytest.raises(ValueError, match="normalization"):
        pcc(ref, ref, normalization="magnitude")
    for bad in (0, -3, 0.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="upsample_factor"):
            pcc(ref, ref, upsample_factor=bad)
    with pytest.raises(TypeError, match="upsample_factor"):
        pcc(ref, ref, upsample_factor="10")
    with pytest.raises(ValueError, match="backend"):
        pcc(ref, ref, backend="tpu")
    with pytest.raises(ValueError, match="planning"):
        pcc(ref, ref, planning="always")
    with pytest.raises(TypeError, match="numbers"):
        pcc(ref.astype(str), ref)
    with pytest.raises(ValueError, match="non-empty"):
        pcc(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(TypeError):
        pcc(ref, ref, 10)  # keyword-only, as in scikit-image
    # "none" is accepted for None.
    assert_same(pcc(ref, np.roll(ref, 3, axis=0), normalization="none"),
                sk_pcc(ref, np.roll(ref, 3, axis=0), normalization=None), phase_atol=1e-2)


@pytest.mark.parametrize("width", [64, 127])  # 127: packed transforms (_packed_fft)
def test_inputs_are_not_modified(camera, rng, width):
    ref = camera[:64, :width].astype(np.float32)
    moving = np.roll(ref, 3, axis=1)
    mask = rng.random(ref.shape) < 0.8
    for array in (ref, moving, mask):
        array.setflags(write=False)
    for kwargs in ({}, {"upsample_factor": 10, "disambiguate": True},
                   {"reference_mask": mask}, {"space": "fourier"},
                   {"normalization": None}):
        pcc(ref, moving, **kwargs)
        ptychopatch.phase_cross_correlation(ref, moving, **kwargs)


def test_lists_and_views(camera):
    ref = camera[:60, :60]
    wide = np.zeros((60, 120), np.uint8)
    wide[:, ::2] = np.roll(ref, (2, -3), axis=(0, 1))
    ours = pcc(ref.tolist(), wide[:, ::2], upsample_factor=10)
    np.testing.assert_array_equal(ours[0], [-2, 3])
    assert ours[0].dtype == np.float64


def test_without_scipy_fft(monkeypatch, routes, camera, rng):
    # SciPy is optional for the package: numpy.fft does the host FFTs then.
    # (What is learnt once per dtype without SciPy stays in this test.)
    monkeypatch.setattr(registration, "_scipy_fft", None)
    monkeypatch.setattr(registration, "_INVERSE_IN_STEPS", {})
    ref = camera[100:196, 120:220].astype(np.float32)
    moving = _fourier_shift(ref, (2.3, -5.6)).astype(np.float32)
    mask = rng.random(ref.shape) < 0.8
    for kwargs in ({}, {"upsample_factor": 10}, {"normalization": None},
                   {"disambiguate": True, "upsample_factor": 4}, {"reference_mask": mask}):
        ours, theirs, _, _ = _run_both(ref, moving, **kwargs)
        assert_same(ours, theirs, phase_atol=1e-2)
    volume = ndi.gaussian_filter(rng.random((10, 12, 14)), 1)
    ours, theirs, _, _ = _run_both(volume, _fourier_shift(volume, (1.5, -2, 3)),
                                   upsample_factor=10)
    assert_same(ours, theirs, phase_atol=1e-2)
    assert routes.library >= 3


def test_small_transforms_run_on_one_thread(monkeypatch, camera):
    # num_threads=0 leaves the count to us: transforms under
    # _THREADED_MIN_SIZE elements run on one thread (waking scipy's threads
    # costs more than they save there), larger ones on every core; an
    # explicit count is obeyed whatever the size.
    scipy_fft = registration._scipy()
    if scipy_fft is None:
        pytest.skip("scipy.fft is not installed")
    seen = []

    class Spy:
        def __getattr__(self, name):
            function = getattr(scipy_fft, name)

            def call(x, *args, workers=None, **kwargs):
                out = function(x, *args, workers=workers, **kwargs)
                # The transform's size in real space: a real output's, a
                # real input's (the even last side of these images, from
                # the half spectrum), a complex one's own.
                if name.startswith("irfft"):
                    size = out.size
                elif name.startswith("rfft"):
                    size = out.size // out.shape[-1] * 2 * (out.shape[-1] - 1)
                else:
                    size = x.size
                seen.append((size, workers))
                return out
            return call

    monkeypatch.setattr(registration, "_scipy_fft", Spy())
    limit = registration._THREADED_MIN_SIZE
    # float64: small float32 pairs are correlated by the library's FFTW
    # (test_small_float32_pairs_use_the_library), not by scipy.fft.
    small = camera[:128, :128].astype(np.float64)
    large = camera.astype(np.float64)  # 512 x 512
    for image, threads in ((small, 0), (small, 2), (large, 0), (large, 3)):
        seen.clear()
        ours = ptychopatch.phase_cross_correlation(image, np.roll(image, (2, -3), (0, 1)),
                                                   num_threads=threads)
        np.testing.assert_array_equal(ours[0], [-2, 3])
        assert seen
        for size, workers in seen:
            expected = threads if threads else (-1 if size >= limit else 1)
            assert workers == expected, (image.shape, threads, size, workers)
    assert limit > small.size and limit <= large.size
    # Masked registration pads each side to about twice: a 384 x 384 image
    # (under the limit) is transformed at 768 x 768 (over it), threaded.
    middle = camera[:384, :384].astype(np.float32)
    seen.clear()
    ptychopatch.phase_cross_correlation(middle, np.roll(middle, (2, -3), (0, 1)),
                                        reference_mask=np.ones(middle.shape, dtype=bool))
    padded = [workers for size, workers in seen if size > limit > middle.size]
    assert padded and all(workers == -1 for workers in padded), seen
    assert all(workers == (-1 if size >= limit else 1) for size, workers in seen), seen


def test_docstring_example():
    failures, tried = doctest.testmod(registration, verbose=False, report=True)[:2]
    assert tried >= 5 and failures == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("upsample", [1, 20])
def test_every_backend_computes_on_the_host(routes, camera, dtype, upsample):
    # backend="auto" and "cpu" (and "gpu" where one is usable) take the same
    # host path: never the library's alignment plan, whose phase
    # correlation is retired (it took "cpu", and "auto" on a GPU, before).
    ref = camera[100:228, 150:310].astype(dtype)
    mov = camera[109:237, 144:304].astype(dtype)  # content moved by (-9, +6)
    theirs = sk_pcc(ref, mov, upsample_factor=upsample)
    backends = ["auto", "cpu"] + (["gpu"] if ptychopatch.cuda_device_count() > 0 else [])
    for backend in backends:
        ours = ptychopatch.phase_cross_correlation(ref, mov, upsample_factor=upsample,
                                                   backend=backend)
        assert_same(ours, theirs)
        np.testing.assert_array_equal(ours[0], theirs[0])
    assert routes.align_calls == 0
    assert routes.library_calls == (len(backends) if dtype is np.float32 else 0)


# ------------------------------------------- fast paths of the numpy path


def _numpy_path_results(rng):
    """(arguments, result) of numpy-path calls covering both phase and plain
    correlation, upsampling factors that take the phasor tables and one that
    does not, real and complex, float32 and float64 images."""
    photo = skimage_data.camera().astype(np.float64)
    cases = []
    for dtype in (np.float32, np.float64, np.complex64, np.complex128):
        for upsample in (1, 3, 20, 2.5):
            for normalization in ("phase", None):
                ref = photo[:70, :90] + rng.standard_normal((70, 90))
                mov = np.roll(ref, (3, -4), axis=(0, 1)) + rng.standard_normal((70, 90))
                if np.dtype(dtype).kind == "c":
                    ref = ref + 1j * rng.standard_normal(ref.shape)
                    mov = mov + 1j * rng.standard_normal(mov.shape)
                kwargs = dict(upsample_factor=upsample, normalization=normalization)
                cases.append((ref.astype(dtype), mov.astype(dtype), kwargs))
    return [(case, ptychopatch.phase_cross_correlation(case[0], case[1], backend="auto",
                                                       num_threads=1, **case[2]))
            for case in cases]


def _assert_same_results(expected, monkeypatch_label):
    for (ref, mov, kwargs), want in expected:
        got = ptychopatch.phase_cross_correlation(ref, mov, backend="auto", num_threads=1,
                                                  **kwargs)
        for a, b in zip(want, got):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype, (monkeypatch_label, ref.dtype, kwargs)
            assert np.array_equal(a, b, equal_nan=True), (monkeypatch_label, ref.dtype, kwargs)


def test_phase_normalisation_by_reciprocal_is_numpys_complex_division(monkeypatch):
    """The phase normalisation multiplies by the rounded reciprocal where
    numpy's complex division does exactly that (checked once per dtype);
    results are bitwise those of the complex division itself."""
    assert registration._reciprocal_division(np.dtype(np.complex64))
    assert registration._reciprocal_division(np.dtype(np.complex128))
    expected = _numpy_path_results(np.random.default_rng(3))
    monkeypatch.setattr(registration, "_RECIPROCAL_DIVISION", {"F": False, "D": False})
    _assert_same_results(expected, "complex division")


def test_upsampled_dft_phasor_tables_equal_computed_phasors(monkeypatch):
    """The upsampled DFT's kernels from the cached phasor tables are
    bitwise the phasors computed per call."""
    registration._phasor_table.cache_clear()
    expected = _numpy_path_results(np.random.default_rng(4))
    assert registration._phasor_table.cache_info().currsize > 0
    monkeypatch.setattr(registration, "_PHASOR_TABLE_MAX", 0)
    _assert_same_results(expected, "computed phasors")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inverse_in_two_steps_is_scipys_irfftn(dtype):
    """The real inverse transform as two scipy.fft calls and one 1/N
    product equals scipy.fft.irfftn bitwise (prime, odd, even and n-D
    shapes), and this scipy takes that route."""
    scipy_fft = pytest.importorskip("scipy.fft")
    rng = np.random.default_rng(11)
    spectrum_dtype = np.result_type(dtype, np.complex64)
    assert registration._inverse_in_steps(np.dtype(spectrum_dtype))
    for shape in [(7, 6), (64, 64), (63, 65), (97, 101), (1, 9), (9, 1), (5, 7, 9),
                  (2, 3, 4, 5)]:
        spectrum = scipy_fft.rfftn(rng.standard_normal(shape).astype(dtype))
        expected = scipy_fft.irfftn(spectrum, s=shape, axes=tuple(range(len(shape))))
        kept = spectrum.copy()
        got = registration._inverse_real(spectrum, shape, 1)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected, err_msg=str(shape))
        np.testing.assert_array_equal(spectrum, kept)  # not overwritten unless asked


def test_results_do_not_depend_on_the_inverse_route(monkeypatch, rng):
    """Whole calls (numpy path, masks, disambiguation) are bitwise the same
    with scipy.fft.irfftn itself as the inverse."""
    expected = _numpy_path_results(np.random.default_rng(5))
    photo = skimage_data.camera().astype(np.float64)
    ref, mov = photo[:61, :67], np.roll(photo, (2, -3), axis=(0, 1))[:61, :67]
    mask = np.ones(ref.shape, dtype=bool)
    mask[:, :5] = False
    extra = [((ref, mov, {"reference_mask": mask}), None),
             ((ref, mov, {"disambiguate": True, "upsample_factor": 3.5}), None)]
    extra = [(case, ptychopatch.phase_cross_correlation(case[0], case[1], backend="auto",
                                                        num_threads=1, **case[2]))
             for case, _ in extra]
    monkeypatch.setattr(registration, "_INVERSE_IN_STEPS", {"F": False, "D": False})
    _assert_same_results(expected + extra, "scipy's irfftn")


def test_argmax_of_magnitude_without_the_magnitudes(rng):
    """_argmax_abs is np.argmax(np.abs(x)): first index on ties between a
    maximum and a minimum, NaN first, infinities, signed zeros."""
    cases = [rng.standard_normal(1000), np.array([1.0, -3.0, 3.0]), np.array([1.0, 3.0, -3.0]),
             np.array([-3.0, 1.0, 3.0]), np.array([1.0, np.nan, -3.0, np.nan]),
             np.array([2.0, -np.inf, np.inf]), np.array([-0.0, 0.0]), np.zeros(5),
             np.array([-1.0, -1.0, 1.0]), np.array([5.0], dtype=np.float32),
             np.round(rng.standard_normal((40, 30)) * 2).astype(np.float32)]
    for values in cases:
        assert registration._argmax_abs(values) == int(np.argmax(np.abs(values))), values


def test_float32_energy_is_accurate_and_cannot_overflow(rng):
    """sum x^2 of float32 images (float32 blocks, double between them) is
    within 1e-7 of the exact sum (scikit-image's own float32 sum is off by
    about that), and blocks whose float32 squares overflow are summed in
    double."""
    for shape, scale in [((512, 512), 1.0), ((257, 131), 1e3), ((3, 1000), 1e-20),
                         ((1000,), 1.0)]:
        x = (rng.standard_normal(shape) * scale).astype(np.float32)
        exact = float(np.sum(np.square(x.astype(np.longdouble))))
        assert registration._energy(x) == pytest.approx(exact, rel=1e-7)
        z = (x + 1j * x[::-1]).astype(np.complex64)
        exact_z = float(np.sum(np.square(z.real.astype(np.longdouble)))
                        + np.sum(np.square(z.imag.astype(np.longdouble))))
        assert registration._energy(z) == pytest.approx(exact_z, rel=1e-7)
    huge = np.full((40, 50), 3e19, dtype=np.float32)  # squares overflow float32
    assert registration._energy(huge) == pytest.approx(2000 * float(np.float32(3e19)) ** 2,
                                                       rel=1e-12)


def test_huge_finite_values_are_not_called_non_finite(camera):
    """Images whose sum of squares overflows but whose values are finite are
    not called non-finite (the finiteness check runs where the sum is not
    finite); their spectra overflow too, which is the error (scikit-image
    raises ValueError for the NaN peak as well). A little smaller, they go
    through."""
    image = camera[:32, :32].astype(np.float64) * 1e160
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="overflow float64") as raised:
            ptychopatch.phase_cross_correlation(image, np.roll(image, 2, axis=0),
                                                num_threads=1)
        assert "NaN or infinite" not in str(raised.value)
        with pytest.raises(ValueError):
            sk_pcc(image, np.roll(image, 2, axis=0))
    image = camera[:32, :32].astype(np.float64) * 1e140
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the error's product of amplitudes overflows, as theirs
        shift, _, _ = ptychopatch.phase_cross_correlation(image, np.roll(image, 2, axis=0),
                                                          num_threads=1)
    np.testing.assert_array_equal(shift, [-2, 0])


def test_matrix_contraction_is_tensordots(rng):
    """The upsampled DFT's contraction of a matrix (many kernel rows) is
    bitwise np.tensordot's, along either axis, for strided data too."""
    for dtype in (np.complex64, np.complex128):
        data = (rng.standard_normal((40, 70)) + 1j * rng.standard_normal((40, 70))).astype(dtype)
        for matrix in (data, data[::2, 1::3], data.T):
            for axis in (0, 1):
                kernel = (rng.standard_normal((30, matrix.shape[axis]))
                          + 1j * rng.standard_normal((30, matrix.shape[axis]))).astype(dtype)
                expected = np.moveaxis(np.tensordot(kernel, matrix, axes=(1, axis)), 0, axis)
                got = registration._contract_axis(kernel, matrix, axis)
                assert got.shape == expected.shape
                np.testing.assert_array_equal(got, expected)


def test_signed_shift_of_a_peak_index(rng):
    """_wrap: indices past the middle of their axis less its length, in the
    shift's dtype, rounded as numpy rounds them (sides beyond 2**24 too)."""
    def reference(index, shape, dtype):
        shift = np.asarray(index).astype(dtype)
        over = shift > np.array([np.trunc(n / 2) for n in shape])
        shift[over] -= np.array(shape)[over]
        return shift

    for dtype in (np.float32, np.float64):
        cases = [((0,), (1,)), ((1, 2), (2, 4)), ((2, 3), (4, 5)), ((3, 2, 1), (4, 5, 2))]
        for _ in range(2000):
            shape = tuple(int(n) for n in rng.integers(1, 2**26, rng.integers(1, 4)))
            cases.append((tuple(np.intp(rng.integers(0, n)) for n in shape), shape))
        for index, shape in cases:
            got = registration._wrap(index, shape, np.dtype(dtype))
            want = reference(index, shape, np.dtype(dtype))
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


# ------------------------------------ small float32 pairs: ptp_correlate_*


class CorrelateCalls:
    """Counts ptp_correlate_execute calls (the library's FFTW correlation of
    small float32 pairs, registration._library_correlation), or those of
    `function` (correlate_execute_f64: float64 pairs)."""

    def __init__(self, monkeypatch, function="correlate_execute"):
        self.count = 0
        inner = getattr(registration._native, function)

        def spy(*args):
            self.count += 1
            return inner(*args)

        monkeypatch.setattr(registration._native, function, spy)


needs_correlate = pytest.mark.skipif(not registration._native.HAS_CORRELATE,
                                     reason="the library lacks ptp_correlate_*")


@pytest.mark.slow
@needs_correlate
@pytest.mark.parametrize("normalization", ["phase", None])
@pytest.mark.parametrize("upsample", [1, 20])
def test_small_float32_pairs_use_the_library(monkeypatch, camera, normalization, upsample):
    """Default backend, float32, 2-D, at most 2^18 pixels: the library's
    FFTW correlates the pair, and the results are scikit-image's (shift
    exactly, error and phasediff to float32 rounding), on odd, even and
    sub-pixel shifts of a photograph and of noise. Without normalisation
    and upsampled, a photograph's sub-pixel peak varies by less than
    float32 resolves of its mean's DC term (registration._sample_dtype):
    scikit-image's float32 shift there is rounding (up to 3 steps off on
    these crops, and which samples tie depends on OpenBLAS's kernels),
    ours is summed in double, and the oracle is scikit-image on the same
    images in float64."""
    plain_upsampled = normalization is None and upsample > 1
    calls = CorrelateCalls(monkeypatch)
    rng = np.random.default_rng(13)
    cases = 0
    for shape in ((256, 256), (120, 90), (63, 64), (1, 50)):
        for source in ("camera", "noise"):
            if source == "camera":
                base = camera[:shape[0], :shape[1]].astype(np.float64)
            else:
                base = rng.standard_normal(shape)
            for shift in ((3, -5), (0.4, 2.7), (-7, 11)):
                if shape[0] == 1:
                    shift = (0, shift[1])
                ref = base.astype(np.float32)
                mov = _fourier_shift(base, shift).astype(np.float32)
                mov += np.float32(0.01) * rng.standard_normal(shape).astype(np.float32)
                ours = ptychopatch.phase_cross_correlation(
                    ref, mov, upsample_factor=upsample, normalization=normalization)
                theirs = sk_pcc(ref, mov, upsample_factor=upsample, normalization=normalization)
                if plain_upsampled:
                    exact = sk_pcc(ref.astype(np.float64), mov.astype(np.float64),
                                   upsample_factor=upsample, normalization=normalization)
                    # (float32 -0.4 is not float64 -0.4: equal to the step.)
                    np.testing.assert_allclose(ours[0], exact[0], rtol=0, atol=1e-6,
                                               err_msg=str((shape, source, shift)))
                    # With the shift checked, the rest is scikit-image's
                    # float32 result: dtypes, error and phasediff.
                    assert ours[0].dtype == theirs[0].dtype
                    assert_same((theirs[0], ours[1], ours[2]), theirs, phase_atol=1e-4)
                else:
                    assert_same(ours, theirs, phase_atol=1e-4)
                cases += 1
    assert calls.count == cases


@pytest.mark.slow
@needs_correlate
def test_library_correlation_agrees_with_the_numpy_path(monkeypatch):
    """The library's correlation and scipy's give the same shifts on 120
    random pairs (both normalisations, integer and sub-pixel); with the
    library disabled no ptp_correlate_execute runs."""
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(120):
        shape = (int(rng.integers(8, 200)), int(rng.integers(8, 200)))
        ref = rng.standard_normal(shape).astype(np.float32)
        shift = (int(rng.integers(-shape[0] // 3, shape[0] // 3 + 1)),
                 int(rng.integers(-shape[1] // 3, shape[1] // 3 + 1)))
        mov = np.roll(ref, shift, (0, 1)) + np.float32(0.3) * rng.standard_normal(shape).astype(
            np.float32)
        pairs.append((ref, mov, ("phase", None)[i % 2], (1, 10)[i // 2 % 2]))
    library = [ptychopatch.phase_cross_correlation(r, m, normalization=n, upsample_factor=u)
               for r, m, n, u in pairs]
    calls = CorrelateCalls(monkeypatch)
    monkeypatch.setattr(registration._native, "HAS_CORRELATE", False)
    numpy_path = [ptychopatch.phase_cross_correlation(r, m, normalization=n, upsample_factor=u)
                  for r, m, n, u in pairs]
    assert calls.count == 0
    for (shift, error, _), (want, want_error, _) in zip(library, numpy_path):
        np.testing.assert_array_equal(shift, want)
        np.testing.assert_allclose(float(error) ** 2, float(want_error) ** 2, atol=1e-4)


@needs_correlate
def test_library_correlation_is_not_used_where_scipy_is_faster_or_ties_matter(monkeypatch,
                                                                              camera):
    calls = CorrelateCalls(monkeypatch)
    image = camera.astype(np.float32)  # 512 x 512: scipy's threads by default
    ptychopatch.phase_cross_correlation(image, np.roll(image, 3, 0))
    flat = np.full((64, 64), 7, np.float32)  # constant: a flat correlation's ties
    for ref, mov in ((flat, image[:64, :64]), (image[:64, :64], flat)):
        assert_same(ptychopatch.phase_cross_correlation(ref, mov), sk_pcc(ref, mov))
    ptychopatch.phase_cross_correlation(image[:64, :64].astype(np.float64), image[:64, :64])
    # An explicit thread count above one is scipy's to obey.
    ptychopatch.phase_cross_correlation(image[:64, :64], image[2:66, 3:67], num_threads=2)
    assert calls.count == 0
    # One thread asked for: 512 x 512 is the library's.
    ptychopatch.phase_cross_correlation(image, np.roll(image, 3, 0), num_threads=1)
    assert calls.count == 1
    # Prime sides (Bluestein's algorithm in the library) at any size and
    # thread count, the library's passes on scipy's threads.
    ptychopatch.phase_cross_correlation(image[:61, :61], image[3:64, 3:64])
    assert calls.count == 2
    large = np.tile(image, (2, 2))[:600, :601]
    moved = np.roll(large, (3, -5), (0, 1))
    for threads in (0, 1, 2):
        assert_same(ptychopatch.phase_cross_correlation(large, moved, num_threads=threads),
                    sk_pcc(large, moved))
    assert calls.count == 5


def CorrelateF64Calls(monkeypatch):
    """Counts ptp_correlate_execute_f64 calls (float64 pairs with a side the
    library transforms by Bluestein's algorithm)."""
    return CorrelateCalls(monkeypatch, "correlate_execute_f64")


needs_correlate_f64 = pytest.mark.skipif(not registration._native.HAS_CORRELATE_F64,
                                         reason="the library lacks ptp_correlate_execute_f64")


@pytest.mark.slow
@needs_correlate_f64
@pytest.mark.parametrize("normalization", ["phase", None])
@pytest.mark.parametrize("upsample", [1, 20])
def test_float64_pairs_with_a_prime_side_use_the_library(monkeypatch, camera, normalization,
                                                         upsample):
    """float64, 2-D, a side with a prime factor above 31 (Bluestein's
    algorithm in the library's double plans): ptp_correlate_execute_f64
    correlates the pair, and the results are scikit-image's float64 ones
    (shift exactly, error and phasediff to double rounding), on odd, even
    and sub-pixel shifts of a photograph and of noise."""
    calls = CorrelateF64Calls(monkeypatch)
    rng = np.random.default_rng(17)
    cases = 0
    for shape in ((61, 67), (128, 97), (1, 53), (37, 256), (257, 263)):
        for source in ("camera", "noise"):
            if source == "camera":
                base = camera[:shape[0], :shape[1]].astype(np.float64)
            else:
                base = rng.standard_normal(shape)
            for shift in ((3, -5), (0.4, 2.7), (-7, 11)):
                if shape[0] == 1:
                    shift = (0, shift[1])
                mov = _fourier_shift(base, shift) + 0.01 * rng.standard_normal(shape)
                ours = ptychopatch.phase_cross_correlation(
                    base, mov, upsample_factor=upsample, normalization=normalization)
                theirs = sk_pcc(base, mov, upsample_factor=upsample, normalization=normalization)
                assert_same(ours, theirs, phase_atol=1e-9)
                cases += 1
    assert calls.count == cases


@needs_correlate_f64
def test_float64_library_correlation_agrees_with_the_numpy_path(monkeypatch):
    """ptp_correlate_execute_f64 and scipy's double transforms give the same
    shifts on 60 random float64 pairs with a prime side (both
    normalisations, integer and sub-pixel), errors to double rounding;
    without the library's float64 path none of its calls runs, and float32
    pairs of those shapes keep theirs."""
    rng = np.random.default_rng(23)
    primes = [37, 41, 53, 67, 97, 101, 127, 131]
    pairs = []
    for i in range(60):
        side = int(rng.choice(primes))
        other = int(rng.integers(8, 160))
        shape = (side, other) if i % 3 else (other, side)
        ref = rng.standard_normal(shape)
        shift = (int(rng.integers(-shape[0] // 3, shape[0] // 3 + 1)),
                 int(rng.integers(-shape[1] // 3, shape[1] // 3 + 1)))
        mov = np.roll(ref, shift, (0, 1)) + 0.3 * rng.standard_normal(shape)
        pairs.append((ref, mov, ("phase", None)[i % 2], (1, 10)[i // 2 % 2]))
    calls = CorrelateF64Calls(monkeypatch)
    library = [ptychopatch.phase_cross_correlation(r, m, normalization=n, upsample_factor=u)
               for r, m, n, u in pairs]
    assert calls.count == len(pairs)
    monkeypatch.setattr(registration._native, "HAS_CORRELATE_F64", False)
    numpy_path = [ptychopatch.phase_cross_correlation(r, m, normalization=n, upsample_factor=u)
                  for r, m, n, u in pairs]
    assert calls.count == len(pairs)
    for (shift, error, _), (want, want_error, _) in zip(library, numpy_path):
        np.testing.assert_array_equal(shift, want)
        np.testing.assert_allclose(float(error) ** 2, float(want_error) ** 2, atol=1e-9)
    monkeypatch.setattr(registration._native, "HAS_CORRELATE_F64", True)
    ref, mov = pairs[0][0], pairs[0][1]
    ptychopatch.phase_cross_correlation(ref.astype(np.float32), mov.astype(np.float32))
    ptychopatch.phase_cross_correlation(ref, mov.astype(np.float32))  # mixed: numpy path
    # A chirp side longer than 2048 (in double, pocketfft is faster there).
    long = rng.standard_normal((16, 4093))
    ptychopatch.phase_cross_correlation(long, np.roll(long, 5, 1))
    assert calls.count == len(pairs)
    ptychopatch.phase_cross_correlation(long[:, :2039], np.roll(long[:, :2039], 5, 1))
    assert calls.count == len(pairs) + 1


@needs_correlate
def test_blas_runs_on_one_thread_after_the_library_s_threads(monkeypatch):
    """The upsampled refinement after a library correlation on several
    threads runs BLAS on one thread (registration._blas_on_one_thread: the
    two runtimes' spinning threads slowed each other down 2x); on one
    library thread, or unrefined, BLAS is left as it is. The shifts are
    scikit-image's either way."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    entered = []
    inner = registration._blas_on_one_thread

    def spy():
        entered.append(1)
        return inner()

    monkeypatch.setattr(registration, "_blas_on_one_thread", spy)
    rng = np.random.default_rng(9)
    ref = rng.standard_normal((257, 263)).astype(np.float32)  # 2^16 pixels: threaded passes
    mov = np.roll(ref, (4, -6), (0, 1)) + np.float32(0.1) * rng.standard_normal(
        ref.shape).astype(np.float32)
    for threads, upsample, wanted in ((2, 20, 1), (1, 20, 0), (2, 1, 0)):
        before = len(entered)
        ours = ptychopatch.phase_cross_correlation(ref, mov, upsample_factor=upsample,
                                                   num_threads=threads)
        assert len(entered) - before == wanted, (threads, upsample)
        assert_same(ours, sk_pcc(ref, mov, upsample_factor=upsample), phase_atol=1e-4)
    controller = registration._blas_controller()
    if controller is None or not controller.select(user_api="blas").lib_controllers:
        return  # no BLAS threadpoolctl can see: the context does nothing
    def blas_threads():
        return [info["num_threads"] for info in threadpoolctl.threadpool_info()
                if info["user_api"] == "blas"]

    before = blas_threads()
    with inner():
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before  # restored


def test_the_library_s_bluestein_rule_is_the_one_python_routes_by():
    # registration._library_transforms_by_lines mirrors
    # LineDft::kLargestDirectPrime; a change on one side alone would send
    # pairs to the library where its FFTW is slow, or keep them from it.
    import pathlib
    import re

    header = pathlib.Path(__file__).resolve().parents[2] / "src/correlate/line_dft.hpp"
    if not header.exists():
        pytest.skip("the library's sources are not here")
    found = re.search(r"kLargestDirectPrime = (\d+);", header.read_text())
    assert found and int(found.group(1)) == registration._LIBRARY_LARGEST_DIRECT_PRIME
    assert registration._library_transforms_by_lines((997, 1009))
    assert registration._library_transforms_by_lines((1024, 37))
    assert not registration._library_transforms_by_lines((992, 1024))  # 31 x 32
    assert not registration._library_transforms_by_lines((31, 29))


@needs_correlate
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_library_overflow_falls_back_to_the_numpy_path(monkeypatch, dtype):
    """A pair whose transforms overflow its precision (float32 64 x 64, or
    float64 64 x 67 through ptp_correlate_execute_f64): the library says
    PTP_ERROR_NON_FINITE and the numpy path answers as it would alone
    (scaling first without normalisation, or the ValueError that names the
    overflow)."""
    single = dtype == np.float32
    if not (single or registration._native.HAS_CORRELATE_F64):
        pytest.skip("the library lacks ptp_correlate_execute_f64")
    rng = np.random.default_rng(2)
    ref = (rng.random((64, 64 if single else 67)) * (3e34 if single else 1e305)).astype(dtype)
    mov = np.roll(ref, (2, -3), (0, 1))
    calls = CorrelateCalls(monkeypatch, "correlate_execute" if single else "correlate_execute_f64")

    def outcomes():
        found = []
        for normalization in ("phase", None):
            try:
                found.append(ptychopatch.phase_cross_correlation(
                    ref, mov, normalization=normalization)[0].tolist())
            except ValueError as error:
                found.append(str(error))
        return found

    with_library = outcomes()
    assert calls.count == 2
    monkeypatch.setattr(registration._native, "HAS_CORRELATE", False)
    assert with_library == outcomes()
    assert calls.count == 2


@needs_correlate
def test_correlate_plan_bad_arguments_are_errors():
    desc = registration._native.new_correlate_desc()
    desc.height, desc.width = 0, 8
    handle = registration.ctypes.c_void_p()
    with pytest.raises(ptychopatch.PtychoPatchError, match="height"):
        registration._native.correlate_plan_create(
            registration._context.context("cpu", 1), registration.ctypes.byref(desc),
            registration.ctypes.byref(handle))
    plan = registration._correlate_plan((4, 4), 0, 1, 1)
    image = np.zeros((4, 4), np.float32)
    with pytest.raises(ptychopatch.PtychoPatchError, match="both NULL"):
        registration._native.correlate_execute(plan.handle, image.ctypes.data,
                                               image.ctypes.data, None, None)
    if registration._native.HAS_CORRELATE_F64:
        # Each precision's execute refuses the other's plan.
        double = registration._correlate_plan((4, 4), 0, 1, 1, True)
        with pytest.raises(ptychopatch.PtychoPatchError, match="ptp_correlate_execute_f64"):
            registration._native.correlate_execute(double.handle, image.ctypes.data,
                                                   image.ctypes.data, None, image.ctypes.data)
        image64 = np.zeros((4, 4))
        with pytest.raises(ptychopatch.PtychoPatchError, match="float32"):
            registration._native.correlate_execute_f64(plan.handle, image64.ctypes.data,
                                                       image64.ctypes.data, None,
                                                       image64.ctypes.data)


def test_rolled_images_disambiguate_as_scikit_image(camera):
    """Under a circular shift every tile correlates at 1 but for rounding,
    which decides the tile: scored by a correlation of our own, 204 of 450
    rolled crops (a review) came back as another shift ((-2, -61) for
    scikit-image's (-2, 3)). Scored as numpy.corrcoef, as scikit-image
    scores them, each is scikit-image's."""
    rng = np.random.default_rng(13)
    ref = camera[0:64, 100:164].astype(float)
    ours, theirs, _, _ = _run_both(ref, np.roll(ref, (2, -3), (0, 1)), disambiguate=True)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(theirs[0], [-2.0, 3.0])
    for _ in range(60):
        y, x = rng.integers(0, 400, 2)
        ref = camera[y:y + 64, x:x + 64].astype(float)
        roll = tuple(int(v) for v in rng.integers(-20, 21, 2))
        ours, theirs, _, _ = _run_both(ref, np.roll(ref, roll, (0, 1)), disambiguate=True)
        np.testing.assert_array_equal(ours[0], theirs[0], err_msg=f"{(y, x)} {roll}")


def test_bool_images_disambiguate_as_scikit_image(rng):
    """scipy casts the spline of a bool image to bool by truncation; the
    periodic shift used to round, as for uint8, and disambiguation chose
    another candidate than scikit-image's (a review: [13.5, 3.5] against
    [-2.5, -12.5])."""
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.random((16, 16)), 1.5, mode="wrap")
    ref = base > np.median(base)
    mov = ndi.shift(base, (2.4, -3.7), mode="grid-wrap") > np.median(base)
    ours, theirs, _, _ = _run_both(ref, mov, upsample_factor=2, disambiguate=True)
    assert_same(ours, theirs)


@pytest.mark.parametrize("dtype", [">c16", ">c8", ">f8"])
def test_byte_swapped_input_gives_a_native_shift(dtype, rng):
    """scikit-image's shift is in native byte order whatever the input's;
    a big-endian complex spectrum gave a big-endian shift ('>f8')."""
    a = rng.random((8, 8)).astype(dtype)
    for space in ("real", "fourier") if dtype.startswith(">c") else ("real",):
        ours = ptychopatch.phase_cross_correlation(a, np.roll(a, 1, 0), space=space)
        theirs = sk_pcc(a, np.roll(a, 1, 0), space=space)
        assert ours[0].dtype == theirs[0].dtype and ours[0].dtype.isnative
        np.testing.assert_array_equal(ours[0], theirs[0])


@needs_correlate
def test_byte_swapped_float32_is_not_read_as_native(camera):
    """'>f4' (or '<f4' on a big-endian machine) is float32 by kind: the
    library, which reads native floats, must not get it (a wrong shift)."""
    ref = camera[:200, :200].astype(np.float32)
    mov = np.roll(ref, (7, -3), (0, 1))
    swapped = ref.dtype.newbyteorder()
    for upsample in (1, 10):
        got = ptychopatch.phase_cross_correlation(ref.astype(swapped), mov.astype(swapped),
                                                  upsample_factor=upsample)
        assert_same(got, sk_pcc(ref, mov, upsample_factor=upsample), phase_atol=1e-4)


@needs_correlate
@pytest.mark.parametrize("upsample", [1, 20])
def test_tiny_float32_images_without_normalisation(monkeypatch, camera, upsample):
    """Plain correlation of float32 photographs scaled by 1e-24: |X| / N is
    subnormal. The library scales after its inverse (as scipy), so the
    shift is scikit-image's (scaling first lost the precision that told
    the peak from its neighbour, 0.16 % lower: a wrong shift)."""
    calls = CorrelateCalls(monkeypatch)
    # Crops, not a periodic roll: the peak is 0.16 % above its neighbour.
    ref = (camera[50:306, 50:306].astype(np.float64) * 1e-24).astype(np.float32)
    mov = (camera[53:309, 45:301].astype(np.float64) * 1e-24).astype(np.float32)
    ours = ptychopatch.phase_cross_correlation(ref, mov, normalization=None,
                                               upsample_factor=upsample)
    # Upsampled, scikit-image's float32 sum is rounding (see
    # test_single_precision_plain_upsampling_is_summed_in_double): its
    # float64 shift of the same images is the oracle.
    theirs = sk_pcc(ref.astype(np.float64) if upsample > 1 else ref,
                    mov.astype(np.float64) if upsample > 1 else mov,
                    normalization=None, upsample_factor=upsample)
    assert calls.count == 1
    np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-6)
    if upsample == 1:
        np.testing.assert_array_equal(ours[0], [3, -5])


def test_underflowing_intensities_are_not_called_all_zero(camera):
    """float32 images of about 1e-22: the product of their intensities
    underflows, so error is NaN as in scikit-image, and the warning says
    that it may be an underflow, not only an image of zeros."""
    ref = (camera[:64, :64].astype(np.float64) * 1e-24).astype(np.float32)
    mov = np.roll(ref, (2, 3), (0, 1))
    ours, theirs, ours_w, _ = _run_both(ref, mov, normalization=None)
    assert np.isnan(ours[1]) and np.isnan(theirs[1])
    # (scikit-image's float32 transforms give (-2, 0) here; its float64 ones
    # and ours the true shift.)
    np.testing.assert_array_equal(ours[0], [-2, -3])
    assert any("underflows" in text for text in _user_warnings(ours_w))
