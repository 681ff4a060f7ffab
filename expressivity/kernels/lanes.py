"""Networks as SIMD lanes: one update of P networks together, on the CPU.

Researchers train many small networks (seeds × cells × learning rates ×
languages), mostly on one word per update (the Weiss et al. protocol). One
such network's update is too small to fill a core's vector units; P of them
side by side do: here the *network* is the innermost (lane) index of every
array. Each network's weights are a column of a lane-major matrix
``w (NW, P)`` (the population layout of :mod:`expressivity.kernels.step`,
transposed), each lane reads its own word, and every loop of the update runs
over contiguous lanes:

forward through time (every cell of :mod:`expressivity.cells` through its
integer description, as :mod:`expressivity.kernels.cpu`), the head (next-symbol
softmax, accept or next-set), backward through time, the gradient sums,
clipping by global norm, Adam or SGD on float64 master weights and the
re-rounding, fused, for K updates in one call.

Exactness. Every lane performs the operations of
:func:`expressivity.kernels.step.train_steps` on a batch of one word, in the
same order: the same products, the same sums (k ascending in the recurrent
products, steps ascending in the gradient sums, entries ascending in the
clipping norm), the same roundings. Lanes differ only in *which* entries they
compute, never in how, nor in which lane: a lane whose word has ended keeps
its state, takes no further terms in its sums (a masked term adds +0), and a
network whose update failed is not written. So each network's weights, moments, losses and
statuses equal those of training it alone with
:func:`expressivity.training.train`, bit for bit (``tests/test_lanes.py``).
There is no reassociated sum to bound.

Float32 only. The kernel trains networks in ``float32`` itself (the native
format: every operation is the carrier's own). The emulated narrow formats,
which round every operation, gained 1.03-1.10x over the one-network step at
P = 32 (LSTM and GRU, H = 10, float16 and bfloat16, Weiss protocol), less than
a second compile of this kernel (about 90 s) was worth; they keep the
one-network step, as float64 does.

Tiles. Lanes are cut into tiles of at most :data:`TILE` networks; a tile's
weights and its per-step work arrays are copied into contiguous tile-local
arrays for the whole call, so its K updates run on them; their lane count is
padded to whole 8-lane vectors (padding lanes: inactive, no word, zero
weights). Tiles are independent for the whole call, so with more than one
thread they run in parallel: the tiles are split into contiguous groups, each
group's tiles one ``nogil`` call each on its own Python thread, so there is no
parallel region to compile and no thread pool that spins.

Sorted lanes. Words differ in length (the Weiss protocol: 2 to 198 symbols),
and a tile would otherwise run every lane to its longest word. Before each
update a tile reorders its networks (the columns of its carrier weights; the
float64 master weights and Adam moments stay where they are and are found by
network) by this update's word length, longest first, so the lanes still inside
their word at step t are a prefix: step t runs only for the first ``nf[t]``
lanes (rounded up to whole vectors), the readout for ``nh[t]``, and a block of
8 lanes' gradient sums stops at its longest word. A lane's arithmetic does not
depend on its position, so the order changes nothing but the time.

Vectors. LLVM's vectoriser, given loops over 8-64 lanes, spends more in its
runtime alias checks and remainder loops than in the arithmetic. The
recurrent products, the gradient sums, the cells' elementwise steps and
activations and Adam are written with explicit 8-lane vectors instead
(:mod:`expressivity.kernels.vec8`: LLVM vector values through numba
intrinsics, IEEE operations without contraction, and the package's float32
sigmoid and tanh operation by operation, so each lane computes exactly the
scalar operations), with the accumulators of four rows held in registers
across a product's terms.

Arrays (P networks, NW weights each, K updates, T steps):

- ``model = (w (NW, P) carrier, master, mom1, mom2 (NW, P) float64, trainable (NW,) int8)``
- ``opt = (hyper (P, 6) float64: lr, clip (0: none), momentum, beta1, beta2, eps;
  tstep (P,) int64 updates so far; active (P,) int8)``
- ``data = (idx (K, P) int64: the word of each network at each update, -1 none;
  symbols (P, N, T) int32; lengths (P, N) int64; targets (P, N, T+1, O) carrier)``
- ``result = (loss (K, P) float64, status (K, P) int8)``: as
  :mod:`expressivity.kernels.step` (0 ok, 1 loss, 2 gradient, 3 weights not
  finite); a network whose status becomes non-zero takes no further update.

Examples
--------
>>> TILE
64
>>> tile_bounds(40, 16, 1).tolist()  # balanced tiles of at most 16
[0, 13, 27, 40]
>>> tile_bounds(20, 16, 2).tolist()  # two threads: at least two tiles
[0, 10, 20]
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from expressivity.activations import sigmoid
from expressivity.kernels.cpu import _HDR
from expressivity.kernels.scalar import exp
from expressivity.kernels.vec8 import (
    VL,
    vadd,
    vblend,
    vdiv,
    vf32,
    vf64,
    vfill,
    vge,
    vload,
    vmask,
    vmul,
    vsigmoid,
    vsplat,
    vsqrt,
    vstore,
    vsub,
    vtanh,
)

__all__ = ["MAX_HIDDEN", "MIN_LANES", "TILE", "takes", "tile_bounds", "train_lanes"]

#: networks per tile (at most): every lane loop pays a fixed cost (the
#: vectoriser's alias checks, its remainder loop) of several ns, so wider tiles
#: are faster per network even when a tile's weights leave L2 (measured before
#: the explicit vectors at H = 32, LSTM, T = 190: 3.4, 2.2, 1.4 and 1.0 ms per
#: network-update at 8, 16, 32 and 64 lanes, on a shared machine)
TILE = 64
#: the CPU backend trains populations of at least this many one-word-per-update
#: networks as lanes; smaller ones keep the fused one-network step, network
#: after network (Weiss protocol, 2-core machine, H = 10, with sorted lanes and
#: explicit vectors, two other busy processes on the machine: lanes were
#: 1.0-1.05x of it at P = 8, 2.0x at P = 32, 1.8-2.2x at P = 128)
MIN_LANES = 32
#: ... and hidden sizes up to this (at H = 32, same run: 0.8-0.9x of the
#: one-network step at P = 32-128, whose own products vectorise over units there)
MAX_HIDDEN = 16

_LSTM, _INTERP, _KEEP = 0, 1, 2
_NEXT_SYMBOL, _ACCEPT = 0, 1
_ADAM = 0


def takes(n_networks: int, batch_size: int, hidden_size: int, precision) -> bool:
    """Whether the CPU trains such a population as lanes: at least :data:`MIN_LANES`
    networks of at most :data:`MAX_HIDDEN` units, one word per update, precision float32
    (a :class:`~expressivity.precision.Precision`). The one rule of the CPU backend and
    of the sweeps' grouping.

    Examples
    --------
    >>> from expressivity.precision import parse_precision
    >>> takes(MIN_LANES, 1, 10, parse_precision("float32"))
    True
    >>> takes(MIN_LANES, 1, 10, parse_precision("float16")), takes(MIN_LANES - 1, 1, 10,
    ...     parse_precision("float32"))
    (False, False)
    """
    return (batch_size == 1 and n_networks >= MIN_LANES and hidden_size <= MAX_HIDDEN
            and precision.is_native and np.dtype(precision.carrier) == np.float32)  # fmt: skip


def tile_bounds(P: int, tile: int, threads: int) -> np.ndarray:
    """Tile boundaries for P lanes: tiles of at most ``tile`` lanes, and at least
    ``threads`` tiles when every tile keeps 4 lanes or more."""
    n = max(-(-P // tile), min(threads, P // 4), 1)
    return np.linspace(0, P, n + 1).round().astype(np.int64)


# ----------------------------------------------------------------------------- pieces


@njit(cache=True)
def _rowsums(wt, off, src, dst, R, M, rs, ms, L):
    """dst[i, l] += sum_m wt[off + i rs + m ms, l] src[m, l], m ascending, lanes l < L
    (L a multiple of 8): four rows of 8 lanes held in registers across m."""
    W = dst.shape[1]
    RW, MW = rs * W, ms * W
    for lb in range(0, L, VL):
        i = 0
        while i + 4 <= R:
            d = i * W + lb
            a0, a1 = vload(dst, d), vload(dst, d + W)
            a2, a3 = vload(dst, d + 2 * W), vload(dst, d + 3 * W)
            r = (off + i * rs) * W + lb
            for m in range(M):
                x = vload(src, m * W + lb)
                a0 = vadd(a0, vmul(vload(wt, r), x))
                a1 = vadd(a1, vmul(vload(wt, r + RW), x))
                a2 = vadd(a2, vmul(vload(wt, r + 2 * RW), x))
                a3 = vadd(a3, vmul(vload(wt, r + 3 * RW), x))
                r += MW
            vstore(dst, d, a0)
            vstore(dst, d + W, a1)
            vstore(dst, d + 2 * W, a2)
            vstore(dst, d + 3 * W, a3)
            i += 4
        while i < R:
            d = i * W + lb
            a0 = vload(dst, d)
            r = (off + i * rs) * W + lb
            for m in range(M):
                a0 = vadd(a0, vmul(vload(wt, r), vload(src, m * W + lb)))
                r += MW
            vstore(dst, d, a0)
            i += 1


@njit(cache=True)
def _matvec(wt, off, src, dst, J, K, L):
    """dst[j, l] += sum_k wt[off + j K + k, l] src[k, l], k ascending, lanes l < L."""
    _rowsums(wt, off, src, dst, J, K, K, 1, L)


@njit(cache=True)
def _matvec_t(wt, off, src, dst, J, K, L):
    """dst[k, l] += sum_j wt[off + j K + k, l] src[j, l], j ascending, lanes l < L."""
    _rowsums(wt, off, src, dst, K, J, 1, K, L)


@njit(cache=True)
def _activate(pre, wt, boff, out, act, L):
    """out[j, l] = act(pre[j, l] + b), b = wt[boff + j, l] (boff < 0: +0), lanes l < L, in
    8-lane vectors (the package's float32 functions bit for bit, :mod:`~expressivity.kernels.vec8`)."""
    H = pre.shape[0]
    zero = pre.dtype.type(0.0)
    W = pre.shape[1]
    z = vfill(zero)
    for j in range(H):
        q = j * W
        for lb in range(0, L, VL):
            x = vadd(vload(pre, q + lb), vload(wt, (boff + j) * W + lb) if boff >= 0 else z)
            if act == 0:
                x = vsigmoid(x)
            elif act == 1:
                x = vtanh(x)
            else:
                x = vge(z, x, z, x)  # x <= 0: +0 (nan passes through), as activations.relu
            vstore(out, q + lb, x)


@njit(cache=True)
def _forward(wt, svm, live, lens, nf, Tc, dims, cfg, states, gates, aux, pre):
    """The recurrence over steps 0..Tc-1 (as :func:`expressivity.kernels.cpu._forward_chunk`);
    step t only for lanes l < nf[t] (the lanes sorted by word length, longest first).
    svm[t, v, l]: lane l reads symbol v at step t (inside its word); live[t + 1, l]: t is
    inside the lane's word."""
    V, G, H = dims[0], dims[1], dims[2]
    L = lens.shape[0]
    oU = V * G * H
    ob = oU + G * H * H
    od = ob + G * H
    update, zi, ci = cfg[0], cfg[2], cfg[3]
    one = states.dtype.type(1.0)
    zero = one - one
    S = states.shape[1]
    W = states.shape[2]
    for t in range(Tc):
        L = nf[t]
        h = states[t]  # rows 0..H-1: h; H..2H-1: the LSTM's c (whole rows keep a C layout)
        for g in range(G):
            base = _HDR + 5 * g
            act, has_u, ri, after = cfg[base], cfg[base + 1], cfg[base + 2], cfg[base + 3]
            for lb in range(0, L, VL):  # W x: the packed row of the symbol each lane reads
                for j in range(H):
                    x = vload(pre, j * W + lb)
                    for v in range(V):
                        m = (t * V + v) * W + lb
                        x = vblend(svm, m, vload(wt, ((v * G + g) * H + j) * W + lb), x)
                    vstore(pre, j * W + lb, x)
            if after:  # act(W x + b + r ⊙ (U h + d)), each product rounded once
                ax = aux[t]
                ax[:, :] = zero
                _matvec(wt, oU + g * H * H, h, ax, H, H, L)
                r = gates[t, ri]
                for j in range(H):
                    a, p, rr = ax[j], pre[j], r[j]
                    dj, bj = wt[od + j], wt[ob + g * H + j]
                    for l in range(L):
                        uv = a[l] + dj[l]
                        a[l] = uv
                        p[l] = (p[l] + bj[l]) + rr[l] * uv
                _activate(pre, wt, -1, gates[t, g], act, L)
                continue
            if has_u:
                if ri >= 0:
                    ax = aux[t]
                    r = gates[t, ri]
                    for j in range(H):
                        for l in range(L):
                            ax[j, l] = r[j, l] * h[j, l]
                    _matvec(wt, oU + g * H * H, ax, pre, H, H, L)
                else:
                    _matvec(wt, oU + g * H * H, h, pre, H, H, L)
            _activate(pre, wt, ob + g * H, gates[t, g], act, L)
        hn = states[t + 1]
        cand = gates[t, ci]
        if update == _LSTM:  # c' = f c + i hh, h' = o tanh(c'), 8 lanes at a time
            ax = aux[t]
            gq = t * G * H * W
            for lb in range(0, L, VL):
                for j in range(H):
                    q = gq + j * W + lb
                    c = vload(states, (t * S + H + j) * W + lb)
                    fc = vmul(vload(gates, q + H * W), c)
                    ic = vmul(vload(gates, q), vload(gates, q + ci * H * W))
                    vstore(states, ((t + 1) * S + H + j) * W + lb, vadd(fc, ic))
            for j in range(H):
                for lb in range(0, L, VL):
                    q = j * W + lb
                    vstore(ax, q, vtanh(vload(states, ((t + 1) * S + H) * W + q)))
            for lb in range(0, L, VL):
                for j in range(H):
                    q = j * W + lb
                    og = vload(gates, gq + 2 * H * W + q)
                    vstore(states, (t + 1) * S * W + q, vmul(og, vload(aux, t * H * W + q)))
        elif update == _INTERP or update == _KEEP:
            ones = vsplat(states, one)
            for lb in range(0, L, VL):
                for j in range(H):
                    q = j * W + lb
                    z = vload(gates, ((t * G + zi) * H + j) * W + lb)
                    cv = vload(gates, ((t * G + ci) * H + j) * W + lb)
                    hv = vload(states, t * S * W + q)
                    omz = vsub(ones, z)
                    if update == _INTERP:
                        x = vadd(vmul(omz, hv), vmul(z, cv))
                    else:
                        x = vadd(vmul(z, hv), vmul(omz, cv))
                    vstore(states, (t + 1) * S * W + q, x)
        else:
            for j in range(H):
                for l in range(L):
                    hn[j, l] = cand[j, l]
        l = L - 1  # lanes whose word has ended keep their state (the last few: sorted)
        while l >= 0 and t >= lens[l]:
            for i in range(S):
                states[t + 1, i, l] = states[t, i, l]
            l -= 1


@njit(cache=True)
def _head(wt, lens, nh, real, Tc, dims, head, states, Y, dz, dh_ext, lsum):
    """Readout, loss and d loss / d logits (as :func:`expressivity.kernels.step.head_lane`,
    one word per network: the division by the number of words is by one); step t only
    for lanes l < nh[t] (the others' rows of dh_ext are zero)."""
    V, G, H, O = dims[0], dims[1], dims[2], dims[3]
    L = lens.shape[0]
    ow = V * G * H + G * H * H + G * H + H
    obo = ow + O * H
    one = states.dtype.type(1.0)
    zero = one - one
    for l in range(L):
        lsum[l] = 0.0
    for t in range(Tc + 1):
        L = nh[t]
        dz[t, :, :] = zero  # logits (k ascending from +0, in vectors), rounded once
        _matvec(wt, ow, states[t], dz[t], O, H, L)
        for o in range(O):
            z = dz[t, o]
            b = wt[obo + o]
            for l in range(L):
                z[l] = z[l] + b[l]
        for l in range(L):
            n = lens[l]
            if not (real[l] and t <= n):
                for o in range(O):
                    dz[t, o, l] = zero
                continue
            if head == _NEXT_SYMBOL:  # softmax
                m = dz[t, 0, l]
                for o in range(1, O):
                    m = max(m, dz[t, o, l])
                s = zero
                for o in range(O):
                    e = exp(dz[t, o, l] - m)
                    dz[t, o, l] = e
                    s += e
                for o in range(O):
                    dz[t, o, l] = dz[t, o, l] / s
                tgt = -1
                for o in range(O):
                    if Y[t, o, l] > zero:
                        tgt = o
                for o in range(O):
                    if tgt < 0:
                        dz[t, o, l] = zero
                    elif o == tgt:
                        lsum[l] -= math.log(float(dz[t, o, l]))
                        dz[t, o, l] = dz[t, o, l] - one
            elif head == _ACCEPT:
                dz[t, 0, l] = sigmoid(dz[t, 0, l])
                if t == n:
                    pl = float(dz[t, 0, l])
                    y = float(Y[t, 0, l])
                    lsum[l] -= y * math.log(pl + 1e-300) + (1.0 - y) * math.log(1.0 - pl + 1e-300)
                    dz[t, 0, l] = pl - y  # rounded to the carrier, as on the CPU
                else:
                    dz[t, 0, l] = zero
            else:
                for o in range(O):
                    dz[t, o, l] = sigmoid(dz[t, o, l])
                    pf = float(dz[t, o, l])
                    y = float(Y[t, o, l])
                    lsum[l] -= y * math.log(pf + 1e-300) + (1.0 - y) * math.log(1.0 - pf + 1e-300)
                    dz[t, o, l] = dz[t, o, l] - Y[t, o, l]
        dh_ext[t, :, :] = zero  # d loss / d h = W_out^T dz (o ascending, vectors)
        _matvec_t(wt, ow, dz[t], dh_ext[t], O, H, L)
        for k in range(H):
            d = dh_ext[t, k]
            for l in range(L):
                d[l] = d[l] if (real[l] and t <= lens[l]) else zero


@njit(cache=True)
def _dactivate(dact, a, dp, act, L):
    """dp = dact * act'(.), act' in terms of the output a (lanes l < L; 8-lane vectors for
    the sigmoid and tanh)."""
    H = a.shape[0]
    W = a.shape[1]
    if act != 2:
        ones = vsplat(a, a.dtype.type(1.0))
        for lb in range(0, L, VL):
            for j in range(H):
                q = j * W + lb
                v = vload(a, q)
                d = vmul(v, vsub(ones, v)) if act == 0 else vsub(ones, vmul(v, v))
                vstore(dp, q, vmul(vload(dact, q), d))
        return
    zero = a.dtype.type(0.0)
    for j in range(H):
        v, da, d = a[j], dact[j], dp[j]
        for l in range(L):
            d[l] = da[l] if v[l] > zero else zero


@njit(cache=True)
def _lstm_back_vec(t, H, L, ci, states, gates, aux, dh, dc, dact, one):
    """The LSTM's cell backward at step t, 8 lanes at a time: dc' = dc + dh o (1 - tanh(c')^2)
    into the gates' d act and the carried dc."""
    W = dh.shape[1]
    G, S = gates.shape[1], states.shape[1]
    ones = vsplat(dh, one)
    for lb in range(0, L, VL):
        for j in range(H):
            q = j * W + lb
            gq = (t * G * H + j) * W + lb  # gate g's row j: gq + g H W
            dhv, tv = vload(dh, q), vload(aux, (t * H + j) * W + lb)
            og = vload(gates, gq + 2 * H * W)
            dtv = vmul(vmul(dhv, og), vsub(ones, vmul(tv, tv)))
            dcn = vadd(vload(dc, q), dtv)
            vstore(dact, (2 * H + j) * W + lb, vmul(dhv, tv))
            vstore(dact, (H + j) * W + lb, vmul(dcn, vload(states, (t * S + H + j) * W + lb)))
            vstore(dact, j * W + lb, vmul(dcn, vload(gates, gq + ci * H * W)))
            vstore(dact, (3 * H + j) * W + lb, vmul(dcn, vload(gates, gq)))
            vstore(dc, q, vmul(dcn, vload(gates, gq + H * W)))


@njit(cache=True)
def _interp_back_vec(t, H, L, interp, zi, ci, states, gates, dh, dact, dprev, one):
    """The GRU-style interpolation backward at step t, 8 lanes at a time: d act of the
    update gate and the candidate, and the direct path to the previous state."""
    W = dh.shape[1]
    G, S = gates.shape[1], states.shape[1]
    ones = vsplat(dh, one)
    for lb in range(0, L, VL):
        for j in range(H):
            q = j * W + lb
            dhv = vload(dh, q)
            z = vload(gates, ((t * G + zi) * H + j) * W + lb)
            cand = vload(gates, ((t * G + ci) * H + j) * W + lb)
            h = vload(states, (t * S + j) * W + lb)
            omz = vsub(ones, z)
            if interp:  # h' = (1 - z) h + z hh
                vstore(dact, (zi * H + j) * W + lb, vmul(dhv, vsub(cand, h)))
                vstore(dact, (ci * H + j) * W + lb, vmul(dhv, z))
                vstore(dprev, q, vmul(dhv, omz))
            else:  # h' = z h + (1 - z) hh
                vstore(dact, (zi * H + j) * W + lb, vmul(dhv, vsub(h, cand)))
                vstore(dact, (ci * H + j) * W + lb, vmul(dhv, omz))
                vstore(dprev, q, vmul(dhv, z))


@njit(cache=True)
def _backward(wt, live, lens, nf, Tc, dims, cfg, states, gates, aux, dh_ext, dpre, daux,
              dstate0, work, dact):  # fmt: skip
    """Backpropagation through time (as :func:`expressivity.kernels.cpu._backward_chunk`);
    step t only for lanes l < nf[t] (the others pass their state through untouched)."""
    V, G, H = dims[0], dims[1], dims[2]
    L = lens.shape[0]
    oU = V * G * H
    update, zi, ci = cfg[0], cfg[2], cfg[3]
    one = states.dtype.type(1.0)
    zero = one - one
    dh, dc, dh1, dc1, dprev, dtmp = work[0], work[1], work[2], work[3], work[4], work[5]
    for j in range(H):
        for l in range(L):
            dh[j, l] = dh_ext[lens[l], j, l]
            dc[j, l] = zero
    for t in range(Tc - 1, -1, -1):
        L = nf[t]
        dact[:, :, :] = zero
        dtmp[:, :] = zero
        dprev[:, :] = zero
        dh1[:, :] = dh
        dc1[:, :] = dc
        if update == _LSTM:
            _lstm_back_vec(t, H, L, ci, states, gates, aux, dh, dc, dact, one)
        elif update == _INTERP or update == _KEEP:
            _interp_back_vec(t, H, L, update == _INTERP, zi, ci, states, gates, dh, dact, dprev,
                             one)  # fmt: skip
        else:
            dact[ci, :, :] = dh
        for g in range(G - 1, -1, -1):  # the candidate pushes into its reset gate first
            base = _HDR + 5 * g
            act, has_u, ri, after = cfg[base], cfg[base + 1], cfg[base + 2], cfg[base + 3]
            dp = dpre[t, g]
            _dactivate(dact[g], gates[t, g], dp, act, L)
            if after:
                r, du, dr, u = gates[t, ri], daux[t], dact[ri], aux[t]
                for j in range(H):
                    for l in range(L):
                        du[j, l] = dp[j, l] * r[j, l]
                    for l in range(L):
                        dr[j, l] = dr[j, l] + dp[j, l] * u[j, l]
                _matvec_t(wt, oU + g * H * H, du, dtmp, H, H, L)
            elif has_u:
                if ri >= 0:
                    drh = daux[t]
                    drh[:, :] = zero
                    _matvec_t(wt, oU + g * H * H, dp, drh, H, H, L)
                    dr, h, r = dact[ri], states[t], gates[t, ri]
                    for j in range(H):
                        for l in range(L):
                            dr[j, l] = dr[j, l] + drh[j, l] * h[j, l]
                        for l in range(L):
                            dprev[j, l] = dprev[j, l] + drh[j, l] * r[j, l]
                else:
                    _matvec_t(wt, oU + g * H * H, dp, dtmp, H, H, L)
        ext = dh_ext[t]
        W = dh.shape[1]
        for lb in range(0, L, VL):  # dh = (dprev + dtmp) + the readout's
            for j in range(H):
                q = j * W + lb
                x = vadd(vload(dprev, q), vload(dtmp, q))
                vstore(dh, q, vadd(x, vload(ext, q)))
        l = L - 1  # lanes whose word had ended (the last few: sorted): state passed through
        while l >= 0 and t >= lens[l]:
            for j in range(H):
                dh[j, l] = dh1[j, l]
                dc[j, l] = dc1[j, l]
                daux[t, j, l] = zero
                for g in range(G):
                    dpre[t, g, j, l] = zero
            l -= 1
    L = lens.shape[0]
    S = dstate0.shape[0]
    for j in range(H):
        for l in range(L):
            dstate0[j, l] = dh[j, l]
    if S > H:
        for j in range(H):
            for l in range(L):
                dstate0[H + j, l] = dc[j, l]


_TB = 16  # steps per block of the recurrent gradient sums


@njit(cache=True)
def _outer_block(grad, r0, a, ast, aoff, src, live, lens, t0, t1, H):
    """grad[r0 + j H + k, l] += a[t, j, l] src[t, k, l] for t0 <= t < t1 (masked: t < the
    lane's length), t ascending, where a[t, j] is row ``t ast + aoff + j`` of ``a`` and
    src[t, k] row ``t S + k`` of ``src``. Four entries of 8 lanes stay in registers
    for the block of steps; lane blocks stop at their longest word (lanes sorted)."""
    W = grad.shape[1]
    S = src.shape[1]
    for lb in range(0, W, VL):
        tb = min(t1, lens[lb])
        if tb <= t0:
            break  # lanes sorted: the next blocks' words are no longer
        for j in range(H):
            k = 0
            while k + 4 <= H:
                r = (r0 + j * H + k) * W + lb
                g0, g1 = vload(grad, r), vload(grad, r + W)
                g2, g3 = vload(grad, r + 2 * W), vload(grad, r + 3 * W)
                for t in range(t0, tb):
                    m = (t + 1) * W + lb
                    x = vload(a, (t * ast + aoff + j) * W + lb)
                    q = (t * S + k) * W + lb
                    g0 = vadd(g0, vmask(live, m, vmul(x, vload(src, q))))
                    g1 = vadd(g1, vmask(live, m, vmul(x, vload(src, q + W))))
                    g2 = vadd(g2, vmask(live, m, vmul(x, vload(src, q + 2 * W))))
                    g3 = vadd(g3, vmask(live, m, vmul(x, vload(src, q + 3 * W))))
                vstore(grad, r, g0)
                vstore(grad, r + W, g1)
                vstore(grad, r + 2 * W, g2)
                vstore(grad, r + 3 * W, g3)
                k += 4
            while k < H:
                r = (r0 + j * H + k) * W + lb
                g0 = vload(grad, r)
                for t in range(t0, tb):
                    x = vload(a, (t * ast + aoff + j) * W + lb)
                    y = vload(src, (t * S + k) * W + lb)
                    g0 = vadd(g0, vmask(live, (t + 1) * W + lb, vmul(x, y)))
                vstore(grad, r, g0)
                k += 1


@njit(cache=True)
def _row_sum(grad, row, a, ast, aoff, mask, mst, moff, lb, t0, tb):
    """grad[row, lb..lb+7] += sum over t0 <= t < tb of a[t ast + aoff] where
    mask[t mst + moff] (rows of 8 lanes), t ascending, in a register."""
    W = grad.shape[1]
    acc = vload(grad, row * W + lb)
    for t in range(t0, tb):
        x = vload(a, (t * ast + aoff) * W + lb)
        acc = vadd(acc, vmask(mask, (t * mst + moff) * W + lb, x))
    vstore(grad, row * W + lb, acc)


@njit(cache=True)
def _gradients(wt, sym, lens, live, svm, Tc, dims, cfg, states, aux, dz, dpre, daux,
               dstate0, grad):  # fmt: skip
    """The gradient in the population layout, each entry rounded once (as
    :func:`expressivity.kernels.step._gradients` with one lane per network:
    for every entry its terms in step order; a masked term adds +0, as in the
    one-network step). live[s, l]: s <= the lane's length; svm[t, v, l]: t < the lane's
    length and its symbol at t is v. Lanes sorted by length, longest first: a block of
    8 lanes stops at its longest word."""
    V, G, H, O, S, E = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]
    L = lens.shape[0]
    oU = V * G * H
    ob = oU + G * H * H
    od = ob + G * H
    ow = od + H
    obo = ow + O * H
    os0 = obo + O
    oW = os0 + S
    oE = oW + G * H * E
    zero = states.dtype.type(0.0)
    grad[:, :] = zero
    for t0 in range(0, Tc, _TB):  # biases, inputs and d: blocks of steps, terms in step order
        for lb in range(0, L, VL):
            tb = min(t0 + _TB, lens[lb])
            if tb <= t0:
                break  # lanes sorted: the next blocks' words are no longer
            for g in range(G):
                for j in range(H):
                    a = g * H + j
                    _row_sum(grad, ob + a, dpre, G * H, a, live, 1, 1, lb, t0, tb)
                    for v in range(V):
                        _row_sum(grad, (v * G + g) * H + j, dpre, G * H, a, svm, V, v, lb, t0,
                                 tb)  # fmt: skip
            for j in range(H):
                _row_sum(grad, od + j, daux, H, j, live, 1, 1, lb, t0, tb)
    for t0 in range(0, Tc, _TB):  # U: blocks of steps, each entry's terms in step order
        t1 = min(t0 + _TB, Tc)
        for g in range(G):
            after = cfg[_HDR + 5 * g + 3]
            if not (cfg[_HDR + 5 * g + 1] or after):
                continue
            src = aux if (cfg[_HDR + 5 * g + 2] >= 0 and not after) else states
            if after:
                _outer_block(grad, oU + g * H * H, daux, H, 0, src, live, lens, t0, t1, H)
            else:
                _outer_block(grad, oU + g * H * H, dpre, G * H, g * H, src, live, lens, t0, t1, H)
    for t0 in range(0, Tc + 1, _TB):  # the readout: steps 0..length, blocks of steps
        for lb in range(0, L, VL):
            tb = min(t0 + _TB, lens[lb] + 1)
            if tb <= t0:
                break
            for o in range(O):
                _row_sum(grad, obo + o, dz, O, o, live, 1, 0, lb, t0, tb)
                for k in range(H):
                    r = (ow + o * H + k) * L + lb
                    acc = vload(grad, r)
                    for t in range(t0, tb):
                        x = vmul(vload(dz, (t * O + o) * L + lb),
                                  vload(states, (t * S + k) * L + lb))  # fmt: skip
                        acc = vadd(acc, vmask(live, t * L + lb, x))
                    vstore(grad, r, acc)
    for k in range(S):  # 0 + x, as a sum over one word
        x = grad[os0 + k]
        for l in range(L):
            x[l] = zero + dstate0[k, l]
    if E > 0:  # W_g = dXW[:, g, :]^T X; embedding^T = sum over gates of dXW[:, g, :] W_g
        acc = np.empty(L, dtype=grad.dtype)
        part = np.empty(L, dtype=grad.dtype)
        for g in range(G):
            for j in range(H):
                for k in range(E):
                    acc[:] = zero
                    for v in range(V):
                        x, e = grad[(v * G + g) * H + j], wt[oE + k * V + v]
                        for l in range(L):
                            acc[l] += x[l] * e[l]
                    y = grad[oW + (g * H + j) * E + k]
                    for l in range(L):
                        y[l] = acc[l]
        for k in range(E):
            for v in range(V):
                acc[:] = zero
                for g in range(G):
                    if cfg[_HDR + 5 * g + 4]:
                        part[:] = zero
                        for j in range(H):
                            x, u = grad[(v * G + g) * H + j], wt[oW + (g * H + j) * E + k]
                            for l in range(L):
                                part[l] += x[l] * u[l]
                        for l in range(L):
                            acc[l] += part[l]
                y = grad[oE + k * V + v]
                for l in range(L):
                    y[l] = acc[l]


