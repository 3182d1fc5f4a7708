import importlib
import sys
from pathlib import Path

import numpy as np
import pytest


def pytest_report_header(config):
    # Say which copy is under test: the installed wheel or an env-var build.
    import ptychopatch
    from ptychopatch import _native

    return [
        f"ptychopatch package: {ptychopatch.__file__}",
        f"libptychopatch: {_native.LIBRARY_PATH} ({ptychopatch.version()}, "
        f"{ptychopatch.cuda_device_count()} CUDA devices)",
    ]


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def benchmark_module():
    """Imports a script of benchmarks/ by its name (they are scripts, not a
    package): ``benchmark_module("bench_align_robustness")``."""
    benchmarks = str(Path(__file__).resolve().parents[2] / "benchmarks")

    def load(name):
        sys.path.insert(0, benchmarks)
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(benchmarks)

    return load
