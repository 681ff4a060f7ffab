"""Fused CPU kernels: forward and backward through time for every cell.

One forward and one backward kernel serve all cells: the cell arrives as the
integer description of :meth:`expressivity.cells.CellSpec.config`, and the
kernels branch on it outside their inner loops. Layout is batch-lanes-innermost:
``states[t, k, lane]``, so every inner loop runs over contiguous lanes and
vectorises (no fastmath: each lane is an independent IEEE computation, and the
order of every dot product is fixed: ``((sum_k W x) + sum_k U h) + b``, k ascending,
as in ``tests/reference.py``).

Lanes are cut into chunks of ``L`` lanes, stored chunk-major so that every
slice a kernel touches is C-contiguous; chunks run in parallel, and each stops
at its longest word (the caller sorts words by length).

Rounding: ``rnd(x, prec)`` after every elementwise operation and after every
dot product; activations are evaluated in the carrier and rounded. The backward
pass rounds the same way (gradients of the rounded forward, straight-through at
each rounding).

Arrays (carrier dtype unless stated; ``C`` chunks of ``L`` lanes, ``G`` gates,
``H`` hidden, ``S`` state size, ``V`` input symbols, ``T`` steps):

- ``symbols`` (C, T, L) int32, ``lengths`` (C, L) int64
- ``XW`` (V, G, H): ``W_g x`` for every input symbol (precomputed, exact order)
- ``U`` (G, H, H), ``bias`` (G, H), ``d`` (H,) (reset-after bias), ``cfg``, ``prec``
- ``states`` (C, T+1, S, L): state after each prefix (row 0: the initial state)
- ``gates`` (C, T, G, H, L): gate activations at each step
- ``aux`` (C, T, H, L): ``r ⊙ h`` (reset gates), ``U_h h + d_h`` (reset-after) or
  ``tanh(c')`` (LSTM), whichever the cell has

These are the shapes :func:`forward` and :func:`backward` take; they hand the
njit kernels views with the last two axes merged (``(C, T+1, S*L)`` and so on,
no copy), so that a step's rows are flat and each kernel indexes them directly.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, types
from numba.extending import overload

from expressivity.activations import relu, sigmoid, tanh
from expressivity.precision import rnd as _round

#: pass as ``prec`` for a native format: the kernels then compile without rounding
NATIVE = np.zeros(1, dtype=np.int8)


def rnd(x, prec):
    """Round ``x`` by the precision code ``prec``; identity for :data:`NATIVE`."""
    return x if prec.dtype == np.int8 else _round(x, prec)


@overload(rnd)
def _rnd_overload(x, prec):
    if isinstance(prec, types.Array) and prec.dtype == types.int8:
        return lambda x, prec: x
    return lambda x, prec: _round(x, prec)


__all__ = ["forward", "backward", "forward_kernel", "backward_kernel"]

#: below this many multiply-adds a call runs serially: starting threads costs more
PARALLEL_MIN_WORK = 2_000_000

_HDR = 4  # header length of the cell config (see cells.CellSpec.config)
_LSTM, _INTERP, _KEEP, _REPLACE = 0, 1, 2, 3


@njit(cache=True)
def _mv(U, UT, g, src, srow, dst, drow, L):
    """dv[j*L + l] += sum_k U[g, j, k] * sv[k*L + l], k ascending.

    The reference order: every dst element accumulates its terms with k
    ascending. Four rows at a time, so each src row is loaded once per four
    rows. A single lane (L = 1) runs over the transposed matrix
    (``UT[g, k, j] = U[g, j, k]``) instead: one axpy per k, vectorised over j,
    each sum still taking its terms with k ascending.
    """
    H = U.shape[1]
    K = U.shape[2]
    sv = src[srow]
    dv = dst[drow]
    j = 0
    if L == 1:
        ut = UT[g]
        for k in range(K):
            x = sv[k]
            for j in range(H):
                dv[j] += ut[k, j] * x
        return
    acc = dv[: H * L].reshape(H, L)
    v = sv[: K * L].reshape(K, L)
    while j + 4 <= H:
        a0 = acc[j]
        a1 = acc[j + 1]
        a2 = acc[j + 2]
        a3 = acc[j + 3]
        k = 0
        # four terms per pass over the accumulators: ((a + m x) + n y) + ... is the
        # same sequence of roundings as four passes, with a quarter of the loads
        # and stores of the accumulators
        while k + 4 <= K:
            m0 = U[g, j, k]
            m1 = U[g, j + 1, k]
            m2 = U[g, j + 2, k]
            m3 = U[g, j + 3, k]
            n0 = U[g, j, k + 1]
            n1 = U[g, j + 1, k + 1]
            n2 = U[g, j + 2, k + 1]
            n3 = U[g, j + 3, k + 1]
            p0 = U[g, j, k + 2]
            p1 = U[g, j + 1, k + 2]
            p2 = U[g, j + 2, k + 2]
            p3 = U[g, j + 3, k + 2]
            q0 = U[g, j, k + 3]
            q1 = U[g, j + 1, k + 3]
            q2 = U[g, j + 2, k + 3]
            q3 = U[g, j + 3, k + 3]
            vr = v[k]
            wr = v[k + 1]
            xr = v[k + 2]
            yr = v[k + 3]
            for l in range(L):
                x = vr[l]
                y = wr[l]
                z = xr[l]
                w = yr[l]
                a0[l] = (((a0[l] + m0 * x) + n0 * y) + p0 * z) + q0 * w
                a1[l] = (((a1[l] + m1 * x) + n1 * y) + p1 * z) + q1 * w
                a2[l] = (((a2[l] + m2 * x) + n2 * y) + p2 * z) + q2 * w
                a3[l] = (((a3[l] + m3 * x) + n3 * y) + p3 * z) + q3 * w
            k += 4
        while k < K:
            m0 = U[g, j, k]
            m1 = U[g, j + 1, k]
            m2 = U[g, j + 2, k]
            m3 = U[g, j + 3, k]
            vr = v[k]
            for l in range(L):
                x = vr[l]
                a0[l] += m0 * x
                a1[l] += m1 * x
                a2[l] += m2 * x
                a3[l] += m3 * x
            k += 1
        j += 4
    while j < H:
        a0 = acc[j]
        for k in range(K):
            m0 = U[g, j, k]
            vr = v[k]
            for l in range(L):
                a0[l] += m0 * vr[l]
        j += 1


@njit(cache=True)
def _mv_t(U, g, src, srow, dst, drow, L):
    """dv[k*L + l] += sum_j U[g, j, k] * sv[j*L + l], j ascending."""
    H = U.shape[1]
    K = U.shape[2]
    sv = src[srow]
    dv = dst[drow]
    if L == 1:
        for j in range(H):
            x = sv[j]
            for k in range(K):
                dv[k] += U[g, j, k] * x
        return
    acc = dv[: K * L].reshape(K, L)
    v = sv[: H * L].reshape(H, L)
    k = 0
    while k + 4 <= K:
        a0 = acc[k]
        a1 = acc[k + 1]
        a2 = acc[k + 2]
        a3 = acc[k + 3]
        j = 0
        # four terms per pass over the accumulators, in the same order (j ascending)
        while j + 4 <= H:
            m0 = U[g, j, k]
            m1 = U[g, j, k + 1]
            m2 = U[g, j, k + 2]
            m3 = U[g, j, k + 3]
            n0 = U[g, j + 1, k]
            n1 = U[g, j + 1, k + 1]
            n2 = U[g, j + 1, k + 2]
            n3 = U[g, j + 1, k + 3]
            p0 = U[g, j + 2, k]
            p1 = U[g, j + 2, k + 1]
            p2 = U[g, j + 2, k + 2]
            p3 = U[g, j + 2, k + 3]
            q0 = U[g, j + 3, k]
            q1 = U[g, j + 3, k + 1]
            q2 = U[g, j + 3, k + 2]
            q3 = U[g, j + 3, k + 3]
            vr = v[j]
            wr = v[j + 1]
            xr = v[j + 2]
            yr = v[j + 3]
            for l in range(L):
                x = vr[l]
                y = wr[l]
                z = xr[l]
                w = yr[l]
                a0[l] = (((a0[l] + m0 * x) + n0 * y) + p0 * z) + q0 * w
                a1[l] = (((a1[l] + m1 * x) + n1 * y) + p1 * z) + q1 * w
                a2[l] = (((a2[l] + m2 * x) + n2 * y) + p2 * z) + q2 * w
                a3[l] = (((a3[l] + m3 * x) + n3 * y) + p3 * z) + q3 * w
            j += 4
        while j < H:
            m0 = U[g, j, k]
            m1 = U[g, j, k + 1]
            m2 = U[g, j, k + 2]
            m3 = U[g, j, k + 3]
            vr = v[j]
            for l in range(L):
                x = vr[l]
                a0[l] += m0 * x
                a1[l] += m1 * x
                a2[l] += m2 * x
                a3[l] += m3 * x
            j += 1
        k += 4
    while k < K:
        a0 = acc[k]
        for j in range(H):
            m0 = U[g, j, k]
            vr = v[j]
            for l in range(L):
                a0[l] += m0 * vr[l]
        k += 1


@njit(cache=True)
def _activate(pre, biasL, b, gates, t, g, act, prec):
    """gates[t, g, i] = rnd(act(rnd(pre[0, i] + biasL[b, i]))), one loop per activation."""
    n = pre.shape[1]
    p = pre[0]
    bb = biasL[b]
    out = gates[t, g]
    if act == 0:
        for i in range(n):
            out[i] = rnd(sigmoid(rnd(p[i] + bb[i], prec)), prec)
    elif act == 1:
        for i in range(n):
            out[i] = rnd(tanh(rnd(p[i] + bb[i], prec)), prec)
    else:
        for i in range(n):
            out[i] = rnd(relu(rnd(p[i] + bb[i], prec)), prec)


@njit(cache=True)
def _dactivate(dact, gates, t, g, dpre, act, prec):
    """dpre[t, g, i] = rnd(dact[g, i] * rnd(act'(.))), act' in terms of the output a."""
    n = dact.shape[1]
    one = gates.dtype.type(1.0)
    zero = gates.dtype.type(0.0)
    a = gates[t, g]
    da = dact[g]
    dp = dpre[t, g]
    if act == 0:
        for i in range(n):
            v = a[i]
            dp[i] = rnd(da[i] * rnd(v * rnd(one - v, prec), prec), prec)
    elif act == 1:
        for i in range(n):
            v = a[i]
            dp[i] = rnd(da[i] * rnd(one - rnd(v * v, prec), prec), prec)
    else:
        for i in range(n):
            dp[i] = da[i] if a[i] > zero else zero


@njit(cache=True)
def _expand(rows, L):
    """(R, H) -> (R, H * L): each value repeated over the L lanes (flat layout)."""
    R, H = rows.shape
    out = np.empty((R, H * L), dtype=rows.dtype)
    for r in range(R):
        for j in range(H):
            for l in range(L):
                out[r, j * L + l] = rows[r, j]
    return out


@njit(cache=True)
def _forward_chunk(symbols, lengths, XW, U, bias, d, cfg, prec, states, gates, aux):
    """One chunk; ``states`` (T+1, S*L), ``gates`` (T, G, H*L), ``aux`` (T, H*L)."""
    L = lengths.shape[0]
    G = cfg[1]
    H = U.shape[1]
    n = H * L
    SL = states.shape[1]
    update = cfg[0]
    zi = cfg[2]
    ci = cfg[3]
    one = states.dtype.type(1.0)
    Tc = 0
    for l in range(L):
        Tc = max(Tc, lengths[l])
    pre = np.empty((1, n), dtype=states.dtype)
    # a single lane multiplies by the transposed matrices (see _mv)
    UT = np.empty((G, H, H) if L == 1 else (0, 0, 0), dtype=U.dtype)
    if L == 1:
        for g in range(G):
            for j in range(H):
                for k in range(H):
                    UT[g, k, j] = U[g, j, k]
    biasL = _expand(bias, L)
    dL = _expand(d.reshape(1, H), L)
    zeros = np.zeros((1, n), dtype=states.dtype)
    p0 = pre[0]
    for t in range(Tc):
        st = states[t]
        h = st[:n]
        sym = symbols[t]
        gt = gates[t]
        ax = aux[t]
        for g in range(G):
            base = _HDR + 5 * g
            act = cfg[base]
            has_u = cfg[base + 1]
            ri = cfg[base + 2]
            after = cfg[base + 3]
            for j in range(H):
                o = j * L
                for l in range(L):
                    p0[o + l] = XW[sym[l], g, j]
            if after:
                # act(W x + b + r ⊙ (U h + d)): two dot products, each rounded once
                ax[:] = 0
                _mv(U, UT, g, states, t, aux, t, L)
                r = gt[ri]
                bg = biasL[g]
                d0 = dL[0]
                for i in range(n):
                    uv = rnd(ax[i] + d0[i], prec)
                    ax[i] = uv
                    a1 = rnd(p0[i] + bg[i], prec)
                    p0[i] = rnd(a1 + rnd(r[i] * uv, prec), prec)
                _activate(pre, zeros, 0, gates, t, g, act, prec)
                continue
            if has_u:
                if ri >= 0:
                    r = gt[ri]
                    for i in range(n):
                        ax[i] = rnd(r[i] * h[i], prec)
                    _mv(U, UT, g, aux, t, pre, 0, L)
                else:
                    _mv(U, UT, g, states, t, pre, 0, L)
            _activate(pre, biasL, g, gates, t, g, act, prec)
        st1 = states[t + 1]
        hn = st1[:n]
        cand = gt[ci]
        if update == _LSTM:
            c = st[n:]
            cn = st1[n:]
            ig = gt[0]
            fg = gt[1]
            og = gt[2]
            # three passes: a loop over many arrays at once would not vectorise
            for i in range(n):
                cn[i] = rnd(rnd(fg[i] * c[i], prec) + rnd(ig[i] * cand[i], prec), prec)
            for i in range(n):
                ax[i] = rnd(tanh(cn[i]), prec)
            for i in range(n):
                hn[i] = rnd(og[i] * ax[i], prec)
        elif update == _INTERP:
            z = gt[zi]
            for i in range(n):
                omz = rnd(one - z[i], prec)
                hn[i] = rnd(rnd(omz * h[i], prec) + rnd(z[i] * cand[i], prec), prec)
        elif update == _KEEP:
            z = gt[zi]
            for i in range(n):
                omz = rnd(one - z[i], prec)
                hn[i] = rnd(rnd(z[i] * h[i], prec) + rnd(omz * cand[i], prec), prec)
        else:
            for i in range(n):
                hn[i] = cand[i]
        # lanes whose word has ended keep their state
        for l in range(L):
            if t >= lengths[l]:
                for i in range(l, SL, L):
                    states[t + 1, i] = states[t, i]
    # rows past the chunk's longest word repeat the final state
    for t in range(Tc, states.shape[0] - 1):
        for i in range(SL):
            states[t + 1, i] = states[t, i]


@njit(cache=True, parallel=True)
def forward_kernel(symbols, lengths, XW, U, bias, d, cfg, prec, states, gates, aux):
    """Run the cell over whole sequences; ``states[:, 0]`` holds the initial states.

    Fills ``states[:, 1:]``, ``gates`` and ``aux`` in place, chunks in parallel
    (see the module docstring for the shapes).
    """
    for c in prange(lengths.shape[0]):
        _forward_chunk(
            symbols[c], lengths[c], XW, U, bias, d, cfg, prec, states[c], gates[c], aux[c]
        )


@njit(cache=True)
def forward_kernel_serial(symbols, lengths, XW, U, bias, d, cfg, prec, states, gates, aux):
    """:func:`forward_kernel` on one thread (small batches: no thread start-up)."""
    for c in range(lengths.shape[0]):
        _forward_chunk(
            symbols[c], lengths[c], XW, U, bias, d, cfg, prec, states[c], gates[c], aux[c]
        )


def _parallel(lengths, U):
    """Whether the chunks are worth numba's threads (several chunks, enough work, >1 thread)."""
    G, H = U.shape[0], U.shape[1]
    work = int(lengths.max(axis=1).sum()) * lengths.shape[1] * G * H * (H + 8)
    return lengths.shape[0] > 1 and work >= PARALLEL_MIN_WORK and get_num_threads() > 1


def _merge(a: np.ndarray) -> np.ndarray:
    """View (..., K, L) as (..., K*L): the kernels' flat layout (no copy)."""
    if not a.flags.c_contiguous:
        raise ValueError("kernel arrays must be C-contiguous")
    return a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))