@njit(cache=True)
def _not_finite(x):
    return not (x - x == 0.0)


@njit(cache=True)
def _adam_columns(net, trainable, ok, scale, step, eps_c2, b1, b2, grad, wt, mt, m1, m2, wbad):
    """Adam on the tile's float64 state, column by column (network order: mt, m1, m2 stay
    in place) in 8-lane vectors: lane l's gradient is gathered into its network's column
    net[l] and the re-rounded weight scattered back. Each column computes the scalar
    operations of :func:`_update` (clip scale, moments, master step), so the results are
    the same bits; columns whose lane is not ``ok`` keep their state and weights."""
    NW, L = grad.shape
    inv = np.empty(L, dtype=np.int64)  # column c's lane
    okc = np.zeros(L, dtype=np.int8)
    sc, st, ep = np.ones(L), np.zeros(L), np.zeros(L)
    c1, c2, o1, o2 = np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
    for l in range(L):
        c = net[l]
        inv[c] = l
        okc[c] = ok[l]
        if ok[l]:
            sc[c], st[c], ep[c] = scale[l], step[l], eps_c2[l]
            c1[c], c2[c], o1[c], o2[c] = b1[l], b2[l], 1.0 - b1[l], 1.0 - b2[l]
    gcol = np.empty(L, dtype=grad.dtype)
    for q in range(NW):
        if not trainable[q]:
            continue
        for c in range(L):
            gcol[c] = grad[q, inv[c]]
        r = q * L
        for cb in range(0, L, VL):
            g32 = vf32(vmul(vf64(vload(gcol, cb)), vload(sc, cb)))  # clipped: re-rounded
            g = vf64(g32)
            a0, b0, w0 = vload(m1, r + cb), vload(m2, r + cb), vload(mt, r + cb)
            a = vadd(vmul(a0, vload(c1, cb)), vmul(vload(o1, cb), g))
            # g * g in the carrier, as the scalar code (numba's float() keeps a float32)
            b = vadd(vmul(b0, vload(c2, cb)), vmul(vload(o2, cb), vf64(vmul(g32, g32))))
            w = vsub(w0, vdiv(vmul(vload(st, cb), a), vadd(vsqrt(b), vload(ep, cb))))
            vstore(m1, r + cb, vblend(okc, cb, a, a0))
            vstore(m2, r + cb, vblend(okc, cb, b, b0))
            vstore(mt, r + cb, vblend(okc, cb, w, w0))
        for c in range(L):
            if okc[c]:
                l = inv[c]
                master = mt[q, c]
                wt[q, l] = master  # rounded to the carrier
                wbad[l] |= _not_finite(master)


