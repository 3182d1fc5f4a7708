"""``ptychopatch bench``'s dataset curve: scenes per second of
align_dataset against Dask workers (full set only), checked against the
serial path; skipped with a note without Dask.
"""

import sys

import pytest

from ptychopatch._bench import dataset, runner, suite


def test_the_dataset_curve_is_in_the_full_set_only():
    assert suite.cases(quick=True, threads=0, only=["dataset"]) == []
    full = suite.cases(quick=False, threads=0, only=["dataset"])
    assert [c.id for c in full] == [f"dataset/workers={n}" for n in suite.thread_counts()]
    assert full[0].unit == "scenes" and full[0].items == dataset.SCENES


def test_align_dataset_on_a_warm_cluster_agrees_with_serial(monkeypatch):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    monkeypatch.setattr(dataset, "SCENES", 3)
    monkeypatch.setattr(dataset, "FRAMES", 2)
    monkeypatch.setattr(dataset, "SIDE", 64)
    case = suite._dataset_case(1, False, 0, 0)
    doc = runner.run_case(case, repeat=1, budget_s=0.0, memory_budget=None)
    assert doc["status"] == "ok", doc.get("traceback")
    ours, serial = doc["results"]
    assert ours["status"] == "ok" and ours["items"] == 3 and ours["items_per_s"] > 0
    assert serial["status"] == "ok" and serial["agreement"]["ok"], serial
    assert serial["ratio_to_ours"] > 0


def test_without_dask_the_curve_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    doc = runner.run_case(suite._dataset_case(2, False, 0, 0), repeat=1, budget_s=0.0,
                          memory_budget=None)
    assert doc["status"] == "ok"
    assert [r["status"] for r in doc["results"]] == ["skipped", "skipped"]
    assert doc["results"][0]["note"] == \
        "dask[distributed] not installed (pip install dask[distributed])"
