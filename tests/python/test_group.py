"""ptychopatch.group_neighbors and grouped_patches (SPEC section 2).

Oracle: scipy.spatial.cKDTree (exact k-NN) for the neighbour pools, and a
numpy transcription of PtychoPINN's coordinate code for coords_nn,
coords_offsets and coords_relative. Distance ties are judged by distance,
never by which tied index a search returns: a member is in the pool of seed
s when it is not s and lies within s's K-th neighbour distance (to points
other than s).
"""

from __future__ import annotations

import importlib
import itertools
import os
from collections import Counter

import numpy as np
import pytest

import ptychopatch
from ptychopatch import PtychoPatchError, _native


def _need(module: str):
    # scipy is installed by install-deps.sh; on CI a missing module is an
    # error, elsewhere the oracle tests skip.
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="module")
def cKDTree():
    return _need("scipy.spatial").cKDTree


def kth_distance(x, y, K, cKDTree):
    """Distance from each point to its K-th nearest other point (inf if it
    has fewer than K others). Duplicates of a point count as others."""
    n = len(x)
    k = min(K + 1, n)
    d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=k)
    d = d.reshape(n, k)
    # Column 0 is a point at distance 0 (the point itself or a duplicate),
    # so the K others are columns 1..K whichever index the tree returned.
    return d[:, K] if K < k else np.full(n, np.inf)


def in_pool(x, y, s, members, kth):
    """Whether every member is a point other than s within s's K-th distance.

    The relative slack only absorbs the last-bit difference between this
    distance formula and the tree's; exact ties (equal coordinates or
    lattice distances) compare equal either way."""
    members = np.asarray(members)
    dist = np.hypot(x[members] - x[s], y[members] - y[s])
    return bool(np.all(members != s) and np.all(dist <= kth[s] * (1 + 1e-12)))


def exact_pools(x, y, K, cKDTree):
    """The K-NN pool of every point, self excluded, as frozensets (tie-free data only)."""
    _, idx = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=K + 1)
    return [frozenset(int(j) for j in row if j != s) for s, row in enumerate(idx)]


def assert_valid(d, n, c):
    nn = d["nn_indices"]
    assert nn.dtype == np.int64 and nn.shape[1] == c
    assert np.all((nn >= 0) & (nn < n))
    for row in nn:
        assert len(set(row.tolist())) == c, f"repeated member in group {row}"


def ptychopinn_coords(x, y, nn):
    """PtychoPINN's raw_data coordinate code, transcribed (local_offset_sign = -1)."""
    coords_nn = np.transpose(np.array([x[nn], y[nn]]), [1, 0, 2])[:, None, :, :]
    coords_offsets = np.mean(coords_nn, axis=3)[..., None]
    coords_relative = -1 * (coords_nn - np.mean(coords_nn, axis=3)[..., None])
    return coords_nn, coords_offsets, coords_relative


def random_points(rng, n, extent=100.0):
    return rng.uniform(0.0, extent, n), rng.uniform(0.0, extent, n)


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("gridsize", [1, 2, 3])
def test_shapes_and_dtypes(rng, gridsize):
    c = gridsize * gridsize
    x, y = random_points(rng, 60)
    d = ptychopatch.group_neighbors(x, y, 17, K=max(c, 4), gridsize=gridsize, seed=1)
    assert set(d) == {"nn_indices", "coords_nn", "coords_offsets", "coords_relative"}
    assert d["nn_indices"].shape == (17, c) and d["nn_indices"].dtype == np.int64
    assert d["coords_nn"].shape == (17, 1, 2, c)
    assert d["coords_offsets"].shape == (17, 1, 2, 1)
    assert d["coords_relative"].shape == (17, 1, 2, c)
    for key in ("coords_nn", "coords_offsets", "coords_relative"):
        assert d[key].dtype == np.float64


