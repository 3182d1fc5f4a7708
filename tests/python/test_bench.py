"""``ptychopatch bench``: the results document's schema, the report and
plots it writes, peers that disagree, absent peers, --compare and --only.

The runs here are tiny (a curve or two of the quick set, one repetition);
CI runs the whole quick set as its own stage (scripts/test.sh). No test
asserts a speed.
"""

import json
import subprocess
import sys

import pytest

from ptychopatch import _bench, cli
from ptychopatch._bench import compare, runner, timing
from ptychopatch._bench.registry import Case, Impl, Skipped, close_to

from test_cli import _env  # the subprocess environment

RESULT_KEYS = {"name", "kind", "status", "note"}
TIMED_KEYS = {"threads", "items", "seconds", "items_per_s", "bytes_per_s", "ratio_to_ours",
              "memory"}


def bench(capsys, tmp_path, *args):
    out = tmp_path / "out"
    code = cli.main(["bench", "--quick", "--repeat", "1", "--out", str(out), *args])
    printed, err = capsys.readouterr()
    doc = json.loads((out / "results.json").read_text()) if code == 0 else None
    return code, printed + err, doc, out


def assert_plots(out, report, *names):
    """Each plots/NAME is a PNG the report shows."""
    for name in names:
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(plots/{name})" in report


def check_schema(doc):
    """Every key the JSON promises (runner.py's docstring), with sane values."""
    assert doc["schema"] == runner.SCHEMA
    for key in ("created", "command", "preset", "settings", "machine", "library",
                "elapsed_s", "cases"):
        assert key in doc, key
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["packages"]["numpy"]
    assert doc["library"]["version"] and doc["library"]["backend"] == "cpu"
    assert set(doc["library"]["gpu"]) == {"usable", "reason", "message", "devices", "emulated",
                                          "emulation_evidence", "runtime"}
    for case in doc["cases"]:
        assert case["id"] == f"{case['group']}/{case['curve']}={case['x']:g}"
        assert case["gpu"] is False and case["emulated"] is False
        assert case["items"] > 0 and isinstance(case["params"], dict)
        assert case["results"][0]["kind"] == "ours"
        for r in case["results"]:
            assert RESULT_KEYS <= set(r) and r["kind"] in ("ours", "peer", "limit")
            assert r["status"] in ("ok", "skipped", "disagrees", "failed")
            if r["status"] != "ok":
                continue
            assert TIMED_KEYS <= set(r), set(r)
            s = r["seconds"]
            assert 1 <= s["repeat"] and 0 <= s["min"] <= s["median"] <= s["max"]
            assert r["items_per_s"] > 0
            assert r["memory"]["peak_bytes"] > 0
            if r["kind"] == "ours":
                assert r["ratio_to_ours"] == pytest.approx(1.0)
            else:
                assert r["ratio_to_ours"] > 0
            if r["kind"] == "peer":
                assert r["agreement"]["ok"] is True


@pytest.mark.slow
def test_run_writes_the_json_report_and_plots(capsys, tmp_path):
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "group/positions",
                                    "reassemble")
    assert code == 0, printed
    check_schema(doc)
    assert [c["id"] for c in doc["cases"]] == [
        "reassemble/patches=400", "reassemble/patches=4000",
        "group/positions=1000", "group/positions=10000"]
    names = {r["name"] for c in doc["cases"] for r in c["results"]}
    assert {"ptychopatch", "numpy np.add.at", "copy of the patch bytes"} <= names
    report = (out / "report.md").read_text()
    assert "## reassemble/patches" in report and "## group/positions" in report
    assert "Figures from the quick set" in report
    if _bench.plots.matplotlib_missing() is None:
        assert_plots(out, report, "reassemble-patches.png", "group-positions.png")
    else:
        assert "matplotlib is not installed" in report
    assert "results.json" in printed and "2 cases" not in printed


def test_without_matplotlib_the_report_says_so(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "group/positions")
    assert code == 0, printed
    assert "matplotlib is not installed" in (out / "report.md").read_text()
    assert not (out / "plots").exists()


