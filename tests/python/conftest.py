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
