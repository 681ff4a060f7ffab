"""Backpropagation through time: the kernel's per-step gradients, reduced to parameters.

The backward kernel (:func:`expressivity.kernels.cpu.backward_kernel`) runs the
recurrence backwards and returns the gradient with respect to every gate's
pre-activation at every step. The parameter gradients are sums of outer
products of those with the gate inputs over steps and lanes: large, regular
reductions (:mod:`expressivity.kernels.reduce`: numba kernels for small
matrices, BLAS products for large ones), each summed in the carrier dtype and
rounded once by the precision model.
"""

from __future__ import annotations

import numpy as np

from expressivity import heads as _heads

__all__ = ["backward"]


def chunk_targets(head, batch, targets):
    """A head's dataset targets in the chunked lane layout of ``batch``."""
    if head == "next-symbol":
        t = batch.to_lanes(targets.astype(np.int64))  # (C, L, T+1)
        t = np.moveaxis(t, 1, 2)
        pad = np.zeros((batch.n_chunks * batch.width,), dtype=bool)
        pad[batch.n :] = True
        t[np.broadcast_to(pad.reshape(batch.n_chunks, 1, batch.width), t.shape)] = -1
        return np.ascontiguousarray(t)
    if head == "accept":
        return batch.to_lanes(targets.astype(np.float64))
    t = batch.to_lanes(targets.astype(bool))  # (C, L, T+1, O)
    return np.ascontiguousarray(np.transpose(t, (0, 2, 3, 1)))


def backward(net, batch, traj, targets, backward_pass=None):
    """Loss and parameter gradients for a batch already run forward.

    ``backward_pass`` is the kernel driver that fills the per-step gradients
    (default: the CPU kernels; :mod:`expressivity.kernels.cuda` passes its own).
    Returns ``(loss, grads)`` with ``grads`` keyed like ``net.params``.
    """
    from expressivity.kernels.cpu import _parallel

    if backward_pass is None:
        from expressivity.kernels.cpu import backward as backward_pass
    from expressivity.kernels.reduce import outer_sum, symbol_sum

    prec = net.precision
    rd = prec.round
    p = net._params
    spec = net.spec
    H = net.hidden_size
    states, gates, aux = traj["states"], traj["gates"], traj["aux"]
    h = np.ascontiguousarray(states[:, :, :H, :])
    z, prob = net._probabilities(batch, states)
    tgt = chunk_targets(net.head, batch, targets)
    loss, dz = _heads.loss_and_dlogits(net.head, z, prob, tgt, batch.lengths, batch.n, prec)
    par = _parallel(batch.lengths, net._packed["U"])
    L1 = batch.lengths + 1  # the readout sees every prefix, the empty one included
    grads = {
        "W_out": rd(outer_sum(dz[:, :, None], 0, h, L1, par)),
        "b_out": rd(dz.sum(axis=(0, 1, 3))),
    }
    dh_ext = rd(np.matmul(p["W_out"].T, dz))
    C, T1, S, L = states.shape
    G = len(spec.gates)
    dpre = np.zeros((C, T1 - 1, G, H, L), dtype=states.dtype)
    daux = np.zeros((C, T1 - 1, H, L), dtype=states.dtype)
    dstate0 = np.zeros((C, S, L), dtype=states.dtype)
    backward_pass(
        batch.lengths, net._packed["U"], net._cfg, net._prec_code, states, gates, aux,
        np.ascontiguousarray(dh_ext), dpre, daux, dstate0,
    )  # fmt: skip
    lens = batch.lengths
    dXW = symbol_sum(dpre, batch.symbols, lens, len(net.alphabet), par)  # (V, G, H)
    X = net._packed["X"]  # (V, I)
    dX = np.zeros_like(X)
    for g, gate in enumerate(spec.gates):
        dp = dpre[:, :, g]
        if gate.W:
            grads[f"W_{gate.name}"] = rd(dXW[:, g, :].T @ X)
            dX += dXW[:, g, :] @ p[f"W_{gate.name}"]
        if gate.b:
            grads[f"b_{gate.name}"] = rd(dp.sum(axis=(0, 1, 3)))
        if gate.reset_after:
            grads[f"U_{gate.name}"] = rd(outer_sum(daux[:, :, None], 0, h, lens, par))
            grads[f"d_{gate.name}"] = rd(daux.sum(axis=(0, 1, 3)))
        elif gate.U:
            src = aux if gate.reset else h
            grads[f"U_{gate.name}"] = rd(outer_sum(dpre, g, src, lens, par))
    if "embedding" in p:
        grads["embedding"] = rd(dX.T)
    real = np.zeros(C * L, dtype=bool)
    real[: batch.n] = True
    d0 = (dstate0 * real.reshape(C, 1, L)).sum(axis=(0, 2))
    grads["h0"] = rd(d0[:H])
    if spec.has_cell_state:
        grads["c0"] = rd(d0[H:])
    return loss, {k: grads[k] for k in p}
