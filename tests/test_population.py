"""Population training: P networks at once, on the CPU (reference) and the GPU.

The ``cpu`` backend must equal :func:`expressivity.training.train` run on each
network alone, bit for bit. The ``cuda`` backend (under the CUDA simulator
here, ``NUMBA_ENABLE_CUDASIM=1`` from conftest.py; on a GPU run this file with
``NUMBA_ENABLE_CUDASIM=0``) must agree with the ``cpu`` backend up to the order
of its sums over lanes and steps:

- simulator, float64 carrier: weights within 1e-12 after several updates;
- simulator, float32 carrier: within 1e-6 (a few float32 ULPs of the weights);
- narrow formats (float16, bfloat16, fixed point) absorb such differences: the
  simulator's weights equal the CPU's.

On a real GPU the kernels' products are uncontracted, but exp/tanh and the
sums may differ by more ULPs; :data:`GPU_RTOL` is the bound there (not yet
measured on hardware). Grids are tiny: the simulator runs each thread in Python.
"""

import textwrap

import numpy as np
import pytest
from lowering import assert_lowers_for_cuda

import expressivity as ex
from expressivity.languages import get_language
from expressivity.protocols import get_protocol
from expressivity.training import TrainConfig, TrainingDiverged, train
from expressivity.training.backends import from_flat, to_flat, trainable_mask
from expressivity.training.population import train_population

CELLS = ex.list_cells()
HEADS = {"weiss2018": "next-symbol", "recognition": "accept", "suzgun2019": "next-set"}
LANG = get_language("anbn")
GPU_RTOL = 1e-4


def _population(cell, protocol="weiss2018", precision="float64", P=2, H=2, hi=2, **kw):
    proto = get_protocol(protocol)
    data = [proto.training_data(LANG, np.random.default_rng(s), 0, hi) for s in range(P)]
    nets = [
        ex.Network.create(cell, "ab", H, head=proto.head, precision=precision,
                          rng=np.random.default_rng(100 + s), **kw)
        for s in range(P)
    ]  # fmt: skip
    return nets, data


def _rngs(P):
    return [np.random.default_rng(10 + p) for p in range(P)]


def _max_diff(a, b):
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("cell", CELLS)
def test_flat_layout_round_trips_and_masks_exactly_the_parameters(cell):
    net = ex.Network.create(cell, "abc", 3, head="next-symbol", rng=np.random.default_rng(0))
    flat = to_flat(net, net.source_params)
    back = from_flat(net, flat)
    assert back.keys() == net.source_params.keys()
    for k, v in net.source_params.items():
        assert np.array_equal(back[k], v), k
    mask = trainable_mask(net)
    assert mask.dtype == np.int8 and mask.shape == flat.shape
    assert int(mask.sum()) == sum(v.size for v in net.source_params.values())
    assert np.all(flat[mask == 0] == 0)  # entries outside the cell stay zero


def test_flat_layout_with_an_embedding_keeps_w_and_the_embedding_trainable():
    net = ex.Network.create("lstm", "ab", 2, embedding_size=3, rng=np.random.default_rng(0))
    flat = to_flat(net, net.params)
    for k, v in from_flat(net, flat).items():
        assert np.array_equal(v, net.params[k]), k
    mask = trainable_mask(net)
    assert int(mask.sum()) == sum(v.size for v in net.params.values())
    V, G, H = 2, 4, 2
    assert not mask[: V * G * H].any()  # XW is derived
    assert np.allclose(flat[: V * G * H], net._packed["XW"].ravel())


# ----------------------------------------------------------------------------- cpu backend


@pytest.mark.parametrize("protocol", list(HEADS))
def test_cpu_population_equals_training_each_network_alone(protocol):
    nets, data = _population("lstm", protocol, P=3)
    cfgs = [
        TrainConfig(lr=0.05, epochs=3, batch_size=2),
        TrainConfig(lr=0.01, epochs=2, batch_size=2, clip=0.1, eval_every=2),
        TrainConfig(lr=0.02, epochs=1, batch_size=2),
    ]
    alone = [train(n, d, r, c) for n, d, r, c in zip(nets, data, _rngs(3), cfgs)]
    seen = []
    together = train_population(nets, data, _rngs(3), cfgs, progress=lambda p, rec: seen.append(p))
    for a, b in zip(alone, together):
        assert (a.updates, a.epochs_run, a.stopped, a.best_epoch) == (
            b.updates, b.epochs_run, b.stopped, b.best_epoch)  # fmt: skip
        assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
        for k, v in a.net.source_params.items():
            assert np.array_equal(v, b.net.source_params[k]), k
    assert [r.epochs_run for r in together] == [3, 2, 1]
    assert sorted(seen) == [0, 0, 0, 1, 1, 2]