@pytest.mark.parametrize("gridsize", [1, 2])
def test_zero_samples(rng, gridsize):
    c = gridsize * gridsize
    x, y = random_points(rng, 10)
    d = ptychopatch.group_neighbors(x, y, 0, gridsize=gridsize)
    assert d["nn_indices"].shape == (0, c)
    assert d["coords_nn"].shape == (0, 1, 2, c)
    assert d["coords_offsets"].shape == (0, 1, 2, 1)
    obj = np.ones((32, 32), np.complex64)
    g = ptychopatch.grouped_patches(obj, x, y, 5, 0, gridsize=gridsize, backend="cpu")
    assert g["Y"].shape == (0, 5, 5, c) and g["Y"].dtype == np.complex64
    assert g["coords_relative"].shape == (0, 1, 2, c)


def test_inputs_not_modified_and_any_real_dtype(rng):
    xi = rng.integers(0, 50, 40)
    yi = rng.integers(0, 50, 40).astype(np.float32)
    x0, y0 = xi.copy(), yi.copy()
    d = ptychopatch.group_neighbors(list(xi), yi, 10, seed=5)
    assert np.array_equal(xi, x0) and np.array_equal(yi, y0)
    ref = ptychopatch.group_neighbors(xi.astype(np.float64), yi.astype(np.float64), 10, seed=5)
    for key in d:
        assert np.array_equal(d[key], ref[key])


# ------------------------------------------------------------ k-NN pools


@pytest.mark.parametrize("K,gridsize", [(4, 2), (7, 2), (12, 2), (9, 3), (14, 3)])
def test_sequential_groups_lie_in_the_seed_pool(rng, cKDTree, K, gridsize):
    c = gridsize * gridsize
    x, y = random_points(rng, 700)
    d = ptychopatch.group_neighbors(x, y, 600, K=K, gridsize=gridsize, seed=11, sequential=True)
    assert_valid(d, 700, c)
    pools = exact_pools(x, y, K, cKDTree)  # continuous data: no ties
    for b, row in enumerate(d["nn_indices"]):
        assert set(row.tolist()) <= pools[b], f"group {b} leaves the pool of seed {b}"


def test_random_groups_are_pools_of_distinct_seeds(rng, cKDTree):
    # K = C: a group is its seed's whole pool, so the groups must be the
    # pools of nsamples distinct points.
    x, y = random_points(rng, 800)
    pools = Counter(exact_pools(x, y, 4, cKDTree))
    for nsamples in (800, 300):
        d = ptychopatch.group_neighbors(x, y, nsamples, K=4, gridsize=2, seed=3)
        assert_valid(d, 800, 4)
        groups = Counter(frozenset(row.tolist()) for row in d["nn_indices"])
        if nsamples == 800:
            assert groups == pools
        else:
            assert all(groups[g] <= pools[g] for g in groups)


def test_random_groups_have_a_seed(rng, cKDTree):
    x, y = random_points(rng, 500)
    K = 8
    kth = kth_distance(x, y, K, cKDTree)
    d = ptychopatch.group_neighbors(x, y, 200, K=K, gridsize=2, seed=9)
    assert_valid(d, 500, 4)
    for row in d["nn_indices"]:
        assert any(in_pool(x, y, s, row, kth) for s in range(500)), f"no seed for {row}"


def test_grid_with_distance_ties(cKDTree):
    # A 20 x 20 raster: every interior point has 4 neighbours at distance 1
    # and 4 at sqrt(2); ties everywhere, also at the K-th distance.
    gx, gy = np.meshgrid(np.arange(20.0), np.arange(20.0))
    x, y = gx.ravel(), gy.ravel()
    n = x.size
    for K in (4, 5, 6, 8):
        kth = kth_distance(x, y, K, cKDTree)
        for sequential in (True, False):
            d = ptychopatch.group_neighbors(x, y, n, K=K, gridsize=2, seed=K,
                                            sequential=sequential)
            assert_valid(d, n, 4)
            if sequential:
                for b, row in enumerate(d["nn_indices"]):
                    assert in_pool(x, y, b, row, kth)
    # Interior point, K = 4: its group is exactly its 4 edge neighbours.
    d = ptychopatch.group_neighbors(x, y, n, K=4, gridsize=2, seed=0, sequential=True)
    centre = 10 * 20 + 10
    assert set(d["nn_indices"][centre].tolist()) == {centre - 1, centre + 1,
                                                     centre - 20, centre + 20}


