"""The fused CPU training step (expressivity.kernels.step) against the unfused path.

The unfused path is ``Network.loss_and_grad_encoded`` (kernels + gradients.py +
heads.py, itself checked by finite differences in test_gradients.py) followed
by ``optim.Adam`` / ``optim.SGD``. The fused step sums over lanes and steps in
another order, so the comparison is to a relative 1e-12 in float64 and a few
ULPs of the carrier (1e-5 relative) in float32; narrow formats are rounded
after every operation and agree to their own ULP.
"""

import numpy as np
import pytest

import expressivity as ex
import expressivity.kernels.step as ks
from expressivity.languages import get_language
from expressivity.protocols import get_protocol, targets_for
from expressivity.training import TrainConfig
from expressivity.training.backends import CpuBackend, from_flat
from expressivity.training.optim import make_optimizer

CELLS = ex.list_cells()
LANG = get_language("anbn")
PROTOCOLS = ["weiss2018", "recognition", "suzgun2019"]
TOL = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-3, "bfloat16": 2e-2}


def _setup(cell, protocol, precision, embedding=None, H=3, seed=0, **cfg):
    proto = get_protocol(protocol)
    data = proto.training_data(LANG, np.random.default_rng(seed), 0, 4)
    net = ex.Network.create(cell, "ab", H, head=proto.head, precision=precision,
                            embedding_size=embedding, rng=np.random.default_rng(seed + 1))  # fmt: skip
    # a non-zero initial state: its gradient is exercised too
    net = net.with_params(dict(net.source_params, h0=np.full(H, 0.1)))
    be = CpuBackend([net], [data], [TrainConfig(**cfg)])
    return net, data, be


def _close(a, b, tol):
    scale = max(1.0, float(np.abs(b).max()))
    return float(np.abs(a - b).max()) <= tol * scale


def _step_equals_unfused(net, data, be, words, tol):
    """One fused step on ``words``: its loss and gradient equal the unfused path's."""
    loss, status = _one_step(be, words)
    assert status == 0
    want_loss, want = net.loss_and_grad_encoded(
        data.symbols[words], data.lengths[words], targets_for(net.head, data)[words]
    )
    got = from_flat(net, be.scratch[12][0].astype(np.float64))
    assert abs(loss - want_loss) <= tol * max(1.0, abs(want_loss))
    assert got.keys() == want.keys()
    for k in want:
        assert _close(got[k], want[k], tol), k
    return got


def _one_step(be, words):
    B = be.cfgs[0].batch_size
    idx = np.full((1, 1, B), -1)
    idx[0, 0, : len(words)] = words
    loss, status = be.steps(idx, np.array([[len(words)]]), np.ones(1, dtype=bool))
    return float(loss[0, 0]), int(status[0, 0])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3, 7])  # below FUSED_MAX_BATCH: the fused step (H = 3)
