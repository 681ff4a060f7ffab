"""Networks as SIMD lanes (kernels/lanes.py): a population equals each network alone.

The CPU backend trains populations of one-word-per-update networks as lanes.
Every network must come out exactly as :func:`expressivity.training.train`
leaves it alone (its own fused step): weights, per-epoch losses, update
counts, bit for bit, for every cell, head, optimizer and embedding, with
ragged word lengths, populations that are not a multiple of the SIMD width or
of the tile, tiles on two threads, and a diverging network among them.
Sizes are tiny. The kernel trains float32 networks only (compiled once); other
precisions keep the one-network step.
"""

import numpy as np
import pytest

import expressivity as ex
from expressivity.kernels import lanes
from expressivity.kernels.lanes import TILE, tile_bounds, train_lanes
from expressivity.languages import get_language
from expressivity.precision import parse_precision
from expressivity.protocols import get_protocol
from expressivity.training import TrainConfig, TrainingDiverged, train
from expressivity.training.backends import CpuBackend
from expressivity.training.population import train_population

LANG = get_language("anbn")
PROTOCOL = {"next-symbol": "weiss2018", "accept": "recognition", "next-set": "suzgun2019"}


def _setup(cell, head="next-symbol", precision="float32", P=3, H=3, E=None, lr=0.02):
    proto = get_protocol(PROTOCOL[head])
    # ragged: each network has its own range of word lengths
    data = [proto.training_data(LANG, np.random.default_rng(s), 0, 2 + s % 3) for s in range(P)]
    nets = [ex.Network.create(cell, "ab", H, head=head, precision=precision, embedding_size=E,
                              rng=np.random.default_rng(100 + s)) for s in range(P)]  # fmt: skip
    cfgs = [TrainConfig(lr=lr * (1 + s % 4), epochs=2, clip=0.3 if s % 2 else None)
            for s in range(P)]  # fmt: skip
    return nets, data, cfgs


@pytest.fixture(autouse=True)
def _lanes_from_two(monkeypatch):
    """Small populations run as lanes here (by default only from MIN_LANES networks and
    up to MAX_HIDDEN units)."""
    monkeypatch.setattr(lanes, "MIN_LANES", 2)
    monkeypatch.setattr(lanes, "MAX_HIDDEN", 64)


def _rngs(P):
    return [np.random.default_rng(10 + p) for p in range(P)]


def _assert_same(alone, together):
    for p, (a, b) in enumerate(zip(alone, together)):
        assert (a.updates, a.epochs_run, a.stopped) == (b.updates, b.epochs_run, b.stopped), p
        assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history], p
        for k, v in a.net.source_params.items():
            w = b.net.source_params[k]
            assert v.dtype == w.dtype and np.array_equal(v, w), (p, k)


def _check(nets, data, cfgs):
    be = CpuBackend(nets, data, cfgs)
    assert be.lanes  # the population really runs as lanes
    alone = [train(n, d, r, c) for n, d, r, c in zip(nets, data, _rngs(len(nets)), cfgs)]
    together = train_population(nets, data, _rngs(len(nets)), cfgs)
    _assert_same(alone, together)


@pytest.mark.parametrize("cell", ex.list_cells())
def test_every_cell_equals_training_alone_bit_for_bit(cell):
    _check(*_setup(cell))


@pytest.mark.parametrize("head", ["accept", "next-set"])
@pytest.mark.parametrize("cell", ["lstm", "gru-reset-after"])
def test_every_head_equals_training_alone(cell, head):
    _check(*_setup(cell, head))


@pytest.mark.parametrize("precision", ["float64", "float16", "fixed4.12"])
def test_other_precisions_keep_the_one_network_step(precision):
    nets, data, cfgs = _setup("gru", precision=precision)
    assert not CpuBackend(nets, data, cfgs).lanes


