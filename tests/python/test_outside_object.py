"""No silent wrong answers (issue 14, item 5): OutsideObjectWarning when
many patches of a call lie entirely outside the object, on a PtychoPINN-like
scan of a non-square object; and reassemble_grouped, which puts each patch
of grouped_patches back where it was sampled (the mirrored positions
2 * centre - member), against an independent numpy oracle."""

import warnings

import numpy as np
import pytest

import ptychopatch
from spec_oracle import reassemble_channel

H, W, N = 160, 288, 32  # a non-square object, PtychoPINN-sized patches


def ptychopinn_scan(rng, step=6.0, jitter=1.0, margin=0.0):
    """A jittered raster over the whole object, edges included (so edge
    patches leave it partly), positions in object pixels, x the column."""
    ys, xs = np.meshgrid(np.arange(margin, H - margin, step), np.arange(margin, W - margin, step),
                         indexing="ij")
    x = xs.ravel() + rng.uniform(-jitter, jitter, xs.size)
    y = ys.ravel() + rng.uniform(-jitter, jitter, ys.size)
    return np.clip(x, 0, W - 1), np.clip(y, 0, H - 1)


def smooth_object(rng):
    """A complex object with structure on the scale of a few pixels."""
    yy, xx = np.mgrid[0:H, 0:W]
    amp = 1.0 + 0.3 * np.sin(xx / 5.0 + rng.uniform(0, 6)) * np.cos(yy / 7.0)
    phase = 0.8 * np.sin(xx / 11.0 + yy / 13.0)
    return (amp * np.exp(1j * phase)).astype(np.complex64)


@pytest.fixture
def scan(rng):
    return ptychopinn_scan(rng)


# ------------------------------------------------------------ the warning


def test_warning_class_is_exported():
    assert issubclass(ptychopatch.OutsideObjectWarning, UserWarning)
    assert "OutsideObjectWarning" in ptychopatch.__all__
    assert ptychopatch.OUTSIDE_WARNING_FRACTION == 0.05


def test_correct_order_does_not_warn_though_edge_patches_leave_the_object(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptychopatch.OutsideObjectWarning)
        d = ptychopatch.grouped_patches(obj, x, y, N, 400, K=6, gridsize=2, seed=1,
                                        backend="cpu")
        ptychopatch.get_image_patches(obj, d["coords_offsets"], d["coords_relative"], N, 2,
                                      backend="cpu")
        off = np.stack([x, y], axis=-1)[:, None, :]
        patches = ptychopatch.extract_patches(obj, off, N, backend="cpu")
        ptychopatch.reassemble_patches(patches, off, obj.shape, backend="cpu")
        ptychopatch.reassemble_grouped(d["Y"], d, obj.shape, backend="cpu")
    # The scan does reach past the edges: patches there are partly zero.
    edge = np.argmin(x)
    assert np.count_nonzero(patches[edge, :, :, 0] == 0) > 0


def check_warning(record, function, total):
    assert len(record) == 1, [str(r.message) for r in record]
    w = record[0]
    assert w.category is ptychopatch.OutsideObjectWarning
    assert w.filename == __file__  # points at the caller's line
    text = str(w.message)
    assert text.startswith(f"{function}: ")
    assert f"of {total} patches" in text
    assert "(y, x)" in text and f"{H} x {W} (H x W)" in text
    assert w.message.patches_total == total
    assert w.message.patches_outside > ptychopatch.OUTSIDE_WARNING_FRACTION * total
    return w.message