def test_fused_gradients_equal_the_unfused_path(cell, batch):
    i = CELLS.index(cell) + batch
    protocol, precision = PROTOCOLS[i % 3], ["float64", "float32"][i % 2]
    embedding = [None, 2][(i // 2) % 2]
    net, data, be = _setup(cell, protocol, precision, embedding, batch_size=batch)
    words = np.arange(min(batch, len(data)))[::-1]  # the last batch may be short
    words = words[: max(1, batch - 1)] if batch > 1 else words
    got = _step_equals_unfused(net, data, be, words, TOL[precision])
    assert any(np.abs(g).max() > 0 for g in got.values())


@pytest.fixture
def one_thread():
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.mark.parametrize("cell, precision, protocol, embedding", [
    ("lstm", "float64", "weiss2018", None), ("gru", "float32", "weiss2018", 2),
    ("gru-reset-after", "float64", "recognition", None), ("mgu", "float32", "suzgun2019", 3),
    ("elman-tanh", "float16", "weiss2018", None), ("lstm", "float32", "recognition", 2)])  # fmt: skip
def test_fused_blas_gradients_equal_the_unfused_path(cell, precision, protocol, embedding,
                                                    one_thread):  # fmt: skip
    # one thread, 10 lanes and H = 16: the fused step's sums are BLAS products
    from expressivity.kernels.reduce import BLAS_MIN_ENTRIES

    H, batch = 16, 10
    assert batch >= ks.FUSED_BLAS_LANES and H * H >= BLAS_MIN_ENTRIES and ks.fused(batch, H)
    proto = get_protocol(protocol)
    data = proto.training_data(LANG, np.random.default_rng(0), 0, 12)
    net = ex.Network.create(cell, "ab", H, head=proto.head, precision=precision,
                            embedding_size=embedding, rng=np.random.default_rng(4))  # fmt: skip
    be = CpuBackend([net], [data], [TrainConfig(batch_size=batch)])
    assert be.fused
    words = np.array([9, 0, 3, 12, 5, 7, 1, 11, 2])  # a short batch: the last lane is padding
    got = _step_equals_unfused(net, data, be, words, TOL[precision])
    assert np.abs(got[[k for k in got if k.startswith("U_")][0]]).max() > 0


@pytest.mark.parametrize("precision", ["float16", "bfloat16", "fixed4.12"])
def test_fused_gradients_in_narrow_formats(precision):
    net, data, be = _setup("lstm", "weiss2018", precision, batch_size=2)
    loss, status = _one_step(be, [1, 4])
    want_loss, want = net.loss_and_grad_encoded(
        data.symbols[[1, 4]], data.lengths[[1, 4]], data.next_symbol[[1, 4]]
    )
    got = from_flat(net, be.scratch[12][0].astype(np.float64))
    tol = TOL.get(precision, 2e-3)
    for k in want:
        assert _close(got[k], want[k], tol), k


@pytest.mark.parametrize("optimizer,momentum,clip", [("adam", 0.0, None), ("sgd", 0.0, None),
                                                     ("sgd", 0.9, 0.01), ("adam", 0.0, 0.01)])  # fmt: skip
@pytest.mark.parametrize("unfused", [False, True])
def test_update_equals_the_optimizer_classes(optimizer, momentum, clip, unfused, monkeypatch):
    """Three updates: masters equal optim.Adam / SGD (with clipping) on the same gradients,
    on the fused path and on the unfused one (the trainer's path for large batches)."""
    import expressivity.kernels.step as ks

    if unfused:
        monkeypatch.setattr(ks, "FUSED_MAX_BATCH", 0)
        monkeypatch.setattr(ks, "FUSED_MAX_WORK", 0)
        monkeypatch.setattr(ks, "FUSED_BLAS_MAX_BATCH", 0)
    net, data, be = _setup("gru", "weiss2018", "float64", batch_size=2, optimizer=optimizer,
                           lr=0.05, momentum=momentum, clip=clip, embedding=2)  # fmt: skip
    assert be.fused is not unfused
    from expressivity.training.optim import clip_by_global_norm

    opt = make_optimizer(optimizer, 0.05, momentum=momentum)
    master = {k: v.copy() for k, v in net.source_params.items()}
    cur = net
    for words in ([0, 1], [2, 3], [4]):
        _one_step(be, words)
        _, g = cur.loss_and_grad_encoded(
            data.symbols[words], data.lengths[words], data.next_symbol[words]
        )
        if clip is not None:
            g, _ = clip_by_global_norm(g, clip)
        opt.step(master, g)
        cur = cur.with_params(master)
        got = be.master(0)
        for k in master:
            assert _close(got[k], master[k], 1e-12), k


def test_k_steps_in_one_call_equal_k_calls():
    _, data, a = _setup("lstm", "weiss2018", "float32", batch_size=1)
    _, _, b = _setup("lstm", "weiss2018", "float32", batch_size=1)
    order = np.array([3, 0, 4, 1])
    la, _ = a.steps(order.reshape(4, 1, 1), np.ones((4, 1), np.int64), np.ones(1, bool))
    lb = [b.steps(np.array([[[i]]]), np.ones((1, 1), np.int64), np.ones(1, bool))[0][0, 0]
          for i in order]  # fmt: skip
    assert np.array_equal(la[:, 0], lb)
    assert np.array_equal(a.model[1], b.model[1])


def test_a_non_finite_loss_stops_that_network_only():
    _, data, be = _setup("elman-relu", "weiss2018", "float16", batch_size=1, lr=1e30)
    K = 6
    loss, status = be.steps(np.zeros((K, 1, 1), np.int64) + 2, np.ones((K, 1), np.int64),
                            np.ones(1, bool))  # fmt: skip
    first = np.flatnonzero(status[:, 0])
    assert first.size == 1  # after the first failure the network takes no further step
    assert int(be.opt[1][0]) == first[0] + (status[first[0], 0] == 3)
