"""Where and with what a results file was measured: the machine, the
library build and backend, and the peers' package versions.

>>> describe_machine()["cores"] >= 1
True
"""

from __future__ import annotations

import os
import platform
from typing import Any, Dict, Optional

#: Packages whose versions a results file records (distribution names).
PACKAGES = ("numpy", "scipy", "scikit-image", "scikit-learn", "opencv-python-headless",
            "opencv-python", "torch", "tensorflow", "tensorflow-cpu", "matplotlib")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> Optional[int]:
    """Physical memory, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def installed_version(dist: str) -> Optional[str]:
    """The installed version of a distribution, without importing it; None if absent."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_machine() -> Dict[str, Any]:
    return {
        "hostname": platform.node(),
        "system": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "memory_bytes": memory_bytes(),
        "python": platform.python_version(),
        "packages": {name: v for name in PACKAGES if (v := installed_version(name))},
        # Settings that change how threaded code waits or which kernels run
        # (OpenMP's wait policy matters on a shared machine: docs/benchmarks.md).
        "environment": {k: v for k, v in os.environ.items()
                        if k.startswith(("OMP_", "GOMP_", "OPENBLAS_", "MKL_"))},
    }


def describe_library() -> Dict[str, Any]:
    """Version, path and the backends: the CPU is what the CPU curves
    measure; the GPU entry says whether one is usable (then the gpu-*
    curves run on it) and, if not, why, and whether it is the emulated
    device of the tests (then no GPU figure is a speed)."""
    from .. import _native, cuda_device_count, version
    from .gpu import status

    gpu = status()
    return {
        "version": version(),
        "library_path": _native.LIBRARY_PATH,
        "backend": "cpu",
        "gpu": {"usable": gpu["usable"], "reason": gpu["reason"], "message": gpu["device"],
                "devices": cuda_device_count(), "emulated": gpu["emulated"],
                "emulation_evidence": gpu["emulation_evidence"], "runtime": gpu["runtime"]},
    }
