"""The three readout heads: probabilities, acceptance, losses and their gradients.

A head reads ``h`` (never ``c``) through ``W_out`` (O x H), ``b_out`` (O):

- ``accept``: one logit; the word is accepted when ``σ(logit) > threshold``
  (default 0.5) after its last symbol. Loss: binary cross-entropy at the end.
- ``next-symbol``: softmax over the alphabet then the end marker. A word is
  accepted when every symbol read, and the end marker after it, gets
  probability above ``threshold`` (Weiss et al. 2018; 0.005 in their networks).
  Loss: cross-entropy of each next symbol and of the end marker.
- ``next-set``: one sigmoid per symbol and the end marker: which may follow.
  Accepted when every symbol read, and the end marker at the end, is predicted
  allowed (``> threshold``, default 0.5). Loss: binary cross-entropy of every
  output at every prefix.

Losses are summed over positions and averaged over words. All arithmetic is in
the carrier dtype and rounded by the precision model (the readout is a dot
product rounded once; each elementwise step of the softmax/sigmoid is rounded).
Arrays are in the kernels' chunk layout: ``h`` (C, T+1, H, L), logits
(C, T+1, O, L).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from expressivity.activations import sigmoid

__all__ = [
    "HEADS",
    "DEFAULT_THRESHOLDS",
    "check_precision",
    "check_threshold",
    "output_size",
    "logits",
    "probabilities",
]

HEADS = ("accept", "next-symbol", "next-set")
DEFAULT_THRESHOLDS = {"accept": 0.5, "next-symbol": 0.005, "next-set": 0.5}


def output_size(head: str, n_symbols: int) -> int:
    """Number of readout rows for ``head`` over an alphabet of ``n_symbols``."""
    if head == "accept":
        return 1
    if head in ("next-symbol", "next-set"):
        return n_symbols + 1
    raise ValueError(f"unknown head {head!r}; heads are {', '.join(HEADS)}")


def check_threshold(threshold) -> float:
    """A head's acceptance threshold as a float in ``[0, 1)`` (``ValueError``/``TypeError``).

    Probabilities lie in ``[0, 1]``: a threshold of 1 or more accepts nothing, a
    negative one everything, and NaN compares false with everything.

    Examples
    --------
    >>> check_threshold(0.005)
    0.005
    """
    if isinstance(threshold, np.ndarray) and threshold.ndim == 0 and threshold.dtype.kind in "fiu":
        threshold = threshold.item()  # a 0-d array, as read from an .npz file
    if isinstance(threshold, bool) or not isinstance(
        threshold, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"threshold must be a real number in [0, 1), got {threshold!r:.80}")
    t = float(threshold)
    if not 0.0 <= t < 1.0:  # also refuses NaN
        raise ValueError(f"threshold must lie in [0, 1) (a probability), got {t!r}")
    return t


def check_precision(head: str, n_outputs: int, prec, threshold: float) -> None:
    """Refuse a number format too narrow for what ``head`` computes (``ValueError``).

    Every head needs a probability above ``threshold`` (the largest value it can
    hold in ``[0, 1]``, ``round(1)``, must exceed it: otherwise nothing is ever
    accepted); the softmax of ``next-symbol`` adds up to ``n_outputs``
    exponentials of at most 1, so it needs ``max_value >= n_outputs`` (else the
    sum overflows or saturates: all-zero, wrong or, where ``round(1) = 0``,
    NaN probabilities from a division by zero).

    Examples
    --------
    >>> from expressivity.precision import parse_precision
    >>> check_precision("next-symbol", 3, parse_precision("fixed1.0"), 0.005)
    Traceback (most recent call last):
    ...
    ValueError: precision 'fixed1.0' is too narrow for the next-symbol head: ...
    """
    top = float(prec.round(1.0))
    pre = f"precision {prec.name!r} is too narrow for the {head} head: "
    if not top > threshold:
        raise ValueError(
            pre + f"its largest probability round(1) = {top:g} does not exceed the "
            f"threshold {threshold:g}, so no word could be accepted (probabilities need "
            "values on both sides of the threshold; e.g. float16, bfloat16 or fixed4.12)"
        )
    if head == "next-symbol" and prec.max_value < n_outputs:
        raise ValueError(
            pre + f"the softmax sums up to {n_outputs} exponentials of at most 1 but the "
            f"largest value is {prec.max_value:g} (needs max_value >= {n_outputs}, the "
            "number of outputs; e.g. float16, bfloat16, fixed4.12)"
        )


def logits(W_out: np.ndarray, b_out: np.ndarray, h: np.ndarray, prec) -> np.ndarray:
    """Readout ``W_out h + b_out`` for every lane and step, rounded once.

    The dot product is summed in one fixed order (unit 0 first, then the bias),
    the order of the training kernels' head: so a word's probabilities do not
    depend on the other words of its batch (a BLAS product's order does depend
    on the shapes, by an ulp).
    """
    W = np.ascontiguousarray(W_out, dtype=h.dtype)
    b = np.ascontiguousarray(b_out, dtype=h.dtype)
    z = np.empty(h.shape[:2] + (W.shape[0], h.shape[3]), dtype=h.dtype)
    _readout(W, b, np.ascontiguousarray(h), z)  # one layout: one compile per dtype
    return prec.round(z)


@njit(cache=True)
def _readout(W, b, h, z):
    C, T1, H, L = h.shape
    O = W.shape[0]
    for c in range(C):
        for t in range(T1):
            for o in range(O):
                for l in range(L):
                    z[c, t, o, l] = 0
                for k in range(H):
                    w = W[o, k]
                    for l in range(L):
                        z[c, t, o, l] += w * h[c, t, k, l]
                for l in range(L):
                    z[c, t, o, l] = z[c, t, o, l] + b[o]


def probabilities(head: str, z: np.ndarray, prec) -> np.ndarray:
    """Head probabilities from logits (C, T+1, O, L), in the carrier dtype."""
    if head == "next-symbol":
        m = z.max(axis=2, keepdims=True)
        e = prec.round(np.exp(prec.round(z - m)))
        s = prec.round(e.sum(axis=2, keepdims=True))
        return prec.round(e / s)
    return prec.round(sigmoid(z))


def accepts(head: str, p: np.ndarray, symbols: np.ndarray, lengths: np.ndarray, threshold: float):
    """Acceptance of each lane (C, L) from probabilities (C, T+1, O, L)."""
    C, T1, O, L = p.shape
    t_idx = np.arange(T1)[None, :, None]
    end = lengths[:, None, :]
    if head == "accept":
        last = np.take_along_axis(p[:, :, 0, :], end, axis=1)[:, 0, :]
        return last > threshold
    # probability of the symbol actually read at each step, then of END at the end
    nxt = np.full((C, T1, L), O - 1, dtype=np.int64)
    nxt[:, : T1 - 1, :] = np.where(t_idx[:, :-1] < end, symbols, O - 1)
    pk = np.take_along_axis(p, nxt[:, :, None, :], axis=2)[:, :, 0, :]
    ok = (pk > threshold) | (t_idx > end)
    return ok.all(axis=1)


def loss_and_dlogits(head: str, z: np.ndarray, p: np.ndarray, targets, lengths, n_words, prec):
    """Loss (float) and its gradient with respect to the logits (carrier dtype).

    ``targets``: ``next-symbol`` (C, T+1, L) int (-1: no target); ``accept``
    (C, L) float labels (0/1); ``next-set`` (C, T+1, O, L) float in {0, 1}.
    Positions past a word's end (and padding lanes) contribute nothing.
    """
    C, T1, O, L = z.shape
    dt = z.dtype.type
    real = np.zeros(lengths.shape, dtype=bool)
    real.reshape(-1)[:n_words] = True  # after sorting, padding lanes come last
    valid = (np.arange(T1)[None, :, None] <= lengths[:, None, :]) & real[:, None, :]
    if head == "next-symbol":
        mask = valid & (targets >= 0)
        tgt = np.where(mask, targets, 0)
        pk = np.take_along_axis(p, tgt[:, :, None, :], axis=2)[:, :, 0, :]
        with np.errstate(divide="ignore"):
            loss = -np.log(np.where(mask, pk, 1).astype(np.float64)).sum()
        dz = p.copy()
        np.put_along_axis(dz, tgt[:, :, None, :], pk[:, :, None, :] - dt(1), axis=2)
        dz *= mask[:, :, None, :]
    elif head == "accept":
        dz = np.zeros_like(z)
        end = lengths[:, None, :]
        pl = np.take_along_axis(p[:, :, 0, :], end, axis=1)[:, 0, :].astype(np.float64)
        y = targets.astype(np.float64)
        lane = real
        eps = 1e-300
        loss = -(y * np.log(pl + eps) + (1 - y) * np.log(1 - pl + eps))[lane].sum()
        g = ((pl - y) * lane).astype(z.dtype)
        np.put_along_axis(dz[:, :, 0, :], end, g[:, None, :], axis=1)
    elif head == "next-set":
        pf = p.astype(np.float64)
        y = targets.astype(np.float64)
        eps = 1e-300
        bce = -(y * np.log(pf + eps) + (1 - y) * np.log(1 - pf + eps))
        loss = (bce * valid[:, :, None, :]).sum()
        dz = ((p - targets.astype(z.dtype)) * valid[:, :, None, :]).astype(z.dtype)
    else:
        raise ValueError(f"unknown head {head!r}")
    return float(loss) / n_words, prec.round(dz / dt(n_words))