def test_all_positions_identical():
    n = 50
    x, y = np.full(n, 3.25), np.full(n, -7.5)
    for sequential in (True, False):
        d = ptychopatch.group_neighbors(x, y, n, K=6, gridsize=2, seed=2, sequential=sequential)
        assert_valid(d, n, 4)
        if sequential:
            # n > C: the seed is never its own member, even among duplicates.
            assert not np.any(d["nn_indices"] == np.arange(n)[:, None])
        assert np.all(d["coords_offsets"][:, 0, 0, 0] == 3.25)
        assert np.all(d["coords_offsets"][:, 0, 1, 0] == -7.5)
        assert np.all(d["coords_relative"] == 0.0)


def test_duplicates_mixed_with_distinct_points(rng, cKDTree):
    sites = rng.uniform(0, 50, (30, 2))
    dup = sites[rng.integers(0, 30, 200)]
    single = rng.uniform(0, 50, (100, 2))
    pts = np.concatenate([dup, single])[rng.permutation(300)]
    x, y = pts[:, 0].copy(), pts[:, 1].copy()
    for K in (4, 9):
        kth = kth_distance(x, y, K, cKDTree)
        d = ptychopatch.group_neighbors(x, y, 300, K=K, gridsize=2, seed=7, sequential=True)
        assert_valid(d, 300, 4)
        for b, row in enumerate(d["nn_indices"]):
            assert in_pool(x, y, b, row, kth), f"group {b} {row} leaves the pool of {b}"
        r = ptychopatch.group_neighbors(x, y, 250, K=K, gridsize=2, seed=7)
        assert_valid(r, 300, 4)


# ------------------------------------------------------------- gridsize 1


def test_gridsize_one(rng):
    x, y = random_points(rng, 40)
    d = ptychopatch.group_neighbors(x, y, 25, gridsize=1, seed=4)
    seeds = d["nn_indices"][:, 0]
    assert len(set(seeds.tolist())) == 25 and np.all((seeds >= 0) & (seeds < 40))
    assert np.array_equal(d["coords_offsets"][:, 0, 0, 0], x[seeds])
    assert np.array_equal(d["coords_offsets"][:, 0, 1, 0], y[seeds])
    assert np.all(d["coords_relative"] == 0.0)
    s = ptychopatch.group_neighbors(x, y, 25, gridsize=1, sequential=True)
    assert np.array_equal(s["nn_indices"][:, 0], np.arange(25))
    # K is not used for C = 1 (any K >= 1 is fine).
    ptychopatch.group_neighbors(x, y, 5, K=1, gridsize=1)
    # Oversampled: every index 2 or 3 times.
    o = ptychopatch.group_neighbors(x, y, 100, gridsize=1, seed=4, oversample=True)
    counts = np.bincount(o["nn_indices"][:, 0], minlength=40)
    assert counts.min() == 2 and counts.max() == 3 and counts.sum() == 100


def test_seed_and_member_draws_are_uniform(rng):
    # One thread: thousands of tiny calls, where waking a thread team would
    # cost more than the work (the result does not depend on it).
    # Seeds: 5 of 20 points, 1500 seeds -> each point expected 375 times.
    x, y = random_points(rng, 20)
    counts = np.zeros(20)
    for seed in range(1500):
        idx = ptychopatch.group_neighbors(x, y, 5, gridsize=1, seed=seed,
                                          num_threads=1)["nn_indices"]
        counts += np.bincount(idx[:, 0], minlength=20)
    expected, sigma = 375.0, np.sqrt(1500 * 0.25 * 0.75)
    assert np.all(np.abs(counts - expected) < 5 * sigma), counts
    # Members: 4 of a pool of 8, each pool point expected half the time.
    members = np.zeros(20)
    for seed in range(1500):
        idx = ptychopatch.group_neighbors(x, y, 1, K=8, gridsize=2, seed=seed,
                                          sequential=True, num_threads=1)["nn_indices"]
        members[idx[0]] += 1
    picked = members[members > 0]
    assert len(picked) == 8 and members[0] == 0
    assert np.all(np.abs(picked - 750) < 5 * np.sqrt(1500 * 0.25)), members


