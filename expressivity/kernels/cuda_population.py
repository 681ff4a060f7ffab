"""Population training on the GPU: one launch updates P independent networks.

One CUDA block trains one network; its threads are the network's batch lanes.
A launch of :func:`population_step` is one full training update of every
active network:

1. stage the network's weights in shared memory (when they fit);
2. per lane (one thread each): gather the word, the forward recurrence
   (:func:`expressivity.kernels.cuda._forward_lane`), the readout, the loss and
   its gradient with respect to the logits, then backpropagation through time
   (:func:`expressivity.kernels.cuda._backward_lane`);
3. per parameter (threads stride over them): the sum over lanes and steps that
   makes its gradient, rounded once by the precision model;
4. the loss, the finiteness checks and the global-norm clipping (per network);
5. per parameter: Adam or SGD on float64 master weights, then rounding of the
   master into the weights the next step uses (and re-packing ``XW`` when the
   network has an input embedding).

The networks share a cell, a hidden size, an embedding size, an alphabet, a
head, a precision, an optimizer and a batch size (the shape of the launch);
they differ in weights, data, learning rate, clipping and momentum. The arrays,
the population layout of the weights and the per-lane and per-parameter
pieces (gather, head, gradient entry, optimizer, re-packing) are those of
:mod:`expressivity.kernels.step`, compiled here for the device from the same
Python functions the CPU driver compiles with ``njit``. Sums over lanes and
steps run in the same order as the CPU driver's below 8 lanes; results agree
with the CPU to a few ULPs (exactly under the simulator for narrow formats).
``numba.cuda`` is imported only here and in :mod:`expressivity.kernels.cuda`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, types

from expressivity.kernels import step
from expressivity.kernels.cpu import rnd
from expressivity.kernels.cuda import _backward_lane, _forward_lane

__all__ = ["SHARED_WEIGHT_BYTES", "population_step"]

#: weights up to this size are staged in shared memory (48 KiB per block, less the
#: 16 KiB of the reduction buffer)
SHARED_WEIGHT_BYTES = 32 * 1024
_RED = 1024  # reduction buffer: one float64 per thread (blocks of at most 1024 threads)
_FLAG = 2 * _RED  # after the per-thread sums and flags: the block's status and scale
_RED2 = 2 * _RED + 2  # the buffer's length (a literal for cuda.shared.array)


# ----------------------------------------------------------------------------- shared pieces
# the same Python functions the CPU driver compiles with njit (kernels.step)

_gather_lane = cuda.jit(device=True)(step.gather_lane)
_head_lane = cuda.jit(device=True)(step.head_lane)
_grad_entry = cuda.jit(device=True)(step.grad_entry)
_repack = cuda.jit(device=True)(step.repack_entry)
_not_finite = cuda.jit(device=True)(step.not_finite)
_opt_entry = cuda.jit(device=True)(step.opt_entry)
_adam_scalars = cuda.jit(device=True)(step.adam_scalars)


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
        _gather_lane(p, l, idx, len_all, sym_all, Y_all, symbols, lengths, Y, O)
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
        step, eps_c2 = _adam_scalars(p, t_next, hyper)
        lr, mu, b1, b2 = hyper[p, 0], hyper[p, 2], hyper[p, 3], hyper[p, 4]
        for q in range(tid, NW, nt):
            if trainable[q]:
                g = float(grad[p, q])
                if scale != 1.0:
                    grad[p, q] = g * scale  # rounded to the carrier, as the CPU's clipped grads
                    g = float(grad[p, q])
                m, m1, m2 = _opt_entry(g, master[p, q], mom1[p, q], mom2[p, q], step, eps_c2, lr,
                                       mu, b1, b2, opt_code)  # fmt: skip
                master[p, q] = m
                mom1[p, q] = m1
                mom2[p, q] = m2
                w_all[p, q] = rnd(m, prec)
                if _not_finite(m):
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
        if status[p] != 0:  # no further steps for it in this chunk of launches
            active[p] = 0


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