def forward(symbols, lengths, XW, U, bias, d, cfg, prec, states, gates, aux):
    """Forward pass over chunked arrays (shapes in the module docstring).

    Chunks run in parallel when the batch is large enough to pay.
    """
    kernel = forward_kernel if _parallel(lengths, U) else forward_kernel_serial
    kernel(symbols, lengths, XW, U, bias, d, cfg, prec, _merge(states), _merge(gates), _merge(aux))


@njit(cache=True)
def _backward_chunk(lengths, U, cfg, prec, states, gates, aux, dh_ext, dpre, daux, dstate0):
    """One chunk; flat layouts as in :func:`_forward_chunk`, ``dstate0`` (S*L,)."""
    L = lengths.shape[0]
    G = cfg[1]
    H = U.shape[1]
    n = H * L
    update = cfg[0]
    zi = cfg[2]
    ci = cfg[3]
    dtp = states.dtype
    one = dtp.type(1.0)
    Tc = 0
    for l in range(L):
        Tc = max(Tc, lengths[l])
    # dh[0]: dL/dh_{t+1} on entry to a step, dL/dh_t after it; dh[1] keeps the old one
    dh = np.empty((2, n), dtype=dtp)
    for i in range(n):
        dh[0, i] = dh_ext[Tc, i]
    dc = np.zeros((2, n), dtype=dtp)
    dprev = np.empty(n, dtype=dtp)
    dact = np.empty((G, n), dtype=dtp)
    dtmp = np.empty((1, n), dtype=dtp)
    for t in range(Tc - 1, -1, -1):
        dact[:, :] = 0
        dtmp[:, :] = 0
        for i in range(n):
            dprev[i] = 0
            dh[1, i] = dh[0, i]
            dc[1, i] = dc[0, i]
        if update == _LSTM:
            # one pass per output: loops over many arrays at once would not vectorise
            tv = aux[t]
            og = gates[t, 2]
            d0 = dh[0]
            c0 = dc[0]
            dcn = dprev  # scratch: the LSTM has no direct h -> h' path
            for i in range(n):
                dtv = rnd(
                    rnd(d0[i] * og[i], prec) * rnd(one - rnd(tv[i] * tv[i], prec), prec), prec
                )
                dcn[i] = rnd(c0[i] + dtv, prec)
            da = dact[2]
            for i in range(n):
                da[i] = rnd(d0[i] * tv[i], prec)
            da = dact[1]
            c = states[t, n:]
            for i in range(n):
                da[i] = rnd(dcn[i] * c[i], prec)
            da = dact[0]
            cand = gates[t, ci]
            for i in range(n):
                da[i] = rnd(dcn[i] * cand[i], prec)
            da = dact[3]
            ig = gates[t, 0]
            for i in range(n):
                da[i] = rnd(dcn[i] * ig[i], prec)
            fg = gates[t, 1]
            for i in range(n):
                c0[i] = rnd(dcn[i] * fg[i], prec)
            dcn[:] = 0
        elif update == _INTERP or update == _KEEP:
            d0 = dh[0]
            z = gates[t, zi]
            cand = gates[t, ci]
            h = states[t, :n]
            dz = dact[zi]
            dhh = dact[ci]
            if update == _INTERP:  # h' = (1 - z) h + z hh
                for i in range(n):
                    dz[i] = rnd(d0[i] * rnd(cand[i] - h[i], prec), prec)
                for i in range(n):
                    dhh[i] = rnd(d0[i] * z[i], prec)
                for i in range(n):
                    dprev[i] = rnd(d0[i] * rnd(one - z[i], prec), prec)
            else:  # h' = z h + (1 - z) hh
                for i in range(n):
                    dz[i] = rnd(d0[i] * rnd(h[i] - cand[i], prec), prec)
                for i in range(n):
                    dhh[i] = rnd(d0[i] * rnd(one - z[i], prec), prec)
                for i in range(n):
                    dprev[i] = rnd(d0[i] * z[i], prec)
        else:
            dact[ci, :] = dh[0]
        # gates in reverse order: the candidate pushes into its reset gate first
        for g in range(G - 1, -1, -1):
            base = _HDR + 5 * g
            act = cfg[base]
            has_u = cfg[base + 1]
            ri = cfg[base + 2]
            after = cfg[base + 3]
            _dactivate(dact, gates, t, g, dpre, act, prec)
            if after:
                dp = dpre[t, g]
                r = gates[t, ri]
                du = daux[t]
                dr = dact[ri]
                u = aux[t]
                for i in range(n):
                    du[i] = rnd(dp[i] * r[i], prec)
                for i in range(n):
                    dr[i] = rnd(dr[i] + rnd(dp[i] * u[i], prec), prec)
                _mv_t(U, g, daux, t, dtmp, 0, L)
            elif has_u:
                if ri >= 0:
                    for i in range(n):
                        daux[t, i] = 0
                    _mv_t(U, g, dpre[t], g, daux, t, L)
                    drh = daux[t]
                    dr = dact[ri]
                    h = states[t, :n]
                    r = gates[t, ri]
                    for i in range(n):
                        drh[i] = rnd(drh[i], prec)
                    for i in range(n):
                        dr[i] = rnd(dr[i] + rnd(drh[i] * h[i], prec), prec)
                    for i in range(n):
                        dprev[i] = rnd(dprev[i] + rnd(drh[i] * r[i], prec), prec)
                else:
                    _mv_t(U, g, dpre[t], g, dtmp, 0, L)
        d0 = dh[0]
        dt0 = dtmp[0]
        ext = dh_ext[t]
        for i in range(n):
            d0[i] = rnd(rnd(dprev[i] + rnd(dt0[i], prec), prec) + ext[i], prec)
        # lanes whose word had ended: the state passed through unchanged
        for l in range(L):
            if t >= lengths[l]:
                for i in range(l, n, L):
                    dh[0, i] = rnd(dh[1, i] + dh_ext[t, i], prec)
                    dc[0, i] = dc[1, i]
                    daux[t, i] = 0
                    for g in range(G):
                        dpre[t, g, i] = 0
    for i in range(n):
        dstate0[i] = dh[0, i]
        if update == _LSTM:
            dstate0[n + i] = dc[0, i]


