"""What `import ptychopatch` says when the library cannot be loaded.

A library that is there but needs a shared library that is not installed
must be reported as exactly that, naming the missing library (and for the
library's own dependencies the Debian package), not as "not found".
Oracle: a stand-in libptychopatch.so built here that links a library which
is then removed, loaded through PTYCHOPATCH_LIBRARY in a fresh interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from ptychopatch import _native

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(_native.__file__)))


def import_error(library: str) -> str:
    env = dict(os.environ, PTYCHOPATCH_LIBRARY=library, PYTHONPATH=PACKAGE_DIR)
    run = subprocess.run([sys.executable, "-c", "import ptychopatch"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    return run.stderr


@pytest.fixture()
def compiler():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the stand-in library")
    return cc


def test_a_missing_dependency_is_named(tmp_path, compiler):
    (tmp_path / "dep.c").write_text("int ptp_test_dependency(void) { return 1; }\n")
    (tmp_path / "lib.c").write_text(textwrap.dedent("""
        int ptp_test_dependency(void);
        int ptp_stand_in(void) { return ptp_test_dependency(); }
    """))
    dep = tmp_path / "libptpmissingdep.so"
    lib = tmp_path / "libptychopatch.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(dep), str(tmp_path / "dep.c")],
                   check=True)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "lib.c"),
                    f"-L{tmp_path}", "-lptpmissingdep"], check=True)
    dep.unlink()  # installed at link time, gone at run time
    message = import_error(str(lib))
    assert "needs libptpmissingdep.so, which is not installed" in message
    assert "not found. Install" not in message


def test_the_library_s_own_dependencies_name_their_debian_package():
    assert _native._missing_dependency(
        "libfftw3f.so.3: cannot open shared object file: No such file or directory"
    ) == ("libfftw3f.so.3", "libfftw3-single3")
    assert _native._missing_dependency(
        "liblz4.so.1: cannot open shared object file: No such file or directory"
    ) == ("liblz4.so.1", "liblz4-1")
    assert _native._missing_dependency("invalid ELF header") is None


def test_a_path_that_does_not_exist_is_not_a_missing_dependency(tmp_path):
    message = import_error(str(tmp_path / "libptychopatch.so"))
    assert "could not be loaded" in message
    assert "which is not installed" not in message
