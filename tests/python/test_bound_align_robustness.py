"""benchmarks/bound_align_robustness.py computes what it says (no library needed).

Its bound is checked against the spread of an estimator that reaches it
(least squares of a sinusoid's phase, which is efficient) on the
benchmark's own noise, and its probability of a right crop against the
normal law's closed form.
"""

import math
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bound(benchmark_module):
    return benchmark_module("bound_align_robustness")


@pytest.fixture(scope="module")
def bench(bound):
    return sys.modules["bench_align_robustness"]  # the frames' noise


def _phases(frame, omega):
    """Least-squares phases (rows, columns) of frame ~ c + sinusoids."""
    h, w = frame.shape
    y, x = np.mgrid[0:h, 0:w].astype(float)
    design = np.stack([np.ones(h * w), np.sin(omega * y).ravel(), np.cos(omega * y).ravel(),
                       np.sin(omega * x).ravel(), np.cos(omega * x).ravel()], axis=1)
    c = np.linalg.lstsq(design, frame.ravel().astype(float), rcond=None)[0]
    return math.atan2(c[2], c[1]), math.atan2(c[4], c[3])


def test_the_bound_is_the_spread_of_an_efficient_estimator(bound, bench):
    # A grey scene of two sinusoids (period 31 divides the scene's 124
    # pixels, so the Fourier shift of the bound's derivatives is exact),
    # exposed at gain 1024 as the benchmark exposes it. Least squares of
    # the sinusoids' phases with an offset is efficient there; both frames
    # noisy, the shift's spread is the bound's.
    size, gain, period = 60, 1024.0, 31.0
    omega = 2 * np.pi / period
    n = size + 64
    y, x = np.mgrid[0:n, 0:n].astype(float)
    grey = 0.3 + 0.05 * np.sin(omega * y) + 0.05 * np.sin(omega * x)
    scene = np.repeat(grey[..., None], 3, axis=2)
    pattern = bound.BAYER["RGGB"]
    covariance = bound.shift_bound(scene, size, 0.0, 0.0, pattern, gain)
    claimed = np.sqrt(np.diag(covariance))
    rng = np.random.default_rng(3)
    clean = bound.mosaic(scene[32:32 + size, 32:32 + size], pattern)
    shifts = []
    for _ in range(400):
        a = _phases(bench.expose(clean, gain, rng), omega)
        b = _phases(bench.expose(clean, gain, rng), omega)
        # Moved by d, sin(omega (y - d)): the phase falls by omega d.
        shifts.append([-(pb - pa) / omega for pa, pb in zip(a, b)])
    measured = np.std(np.array(shifts), axis=0)
    np.testing.assert_allclose(measured, claimed, rtol=0.12)
    # It can fail: the bound of one noisy frame (half the variance) is
    # outside that tolerance.
    assert np.all(np.abs(measured / (claimed / np.sqrt(2)) - 1) > 0.2)


def test_right_probability_is_the_normal_laws(bound):
    # Bayer, truth (9.4, -6.6): the right crop on the rows is 10 (within a
    # pixel; 8 is 1.4 away), reached by estimates in (9, 11); the columns
    # are measured exactly here.
    rng = np.random.default_rng(5)
    sd = 0.5
    p = bound.right_probability((9.4, -6.6), np.diag([sd * sd, 1e-8]), bound.BAYER["RGGB"], rng,
                                40000)

    def phi(z):
        return 0.5 * math.erfc(-z / math.sqrt(2))

    expected = phi((11 - 9.4) / sd) - phi((9 - 9.4) / sd)
    assert abs(p - expected) < 0.01, (p, expected)
    # An exact whole-pixel truth that preserves the mosaic must be hit
    # exactly: estimates within a pixel of 12 on the rows.
    p = bound.right_probability((12, -8), np.diag([sd * sd, 1e-8]), bound.BAYER["RGGB"], rng,
                                40000)
    assert abs(p - (phi(1 / sd) - phi(-1 / sd))) < 0.01
    # X-Trans: (3, 3) + multiples of 6 preserve the mosaic too, so a truth
    # of (3, 3) estimated at (3.4, 2.8) is right.
    p = bound.right_probability((3, 3), np.diag([0.01, 0.01]), bound.XTRANS, rng, 4000)
    assert p == 1.0


def test_less_known_or_less_seen_never_bounds_lower(bound):
    # Fisher information can only fall when a parameter is added (an offset
    # per colour instead of one) or the data are reduced (only the sums of
    # the pattern's periods): those bounds are never below the exposure
    # model's, and on a colourful blurred scene the colour-blind one is
    # well above it (the colours' own detail is lost). Swapping the models,
    # or block sums that kept the pixels apart, fails here.
    from scipy import ndimage

    rng = np.random.default_rng(11)
    size, n = 60, 124
    scene = ndimage.gaussian_filter(rng.uniform(0.1, 0.9, (n, n, 3)), (4, 4, 0), mode="wrap")
    for name, pattern in (("RGGB", bound.BAYER["RGGB"]), ("X-Trans", bound.XTRANS)):
        sd = {model: np.sqrt(np.diag(bound.shift_bound(scene, size, 3.0, -2.0, pattern, 1024.0,
                                                          model)))
              for model in bound.MODELS}
        assert np.all(sd["colour-offsets"] >= sd["exposure"] * (1 - 1e-9)), (name, sd)
        assert np.all(sd["luminance"] > 1.1 * sd["exposure"]), (name, sd)
    with pytest.raises(ValueError, match="model must be one of"):
        bound.shift_bound(scene, size, 0.0, 0.0, bound.BAYER["RGGB"], 16.0, "luma")


@pytest.mark.slow
def test_simulated_tables_share_the_gt_noise_within_a_scene(bound):
    # count_distribution draws each frame's error with its bound's
    # covariance, half of the variance common to the frames aligned against
    # one GT. Two frames of one scene, truth 9.4 on the rows with a spread
    # of 0.5 pixel (wrong below 9 or above 11): each is wrong with the
    # normal law's probability, and both together as often as for errors
    # of correlation 1/2; a frame of another scene is independent of them.
    # Errors drawn apart (or wholly shared) fail the joint figures.
    from scipy import stats

    sd, tables = 0.5, 200000
    covariance = np.diag([sd * sd, 1e-8])
    pattern = bound.BAYER["RGGB"]

    def frame(row, scene):
        return dict(row=row, scene=scene, truth=(9.4, -6.6), covariance=covariance,
                    pattern=pattern)

    frames = [frame("a", "one"), frame("b", "one"), frame("c", "other")]
    counts = bound.count_distribution(frames, ["a", "b", "c"], np.random.default_rng(2), tables)
    wrong = counts == 0
    z = (9 - 9.4) / sd
    p = stats.norm.cdf(z) + stats.norm.sf((11 - 9.4) / sd)
    np.testing.assert_allclose(wrong.mean(axis=0), p, atol=0.004)
    # The upper edge (11) lies 3.2 spreads away: the pair's joint miss is
    # the lower orthant's.
    both = stats.multivariate_normal(mean=[0, 0], cov=[[1, 0.5], [0.5, 1]]).cdf([z, z])
    assert abs(np.mean(wrong[:, 0] & wrong[:, 1]) - both) < 0.003, both
    assert abs(both - p * p) > 0.02  # the two laws are told apart
    assert abs(np.mean(wrong[:, 0] & wrong[:, 2]) - p * p) < 0.003
