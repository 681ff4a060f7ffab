"""Hand-built networks whose behaviour is known, for the analysis tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numba.core.errors import NumbaWarning

import expressivity as ex

K = 20.0


def parity_gru(precision: str = "float32", k: float = K, head: str = "accept"):
    """GRU with one unit: h0 = 1, 'a' keeps h (z = 0), 'b' replaces h by tanh(-k h) (flip)."""
    p = {
        "W_z": np.array([[-k, k]]),
        "U_z": np.zeros((1, 1)),
        "b_z": np.zeros(1),
        "W_r": np.zeros((1, 2)),
        "U_r": np.zeros((1, 1)),
        "b_r": np.array([k]),
        "W_h": np.zeros((1, 2)),
        "U_h": np.array([[-k]]),
        "b_h": np.zeros(1),
        "h0": np.array([1.0]),
        "W_out": np.array([[k]]),
        "b_out": np.zeros(1),
    }
    return ex.Network.from_params("gru", alphabet="ab", params=p, head=head, precision=precision)


def tomita5_gru(precision: str = "float32", k: float = K):
    """GRU with two units, unit j flips on symbol j; accepts when both are +1 (tomita-5)."""
    p = {
        "W_z": np.array([[k, -k], [-k, k]]),
        "U_z": np.zeros((2, 2)),
        "b_z": np.zeros(2),
        "W_r": np.zeros((2, 2)),
        "U_r": np.zeros((2, 2)),
        "b_r": np.array([k, k]),
        "W_h": np.zeros((2, 2)),
        "U_h": np.array([[-k, 0.0], [0.0, -k]]),
        "b_h": np.zeros(2),
        "h0": np.array([1.0, 1.0]),
        "W_out": np.array([[k, k]]),
        "b_out": np.array([-k]),
    }
    return ex.Network.from_params(
        "gru", alphabet="01", params=p, head="accept", precision=precision
    )


def counting_lstm(precision: str = "float32", k: float = K):
    """LSTM with one unit whose cell adds +1 per 'a' and -1 per 'b' (gates saturated open)."""
    z2 = np.zeros((1, 2))
    z1 = np.zeros((1, 1))
    p = {
        "W_i": z2, "U_i": z1, "b_i": np.array([k]),
        "W_f": z2, "U_f": z1, "b_f": np.array([k]),
        "W_o": z2, "U_o": z1, "b_o": np.array([k]),
        "W_c": np.array([[k, -k]]), "U_c": z1, "b_c": np.zeros(1),
        "h0": np.zeros(1), "c0": np.zeros(1),
        "W_out": np.array([[-k]]), "b_out": np.array([k / 2]),
    }  # fmt: skip
    return ex.Network.from_params(
        "lstm", alphabet="ab", params=p, head="accept", precision=precision
    )


def anbn_lstm(precision: str = "float32", k: float = K):
    """LSTM that accepts exactly the words with #a = #b: two cells count #a-#b from 0.5.

    On a^n b^n and its near misses it is right for every n, as long as it counts.

    ``c0 = 0.5 + (#a - #b)``, ``c1 = 0.5 - (#a - #b)`` (gates saturated open); the
    accept head fires when ``tanh(c0) + tanh(c1) > 0.68``, i.e. when
    ``#a - #b = 0`` (sum 0.92; 0.44 at ±1, less beyond). So every near miss
    ``a^n b^(n±1)``, ``a^(n±1) b^n`` is rejected for as long as the cells count
    exactly: in a format with Y mantissa bits, until ``0.5 + n`` needs more than
    Y bits (n = 2**Y - 1 is the last; bfloat16 (7 bits): n = 127).
    """
    z2 = np.zeros((2, 2))
    z1 = np.zeros((2, 2))
    big = np.array([k, k])
    p = {
        "W_i": z2, "U_i": z1, "b_i": big,
        "W_f": z2, "U_f": z1, "b_f": big,
        "W_o": z2, "U_o": z1, "b_o": big,
        "W_c": np.array([[k, -k], [-k, k]]), "U_c": z1, "b_c": np.zeros(2),
        "h0": np.tanh([0.5, 0.5]), "c0": np.array([0.5, 0.5]),
        "W_out": np.array([[k, k]]), "b_out": np.array([-0.68 * k]),
    }  # fmt: skip
    return ex.Network.from_params(
        "lstm", alphabet="ab", params=p, head="accept", precision=precision
    )


def leaky_gru(z: float, precision: str = "float32", k: float = K):
    """GRU with one unit leaking to ±1 at a constant rate ``z``: ``h' = (1 - z) h + z (±1)``.

    'a' pulls towards +1, 'b' towards -1, from h0 = 0. Along ``a^n`` ``h = 1 - (1 - z)^n``:
    nearly linear in ``#a - #b`` over a short range (R^2 0.99 at n <= 50 for z = 0.002),
    but its increments decay geometrically by ``1 - z`` per symbol: a drift to a
    fixed point, not a counter.
    """
    p = {
        "W_z": np.zeros((1, 2)),
        "U_z": np.zeros((1, 1)),
        "b_z": np.array([np.log(z / (1.0 - z))]),
        "W_r": np.zeros((1, 2)),
        "U_r": np.zeros((1, 1)),
        "b_r": np.array([k]),
        "W_h": np.array([[k, -k]]),
        "U_h": np.zeros((1, 1)),
        "b_h": np.zeros(1),
        "h0": np.zeros(1),
        "W_out": np.array([[k]]),
        "b_out": np.zeros(1),
    }
    return ex.Network.from_params(
        "gru", alphabet="ab", params=p, head="accept", precision=precision
    )


def saturating_gru(precision: str = "float32", k: float = K):
    """GRU with one unit that saturates within a few symbols: ``z = 0.3``, candidate ±1."""
    return leaky_gru(0.3, precision, k)


@pytest.fixture(autouse=True)
def _quiet_numba():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaWarning)
        yield


@pytest.fixture(scope="session")
def parity_net():
    return parity_gru()


@pytest.fixture(scope="session")
def counter_net():
    return counting_lstm()
