"""The first bytes of numpy's files (an .npy, and the zip of an .npz),
checked before numpy reads one: by the PtychoPINN dataset reader
(`ptychopatch._ptychopinn_npz`) and the .npy frame reader
(`ptychopatch._frames`)."""

from __future__ import annotations

from typing import Tuple

#: The first bytes of numpy's .npy and of a zip (.npz) file.
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def _require_magic(path: str, magics: Tuple[bytes, ...], what: str) -> None:
    """ValueError where `path` does not start as `what` does: numpy's own
    message for such a file is about pickled data, which misleads."""
    with open(path, "rb") as f:
        head = f.read(max(len(m) for m in magics))
    if not any(head.startswith(m) for m in magics):
        raise ValueError(f"not a {what}: its first bytes are {head!r}")