# ---------------------------------------------------------- determinism


def test_same_seed_same_groups_on_every_thread_count(rng):
    # Enough points for several library tasks (512 queries each).
    x, y = random_points(rng, 5000, extent=1000.0)
    for kwargs in ({}, {"sequential": True}, {"oversample": True}):
        nsamples = 12000 if kwargs.get("oversample") else 3000
        ref = ptychopatch.group_neighbors(x, y, nsamples, K=7, seed=123, num_threads=1, **kwargs)
        for threads in (1, 2, 3, 0):
            d = ptychopatch.group_neighbors(x, y, nsamples, K=7, seed=123, num_threads=threads,
                                            **kwargs)
            for key in ref:
                assert np.array_equal(d[key], ref[key]), (kwargs, threads, key)


def test_seeds_differ(rng):
    x, y = random_points(rng, 300)
    a = ptychopatch.group_neighbors(x, y, 200, K=8, seed=1)["nn_indices"]
    b = ptychopatch.group_neighbors(x, y, 200, K=8, seed=2)["nn_indices"]
    assert not np.array_equal(a, b)
    # Sequential seeds are fixed, but the members are drawn with the seed.
    a = ptychopatch.group_neighbors(x, y, 200, K=8, seed=1, sequential=True)["nn_indices"]
    b = ptychopatch.group_neighbors(x, y, 200, K=8, seed=2, sequential=True)["nn_indices"]
    assert not np.array_equal(a, b)
    # seed=None: fresh on every call.
    c = ptychopatch.group_neighbors(x, y, 200, K=8)["nn_indices"]
    d = ptychopatch.group_neighbors(x, y, 200, K=8)["nn_indices"]
    assert not np.array_equal(c, d)


