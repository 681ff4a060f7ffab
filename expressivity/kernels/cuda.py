"""CUDA kernels (numba-cuda): forward and backward through time for every cell.

The GPU twin of :mod:`expressivity.kernels.cpu`: the same integer cell config
(:meth:`expressivity.cells.CellSpec.config`), the same array layout
(``states[c, t, k, l]``: chunk-major, lanes innermost, so that the 32 threads
of a warp read and write 32 consecutive values) and the same arithmetic, step
for step and in the same order. One thread runs one lane (one word); the
recurrence runs sequentially over time inside the thread. The packed weights
(``XW``, ``U``, ``bias``, ``d``) are copied into shared memory when they fit
(:data:`SHARED_MEMORY_BYTES`), else read from global memory.

Shared with the CPU kernels (the same Python objects, compiled for the CUDA
target by numba-cuda): the rounding function ``rnd`` (``precision.rnd`` through
``kernels.cpu.rnd``, identity for native formats), the bit-cast intrinsics of
``_bits.py`` it uses, and the activations ``sigmoid_f32``, ``tanh_f32``,
``sigmoid_f64``, ``tanh_f64`` of :mod:`expressivity.activations`. Their type
dispatch goes through the scalar helpers of :mod:`expressivity.kernels.scalar`
(``mul``, ``exp``, ``sigmoid``, ``tanh``; ``mul``'s uncontracted GPU overload is
registered here): numba-cuda 0.30 fails to type the
``inline="always"`` overloads of ``activations.sigmoid`` / ``tanh`` / ``relu``
(their IR inliner mixes numba-core and numba-cuda IR); ``relu`` is written out
(``zero if x <= zero else x``, its definition).

Differences from the CPU that remain on a real GPU, hence the comparison by
ULP (see ``tests/test_cuda.py``): every product in *these* kernels is an
uncontracted IEEE multiply (``__fmul_rn`` / ``__dmul_rn`` through
:func:`_mul`), so dot products and gate arithmetic cannot be fused into
multiply-adds; but NVVM may still contract the polynomial inside ``exp_f32`` /
``tanh_f32`` (shared code, plain ``*`` and ``+``), and float64 ``exp``/``tanh``
come from libdevice rather than the C library. Under the CUDA simulator the
kernels run the same numpy scalar arithmetic as the CPU and agree bit for bit.

``numba.cuda`` is imported only here and in
:mod:`expressivity.kernels.cuda_population` (population training, built on the
lane functions below): ``import expressivity`` never needs it.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, types
from numba.extending import overload

from expressivity.kernels import scalar
from expressivity.kernels.cpu import rnd

__all__ = [
    "SHARED_MEMORY_BYTES",
    "available",
    "forward_cuda",
    "forward_device",
    "backward_device",
]

#: weights up to this size are staged in shared memory (the default per-block limit)
SHARED_MEMORY_BYTES = 48 * 1024

_HDR = 4  # header length of the cell config (see cells.CellSpec.config)
_LSTM, _INTERP, _KEEP, _REPLACE = 0, 1, 2, 3


def available() -> bool:
    """True when a CUDA GPU (or the CUDA simulator) can run the kernels."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install reports by raising
        return False


# ----------------------------------------------------------------------------- scalar helpers
# The shared helpers of :mod:`expressivity.kernels.scalar`, compiled for the
# device here. No ``inline="always"``: see above.
_mul, _exp, _sigmoid, _tanh = scalar.mul, scalar.exp, scalar.sigmoid, scalar.tanh


@overload(scalar.mul, target="cuda")
def _ov_mul(a, b):
    from numba.cuda import libdevice

    if a == types.float32 and b == types.float32:
        return lambda a, b: libdevice.fmul_rn(a, b)
    if a == types.float64 and b == types.float64:
        return lambda a, b: libdevice.dmul_rn(a, b)
    return None


@cuda.jit(device=True)
def _act(v, act, zero):
    if act == 0:
        return _sigmoid(v)
    if act == 1:
        return _tanh(v)
    return zero if v <= zero else v


# ----------------------------------------------------------------------------- forward