@njit(cache=True)
def _update(p0, net, dims, cfg, trainable, hyper, tstep, act, lsum, grad, wt, mt, m1, m2,
            k, loss, status):  # fmt: skip
    """Clipping, Adam or SGD and re-rounding of the tile's active lanes (as
    :func:`expressivity.kernels.step._train_network`); statuses and losses of update k.
    Entry by entry, lanes innermost (each lane's scalars computed first); lane l holds
    network p0 + net[l], whose float64 state (master weights, moments) stays in column
    net[l] of mt, m1, m2 (only the carrier weights move with the lanes)."""
    V, G, H, O, S, E, opt_code = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[7]
    NW, L = grad.shape
    oU = V * G * H
    oW = oU + G * H * H + G * H + H + O * H + O + S
    oE = oW + G * H * E
    zero = wt.dtype.type(0.0)
    ss = np.zeros(L)
    bad = np.zeros(L, dtype=np.int8)
    for q in range(NW):
        if trainable[q]:
            for l in range(L):
                gf = float(grad[q, l])
                bad[l] |= _not_finite(gf)
                ss[l] += gf * gf
    ok = np.zeros(L, dtype=np.bool_)
    scale = np.ones(L)
    step = np.zeros(L)
    eps_c2 = np.zeros(L)
    lr, mu, b1, b2 = np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
    for l in range(L):
        if not act[l]:
            continue
        p = p0 + net[l]
        lval = lsum[l] / 1.0
        loss[k, p] = lval
        if _not_finite(lval):
            status[k, p] = 1
            act[l] = 0
            continue
        if bad[l]:
            status[k, p] = 2
            act[l] = 0
            continue
        ok[l] = True
        norm = math.sqrt(ss[l])
        clip = hyper[p, 1]
        scale[l] = clip / norm if clip > 0.0 and norm > clip and norm > 0.0 else 1.0
        t_next = tstep[p] + 1
        lr[l], mu[l], b1[l], b2[l] = hyper[p, 0], hyper[p, 2], hyper[p, 3], hyper[p, 4]
        c1 = 1.0 - math.pow(b1[l], t_next)
        c2 = 1.0 - math.pow(b2[l], t_next)
        step[l], eps_c2[l] = lr[l] * math.sqrt(c2) / c1, hyper[p, 5] * math.sqrt(c2)
    wbad = np.zeros(L, dtype=np.int8)
    if opt_code == _ADAM:
        _adam_columns(net, trainable, ok, scale, step, eps_c2, b1, b2, grad, wt, mt, m1, m2, wbad)
    else:  # SGD, with momentum in m1
        for q in range(NW):
            if not trainable[q]:
                continue
            for l in range(L):
                if ok[l] and scale[l] != 1.0:
                    grad[q, l] = float(grad[q, l]) * scale[l]  # rounded to the carrier
            for l in range(L):
                if ok[l]:
                    g = float(grad[q, l])
                    c = net[l]
                    master, a = mt[q, c], m1[q, c]
                    if mu[l] != 0.0:
                        a = mu[l] * a + g
                        master = master - lr[l] * a
                    else:
                        master = master - lr[l] * g
                    mt[q, c], m1[q, c] = master, a
                    wt[q, l] = master  # rounded to the carrier
                    wbad[l] |= _not_finite(master)
    if E > 0:  # re-pack XW from the rounded W and embedding (as params.pack)
        for q in range(oU):
            v, g, j = q // (G * H), (q // H) % G, q % H
            has_w = cfg[_HDR + 5 * g + 4] != 0
            for l in range(L):
                if ok[l]:
                    acc = zero
                    if has_w:
                        for kk in range(E):
                            acc += wt[oE + kk * V + v, l] * wt[oW + (g * H + j) * E + kk, l]
                    wt[q, l] = acc
    for l in range(L):
        if ok[l]:
            p = p0 + net[l]
            tstep[p] += 1
            status[k, p] = 3 if wbad[l] else 0
            if wbad[l]:
                act[l] = 0


