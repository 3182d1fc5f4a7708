"""Optional dependencies of the dataset-scale functions, imported on use.

``import ptychopatch`` needs numpy only; Dask, pyarrow and zarr are the
``distributed`` extra and are imported by the functions that use them, with
an ImportError that names the install command when one is missing.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

EXTRA = "ptychopatch[distributed]"


def optional_import(module: str, purpose: str, pip_name: Optional[str] = None) -> Any:
    """`module`, or an ImportError naming ``pip install ptychopatch[distributed]``.

    Examples
    --------
    >>> from ptychopatch._optional import optional_import
    >>> optional_import("json", "reading JSON").__name__
    'json'
    >>> optional_import("no_such_module_xyz", "testing")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ImportError: testing needs no_such_module_xyz, which is not installed: pip install ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        name = pip_name or module.split(".")[0]
        raise ImportError(f"{purpose} needs {name}, which is not installed: "
                          f"pip install '{EXTRA}' (or pip install {name})") from err
