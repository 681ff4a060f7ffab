"""Grid quantization of states (Omlin & Giles 1996): each unit's range cut into q intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ._util import unique_rows

__all__ = ["QuantizeResult", "quantize"]


@njit(cache=True)
def _codes_kernel(x: np.ndarray, low: np.ndarray, width: np.ndarray, q: int) -> np.ndarray:
    n, dim = x.shape
    out = np.empty((n, dim), dtype=np.int32)
    for i in range(n):
        for j in range(dim):
            if width[j] <= 0.0:
                out[i, j] = 0
                continue
            b = int(np.floor((x[i, j] - low[j]) / width[j] * q))
            if b < 0:
                b = 0
            elif b >= q:
                b = q - 1
            out[i, j] = b
    return out


@dataclass
class QuantizeResult:
    """Outcome of :func:`quantize`.

    Attributes
    ----------
    labels : ndarray (N,), int64
        Cluster (occupied grid cell) of every row.
    codes : ndarray (n_clusters, S), int32
        Interval index per unit of each occupied cell.
    low, high : ndarray (S,)
        The range per unit that was cut into ``q`` intervals.
    """

    labels: np.ndarray
    codes: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def n_clusters(self) -> int:
        return int(self.codes.shape[0])


def quantize(
    x: np.ndarray,
    q: int = 2,
    *,
    low: np.ndarray | float | None = None,
    high: np.ndarray | float | None = None,
) -> QuantizeResult:
    """Quantize states on a grid of ``q`` equal intervals per unit.

    Parameters
    ----------
    x : ndarray, shape (N, S)
    q : int
        Intervals per unit (``q >= 1``).
    low, high : array or float, optional
        Range per unit; default the observed minimum and maximum.

    Returns
    -------
    QuantizeResult

    Examples
    --------
    >>> r = quantize(np.array([[-0.9, 0.8], [-0.7, 0.9], [0.9, -0.9]]), q=2)
    >>> r.labels.tolist(), r.n_clusters
    ([0, 0, 1], 2)
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"quantize needs a non-empty 2-D array of states, got shape {x.shape}")
    q = int(q)
    if q < 1:
        raise ValueError(f"q must be >= 1, got {q}")
    xf = np.ascontiguousarray(x, dtype=np.float64)
    if not np.all(np.isfinite(xf)):
        raise ValueError("quantize got non-finite states (nan or inf)")
    lo = np.broadcast_to(np.min(xf, axis=0) if low is None else low, (x.shape[1],)).astype(
        np.float64
    )
    hi = np.broadcast_to(np.max(xf, axis=0) if high is None else high, (x.shape[1],)).astype(
        np.float64
    )
    codes = _codes_kernel(xf, lo, hi - lo, q)
    uniq, inverse, _ = unique_rows(codes)
    # relabel by first occurrence so labels are stable and readable
    first = np.full(uniq.shape[0], codes.shape[0], dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(codes.shape[0]))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return QuantizeResult(labels=rank[inverse], codes=uniq[order], low=lo, high=hi)