@pytest.mark.slow
def test_a_peer_that_disagrees_is_flagged_and_not_timed(capsys, tmp_path, monkeypatch):
    # The K-NN peers are checked by whether the library's groups lie in
    # their pools; make that check fail.
    monkeypatch.setattr(_bench.group, "pools_hold",
                        lambda groups, pools: {"ok": False, "outside": len(groups)})
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "group/positions")
    assert code == 0, printed
    for case in doc["cases"]:
        ours, *peers = case["results"]
        assert ours["status"] == "ok"
        for r in peers:
            if r["status"] == "skipped":
                continue
            assert r["status"] == "disagrees" and r["agreement"]["ok"] is False
            assert "seconds" not in r and r["ratio_to_ours"] is None
    assert "peers that disagree with the library (not timed): group/positions=1000" in printed
    assert "DISAGREES" in (out / "report.md").read_text()


def test_the_runner_flags_a_wrong_result():
    wrong = Case("extract", "patches", 1, "patches", 4, {}, lambda: [
        Impl("ptychopatch", "ours", run=lambda: [1.0, 2.0], items=4),
        Impl("off by one", "peer", run=lambda: [2.0, 3.0], items=4, check=close_to(1e-6)),
        Impl("right", "peer", run=lambda: [1.0, 2.0], items=2, check=close_to(1e-6)),
        Skipped("absent", "peer", "absent not installed (pip install absent)")])
    doc = runner.run_case(wrong, repeat=1, budget_s=0.0, memory_budget=None)
    ours, off, right, absent = doc["results"]
    assert off["status"] == "disagrees" and off["agreement"]["max_abs_diff"] == 1.0
    assert right["status"] == "ok" and right["agreement"]["ok"]
    assert absent == {"name": "absent", "kind": "peer", "status": "skipped",
                      "note": "absent not installed (pip install absent)",
                      "ratio_to_ours": None}


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failed_case_exits_1_with_or_without_json(capsys, tmp_path, monkeypatch, as_json):
    def broken():
        raise RuntimeError("the library broke")

    failing = Case("group", "positions", 10, "positions", 10, {}, lambda: [
        Impl("ptychopatch", "ours", run=broken, items=10)])
    monkeypatch.setattr(_bench.suite, "cases", lambda *args, **kwargs: [failing])
    code = cli.main(["bench", "--quick", "--repeat", "1", "--out", str(tmp_path / "out")]
                    + (["--json"] if as_json else []))
    printed, err = capsys.readouterr()
    assert code == 1, printed + err
    assert "cases that failed: group/positions=10" in (err if as_json else printed)
    if as_json:
        doc = json.loads(printed)  # stdout is the document alone
        assert doc["cases"][0]["status"] == "failed"
        assert "RuntimeError: the library broke" in doc["cases"][0]["note"]


@pytest.mark.slow
def test_absent_peers_are_skipped_with_a_note(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.neighbors", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "group/positions",
                                    "extract/N")
    assert code == 0, printed
    notes = {r["name"]: r["note"] for c in doc["cases"] for r in c["results"]
             if r["status"] == "skipped"}
    assert notes["scikit-learn NearestNeighbors"] == \
        "scikit-learn not installed (pip install scikit-learn)"
    assert notes["torch grid_sample"] == "torch not installed (pip install torch)"
    report = (out / "report.md").read_text()
    assert "- scikit-learn NearestNeighbors: skipped: scikit-learn not installed" in report


