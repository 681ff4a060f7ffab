"""Lowering the CUDA kernels for the real target without a GPU (a test helper)."""

import os
import subprocess
import sys

import pytest


def assert_lowers_for_cuda(script: str, timeout: int = 600) -> None:
    """Run ``script`` with the real CUDA target (no simulator) in a subprocess; it must
    print ``LOWERED``. Skips when the numba-cuda internals the script uses have moved."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    if res.returncode != 0 and ("ImportError" in res.stderr or "AttributeError" in res.stderr):
        pytest.skip(f"numba-cuda internals changed: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "LOWERED" in res.stdout