def test_seed_values_and_numpy_state(rng):
    x, y = random_points(rng, 30)
    top = ptychopatch.group_neighbors(x, y, 10, seed=2**64 - 1)
    same = ptychopatch.group_neighbors(x, y, 10, seed=np.uint64(2**64 - 1))
    assert np.array_equal(top["nn_indices"], same["nn_indices"])
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            ptychopatch.group_neighbors(x, y, 10, seed=bad)
    with pytest.raises(ValueError, match="seed must be an integer, got 1.5"):
        ptychopatch.group_neighbors(x, y, 10, seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        ptychopatch.group_neighbors(x, y, 10, seed="1")
    # The library's random stream: numpy's global state is left alone.
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    ptychopatch.group_neighbors(x, y, 10)
    assert np.random.rand() == expected


# ------------------------------------------------------- small pools


def test_pool_of_all_points_when_n_equals_c():
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    for K in (4, 10):
        for sequential in (True, False):
            d = ptychopatch.group_neighbors(x, y, 4, K=K, gridsize=2, seed=1,
                                            sequential=sequential)
            for row in d["nn_indices"]:
                assert sorted(row.tolist()) == [0, 1, 2, 3]
            assert np.all(d["coords_offsets"] == 0.5)


def test_k_larger_than_the_other_points(rng):
    # 6 points, K = 10: the pool is all 5 others; the seed stays out (5 >= C).
    x, y = random_points(rng, 6)
    d = ptychopatch.group_neighbors(x, y, 6, K=10, gridsize=2, seed=8, sequential=True)
    assert_valid(d, 6, 4)
    assert not np.any(d["nn_indices"] == np.arange(6)[:, None])


# -------------------------------------------------------- oversampling


def test_more_samples_than_points_needs_oversample(rng):
    x, y = random_points(rng, 20)
    with pytest.raises(PtychoPatchError, match="oversample") as err:
        ptychopatch.group_neighbors(x, y, 21, seed=0)
    assert err.value.status_name == "PTP_ERROR_INVALID_ARGUMENT"
    with pytest.raises(PtychoPatchError, match="oversample"):
        ptychopatch.group_neighbors(x, y, 21, seed=0, sequential=True)
    d = ptychopatch.group_neighbors(x, y, 21, seed=0, oversample=True)
    assert d["nn_indices"].shape == (21, 4)


@pytest.mark.parametrize("per_seed", [15, 20, 7])
def test_sequential_oversampling_deals_distinct_combinations(rng, cKDTree, per_seed):
    # K = 6, C = 4: C(6, 4) = 15 distinct groups per seed.
    n = 30
    x, y = random_points(rng, n)
    pools = exact_pools(x, y, 6, cKDTree)
    d = ptychopatch.group_neighbors(x, y, n * per_seed, K=6, gridsize=2, seed=5,
                                    sequential=True, oversample=True)
    assert_valid(d, n, 4)
    nn = d["nn_indices"]
    for s in range(n):
        groups = [frozenset(row.tolist()) for row in nn[s::n]]  # seed of group b is b % n
        assert len(groups) == per_seed
        assert all(g <= pools[s] for g in groups)
        counts = Counter(groups)
        if per_seed <= 15:
            assert len(counts) == per_seed, "a combination repeats before all are used"
        else:
            assert set(counts) == {frozenset(c) for c in itertools.combinations(pools[s], 4)}
            assert max(counts.values()) == 2


def test_random_oversampling_balances_the_seeds(rng, cKDTree):
    # K = C: every group of seed s is pool(s), so the count of each pool
    # among the groups tells how many groups its seed(s) got.
    n, rest = 200, 37
    x, y = random_points(rng, n)
    pool_seeds = Counter(exact_pools(x, y, 4, cKDTree))
    d = ptychopatch.group_neighbors(x, y, 3 * n + rest, K=4, gridsize=2, seed=6,
                                    oversample=True)
    assert_valid(d, n, 4)
    groups = Counter(frozenset(row.tolist()) for row in d["nn_indices"])
    assert set(groups) <= set(pool_seeds)
    extra = 0
    for pool, seeds in pool_seeds.items():
        assert 3 * seeds <= groups[pool] <= 4 * seeds
        extra += groups[pool] - 3 * seeds
    assert extra == rest


def test_oversampling_beyond_the_combinations_repeats(rng):
    # K = C = 4: one combination per seed; 5 groups of seed s are identical.
    x, y = random_points(rng, 12)
    d = ptychopatch.group_neighbors(x, y, 60, K=4, gridsize=2, seed=1, sequential=True,
                                    oversample=True)
    nn = np.sort(d["nn_indices"], axis=1)
    for s in range(12):
        assert np.all(nn[s::12] == nn[s])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "n,kwargs,status,word",
    [
        (20, {"K": 3, "gridsize": 2}, "PTP_ERROR_INVALID_ARGUMENT", "K is 3"),
        (3, {"K": 4, "gridsize": 2}, "PTP_ERROR_INVALID_SIZE", r"len\(xcoords\) is 3"),
        (20, {"K": 0, "gridsize": 1}, "PTP_ERROR_INVALID_ARGUMENT", "K is 0"),
        (20, {"K": -5}, "PTP_ERROR_INVALID_ARGUMENT", "K is -5"),
        (20, {"gridsize": 0}, "PTP_ERROR_INVALID_ARGUMENT", "gridsize is 0"),
        (20, {"gridsize": -2}, "PTP_ERROR_INVALID_ARGUMENT", "gridsize is -2"),
        (20, {"nsamples": -1}, "PTP_ERROR_INVALID_SIZE", "nsamples is -1"),
    ],
)
def test_library_errors(rng, n, kwargs, status, word):
    x, y = random_points(rng, n)
    kwargs = {"nsamples": 5, **kwargs}
    nsamples = kwargs.pop("nsamples")
    with pytest.raises(PtychoPatchError, match=word) as err:
        ptychopatch.group_neighbors(x, y, nsamples, seed=0, **kwargs)
    assert err.value.status_name == status
    assert err.value.function == "ptp_group_neighbors"
    obj = np.zeros((16, 16), np.complex64)
    with pytest.raises(PtychoPatchError, match=word) as err:
        ptychopatch.grouped_patches(obj, x, y, 4, nsamples, seed=0, backend="cpu", **kwargs)
    assert err.value.status_name == status


