"""One training update of a population of networks: the math, and its CPU driver.

A step trains every active network of a population on its own batch: gather
the batch from the resident data, forward, readout, loss and its gradient,
backward through time, the parameter gradients, clipping, and Adam or SGD on
float64 master weights, rounded back into the weights the next step uses.

The per-lane and per-parameter pieces (:func:`gather_lane`, :func:`head_lane`,
:func:`grad_entry`, :func:`opt_entry`, :func:`repack_entry`) are plain Python
written with the shared scalar helpers of :mod:`expressivity.kernels.scalar`:
this module compiles them with ``njit`` for the CPU driver
(:func:`train_steps`), and :mod:`expressivity.kernels.cuda_population` compiles
the same functions with ``cuda.jit(device=True)`` for the GPU, so the two
backends cannot drift apart. The recurrence itself runs in each target's own
kernels (:mod:`expressivity.kernels.cpu`'s chunk kernels here, one thread per
lane on the GPU), which are tested against each other bit for bit.

The arithmetic is that of :mod:`expressivity.gradients`,
:mod:`expressivity.heads` and :mod:`expressivity.training.optim`, operation by
operation; only the order of sums over lanes and steps differs.

Arrays (P networks, NW weights each, B lanes, T steps; ``layout`` below):

- ``model = (w (P, NW) carrier, master, mom1, mom2 (P, NW) float64, trainable (NW,) int8)``
- ``opt = (hyper (P, 6) float64: lr, clip (0: none), momentum, beta1, beta2, eps;
  tstep (P,) int64 updates so far; active (P,) int8)``
- ``data = (idx (P, B) int32: word of each lane, -1 past nwords; nwords (P,) int64;
  nwords as carrier floats (P,); symbols (P, N, T) int32; lengths (P, N) int64;
  targets (P, N, T+1, O) carrier)``
- ``scratch = (symbols (P, T, B) int32, lengths (P, B) int64, targets (P, T+1, O, B),
  states (P, T+1, S, B), gates (P, T, G, H, B), aux (P, T, H, B), dz (P, T+1, O, B),
  dh_ext (P, T+1, H, B), dpre (P, T, G, H, B), daux (P, T, H, B), dstate0 (P, S, B),
  work (P, 5+G, H, B), grad (P, NW) carrier, lane_loss (P, B) float64)``
- ``result = (loss (P,) float64, status (P,) int8)``: 0 ok; 1 the loss, 2 a
  gradient (the update is not applied), 3 a weight became NaN or infinite.

Each network's weights are one flat vector, the *population layout*::

    XW (V, G, H) | U (G, H, H) | bias (G, H) | d (H) | W_out (O, H) | b_out (O) | s0 (S)
    | W (G, H, E) | embedding (E, V)

the packed arrays of :func:`expressivity.params.pack` followed by the readout,
the initial state and, with an input embedding of size E, the input weights and
the embedding. Without an embedding (E = 0) the layout is a permutation of the
named parameters (``XW[v, g, j] = W_g[j, v]``), so an elementwise optimizer on
it is the optimizer on the named parameters. With one, ``XW`` is derived: the
step takes the gradients of ``W`` and ``embedding`` through it (as
:mod:`expressivity.gradients` does) and re-packs it from the updated weights.
Entries that are not parameters (a gate without ``W``, ``U`` or bias; ``d``
outside ``gru-reset-after``; ``XW`` when E > 0) are masked by ``trainable``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from expressivity.kernels.cpu import _HDR, _backward_chunk, _forward_chunk, rnd
from expressivity.kernels.reduce import BLAS_MIN_ENTRIES
from expressivity.kernels.scalar import exp, mul, sigmoid

__all__ = [
    "ACCEPT",
    "ADAM",
    "FUSED_BLAS_LANES",
    "FUSED_BLAS_MAX_BATCH",
    "FUSED_MAX_BATCH",
    "FUSED_MAX_WORK",
    "HEAD_CODES",
    "NEXT_SET",
    "NEXT_SYMBOL",
    "OPT_CODES",
    "SGD",
    "adam_scalars",
    "apply_update",
    "fused",
    "gather_lane",
    "grad_entry",
    "head_lane",
    "layout",
    "not_finite",
    "opt_entry",
    "repack_entry",
    "train_steps",
]

NEXT_SYMBOL, ACCEPT, NEXT_SET = 0, 1, 2
HEAD_CODES = {"next-symbol": NEXT_SYMBOL, "accept": ACCEPT, "next-set": NEXT_SET}
ADAM, SGD = 0, 1
OPT_CODES = {"adam": ADAM, "sgd": SGD}
#: the CPU trainer fuses whole updates into one numba call for batches of fewer
#: lanes than this, or of at most :data:`FUSED_MAX_WORK` lanes × hidden units, or
#: of at most :data:`FUSED_BLAS_MAX_BATCH` lanes where the fused step's recurrent
#: gradients are BLAS products; larger batches take the unfused path (chunked,
#: parallel kernels, reductions in :mod:`expressivity.kernels.reduce`, then
#: :func:`apply_update`), which is faster there (measured, one thread: up to
#: B = 64 the fused step with BLAS sums is 1.1-1.5× faster for H = 16..128, T = 50,
#: and even at T = 500; at B = 256 it is mixed; with several threads the unfused
#: path runs its chunks in parallel)
FUSED_MAX_BATCH = 8
FUSED_MAX_WORK = 256
FUSED_BLAS_MAX_BATCH = 64
#: the fused step sums its gradients with BLAS from this many lanes (and
#: :data:`~expressivity.kernels.reduce.BLAS_MIN_ENTRIES` recurrent entries) up,
#: when numba runs one thread (see :mod:`expressivity.kernels.reduce` for why)
FUSED_BLAS_LANES = 8


def fused(batch_size: int, hidden_size: int) -> bool:
    """Whether the CPU trainer runs updates of this size as one fused call.

    Examples
    --------
    >>> fused(1, 128), fused(32, 8), fused(256, 32), fused(16, 8)
    (True, True, False, True)
    >>> import numba
    >>> numba.set_num_threads(1)
    >>> fused(32, 32)  # one thread: the fused step's recurrent sums are BLAS products
    True
    >>> numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    """
    blas = (
        batch_size >= FUSED_BLAS_LANES
        and hidden_size**2 >= BLAS_MIN_ENTRIES
        and numba.get_num_threads() == 1
    )
    return (
        batch_size < FUSED_MAX_BATCH
        or batch_size * hidden_size <= FUSED_MAX_WORK
        or (blas and batch_size <= FUSED_BLAS_MAX_BATCH)
    )


def layout(V: int, G: int, H: int, O: int, S: int, E: int = 0) -> dict[str, tuple[int, int]]:
    """Offsets ``(start, stop)`` of each block of the population layout.

    Examples
    --------
    >>> layout(2, 3, 4, 3, 4)["U"]
    (24, 72)
    >>> layout(2, 3, 4, 3, 4, E=2)["embedding"]
    (131, 135)
    """
    sizes = [("XW", V * G * H), ("U", G * H * H), ("bias", G * H), ("d", H),
             ("W_out", O * H), ("b_out", O), ("s0", S), ("W", G * H * E),
             ("embedding", E * V)]  # fmt: skip
    out, o = {}, 0
    for name, n in sizes:
        out[name] = (o, o + n)
        o += n
    return out


# ----------------------------------------------------------------------------- shared pieces


def gather_lane(p, l, idx, len_all, sym_all, Y_all, symbols, lengths, Y, O):
    """Lane ``l`` of network ``p`` takes its word ``idx[p, l]`` from the resident data."""
    i = idx[p, l]
    n = len_all[p, i] if i >= 0 else 0
    lengths[p, l] = n
    for t in range(symbols.shape[1]):
        symbols[p, t, l] = sym_all[p, i, t] if i >= 0 else 0
    for t in range(n + 1):
        for o in range(O):
            Y[p, t, o, l] = Y_all[p, i, t, o]


def head_lane(p, l, w, ow, O, H, head, lengths, nwords, nwf, Y, prec, one, states, dz, dh_ext):
    """Readout, loss and d loss / d logits of lane ``l``; fills ``dz``, ``dh_ext``.

    Mirrors :func:`expressivity.heads.logits`, ``probabilities`` and
    ``loss_and_dlogits``; returns the lane's loss (float64, not yet divided by
    the number of words).
    """
    zero = one - one
    ob = ow + O * H
    n = lengths[p, l]
    real = l < nwords[p]
    loss = 0.0
    for t in range(dz.shape[1]):
        if not (real and t <= n):
            for o in range(O):
                dz[p, t, o, l] = zero
            for k in range(H):
                dh_ext[p, t, k, l] = zero
            continue
        for o in range(O):  # logits, rounded once
            acc = zero
            for k in range(H):
                acc += mul(w[ow + o * H + k], states[p, t, k, l])
            dz[p, t, o, l] = rnd(acc + w[ob + o], prec)
        if head == NEXT_SYMBOL:  # softmax, each elementwise step rounded
            m = dz[p, t, 0, l]
            for o in range(1, O):
                m = max(m, dz[p, t, o, l])
            s = zero
            for o in range(O):
                e = rnd(exp(rnd(dz[p, t, o, l] - m, prec)), prec)
                dz[p, t, o, l] = e
                s += e
            s = rnd(s, prec)
            for o in range(O):
                dz[p, t, o, l] = rnd(dz[p, t, o, l] / s, prec)
        else:
            for o in range(O):
                dz[p, t, o, l] = rnd(sigmoid(dz[p, t, o, l]), prec)
        if head == NEXT_SYMBOL:
            tgt = -1
            for o in range(O):
                if Y[p, t, o, l] > zero:
                    tgt = o
            for o in range(O):
                if tgt < 0:
                    dz[p, t, o, l] = zero
                elif o == tgt:
                    loss -= math.log(float(dz[p, t, o, l]))
                    dz[p, t, o, l] = rnd((dz[p, t, o, l] - one) / nwf[p], prec)
                else:
                    dz[p, t, o, l] = rnd(dz[p, t, o, l] / nwf[p], prec)
        elif head == ACCEPT:
            if t == n:
                pl = float(dz[p, t, 0, l])
                y = float(Y[p, t, 0, l])
                loss -= y * math.log(pl + 1e-300) + (1.0 - y) * math.log(1.0 - pl + 1e-300)
                dz[p, t, 0, l] = pl - y  # rounded to the carrier, as on the CPU
                dz[p, t, 0, l] = rnd(dz[p, t, 0, l] / nwf[p], prec)
            else:
                dz[p, t, 0, l] = zero
        else:
            for o in range(O):
                pf = float(dz[p, t, o, l])
                y = float(Y[p, t, o, l])
                loss -= y * math.log(pf + 1e-300) + (1.0 - y) * math.log(1.0 - pf + 1e-300)
                dz[p, t, o, l] = rnd((dz[p, t, o, l] - Y[p, t, o, l]) / nwf[p], prec)
        for k in range(H):  # d loss / d h = W_out^T dz, rounded once
            acc = zero
            for o in range(O):
                acc += mul(w[ow + o * H + k], dz[p, t, o, l])
            dh_ext[p, t, k, l] = rnd(acc, prec)
    return loss


def grad_entry(q, p, dims, cfg, w, grad, symbols, lengths, nwords, states, aux, dz, dpre, daux,
                dstate0, zero):  # fmt: skip
    """Entry ``q`` (population layout) of network ``p``'s gradient, not yet rounded.

    The same sums as :mod:`expressivity.gradients` (``symbol_sum``, ``outer_sum``
    and the plain sums), with lanes outermost and steps inner. The ``W`` and
    ``embedding`` entries read the (unrounded) ``XW`` gradient from ``grad``.
    """
    V, G, H, O, S, E = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]
    oU = V * G * H
    ob = oU + G * H * H
    od = ob + G * H
    ow = od + H
    obo = ow + O * H
    os0 = obo + O
    oW = os0 + S
    oE = oW + G * H * E
    B = lengths.shape[1]
    acc = zero
    if q < oU:  # XW[v, g, j]: d pre-activation summed where the lane reads v
        v, g, j = q // (G * H), (q // H) % G, q % H
        for l in range(B):
            for t in range(lengths[p, l]):
                if symbols[p, t, l] == v:
                    acc += dpre[p, t, g, j, l]
    elif q < ob:  # U[g, j, k]
        r = q - oU
        g, j, k = r // (H * H), (r // H) % H, r % H
        ri = cfg[_HDR + 5 * g + 2]
        after = cfg[_HDR + 5 * g + 3]
        for l in range(B):
            for t in range(lengths[p, l]):
                if after:  # U h + d is gated after the product: its gradient is daux
                    acc += mul(daux[p, t, j, l], states[p, t, k, l])
                elif ri >= 0:  # U (r ⊙ h): aux holds r ⊙ h
                    acc += mul(dpre[p, t, g, j, l], aux[p, t, k, l])
                else:
                    acc += mul(dpre[p, t, g, j, l], states[p, t, k, l])
    elif q < od:  # bias[g, j]
        r = q - ob
        g, j = r // H, r % H
        for l in range(B):
            for t in range(lengths[p, l]):
                acc += dpre[p, t, g, j, l]
    elif q < ow:  # d[j]
        j = q - od
        for l in range(B):
            for t in range(lengths[p, l]):
                acc += daux[p, t, j, l]
    elif q < obo:  # W_out[o, k]: every prefix, the empty one included
        r = q - ow
        o, k = r // H, r % H
        for l in range(B):
            for t in range(lengths[p, l] + 1):
                acc += mul(dz[p, t, o, l], states[p, t, k, l])
    elif q < os0:  # b_out[o]
        o = q - obo
        for l in range(B):
            for t in range(lengths[p, l] + 1):
                acc += dz[p, t, o, l]
    elif q < oW:  # initial state
        k = q - os0
        for l in range(nwords[p]):
            acc += dstate0[p, k, l]
    elif q < oE:  # W_g[j, k] = sum over v of dXW[v, g, j] x_v[k]
        r = q - oW
        g, j, k = r // (H * E), (r // E) % H, r % E
        for v in range(V):
            acc += mul(grad[p, (v * G + g) * H + j], w[oE + k * V + v])
    else:  # embedding[k, v] = sum over gates with W of sum over j of dXW[v, g, j] W_g[j, k]
        r = q - oE
        k, v = r // V, r % V
        for g in range(G):
            if cfg[_HDR + 5 * g + 4]:
                part = zero
                for j in range(H):
                    part += mul(grad[p, (v * G + g) * H + j], w[oW + (g * H + j) * E + k])
                acc += part
    return acc


def repack_entry(q, dims, cfg, w, zero):
    """``XW`` entry ``q`` from the rounded ``W`` and embedding (as :func:`params.pack`)."""
    V, G, H, S, E = dims[0], dims[1], dims[2], dims[4], dims[5]
    oW = V * G * H + G * H * H + G * H + H + dims[3] * H + dims[3] + S
    oE = oW + G * H * E
    v, g, j = q // (G * H), (q // H) % G, q % H
    acc = zero
    if cfg[_HDR + 5 * g + 4]:
        for k in range(E):
            acc += mul(w[oE + k * V + v], w[oW + (g * H + j) * E + k])
    return acc


def not_finite(x):
    return not (x - x == 0.0)


def opt_entry(g, master, m1, m2, step, eps_c2, lr, mu, b1, b2, opt_code):
    """Adam or SGD on one master weight with gradient ``g``.

    Returns the new ``(master, m1, m2)``. As :class:`expressivity.training.optim.Adam`
    / ``SGD``, operation by operation; ``step = lr sqrt(c2) / c1`` and
    ``eps_c2 = eps sqrt(c2)`` come from :func:`adam_scalars`; SGD keeps its
    momentum in ``m1``. The moments and the master are float64; ``g`` is the
    gradient as the caller passes it: the fused step passes the carrier's value
    (numba's ``float()`` keeps a float32 a float32), so there ``g * g`` is a
    float32 product, where :func:`apply_update` and ``optim.Adam`` square a
    float64 (the lanes kernel squares as the fused step does).
    """
    if opt_code == ADAM:
        m1 = m1 * b1 + (1.0 - b1) * g
        m2 = m2 * b2 + (1.0 - b2) * (g * g)
        return master - step * m1 / (math.sqrt(m2) + eps_c2), m1, m2
    if mu != 0.0:
        m1 = mu * m1 + g
        return master - lr * m1, m1, m2
    return master - lr * g, m1, m2


def adam_scalars(p, t_next, hyper):
    """``(lr sqrt(c2) / c1, eps sqrt(c2))`` of Adam's bias correction at update ``t_next``."""
    lr, b1, b2, eps = hyper[p, 0], hyper[p, 3], hyper[p, 4], hyper[p, 5]
    c1 = 1.0 - math.pow(b1, t_next)
    c2 = 1.0 - math.pow(b2, t_next)
    return lr * math.sqrt(c2) / c1, eps * math.sqrt(c2)


# ----------------------------------------------------------------------------- CPU driver

_gather = njit(cache=True)(gather_lane)
_head = njit(cache=True)(head_lane)
_repack = njit(cache=True)(repack_entry)
_not_finite = njit(cache=True)(not_finite)
_opt = njit(cache=True)(opt_entry)
_adam = njit(cache=True)(adam_scalars)


@njit(cache=True)
def _step_major(x, lim, Tn, out):
    """``out[r, t*B + l] = x[t, r, l]`` for t < Tn where t < lim[l], else 0."""
    R = out.shape[0]
    B = x.shape[2]
    zero = out.dtype.type(0.0)
    for r in range(R):
        for t in range(Tn):
            o = t * B
            for l in range(B):
                out[r, o + l] = x[t, r, l] if t < lim[l] else zero


@njit(cache=True)
def _sums_blas(p, cfg, dims, lengths, symbols, states, aux, dz, dpre, daux, sums):
    """The fused step's reductions as BLAS products over a (rows, steps × lanes) layout.

    ``sums`` = (dXW, dU, db, dd, dWo, dbo), zero on entry. Each per-step
    quantity is copied step-major with the steps past a lane's word zeroed, so
    a sum over steps and lanes is one matrix product: against the step inputs
    (``dU``, ``dWo``), against a one-hot of the symbols read plus a mask column
    (``dXW`` and ``db``), or against the mask (``dd``, ``dbo``).
    """
    dXW, dU, db, dd, dWo, dbo = sums
    V, G, H = dims[0], dims[1], dims[2]
    B = lengths.shape[1]
    lens = lengths[p]
    Tc = 0
    for l in range(B):
        Tc = max(Tc, lens[l])
    n = Tc * B
    dt = dU.dtype
    one = dt.type(1.0)
    every = np.full(B, Tc + 1, dtype=lens.dtype)
    # the readout sees every prefix, the empty one included: steps t <= length
    lim1 = lens + 1
    hs = np.empty((H, n + B), dtype=dt)
    _step_major(states[p, :, :H, :], every, Tc + 1, hs)
    zs = np.empty((dz.shape[2], n + B), dtype=dt)
    _step_major(dz[p], lim1, Tc + 1, zs)
    mask1 = np.zeros((n + B, 1), dtype=dt)
    for t in range(Tc + 1):
        for l in range(B):
            if t < lim1[l]:
                mask1[t * B + l, 0] = one
    dWo[:, :] = np.dot(zs, hs.T)
    dbo[:] = np.dot(zs, mask1)[:, 0]
    if n == 0:
        return
    # symbol read at each step, one-hot, and the mask as the last column
    read = np.zeros((n, V + 1), dtype=dt)
    for t in range(Tc):
        for l in range(B):
            if t < lens[l]:
                read[t * B + l, symbols[p, t, l]] = one
                read[t * B + l, V] = one
    sh = np.ascontiguousarray(hs[:, :n])
    da = np.empty((H, n), dtype=dt)
    _step_major(daux[p], lens, Tc, da)
    dd[:] = np.dot(da, read)[:, V]
    a = np.empty((H, n), dtype=dt)
    sa = np.empty((H, n), dtype=dt)
    have_aux = False
    for g in range(G):
        _step_major(dpre[p, :, g], lens, Tc, a)
        xr = np.dot(a, read)  # (H, V + 1)
        for v in range(V):
            dXW[v, g, :] = xr[:, v]
        db[g, :] = xr[:, V]
        if cfg[_HDR + 5 * g + 3]:  # reset after the product: U's gradient goes through daux
            dU[g] = np.dot(da, sh.T)
        elif cfg[_HDR + 5 * g + 1]:
            if cfg[_HDR + 5 * g + 2] >= 0:  # reset before the product: U multiplies r ⊙ h
                if not have_aux:
                    _step_major(aux[p], every, Tc, sa)
                    have_aux = True
                dU[g] = np.dot(a, sa.T)
            else:
                dU[g] = np.dot(a, sh.T)


@njit(cache=True)
def _gradients(p, dims, cfg, w, grad, symbols, lengths, nwords, states, aux, dz, dpre, daux,
               dstate0, prec):  # fmt: skip
    """Network ``p``'s gradient in the population layout (``grad[p]``), each entry rounded once.

    The sums of :mod:`expressivity.gradients`, lanes outermost and steps inner
    (the order of :func:`grad_entry`), as row updates that vectorise over the
    last index: the order that suits a few lanes. From :data:`FUSED_BLAS_LANES`
    lanes and :data:`expressivity.kernels.reduce.BLAS_MIN_ENTRIES` recurrent
    entries up, the recurrent matrices' gradients are BLAS products instead
    (sums in the carrier, in BLAS's order). With an embedding, the ``XW`` block
    holds the unrounded ``XW`` gradient that ``W``'s and the embedding's go
    through.
    """
    V, G, H, O, S, E = dims[0], dims[1], dims[2], dims[3], dims[4], dims[5]
    dt = w.dtype
    zero = dt.type(0.0)
    B = lengths.shape[1]
    big = dims[8] == 1 and B >= FUSED_BLAS_LANES and H * H >= BLAS_MIN_ENTRIES
    h = states[p, :, :H, :]
    dXW = np.zeros((V, G, H), dtype=dt)
    dU = np.zeros((G, H, H), dtype=dt)
    dWo = np.zeros((O, H), dtype=dt)
    db = np.zeros((G, H), dtype=dt)
    dd = np.zeros(H, dtype=dt)
    dbo = np.zeros(O, dtype=dt)
    ds0 = np.zeros(S, dtype=dt)
    if big:
        _sums_blas(p, cfg, dims, lengths, symbols, states, aux, dz, dpre, daux,
                   (dXW, dU, db, dd, dWo, dbo))  # fmt: skip
    for l in range(0 if big else B):
        n = lengths[p, l]
        for t in range(n):
            for g in range(G):
                for j in range(H):
                    db[g, j] += dpre[p, t, g, j, l]
            for j in range(H):
                dd[j] += daux[p, t, j, l]
            v = symbols[p, t, l]
            for g in range(G):
                for j in range(H):
                    dXW[v, g, j] += dpre[p, t, g, j, l]
            for g in range(G):
                after = cfg[_HDR + 5 * g + 3]
                if not (cfg[_HDR + 5 * g + 1] or after):
                    continue
                src = aux if (cfg[_HDR + 5 * g + 2] >= 0 and not after) else states
                for j in range(H):
                    a = daux[p, t, j, l] if after else dpre[p, t, g, j, l]
                    for k in range(H):
                        dU[g, j, k] += mul(a, src[p, t, k, l])
        for t in range(n + 1):
            for o in range(O):
                dbo[o] += dz[p, t, o, l]
                a = dz[p, t, o, l]
                for k in range(H):
                    dWo[o, k] += mul(a, h[t, k, l])
    for l in range(B):
        if l < nwords[p]:
            for k in range(S):
                ds0[k] += dstate0[p, k, l]
    blocks = (dXW.reshape(-1), dU.reshape(-1), db.reshape(-1), dd, dWo.reshape(-1), dbo, ds0)
    q = 0
    for i in range(len(blocks)):
        blk = blocks[i]
        for r in range(blk.shape[0]):
            grad[p, q] = blk[r] if (i == 0 and E > 0) else rnd(blk[r], prec)
            q += 1
    if E > 0:  # W_g = dXW[:, g, :]^T X and embedding^T = sum over gates of dXW[:, g, :] W_g
        oW = q
        oE = oW + G * H * E
        for g in range(G):
            for j in range(H):
                for k in range(E):
                    acc_w = zero
                    for v in range(V):
                        acc_w += mul(dXW[v, g, j], w[oE + k * V + v])
                    grad[p, oW + (g * H + j) * E + k] = rnd(acc_w, prec)
        for k in range(E):
            for v in range(V):
                acc_e = zero
                for g in range(G):
                    if cfg[_HDR + 5 * g + 4]:
                        part = zero
                        for j in range(H):
                            part += mul(dXW[v, g, j], w[oW + (g * H + j) * E + k])
                        acc_e += part
                grad[p, oE + k * V + v] = rnd(acc_e, prec)


@njit(cache=True)
def _train_network(p, dims, model, opt, data, scratch, result, cfg, prec, one):
    """One update of network ``p`` (the CPU's version of the GPU block)."""
    V, G, H, O, S, E, head, opt_code, blas = dims
    w_all, master, mom1, mom2, trainable = model
    hyper, tstep, active = opt
    idx, nwords, nwf, sym_all, len_all, Y_all = data
    symbols, lengths, Y = scratch[0], scratch[1], scratch[2]
    states, gates, aux, dz, dh_ext, dpre, daux = scratch[3:10]
    dstate0, grad = scratch[10], scratch[12]
    loss_out, status = result
    zero = one - one
    oU = V * G * H
    ob = oU + G * H * H
    od = ob + G * H
    ow = od + H
    os0 = ow + O * H + O
    NW = w_all.shape[1]
    B = lengths.shape[1]
    T = symbols.shape[1]
    w = w_all[p]
    for l in range(B):
        _gather(p, l, idx, len_all, sym_all, Y_all, symbols, lengths, Y, O)
        for k in range(S):
            states[p, 0, k, l] = w[os0 + k]
    # forward and backward: the CPU chunk kernels, all lanes of the network at once
    XW = w[:oU].reshape((V, G, H))
    U = w[oU:ob].reshape((G, H, H))
    bias = w[ob:od].reshape((G, H))
    d = w[od:ow]
    st = states[p].reshape((T + 1, S * B))
    ga = gates[p].reshape((T, G, H * B))
    ax = aux[p].reshape((T, H * B))
    _forward_chunk(symbols[p], lengths[p], XW, U, bias, d, cfg, prec, st, ga, ax)
    lsum = 0.0
    for l in range(B):
        lsum += _head(p, l, w, ow, O, H, head, lengths, nwords, nwf, Y, prec, one, states, dz,
                      dh_ext)  # fmt: skip
    _backward_chunk(lengths[p], U, cfg, prec, st, ga, ax, dh_ext[p].reshape((T + 1, H * B)),
                    dpre[p].reshape((T, G, H * B)), daux[p].reshape((T, H * B)),
                    dstate0[p].reshape(S * B))  # fmt: skip
    _gradients(p, dims, cfg, w, grad, symbols, lengths, nwords, states, aux, dz, dpre, daux,
               dstate0, prec)  # fmt: skip
    ss = 0.0
    bad = False
    for q in range(NW):
        if trainable[q]:
            gf = float(grad[p, q])
            if _not_finite(gf):
                bad = True
            ss += gf * gf
    lval = lsum / nwords[p]
    loss_out[p] = lval
    if _not_finite(lval):
        status[p] = 1
        return
    if bad:
        status[p] = 2
        return
    norm = math.sqrt(ss)
    clip = hyper[p, 1]
    scale = clip / norm if clip > 0.0 and norm > clip and norm > 0.0 else 1.0
    t_next = tstep[p] + 1
    step, eps_c2 = _adam(p, t_next, hyper)
    lr, mu, b1, b2 = hyper[p, 0], hyper[p, 2], hyper[p, 3], hyper[p, 4]
    bad = False
    for q in range(NW):
        if trainable[q]:
            if scale != 1.0:
                grad[p, q] = float(grad[p, q]) * scale  # rounded to the carrier, as on the CPU
            m, m1, m2 = _opt(float(grad[p, q]), master[p, q], mom1[p, q], mom2[p, q], step, eps_c2,
                             lr, mu, b1, b2, opt_code)  # fmt: skip
            master[p, q], mom1[p, q], mom2[p, q] = m, m1, m2
            w_all[p, q] = rnd(m, prec)
            if _not_finite(m):
                bad = True
    if E > 0:
        for q in range(oU):
            w_all[p, q] = _repack(q, dims, cfg, w_all[p], zero)
    tstep[p] = t_next
    status[p] = 3 if bad else 0


@njit(cache=True)
def apply_update(p, g, dims, model, hyper, tstep, cfg, prec):
    """Adam or SGD of network ``p`` with the float64 gradient ``g`` (population layout).

    The optimizer half of :func:`_train_network`, for gradients computed
    elsewhere (the trainer's unfused path for many lanes; clipping already
    applied). Updates masters, moments, weights (re-packing ``XW`` with an
    embedding) and ``tstep``; returns True when a master became NaN or infinite.
    """
    w_all, master, mom1, mom2, trainable = model
    V, G, H, E, opt_code = dims[0], dims[1], dims[2], dims[5], dims[7]
    zero = w_all.dtype.type(0.0)
    t_next = tstep[p] + 1
    step, eps_c2 = _adam(p, t_next, hyper)
    lr, mu, b1, b2 = hyper[p, 0], hyper[p, 2], hyper[p, 3], hyper[p, 4]
    bad = False
    for q in range(w_all.shape[1]):
        if trainable[q]:
            m, m1, m2 = _opt(g[q], master[p, q], mom1[p, q], mom2[p, q], step, eps_c2, lr, mu, b1,
                             b2, opt_code)  # fmt: skip
            master[p, q], mom1[p, q], mom2[p, q] = m, m1, m2
            w_all[p, q] = rnd(m, prec)
            if _not_finite(m):
                bad = True
    if E > 0:
        for q in range(V * G * H):
            w_all[p, q] = _repack(q, dims, cfg, w_all[p], zero)
    tstep[p] = t_next
    return bad


@njit(cache=True, parallel=True, nogil=True)
def _train_parallel(dims, model, opt, data, scratch, result, cfg, prec, one):
    hyper, tstep, active = opt
    idx, nwords, nwf, sym_all, len_all, Y_all = data
    loss, status = result
    act = active.copy()
    for k in range(idx.shape[0]):
        data_k = (idx[k], nwords[k], nwf[k], sym_all, len_all, Y_all)
        for p in prange(act.shape[0]):
            if act[p]:
                _train_network(p, dims, model, (hyper, tstep, act), data_k, scratch,
                               (loss[k], status[k]), cfg, prec, one)  # fmt: skip
        for p in range(act.shape[0]):
            if status[k, p] != 0:
                act[p] = 0


@njit(cache=True, nogil=True)
def _train_serial(dims, model, opt, data, scratch, result, cfg, prec, one):
    hyper, tstep, active = opt
    idx, nwords, nwf, sym_all, len_all, Y_all = data
    loss, status = result
    act = active.copy()
    for k in range(idx.shape[0]):
        data_k = (idx[k], nwords[k], nwf[k], sym_all, len_all, Y_all)
        for p in range(act.shape[0]):
            if act[p]:
                _train_network(p, dims, model, (hyper, tstep, act), data_k, scratch,
                               (loss[k], status[k]), cfg, prec, one)  # fmt: skip
                if status[k, p] != 0:
                    act[p] = 0


def train_steps(dims, model, opt, data, scratch, result, cfg, prec, parallel: bool = False) -> None:
    """K updates of every active network on the CPU, in one call.

    As the module docstring, but ``data``'s first three arrays have a leading
    step axis (``idx (K, P, B)``, ``nwords (K, P)``, ``nwf (K, P)``) and so do
    the results (``loss (K, P)``, ``status (K, P)``). A network whose status
    becomes non-zero takes no further steps. ``parallel``: networks on numba's
    threads (worth it from a few networks up).
    """
    one = model[0].dtype.type(1.0)
    kernel = _train_parallel if parallel else _train_serial
    # BLAS sums only outside numba's parallel region (see kernels.reduce)
    blas = 0 if parallel else 1
    kernel(tuple(int(x) for x in dims) + (blas,), model, opt, data, scratch, result, cfg, prec,
           one)  # fmt: skip