def test_sgd_with_momentum_and_validation_match_training_alone():
    nets, data = _population("gru", "weiss2018", P=2)
    proto = get_protocol("weiss2018")
    val = [proto.validation_data(LANG, np.random.default_rng(7), 0, 2) for _ in nets]
    cfgs = [
        TrainConfig(optimizer="sgd", lr=0.1, momentum=m, epochs=3, patience=1) for m in (0.0, 0.9)
    ]
    alone = [
        train(n, d, r, c, validation=v) for n, d, r, c, v in zip(nets, data, _rngs(2), cfgs, val)
    ]
    together = train_population(nets, data, _rngs(2), cfgs, validation=val)
    for a, b in zip(alone, together):
        assert a.history == [
            dict(r, seconds=a.history[i]["seconds"]) for i, r in enumerate(b.history)
        ]
        assert _max_diff(a.net.source_params, b.net.source_params) == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's inf * 0
@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_a_diverging_network_is_reported_and_the_others_go_on(backend):
    if backend == "cuda":
        pytest.importorskip("numba.cuda")
    nets, data = _population("gru", "weiss2018", precision="float16", P=2)
    cfgs = [
        TrainConfig(lr=1e30, epochs=2, batch_size=2),
        TrainConfig(lr=0.01, epochs=2, batch_size=2),
    ]
    out = train_population(nets, data, _rngs(2), cfgs, backend=backend)
    assert isinstance(out[0], TrainingDiverged)
    assert "NaN or infinite" in str(out[0])
    assert out[1].epochs_run == 2 and np.isfinite(out[1].history[-1]["loss"])


def test_population_errors_name_the_problem():
    nets, data = _population("gru", P=2)
    other = ex.Network.create("lstm", "ab", 2, head="next-symbol", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="cell"):
        train_population([nets[0], other], data, _rngs(2))
    wide = ex.Network.create("gru", "ab", 2, head="next-symbol", precision="float16",
                             rng=np.random.default_rng(0))  # fmt: skip
    with pytest.raises(ValueError, match="precision"):
        train_population([nets[0], wide], data, _rngs(2))
    with pytest.raises(ValueError, match="rngs has 1"):
        train_population(nets, data, _rngs(1))
    with pytest.raises(ValueError, match="batch_size"):
        train_population(
            nets, data, _rngs(2), [TrainConfig(batch_size=1), TrainConfig(batch_size=2)]
        )
    with pytest.raises(ValueError, match="backend"):
        train_population(nets, data, _rngs(2), backend="tpu")
    with pytest.raises(ValueError, match="empty"):
        train_population([], [], [])
    with pytest.raises(ValueError, match="empty"):
        train_population(nets, [data[0], data[0][np.zeros(len(data[0]), bool)]], _rngs(2))
    emb = [ex.Network.create("gru", "ab", 2, head="next-symbol", embedding_size=e,
                             rng=np.random.default_rng(e)) for e in (2, 3)]  # fmt: skip
    with pytest.raises(ValueError, match="embedding size"):
        train_population(emb, data, _rngs(2))


# ----------------------------------------------------------------------------- cuda backend


def _cuda_or_skip():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    from expressivity.kernels import cuda as kc

    if not kc.available():
        pytest.skip("no CUDA GPU and no CUDA simulator")
    from numba import config

    return bool(config.ENABLE_CUDASIM)


# each cell once; heads, precisions and input embeddings rotated over the cells
_CASES = [
    (
        cell,
        list(HEADS)[i % 3],
        ["float64", "float32", "float16", "bfloat16"][i % 4],
        [None, 3][i % 2],
    )
    for i, cell in enumerate(CELLS)
]


