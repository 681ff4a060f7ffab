"""Weighted k-means (k-means++ seeding, Lloyd iterations) with numba kernels.

States are first reduced to their distinct rows (bit-exact), each weighted by how
often it occurs, so a finite-state network with a million prefixes clusters as
fast as its handful of distinct states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ._util import as_rng, unique_rows

__all__ = ["KMeansResult", "kmeans"]


@njit(cache=True)
def _sq_dist(x: np.ndarray, c: np.ndarray) -> float:
    s = 0.0
    for j in range(x.shape[0]):
        d = x[j] - c[j]
        s += d * d
    return s


@njit(cache=True)
def _kmeanspp_kernel(x: np.ndarray, w: np.ndarray, k: int, u: np.ndarray) -> np.ndarray:
    """k-means++ seeding; ``u`` holds k uniform numbers in [0, 1) drawn by the caller."""
    n, dim = x.shape
    centers = np.empty((k, dim), dtype=np.float64)
    # first center: sampled by weight
    total = 0.0
    for i in range(n):
        total += w[i]
    target = u[0] * total
    acc = 0.0
    first = n - 1
    for i in range(n):
        acc += w[i]
        if acc > target:
            first = i
            break
    centers[0] = x[first]
    d2 = np.empty(n, dtype=np.float64)
    for i in range(n):
        d2[i] = _sq_dist(x[i], centers[0])
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += w[i] * d2[i]
        pick = -1
        if total > 0.0:
            target = u[c] * total
            acc = 0.0
            for i in range(n):
                acc += w[i] * d2[i]
                if acc > target and w[i] * d2[i] > 0.0:
                    pick = i
                    break
            if pick < 0:
                for i in range(n - 1, -1, -1):
                    if d2[i] > 0.0:
                        pick = i
                        break
        if pick < 0:
            pick = int(u[c] * n) % n
        centers[c] = x[pick]
        for i in range(n):
            dd = _sq_dist(x[i], centers[c])
            if dd < d2[i]:
                d2[i] = dd
    return centers


@njit(cache=True)
def _assign_kernel(x: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> float:
    """Nearest center of every row; returns the (unweighted per-row) distance sum array-free."""
    n = x.shape[0]
    k = centers.shape[0]
    inertia = 0.0
    for i in range(n):
        best = np.inf
        bi = 0
        for c in range(k):
            d = _sq_dist(x[i], centers[c])
            if d < best:
                best = d
                bi = c
        labels[i] = bi
        inertia += best
    return inertia


@njit(cache=True)
def _lloyd_kernel(
    x: np.ndarray, w: np.ndarray, centers: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, float, int]:
    n, dim = x.shape
    k = centers.shape[0]
    labels = np.zeros(n, dtype=np.int64)
    sums = np.zeros((k, dim), dtype=np.float64)
    wsum = np.zeros(k, dtype=np.float64)
    n_done = 0
    for _ in range(max_iter):
        n_done += 1
        _assign_kernel(x, centers, labels)
        sums[:] = 0.0
        wsum[:] = 0.0
        for i in range(n):
            c = labels[i]
            wsum[c] += w[i]
            for j in range(dim):
                sums[c, j] += w[i] * x[i, j]
        shift = 0.0
        for c in range(k):
            if wsum[c] > 0.0:
                for j in range(dim):
                    v = sums[c, j] / wsum[c]
                    d = v - centers[c, j]
                    shift += d * d
                    centers[c, j] = v
        if shift <= tol:
            break
    _assign_kernel(x, centers, labels)
    inertia = 0.0
    for i in range(n):
        inertia += w[i] * _sq_dist(x[i], centers[labels[i]])
    return centers, labels, inertia, n_done


@dataclass
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes
    ----------
    centers : ndarray (k, S), float64
    labels : ndarray (N,), int64
        Cluster of every input row.
    inertia : float
        Sum of squared distances to the assigned centers.
    n_iter : int
        Lloyd iterations of the best run.
    n_distinct : int
        Distinct input rows (bit-exact).
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    n_distinct: int


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_init: int = 3,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` clusters (k-means++ then Lloyd).

    Parameters
    ----------
    x : ndarray, shape (N, S)
        States (any float dtype; computed in float64).
    k : int
        Number of clusters, at most the number of distinct rows.
    rng : numpy.random.Generator
        Source of the seeding randomness.
    n_init : int
        Seedings tried; the lowest inertia wins.
    max_iter, tol : int, float
        Lloyd stops after ``max_iter`` iterations or when centers move less than ``tol``
        (squared).

    Returns
    -------
    KMeansResult

    Examples
    --------
    >>> x = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> r = kmeans(x, 2, rng=np.random.default_rng(0))
    >>> bool(r.labels[0] == r.labels[1] != r.labels[2] == r.labels[3])
    True
    """
    rng = as_rng(rng)
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"kmeans needs a 2-D array of states, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("kmeans got an empty sample (no states)")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"kmeans needs float states, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError("kmeans got non-finite states (nan or inf)")
    k = int(k)
    uniq, inverse, counts = unique_rows(x)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > uniq.shape[0]:
        raise ValueError(
            f"k={k} is larger than the number of distinct states ({uniq.shape[0]}); "
            f"use k <= {uniq.shape[0]}"
        )
    xu = np.ascontiguousarray(uniq, dtype=np.float64)
    w = counts.astype(np.float64)
    best = None
    for _ in range(max(1, int(n_init))):
        u = rng.random(k)
        centers = _kmeanspp_kernel(xu, w, k, u)
        centers, labels, inertia, it = _lloyd_kernel(xu, w, centers, int(max_iter), float(tol))
        if best is None or inertia < best[2]:
            best = (centers.copy(), labels.copy(), inertia, it)
    centers, labels_u, inertia, it = best
    return KMeansResult(
        centers=centers,
        labels=labels_u[inverse],
        inertia=float(inertia),
        n_iter=int(it),
        n_distinct=int(uniq.shape[0]),
    )
