"""How the report shows figures: numbers as text in its tables
(`fmt_seconds`, `fmt_bytes`, `fmt_rate`) and the line style of each kind
of implementation in its plots (`STYLE`). The time and the memory views
(report.py, plots.py, memory.py) and the runner's notes share them.

>>> print(fmt_seconds(0.0123), fmt_bytes(3e9), fmt_rate(2.5e6))
12.3 ms 3.0 GB 2.5 M
"""

from __future__ import annotations

from typing import Optional

#: Line styles by kind: the library solid and thick, peers solid, limits dashed.
STYLE = {"ours": dict(linewidth=2.5, marker="o"), "peer": dict(linewidth=1.2, marker="s"),
         "limit": dict(linewidth=1.2, marker="", linestyle="--")}


def _scaled(value: Optional[float], units, digits: str, last: str) -> str:
    """value in the first of (name, scale) units it reaches, else `last`."""
    if value is None:
        return "–"
    for unit, scale in units:
        if value >= scale:
            return f"{value / scale:{digits}}{unit}"
    return last.format(value)


def fmt_seconds(s: Optional[float]) -> str:
    return _scaled(s, ((" s", 1.0), (" ms", 1e-3), (" us", 1e-6), (" ns", 1e-9)), ".3g",
                   "{:.3g} s")


def fmt_bytes(b: Optional[float]) -> str:
    return _scaled(b, ((" GB", 1e9), (" MB", 1e6), (" kB", 1e3)), ".1f", "{:.0f} B")


def fmt_rate(r: Optional[float]) -> str:
    return _scaled(r, ((" G", 1e9), (" M", 1e6), (" k", 1e3)), ".3g", "{:.3g}")