@cuda.jit(device=True)
def _forward_lane(c, l, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux):
    """One lane of ``kernels.cpu._forward_chunk``, same operations in the same order.

    ``w`` is the flat weight vector ``XW (V, G, H) | U (G, H, H) | bias (G, H) | d (H)``.
    """
    L = lengths.shape[1]
    T = symbols.shape[1]
    S = states.shape[2]
    zero = one - one
    oU = V * G * H
    ob = oU + G * H * H
    od = ob + G * H
    update = cfg[0]
    zi = cfg[2]
    ci = cfg[3]
    Tc = 0
    for m in range(L):
        Tc = max(Tc, lengths[c, m])
    n = lengths[c, l]
    for t in range(Tc):
        s = symbols[c, t, l]
        for g in range(G):
            base = _HDR + 5 * g
            act = cfg[base]
            has_u = cfg[base + 1]
            ri = cfg[base + 2]
            after = cfg[base + 3]
            ug = oU + g * H * H
            if after:
                # act(W x + b + r ⊙ (U h + d)): two dot products, each rounded once
                for j in range(H):
                    acc = zero
                    for k in range(H):
                        acc += _mul(w[ug + j * H + k], states[c, t, k, l])
                    u = rnd(acc + w[od + j], prec)
                    aux[c, t, j, l] = u
                    a1 = rnd(w[(s * G + g) * H + j] + w[ob + g * H + j], prec)
                    v = rnd(_mul(gates[c, t, ri, j, l], u), prec)
                    p = rnd(a1 + v, prec)
                    gates[c, t, g, j, l] = rnd(_act(rnd(p + zero, prec), act, zero), prec)
                continue
            if has_u and ri >= 0:
                for k in range(H):
                    aux[c, t, k, l] = rnd(_mul(gates[c, t, ri, k, l], states[c, t, k, l]), prec)
            for j in range(H):
                acc = w[(s * G + g) * H + j]
                if has_u:
                    if ri >= 0:
                        for k in range(H):
                            acc += _mul(w[ug + j * H + k], aux[c, t, k, l])
                    else:
                        for k in range(H):
                            acc += _mul(w[ug + j * H + k], states[c, t, k, l])
                pre = rnd(acc + w[ob + g * H + j], prec)
                gates[c, t, g, j, l] = rnd(_act(pre, act, zero), prec)
        for j in range(H):
            h = states[c, t, j, l]
            cand = gates[c, t, ci, j, l]
            if update == _LSTM:
                fc = rnd(_mul(gates[c, t, 1, j, l], states[c, t, H + j, l]), prec)
                ic = rnd(_mul(gates[c, t, 0, j, l], cand), prec)
                cv = rnd(fc + ic, prec)
                tv = rnd(_tanh(cv), prec)
                states[c, t + 1, H + j, l] = cv
                aux[c, t, j, l] = tv
                states[c, t + 1, j, l] = rnd(_mul(gates[c, t, 2, j, l], tv), prec)
            elif update == _INTERP:
                z = gates[c, t, zi, j, l]
                omz = rnd(one - z, prec)
                states[c, t + 1, j, l] = rnd(
                    rnd(_mul(omz, h), prec) + rnd(_mul(z, cand), prec), prec
                )
            elif update == _KEEP:
                z = gates[c, t, zi, j, l]
                omz = rnd(one - z, prec)
                states[c, t + 1, j, l] = rnd(
                    rnd(_mul(z, h), prec) + rnd(_mul(omz, cand), prec), prec
                )
            else:
                states[c, t + 1, j, l] = cand
        if t >= n:  # the word has ended: keep the state
            for k in range(S):
                states[c, t + 1, k, l] = states[c, t, k, l]
    for t in range(Tc, T):  # rows past the chunk's longest word repeat the final state
        for k in range(S):
            states[c, t + 1, k, l] = states[c, t, k, l]


@cuda.jit(device=True)
def _forward_block(sh, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux):
    i = cuda.grid(1)
    C = lengths.shape[0]
    L = lengths.shape[1]
    if sh.shape[0] >= w.shape[0]:  # weights fit the dynamic shared memory
        for q in range(cuda.threadIdx.x, w.shape[0], cuda.blockDim.x):
            sh[q] = w[q]
        cuda.syncthreads()
        if i < C * L:
            _forward_lane(
                i // L, i % L, symbols, lengths, sh, V, G, H, cfg, prec, one, states, gates, aux
            )
    elif i < C * L:
        _forward_lane(
            i // L, i % L, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux
        )


@cuda.jit
def _forward_kernel32(symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux):
    sh = cuda.shared.array(0, dtype=types.float32)
    _forward_block(sh, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux)


