"""Two ``patches-dataset`` runs writing one Zarr store at once (issue 58).

Both create the store's root and each input's group; the one that finds
a group missing and then fails to create it, because the other run made
it in between, must open it and carry on, not record the input FAILED.
The race is timing-dependent, so one test makes it happen every time
(the group appears between zarr's existence check and the create) and
one runs two real processes at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
if int(zarr.__version__.split(".")[0]) < 3:
    pytest.skip("patches-dataset needs zarr >= 3", allow_module_level=True)

from ptychopatch import _zarr_store, cli, distributed  # noqa: E402

from test_cli import _env  # noqa: E402  (the subprocess environment)

ARGS = {"K": 6, "gridsize": 2, "seed": 3, "chunk_groups": 16}


@pytest.fixture
def scans(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    paths = [str(folder / f"scan{i}.npz") for i in range(4)]
    for i, path in enumerate(paths):
        cli.make_synthetic(path, size=96, N=16, seed=i)
    return paths


def _store(path):
    """{group: ({array: values}, attributes)}, and the per-input records."""
    root = zarr.open_group(str(path), mode="r")
    groups = {name: ({key: array[...] for key, array in group.arrays()}, dict(group.attrs))
              for name, group in root.groups()}
    return groups, distributed.patches_status(str(path))


def _assert_same_groups(got, want):
    assert got.keys() == want.keys()
    for name in want:
        assert got[name][1] == want[name][1], name
        assert got[name][0].keys() == want[name][0].keys(), name
        for key in want[name][0]:
            np.testing.assert_array_equal(got[name][0][key], want[name][0][key],
                                          err_msg=f"{name} {key}")


def _another_run_creates_first(monkeypatch, store, paths):
    """Each of `paths` ("" the root, else a group) appears, made by another
    run, between zarr's check that it is missing and this run's create.

    The other run's node is written as zarr writes a new group's metadata
    (a root with the same options, as a second run of the command makes
    it); a synchronous zarr call cannot be made from inside zarr's loop.
    """
    import zarr.core.group as zarr_group

    original = zarr_group.ensure_no_existing_node
    pending = set(paths)
    store = os.path.realpath(store)
    run = _zarr_store._parts.as_recorded({"N": None, "nsamples": None, "sequential": False,
                                          "oversample": False, **ARGS})
    made = []

    async def check(store_path, *args, **kwargs):
        root = getattr(store_path.store, "root", None)
        if (root is not None and os.path.realpath(str(root)) == store
                and store_path.path in pending):
            pending.discard(store_path.path)
            attributes = ({_zarr_store.RUN_KEY: run, _zarr_store.SEED_KEY: 12345}
                          if store_path.path == "" else {})
            folder = os.path.join(store, store_path.path)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "zarr.json"), "w") as f:
                json.dump({"zarr_format": 3, "node_type": "group",
                           "attributes": attributes}, f)
            made.append(store_path.path)
        return await original(store_path, *args, **kwargs)

    monkeypatch.setattr(zarr_group, "ensure_no_existing_node", check)
    return made


@pytest.mark.parametrize("nodes", [["scan0", "scan2"], ["", "scan0", "scan2"]],
                         ids=["groups", "root-and-groups"])
@pytest.mark.slow
def test_a_group_another_run_creates_first_is_opened_not_failed(scans, tmp_path,
                                                                 monkeypatch, nodes):
    want, _ = _store(_single_run(scans, tmp_path / "single.zarr"))
    output = tmp_path / "raced.zarr"
    made = _another_run_creates_first(monkeypatch, output, nodes)
    summary = distributed.patches_dataset(scans, str(output), serial=True, **ARGS)
    assert sorted(made) == nodes  # the race did happen
    got, records = _store(output)
    assert (summary.computed, summary.failed) == (4, 0), records
    assert {r["status"] for r in records.values()} == {"PTP_SUCCESS"}, records
    _assert_same_groups(got, want)


def _single_run(scans, output):
    distributed.patches_dataset(scans, str(output), serial=True, **ARGS)
    return output


@pytest.mark.slow
def test_two_runs_on_one_store_at_once_both_succeed(scans, tmp_path):
    """Two processes, the same inputs in the same order: they reach each
    group at about the same time. Their store equals one run's."""
    want, _ = _store(_single_run(scans, tmp_path / "single.zarr"))
    for attempt in range(2):  # a count, not a time: each pair takes a few seconds
        output = str(tmp_path / f"shared{attempt}.zarr")
        argv = [sys.executable, "-m", "ptychopatch", "patches-dataset", *scans, "-o", output,
                "--K", "6", "--seed", "3", "--chunk-groups", "16", "--serial"]
        runs = [subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs):
            assert run.returncode == cli.EXIT_OK, (attempt, out, err)
        got, records = _store(output)
        assert {r["status"] for r in records.values()} == {"PTP_SUCCESS"}, records
        assert sorted(records) == sorted(want)
        _assert_same_groups(got, want)