@pytest.mark.slow
def test_compare_prints_ratios_to_an_earlier_run(capsys, tmp_path):
    code, printed, first, out = bench(capsys, tmp_path, "--only", "group/positions")
    assert code == 0, printed
    # An "earlier run" whose library took twice as long.
    old = json.loads(json.dumps(first))
    for case in old["cases"]:
        case["results"][0]["seconds"]["median"] *= 2
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old))
    new_out = tmp_path / "new"
    code = cli.main(["bench", "--quick", "--repeat", "1", "--only", "group/positions",
                     "--out", str(new_out), "--compare", str(old_path)])
    printed = capsys.readouterr().out
    assert code == 0
    doc = json.loads((new_out / "results.json").read_text())
    rows = {(r["case"], r["name"]): r for r in doc["compare"]["rows"]}
    new_per_item = {(c["id"], r["name"]): r["seconds"]["median"] / r["items"]
                    for c in doc["cases"] for r in c["results"] if r["status"] == "ok"}
    for key, row in rows.items():
        assert row["ratio"] == pytest.approx(new_per_item[key] / row["old_s_per_item"])
    assert "| group/positions=1000 | ptychopatch |" in printed
    assert "Compared with an earlier run" in (new_out / "report.md").read_text()


def test_compare_ratios_and_unmatched_rows():
    def doc(**medians):
        return {"cases": [{"id": case, "results": [
            {"name": "ptychopatch", "status": "ok", "items": 4, "seconds": {"median": m}}]}
            for case, m in medians.items()]}

    rows = compare.ratios(doc(a=1.0, b=3.0), doc(a=4.0, c=1.0))
    assert [(r["case"], r["ratio"]) for r in rows] == [("a", 0.25), ("b", None), ("c", None)]
    assert "only in the other run" in "\n".join(compare.table(rows, "old.json"))


def test_compare_refuses_a_file_that_is_not_a_results_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cases": []}')
    code = cli.main(["bench", "--quick", "--compare", str(bad), "--out", str(tmp_path)])
    assert code == 1
    assert "not a results file of ptychopatch bench" in capsys.readouterr().err


@pytest.mark.slow
def test_memory_budget_skips_points_with_the_reason(capsys, tmp_path):
    code, printed, doc, _ = bench(capsys, tmp_path, "--only", "extract/patches",
                                  "--memory-budget", "0.01")
    assert code == 0, printed
    big = doc["cases"][1]  # 4000 patches of 32 x 32 complex64: 33 MB
    assert big["status"] == "skipped" and "--memory-budget" in big["note"]
    assert doc["cases"][0]["status"] == "ok"


def test_only_that_selects_nothing_is_an_error(capsys, tmp_path):
    code = cli.main(["bench", "--quick", "--only", "nothing", "--out", str(tmp_path)])
    assert code == 1
    assert "selects no case" in capsys.readouterr().err


def test_measure_stops_at_the_budget_and_counts_runs():
    calls = []
    t = timing.measure(lambda: calls.append(1), repeat=5, budget_s=0.0)
    assert t.repeat == 1 and len(calls) == 1
    t = timing.measure(lambda: calls.append(1), repeat=4, budget_s=60.0)
    assert t.repeat == 4 and t.min <= t.median <= t.max


def test_peak_rss_sees_an_allocation():
    """64 MiB the process provably did not hold: a fresh anonymous mapping,
    a byte written to each page, in a fresh process (no memory a freed
    allocation left resident to reuse, no other thread freeing memory
    while the block is held)."""
    code = """
import json, mmap
from ptychopatch._bench import timing
size = 64 << 20
with timing.PeakRss() as rss:
    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
print(json.dumps(rss.as_dict()))
"""
    run = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    memory = json.loads(run.stdout)
    assert memory["peak_bytes"] >= 64 << 20
    if memory["per_case"]:
        assert memory["above_start_bytes"] >= 60 << 20, memory


@pytest.mark.slow
def test_from_a_results_file_updates_a_docs_section(capsys, tmp_path):
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "group/positions")
    assert code == 0, printed
    page = tmp_path / "performance.md"
    page.write_text(f"# Intro\n\n{_bench.perfdoc.BEGIN}\nold tables\n{_bench.perfdoc.END}\n"
                    "\n## GPU\nhand-written\n")
    again = tmp_path / "again"
    code = cli.main(["bench", "--from", str(out / "results.json"), "--update-doc", str(page),
                     "--out", str(again)])
    assert code == 0, capsys.readouterr()
    text = page.read_text()
    assert text.startswith("# Intro\n\n" + _bench.perfdoc.BEGIN + "\nGenerated from ")
    assert "old tables" not in text and text.endswith("\n## GPU\nhand-written\n")
    assert "| 1000 | ptychopatch (ours) |" in text and doc["machine"]["cpu"] in text
    # The report of the earlier run is remade, not a new run.
    assert json.loads((again / "results.json").read_text())["created"] == doc["created"]
    page.write_text("# no markers\n")
    code = cli.main(["bench", "--from", str(out / "results.json"), "--update-doc", str(page),
                     "--out", str(again)])
    assert code == 1 and "no generated section" in capsys.readouterr().err


