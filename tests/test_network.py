"""The Network API: precision made visible, files, released networks, bad input."""

import numpy as np
import pytest

import expressivity as ex


def counting_lstm(precision):
    """An LSTM whose single cell adds +1 per 'a' and -1 per 'b' (hand-set weights)."""
    big = 30.0
    p = {
        "W_i": np.array([[0.0, 0.0]]), "U_i": np.zeros((1, 1)), "b_i": np.array([big]),
        "W_f": np.array([[0.0, 0.0]]), "U_f": np.zeros((1, 1)), "b_f": np.array([big]),
        "W_o": np.array([[0.0, 0.0]]), "U_o": np.zeros((1, 1)), "b_o": np.array([big]),
        "W_c": np.array([[big, -big]]), "U_c": np.zeros((1, 1)), "b_c": np.array([0.0]),
        "h0": np.zeros(1), "c0": np.zeros(1),
        "W_out": np.zeros((1, 1)), "b_out": np.zeros(1),
    }  # fmt: skip
    return ex.Network.from_params("lstm", "ab", p, head="accept", precision=precision)


def test_float16_counter_stops_at_2048():
    net = counting_lstm("float16")
    c = net.states(["a" * 3000])[0][:, 1]  # state = concat(h, c)
    np.testing.assert_array_equal(c[:2049], np.arange(2049))
    assert np.all(c[2048:] == 2048)  # 2048 + 1 rounds back to 2048 (ties to even)
    assert c.dtype == np.float32  # float16 is emulated in a float32 carrier


def test_float32_counter_passes_100000():
    net = counting_lstm("float32")
    c = net.states(["a" * 100_001])[0][:, 1]
    assert c[-1] == 100_001
    np.testing.assert_array_equal(c[::997], np.arange(0, 100_002, 997))


def test_counter_counts_down_on_b():
    net = counting_lstm("bfloat16")  # 8 mantissa bits: exact up to 256
    c = net.states(["a" * 200 + "b" * 50])[0][:, 1]
    assert c[200] == 200 and c[-1] == 150


def test_with_precision_rounds_the_weights_as_given():
    rng = np.random.default_rng(0)
    net = ex.Network.create("gru", "ab", 4, precision="float64", rng=rng)
    half = net.with_precision("float16")
    for k, v in half.params.items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, net.params[k].astype(np.float16).astype(np.float32))
    back = half.with_precision("float64")
    for k in net.params:
        np.testing.assert_array_equal(back.params[k], net.params[k])


@pytest.mark.parametrize("cell", ["lstm", "gru-reset-after", "mgu2", "elman-relu"])
def test_save_load_round_trip(tmp_path, cell):
    rng = np.random.default_rng(1)
    net = ex.Network.create(cell, "xyz", 3, head="next-set", precision="bfloat16", rng=rng,
                            embedding_size=2, threshold=0.4)  # fmt: skip
    path = net.save(tmp_path / "model")
    assert path.suffix == ".npz"
    back = ex.Network.load(path)
    assert (back.cell, back.alphabet, back.head, back.threshold) == (cell, "xyz", "next-set", 0.4)
    assert back.precision.name == "bfloat16"
    for a, b in zip(net.states(["xyzzy", ""]), back.states(["xyzzy", ""])):
        np.testing.assert_array_equal(a, b)
    with np.load(path, allow_pickle=False) as z:  # readable without pickle
        assert "__meta__" in z.files


def test_load_reports_corrupt_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a network file"):
        ex.Network.load(bad)


def test_outputs_rows_and_normalisation():
    rng = np.random.default_rng(2)
    net = ex.Network.create("lstm", "ab", 5, head="next-symbol", precision="float64", rng=rng)
    out = net.outputs(["abb", ""])
    assert [o.shape for o in out] == [(4, 3), (1, 3)]
    np.testing.assert_allclose(out[0].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(net.readout(net.states(["abb"])[0]), out[0], rtol=1e-12)


def test_empty_inputs():
    net = ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(0))
    assert net.states([]) == [] and net.outputs([]) == []
    assert net.accepts([]).shape == (0,)
    s = net.states([""])[0]
    np.testing.assert_array_equal(s, net.initial_state()[None])


def test_accept_head_decision_matches_probability():
    rng = np.random.default_rng(3)
    net = ex.Network.create("elman-tanh", "ab", 3, head="accept", precision="float64", rng=rng)
    words = ["", "a", "ab", "bba", "abab"]
    p = np.array([o[-1, 0] for o in net.outputs(words)])
    np.testing.assert_array_equal(net.accepts(words), p > 0.5)