@pytest.mark.cuda
@pytest.mark.parametrize("cell,protocol,precision,embedding", _CASES)
def test_cuda_population_agrees_with_the_cpu(cell, protocol, precision, embedding):
    sim = _cuda_or_skip()
    nets, data = _population(cell, protocol, precision, embedding_size=embedding)
    cfgs = [TrainConfig(lr=0.05, epochs=2, batch_size=2),
            TrainConfig(lr=0.01, epochs=2, batch_size=2, clip=0.05)]  # fmt: skip
    cpu = train_population(nets, data, _rngs(2), cfgs, backend="cpu")
    gpu = train_population(nets, data, _rngs(2), cfgs, backend="cuda", threads_per_block=2)
    carrier = nets[0].precision.carrier
    bound = GPU_RTOL if not sim else (1e-12 if carrier == np.float64 else 1e-6)
    for a, b in zip(cpu, gpu):
        assert (a.updates, a.epochs_run) == (b.updates, b.epochs_run)
        assert _max_diff(a.net.source_params, b.net.source_params) <= bound
        la, lb = a.history[-1]["loss"], b.history[-1]["loss"]
        assert abs(la - lb) <= bound * max(1.0, abs(la))
        assert _max_diff(a.net.source_params, nets[0].source_params) > 0  # it trained


