"""Every citation of a docs section, `docs/PAGE.md, "Title"`, names a section that exists.

Code comments, docstrings, the CHANGELOG and the docs point readers at the
reasoning behind a choice by section title; when a page is reorganised the
title must move with the text or the citation must follow it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A page, then a quoted title starting with a capital or a backquote, wrapped
# over at most two lines of a comment.
CITATION = re.compile(r'(docs/(?:notes/)?[\w-]+\.md),?\s+"([A-Z`][^"\n]*(?:\n[^"\n]*){0,2})"')
COMMENT_LEAD = re.compile(r"\s*\n\s*(?://|#|\*|!)?\s*")
SUFFIXES = {".c", ".h", ".hpp", ".cpp", ".cu", ".cuh", ".py", ".md", ".f90", ".sh", ".cmake"}


def normalised(title: str) -> str:
    title = COMMENT_LEAD.sub(" ", title).replace("`", "")
    return " ".join(title.split()).rstrip(".:").lower()


def section_titles(page: Path) -> set[str]:
    """Headings and bold run-in labels (**Polish.**) of a page."""
    titles = set()
    for line in page.read_text().splitlines():
        heading = re.match(r"#+\s+(.*)", line)
        if heading:
            titles.add(normalised(heading.group(1)))
        titles.update(normalised(label) for label in re.findall(r"\*\*([^*]+?)\*\*", line))
    return titles


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    # This file's own docstring and examples are not citations.
    return [REPO / f for f in out.stdout.split()
            if Path(f).suffix in SUFFIXES and REPO / f != Path(__file__).resolve()]


def citations(text: str):
    for match in CITATION.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2)


def test_citations_are_found_across_comment_lines():
    text = '// see docs/semantics.md, "The fine\n// stage" and docs/notes/x.md "`a` b"'
    assert [(page, normalised(title)) for _, page, title in citations(text)] == [
        ("docs/semantics.md", "the fine stage"), ("docs/notes/x.md", "a b")]


def test_every_cited_section_exists():
    pages: dict[str, set[str]] = {}
    unresolved = []
    for path in tracked_files():
        for line, page, title in citations(path.read_text(errors="replace")):
            where = f"{path.relative_to(REPO)}:{line}: {page}, \"{normalised(title)}\""
            if not (REPO / page).is_file():
                unresolved.append(where + " (no such page)")
                continue
            titles = pages.setdefault(page, section_titles(REPO / page))
            cited = normalised(title)
            # A citation may shorten a long heading to its first words.
            if not any(t == cited or t.startswith(cited) for t in titles):
                unresolved.append(where)
    assert not unresolved, "cited sections that do not exist:\n" + "\n".join(unresolved)