@njit(cache=True, parallel=True)
def backward_kernel(lengths, U, cfg, prec, states, gates, aux, dh_ext, dpre, daux, dstate0):
    """Backpropagate through time, chunks in parallel.

    ``dh_ext`` (C, T+1, H, L) is the loss gradient with respect to each ``h_t``
    from the readout. Fills ``dpre`` (C, T, G, H, L), the gradient with respect
    to each gate's pre-activation; ``daux`` (C, T, H, L), the gradient with
    respect to ``aux`` where the cell has one (``r ⊙ h``, or ``U_h h + d_h``); and
    ``dstate0`` (C, S, L), the gradient with respect to each lane's initial
    state. Parameter gradients are reductions of these over time and lanes,
    done by the caller.
    """
    for c in prange(lengths.shape[0]):
        _backward_chunk(
            lengths[c],
            U,
            cfg,
            prec,
            states[c],
            gates[c],
            aux[c],
            dh_ext[c],
            dpre[c],
            daux[c],
            dstate0[c],
        )


@njit(cache=True)
def backward_kernel_serial(lengths, U, cfg, prec, states, gates, aux, dh_ext, dpre, daux, dstate0):
    """:func:`backward_kernel` on one thread."""
    for c in range(lengths.shape[0]):
        _backward_chunk(
            lengths[c],
            U,
            cfg,
            prec,
            states[c],
            gates[c],
            aux[c],
            dh_ext[c],
            dpre[c],
            daux[c],
            dstate0[c],
        )


def backward(lengths, U, cfg, prec, states, gates, aux, dh_ext, dpre, daux, dstate0):
    """Backward pass over chunked arrays (see :func:`backward_kernel`).

    Chunks run in parallel when the batch is large enough to pay.
    """
    kernel = backward_kernel if _parallel(lengths, U) else backward_kernel_serial
    m = _merge
    kernel(
        lengths, U, cfg, prec, m(states), m(gates), m(aux), m(dh_ext), m(dpre), m(daux), m(dstate0)
    )
