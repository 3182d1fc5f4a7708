"""OutsideObjectWarning: the check, after a call, of how many patches lay
entirely outside the object (counted by the library,
``ptp_extract_plan_get_diagnostics``; docs/python.md, "Patches outside the
object")."""

from __future__ import annotations

import os
import sys
import warnings

from . import _native
from ._errors import OutsideObjectWarning

# Warn when more than this fraction of a call's patches lie entirely
# outside the object. In correct use the count is 0: a patch centred
# anywhere in the object, or up to N/2 pixels beyond its edge, reads it, so
# the edge patches of a scan that leave the object only partly never count.
# 5 % leaves room for deliberately far-away patches (a batch padded to a
# fixed size, say); offsets given as (y, x) on an object whose sides differ
# by a third or more, or scan coordinates about the object's centre, put
# far more outside (about 3/4 for the latter).
OUTSIDE_WARNING_FRACTION = 0.05

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_stacklevel() -> int:
    """The warnings.warn stacklevel of the first frame outside this package
    (the user's call), counted from the function that calls warnings.warn."""
    level = 1
    frame = sys._getframe(2)  # the caller of warn_if_outside
    while frame is not None:
        level += 1
        if os.path.dirname(os.path.abspath(frame.f_code.co_filename)) != _PACKAGE_DIR:
            return level
        frame = frame.f_back
    return level


def warn_if_outside(function: str, height: int, width: int, group_size: int = 1,
                    hint: str = "") -> None:
    """Issues OutsideObjectWarning after a successful call of `function` on an
    H x W object when more than OUTSIDE_WARNING_FRACTION of its patches lay
    entirely outside; nothing for device arrays (not counted) or an older
    library. `hint` names the likely mistake in the function's own terms."""
    found = _native.last_diagnostics()
    if found is None or found.call == _native.PTP_DIAGNOSED_NONE:
        return
    total, outside = int(found.patches_total), int(found.patches_outside)
    if outside < 0 or total <= 0 or outside <= OUTSIDE_WARNING_FRACTION * total:
        return
    first = int(found.first_outside)
    where = (f"patch ({first // group_size}, {first % group_size}) (b, k)" if group_size > 1
             else f"patch {first}")
    x, y = found.first_outside_offset
    effect = ("add nothing to the canvas" if found.call == _native.PTP_DIAGNOSED_REASSEMBLE
              else "are all zeros")
    message = (
        f"{function}: {outside} of {total} patches ({100.0 * outside / total:.1f} %) lie "
        f"entirely outside the {height} x {width} (H x W) object and {effect} (the first: "
        f"{where} centred at (x, y) = ({x:g}, {y:g})). Offsets are x first: x is the column "
        f"(0 <= x < W = {width}), y the row (0 <= y < H = {height}). {hint}Were they given "
        f"as (y, x)? Are they in the object's pixel frame (not relative to its centre, and "
        f"shifted by any padding added to it)? (Warned above "
        f"{100 * OUTSIDE_WARNING_FRACTION:g} % of a call's patches; see docs/python.md.)"
    )
    warnings.warn(OutsideObjectWarning(message, outside, total, first),
                  stacklevel=_caller_stacklevel())
