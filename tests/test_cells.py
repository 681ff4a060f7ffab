"""Kernels against the slow reference, for every cell of the registry."""

import numpy as np
import pytest
import reference as ref

import expressivity as ex
from expressivity.cells import UPDATE_EQUATIONS, get_cell

CELLS = ex.list_cells()
WORDS = ["", "a", "b", "abba", "bbbbaaab", "ab" * 9, "aaaaaaaaaaaaaaaaaaaaaaaaab"]


def _net(cell, precision, head="next-symbol", H=5, embedding=False, seed=1):
    net = ex.Network.create(
        cell, "ab", H, head=head, precision=precision, rng=np.random.default_rng(seed),
        embedding_size=3 if embedding else None,
    )  # fmt: skip
    # non-zero initial state, larger weights: exercise every term
    r = np.random.default_rng(seed + 100)
    src = {k: 1.5 * v + 0.2 * r.standard_normal(v.shape) for k, v in net.source_params.items()}
    return net.with_params(src)


def test_registry_has_every_cell_of_the_design():
    design = {"lstm", "gru", "gru-reset-after", "gru1", "gru2", "gru3", "mgu", "mgu1", "mgu2",
              "mgu3", "elman-tanh", "elman-relu"}  # fmt: skip
    assert design <= set(CELLS)


@pytest.mark.parametrize("cell", CELLS)
def test_parameter_names_follow_cells_md(cell):
    shapes = get_cell(cell).param_shapes(hidden_size=4, input_size=3)
    if cell in ("gru2", "mgu2"):
        assert not any(k.startswith("b_") and k != "b_h" for k in shapes)
    if cell in ("gru1", "gru2", "gru3", "mgu1", "mgu2", "mgu3"):
        gate = "z" if cell.startswith("gru") else "f"
        assert f"W_{gate}" not in shapes and "W_h" in shapes
    if cell in ("gru3", "mgu3"):
        assert not any(k.startswith("U_") and k != "U_h" for k in shapes)
    if cell == "gru-reset-after":
        assert shapes["d_h"] == (4,)
    if cell == "lstm":
        assert {"W_i", "W_f", "W_o", "W_c", "c0"} <= set(shapes)
    assert shapes["h0"] == (4,)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("precision", ["float64", "float32", "float16", "bfloat16", "fixed6.10"])
def test_states_equal_reference(cell, precision):
    net = _net(cell, precision, embedding=cell in ("lstm", "gru", "mgu"))
    got = net.states(WORDS)
    for w, s in zip(WORDS, got):
        want = ref.states(cell, net.params, "ab", w, net.precision)
        assert s.dtype == net.precision.carrier
        assert s.shape == (len(w) + 1, net.state_size)
        if precision == "float64":
            np.testing.assert_allclose(s, want, rtol=0, atol=1e-12)
        # same operation order: bit for bit (as values: -0.0 == 0.0)
        np.testing.assert_array_equal(s, want)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_single_lane_chunks_equal_reference(cell, precision):
    """Chunks of one lane multiply by the transposed matrices (kernels.cpu._mv): same order."""
    net = _net(cell, precision)
    batch, traj = net.run(*net.encode(WORDS), width=1)
    got = net._per_word(batch, traj["states"], 1)
    for w, s in zip(WORDS, got):
        np.testing.assert_array_equal(s, ref.states(cell, net.params, "ab", w, net.precision))


@pytest.mark.parametrize("cell", CELLS)
def test_batched_padded_and_stepped_agree(cell):
    net = _net(cell, "float32")
    alone = [net.states([w])[0] for w in WORDS]
    batched = net.states(WORDS + ["b" * 40])[: len(WORDS)]  # a long word pads the others
    for a, b in zip(alone, batched):
        np.testing.assert_array_equal(a, b)
    # one symbol per call through `step`
    codes, lengths = net.encode(WORDS)
    s = np.repeat(net.initial_state()[None], len(WORDS), axis=0)
    for t in range(codes.shape[1]):
        live = lengths > t
        s[live] = net.step(s[live], codes[live, t])
        for n in np.flatnonzero(live):
            np.testing.assert_array_equal(s[n], alone[n][t + 1])


