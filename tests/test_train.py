"""Trainer: learning a^n b^n, determinism, checkpoints and resume, divergence, bad input."""

import numpy as np
import pytest

import expressivity as ex
from expressivity.languages import get_language
from expressivity.protocols import get_protocol
from expressivity.training import (
    CheckpointError,
    TrainConfig,
    TrainingDiverged,
    dataset_accuracy,
    train,
)

LANG = get_language("anbn")
PROTO = get_protocol("weiss2018")


def _setup(hi=8, seed=0, cell="lstm", lo=1, hidden=6):
    data = PROTO.training_data(LANG, np.random.default_rng(0), lo, hi)
    val = PROTO.validation_data(LANG, np.random.default_rng(0), lo, hi)
    net = ex.Network.create(cell, "ab", hidden, head="next-symbol", embedding_size=3,
                            rng=np.random.default_rng(seed), threshold=0.005)  # fmt: skip
    return net, data, val


def test_lstm_learns_anbn_on_most_seeds():
    wins = 0
    for seed in range(4):
        net, data, val = _setup(hi=10, seed=seed, hidden=10)
        cfg = TrainConfig(lr=0.02, epochs=150, target_accuracy=1.0, eval_every=5, clip=5.0)
        res = train(net, data, np.random.default_rng(100 + seed), cfg, validation=val)
        acc = dataset_accuracy(res.net, val)
        wins += acc == 1.0
        assert res.stopped == ("target_accuracy" if acc == 1.0 else "epochs")
    assert wins >= 3


def test_deterministic_given_rng():
    net, data, _ = _setup(hi=4)
    cfg = TrainConfig(epochs=2, batch_size=2, optimizer="sgd", lr=0.1, momentum=0.5)
    a = train(net, data, np.random.default_rng(5), cfg).net.source_params
    b = train(net, data, np.random.default_rng(5), cfg).net.source_params
    c = train(net, data, np.random.default_rng(6), cfg).net.source_params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_interrupted_run_resumes_to_same_result(tmp_path):
    net, data, val = _setup(hi=4)
    cfg = TrainConfig(epochs=6, eval_every=2, checkpoint_every=2)
    full = train(net, data, np.random.default_rng(3), cfg, validation=val)
    ck = tmp_path / "run.npz"

    # interrupt during epoch 4 (after the epoch-2 checkpoint), then resume with a fresh rng
    class Stop(Exception):
        pass

    def stop_at_4(rec):
        if rec["epoch"] == 4:
            raise Stop

    with pytest.raises(Stop):
        train(net, data, np.random.default_rng(3), cfg, validation=val, checkpoint=ck,
              progress=stop_at_4)  # fmt: skip
    assert ck.exists()
    resumed = train(net, data, np.random.default_rng(999), cfg, validation=val, checkpoint=ck)
    assert resumed.resumed_from == 2
    assert resumed.updates == full.updates
    a, b = full.net.source_params, resumed.net.source_params
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_divergence_stops_and_keeps_checkpoint(tmp_path):
    net, data, _ = _setup(hi=6, cell="elman-relu")
    ck = tmp_path / "c.npz"
    cfg = TrainConfig(optimizer="sgd", lr=1e6, epochs=50, checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match="NaN or infinite") as info:
        train(net, data, np.random.default_rng(0), cfg, checkpoint=ck)
    assert "epoch" in str(info.value)
    if info.value.checkpoint is not None:  # diverged after epoch 1: the last good one is kept
        assert ck.exists() and "last good checkpoint" in str(info.value)


def test_corrupt_checkpoint_is_reported_not_overwritten(tmp_path):
    net, data, _ = _setup(hi=3)
    ck = tmp_path / "c.npz"
    ck.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(net, data, np.random.default_rng(0), TrainConfig(epochs=1), checkpoint=ck)
    assert ck.read_bytes() == b"not a zip file"


def test_checkpoint_of_another_config_is_refused(tmp_path):
    net, data, _ = _setup(hi=3)
    ck = tmp_path / "c.npz"
    train(net, data, np.random.default_rng(0), TrainConfig(epochs=1), checkpoint=ck)
    with pytest.raises(CheckpointError, match="config.lr"):
        train(net, data, np.random.default_rng(0), TrainConfig(epochs=1, lr=0.5), checkpoint=ck)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"lr": -1.0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"epochs": 1.5}, "epochs"),
     ({"optimizer": "rmsprop"}, "optimizer"), ({"target_accuracy": 2.0}, "target_accuracy"),
     ({"checkpoint_seconds": -1.0}, "checkpoint_seconds"),
     ({"checkpoint_seconds": "5"}, "checkpoint_seconds")],
)  # fmt: skip
def test_bad_config_names_field(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("protocol", ["suzgun2019", "recognition"])
def test_other_protocols_train(protocol):
    p = get_protocol(protocol)
    lang = get_language("dyck-1")
    data = p.training_data(lang, np.random.default_rng(0), 0, 6, per_value=4)
    net = ex.Network.create("gru", lang.alphabet, 4, head=p.head, rng=np.random.default_rng(0))
    res = train(net, data, np.random.default_rng(1), TrainConfig(epochs=2, batch_size=8, lr=0.01))
    assert res.updates > 0 and np.isfinite(res.history[-1]["loss"])
    ev = p.evaluate(res.net, lang, np.random.default_rng(2), 6, 12)
    assert ev.curves["length"].tolist() == list(range(13))


@pytest.mark.parametrize("seconds, written_before_end", [(None, True), (1e9, False)])
def test_checkpoint_seconds_limits_writes(tmp_path, seconds, written_before_end):
    net, data, _ = _setup(hi=3)
    ck = tmp_path / "c.npz"
    cfg = TrainConfig(epochs=4, checkpoint_every=1, checkpoint_seconds=seconds)
    seen = []
    res = train(net, data, np.random.default_rng(0), cfg, checkpoint=ck,
                progress=lambda rec: seen.append(ck.exists()))  # fmt: skip
    # progress runs before the epoch's checkpoint: epoch 2 sees epoch 1's file
    assert seen[1:] == [written_before_end] * 3
    assert ck.exists()  # the final checkpoint is written either way
    again = train(net, data, np.random.default_rng(7), cfg, checkpoint=ck)
    assert again.resumed_from == 4 and again.stopped == res.stopped


@pytest.mark.parametrize("protocol, language", [("weiss2018", "anbn"), ("recognition", "dyck-1"),
                                                ("suzgun2019", "dyck-1")])  # fmt: skip
def test_validation_on_codes_equals_validation_on_words(protocol, language):
    from expressivity.protocols import targets_for
    from expressivity.training.records import dataset_loss

    p, lang = get_protocol(protocol), get_language(language)
    val = p.validation_data(lang, np.random.default_rng(0), 0, 6)
    net = ex.Network.create("gru", lang.alphabet, 4, head=p.head, rng=np.random.default_rng(3))
    words = val.words
    by_word = net.accepts(words) == val.labels
    if p.head != "next-set":
        assert dataset_accuracy(net, val) == pytest.approx(by_word.mean())
    pos = val if p.head == "accept" else val[val.labels]
    loss, _ = net.loss_and_grad_encoded(pos.symbols, pos.lengths, targets_for(p.head, pos))
    assert dataset_loss(net, val) == pytest.approx(loss, rel=1e-12)
    empty = val[np.zeros(len(val), dtype=bool)]
    assert np.isnan(dataset_loss(net, empty)) and np.isnan(dataset_accuracy(net, empty))