@pytest.mark.parametrize("axis,value", [("x", np.nan), ("y", np.inf), ("x", -np.inf)])
def test_non_finite_positions(rng, axis, value):
    x, y = random_points(rng, 20)
    (x if axis == "x" else y)[13] = value
    with pytest.raises(PtychoPatchError, match="13") as err:
        ptychopatch.group_neighbors(x, y, 5, seed=0)
    assert err.value.status_name == "PTP_ERROR_NON_FINITE"
    with pytest.raises(PtychoPatchError) as err:
        ptychopatch.grouped_patches(np.ones((8, 8)), x, y, 3, 5, seed=0, backend="cpu")
    assert err.value.status_name == "PTP_ERROR_NON_FINITE"


def test_python_side_errors(rng):
    x, y = random_points(rng, 20)
    with pytest.raises(ValueError, match="same length"):
        ptychopatch.group_neighbors(x, y[:-1], 5)
    with pytest.raises(ValueError, match="1-D"):
        ptychopatch.group_neighbors(x.reshape(4, 5), y.reshape(4, 5), 5)
    with pytest.raises(TypeError, match="real"):
        ptychopatch.group_neighbors(x + 1j, y, 5)
    with pytest.raises(TypeError, match="nsamples"):
        ptychopatch.group_neighbors(x, y, "5")
    with pytest.raises(ValueError, match="nsamples"):
        ptychopatch.group_neighbors(x, y, 5.5)
    with pytest.raises(ValueError, match="K"):
        ptychopatch.group_neighbors(x, y, 5, K=2**31)
    with pytest.raises(ValueError, match="gridsize"):
        ptychopatch.group_neighbors(x, y, 5, gridsize=2**20)
    with pytest.raises(ValueError, match="num_threads"):
        ptychopatch.group_neighbors(x, y, 5, num_threads=-1)
    with pytest.raises(ValueError, match="backend"):
        ptychopatch.grouped_patches(np.ones((8, 8)), x, y, 3, 5, backend="tpu")
    with pytest.raises(ValueError, match="obj"):
        ptychopatch.grouped_patches(np.ones((8, 8, 2)), x, y, 3, 5)
    with pytest.raises(PtychoPatchError, match="N is 0"):
        ptychopatch.grouped_patches(np.ones((8, 8)), x, y, 0, 5, backend="cpu")


class FakeDeviceArray:
    """Looks like a CUDA array to the binding; never dereferenced."""

    def __init__(self, shape, typestr):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr,
                                          "data": (0xDEAD0000, False), "version": 3,
                                          "strides": None}


class FakeDLPackCuda:
    def __dlpack_device__(self):
        return (2, 0)


def test_device_arrays_refused(rng):
    x, y = random_points(rng, 20)
    for obj in (FakeDeviceArray((16, 16), "<c8"), FakeDLPackCuda()):
        with pytest.raises(TypeError, match="get_image_patches"):
            ptychopatch.grouped_patches(obj, x, y, 4, 5)
    with pytest.raises(TypeError, match="host memory"):
        ptychopatch.group_neighbors(FakeDeviceArray((20,), "<f8"), y, 5)


def test_missing_symbol_stub():
    stub = _native._missing_function("ptp_group_neighbors", "neighbour grouping")
    with pytest.raises(RuntimeError, match="neighbour grouping"):
        stub()
    # This library has them: real ctypes functions, not stubs.
    assert hasattr(_native.group_neighbors, "argtypes")
    assert hasattr(_native.grouped_patches, "argtypes")


# ----------------------------------------- coordinates against PtychoPINN


@pytest.mark.parametrize("gridsize,K", [(2, 4), (2, 7), (3, 9), (3, 12), (4, 16), (4, 20)])
def test_coordinates_match_ptychopinn_bitwise(rng, gridsize, K):
    # Large, finely fractional positions, so that the summation order of the
    # mean shows in the last bits (C = 9 and 16 use numpy's 8-way unrolled sum).
    n = 400
    x = 1234.5 + rng.uniform(-300, 300, n) * np.pi
    y = -987.25 + rng.uniform(-300, 300, n) / 3.0
    for sequential in (False, True):
        d = ptychopatch.group_neighbors(x, y, 300, K=K, gridsize=gridsize, seed=21,
                                        sequential=sequential)
        nn, off, rel = ptychopinn_coords(x, y, d["nn_indices"])
        assert np.array_equal(d["coords_nn"], nn)
        assert np.array_equal(d["coords_offsets"], off)
        assert np.array_equal(d["coords_relative"], rel)