def test_update_doc_leaves_the_file_as_it_was_when_it_cannot_make_the_text(
        monkeypatch, tmp_path):
    # An older results file lacks a field the tables need (KeyError), or the
    # page has no markers (ValueError): the page keeps its text, and no
    # temporary file is left beside it.
    page = tmp_path / "performance.md"
    marked = f"# Intro\n{_bench.perfdoc.BEGIN}\nold tables\n{_bench.perfdoc.END}\n"
    page.write_text(marked)
    with pytest.raises(KeyError):
        _bench.perfdoc.update(str(page), {"cases": []}, "old.json")
    assert page.read_text() == marked
    monkeypatch.setattr(_bench.perfdoc, "section", lambda doc, source: "new tables")
    page.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no generated section"):
        _bench.perfdoc.update(str(page), {}, "r.json")
    assert page.read_text() == "# no markers\n"
    page.write_text(marked)
    _bench.perfdoc.update(str(page), {}, "r.json")
    assert page.read_text() == marked.replace("old tables", "new tables")
    assert [p.name for p in tmp_path.iterdir()] == ["performance.md"]


@pytest.mark.slow
def test_memory_view_plots_and_tables_peak_memory_against_the_data_size(capsys, tmp_path):
    # 400 patches of 32 x 32 complex64 are 3.3 MB, 4,000 are 32.8 MB: twice
    # that is over a 50 MB budget, so the second point is skipped.
    code, printed, doc, out = bench(capsys, tmp_path, "--only", "extract/patches",
                                    "reassemble", "--memory-budget", "0.05")
    assert code == 0, printed
    by_id = {c["id"]: c for c in doc["cases"]}
    small = by_id["extract/patches=400"]
    assert small["output_bytes"] == 400 * 32 * 32 * 8 and small["size_axis"] == "output"
    assert small["input_bytes"] == 512 * 512 * 8 + 400 * 16
    scatter = by_id["reassemble/patches=400"]
    assert scatter["size_axis"] == "input" and scatter["input_bytes"] == 400 * 32 * 32 * 8
    assert scatter["output_bytes"] == 512 * 512 * 12  # canvas + weights
    assert by_id["extract/patches=4000"]["status"] == "skipped"
    assert doc["settings"]["memory_budget"] == 50_000_000
    ours = small["results"][0]
    assert ours["memory"]["peak_bytes"] > 0
    assert _bench.memory.series([small])["ptychopatch"]["peak_mb"] == \
        [ours["memory"]["peak_bytes"] / 1e6]
    report = (out / "report.md").read_text()
    assert "### extract/patches: memory against patches (B·c) and the output size" in report
    assert "### reassemble/patches: memory against patches and the input size" in report
    assert "| 400 | 3.3 MB | 2.1 MB | " in report
    assert ("| 4000 | 32.8 MB | 2.2 MB | – | – | – | – | skipped: its output (32.8 MB, twice "
            "that with a copy) is over the memory budget (50.0 MB, --memory-budget) |") in report
    assert "Memory budget (`--memory-budget`): 50.0 MB" in report
    if _bench.plots.matplotlib_missing() is None:
        assert_plots(out, report, "extract-patches-memory.png", "reassemble-patches-memory.png")


