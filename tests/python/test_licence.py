"""The project's licence: LICENSE in the repository, and the licence
metadata and files of the installed ptychopatch distribution (the wheel's
.dist-info: License-Expression, License-File, licenses/*; pyproject.toml,
docs/packaging.md "Licences")."""

import importlib.metadata
from pathlib import Path

import pytest

import ptychopatch

REPO = Path(__file__).resolve().parents[2]
LICENCE_FILES = ("LICENSE", "THIRD_PARTY_NOTICES.md")

# The parts of the BSD 3-Clause text that make it that licence: the three
# conditions and the disclaimer (compared with whitespace collapsed, so
# that line wrapping does not matter).
BSD_3_CLAUSE = (
    "Redistribution and use in source and binary forms, with or without modification, "
    "are permitted provided that the following conditions are met:",
    "Redistributions of source code must retain the above copyright notice, this list of "
    "conditions and the following disclaimer.",
    "Redistributions in binary form must reproduce the above copyright notice, this list of "
    "conditions and the following disclaimer in the documentation and/or other materials "
    "provided with the distribution.",
    "Neither the name of the copyright holder nor the names of its contributors may be used "
    "to endorse or promote products derived from this software without specific prior "
    "written permission.",
    'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"',
)


def _words(text):
    return " ".join(text.split())


def assert_bsd_3_clause(text, where):
    flat = _words(text)
    missing = [clause for clause in BSD_3_CLAUSE if _words(clause) not in flat]
    assert not missing, f"{where} is not the BSD 3-Clause text; missing: {missing}"
    assert "Copyright (c) 2026, the libptychopatch developers" in flat, where


def test_repository_licence_is_bsd_3_clause():
    assert_bsd_3_clause((REPO / "LICENSE").read_text(encoding="utf-8"), REPO / "LICENSE")
    notices = (REPO / "THIRD_PARTY_NOTICES.md").read_text(encoding="utf-8")
    # The one dependency whose licence binaries must honour (GPL).
    assert "FFTW" in notices and "GPL-2.0-or-later" in notices


def _installed_distribution():
    """The distribution ptychopatch was imported from, or pytest.skip when
    it was not imported from an installed one (a source tree on
    PYTHONPATH, with or without another copy installed)."""
    imported = Path(ptychopatch.__file__).resolve()
    try:
        dist = importlib.metadata.distribution("ptychopatch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"ptychopatch is not installed as a distribution (imported from {imported})")
    init = [f for f in (dist.files or []) if f.as_posix() == "ptychopatch/__init__.py"]
    # An editable install lists no package files, only its redirect: its
    # metadata is the project's all the same.
    if init and Path(dist.locate_file(init[0])).resolve() != imported:
        pytest.skip(
            f"ptychopatch imported from {imported}, not from the installed distribution "
            f"({Path(dist.locate_file(init[0])).resolve()})"
        )
    return dist


def test_installed_distribution_declares_the_licence():
    meta = _installed_distribution().metadata
    expression = meta.get("License-Expression")
    legacy = meta.get("License")
    assert expression == "BSD-3-Clause" or (
        expression is None and legacy is not None
        and (legacy.strip() == "BSD-3-Clause" or "Redistributions in binary form" in legacy)
    ), f"License-Expression: {expression!r}, License: {legacy!r}"
    listed = meta.get_all("License-File") or []
    for name in LICENCE_FILES:
        assert name in listed, f"License-File lines {listed} lack {name}"


def test_installed_distribution_carries_the_licence_files():
    dist = _installed_distribution()
    in_record = {
        f.name
        for f in (dist.files or [])
        if len(f.parts) == 3 and f.parts[0].endswith(".dist-info") and f.parts[1] == "licenses"
    }
    for name in LICENCE_FILES:
        assert name in in_record, f"{name} is not in the distribution's .dist-info/licenses"
    licence = dist.read_text(f"licenses/{LICENCE_FILES[0]}")
    assert licence is not None
    assert_bsd_3_clause(licence, "the installed .dist-info/licenses/LICENSE")
    notices = dist.read_text(f"licenses/{LICENCE_FILES[1]}")
    assert notices is not None and "FFTW" in notices
