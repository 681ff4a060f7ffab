"""Gradient reductions over steps and lanes, in the kernels' chunk layout.

Parameter gradients are sums over every step and lane of outer products
(``dU = sum dpre ⊗ h``) or of gathered rows (``dXW[v] = sum over steps reading v``).
Small outer sums (fewer than :data:`BLAS_MIN_ENTRIES` entries J × K) run in
numba kernels that keep one partial sum per lane, so the inner loops run over
contiguous lanes and vectorise without reassociating any sum (no fastmath);
larger ones are one matrix product per chunk in numpy's BLAS (3-4× faster at
J = K = 128, with fused multiply-adds and BLAS's own summation order). Either
way the sum is taken in the carrier dtype and rounded once by the caller, as
the precision model says; only the order of the additions differs, so results
agree to a few ULPs of the carrier. BLAS is used only where the kernels run
on one thread: numba's OpenMP threads and BLAS's own pool, spinning on the same
cores after each call, slowed each other 2-5× at two threads; with several
threads the sums stay in numba's parallel kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["BLAS_MIN_ENTRIES", "outer_sum", "symbol_sum"]

#: outer sums with at least this many entries (J × K) are BLAS products; the
#: measured crossover (one thread, 128 lanes, 50 steps) lies between 8 × 8,
#: where the numba kernel is 1.6× faster, and 32 × 32, where BLAS is 2.2× faster
BLAS_MIN_ENTRIES = 256


@njit(cache=True)
def _outer_chunk(a, g, b, lengths, acc):
    """acc[j, k, l] += sum_t a[t, g, j, l] * b[t, k, l] over the chunk's steps."""
    Tc = 0
    for l in range(lengths.shape[0]):
        Tc = max(Tc, lengths[l])
    J = a.shape[2]
    K = b.shape[1]
    L = acc.shape[2]
    T = min(Tc, a.shape[0])
    t = 0
    # four steps per pass over the accumulators (the same sequence of roundings)
    while t + 4 <= T:
        for j in range(J):
            a0 = a[t, g, j]
            a1 = a[t + 1, g, j]
            a2 = a[t + 2, g, j]
            a3 = a[t + 3, g, j]
            for k in range(K):
                b0 = b[t, k]
                b1 = b[t + 1, k]
                b2 = b[t + 2, k]
                b3 = b[t + 3, k]
                ac = acc[j, k]
                for l in range(L):
                    ac[l] = (((ac[l] + a0[l] * b0[l]) + a1[l] * b1[l]) + a2[l] * b2[l]) + a3[
                        l
                    ] * b3[l]
        t += 4
    while t < T:
        for j in range(J):
            ar = a[t, g, j]
            for k in range(K):
                br = b[t, k]
                ac = acc[j, k]
                for l in range(L):
                    ac[l] += ar[l] * br[l]
        t += 1


@njit(cache=True)
def _finish(part, out):
    C, J, K, L = part.shape
    for j in range(J):
        for k in range(K):
            s = part[0, j, k, 0] * 0
            for c in range(C):
                for l in range(L):
                    s += part[c, j, k, l]
            out[j, k] = s


@njit(cache=True, parallel=True)
def _outer_parallel(a, g, b, lengths, out):
    C, L = lengths.shape
    part = np.zeros((C, a.shape[3], b.shape[2], L), dtype=a.dtype)
    for c in prange(C):
        _outer_chunk(a[c], g, b[c], lengths[c], part[c])
    _finish(part, out)


@njit(cache=True)
def _outer_serial(a, g, b, lengths, out):
    C, L = lengths.shape
    part = np.zeros((C, a.shape[3], b.shape[2], L), dtype=a.dtype)
    for c in range(C):
        _outer_chunk(a[c], g, b[c], lengths[c], part[c])
    _finish(part, out)


def outer_sum(a: np.ndarray, g: int, b: np.ndarray, lengths: np.ndarray, parallel: bool):
    """``sum over (c, t, l) of a[c, t, g, j, l] * b[c, t, k, l]`` -> (J, K).

    ``parallel``: numba's parallel kernel (several threads); otherwise BLAS for
    large J × K, the serial kernel for small.

    Steps past each chunk's longest word are skipped (their terms are zero).
    ``a`` is (C, T, G, J, L) and ``b`` (C, T', K, L) with ``T' >= T``.
    """
    J, K = a.shape[3], b.shape[2]
    if J * K >= BLAS_MIN_ENTRIES and not parallel:
        return _outer_blas(a, g, b, lengths)
    out = np.empty((J, K), dtype=a.dtype)
    (_outer_parallel if parallel else _outer_serial)(a, g, b, lengths, out)
    return out


def _outer_blas(a, g, b, lengths):
    """:func:`outer_sum` as one (J, T·L) @ (T·L, K) product per chunk."""
    J, K = a.shape[3], b.shape[2]
    out = np.zeros((J, K), dtype=a.dtype)
    for c in range(lengths.shape[0]):
        T = min(int(lengths[c].max()), a.shape[1])
        if T > 0:
            left = np.ascontiguousarray(np.moveaxis(a[c, :T, g], 1, 0)).reshape(J, -1)
            right = np.ascontiguousarray(np.moveaxis(b[c, :T], 1, 0)).reshape(K, -1)
            out += left @ right.T
    return out


@njit(cache=True)
def _symbol_chunk(d, symbols, lengths, acc):
    """acc[v, g, j, l] += d[t, g, j, l] for the steps t at which lane l reads v."""
    V = acc.shape[0]
    G, J, L = d.shape[1], d.shape[2], d.shape[3]
    zero = d.dtype.type(0.0)
    Tc = 0
    for l in range(L):
        Tc = max(Tc, lengths[l])
    for t in range(min(Tc, d.shape[0])):
        s = symbols[t]
        for v in range(V):
            for g in range(G):
                for j in range(J):
                    dr = d[t, g, j]
                    ac = acc[v, g, j]
                    for l in range(L):
                        ac[l] += dr[l] if (s[l] == v and t < lengths[l]) else zero


@njit(cache=True, parallel=True)
def _symbol_parallel(d, symbols, lengths, out):
    C, L = lengths.shape
    V = out.shape[0]
    part = np.zeros((C, V, d.shape[2], d.shape[3], L), dtype=d.dtype)
    for c in prange(C):
        _symbol_chunk(d[c], symbols[c], lengths[c], part[c])
    out[:] = part.sum(axis=0).sum(axis=-1)


@njit(cache=True)
def _symbol_serial(d, symbols, lengths, out):
    C, L = lengths.shape
    V = out.shape[0]
    part = np.zeros((C, V, d.shape[2], d.shape[3], L), dtype=d.dtype)
    for c in range(C):
        _symbol_chunk(d[c], symbols[c], lengths[c], part[c])
    out[:] = part.sum(axis=0).sum(axis=-1)


def symbol_sum(d: np.ndarray, symbols: np.ndarray, lengths: np.ndarray, n_symbols: int, parallel):
    """``out[v, g, j] = sum of d[c, t, g, j, l] over steps where lane l reads v`` (V, G, J)."""
    out = np.empty((n_symbols, d.shape[2], d.shape[3]), dtype=d.dtype)
    (_symbol_parallel if parallel else _symbol_serial)(d, symbols, lengths, out)
    return out
