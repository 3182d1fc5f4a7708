"""scikit-image's tests of phase_cross_correlation, run on ptychopatch's.

The fixture below is scikit-image's (tests/skimage/conftest.py, v0.26.0);
see README.md here for where the files come from and what was changed.
"""

from pathlib import Path

import pytest

# The copied tests import these scikit-image test helpers; without them (no
# scikit-image, or a version that lacks one) each file is reported skipped.
try:
    from skimage._shared._warnings import expected_warnings  # noqa: F401
    from skimage._shared.testing import assert_stacklevel  # noqa: F401
    from skimage._shared.utils import _supported_float_type  # noqa: F401
    from skimage.registration._masked_phase_cross_correlation import (  # noqa: F401
        cross_correlate_masked,
    )
    from skimage.registration._phase_cross_correlation import _upsampled_dft  # noqa: F401

    _MISSING = None
except ImportError as error:
    _MISSING = str(error)


class _SkippedModule(pytest.Module):
    def collect(self):
        pytest.skip(f"scikit-image's tests need scikit-image's test helpers: {_MISSING}")


def pytest_pycollect_makemodule(module_path, parent):
    if _MISSING and module_path.name.startswith("test_"):
        return _SkippedModule.from_parent(parent, path=module_path)
    return None


@pytest.fixture
def test_root_dir():
    # scikit-image's fixture gives tests/skimage/, under which its test data
    # lie as registration/data/*.png; the copies lie the same way here.
    return Path(__file__).absolute().parent