def test_the_kernel_refuses_an_emulated_format():
    nets, data, cfgs = _setup("gru", P=2, H=2)
    be = CpuBackend(nets, data, cfgs)
    res = (np.zeros((1, 2)), np.zeros((1, 2), dtype=np.int8))
    with pytest.raises(ValueError, match="float32 networks only"):
        train_lanes(be.dims, (*be.lane_model, be.model[4]), (*be.opt, np.ones(2, np.int8)),
                    (np.zeros((1, 2), np.int64), *be.resident), res, be.cfg,
                    parse_precision("float16").code)  # fmt: skip


def test_an_embedding_equals_training_alone():
    _check(*_setup("lstm", E=2))


def test_sgd_with_momentum_equals_training_alone():
    nets, data, _ = _setup("gru", P=2)
    cfgs = [TrainConfig(optimizer="sgd", lr=0.1, momentum=m, epochs=2) for m in (0.0, 0.9)]
    _check(nets, data, cfgs)


@pytest.mark.parametrize(("cell", "E"), [("lstm", 3), ("gru", None), ("gru-reset-after", None)])
def test_several_vectors_of_lanes_and_units_equal_training_alone(cell, E):
    """19 networks: three 8-lane vectors, the last one partly padding, re-sorted by word
    length at every update; 6 units: a block of four rows and a remainder in the products."""
    _check(*_setup(cell, P=19, H=6, E=E))


def test_populations_across_tiles_and_not_a_multiple_of_the_simd_width(monkeypatch):
    monkeypatch.setattr(lanes, "TILE", 8)  # 11 networks: two uneven tiles, 6 and 5 lanes
    assert tile_bounds(11, lanes.TILE, 1).tolist() == [0, 6, 11]
    assert tile_bounds(2 * TILE + 1, TILE, 1).shape == (4,)
    _check(*_setup("gru", P=11, H=2))


def test_a_diverging_network_stops_and_the_others_go_on():
    nets, data, cfgs = _setup("lstm", P=4)
    cfgs[2] = TrainConfig(lr=1e38, epochs=2)  # its weights overflow after one update
    out = train_population(nets, data, _rngs(4), cfgs)
    assert isinstance(out[2], TrainingDiverged)
    with pytest.raises(TrainingDiverged) as alone_err:
        train(nets[2], data[2], _rngs(4)[2], cfgs[2])
    assert (out[2].epoch, out[2].update) == (alone_err.value.epoch, alone_err.value.update)
    keep = [0, 1, 3]
    alone = [train(nets[p], data[p], _rngs(4)[p], cfgs[p]) for p in keep]
    _assert_same(alone, [out[p] for p in keep])


def _kernel_inputs(P, threads):
    """A population's arrays straight from the backend, for direct kernel calls."""
    nets, data, cfgs = _setup("lstm", P=P, H=2)
    be = CpuBackend(nets, data, cfgs)
    K = 3
    idx = np.stack([np.arange(K) % len(d) for d in data], axis=1).astype(np.int64)
    model = (*(a.copy() for a in be.lane_model), be.model[4])
    opt = (be.opt[0], be.opt[1].copy(), np.ones(P, dtype=np.int8))
    result = (np.zeros((K, P)), np.zeros((K, P), dtype=np.int8))
    train_lanes(be.dims, model, opt, (idx, *be.resident), result, be.cfg, be.prec, threads=threads)
    return model, opt[1], result


def test_tiles_on_two_threads_equal_one_thread():
    a = _kernel_inputs(9, 1)
    b = _kernel_inputs(9, 2)  # two tiles of 4 and 5 lanes, each on its own thread
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[2][0], b[2][0])
    assert a[0][0].dtype == np.float32 and (a[1] == 3).all()


def test_bad_shapes_are_rejected_with_the_name_of_the_array():
    nets, data, cfgs = _setup("gru", P=2, H=2)
    be = CpuBackend(nets, data, cfgs)
    model = (*be.lane_model[:1], be.lane_model[1][:, :1], *be.lane_model[2:], be.model[4])
    res = (np.zeros((1, 2)), np.zeros((1, 2), dtype=np.int8))
    with pytest.raises(ValueError, match="master"):
        train_lanes(be.dims, model, (*be.opt, np.ones(2, np.int8)),
                    (np.zeros((1, 2), np.int64), *be.resident), res, be.cfg, be.prec)  # fmt: skip
