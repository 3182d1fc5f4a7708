"""Where calls run and why: backend_info, version and the one-time warning.

The states that matter most (a GPU present but unusable) cannot be made on
demand on a real machine, so the last tests load the test-only build of the
library on the emulated CUDA device (tests/emulation/, built by ctest's
build in ``build/``) in a child process and use its hooks to give it an
old driver or a foreign architecture. They skip where that build is absent.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import ptychopatch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# PTYCHOPATCH_EMULATION_DIR: another build's tests/emulation directory.
EMULATION = os.environ.get("PTYCHOPATCH_EMULATION_DIR",
                           os.path.join(REPO, "build", "tests", "emulation"))
EMULATED_LIBRARY = os.path.join(EMULATION, "libptychopatch_emulated.so")
EMULATOR = os.path.join(EMULATION, "libptychopatch_cuda_emulator.so")


def test_backend_info_is_consistent_with_the_version():
    info = ptychopatch.backend_info()
    assert info.backend in ("gpu", "cpu")
    assert info.message
    version = ptychopatch.version()
    if info.reason == "gpu":
        assert info.backend == "gpu"
        assert version.endswith("+cuda")
    elif info.reason == "no_cuda_build":
        assert version.endswith("+cpu")
    else:
        assert info.reason in ("no_gpu", "gpu_unusable")
        assert info.backend == "cpu"
        # The version says why instead of claiming the GPU.
        assert version.endswith(f"+cuda (GPU backend unavailable: {info.message})")


def test_cpu_requested():
    info = ptychopatch.backend_info("cpu")
    assert info == ("cpu", "cpu_requested", "the CPU backend was requested")


def test_bad_backend_name():
    with pytest.raises(ValueError, match="backend"):
        ptychopatch.backend_info("cuda")


def _run_emulated(body):
    if not (os.path.exists(EMULATED_LIBRARY) and os.path.exists(EMULATOR)):
        pytest.skip(f"no emulated-device build at {EMULATION} (run the ctest build first)")
    script = textwrap.dedent("""
        import ctypes, warnings
        emulator = ctypes.CDLL(%r)
        import numpy as np
        import ptychopatch
    """ % EMULATOR) + textwrap.dedent(body)
    # Preloaded: the emulator keeps CUDA's built-in variables in initial-exec
    # thread-local storage, which only libraries loaded at start-up can have.
    env = dict(os.environ, PTYCHOPATCH_LIBRARY=EMULATED_LIBRARY,
               LD_PRELOAD=f"{EMULATOR} {EMULATED_LIBRARY}")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_old_driver_falls_back_with_one_warning_that_says_why():
    out = _run_emulated("""
        emulator.ptp_emu_set_driver_version(12020)
        obj = np.ones((16, 16), np.complex64)
        offsets = np.array([[3.0, 4.0]])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                ptychopatch.extract_patches(obj, offsets, 4, layout="flat")
            ptychopatch.reassemble_patches(np.ones((1, 4, 4), np.complex64), offsets, (16, 16),
                                           layout="flat")
        ours = [w for w in caught if issubclass(w.category, ptychopatch.GpuUnavailableWarning)]
        assert len(ours) == 1, [str(w.message) for w in caught]
        print(ours[0].message)
        info = ptychopatch.backend_info()
        assert info.backend == "cpu" and info.reason == "gpu_unusable", info
        print(ptychopatch.version())
    """)
    assert "ptychopatch runs on the CPU: the NVIDIA driver supports CUDA 12.2" in out
    assert "install driver 580 or newer" in out
    assert "+cuda (GPU backend unavailable: the NVIDIA driver supports CUDA 12.2" in out


def test_foreign_architecture_is_named():
    out = _run_emulated("""
        emulator.ptp_emu_set_compute_capability(6, 1, 0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = ptychopatch.backend_info()
        assert info.reason == "gpu_unusable", info
        assert any(issubclass(w.category, ptychopatch.GpuUnavailableWarning) for w in caught)
        print(info.message)
    """)
    assert "compute capability 6.1" in out
    assert "cannot run this build's kernels" in out


def test_usable_emulated_gpu_gives_no_warning():
    out = _run_emulated("""
        with warnings.catch_warnings():
            warnings.simplefilter("error", ptychopatch.GpuUnavailableWarning)
            info = ptychopatch.backend_info()
            ptychopatch.extract_patches(np.ones((16, 16), np.complex64), np.array([[3.0, 4.0]]), 4,
                                        layout="flat")
        assert info.backend == "gpu" and info.reason == "gpu", info
        print(ptychopatch.version())
    """)
    assert out.strip().endswith("+cuda")