@pytest.mark.cuda
@pytest.mark.parametrize("shared", [True, False])
def test_cuda_population_with_more_lanes_than_threads_and_an_uneven_last_batch(shared, monkeypatch):
    _cuda_or_skip()
    from expressivity.kernels import cuda_population as kp

    if not shared:  # weights read from global memory instead of shared memory
        monkeypatch.setattr(kp, "SHARED_WEIGHT_BYTES", 0)
    nets, data = _population("lstm", "recognition", P=2)
    n = [len(d) for d in data]
    cfg = TrainConfig(lr=0.05, epochs=1, batch_size=4)  # 4 lanes on 3 threads
    assert any(k % 4 for k in n), "the test wants a short last batch"
    cpu = train_population(nets, data, _rngs(2), cfg)
    gpu = train_population(nets, data, _rngs(2), cfg, backend="cuda", threads_per_block=3)
    for a, b in zip(cpu, gpu):
        assert a.updates == b.updates == -(-len(data[0]) // 4)
        assert _max_diff(a.net.source_params, b.net.source_params) <= 1e-12


@pytest.mark.cuda
def test_train_with_backend_cuda_trains_one_network_on_the_gpu():
    _cuda_or_skip()
    nets, data = _population("gru", P=1)
    cfg = TrainConfig(lr=0.05, epochs=2, batch_size=2)
    a = train(nets[0], data[0], np.random.default_rng(3), cfg)
    b = train(nets[0], data[0], np.random.default_rng(3), cfg, backend="cuda")
    assert a.updates == b.updates
    assert _max_diff(a.net.source_params, b.net.source_params) <= 1e-12


@pytest.mark.cuda
def test_cuda_training_checkpoints_and_resumes(tmp_path):
    """Interrupted after its first checkpoint, a GPU run resumes to the same weights."""
    _cuda_or_skip()
    nets, data = _population("lstm", P=1)
    cfg = TrainConfig(lr=0.05, epochs=3, batch_size=2)
    full = train(nets[0], data[0], np.random.default_rng(3), cfg, backend="cuda")
    ck = tmp_path / "c.npz"

    class Stop(Exception):
        pass

    def stop_at_2(rec):
        if rec["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        train(nets[0], data[0], np.random.default_rng(3), cfg, checkpoint=ck, progress=stop_at_2,
              backend="cuda")  # fmt: skip
    res = train(nets[0], data[0], np.random.default_rng(9), cfg, checkpoint=ck, backend="cuda")
    assert res.resumed_from == 1 and res.updates == full.updates
    assert _max_diff(res.net.source_params, full.net.source_params) == 0.0


_LOWERING_CHECK = textwrap.dedent(
    """
    import types
    import numba.cuda.dispatcher as D
    from numba.core import types as nt
    from numba.cuda.compiler import compile_cuda
    D.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
    from expressivity.kernels import cuda_population as kp
    for dt, pc in ((nt.float32, nt.int64), (nt.float64, nt.int8)):
        A = lambda nd, ty=dt: nt.Array(ty, nd, "C")
        f8, i8 = nt.float64, nt.int64
        args = (
            nt.UniTuple(i8, 8),
            nt.Tuple((A(2), A(2, f8), A(2, f8), A(2, f8), A(1, nt.int8))),
            nt.Tuple((A(2, f8), A(1, i8), A(1, nt.int8))),
            nt.Tuple((A(2, nt.int32), A(1, i8), A(1), A(3, nt.int32), A(2, i8), A(4))),
            nt.Tuple((A(3, nt.int32), A(2, i8), A(4), A(4), A(5), A(4), A(4), A(4), A(5),
                      A(4), A(3), A(4), A(2), A(2, f8))),
            nt.Tuple((A(1, f8), A(1, nt.int8))),
            A(1, i8), A(1, pc), dt,
        )
        kern = kp._step_kernel32 if dt == nt.float32 else kp._step_kernel64
        ir = compile_cuda(kern.py_func, nt.void, args, cc=(8, 0)).library.get_llvm_str()
        assert "mul_rn" in ir and "_rnd" in ir, "shared rnd / uncontracted products missing"
    print("LOWERED")
    """
)


@pytest.mark.cuda
def test_population_kernel_types_and_lowers_for_the_cuda_target():
    """Without a GPU: the real CUDA target types and lowers the population kernel
    (tuple arguments, shared memory, the shared lane functions) to NVVM IR.
    Uses numba-cuda internals (``compile_cuda``); skipped if they move."""
    sim = _cuda_or_skip()
    if not sim:
        pytest.skip("on a GPU the comparison tests compile the kernel")
    assert_lowers_for_cuda(_LOWERING_CHECK)


# ----------------------------------------------------------------------------- sweeps


@pytest.mark.cuda
def test_sweep_with_backend_cuda_trains_compatible_runs_as_populations(tmp_path, capsys):
    """Three runs, two shapes: two populations; the rows match the cpu backend's."""
    _cuda_or_skip()
    from expressivity.cli import main
    from expressivity.experiments.store import ResultsStore

    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\nname = "t"\n[base]\nlanguage = "anbn"\ntrain_min = 1\ntrain_max = 2\n'
                    'epochs = 2\nhidden_size = 2\nprecision = "float64"\nbatch_size = 2\n'
                    'eval_every = 1\n[grid]\ncell = ["gru", "elman-tanh"]\nseed = [0, 1]\n')  # fmt: skip
    rows = {}
    for backend in ("cpu", "cuda"):
        out = tmp_path / backend
        assert main(["sweep", str(spec), "--local", "--out", str(out), "--backend", backend]) == 0
        assert "4 ran" in capsys.readouterr().out
        with ResultsStore(out / "results.sqlite") as store:
            rows[backend] = {r["label"]: r for r in store.rows()}
    assert rows["cpu"].keys() == rows["cuda"].keys() and len(rows["cpu"]) == 4
    for label, r in rows["cuda"].items():
        c = rows["cpu"][label]
        assert r["status"] == c["status"] == "done"
        assert r["metrics"]["population"] == 2 and r["metrics"]["backend"] == "cuda"
        assert abs(r["metrics"]["final_loss"] - c["metrics"]["final_loss"]) < 1e-10
        assert r["metrics"]["frontier"] == c["metrics"]["frontier"]
    out = tmp_path / "cuda"
    assert main(["sweep", str(spec), "--local", "--out", str(out), "--backend", "cuda"]) == 0
    assert "0 ran, 4 already finished" in capsys.readouterr().out


def test_auto_backend_is_the_cpu_without_a_real_gpu():
    """Under the simulator (or without numba-cuda) "auto" trains on the CPU."""
    from numba import config

    from expressivity.training.backends import resolve_backend

    if not config.ENABLE_CUDASIM:
        pytest.skip("a real GPU may be present")
    assert resolve_backend("auto") == "cpu"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("gpu")
    nets, data = _population("gru", P=1)
    a = train(nets[0], data[0], np.random.default_rng(3), TrainConfig(epochs=1), backend="auto")
    b = train(nets[0], data[0], np.random.default_rng(3), TrainConfig(epochs=1))
    assert _max_diff(a.net.source_params, b.net.source_params) == 0.0
