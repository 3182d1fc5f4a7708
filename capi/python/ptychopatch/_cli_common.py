"""What both command lines share: ``cli`` (``ptychopatch``'s commands) and
``_dataset_cli`` (the Dask ones).

The exit statuses, the two errors a command reports (`CliError`,
`UsageError`), the import of an optional package that names its pip
package where it is missing, an error's text, and the argparse type of
integer options (``--threads``). Only the standard library: the frame
readers (`ptychopatch._frames`) use it too.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any, Callable

#: Exit statuses: every frame / command fine; a run that failed (or some
#: frame that failed); a command line that cannot be right.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DOUBTED = 0, 1, 2, 3


class CliError(Exception):
    """A failure to report as ``ptychopatch <cmd>: error: <message>`` (exit 1)."""


class UsageError(Exception):
    """A command line that cannot be right: reported with the usage (exit 2)."""


def _import_optional(module: str, pip_name: str, purpose: str) -> Any:
    """Imports an optional dependency, or raises CliError naming its pip package."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CliError(f"{purpose} needs {pip_name}, which is not installed: "
                       f"pip install {pip_name}") from None


def _error_text(err: BaseException) -> str:
    # A KeyError's str() is the repr of its argument: quotes around the text.
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err)


def _int_at_least(low: int, meaning: str = "") -> Callable[[str], int]:
    """argparse type: an integer >= `low` (a usage error otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}{meaning}, got {value}")
        return value
    return parse


#: --threads of every command: 0 means all cores.
threads_value = _int_at_least(0, " (0: all cores)")
