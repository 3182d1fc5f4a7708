"""scripts/wheel_bundle_notices.py on a small wheel: the licence files and
RECORD lines it adds for a statically linked Debian source package
(--linked-in), checked with hashlib; a bad argument leaves the wheel as it
was and says why."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "wheel_bundle_notices.py"
pytestmark = pytest.mark.skipif(
    not (os.path.exists("/usr/share/doc/libfftw3-single3/copyright")
         and os.path.exists("/usr/share/common-licenses/GPL-2")),
    reason="needs Debian's FFTW copyright file and GPL-2 text (scripts/install-deps.sh)")


def small_wheel(folder: Path) -> Path:
    wheel = folder / "demo-1.0-py3-none-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo/__init__.py", "")
        zf.writestr("demo-1.0.dist-info/RECORD",
                    "demo/__init__.py,,\ndemo-1.0.dist-info/RECORD,,\n")
    return wheel


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True)


def test_linked_in_adds_the_notes_and_their_record_lines(tmp_path):
    wheel = small_wheel(tmp_path)
    done = run(wheel, "--linked-in", "fftw3=3.3.10-1")
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        notes = zf.read("demo-1.0.dist-info/licenses/BUNDLED_LIBRARIES.txt").decode()
        record = zf.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        contents = {name: zf.read(name) for name in names}
    assert "fftw3 3.3.10-1 (Debian source package)" in notes
    assert "linked statically" in notes
    assert "https://snapshot.debian.org/package/fftw3/3.3.10-1/" in notes
    for name in ("GPL-2.0.txt", "libfftw3-single3.copyright"):
        assert f"demo-1.0.dist-info/licenses/{name}" in names
    # Every added file is in RECORD with its own hash and size.
    lines = {line.split(",")[0]: line for line in record}
    for name in names:
        if "/licenses/" in name:
            data = contents[name]
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert lines[name] == f"{name},sha256={digest.decode()},{len(data)}"
    assert record[-1] == "demo-1.0.dist-info/RECORD,,"


@pytest.mark.parametrize("argument", ["fftw3", "zlib=1.2.13", "fftw3="])
def test_a_bad_linked_in_leaves_the_wheel_and_says_why(tmp_path, argument):
    wheel = small_wheel(tmp_path)
    before = wheel.read_bytes()
    done = run(wheel, "--linked-in", argument)
    assert done.returncode != 0
    assert "--linked-in" in done.stderr and "SOURCE=VERSION" in done.stderr
    assert wheel.read_bytes() == before


def test_a_wheel_with_nothing_bundled_is_refused(tmp_path):
    wheel = small_wheel(tmp_path)
    before = wheel.read_bytes()
    done = run(wheel)
    assert done.returncode != 0 and "bundles no libraries" in done.stderr
    assert wheel.read_bytes() == before