@cuda.jit
def _forward_kernel64(symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux):
    sh = cuda.shared.array(0, dtype=types.float64)
    _forward_block(sh, symbols, lengths, w, V, G, H, cfg, prec, one, states, gates, aux)


# ----------------------------------------------------------------------------- backward


@cuda.jit(device=True)
def _backward_lane(c, l, lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                   dpre, daux, dstate0, work):  # fmt: skip
    """One lane of ``kernels.cpu._backward_chunk``, same operations in the same order.

    ``work[c, :, :, l]`` is the lane's scratch: rows ``dh, dc, dprev, dcprev, dtmp``
    then ``dact`` (G rows), each of length H; ``dc`` must start at zero.
    """
    L = lengths.shape[1]
    zero = one - one
    update = cfg[0]
    zi = cfg[2]
    ci = cfg[3]
    DH, DC, DPREV, DCPREV, DTMP, DACT = 0, 1, 2, 3, 4, 5
    Tc = 0
    for m in range(L):
        Tc = max(Tc, lengths[c, m])
    n = lengths[c, l]
    for k in range(H):
        work[c, DH, k, l] = dh_ext[c, Tc, k, l]
    for t in range(Tc - 1, -1, -1):
        for j in range(H):
            for g in range(G):
                work[c, DACT + g, j, l] = zero
            work[c, DPREV, j, l] = zero
        for j in range(H):
            dh = work[c, DH, j, l]
            h = states[c, t, j, l]
            cand = gates[c, t, ci, j, l]
            if update == _LSTM:
                tv = aux[c, t, j, l]
                og = gates[c, t, 2, j, l]
                d1 = rnd(_mul(dh, og), prec)
                d2 = rnd(one - rnd(_mul(tv, tv), prec), prec)
                dcn = rnd(work[c, DC, j, l] + rnd(_mul(d1, d2), prec), prec)
                work[c, DACT + 2, j, l] = rnd(_mul(dh, tv), prec)
                work[c, DACT + 1, j, l] = rnd(_mul(dcn, states[c, t, H + j, l]), prec)
                work[c, DACT + 0, j, l] = rnd(_mul(dcn, cand), prec)
                work[c, DACT + 3, j, l] = rnd(_mul(dcn, gates[c, t, 0, j, l]), prec)
                work[c, DCPREV, j, l] = rnd(_mul(dcn, gates[c, t, 1, j, l]), prec)
            elif update == _INTERP:
                z = gates[c, t, zi, j, l]
                work[c, DACT + zi, j, l] = rnd(_mul(dh, rnd(cand - h, prec)), prec)
                work[c, DACT + ci, j, l] = rnd(_mul(dh, z), prec)
                work[c, DPREV, j, l] = rnd(_mul(dh, rnd(one - z, prec)), prec)
            elif update == _KEEP:
                z = gates[c, t, zi, j, l]
                work[c, DACT + zi, j, l] = rnd(_mul(dh, rnd(h - cand, prec)), prec)
                work[c, DACT + ci, j, l] = rnd(_mul(dh, rnd(one - z, prec)), prec)
                work[c, DPREV, j, l] = rnd(_mul(dh, z), prec)
            else:
                work[c, DACT + ci, j, l] = dh
        # gates in reverse order: the candidate pushes into its reset gate first
        for k in range(H):
            work[c, DTMP, k, l] = zero
        for g in range(G - 1, -1, -1):
            base = _HDR + 5 * g
            act = cfg[base]
            has_u = cfg[base + 1]
            ri = cfg[base + 2]
            after = cfg[base + 3]
            ug = oU + g * H * H
            for j in range(H):
                a = gates[c, t, g, j, l]
                da = work[c, DACT + g, j, l]
                if act == 0:
                    dp = rnd(_mul(da, rnd(_mul(a, rnd(one - a, prec)), prec)), prec)
                elif act == 1:
                    dp = rnd(_mul(da, rnd(one - rnd(_mul(a, a), prec), prec)), prec)
                else:
                    dp = da if a > zero else zero
                dpre[c, t, g, j, l] = dp
            if after:
                for j in range(H):
                    dp = dpre[c, t, g, j, l]
                    daux[c, t, j, l] = rnd(_mul(dp, gates[c, t, ri, j, l]), prec)
                    work[c, DACT + ri, j, l] = rnd(
                        work[c, DACT + ri, j, l] + rnd(_mul(dp, aux[c, t, j, l]), prec), prec
                    )
                for k in range(H):
                    acc = work[c, DTMP, k, l]
                    for j in range(H):
                        acc += _mul(w[ug + j * H + k], daux[c, t, j, l])
                    work[c, DTMP, k, l] = acc
            elif has_u:
                if ri >= 0:
                    for k in range(H):
                        acc = zero
                        for j in range(H):
                            acc += _mul(w[ug + j * H + k], dpre[c, t, g, j, l])
                        v = rnd(acc, prec)
                        daux[c, t, k, l] = v
                        work[c, DACT + ri, k, l] = rnd(
                            work[c, DACT + ri, k, l] + rnd(_mul(v, states[c, t, k, l]), prec), prec
                        )
                        work[c, DPREV, k, l] = rnd(
                            work[c, DPREV, k, l] + rnd(_mul(v, gates[c, t, ri, k, l]), prec), prec
                        )
                else:
                    for k in range(H):
                        acc = work[c, DTMP, k, l]
                        for j in range(H):
                            acc += _mul(w[ug + j * H + k], dpre[c, t, g, j, l])
                        work[c, DTMP, k, l] = acc
        for k in range(H):
            if t < n:
                dk = rnd(work[c, DPREV, k, l] + rnd(work[c, DTMP, k, l], prec), prec)
                work[c, DH, k, l] = rnd(dk + dh_ext[c, t, k, l], prec)
                if update == _LSTM:
                    work[c, DC, k, l] = work[c, DCPREV, k, l]
            else:  # the word had ended: the state passed through unchanged
                work[c, DH, k, l] = rnd(work[c, DH, k, l] + dh_ext[c, t, k, l], prec)
                for g in range(G):
                    dpre[c, t, g, k, l] = zero
                daux[c, t, k, l] = zero
    for k in range(H):
        dstate0[c, k, l] = work[c, DH, k, l]
        if update == _LSTM:
            dstate0[c, H + k, l] = work[c, DC, k, l]


