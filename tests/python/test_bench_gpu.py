"""``ptychopatch bench``'s GPU part: the gpu-* quick set on the emulated
CUDA device of tests/emulation (plumbing only: every figure marked
emulated, no rate or ratio, left out of --compare and of the generated
docs), and the runner's rule that an emulated case yields no speed.

The emulated run needs the emulated build (the CMake build's
build/tests/emulation, or PTYCHOPATCH_EMULATION_DIR) and is skipped with
that reason without one.
"""

import ctypes
import json
import os
import subprocess
import sys

import pytest

from ptychopatch._bench import compare, gpu, perfdoc, runner, suite
from ptychopatch._bench.registry import Case, Impl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATION = os.environ.get("PTYCHOPATCH_EMULATION_DIR",
                           os.path.join(REPO, "build", "tests", "emulation"))
EMULATED_LIBRARY = os.path.join(EMULATION, "libptychopatch_emulated.so")
EMULATOR = os.path.join(EMULATION, "libptychopatch_cuda_emulator.so")
GPU_IDS = ["gpu-extract/patches=100", "gpu-extract/patches=400",
           "gpu-reassemble/patches=100", "gpu-reassemble/patches=400",
           "gpu-align/megapixels=0.05", "gpu-align/megapixels=0.1"]


@pytest.fixture(scope="module")
def emulated_run(tmp_path_factory):
    """The gpu-* quick set run on the emulated device: (results, out folder)."""
    if not (os.path.exists(EMULATED_LIBRARY) and os.path.exists(EMULATOR)):
        pytest.skip(f"no emulated-device build at {EMULATION} (run the CMake build first)")
    out = tmp_path_factory.mktemp("bench-emulated")
    # Preloaded: the emulator keeps CUDA's built-in variables in
    # initial-exec thread-local storage (as tests/python/test_backend_info.py).
    env = dict(os.environ, PTYCHOPATCH_LIBRARY=EMULATED_LIBRARY,
               LD_PRELOAD=f"{EMULATOR} {EMULATED_LIBRARY}",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, "-m", "ptychopatch", "bench", "--quick", "--repeat", "1",
         "--only", "gpu-*", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "results.json").read_text()), out


@pytest.mark.slow
def test_every_gpu_figure_is_marked_emulated_and_no_speed(emulated_run):
    doc, out = emulated_run
    gpu_entry = doc["library"]["gpu"]
    assert gpu_entry["usable"] and gpu_entry["emulated"], gpu_entry
    assert "emulated CUDA device" in gpu_entry["emulation_evidence"]
    assert [c["id"] for c in doc["cases"]] == GPU_IDS
    has_peak = hasattr(ctypes.CDLL(EMULATOR), "ptp_emu_device_memory_peak")
    for case in doc["cases"]:
        assert case["status"] == "ok" and case["gpu"] and case["emulated"], case
        timed = [r for r in case["results"] if r["status"] == "ok"]
        assert timed[0]["kind"] == "ours" and len(timed) >= 2, case["results"]
        for r in timed:
            assert r["emulated"] is True
            assert r["items_per_s"] is None and r["bytes_per_s"] is None
            assert r["ratio_to_ours"] is None
            assert r["seconds"]["median"] > 0  # kept, for plumbing
            mem = r["device_memory"]
            if has_peak:
                assert mem["peak_bytes"] > 0 and mem["method"].startswith("emulator"), mem
            else:
                assert mem["peak_bytes"] is None and "rebuild" in mem["reason"], mem
        for r in case["results"]:
            assert r["status"] in ("ok", "skipped"), r


def test_device_arrays_and_copy_limits_run_on_the_emulated_device(emulated_run):
    doc, _ = emulated_run
    status = {(c["id"], r["name"]): r for c in doc["cases"] for r in c["results"]}
    for case_id in GPU_IDS[:4]:
        device = status[(case_id, "ptychopatch GPU, device arrays")]
        assert device["status"] == "ok" and device["agreement"]["ok"], device
        assert "CUDA runtime buffers" in device["note"]
    assert status[("gpu-extract/patches=400",
                   "device-to-device copy of the output bytes")]["status"] == "ok"
    assert status[("gpu-align/megapixels=0.1",
                   "host-to-device copy of the raw frames")]["status"] == "ok"
    # PyTorch does not see the emulated device: its CUDA peers are skipped.
    assert status[("gpu-extract/patches=100", "torch grid_sample (CUDA)")]["status"] == \
        "skipped"


def test_report_plots_compare_and_docs_say_emulated(emulated_run):
    doc, out = emulated_run
    report = (out / "report.md").read_text()
    assert "EMULATED CUDA device" in report and "not speeds" in report
    assert "## gpu-extract/patches: time against patches (B·c) (EMULATED device" in report
    assert "| emulated | emulated | – |" in report and "peak device memory" in report
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        for name in ("gpu-extract-patches", "gpu-reassemble-patches", "gpu-align-megapixels"):
            assert (out / "plots" / f"{name}.png").stat().st_size > 0
    assert compare.ratios(doc, doc) == []
    section = perfdoc.section(doc, "results.json")
    assert "6 GPU cases of that run ran on the emulated device" in section
    assert "gpu-extract" not in section


def test_an_emulated_case_yields_no_rate_or_ratio(monkeypatch):
    monkeypatch.setattr(gpu, "status", lambda: {"emulated": True})
    case = Case("gpu-extract", "patches", 4, "patches", 4, {}, lambda: [
        Impl("ptychopatch GPU, host arrays", "ours", run=lambda: 1, items=4),
        Impl("a copy", "limit", run=lambda: 1, items=4)], output_bytes=64, gpu=True)
    doc = runner.run_case(case, repeat=1, budget_s=0.0, memory_budget=None)
    assert doc["emulated"] is True
    for r in doc["results"]:
        assert r["emulated"] is True and r["status"] == "ok"
        assert (r["items_per_s"], r["bytes_per_s"], r["ratio_to_ours"]) == (None, None, None)
        assert "device_memory" in r
    assert "EMULATED device" in runner.summary_line(doc)


def test_gpu_curves_are_not_selected_without_a_usable_gpu(monkeypatch):
    monkeypatch.setattr(suite, "gpu_usable", lambda: False)
    assert suite.cases(quick=True, threads=0, only=["gpu-*"]) == []
    monkeypatch.setattr(suite, "gpu_usable", lambda: True)
    assert [c.id for c in suite.cases(quick=True, threads=0, only=["gpu-*"])] == GPU_IDS
