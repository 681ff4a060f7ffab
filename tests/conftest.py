"""Test configuration.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported anywhere, so that
CUDA kernels run on the CPU simulator on machines without a GPU.

Tests that need the networks released with Weiss et al. (2018) take the
``weiss_dir`` fixture: it finds them the one documented way
(``$EXPRESSIVITY_REFERENCE_DIR``, the folder holding ``weiss2018/``) and skips,
saying how to get them, when the variable is unset.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def weiss_dir():
    """The folder of the released Weiss et al. networks, or a skip that says how to get them."""
    from expressivity.interop import find_reference

    try:
        return find_reference("weiss2018")
    except FileNotFoundError as err:
        pytest.skip(str(err))


#: files whose tests start other processes (the command line, sweeps, notebooks) that
#: compile the kernels they need unless an earlier test has cached them: they go last,
#: so that on a cold machine the in-process tests compile each kernel once first
_LAST = ("test_readme.py", "test_faults.py", "test_experiments.py", "test_cli_ux.py",
         "test_notebooks.py")  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """Files that start other processes run last (:data:`_LAST`; the order of the rest is
    kept). Tests marked ``wheel`` (build, install in a fresh venv, compile cold: minutes)
    run only when asked for, ``python -m pytest -m wheel tests/test_wheel.py``, as
    ``.ci/run`` does."""
    items.sort(key=lambda item: item.path.name in _LAST)  # stable: files stay whole
    if "wheel" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(
        reason="builds the wheel into a fresh venv (minutes): "
        "python -m pytest -m wheel tests/test_wheel.py (.ci/run runs it)"
    )
    for item in items:
        if item.get_closest_marker("wheel") is not None:
            item.add_marker(skip)
