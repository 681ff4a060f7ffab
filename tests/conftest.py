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


def assert_lowers_for_cuda(script: str, timeout: int = 600) -> None:
    """Run ``script`` with the real CUDA target (no simulator) in a subprocess; it must
    print ``LOWERED``. Skips when the numba-cuda internals the script uses have moved."""
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    if res.returncode != 0 and ("ImportError" in res.stderr or "AttributeError" in res.stderr):
        pytest.skip(f"numba-cuda internals changed: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LOWERED" in res.stdout
