"""The batched end-of-epoch evaluation (expressivity.training.evaluation) equals the
network-by-network one bit for bit: every word's acceptance equals
``Network.accepts_encoded``, every accuracy ``dataset_accuracy``, and a population
trains to the same histories with it as without it. No timings here (bench/)."""

import math

import numpy as np
import pytest

import expressivity as ex
from expressivity.languages import Dataset, get_language
from expressivity.protocols import get_protocol
from expressivity.training import TrainConfig, train_population
from expressivity.training import population as population_module
from expressivity.training.evaluation import (
    LANES_MIN,
    EvalPlan,
    Evaluator,
    population_accuracy,
    rounded_weights,
    supported,
)
from expressivity.training.records import dataset_accuracy, dataset_loss

CELLS = ["lstm", "gru", "gru-reset-after", "gru-no-reset", "mgu", "elman-tanh", "elman-relu"]


def _words(rng, alphabet, n, most):
    """Ragged words (the empty word and repeats included)."""
    words = ["", alphabet[0]] + ["".join(rng.choice(list(alphabet), size=rng.integers(0, most + 1)))
                                for _ in range(n - 3)]  # fmt: skip
    return words + [words[-1]]


def _dataset(rng, alphabet, n=24, most=9):
    lang = get_language("anbn") if alphabet == "ab" else get_language("dyck-1")
    words = _words(rng, alphabet, n, most)
    ds = Dataset.from_words(lang, words)
    ds.labels[:] = rng.random(len(ds)) < 0.5  # any labels: accuracy counts agreement
    return ds


def _nets(cell, alphabet, head, precision, P, seed, embedding=None):
    rng = np.random.default_rng(seed)
    nets = []
    for _ in range(P):
        # thresholds near the probabilities random networks give, so that words differ
        thr = float(rng.uniform(0.2, 0.4)) if head == "next-symbol" else 0.5
        net = ex.Network.create(cell, alphabet, 4, head=head, precision=precision,
                                rng=rng, embedding_size=embedding, threshold=thr)  # fmt: skip
        scaled = {k: v * 3.0 for k, v in net.source_params.items()}  # wider spread of outputs
        nets.append(net.with_params(scaled))
    return nets


def _check(nets, datasets):
    ev = Evaluator(nets[0])
    weights = rounded_weights(nets[0], [n.source_params for n in nets])
    for p, net in enumerate(nets):  # as the network packs its own weights
        mine = rounded_weights(net)
        for a, b in zip(weights, mine):
            assert a.dtype == b.dtype == net.precision.carrier and np.array_equal(a[p], b[0])
        assert np.array_equal(weights[0][p], net._packed["XW"])
    got = ev.accepts(weights, [n.threshold for n in nets], datasets)
    for net, ds, acc in zip(nets, datasets, got):
        want = net.accepts_encoded(ds.symbols, ds.lengths)
        assert acc.dtype == np.bool_ and np.array_equal(acc, want), (net, acc, want)
    assert population_accuracy(nets, datasets) == [dataset_accuracy(n, d)
                                                   for n, d in zip(nets, datasets)]  # fmt: skip
    scores = ev.scores(weights, [n.threshold for n in nets], datasets, [True] * len(nets))
    for net, ds, (acc, loss) in zip(nets, datasets, scores):
        want = dataset_loss(net, ds)  # bit for bit: the same terms, summed in the same order
        assert acc == dataset_accuracy(net, ds)
        assert loss == want or (math.isnan(loss) and math.isnan(want)), (net, loss, want)
    return got


@pytest.mark.parametrize("head", ["next-symbol", "accept"])
@pytest.mark.parametrize("P", [2, LANES_MIN + 1])
def test_every_cell_equals_accepts_encoded(head, P):
    rng = np.random.default_rng(0)
    ds = _dataset(rng, "ab")
    other = _dataset(rng, "ab", n=13, most=14)  # a second dataset: grouped apart
    seen = set()
    for k, cell in enumerate(CELLS):
        nets = _nets(cell, "ab", head, "float32", P, seed=k)
        got = _check(nets, [ds if p % 3 else other for p in range(P)])
        seen |= {bool(a.any()) for a in got} | {bool((~a).any()) for a in got}
    assert seen == {True, False}  # the words are not all answered alike


@pytest.mark.parametrize(("precision", "P"), [("float16", LANES_MIN), ("float64", 1)])
def test_other_precisions_and_an_embedding(precision, P):
    """A rounded format as lanes, float64 as the chains path (each compiles its own kernels)."""
    rng = np.random.default_rng(1)
    ds = _dataset(rng, "()", n=20, most=8)
    for k, (cell, emb) in enumerate((("lstm", 3), ("gru-reset-after", None))):
        _check(_nets(cell, "()", "next-symbol", precision, P, seed=10 + k, embedding=emb), [ds] * P)
    _check(_nets("mgu", "()", "accept", precision, P, seed=20), [ds] * P)


