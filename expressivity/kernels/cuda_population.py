"""Population training on the GPU: one launch updates P independent networks.

One CUDA block trains one network; its threads are the network's batch lanes.
A launch of :func:`population_step` is one full training update of every
active network:

1. stage the network's weights in shared memory (when they fit);
2. per lane (one thread each): the forward recurrence
   (:func:`expressivity.kernels.cuda._forward_lane`), the readout, the loss and
   its gradient with respect to the logits, then backpropagation through time
   (:func:`expressivity.kernels.cuda._backward_lane`);
3. per parameter (threads stride over them): the sum over lanes and steps that
   makes its gradient, rounded once by the precision model;
4. the loss, the finiteness checks and the global-norm clipping (per network);
5. per parameter: Adam or SGD on float64 master weights, then rounding of the
   master into the weights the next step uses.

The networks share a cell, a hidden size, an alphabet, a head, a precision, an
optimizer and a batch size (the shape of the launch); they differ in weights,
data, learning rate, clipping and momentum. Each network's parameters live in
one flat vector, the *population layout*::

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

The arithmetic is that of the CPU trainer (:mod:`expressivity.gradients`,
:mod:`expressivity.heads`, :mod:`expressivity.training.optim`) operation by
operation; only the order of the sums over lanes and steps differs, so results
agree with the CPU to a few ULPs (under the simulator, float64 to ~1e-15
relative per step). ``numba.cuda`` is imported only here and in
:mod:`expressivity.kernels.cuda`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, types

from expressivity.kernels.cpu import rnd
from expressivity.kernels.cuda import _HDR, _backward_lane, _exp, _forward_lane, _mul, _sigmoid

__all__ = [
    "ACCEPT",
    "NEXT_SET",
    "NEXT_SYMBOL",
    "SHARED_WEIGHT_BYTES",
    "HEAD_CODES",
    "population_step",
    "layout",
]

NEXT_SYMBOL, ACCEPT, NEXT_SET = 0, 1, 2
HEAD_CODES = {"next-symbol": NEXT_SYMBOL, "accept": ACCEPT, "next-set": NEXT_SET}
ADAM, SGD = 0, 1
OPT_CODES = {"adam": ADAM, "sgd": SGD}

#: weights up to this size are staged in shared memory (48 KiB per block, less the
#: 16 KiB of the reduction buffer)
SHARED_WEIGHT_BYTES = 32 * 1024
_RED = 1024  # reduction buffer: one float64 per thread (blocks of at most 1024 threads)
_FLAG = 2 * _RED  # after the per-thread sums and flags: the block's status and scale
_RED2 = 2 * _RED + 2  # the buffer's length (a literal for cuda.shared.array)


def layout(V: int, G: int, H: int, O: int, S: int, E: int = 0) -> dict[str, tuple[int, int]]:
    """Offsets ``(start, stop)`` of each block of the population layout.

    Examples
    --------
    >>> layout(2, 3, 4, 3, 4)["U"]
    (24, 72)
    >>> layout(2, 3, 4, 3, 4, E=2)["embedding"]
    (127, 131)
    """
    sizes = [("XW", V * G * H), ("U", G * H * H), ("bias", G * H), ("d", H),
             ("W_out", O * H), ("b_out", O), ("s0", S), ("W", G * H * E),
             ("embedding", E * V)]  # fmt: skip
    out, o = {}, 0
    for name, n in sizes:
        out[name] = (o, o + n)
        o += n
    return out


# ----------------------------------------------------------------------------- per lane


@cuda.jit(device=True)
def _head_lane(p, l, w, ow, O, H, head, lengths, nwords, nwf, Y, prec, one, states, dz, dh_ext):
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
                acc += _mul(w[ow + o * H + k], states[p, t, k, l])
            dz[p, t, o, l] = rnd(acc + w[ob + o], prec)
        if head == NEXT_SYMBOL:  # softmax, each elementwise step rounded
            m = dz[p, t, 0, l]
            for o in range(1, O):
                m = max(m, dz[p, t, o, l])
            s = zero
            for o in range(O):
                e = rnd(_exp(rnd(dz[p, t, o, l] - m, prec)), prec)
                dz[p, t, o, l] = e
                s += e
            s = rnd(s, prec)
            for o in range(O):
                dz[p, t, o, l] = rnd(dz[p, t, o, l] / s, prec)
        else:
            for o in range(O):
                dz[p, t, o, l] = rnd(_sigmoid(dz[p, t, o, l]), prec)
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
                acc += _mul(w[ow + o * H + k], dz[p, t, o, l])
            dh_ext[p, t, k, l] = rnd(acc, prec)
    return loss


# ----------------------------------------------------------------------------- per parameter


@cuda.jit(device=True)
def _grad_entry(q, p, dims, cfg, w, grad, symbols, lengths, nwords, states, aux, dz, dpre, daux,
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
                    acc += _mul(daux[p, t, j, l], states[p, t, k, l])
                elif ri >= 0:  # U (r ⊙ h): aux holds r ⊙ h
                    acc += _mul(dpre[p, t, g, j, l], aux[p, t, k, l])
                else:
                    acc += _mul(dpre[p, t, g, j, l], states[p, t, k, l])
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
                acc += _mul(dz[p, t, o, l], states[p, t, k, l])
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
            acc += _mul(grad[p, (v * G + g) * H + j], w[oE + k * V + v])
    else:  # embedding[k, v] = sum over gates with W of sum over j of dXW[v, g, j] W_g[j, k]
        r = q - oE
        k, v = r // V, r % V
        for g in range(G):
            if cfg[_HDR + 5 * g + 4]:
                part = zero
                for j in range(H):
                    part += _mul(grad[p, (v * G + g) * H + j], w[oW + (g * H + j) * E + k])
                acc += part
    return acc


@cuda.jit(device=True)
def _repack(q, dims, cfg, w, zero):
    """``XW`` entry ``q`` from the rounded ``W`` and embedding (as :func:`params.pack`)."""
    V, G, H, S, E = dims[0], dims[1], dims[2], dims[4], dims[5]
    oW = V * G * H + G * H * H + G * H + H + dims[3] * H + dims[3] + S
    oE = oW + G * H * E
    v, g, j = q // (G * H), (q // H) % G, q % H
    acc = zero
    if cfg[_HDR + 5 * g + 4]:
        for k in range(E):
            acc += _mul(w[oE + k * V + v], w[oW + (g * H + j) * E + k])
    return acc


@cuda.jit(device=True)
def _not_finite(x):
    return not (x - x == 0.0)


# ----------------------------------------------------------------------------- the step


@cuda.jit(device=True)
def _step_core(w, red, dims, model, opt, data, scratch, result, cfg, prec, one):
    """One update of network ``blockIdx.x`` with its weights read from ``w``."""
    p = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    V, G, H, O, S, E, head, opt_code = dims
    w_all, master, mom1, mom2, trainable = model
    hyper, tstep, active = opt
    idx, nwords, nwf, sym_all, len_all, Y_all = data
    symbols, lengths, Y = scratch[0], scratch[1], scratch[2]
    states, gates, aux, dz, dh_ext, dpre, daux = scratch[3:10]
    dstate0, work, grad, lane_loss = scratch[10], scratch[11], scratch[12], scratch[13]
    loss_out, status = result
    zero = one - one
    oU = V * G * H
    ow = oU + G * H * H + G * H + H
    os0 = ow + O * H + O
    NW = os0 + S + G * H * E + E * V
    B = lengths.shape[1]
    t_next = tstep[p] + 1  # read before thread 0 writes it back, at the end

    # 1. lanes: gather this step's words from the resident data
    for l in range(tid, B, nt):
        i = idx[p, l]
        n = len_all[p, i] if i >= 0 else 0
        lengths[p, l] = n
        for t in range(symbols.shape[1]):
            symbols[p, t, l] = sym_all[p, i, t] if i >= 0 else 0
        for t in range(n + 1):
            for o in range(O):
                Y[p, t, o, l] = Y_all[p, i, t, o]
    cuda.syncthreads()

    # 2. lanes: forward, head, backward
    for l in range(tid, B, nt):
        for k in range(S):
            states[p, 0, k, l] = w[os0 + k]
        for r in range(work.shape[1]):
            for k in range(H):
                work[p, r, k, l] = zero
        _forward_lane(p, l, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux)
        lane_loss[p, l] = _head_lane(p, l, w, ow, O, H, head, lengths, nwords, nwf, Y, prec, one,
                                     states, dz, dh_ext)  # fmt: skip
        _backward_lane(p, l, lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                       dpre, daux, dstate0, work)  # fmt: skip
    cuda.syncthreads()

    # 3. parameters: gradients, their squared norm and finiteness
    if E > 0:  # the XW gradient first (unrounded): W's and the embedding's go through it
        for q in range(tid, oU, nt):
            grad[p, q] = _grad_entry(q, p, dims, cfg, w, grad, symbols, lengths, nwords, states,
                                     aux, dz, dpre, daux, dstate0, zero)  # fmt: skip
        cuda.syncthreads()
    ss = 0.0
    bad = 0.0
    for q in range(tid, NW, nt):
        if trainable[q]:
            gq = rnd(_grad_entry(q, p, dims, cfg, w, grad, symbols, lengths, nwords, states, aux,
                                 dz, dpre, daux, dstate0, zero), prec)  # fmt: skip
            grad[p, q] = gq
            gf = float(grad[p, q])
            if _not_finite(gf):
                bad = 1.0
            ss += gf * gf
    red[tid] = ss
    red[_RED + tid] = bad
    cuda.syncthreads()

    # 4. loss, checks, clipping (thread 0)
    if tid == 0:
        total = 0.0
        nbad = 0.0
        for i in range(nt):
            total += red[i]
            nbad += red[_RED + i]
        lsum = 0.0
        for l in range(B):
            lsum += lane_loss[p, l]
        lval = lsum / nwords[p]
        loss_out[p] = lval
        st = 0.0
        if _not_finite(lval):
            st = 1.0
        elif nbad > 0.0:
            st = 2.0
        norm = math.sqrt(total)
        clip = hyper[p, 1]
        scale = 1.0
        if clip > 0.0 and norm > clip and norm > 0.0:
            scale = clip / norm
        red[_FLAG] = st  # read by every thread after the barrier
        red[_FLAG + 1] = scale
    cuda.syncthreads()
    st = red[_FLAG]
    scale = red[_FLAG + 1]
    cuda.syncthreads()  # everyone has read the flags before they are overwritten below

    # 5. optimizer on the float64 masters, then rounding into the weights
    bad = 0.0
    if st == 0.0:
        lr, mu, b1, b2, eps = hyper[p, 0], hyper[p, 2], hyper[p, 3], hyper[p, 4], hyper[p, 5]
        c1 = 1.0 - math.pow(b1, t_next)
        c2 = 1.0 - math.pow(b2, t_next)
        step = lr * math.sqrt(c2) / c1
        for q in range(tid, NW, nt):
            if trainable[q]:
                g = float(grad[p, q])
                if scale != 1.0:
                    grad[p, q] = g * scale  # rounded to the carrier, as the CPU's clipped grads
                    g = float(grad[p, q])
                if opt_code == ADAM:
                    mom1[p, q] = mom1[p, q] * b1 + (1.0 - b1) * g
                    mom2[p, q] = mom2[p, q] * b2 + (1.0 - b2) * (g * g)
                    master[p, q] -= (
                        step * mom1[p, q] / (math.sqrt(mom2[p, q]) + eps * math.sqrt(c2))
                    )
                elif mu != 0.0:
                    mom1[p, q] = mu * mom1[p, q] + g
                    master[p, q] -= lr * mom1[p, q]
                else:
                    master[p, q] -= lr * g
                w_all[p, q] = rnd(master[p, q], prec)
                if _not_finite(master[p, q]):
                    bad = 1.0
    red[tid] = bad
    cuda.syncthreads()
    if E > 0 and st == 0.0:  # re-pack XW from the new weights
        for q in range(tid, oU, nt):
            w_all[p, q] = _repack(q, dims, cfg, w_all[p], zero)
    if tid == 0:
        if st == 0.0:
            tstep[p] = t_next
            nbad = 0.0
            for i in range(nt):
                nbad += red[i]
            status[p] = 3 if nbad > 0.0 else 0
        else:
            status[p] = int(st)


@cuda.jit(device=True)
def _step_block(sh, dims, model, opt, data, scratch, result, cfg, prec, one):
    red = cuda.shared.array(_RED2, dtype=types.float64)
    p = cuda.blockIdx.x
    if opt[2][p] == 0:  # inactive network: the whole block leaves together
        return
    w_all = model[0]
    nw = w_all.shape[1]
    if sh.shape[0] >= nw:
        for q in range(cuda.threadIdx.x, nw, cuda.blockDim.x):
            sh[q] = w_all[p, q]
        cuda.syncthreads()
        _step_core(sh, red, dims, model, opt, data, scratch, result, cfg, prec, one)
    else:
        _step_core(w_all[p], red, dims, model, opt, data, scratch, result, cfg, prec, one)


@cuda.jit
def _step_kernel32(dims, model, opt, data, scratch, result, cfg, prec, one):
    sh = cuda.shared.array(0, dtype=types.float32)
    _step_block(sh, dims, model, opt, data, scratch, result, cfg, prec, one)


@cuda.jit
def _step_kernel64(dims, model, opt, data, scratch, result, cfg, prec, one):
    sh = cuda.shared.array(0, dtype=types.float64)
    _step_block(sh, dims, model, opt, data, scratch, result, cfg, prec, one)


# ----------------------------------------------------------------------------- launching


def population_step(dims, model, opt, data, scratch, result, cfg, prec, threads_per_block=None):
    """Launch one training update of every active network (all arrays on the device).

    Parameters
    ----------
    dims : tuple of int
        ``(V, G, H, O, S, E, head_code, optimizer_code)``: E the embedding size
        (0: one-hot input); :data:`HEAD_CODES`, ``OPT_CODES``.
    model : tuple of device arrays
        ``(w, master, mom1, mom2, trainable)``: weights (P, NW) in the carrier,
        float64 masters and optimizer moments (P, NW), int8 mask (NW,).
    opt : tuple of device arrays
        ``(hyper, tstep, active)``: float64 (P, 6) rows ``lr, clip (0: none),
        momentum, beta1, beta2, eps``; int64 (P,) updates so far; int8 (P,).
    data : tuple of device arrays
        ``(idx (P, B) int32, nwords (P,) int64, nwords as carrier floats (P,),
        symbols (P, N, T) int32, lengths (P, N) int64, targets (P, N, T+1, O)
        carrier)``: this step's word indices into each network's resident
        dataset (-1 past ``nwords``), then the datasets. Targets are one-hot for
        ``next-symbol`` (all zero: no target), the label at ``t = length`` for
        ``accept``, the allowed set for ``next-set``.
    scratch : tuple of device arrays
        ``(symbols (P, T, B) int32, lengths (P, B) int64, targets (P, T+1, O, B),
        states, gates, aux, dz, dh_ext, dpre, daux, dstate0, work, grad (P, NW),
        lane_loss (P, B) float64)``: the single-network kernels' arrays with the
        network as the chunk axis (allocated by
        :mod:`expressivity.training.population`).
    result : tuple of device arrays
        ``(loss (P,) float64, status (P,) int8)``: 0 ok, 1 the loss, 2 a
        gradient, 3 a weight became NaN or infinite (the update was not applied
        for 1 and 2).
    """
    w = model[0]
    P, NW = w.shape
    dt = np.dtype(w.dtype)
    B = data[0].shape[1]
    if threads_per_block is None:
        threads_per_block = min(_RED, max(64, -(-B // 32) * 32))
    tpb = int(threads_per_block)
    if not 1 <= tpb <= _RED:
        raise ValueError(f"threads_per_block must be in [1, {_RED}], got {threads_per_block}")
    nbytes = NW * dt.itemsize
    shared = nbytes if nbytes <= SHARED_WEIGHT_BYTES else 0
    kernel = _step_kernel32 if dt == np.float32 else _step_kernel64
    kernel[P, tpb, 0, shared](tuple(int(x) for x in dims), model, opt, data, scratch, result,
                              cfg, prec, dt.type(1.0))  # fmt: skip
