"""Gradients of every cell and head against central finite differences (float64)."""

import numpy as np
import pytest
import reference as ref

import expressivity as ex

WORDS = ["abba", "", "bab", "aaaaab", "b"]


def _targets(head, words, rng):
    if head == "accept":
        return np.array([1, 0, 1, 0, 1][: len(words)], dtype=bool)
    if head == "next-set":
        return [rng.random((len(w) + 1, 3)) > 0.5 for w in words]
    return None


@pytest.mark.parametrize("head", ["next-symbol", "accept", "next-set"])
@pytest.mark.parametrize("cell", ex.list_cells())
def test_gradient_matches_finite_differences(cell, head):
    rng = np.random.default_rng(7)
    net = ex.Network.create(
        cell,
        "ab",
        3,
        head=head,
        precision="float64",
        rng=rng,
        embedding_size=2 if cell in ("lstm", "gru", "gru-reset-after") else None,
    )
    src = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.source_params.items()}
    net = net.with_params(src)
    tg = _targets(head, WORDS, rng)
    loss, grad = net.loss_and_grad(WORDS, tg)
    assert set(grad) == set(net.params)
    # the kernel's loss is the reference's loss
    st = [ref.states(cell, net.params, "ab", w, net.precision) for w in WORDS]
    want = np.mean([ref.loss(head, net.params, 3, "ab", w, s, net.precision,
                             None if tg is None else tg[i])
                    for i, (w, s) in enumerate(zip(WORDS, st))])  # fmt: skip
    assert loss == pytest.approx(want, rel=1e-12)
    # directional finite differences: two random directions per parameter array
    eps = 1e-6
    for k, v in src.items():
        assert grad[k].shape == v.shape and grad[k].dtype == np.float64
        for _ in range(2):
            d = rng.standard_normal(v.shape)
            up = {**src, k: v + eps * d}
            dn = {**src, k: v - eps * d}
            fd = (net.with_params(up).loss_and_grad(WORDS, tg)[0]
                  - net.with_params(dn).loss_and_grad(WORDS, tg)[0]) / (2 * eps)  # fmt: skip
            assert np.sum(grad[k] * d) == pytest.approx(fd, rel=1e-6, abs=1e-8), k


def test_float32_gradient_close_to_float64():
    rng = np.random.default_rng(3)
    net = ex.Network.create("lstm", "ab", 4, head="next-symbol", precision="float64", rng=rng)
    _, g64 = net.loss_and_grad(WORDS)
    _, g32 = net.with_precision("float32").loss_and_grad(WORDS)
    for k in g64:
        assert g32[k].dtype == np.float32
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5)


def test_padding_does_not_leak_into_gradients():
    rng = np.random.default_rng(5)
    net = ex.Network.create("gru", "ab", 3, head="next-symbol", precision="float64", rng=rng)
    l1, g1 = net.loss_and_grad(["ab"])
    l2, g2 = net.loss_and_grad(["ab", "ab" * 20])
    l3, _ = net.loss_and_grad(["ab" * 20])
    assert l2 == pytest.approx((l1 + l3) / 2, rel=1e-12)
    _, g3 = net.loss_and_grad(["ab" * 20])
    for k in g1:
        np.testing.assert_allclose(g2[k], (g1[k] + g3[k]) / 2, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru-reset-after", "gru"])
def test_gradient_at_blas_size_matches_finite_differences(cell, monkeypatch):
    # H = 16: the recurrent gradients are BLAS products (kernels.reduce.BLAS_MIN_ENTRIES)
    from expressivity.kernels import cpu
    from expressivity.kernels.reduce import BLAS_MIN_ENTRIES

    monkeypatch.setattr(cpu, "_parallel", lambda lengths, U: False)  # serial: BLAS sums

    H = 16
    assert H * H >= BLAS_MIN_ENTRIES
    rng = np.random.default_rng(11)
    net = ex.Network.create(cell, "ab", H, head="next-symbol", precision="float64", rng=rng)
    loss, grad = net.loss_and_grad(WORDS)
    src = net.source_params
    eps = 1e-6
    for k in [k for k in src if k.startswith("U_")]:
        d = rng.standard_normal(src[k].shape)
        up = net.with_params({**src, k: src[k] + eps * d}).loss_and_grad(WORDS)[0]
        dn = net.with_params({**src, k: src[k] - eps * d}).loss_and_grad(WORDS)[0]
        assert np.sum(grad[k] * d) == pytest.approx((up - dn) / (2 * eps), rel=1e-6, abs=1e-8), k


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("J, K", [(3, 5), (16, 16), (24, 8)])
def test_outer_sum_numba_and_blas_agree_with_naive(monkeypatch, dtype, J, K):
    from expressivity.kernels import reduce

    rng = np.random.default_rng(J * K)
    C, T, G, L = 3, 7, 2, 5
    lengths = rng.integers(0, T + 1, size=(C, L))
    lengths[2] = 0  # a chunk with only empty words
    a = rng.standard_normal((C, T, G, J, L)).astype(dtype)
    a *= np.arange(T)[None, :, None, None, None] < lengths[:, None, None, None, :]
    b = rng.standard_normal((C, T + 1, K, L)).astype(dtype)
    want = np.zeros((J, K))
    for c in range(C):
        for t in range(T):
            for lane in range(L):
                if t < lengths[c].max():
                    want += np.outer(a[c, t, 1, :, lane], b[c, t, :, lane])
    got = {}
    for name, limit in (("numba", 10**9), ("blas", 0)):
        monkeypatch.setattr(reduce, "BLAS_MIN_ENTRIES", limit)
        for par in (False, True):
            out = reduce.outer_sum(a, 1, b, lengths, par)
            assert out.dtype == dtype and out.shape == (J, K)
            got[name, par] = out
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for out in got.values():
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.abs(want).max())
