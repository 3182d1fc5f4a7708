"""The manylinux_2_28 wheel of scripts/build-wheel-glibc228.sh installs on glibc 2.28.

Two independent readings of every ELF file in the wheel: auditwheel's
policy check (PyPA's tool, the one pip's tags come from) and the symbol
versions the dynamic linker will ask for (objdump). Run by
scripts/check-wheel-glibc228.sh, which builds the wheel and names it in
PTYCHOPATCH_GLIBC228_WHEEL; skipped elsewhere (building it takes minutes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

WHEEL = os.environ.get("PTYCHOPATCH_GLIBC228_WHEEL")
pytestmark = pytest.mark.skipif(not WHEEL, reason="PTYCHOPATCH_GLIBC228_WHEEL names no wheel "
                                                  "(scripts/check-wheel-glibc228.sh sets it)")
GLIBC_FLOOR = (2, 28)


def version_needs(elf: Path) -> dict:
    """{needed library: [version names]} from the ELF's version references."""
    dump = subprocess.run(["objdump", "-p", str(elf)], capture_output=True, text=True,
                          check=True).stdout
    needs, library = {}, None
    for line in dump.splitlines():
        found = re.match(r"\s*required from (\S+):", line)
        if found:
            library = found.group(1)
            needs[library] = []
        elif library and re.match(r"\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)", line):
            needs[library].append(line.split()[-1])
        elif line.strip() and not line.startswith(" "):
            library = None
    return needs


@pytest.fixture(scope="module")
def elf_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    with zipfile.ZipFile(WHEEL) as zf:
        zf.extractall(folder)
    files = [p for p in folder.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    assert any(p.name == "libptychopatch.so" for p in files), files
    return files


def glibc_of(tag):
    """(major, minor) of a manylinux platform tag; manylinux2014 is glibc 2.17."""
    if tag == "manylinux2014_x86_64":
        return (2, 17)
    found = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
    assert found, tag
    return int(found.group(1)), int(found.group(2))


def test_wheel_tags_let_pip_install_it_on_glibc_2_28():
    tags = Path(WHEEL).name[:-len(".whl")].split("-")[-1].split(".")
    assert min(glibc_of(tag) for tag in tags) <= GLIBC_FLOOR, tags


def test_auditwheel_finds_the_wheel_within_manylinux_2_28():
    shown = subprocess.run([sys.executable, "-m", "auditwheel", "show", "--json", WHEEL],
                           capture_output=True, text=True, check=True).stdout
    tag = json.loads(shown)["overall_tag"]
    assert glibc_of(tag) <= GLIBC_FLOOR, tag


def test_no_elf_asks_for_a_newer_glibc_or_a_libstdcxx(elf_files):
    for elf in elf_files:
        for library, versions in version_needs(elf).items():
            assert not library.startswith("libstdc++"), f"{elf.name} needs {library}"
            for name in versions:
                glibc = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", name)
                if glibc:
                    assert (int(glibc.group(1)), int(glibc.group(2))) <= GLIBC_FLOOR, \
                        f"{elf.name} needs {name} from {library}"


def test_version_needs_reads_objdump():
    # The parser must see the versions a Debian 12 binary asks for, or the
    # check above would pass on anything.
    needs = version_needs(Path(sys.executable).resolve())
    libc = [v for lib, versions in needs.items() if lib.startswith("libc.so")
            for v in versions]
    assert any(v.startswith("GLIBC_2.") for v in libc), needs


def test_fftw_linked_in_is_named_with_its_licence():
    with zipfile.ZipFile(WHEEL) as zf:
        names = zf.namelist()
        notes = next(n for n in names if n.endswith(".dist-info/licenses/BUNDLED_LIBRARIES.txt"))
        text = zf.read(notes).decode()
    assert "fftw3 3.3.10" in text and "linked statically" in text
    assert any(n.endswith(".dist-info/licenses/GPL-2.0.txt") for n in names)