def test_lanes_in_groups_when_memory_is_short(monkeypatch):
    """Networks as lanes in groups of 8 (the node states capped), the last group short."""
    import expressivity.training.evaluation as evaluation

    rng = np.random.default_rng(4)
    ds = _dataset(rng, "ab", n=12, most=6)
    plan = EvalPlan(ds)
    per_lane = plan.n_nodes * (8 + 3) * 4  # LSTM state 2 x 4, 3 outputs, float32
    monkeypatch.setattr(evaluation, "LANES_MAX_BYTES", per_lane * 9)
    _check(_nets("lstm", "ab", "next-symbol", "float32", 19, seed=6), [ds] * 19)


def test_plan_shares_prefixes_and_keeps_every_word():
    ds = Dataset.from_words(get_language("anbn"), ["aabb", "ab", "aab", "", "aabb", "b"])
    plan = EvalPlan(ds)
    # nodes: root, a, aa, aab, aabb, ab, b
    assert (plan.n_nodes, plan.steps, plan.n_words) == (7, 6, 6)
    parent, sym, end = plan.arrays[8], plan.arrays[9], plan.arrays[10]
    for i in range(len(ds)):  # walking up from a word's end node spells the word
        u, word = end[i], []
        while u:
            word.append(int(sym[u]))
            u = parent[u]
        assert word[::-1] == ds.symbols[i, : ds.lengths[i]].tolist()
    assert all(parent[u] < u for u in range(1, plan.n_nodes))


def test_empty_and_unsupported_datasets():
    lang = get_language("anbn")
    nets = _nets("gru", "ab", "next-symbol", "float32", 2, seed=3)
    empty = Dataset.from_words(lang, [])
    two = Dataset.from_words(lang, ["ab", "aabb"])
    out = population_accuracy(nets, [empty, two])
    assert math.isnan(out[0]) and out[1] == dataset_accuracy(nets[1], two)
    blanks = Dataset.from_words(lang, ["", ""])  # only the root: no step to run
    _check(nets, [blanks, blanks])
    one = Dataset.from_words(lang, ["ab"])
    assert not supported(nets[0], one) and supported(nets[0], two)
    with pytest.raises(ValueError, match="not supported"):
        population_accuracy(nets[:1], [one])
    with pytest.raises(ValueError, match="one of each"):
        population_accuracy(nets, [two])
    nxt = _nets("gru", "ab", "next-set", "float32", 1, seed=3)[0]
    assert not supported(nxt, two)
    with pytest.raises(ValueError, match="differs in shape"):
        population_accuracy([nets[0], nxt], [two, two])


@pytest.mark.parametrize("P", [3, LANES_MIN + 2])
def test_population_histories_unchanged(monkeypatch, P):
    """The same run with the batched evaluation and with dataset_accuracy per network."""
    lang, proto = get_language("anbn"), get_protocol("weiss2018")
    data = proto.training_data(lang, np.random.default_rng(0), 1, 8)
    val = proto.validation_data(lang, np.random.default_rng(1), 1, 10)
    cfgs = [TrainConfig(epochs=3, lr=0.05, patience=2 if p % 2 else None,
                        eval_every=1 + p % 2) for p in range(P)]  # fmt: skip

    def run():
        nets = _nets("lstm", "ab", "next-symbol", "float32", P, seed=5)
        out = train_population(nets, [data] * P, [np.random.default_rng(p) for p in range(P)],
                               cfgs, validation=[val if p % 3 else None for p in range(P)])  # fmt: skip
        return [([{k: v for k, v in r.items() if k != "seconds"} for r in o.history],
                 o.best_epoch, o.stopped) for o in out]  # fmt: skip

    batched = run()
    monkeypatch.setattr(population_module, "supported", lambda net, ds: False)
    one_by_one = run()
    assert batched == one_by_one
    accs = {r["val_accuracy"] for h, _, _ in batched for r in h if "val_accuracy" in r}
    assert len(accs) > 1


@pytest.mark.parametrize("P", [3, 2 * LANES_MIN])
def test_on_two_threads_equal_one_thread(monkeypatch, P):
    """The chains path (3 networks) and the lanes path (two blocks) on two threads."""
    import expressivity.training.evaluation as evaluation

    rng = np.random.default_rng(6)
    ds = _dataset(rng, "ab", n=10, most=6)
    nets = _nets("lstm", "ab", "next-symbol", "float32", P, seed=30)
    one = population_accuracy(nets, [ds] * P)
    monkeypatch.setattr(evaluation, "threads_for", lambda work, available=None: 2)
    assert population_accuracy(nets, [ds] * P) == one
    _check(nets, [ds] * P)