# --------------------------------------------------------- grouped_patches


def _objects(rng, h=40, w=52):
    cplx = (rng.standard_normal((h, w)) + 1j * rng.standard_normal((h, w))).astype(np.complex64)
    real = rng.standard_normal((h, w)).astype(np.float32)
    return cplx, real


@pytest.mark.parametrize("gridsize,K,N", [(1, 4, 7), (2, 4, 7), (2, 6, 8), (3, 10, 5)])
def test_grouped_patches_equal_group_then_extract(rng, gridsize, K, N):
    cplx, real = _objects(rng)
    h, w = cplx.shape
    # Positions over and beyond the object: patches cross the borders.
    x = rng.uniform(-12, w + 12, 150)
    y = rng.uniform(-12, h + 12, 150)
    for sequential in (False, True):
        args = dict(K=K, gridsize=gridsize, seed=31, sequential=sequential)
        ref = ptychopatch.group_neighbors(x, y, 120, **args)
        for obj in (cplx, real, cplx[:, :, None]):
            g = ptychopatch.grouped_patches(obj, x, y, N, 120, backend="cpu", **args)
            for key in ref:
                assert np.array_equal(g[key], ref[key]), key
            patches = ptychopatch.get_image_patches(obj, ref["coords_offsets"],
                                                    ref["coords_relative"], N, gridsize,
                                                    backend="cpu")
            assert g["Y"].shape == (120, N, N, gridsize**2)
            if obj.dtype == np.float32:
                assert g["Y"].dtype == np.float32
                assert np.array_equal(g["Y"], patches.real) and not patches.imag.any()
            else:
                assert g["Y"].dtype == np.complex64
                assert np.array_equal(g["Y"], patches)