@pytest.mark.parametrize("threads", [1, 2])
def test_large_batch_matches_small(rng, threads):
    # 300 words: at one thread, chunks of 256 lanes (batching.FORWARD_MAX_WIDTH) and 44
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        net = _net("lstm", "float32")
        words = ["".join(rng.choice(list("ab"), size=rng.integers(0, 30))) for _ in range(300)]
        big = net.states(words)
        for k in rng.choice(len(words), size=10, replace=False):
            np.testing.assert_array_equal(big[k], net.states([words[k]])[0])
        sym, lens = net.encode(words)
        batch, traj = net.run(sym, lens, width=16)  # narrow chunks: the same states, bit for bit
        narrow = batch.per_word(traj["states"], 1)
        assert all(np.array_equal(a, b) for a, b in zip(big, narrow))
    finally:
        numba.set_num_threads(before)


def _sympy_step(cell, p, x, H):
    """h' (and c') as sympy expressions of symbolic h (and c), from the cell spec."""
    import sympy as sp

    spec = get_cell(cell)
    h = sp.Matrix(sp.symbols(f"h0:{H}"))
    c = sp.Matrix(sp.symbols(f"c0:{H}")) if spec.has_cell_state else None
    act = {
        "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
        "tanh": sp.tanh,
        "relu": lambda a: sp.Max(a, 0),
    }
    val = {}
    for g in spec.gates:
        pre = sp.zeros(H, 1)
        if g.W:
            pre += sp.Matrix(p[f"W_{g.name}"]) * sp.Matrix(x)
        if g.b:
            pre += sp.Matrix(p[f"b_{g.name}"])
        if g.reset_after:
            u = sp.Matrix(p[f"U_{g.name}"]) * h + sp.Matrix(p[f"d_{g.name}"])
            pre += val[g.reset].multiply_elementwise(u)
        elif g.U:
            hin = h if g.reset is None else val[g.reset].multiply_elementwise(h)
            pre += sp.Matrix(p[f"U_{g.name}"]) * hin
        val[g.name] = pre.applyfunc(act[g.act])
    names = {"hh": val[spec.candidate], "h": h, "c": c}
    if spec.update == "lstm":
        names.update(i=val["i"], f=val["f"], o=val["o"], g=val["c"])
    elif spec.update_gate:
        names["z"] = val[spec.update_gate]
    eqs = UPDATE_EQUATIONS[spec.update]
    out = {}
    for lhs, rhs in eqs.items():
        expr = sp.sympify(
            rhs, locals={k: sp.Symbol(k) for k in ("i", "f", "o", "g", "z", "hh", "h", "c")}
        )
        out[lhs] = sp.Matrix(
            [expr.subs({sp.Symbol(k): v[j] for k, v in names.items() if v is not None})
             for j in range(H)]
        )  # fmt: skip
    return h, c, out


@pytest.mark.parametrize("cell", CELLS)
def test_backward_matches_sympy_jacobian(cell):
    """d h'/d h (and c) of one step: kernel backward vs. sympy's derivative of the spec."""
    import sympy as sp

    H = 2
    net = _net(cell, "float64", H=H, seed=3)
    p = net.params
    x = np.array([0.0, 1.0])  # symbol "b"
    h, c, out = _sympy_step(cell, p, x, H)
    s0 = np.random.default_rng(4).uniform(-0.8, 0.8, size=net.state_size)
    subs = {h[j]: s0[j] for j in range(H)}
    if c is not None:
        subs.update({c[j]: s0[H + j] for j in range(H)})
    variables = list(h) + (list(c) if c is not None else [])
    J = np.array(sp.Matrix(out["h'"]).jacobian(variables).subs(subs).evalf(), dtype=float)
    # kernel: gradient of h'_k with respect to the initial state
    for k in range(H):
        unit = np.zeros(H)
        unit[k] = 1.0
        batch, traj = net.run(np.array([[1]]), np.array([1]), state0=s0[None])
        traj_grad = _dstate0(net, batch, traj, unit)
        np.testing.assert_allclose(traj_grad, J[k], rtol=1e-9, atol=1e-12)


def _dstate0(net, batch, traj, dh_last):
    from expressivity.kernels.cpu import backward

    states, gates, aux = traj["states"], traj["gates"], traj["aux"]
    C, T1, S, L = states.shape
    dh_ext = np.zeros((C, T1, net.hidden_size, L))
    dh_ext[0, 1, :, 0] = dh_last
    dpre = np.zeros((C, T1 - 1, len(net.spec.gates), net.hidden_size, L))
    daux = np.zeros((C, T1 - 1, net.hidden_size, L))
    d0 = np.zeros((C, S, L))
    backward(batch.lengths, net._packed["U"], net._cfg, net._prec_code, states, gates,
                    aux, dh_ext, dpre, daux, d0)  # fmt: skip
    return d0[0, :, 0]
