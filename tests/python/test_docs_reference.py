"""The reference pages stay skimmable: no table cell longer than a few lines.

Detail belongs in prose below the table, where a reader who wants it finds
it under the option's name (docs/contributing.md, "Reference tables stay short").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE_PAGES = ["README.md", "docs/api.md", "docs/python.md", "docs/cli.md",
                   "docs/distributed.md", "docs/semantics.md"]
MAX_WORDS_PER_CELL = 60


def table_cells(text):
    """(line number, cell text) of every cell of every Markdown table."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("|"):
            for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]:
                yield number, cell.strip()


def test_table_cells_splits_on_unescaped_bars_only():
    cells = list(table_cells("text\n| `a` \\| b | one two |\n|---|---|\n"))
    assert cells == [(2, "`a` \\| b"), (2, "one two"), (3, "---"), (3, "---")]


@pytest.mark.parametrize("page", REFERENCE_PAGES)
def test_no_table_cell_is_a_paragraph(page):
    long = [f"{page}:{number}: {len(cell.split())} words: {cell[:60]}…"
            for number, cell in table_cells((REPO / page).read_text())
            if len(cell.split()) > MAX_WORDS_PER_CELL]
    assert not long, "move the detail into prose below the table:\n" + "\n".join(long)