@cuda.jit(device=True)
def _backward_block(sh, lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                    dpre, daux, dstate0, work):  # fmt: skip
    i = cuda.grid(1)
    C = lengths.shape[0]
    L = lengths.shape[1]
    if sh.shape[0] >= w.shape[0]:
        for q in range(cuda.threadIdx.x, w.shape[0], cuda.blockDim.x):
            sh[q] = w[q]
        cuda.syncthreads()
        if i < C * L:
            _backward_lane(i // L, i % L, lengths, sh, oU, G, H, cfg, prec, one, states, gates,
                           aux, dh_ext, dpre, daux, dstate0, work)  # fmt: skip
    elif i < C * L:
        _backward_lane(i // L, i % L, lengths, w, oU, G, H, cfg, prec, one, states, gates,
                       aux, dh_ext, dpre, daux, dstate0, work)  # fmt: skip


@cuda.jit
def _backward_kernel32(lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                       dpre, daux, dstate0, work):  # fmt: skip
    sh = cuda.shared.array(0, dtype=types.float32)
    _backward_block(sh, lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                    dpre, daux, dstate0, work)  # fmt: skip


@cuda.jit
def _backward_kernel64(lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                       dpre, daux, dstate0, work):  # fmt: skip
    sh = cuda.shared.array(0, dtype=types.float64)
    _backward_block(sh, lengths, w, oU, G, H, cfg, prec, one, states, gates, aux, dh_ext,
                    dpre, daux, dstate0, work)  # fmt: skip


# ----------------------------------------------------------------------------- launching


