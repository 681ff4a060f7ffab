"""The training package in one direction: trainer -> population -> backends -> records.

Read from the sources with ``ast`` (no training runs): no module imports a private
name of a training module, and no training module imports one above it. Also: the
old import paths still work, and the shared bookkeeping keeps its checkpoint format.
"""

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest

import expressivity as ex
import expressivity.training as training
from expressivity.training import CheckpointError, TrainConfig, TrainingDiverged, TrainResult
from expressivity.training.records import EpochBook, net_meta, resume_run, save_run

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "expressivity"
TRAINING = PKG / "training"
# module -> the training modules it must not import (directly or inside a function)
BELOW = {
    "records": {"trainer", "population", "backends"},
    "backends": {"trainer", "population"},
    "population": {"trainer"},
}


def _imports(path: Path):
    """(module, names) for every ``import`` and ``from ... import`` in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def _sources():
    for folder in (PKG, ROOT / "tests", ROOT / "bench"):
        yield from sorted(folder.rglob("*.py"))


def test_no_private_names_imported_from_training_modules():
    found = []
    for path in _sources():
        for module, names in _imports(path):
            if module.startswith("expressivity.training"):
                found += [f"{path.relative_to(ROOT)}: {module}.{n}" for n in names
                          if n.startswith("_")]  # fmt: skip
    assert not found, f"private training names imported: {found}"


@pytest.mark.parametrize("name", sorted(BELOW))
def test_training_imports_point_one_way(name):
    seen = {m.rsplit(".", 1)[-1] for m, _ in _imports(TRAINING / f"{name}.py")
            if m.startswith("expressivity.training.")}  # fmt: skip
    # ``from expressivity.training import x`` would load the whole package, trainer included
    plain = [m for m, _ in _imports(TRAINING / f"{name}.py") if m == "expressivity.training"]
    assert not seen & BELOW[name] and not plain, (name, sorted(seen & BELOW[name]), plain)


def test_trainer_imports_the_loop_at_module_level():
    tree = ast.parse((TRAINING / "trainer.py").read_text(encoding="utf-8"))
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert "expressivity.training.population" in top


def test_old_import_paths_still_work():
    from expressivity.training import records, trainer

    for name in ("TrainConfig", "TrainResult", "TrainingDiverged", "dataset_accuracy"):
        assert getattr(trainer, name) is getattr(records, name) is getattr(training, name)
    assert set(records.__all__) <= set(dir(records))


def test_training_diverged_survives_pickling():
    err = TrainingDiverged("the loss became NaN", 4, 77, Path("run.npz"))
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.epoch, back.update, back.checkpoint) == (
        "the loss became NaN", 4, 77, Path("run.npz"))  # fmt: skip


def _run(tmp_path):
    net = ex.Network.create("gru", "ab", 3, rng=np.random.default_rng(0))
    cfg = TrainConfig(epochs=5, lr=0.01)
    rng = np.random.default_rng(11)
    rng.random(3)  # a state that is not the seed's
    res = TrainResult(net=net, history=[{"epoch": 1, "loss": 0.5, "seconds": 0.1}], updates=9,
                      best_epoch=1)  # fmt: skip
    master = {k: np.asarray(v, dtype=np.float64) + 0.25 for k, v in net.source_params.items()}
    moments = {s: {k: np.full_like(v, i + 1.0) for k, v in master.items()}
               for i, s in enumerate(("m", "v"))}  # fmt: skip
    return net, cfg, rng, res, master, moments, tmp_path / "run.npz"


def test_checkpoint_keeps_its_keys_and_resumes(tmp_path):
    from expressivity.training.checkpoint import read_checkpoint

    net, cfg, rng, res, master, moments, ck = _run(tmp_path)
    meta_net = net_meta(net, 12)
    save_run(ck, cfg, meta_net, master, master, 9, moments, rng, 1, res, (0.5, -0.7), 2, False)
    meta, groups = read_checkpoint(ck)
    assert set(meta) == {"config", "network", "epoch", "updates", "best_epoch", "best_score",
                         "stale", "opt_t", "rng_state", "history", "stopped", "format"}  # fmt: skip
    assert set(groups) == {"master", "best", "opt"}
    assert set(groups["opt"]) == {f"{s}:{k}" for s in ("m", "v") for k in master}

    rng2, res2 = np.random.default_rng(0), TrainResult(net=net)
    book = EpochBook(cfg, res2, {})
    got_master, got_moments, t = resume_run(ck, cfg, meta_net, rng2, res2, book)
    assert t == 9 and res2.updates == 9 and res2.resumed_from == 1 and res2.history == res.history
    assert book.best_score == (0.5, -0.7) and book.stale == 2
    assert rng2.random() == rng.random()
    for k in master:
        assert np.array_equal(got_master[k], master[k]) and np.array_equal(book.best[k], master[k])
        assert np.array_equal(got_moments["v"][k], moments["v"][k])


def test_resume_refuses_another_run(tmp_path):
    net, cfg, rng, res, master, moments, ck = _run(tmp_path)
    save_run(ck, cfg, net_meta(net, 12), master, master, 9, moments, rng, 1, res, (0.5, -0.7), 2,
             False)  # fmt: skip
    other = TrainConfig(epochs=5, lr=0.02)
    with pytest.raises(CheckpointError, match=r"config\.lr"):
        resume_run(ck, other, net_meta(net, 12), rng, TrainResult(net=net),
                   EpochBook(other, TrainResult(net=net), {}))  # fmt: skip
    with pytest.raises(CheckpointError, match=r"network\.n_train"):
        resume_run(ck, cfg, net_meta(net, 13), rng, TrainResult(net=net),
                   EpochBook(cfg, TrainResult(net=net), {}))  # fmt: skip