def test_swapped_axes_warn_in_every_function(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    with pytest.warns(ptychopatch.OutsideObjectWarning) as record:
        d = ptychopatch.grouped_patches(obj, y, x, N, 400, K=6, gridsize=2, seed=1,
                                        backend="cpu")
    found = check_warning(record, "grouped_patches", 1600)
    # The count is the library's: patches that are all zeros.
    zero = np.all(d["Y"] == 0, axis=(1, 2)).ravel()
    assert found.patches_outside == np.count_nonzero(zero)
    assert found.patches_outside > 0.3 * 1600  # 610 here
    assert zero[found.first_outside] and not zero[:found.first_outside].any()

    # PtychoPINN's coordinate arrays of a right grouping, size-2 axis reversed.
    right = ptychopatch.group_neighbors(x, y, 400, K=6, gridsize=2, seed=1)
    g = right["coords_offsets"][:, :, ::-1]
    loc = right["coords_relative"][:, :, ::-1]
    with pytest.warns(ptychopatch.OutsideObjectWarning) as record:
        ptychopatch.get_image_patches(obj, g, loc, N, 2, backend="cpu")
    check_warning(record, "get_image_patches", 1600)

    off = np.stack([y, x], axis=-1)[:, None, :]  # (y, x): wrong
    with pytest.warns(ptychopatch.OutsideObjectWarning) as record:
        patches = ptychopatch.extract_patches(obj, off, N, backend="cpu")
    check_warning(record, "extract_patches", len(x))
    with pytest.warns(ptychopatch.OutsideObjectWarning) as record:
        ptychopatch.reassemble_patches(patches, off, obj.shape, backend="cpu")
    assert "add nothing to the canvas" in str(check_warning(record, "reassemble_patches",
                                                             len(x)))


def test_coordinates_about_the_centre_warn(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    off = np.stack([x - W / 2, y - H / 2], axis=-1)[:, None, :]
    with pytest.warns(ptychopatch.OutsideObjectWarning) as record:
        ptychopatch.extract_patches(obj, off, N, backend="cpu")
    assert check_warning(record, "extract_patches", len(x)).patches_outside > 0.5 * len(x)


def test_threshold_is_a_fraction_of_the_call(rng):
    obj = smooth_object(rng)
    inside = rng.uniform(20, 100, (40, 1, 2))
    off = inside.copy()
    off[:2, 0] = (1e6, 1e6)  # 2 of 40 = 5 %: not more than the threshold
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptychopatch.OutsideObjectWarning)
        ptychopatch.extract_patches(obj, off, N, backend="cpu")
    off[2, 0] = (-1e6, 50)  # 3 of 40
    with pytest.warns(ptychopatch.OutsideObjectWarning, match="3 of 40 patches"):
        ptychopatch.extract_patches(obj, off, N, backend="cpu")
    # One patch alone, entirely outside: a call of one.
    with pytest.warns(ptychopatch.OutsideObjectWarning, match="1 of 1 patches"):
        ptychopatch.extract_patches(obj, np.array([[[W + N, 10.0]]]), N, backend="cpu")


def test_one_tap_inside_is_not_outside(rng):
    obj = smooth_object(rng)
    h = N // 2
    # Fractional offset: the last column samples object column 0 with weight 0.5.
    touching = np.array([[[h - N + 0.5, 50.0]]])
    beyond = np.array([[[h - N - 0.5, 50.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptychopatch.OutsideObjectWarning)
        p = ptychopatch.extract_patches(obj, touching, N, backend="cpu")
    assert np.count_nonzero(p) > 0
    with pytest.warns(ptychopatch.OutsideObjectWarning):
        p = ptychopatch.extract_patches(obj, beyond, N, backend="cpu")
    assert np.count_nonzero(p) == 0


def test_warning_can_be_silenced(rng):
    obj = smooth_object(rng)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ptychopatch.OutsideObjectWarning)
        ptychopatch.extract_patches(obj, np.full((3, 1, 2), 1e6), N, backend="cpu")
    assert not [r for r in record if r.category is ptychopatch.OutsideObjectWarning]


# ---------------------------------------------------- grouped reassembly


def relative_rms(a, b, mask):
    return float(np.sqrt(np.mean(np.abs(a[mask] - b[mask]) ** 2) / np.mean(np.abs(b[mask]) ** 2)))


def test_reassemble_grouped_is_the_adjoint_at_the_sampled_positions(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    d = ptychopatch.grouped_patches(obj, x, y, N, 300, K=6, gridsize=2, seed=7, backend="cpu")
    patches = (rng.standard_normal(d["Y"].shape)
               + 1j * rng.standard_normal(d["Y"].shape)).astype(np.complex64)
    got = ptychopatch.reassemble_grouped(patches, d, obj.shape, backend="cpu")

    # Independent oracle: the mirrored positions 2 * centre - member, formed
    # in numpy from the member positions, and a float64 scatter loop.
    members = np.stack([x[d["nn_indices"]], y[d["nn_indices"]]], axis=-1)  # (B, C, 2)
    centre = members.mean(axis=1, keepdims=True)
    mirrored = (2 * centre - members).astype(np.float32)
    canvas, weights = reassemble_channel(patches, mirrored, H, W)
    scale = np.abs(canvas).max()
    np.testing.assert_allclose(got.canvas, canvas, rtol=0, atol=2e-5 * scale)
    np.testing.assert_allclose(got.weights, weights, rtol=0, atol=2e-5 * weights.max())

    # The adjoint identity with the extraction that cut d["Y"].
    lhs = np.vdot(patches.astype(np.complex128), d["Y"].astype(np.complex128))
    rhs = np.vdot(got.canvas.astype(np.complex128), obj.astype(np.complex128))
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)


def interior(mask):
    """The mask without a 2-pixel band along the object's edges: there a
    sample straddling the edge mixes object and zero padding, so the
    averaged reassembly is biased toward 0 even at the right positions."""
    mask = mask.copy()
    mask[:2] = mask[-2:] = False
    mask[:, :2] = mask[:, -2:] = False
    return mask


def test_reassemble_grouped_recovers_the_object_and_member_positions_do_not(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    d = ptychopatch.grouped_patches(obj, x, y, N, 400, K=6, gridsize=2, seed=3, backend="cpu")
    right = ptychopatch.reassemble_grouped(d["Y"], d, obj.shape, average=True, backend="cpu")
    covered = interior(right.weights > 0.5)
    assert covered.mean() > 0.5
    # Not exact: bilinear sampling at fractional offsets, averaged back,
    # blurs slightly (0.26 % here).
    assert relative_rms(right.canvas, obj, covered) < 0.01

    # A constant object is recovered exactly away from the edges.
    ones = np.ones((H, W), np.complex64)
    dc = ptychopatch.grouped_patches(ones, x, y, N, 400, K=6, gridsize=2, seed=3, backend="cpu")
    flat = ptychopatch.reassemble_grouped(dc["Y"], dc, ones.shape, average=True, backend="cpu")
    np.testing.assert_allclose(flat.canvas[interior(flat.weights > 0.5)], 1.0, atol=1e-5)

    # The naive mistake: reassembling at the member positions (coords_nn)
    # instead of where PtychoPINN sampled them (2 * centre - member): 35 %.
    members = d["coords_nn"][:, 0].transpose(0, 2, 1)  # (B, C, 2), x first
    wrong = ptychopatch.reassemble_patches(d["Y"], members, obj.shape, average=True,
                                           backend="cpu")
    both = covered & (wrong.weights > 0.5)
    assert relative_rms(wrong.canvas, obj, both) > 0.2


def test_reassemble_grouped_takes_ptychopinn_dicts_and_checks_them(rng, scan):
    obj = smooth_object(rng)
    x, y = scan
    d = ptychopatch.grouped_patches(obj, x, y, N, 50, K=6, gridsize=2, seed=2, backend="cpu")
    # Only the two coordinate arrays are read, float32 or float64.
    slim = {"coords_offsets": d["coords_offsets"].astype(np.float32),
            "coords_relative": d["coords_relative"]}
    a = ptychopatch.reassemble_grouped(d["Y"], slim, obj.shape, backend="cpu")
    b = ptychopatch.reassemble_patches(
        d["Y"], ptychopatch.legacy_offsets(slim["coords_offsets"], slim["coords_relative"]),
        obj.shape, backend="cpu")
    assert np.array_equal(a.canvas, b.canvas) and np.array_equal(a.weights, b.weights)
    with pytest.raises(KeyError, match="coords_relative"):
        ptychopatch.reassemble_grouped(d["Y"], {"coords_offsets": d["coords_offsets"]},
                                       obj.shape)
    with pytest.raises(TypeError, match="grouped"):
        ptychopatch.reassemble_grouped(d["Y"], d["coords_offsets"], obj.shape)
    with pytest.raises(ValueError, match="to match grouped"):
        ptychopatch.reassemble_grouped(d["Y"][:10], d, obj.shape)


def test_reassemble_module_docstring_examples_run():
    import doctest

    from ptychopatch import reassemble

    failures, tried = doctest.testmod(reassemble, verbose=False, report=True)[:2]
    assert tried > 0 and failures == 0
