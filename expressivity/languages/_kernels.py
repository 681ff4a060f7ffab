"""Shared numba kernels: random edits and uniform position selection."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["apply_edits", "scatter_k_of_n"]

INSERT, DELETE, REPLACE = 0, 1, 2


@njit(cache=True)
def apply_edits(rng, src, ops, k, out_len):  # pragma: no cover - jitted
    """Apply per-row edit ops (``-1`` = none) at uniformly random positions.

    ``src`` is ``(m, Ls)``; the ops must be feasible and give length ``out_len``.
    Inserted symbols are uniform; a replacement always changes the symbol.
    """
    m, ls = src.shape
    n_ops = ops.shape[1]
    out = np.zeros((m, out_len), dtype=np.int32)
    buf = np.zeros(ls + n_ops + 1, dtype=np.int32)
    for i in range(m):
        cur = ls
        for t in range(ls):
            buf[t] = src[i, t]
        for e in range(n_ops):
            op = ops[i, e]
            if op == INSERT:
                pos = rng.integers(0, cur + 1)
                for t in range(cur, pos, -1):
                    buf[t] = buf[t - 1]
                buf[pos] = rng.integers(0, k)
                cur += 1
            elif op == DELETE:
                pos = rng.integers(0, cur)
                for t in range(pos, cur - 1):
                    buf[t] = buf[t + 1]
                cur -= 1
            elif op == REPLACE:
                pos = rng.integers(0, cur)
                buf[pos] = (buf[pos] + 1 + rng.integers(0, k - 1)) % k
        for t in range(out_len):
            out[i, t] = buf[t]
    return out


@njit(cache=True)
def scatter_k_of_n(rng, ks, n, one, zero):  # pragma: no cover - jitted
    """Rows of length ``n`` with exactly ``ks[i]`` entries ``one`` at uniform positions."""
    m = ks.shape[0]
    out = np.empty((m, n), dtype=np.int32)
    for i in range(m):
        need = ks[i]
        for t in range(n):
            left = n - t
            if need > 0 and rng.random() * left < need:
                out[i, t] = one
                need -= 1
            else:
                out[i, t] = zero
    return out
