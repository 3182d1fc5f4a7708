"""benchmarks/gpu_model.py counts what it should (no GPU, no nvcc needed).

The model's figures are only as good as its loop finding and instruction
counting, so these check them on snippets whose answer is known, and that
a wrong answer is caught.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_model.py"


@pytest.fixture(scope="module")
def gm():
    spec = importlib.util.spec_from_file_location("gpu_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_model"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_self_test_passes(gm):
    assert gm.self_test() == []


def test_self_test_catches_a_wrong_count(gm, monkeypatch):
    # One store fewer: 1.5 elements per iteration instead of 2, so every
    # per-element figure moves and the self-test must say so.
    broken = gm._SELF_PTX.replace("\tst.global.f32 \t[%rd1+4], %f2;\n", "", 1)
    assert broken != gm._SELF_PTX
    monkeypatch.setattr(gm, "_SELF_PTX", broken)
    fails = gm.self_test()
    assert any("PTX elements per iteration" in f for f in fails)


def test_command_line_self_test():
    run = subprocess.run([sys.executable, str(SCRIPT), "--self-test"], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "self-test: ok" in run.stdout


UNROLLED = r"""
.visible .entry k(
	.param .u64 k_param_0
)
{
	ld.param.u64 	%rd1, [k_param_0];
$L__BB0_1:
	ld.global.nc.v4.f32 	{%f1, %f2, %f3, %f4}, [%rd1];
	ld.global.nc.v4.f32 	{%f5, %f6, %f7, %f8}, [%rd1+16];
	st.global.v2.f32 	[%rd2], {%f1, %f2};
	st.global.v2.f32 	[%rd2+8], {%f3, %f4};
	st.global.v2.f32 	[%rd2+16], {%f5, %f6};
	st.global.v2.f32 	[%rd2+24], {%f7, %f8};
	add.s64 	%rd1, %rd1, 32;
	add.s64 	%rd2, %rd2, 32;
	setp.lt.s64 	%p1, %rd1, %rd3;
	@%p1 bra 	$L__BB0_1;
$L__BB0_2:
	ld.global.nc.v2.f32 	{%f1, %f2}, [%rd1];
	st.global.v2.f32 	[%rd2], {%f1, %f2};
	add.s64 	%rd1, %rd1, 8;
	setp.lt.s64 	%p2, %rd1, %rd4;
	@%p2 bra 	$L__BB0_2;
	ret;
}
"""


def test_unrolled_loop_divides_by_its_elements(gm):
    # The main loop (4 complex elements per trip) is chosen over the
    # remainder loop (1 per trip): 10 instructions / 4 elements.
    fn = gm.parse_ptx(UNROLLED)["k"]
    spec = gm.KernelSpec("t", "t", "k", "st.global", 8, 256, "t")
    r = gm.element_loop(fn, spec)
    assert r["elements_per_iteration"] == 4
    assert r["per_element"] == pytest.approx(2.5)
    assert r["store_bytes_per_element"] == 8
    assert r["load_bytes_per_element"] == 8


NESTED = r"""
.visible .entry k(
	.param .u64 k_param_0
)
{
$L__BB0_1:
	mov.u64 	%rd5, 0;
$L__BB0_2:
	ld.global.nc.f32 	%f1, [%rd1];
	add.f32 	%f2, %f2, %f1;
	add.s64 	%rd5, %rd5, 1;
	setp.lt.s64 	%p1, %rd5, 3;
	@%p1 bra 	$L__BB0_2;
	st.global.f32 	[%rd2], %f2;
	add.s64 	%rd2, %rd2, 4;
	setp.lt.s64 	%p2, %rd2, %rd3;
	@%p2 bra 	$L__BB0_1;
	ret;
}
"""


def test_nested_loop_counts_its_trips(gm):
    # Element loop: 1 + 4 (outer) + 5 per inner trip; 3 inner trips = 20.
    fn = gm.parse_ptx(NESTED)["k"]
    spec = gm.KernelSpec("t", "t", "k", "st.global", 4, 256, "t", inner_trips=3)
    r = gm.element_loop(fn, spec)
    assert r["nested_loops"] == 1
    assert r["instructions_per_iteration"] == 10
    assert r["per_element"] == 20


BRANCHY = r"""
.visible .entry k(
	.param .u64 k_param_0
)
{
$L__BB0_1:
	setp.lt.s64 	%p1, %rd1, %rd9;
	@%p1 bra 	$L__BB0_3;
	ld.global.nc.f32 	%f1, [%rd1];
	ld.global.nc.f32 	%f2, [%rd1+4];
	mul.f32 	%f1, %f1, %f3;
	mul.f32 	%f2, %f2, %f3;
	st.global.f32 	[%rd2], %f1;
	st.global.f32 	[%rd2+4], %f2;
	bra.uni 	$L__BB0_4;
$L__BB0_3:
	ld.global.nc.v2.f32 	{%f1, %f2}, [%rd1];
	st.global.v2.f32 	[%rd2], {%f1, %f2};
$L__BB0_4:
	add.s64 	%rd2, %rd2, 8;
	setp.lt.s64 	%p2, %rd2, %rd3;
	@%p2 bra 	$L__BB0_1;
	ret;
}
"""


@pytest.mark.parametrize("path, per_element", [("shortest", 7), ("longest", 12)])
def test_branches_are_alternatives(gm, path, per_element):
    # A fast path (one 8-byte store) and a slow path (two 4-byte stores):
    # one element per trip either way, not two; the fast path is
    # 2 + 2 + 3 instructions, the slow one 2 + 7 + 3.
    fn = gm.parse_ptx(BRANCHY)["k"]
    spec = gm.KernelSpec("t", "t", "k", "st.global", 8, 256, "t", path=path)
    r = gm.element_loop(fn, spec)
    assert r["path_elements"] == 1
    assert r["per_element"] == per_element