#: lane counts per step are rounded up to a multiple of this (whole SIMD vectors)
_ROUND = VL


@njit(cache=True)
def _permute_lanes(order, wt):
    """Reorder the lanes (columns) of the tile's carrier weights: new lane l is old lane
    order[l]. False (and nothing moved) when ``order`` is the identity. (The float64
    master weights and moments do not move: :func:`_update` finds them by network.)"""
    L = order.shape[0]
    same = True
    for l in range(L):
        same = same and order[l] == l
    if same:
        return False
    t32 = np.empty(L, dtype=wt.dtype)
    for q in range(wt.shape[0]):
        for l in range(L):
            t32[l] = wt[q, order[l]]
        wt[q, :] = t32
    return True


@njit(cache=True)
def _lane_counts(lens, Tc, nf, nh):
    """Lanes sorted by word length, longest first: nf[t] lanes take step t (length > t) and
    nh[t] lanes read out at step t (length >= t), each rounded up to whole vectors."""
    L = lens.shape[0]
    for t in range(Tc + 1):
        a = 0
        b = 0
        for l in range(L):
            a += lens[l] > t
            b += lens[l] >= t
        nf[t] = min(L, -(-a // _ROUND) * _ROUND)
        nh[t] = min(L, -(-b // _ROUND) * _ROUND)


@njit(cache=True, nogil=True)
def _tile(p0, p1, dims, model, opt, data, result, cfg):
    """All K updates of networks p0..p1-1, in tile-local contiguous arrays whose lane count
    is padded to whole vectors (padding lanes: inactive, no word, zero weights)."""
    w, master, mom1, mom2, trainable = model
    hyper, tstep, active = opt
    idx, sym_all, len_all, Y_all = data
    loss, status = result
    V, G, H, O, S = dims[0], dims[1], dims[2], dims[3], dims[4]
    N = p1 - p0  # networks
    L = -(-N // VL) * VL  # lanes
    K = idx.shape[0]
    T = sym_all.shape[2]
    NW = w.shape[0]
    dt = w.dtype
    zero = dt.type(0.0)
    wt = np.zeros((NW, L), dtype=dt)
    mt, m1, m2 = np.zeros((NW, L)), np.zeros((NW, L)), np.zeros((NW, L))
    wt[:, :N] = w[:, p0:p1]
    mt[:, :N] = master[:, p0:p1]
    m1[:, :N] = mom1[:, p0:p1]
    m2[:, :N] = mom2[:, p0:p1]
    act = np.zeros(L, dtype=np.int8)
    act[:N] = active[p0:p1]
    sym = np.zeros((T, L), dtype=np.int32)
    lens = np.zeros(L, dtype=np.int64)
    real = np.zeros(L, dtype=np.bool_)
    live = np.zeros((T + 2, L), dtype=np.int8)
    svm = np.zeros((T, V, L), dtype=np.int8)
    Y = np.zeros((T + 1, O, L), dtype=dt)
    states = np.zeros((T + 1, S, L), dtype=dt)
    gates = np.zeros((T, G, H, L), dtype=dt)
    aux = np.zeros((T, H, L), dtype=dt)
    dz = np.zeros((T + 1, O, L), dtype=dt)
    dh_ext = np.zeros((T + 1, H, L), dtype=dt)
    dpre = np.zeros((T, G, H, L), dtype=dt)
    daux = np.zeros((T, H, L), dtype=dt)
    dstate0 = np.zeros((S, L), dtype=dt)
    pre = np.zeros((H, L), dtype=dt)
    work = np.zeros((6, H, L), dtype=dt)
    dact = np.zeros((G, H, L), dtype=dt)
    grad = np.zeros((NW, L), dtype=dt)
    lsum = np.zeros(L)
    os0 = V * G * H + G * H * H + G * H + H + O * H + O
    net = np.arange(L)  # lane l holds network p0 + net[l] (padding: net[l] >= N)
    key = np.zeros(L, dtype=np.int64)
    nf = np.zeros(T + 1, dtype=np.int64)
    nh = np.zeros(T + 2, dtype=np.int64)
    for k in range(K):
        if not act.any():
            break
        for l in range(L):  # this update's word lengths (-1: no word)
            key[l] = -1
            if net[l] < N and act[l] != 0:
                p = p0 + net[l]
                i = idx[k, p]
                if i >= 0:
                    key[l] = len_all[p, i]
        order = np.argsort(-key, kind="mergesort")  # longest word first
        if _permute_lanes(order, wt):
            net = net[order]
            act = act[order]
            key = key[order]
        Tc = 0
        for l in range(L):
            real[l] = key[l] >= 0
            n = max(key[l], 0)
            lens[l] = n
            Tc = max(Tc, n)
            if real[l]:
                p = p0 + net[l]
                i = idx[k, p]
                for t in range(n):
                    sym[t, l] = sym_all[p, i, t]
                for t in range(n + 1):
                    for o in range(O):
                        Y[t, o, l] = Y_all[p, i, t, o]
            else:
                for o in range(O):
                    Y[0, o, l] = zero
        for t in range(Tc + 2):  # masks of the gradient sums
            for l in range(L):
                live[t, l] = t <= lens[l]
        for t in range(Tc):
            for v in range(V):
                for l in range(L):
                    svm[t, v, l] = t < lens[l] and sym[t, l] == v
        _lane_counts(lens, Tc, nf, nh)
        for s in range(S):
            states[0, s, :] = wt[os0 + s]
        _forward(wt, svm, live, lens, nf, Tc, dims, cfg, states, gates, aux, pre)
        _head(wt, lens, nh, real, Tc, dims, dims[6], states, Y, dz, dh_ext, lsum)
        _backward(wt, live, lens, nf, Tc, dims, cfg, states, gates, aux, dh_ext, dpre, daux,
                  dstate0, work, dact)  # fmt: skip
        _gradients(wt, sym, lens, live, svm, Tc, dims, cfg, states, aux, dz, dpre, daux,
                   dstate0, grad)  # fmt: skip
        _update(p0, net, dims, cfg, trainable, hyper, tstep, act, lsum, grad, wt, mt, m1,
                m2, k, loss, status)  # fmt: skip
    for q in range(NW):  # back to the population's columns
        for l in range(L):
            if net[l] < N:
                p = p0 + net[l]
                c = net[l]
                w[q, p], master[q, p] = wt[q, l], mt[q, c]
                mom1[q, p], mom2[q, p] = m1[q, c], m2[q, c]


def _tiles(bounds, dims, model, opt, data, result, cfg) -> None:
    """Tiles bounds[i]..bounds[i+1] one after another, each one ``nogil`` call of
    :func:`_tile` (a loop here rather than in numba: a compiled driver would re-optimise
    the whole kernel once more, about 10 s of every cold compile)."""
    for i in range(bounds.shape[0] - 1):
        _tile(bounds[i], bounds[i + 1], dims, model, opt, data, result, cfg)


def train_lanes(dims, model, opt, data, result, cfg, prec, threads: int = 1,
                tile: int | None = None) -> None:  # fmt: skip
    """K updates of every active network, one word each, networks as lanes (module docstring).

    Parameters
    ----------
    dims : (V, G, H, O, S, E, head code, optimizer code) as :mod:`expressivity.kernels.step`
    model, opt, data, result : the arrays of the module docstring (lane-major weights)
    cfg, prec : the cell description and precision code of the networks (the native
        code, :data:`expressivity.kernels.cpu.NATIVE`: float32 networks only)
    threads : threads to spread the tiles over (1: serial, in this thread)
    tile : networks per tile at most (default :data:`TILE`)

    Raises
    ------
    ValueError
        Arrays whose shapes disagree, weights other than float32, or a precision code
        other than the native one (an emulated format: train it with the one-network step).

    Examples
    --------
    >>> import numpy as np, expressivity as ex
    >>> from expressivity.languages import Dataset, get_language
    >>> from expressivity.training import TrainConfig, train_population
    >>> ds = Dataset.from_words(get_language("anbn"), ["ab", "aabb"])
    >>> nets = [ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(s)) for s in range(3)]
    >>> out = train_population(nets, [ds] * 3, [np.random.default_rng(s) for s in range(3)],
    ...                        TrainConfig(epochs=2))  # lanes from MIN_LANES networks up
    >>> [r.updates for r in out]
    [4, 4, 4]
    """
    w, master, mom1, mom2, trainable = model
    NW, P = w.shape
    idx = data[0]
    for name, a in (("master", master), ("mom1", mom1), ("mom2", mom2)):
        if a.shape != (NW, P) or a.dtype != np.float64:
            raise ValueError(f"{name} must be float64 of shape {(NW, P)}, got {a.dtype} {a.shape}")
    if trainable.shape != (NW,) or idx.ndim != 2 or idx.shape[1] != P:
        raise ValueError(f"trainable must be ({NW},) and idx (K, {P}); got {trainable.shape}, "
                         f"{idx.shape}")  # fmt: skip
    if result[0].shape != idx.shape or result[1].shape != idx.shape:
        raise ValueError(f"loss and status must have idx's shape {idx.shape}")
    if w.dtype != np.float32:
        raise ValueError(f"the lanes kernel trains float32 networks only, got weights of {w.dtype}")
    if prec.dtype != np.int8:
        raise ValueError("the lanes kernel trains float32 networks only (the native precision "
                         "code); an emulated format keeps the one-network step")
    bounds = tile_bounds(P, TILE if tile is None else tile, threads)
    dims = tuple(int(x) for x in dims[:8])
    n = min(threads, bounds.shape[0] - 1)
    if n <= 1:
        _tiles(bounds, dims, model, opt, data, result, cfg)
        return
    cut = np.linspace(0, bounds.shape[0] - 1, n + 1).round().astype(np.int64)  # tiles per thread
    with ThreadPoolExecutor(n) as pool:
        jobs = [pool.submit(_tiles, bounds[a : b + 1], dims, model, opt, data, result, cfg)
                for a, b in zip(cut[:-1], cut[1:])]  # fmt: skip
        for job in jobs:
            job.result()
