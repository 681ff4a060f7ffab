"""Hand-built networks whose behaviour is known, shared by the command-line tests."""

import numpy as np

import expressivity as ex

K = 20.0


def parity_gru() -> ex.Network:
    """One GRU unit: 'a' keeps h, 'b' flips it; accepts an even number of b's."""
    p = {
        "W_z": np.array([[-K, K]]), "U_z": np.zeros((1, 1)), "b_z": np.zeros(1),
        "W_r": np.zeros((1, 2)), "U_r": np.zeros((1, 1)), "b_r": np.array([K]),
        "W_h": np.zeros((1, 2)), "U_h": np.array([[-K]]), "b_h": np.zeros(1),
        "h0": np.array([1.0]), "W_out": np.array([[K]]), "b_out": np.zeros(1),
    }  # fmt: skip
    return ex.Network.from_params("gru", alphabet="ab", params=p, head="accept")


def counting_lstm() -> ex.Network:
    """One LSTM unit whose cell adds +1 per 'a' and -1 per 'b'."""
    z2, z1 = np.zeros((1, 2)), np.zeros((1, 1))
    p = {
        "W_i": z2, "U_i": z1, "b_i": np.array([K]),
        "W_f": z2, "U_f": z1, "b_f": np.array([K]),
        "W_o": z2, "U_o": z1, "b_o": np.array([K]),
        "W_c": np.array([[K, -K]]), "U_c": z1, "b_c": np.zeros(1),
        "h0": np.zeros(1), "c0": np.zeros(1),
        "W_out": np.array([[-K]]), "b_out": np.array([K / 2]),
    }  # fmt: skip
    return ex.Network.from_params("lstm", alphabet="ab", params=p, head="accept")


def counts_lstm(precision: str = "float32", accept_below: float = 0.68):
    """Two LSTM cells count #a-#b from 0.5 (c0 up, c1 down); accepts when
    tanh(c0) + tanh(c1) > accept_below: 0.68 accepts #a = #b only (sum 0.92 there,
    0.44 at ±1); 0.3 also accepts #a - #b = ±1, so it accepts the near misses."""
    z = np.zeros((2, 2))
    big = np.array([K, K])
    p = {
        "W_i": z, "U_i": z, "b_i": big, "W_f": z, "U_f": z, "b_f": big,
        "W_o": z, "U_o": z, "b_o": big,
        "W_c": np.array([[K, -K], [-K, K]]), "U_c": z, "b_c": np.zeros(2),
        "h0": np.tanh([0.5, 0.5]), "c0": np.array([0.5, 0.5]),
        "W_out": np.array([[K, K]]), "b_out": np.array([-accept_below * K]),
    }  # fmt: skip
    return ex.Network.from_params("lstm", "ab", p, head="accept", precision=precision)
