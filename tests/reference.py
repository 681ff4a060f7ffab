"""Slow, obvious implementations that the kernels are tested against.

Written from docs/cells.md, one word at a time, one step at a time, in
plain numpy, with the rounding of the precision model applied after every
elementwise operation and after every dot product. Dot products accumulate with
k ascending: ``((sum_k W x) + sum_k U h) + b``.

The activations are the package's own (float32: the documented approximations,
tested separately against their ulp bounds in test_activations.py), so that
float32 results can be compared bit for bit.
"""

from __future__ import annotations

import numpy as np

from expressivity.activations import relu, sigmoid, tanh

ACT = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu}


def dot(M, v, dt):
    """sum_k M[:, k] * v[k], accumulated with k ascending from zero."""
    acc = np.zeros(M.shape[0], dtype=dt)
    for k in range(M.shape[1]):
        acc = acc + M[:, k] * v[k]
    return acc


def cell_step(cell, p, x, h, c, prec):
    """One step of ``cell`` (registry name) from state (h, c) on input vector x.

    Returns (h', c'); c is None except for the LSTM.
    """
    r_ = prec.round
    dt = prec.carrier.type
    one = dt(1)

    def gate(name, act, W=True, U=True, b=True, hin=None):
        acc = np.zeros(h.shape[0], dtype=dt)
        if W:
            acc = dot(p[f"W_{name}"], x, dt)
        if U:
            hv = h if hin is None else hin
            acc2 = acc
            for k in range(hv.shape[0]):
                acc2 = acc2 + p[f"U_{name}"][:, k] * hv[k]
            acc = acc2
        if b:
            acc = acc + p[f"b_{name}"]
        return r_(ACT[act](r_(acc)))

    if cell == "lstm":
        i = gate("i", "sigmoid")
        f = gate("f", "sigmoid")
        o = gate("o", "sigmoid")
        g = gate("c", "tanh")
        c2 = r_(r_(f * c) + r_(i * g))
        h2 = r_(o * r_(tanh(c2)))
        return h2, c2
    if cell == "elman-tanh":
        return gate("h", "tanh"), None
    if cell == "elman-relu":
        return gate("h", "relu"), None
    terms = {
        "gru": (True, True, True),
        "gru-reset-after": (True, True, True),
        "gru-no-reset": (True, True, True),
        "gru1": (False, True, True),
        "gru2": (False, True, False),
        "gru3": (False, False, True),
        "mgu": (True, True, True),
        "mgu1": (False, True, True),
        "mgu2": (False, True, False),
        "mgu3": (False, False, True),
    }[cell]
    W, U, b = terms
    if cell.startswith("mgu"):
        z = gate("f", "sigmoid", W, U, b)
        r = z
    else:
        z = gate("z", "sigmoid", W, U, b)
        r = gate("r", "sigmoid", W, U, b) if cell != "gru-no-reset" else None
    if cell == "gru-reset-after":
        a1 = r_(dot(p["W_h"], x, dt) + p["b_h"])
        u = r_(dot(p["U_h"], h, dt) + p["d_h"])
        hh = r_(tanh(r_(a1 + r_(r * u))))
    elif cell == "gru-no-reset":
        hh = gate("h", "tanh")
    else:
        hh = gate("h", "tanh", hin=r_(r * h))
    if cell == "gru-no-reset":
        return r_(r_(z * h) + r_(r_(one - z) * hh)), None
    return r_(r_(r_(one - z) * h) + r_(z * hh)), None


def states(cell, p, alphabet, word, prec):
    """(len(word)+1, S) states of one word; p holds rounded carrier arrays."""
    V = len(alphabet)
    dt = prec.carrier.type
    h = p["h0"].astype(dt)
    c = p["c0"].astype(dt) if cell == "lstm" else None
    rows = [np.concatenate([h, c]) if c is not None else h.copy()]
    for a in word:
        v = alphabet.index(a)
        x = p["embedding"][:, v] if "embedding" in p else np.eye(V, dtype=dt)[v]
        h, c = cell_step(cell, p, x, h, c, prec)
        rows.append(np.concatenate([h, c]) if c is not None else h.copy())
    return np.array(rows, dtype=dt)


def outputs(head, p, H, st, prec):
    """Head probabilities (T+1, O) from states (T+1, S), float64 maths."""
    h = st[:, :H].astype(np.float64)
    z = h @ p["W_out"].astype(np.float64).T + p["b_out"]
    if head == "next-symbol":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return 1 / (1 + np.exp(-z))


def loss(head, p, H, alphabet, word, st, prec, target=None):
    """The head's loss for one word, float64 (for finite differences)."""
    out = outputs(head, p, H, st, prec)
    if head == "next-symbol":
        idx = [alphabet.index(a) for a in word] + [len(alphabet)]
        return -sum(np.log(out[t, k]) for t, k in enumerate(idx))
    if head == "accept":
        q = out[-1, 0]
        return -(target * np.log(q) + (1 - target) * np.log(1 - q))
    y = np.asarray(target, dtype=np.float64)
    return -(y * np.log(out) + (1 - y) * np.log(1 - out)).sum()
