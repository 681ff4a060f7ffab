"""Test configuration.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported anywhere, so that
CUDA kernels run on the CPU simulator on machines without a GPU.
"""

import os
from pathlib import Path

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REFERENCE_NETWORKS = Path(__file__).resolve().parents[1].parent / "shared" / "reference-networks"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def weiss_dir():
    d = REFERENCE_NETWORKS / "weiss2018"
    if not d.exists():
        pytest.skip(f"reference networks not found at {d}")
    return d