# ----------------------------------------------------------------------------- released networks


def test_weiss_lstm_accepts_anbn_far_beyond_training(weiss_dir):
    net = ex.load_weiss2018(weiss_dir / "anbn_lstm.npz")
    assert net.cell == "lstm" and net.threshold == pytest.approx(0.005)
    ns = list(range(1, 100)) + [150, 200, 300, 500]
    assert net.accepts(["a" * n + "b" * n for n in ns]).all()
    near = ["a" * n + "b" * (n + d) for n in range(1, 100) for d in (-1, 1)]
    assert not net.accepts(near).any()


def test_weiss_gru_loads_as_gru_no_reset(weiss_dir):
    net = ex.load_weiss2018(weiss_dir / "anbn_gru.npz")
    assert net.cell == "gru-no-reset"
    assert net.accepts(["a" * n + "b" * n for n in range(1, 60)]).all()
    # loading it as a correct GRU changes its behaviour completely
    p = dict(net.source_params)
    with np.load(weiss_dir / "anbn_gru.npz") as z:
        for k in ("W_r", "U_r", "b_r"):
            p[k] = z[k].astype(np.float64)
    wrong = ex.Network.from_params("gru", "ab", p, head="next-symbol", precision="float32",
                                   threshold=0.005)  # fmt: skip
    assert wrong.accepts(["a" * n + "b" * n for n in range(5, 60)]).mean() < 0.5


# ----------------------------------------------------------------------------- bad input


def test_unknown_cell_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown cell 'lstmm'.*gru-reset-after"):
        ex.Network.create("lstmm", "ab", 2, rng=np.random.default_rng(0))


def test_symbol_outside_alphabet():
    net = ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="symbol 'c'.*alphabet 'ab'"):
        net.states(["abc"])
    with pytest.raises(TypeError, match="not a single string"):
        net.states("ab")


def test_wrong_parameter_shape_and_dtype():
    net = ex.Network.create("gru", "ab", 2, rng=np.random.default_rng(0))
    p = net.source_params
    with pytest.raises(ValueError, match="'U_z' has shape \\(3, 2\\).*\\(2, 2\\)"):
        ex.Network.from_params("gru", "ab", {**p, "U_z": np.zeros((3, 2))})
    with pytest.raises(TypeError, match="'b_r' has dtype int64"):
        ex.Network.from_params("gru", "ab", {**p, "b_r": np.zeros(2, dtype=np.int64)})
    with pytest.raises(KeyError, match="needs parameters \\['W_h'\\]"):
        ex.Network.from_params("gru", "ab", {k: v for k, v in p.items() if k != "W_h"})
    with pytest.raises(KeyError, match="has no parameters \\['W_z', 'W_r'\\]"):
        ex.Network.from_params("gru1", "ab", p)


def test_unparseable_precision():
    with pytest.raises(ValueError, match="float17"):
        ex.Network.create("gru", "ab", 2, precision="float17", rng=np.random.default_rng(0))


def test_bad_sizes_and_heads():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="hidden_size"):
        ex.Network.create("gru", "ab", 0, rng=rng)
    with pytest.raises(ValueError, match="unknown head"):
        ex.Network.create("gru", "ab", 2, head="softmax", rng=rng)
    with pytest.raises(ValueError, match="repeats"):
        ex.Network.create("gru", "aba", 2, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        ex.Network.create("gru", "ab", 2)


def test_encoding_strings_equals_encoding_symbol_sequences():
    """str words take a vectorised path; sequences of symbols the per-word one: same codes."""
    from expressivity.batching import encode_words

    r = np.random.default_rng(3)
    words = ["".join("abc"[i] for i in r.integers(0, 3, r.integers(0, 9))) for _ in range(50)]
    words += ["", "cba"]
    fast = encode_words(words, "abc")
    slow = encode_words([tuple(w) for w in words], "abc")
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for bad in (["ab", "", "ab\U0001f600"], [("a", "b"), (), ("a", "b", "\U0001f600")]):
        with pytest.raises(ValueError, match=r"symbol '\U0001f600' in word 2"):
            encode_words(bad, "abc")


def test_states_of_repeated_calls_do_not_alias():
    """`states` reuses a workspace inside; what it returns is the caller's to keep."""
    net = ex.Network.create("lstm", "ab", 3, rng=np.random.default_rng(0))
    first = net.states(["abab", "b"])
    keep = [s.copy() for s in first]
    net.states(["bbbbbb", "a", "ab"])
    for a, b in zip(first, keep):
        np.testing.assert_array_equal(a, b)