def _launch_config(n_lanes: int, n_weights: int, dtype, threads_per_block: int):
    tpb = max(1, min(int(threads_per_block), n_lanes))
    blocks = -(-n_lanes // tpb)
    nbytes = n_weights * np.dtype(dtype).itemsize
    shared = nbytes if nbytes <= SHARED_MEMORY_BYTES else 0
    return blocks, tpb, shared


def _check_carrier(states):
    if states.dtype not in (np.float32, np.float64):
        raise TypeError(f"the carrier must be float32 or float64, got {states.dtype}")


def forward_device(symbols, lengths, XW, U, bias, d, cfg, prec, states, gates, aux,
                   threads_per_block: int = 128) -> None:  # fmt: skip
    """:func:`expressivity.kernels.cpu.forward` on the GPU, same arguments and layout.

    Arrays may be host (numpy) or device arrays; host output arrays are filled
    in place (copied back after the launch). ``states[:, 0]`` holds the
    initial states; ``gates`` and ``aux`` must arrive zeroed (as on the CPU,
    rows past a chunk's longest word are left untouched).
    """
    _check_carrier(states)
    dt = states.dtype
    V, G, H = XW.shape
    w = np.concatenate([np.ravel(a) for a in (XW, U, bias, d)]).astype(dt)
    C, L = lengths.shape
    blocks, tpb, shared = _launch_config(C * L, w.size, dt, threads_per_block)
    kernel = _forward_kernel32 if dt == np.float32 else _forward_kernel64
    outs = [
        (a, cuda.to_device(a)) if isinstance(a, np.ndarray) else (None, a)
        for a in (states, gates, aux)
    ]
    kernel[blocks, tpb, 0, shared](
        cuda.to_device(np.ascontiguousarray(symbols, np.int32)),
        cuda.to_device(np.ascontiguousarray(lengths, np.int64)),
        cuda.to_device(w), V, G, H,
        cuda.to_device(np.asarray(cfg, np.int64)), cuda.to_device(prec), dt.type(1.0),
        *(dev for _, dev in outs),
    )  # fmt: skip
    for host, dev in outs:
        if host is not None:
            dev.copy_to_host(host)


def backward_device(lengths, U, cfg, prec, states, gates, aux, dh_ext, dpre, daux, dstate0,
                    threads_per_block: int = 128) -> None:  # fmt: skip
    """:func:`expressivity.kernels.cpu.backward` on the GPU, same arguments and layout.

    Fills ``dpre``, ``daux`` and ``dstate0`` (host arrays are copied back).
    """
    _check_carrier(states)
    dt = states.dtype
    G, H = U.shape[0], U.shape[1]
    w = np.ravel(U).astype(dt)
    C, L = lengths.shape
    blocks, tpb, shared = _launch_config(C * L, w.size, dt, threads_per_block)
    kernel = _backward_kernel32 if dt == np.float32 else _backward_kernel64
    work = cuda.to_device(np.zeros((C, 5 + G, H, L), dtype=dt))
    outs = [
        (a, cuda.to_device(a)) if isinstance(a, np.ndarray) else (None, a)
        for a in (dpre, daux, dstate0)
    ]
    kernel[blocks, tpb, 0, shared](
        cuda.to_device(np.ascontiguousarray(lengths, np.int64)), cuda.to_device(w), 0, G, H,
        cuda.to_device(np.asarray(cfg, np.int64)), cuda.to_device(prec), dt.type(1.0),
        *(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in (states, gates, aux, dh_ext)),
        *(dev for _, dev in outs), work,
    )  # fmt: skip
    for host, dev in outs:
        if host is not None:
            dev.copy_to_host(host)


def forward_cuda(net, symbols, lengths, state0=None, width: int = 32, threads_per_block: int = 128):
    """:meth:`expressivity.Network.run` on the GPU: the same ``(batch, traj)`` result.

    Parameters
    ----------
    net : Network
    symbols : (N, T) int array, lengths : (N,) int array
    state0 : (N, S) initial states, default the network's own
    width : lanes per chunk; 32 (a warp) keeps each warp's words of similar length
    threads_per_block : CUDA block size

    Returns
    -------
    (batch, traj) as :meth:`~expressivity.Network.run`: a
    :class:`~expressivity.batching.Chunked` (chunks of ``width`` lanes) and host
    arrays ``states`` (C, T+1, S, L), ``gates`` (C, T, G, H, L), ``aux`` (C, T, H, L).

    Raises
    ------
    RuntimeError
        If no CUDA GPU (and no simulator) is available.

    Examples
    --------
    >>> import numpy as np, expressivity as ex                    # doctest: +SKIP
    >>> net = ex.Network.create("gru", "ab", 3, rng=np.random.default_rng(0))  # doctest: +SKIP
    >>> batch, traj = forward_cuda(net, *net.encode(["ab", "b"]))  # doctest: +SKIP
    >>> traj["states"].shape                                       # doctest: +SKIP
    (1, 3, 3, 32)
    """
    if not available():
        raise RuntimeError("forward_cuda needs a CUDA GPU (or NUMBA_ENABLE_CUDASIM=1)")
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")

    def device(*args):
        forward_device(*args, threads_per_block=threads_per_block)

    return net.run(symbols, lengths, state0=state0, forward=device, width=int(width))