def test_memory_view_draws_the_library_budget_a_case_sets(tmp_path):
    pytest.importorskip("matplotlib")
    case = {"x": 100, "curve": "patches", "size_axis": "output", "output_bytes": 8e6,
            "input_bytes": 2e6, "status": "ok", "params": {"device_memory_budget": 5e8},
            "gpu": True, "results": [{"name": "ptychopatch", "kind": "ours", "status": "ok",
                                      "memory": {"peak_bytes": 9e7, "above_start_bytes": 1e7},
                                      "device_memory": {"peak_bytes": 3e7}}]}
    assert _bench.memory.library_budget([case]) == 5e8
    import matplotlib.axes

    drawn = []
    original = matplotlib.axes.Axes.axhline

    def axhline(self, y=0, *args, **kwargs):
        drawn.append((y, kwargs.get("label")))
        return original(self, y, *args, **kwargs)

    path = tmp_path / "m.png"
    try:
        matplotlib.axes.Axes.axhline = axhline
        assert _bench.memory.draw("gpu-extract/patches", [case], "patches", str(path), 2e9)
    finally:
        matplotlib.axes.Axes.axhline = original
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (2000.0, "--memory-budget") in drawn
    assert (500.0, "the library's device budget") in drawn
    assert not _bench.memory.draw("x/y", [dict(case, results=[])], "x", str(path), None)


def _part(only, ids, **settings):
    return {"machine": {"hostname": "h", "cpu": "c"}, "library": {"version": "1"},
            "preset": "full", "created": "t", "elapsed_s": 1.0, "command": ["bench"],
            "settings": dict({"repeat": 5, "budget_s": 3.0, "memory_budget": 10,
                              "threads": 0, "seed": 0, "only": only}, **settings),
            "cases": [{"id": i, "part": only} for i in ids]}


def test_merge_replaces_a_rerun_case_in_its_place():
    first = _part(["x"], ["x=1", "x=2", "x=4"])
    rerun = _part(["x=2"], ["x=2"])
    merged = compare.merge([first, rerun], ["a.json", "b.json"])
    assert [(c["id"], c["part"]) for c in merged["cases"]] == [
        ("x=1", ["x"]), ("x=2", ["x=2"]), ("x=4", ["x"])]


@pytest.mark.parametrize("setting,value", [("threads", 1), ("repeat", 1), ("budget_s", 0.3),
                                           ("seed", 7), ("memory_budget", 20)])
def test_merge_refuses_parts_run_with_other_settings(setting, value):
    a, b = _part(["x"], ["x=1"]), _part(["y"], ["y=1"], **{setting: value})
    with pytest.raises(ValueError, match=f"b.json: run with other settings than a.json "
                                         f"\\({setting} {value!r}, not "):
        compare.merge([a, b], ["a.json", "b.json"])


@pytest.mark.slow
def test_from_several_files_merges_a_run_split_by_only(capsys, tmp_path):
    parts = []
    for curve in ("group/positions", "reassemble"):
        code, printed, doc, out = bench(capsys, tmp_path / curve.replace("/", "-"),
                                        "--only", curve)
        assert code == 0, printed
        parts.append(str(out / "results.json"))
    merged = tmp_path / "merged"
    code = cli.main(["bench", "--from", *parts, "--out", str(merged)])
    assert code == 0, capsys.readouterr()
    doc = json.loads((merged / "results.json").read_text())
    assert [c["id"] for c in doc["cases"]] == [
        "group/positions=1000", "group/positions=10000",
        "reassemble/patches=400", "reassemble/patches=4000"]
    assert [p["file"] for p in doc["parts"]] == parts
    assert doc["settings"]["only"] == ["group/positions", "reassemble"]
    report = (merged / "report.md").read_text()
    assert "## group/positions" in report and "## reassemble/patches" in report
    assert "- in 2 parts (`--only`), merged by `--from`: group/positions " in report
    other = json.loads(open(parts[1]).read())
    other["machine"]["hostname"] = "elsewhere"
    (tmp_path / "other.json").write_text(json.dumps(other))
    code = cli.main(["bench", "--from", parts[0], str(tmp_path / "other.json"),
                     "--out", str(merged)])
    assert code == 1 and "not one run" in capsys.readouterr().err
