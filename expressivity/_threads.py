"""Threading policy: stay fast when other processes share the cores.

Two thread pools can run our work: numba's (its OpenMP layer, libgomp) and the
BLAS library's (OpenBLAS, behind numpy and behind ``np.dot`` in njit code). Both
*spin* when idle, by default: after a parallel region their threads keep a core
busy for a while waiting for the next one. On a machine of one's own that hides
a few microseconds of wake-up; on a shared one (a laptop running a browser, a
node running other people's jobs) a spinning thread and a busy neighbour take
turns on the same core, and a training run measured 10-20× slower (issue 14).
The policy, applied inside the library, so that nobody has to export anything:

1. **Passive waiting** for numba's OpenMP threads: at import, before numba's
   threading layer starts, ``OMP_WAIT_POLICY=PASSIVE`` is put in the process
   environment (libgomp reads it when it is loaded, at numba's first parallel
   launch) unless the user has set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``.
   Idle threads sleep instead of spinning; parallel regions are coarse (a call
   of many updates, not one per update), so the wake-up cost is negligible.
2. **BLAS on one thread inside our calls** (:func:`blas_limited`): training
   holds OpenBLAS to one thread with threadpoolctl for its duration and
   restores the user's setting afterwards. Our BLAS products are small (one
   network's gradient sums); its pool only ever helped them when the machine
   was idle, and it fought numba's threads for the same cores otherwise.
3. **A thread count the work justifies** (:func:`threads_for`): a job whose
   work per parallel region is below :data:`THREADS_MIN_WORK` multiply-adds
   runs on one numba thread (:func:`numba_threads`); starting and joining
   threads costs more than it saves there, and on a busy machine a second
   thread waits for a core. Larger jobs use every thread numba has.

``EXPRESSIVITY_THREADS=off`` in the environment switches 1-3 off (numba and
OpenBLAS then behave as they do by default); it exists for benchmarks that
compare against the defaults and for users who manage threads themselves.

Examples
--------
>>> threads_for(1_000, available=2)
1
>>> threads_for(10**9, available=2)
2
>>> with blas_limited():
...     pass
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["ENABLED", "THREADS_MIN_WORK", "blas_limited", "numba_threads", "threads_for"]

#: False when ``EXPRESSIVITY_THREADS=off``: the library leaves thread pools alone
ENABLED = os.environ.get("EXPRESSIVITY_THREADS", "").strip().lower() != "off"

#: multiply-adds per parallel region below which one numba thread is used: at
#: 2M (the forward kernels' :data:`expressivity.kernels.cpu.PARALLEL_MIN_WORK`)
#: a region costs ~1 ms on one core, against tens of µs to wake and join a
#: second thread on a quiet machine and up to a scheduler slice (ms) on a busy one
THREADS_MIN_WORK = 4_000_000

if ENABLED and "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

_controller = None


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (numpy's and scipy's, which
    ``np.dot`` in njit code calls), made once; None without threadpoolctl."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional: without it BLAS keeps its own setting
            _controller = False
            return None
        with contextlib.suppress(ImportError):  # load scipy's BLAS too, if there is one
            import scipy.linalg.cython_blas  # noqa: F401
        _controller = ThreadpoolController()
    return _controller or None


@contextlib.contextmanager
def blas_limited() -> Iterator[None]:
    """Hold BLAS to one thread for the ``with`` block (about 25 µs to enter and leave).

    Examples
    --------
    >>> import numpy as np
    >>> with blas_limited():
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """
    ctl = _blas_controller() if ENABLED else None
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def threads_for(work: float, available: int | None = None) -> int:
    """How many numba threads a parallel region of ``work`` multiply-adds justifies.

    Parameters
    ----------
    work : multiply-adds the region does in all (all threads together)
    available : threads to choose up to (default: numba's current count)

    Examples
    --------
    >>> threads_for(THREADS_MIN_WORK - 1, available=4), threads_for(THREADS_MIN_WORK, 4)
    (1, 4)
    """
    if available is None:
        import numba

        available = numba.get_num_threads()
    if not ENABLED:
        return int(available)
    return int(available) if work >= THREADS_MIN_WORK else 1


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run the ``with`` block on ``n`` numba threads (of this Python thread), then restore.

    Examples
    --------
    >>> import numba
    >>> with numba_threads(1):
    ...     numba.get_num_threads()
    1
    """
    import numba

    old = numba.get_num_threads()
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    if n == old:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)