# PtychoPINN's grouped dataset (ptycho/raw_data.py, generate_dataset_from_groups,
# get_relative_coords with local_offset_sign = -1, normalize_data), written out.
def _ptychopinn_grouped(diff3d, xs, ys, nn, N):
    diffraction = np.transpose(diff3d[nn], [0, 2, 3, 1])
    scale = np.float32(np.sqrt(((N / 2) ** 2) / np.mean(
        np.sum(np.square(diffraction.astype(np.float64)), axis=(1, 2)))))
    start_nn = np.transpose(np.array([xs[nn], ys[nn]]), [1, 0, 2])[:, None, :, :]
    start_offsets = np.mean(start_nn, axis=3)[..., None]
    return {"diffraction": diffraction,
            "X_full": scale * diffraction.astype(np.float32, copy=False),
            "coords_start_nn": start_nn, "coords_start_offsets": start_offsets,
            "coords_start_relative": -1 * (start_nn - start_offsets)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("gridsize", [1, 2, 3])
def test_grouped_training_set_is_ptychopinns(rng, dtype, gridsize):
    """The diffraction and the start positions grouped as PtychoPINN's
    loader groups them (keys, shapes, dtypes, values), and loaded as its
    loader loads them: X_full, Y, coords_offsets, coords_relative and
    nn_indices with one channel per member."""
    cplx, _ = _objects(rng)
    n, N = 90, 6
    x, y = rng.uniform(0, 52, n), rng.uniform(0, 40, n)
    xs, ys = x + rng.uniform(-0.5, 0.5, n), y + rng.uniform(-0.5, 0.5, n)
    diff3d = (rng.uniform(0, 300, (n, 8, 8))).astype(dtype)
    g = ptychopatch.grouped_patches(cplx, x, y, N, 70, K=max(4, gridsize**2), gridsize=gridsize,
                                    seed=5, backend="cpu", diffraction=diff3d,
                                    xcoords_start=xs, ycoords_start=ys)
    want = _ptychopinn_grouped(diff3d, xs, ys, g["nn_indices"], N)
    for key, value in want.items():
        assert g[key].dtype == value.dtype, key
        assert g[key].shape == value.shape, key
        if key == "X_full":  # one float32 scale; the sums' order may differ
            np.testing.assert_allclose(g[key], value, rtol=2e-7, err_msg=key)
        else:
            np.testing.assert_array_equal(g[key], value, err_msg=key)
    # As ptycho/loader.py reads the dict: X_full and Y with one channel per
    # member, coordinates (B, 1, 2, C) and (B, 1, 2, 1).
    C = gridsize ** 2
    assert g["X_full"].shape == (70, 8, 8, C) and g["Y"].shape[-1] == C
    assert g["coords_offsets"].shape == (70, 1, 2, 1)
    assert g["coords_relative"].shape == (70, 1, 2, C)
    # Without them, grouped_patches returns what it always did.
    plain = ptychopatch.grouped_patches(cplx, x, y, N, 70, K=max(4, gridsize**2),
                                        gridsize=gridsize, seed=5, backend="cpu")
    assert set(plain) == {"nn_indices", "coords_nn", "coords_offsets", "coords_relative", "Y"}


def test_grouped_training_set_refuses_what_does_not_fit(rng):
    cplx, _ = _objects(rng)
    x, y = rng.uniform(0, 52, 30), rng.uniform(0, 40, 30)
    out = np.full((20, 6, 6, 4), 7, np.complex64)
    for kwargs, error, match in (
            (dict(diffraction=np.ones((29, 8, 8))), ValueError, "one entry per scan position"),
            (dict(diffraction=np.ones((30, 64))), ValueError, "positions, h, w"),
            (dict(diffraction=np.ones((30, 8, 8), np.complex64)), TypeError, "real"),
            (dict(xcoords_start=x), ValueError, "both or neither"),
            (dict(diffraction=np.full((30, 8, 8), np.nan)), ValueError, "NaN"),
            (dict(diffraction=np.zeros((30, 8, 8))), ValueError, "all zeros")):
        with pytest.raises(error, match=match):
            ptychopatch.grouped_patches(cplx, x, y, 6, 20, seed=1, backend="cpu", out=out,
                                        **kwargs)
        assert (out == 7).all()  # checked before the library wrote anything


def test_grouped_patches_real_dtypes_and_oversampling(rng):
    _, real = _objects(rng)
    x, y = rng.uniform(0, 52, 30), rng.uniform(0, 40, 30)
    g64 = ptychopatch.grouped_patches(real.astype(np.float64), x, y, 6, 90, seed=2,
                                      oversample=True, backend="cpu")
    g32 = ptychopatch.grouped_patches(real, x, y, 6, 90, seed=2, oversample=True, backend="cpu")
    assert g64["Y"].dtype == np.float32 and np.array_equal(g64["Y"], g32["Y"])
    ref = ptychopatch.group_neighbors(x, y, 90, seed=2, oversample=True)
    assert np.array_equal(g32["nn_indices"], ref["nn_indices"])


@pytest.mark.skipif(ptychopatch.cuda_device_count() == 0, reason="no usable GPU")
def test_grouped_patches_on_the_gpu(rng):
    cplx, _ = _objects(rng)
    x, y = rng.uniform(-5, 57, 200), rng.uniform(-5, 45, 200)
    g = ptychopatch.grouped_patches(cplx, x, y, 9, 150, seed=4, backend="gpu")
    patches = ptychopatch.get_image_patches(cplx, g["coords_offsets"], g["coords_relative"], 9, 2,
                                            backend="gpu")
    assert np.array_equal(g["Y"], patches)


def test_positions_whose_squared_distances_overflow_are_an_error():
    # Finite, but too far apart for float64 squared distances.
    with pytest.raises(ptychopatch.PtychoPatchError, match="below 1e150 pixels"):
        ptychopatch.group_neighbors(np.arange(10) * 1e155, np.zeros(10), 5)
    with pytest.raises(ptychopatch.PtychoPatchError, match="below 1e150 pixels"):
        ptychopatch.grouped_patches(np.ones((8, 8)), np.zeros(10), np.arange(10) * 1e155, 3, 5)


def test_docstring_examples_run():
    import doctest

    from ptychopatch import group

    failures, tried = doctest.testmod(group, verbose=False, report=True)[:2]
    assert tried > 0 and failures == 0
