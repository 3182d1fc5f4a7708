"""Which cluster ``ptychopatch.distributed`` starts when given none (issue 17).

No GPU and no dask-cuda here: the device count and dask-cuda's
``LocalCUDACluster`` are stand-ins that record how they are used, and
``LocalCluster`` is replaced by one that records its arguments. What is
checked is the choice: one worker per GPU through dask-cuda (so no two
processes initialise CUDA on one device, what ran RawNIND's hand-parallel
run out of memory), a single worker with a warning when dask-cuda is
missing, one per core without GPUs, and the count asked for.
"""

from __future__ import annotations

import os
import sys
import types
import warnings

import pytest

pytest.importorskip("dask.distributed")

import ptychopatch  # noqa: E402
from ptychopatch import distributed  # noqa: E402


class _Recorder:
    """A cluster class that records the keyword arguments it is made with."""

    def __init__(self, kind):
        self.kind = kind
        self.made = []

    def __call__(self, **kwargs):
        self.made.append(kwargs)
        return (self.kind, kwargs)


@pytest.fixture
def local_cluster(monkeypatch):
    recorder = _Recorder("LocalCluster")
    fake = types.SimpleNamespace(LocalCluster=recorder)
    monkeypatch.setattr(distributed, "_distributed", lambda: fake)
    return recorder


def _gpus(monkeypatch, count):
    monkeypatch.setattr(ptychopatch, "cuda_device_count", lambda: count)


def test_one_worker_per_gpu_through_dask_cuda(monkeypatch, local_cluster):
    _gpus(monkeypatch, 2)
    cuda = _Recorder("LocalCUDACluster")
    monkeypatch.setitem(sys.modules, "dask_cuda", types.SimpleNamespace(LocalCUDACluster=cuda))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kind, kwargs = distributed._default_cluster(None)
    # dask-cuda makes one worker per visible GPU, each pinned to its own
    # device (CUDA_VISIBLE_DEVICES); one thread each, so one library call
    # at a time per device.
    assert kind == "LocalCUDACluster" and kwargs["threads_per_worker"] == 1
    assert "n_workers" not in kwargs and local_cluster.made == []


def test_gpus_without_dask_cuda_get_one_worker_and_a_warning(monkeypatch, local_cluster):
    _gpus(monkeypatch, 4)
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import fails
    with pytest.warns(RuntimeWarning, match="dask-cuda is not installed"):
        kind, kwargs = distributed._default_cluster(None)
    assert kind == "LocalCluster"
    assert (kwargs["n_workers"], kwargs["threads_per_worker"]) == (1, 1)


def test_no_gpu_one_worker_per_core(monkeypatch, local_cluster):
    _gpus(monkeypatch, 0)
    monkeypatch.setitem(sys.modules, "dask_cuda", None)
    kind, kwargs = distributed._default_cluster(None)
    assert kind == "LocalCluster"
    assert (kwargs["n_workers"], kwargs["threads_per_worker"]) == (os.cpu_count() or 1, 1)


def test_the_count_asked_for_wins(monkeypatch, local_cluster):
    _gpus(monkeypatch, 2)
    kind, kwargs = distributed._default_cluster(3)
    assert kind == "LocalCluster" and kwargs["n_workers"] == 3
