"""The GPU alignment peers of ``ptychopatch bench`` (issue 61), checked
where no GPU is: cuCIM's ``phase_cross_correlation`` is scikit-image's
algorithm on CuPy arrays, and where cuCIM is not installed the suite runs
that algorithm in CuPy itself (``phase_cross_correlation_shift``). Here
the same code runs on numpy and must give scikit-image's shifts exactly,
and the per-plane peer built on it must agree with the library, so a GPU
run times a peer already known to compute the right thing.
"""

import numpy as np
import pytest
import scipy.fft

from ptychopatch import align_scene
from ptychopatch._bench import data, gpu
from ptychopatch._bench.align import phase_cross_correlation_shift, skimage_entry
from ptychopatch._bench.registry import Skipped

registration = pytest.importorskip("skimage.registration")


def textured(rng, shape, dtype):
    field = rng.standard_normal(shape)
    field = field + np.roll(field, 1, 0) + np.roll(field, 1, 1)
    return field.astype(dtype)


# Even and odd sides; shifts past the middle of an axis, and exactly at it
# (half an even side: scikit-image keeps it positive).
@pytest.mark.parametrize("shape,roll", [((16, 12), (3, -2)), ((33, 47), (-16, 23)),
                                        ((64, 64), (32, -31)), ((40, 30), (-20, 15))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_algorithm_gives_scikit_images_shift(shape, roll, dtype):
    rng = np.random.default_rng(sum(shape))
    reference = textured(rng, shape, dtype)
    moving = (np.roll(reference, roll, (0, 1))
              + 0.3 * rng.standard_normal(shape)).astype(dtype)
    expected = registration.phase_cross_correlation(reference, moving, upsample_factor=1,
                                                    normalization="phase")[0]
    assert phase_cross_correlation_shift(np, scipy.fft, reference, moving) == list(expected)


def test_the_per_plane_peer_agrees_with_the_library_and_scikit_image():
    gt, frames, truths = data.bayer_scene(np.random.default_rng(3), 256, 384, 3)
    peer = gpu.per_plane_pcc_entry(np, gt, frames)
    assert peer.name == "scikit-image's algorithm in numpy per plane"
    theirs = peer.run()
    ours = align_scene(gt, frames, cfa="RGGB", upsample_factor=1, backend="cpu").shifts
    assert peer.check(theirs, ours)["ok"], (theirs, ours)
    np.testing.assert_array_equal(theirs, truths)
    np.testing.assert_array_equal(theirs, skimage_entry(gt, frames, 1).run())


def test_without_cupy_the_gpu_case_says_why():
    if not isinstance(gpu.cupy_cuda(), str):
        pytest.skip("CuPy sees a CUDA device here")
    gt, frames, _ = data.bayer_scene(np.random.default_rng(1), 64, 96, 1)
    entry = gpu.cupy_entry(gt, frames)
    assert isinstance(entry, Skipped) and entry.kind == "peer"
    assert entry.name == "cuCIM phase_cross_correlation per plane (CUDA)"
    assert "cupy" in entry.note.lower(), entry.note
