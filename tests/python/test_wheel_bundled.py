"""The installed wheel is self-contained (scripts/build-wheel.sh).

auditwheel copies the non-system libraries libptychopatch.so needs (FFTW,
LZ4) into ``ptychopatch.libs/`` beside the package. These tests
check that an installed wheel uses those copies, and that it imports and
works on a machine without the system's copies: they hide them (a mount
namespace binds an empty file over each) and run the package there.

They apply to a package installed from the repaired wheel; elsewhere (a
build tree named by PTYCHOPATCH_LIBRARY, ``pip install .``) they skip —
unless PTYCHOPATCH_EXPECT_REPAIRED_WHEEL is set, as scripts/test.sh does,
where they fail, so CI cannot test an unrepaired wheel by mistake.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import ptychopatch
from ptychopatch import _native

# The shared libraries the wheel must carry (their system sonames).
SYSTEM_SONAMES = ("libfftw3f.so.3", "libfftw3.so.3", "liblz4.so.1")

# A little of everything that reaches FFTW, LZ4 (FLANN's index) and the
# library's threads.
WORKLOAD = textwrap.dedent("""
    import numpy as np
    import ptychopatch
    rng = np.random.default_rng(1)
    obj = (rng.standard_normal((96, 96)) + 1j * rng.standard_normal((96, 96))).astype(np.complex64)
    offsets = rng.uniform(-20, 20, size=(16, 1, 2))
    patches = ptychopatch.extract_patches(obj, offsets, 16, num_threads=2)
    assert patches.shape[0] == 16 and np.abs(patches).max() > 0, patches.shape
    ref = rng.random((64, 64)).astype(np.float32)
    shift, _, _ = ptychopatch.phase_cross_correlation(ref, np.roll(ref, (2, -4), (0, 1)),
                                                      backend="cpu")
    assert tuple(shift) == (-2.0, 4.0), shift  # the shift that registers moving on ref
    xy = rng.uniform(0, 100, size=(200, 2))
    groups = ptychopatch.group_neighbors(xy[:, 0], xy[:, 1], 10, seed=3)
    assert len(groups["nn_indices"]) == 10
    with open("/proc/self/maps") as maps:
        print(maps.read())
""")


def _libs_dir() -> pathlib.Path:
    package = pathlib.Path(ptychopatch.__file__).resolve().parent
    libs = package.parent / "ptychopatch.libs"
    if libs.is_dir() and pathlib.Path(_native.LIBRARY_PATH).resolve().parent == package:
        return libs
    if os.environ.get("PTYCHOPATCH_EXPECT_REPAIRED_WHEEL"):
        pytest.fail(f"PTYCHOPATCH_EXPECT_REPAIRED_WHEEL is set but {package} was not "
                    f"installed from a repaired wheel (no {libs}, or the library in use is "
                    f"{_native.LIBRARY_PATH})")
    pytest.skip("the package under test is not an installed repaired wheel "
                "(scripts/build-wheel.sh)")


def _mapped_files(maps: str) -> set:
    return {line.split()[-1] for line in maps.splitlines()
            if len(line.split()) >= 6 and line.split()[-1].startswith("/")}


def _system_copies() -> list:
    """Paths of the system's copies of SYSTEM_SONAMES (ldconfig's cache)."""
    found = []
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] in SYSTEM_SONAMES and path:
            found.append(os.path.realpath(path))
    return sorted(set(found))


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PTYCHOPATCH_LIBRARY", "LD_LIBRARY_PATH", "LD_PRELOAD")}
    return env


def test_bundled_libraries_are_the_ones_loaded():
    libs = _libs_dir()
    bundled = sorted(p.name for p in libs.iterdir())
    for soname in SYSTEM_SONAMES:
        stem = soname.split(".so")[0]
        assert any(name.startswith(stem + "-") for name in bundled), (soname, bundled)
    run = subprocess.run([sys.executable, "-c", WORKLOAD], capture_output=True, text=True,
                         cwd="/", env=_environment(), timeout=300)
    assert run.returncode == 0, run.stderr
    mapped = _mapped_files(run.stdout)
    from_wheel = [p for p in mapped if p.startswith(str(libs))]
    assert len(from_wheel) >= len(SYSTEM_SONAMES), (from_wheel, bundled)
    # FFTW and LZ4 come only from the wheel.
    for path in _system_copies():
        assert path not in mapped, f"{path} was loaded from the system"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="hiding the system libraries needs root and unshare")
def test_works_without_the_system_libraries(tmp_path):
    _libs_dir()
    system = _system_copies()
    assert system, "ldconfig lists none of " + ", ".join(SYSTEM_SONAMES)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    hide = " && ".join(f"mount --bind {empty} {path}" for path in system)
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    target = tmp_path / "target"
    target.write_bytes(b"x")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private",
                            "mount", "--bind", str(empty), str(target)], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not allow bind mounts in a mount namespace: " +
                    probe.stderr.decode(errors="replace").strip())
    # First show the hiding works: the system's FFTW can no longer be loaded.
    check = f"import ctypes; ctypes.CDLL({system[0]!r})"
    hidden = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"{hide} && exec {sys.executable} -c \"{check}\""],
        capture_output=True, text=True, cwd="/", env=_environment(), timeout=60)
    assert hidden.returncode != 0 and "OSError" in hidden.stderr, (
        "binding an empty file over it did not hide " + system[0] + ": " + hidden.stderr)
    run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"{hide} && exec {sys.executable} {script}"],
        capture_output=True, text=True, cwd="/", env=_environment(), timeout=300)
    assert run.returncode == 0, run.stderr
