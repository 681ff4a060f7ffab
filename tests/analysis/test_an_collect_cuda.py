"""``collect_states(..., backend="cuda")`` against the CPU backend.

Runs under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set in
tests/conftest.py), where the GPU kernels run the CPU's scalar arithmetic: the
two backends must agree bit for bit. On a GPU machine
(``NUMBA_ENABLE_CUDASIM=0``) the comparison allows the few-ULP differences of
``tests/test_cuda.py`` (a loose relative tolerance here). Trees are tiny
(H = 2..3, at most ~30 prefixes over "ab"): the simulator runs every thread in
Python.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import counting_lstm, parity_gru

import expressivity as ex

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
from numba import config  # noqa: E402

kc = pytest.importorskip("expressivity.kernels.cuda")

from expressivity.analysis import collect_states, extract_dfa, find_counters  # noqa: E402
from expressivity.languages import get_language  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not kc.available(), reason="no CUDA GPU and no CUDA simulator"),
]

SIMULATOR = bool(config.ENABLE_CUDASIM)

# prefixes of one another, the empty word, a repeat, different lengths
WORDS = ["", "ab", "a", "abba", "b", "abb", "bba", "ab", "baab"]


def _net(cell, precision="float32", H=3, seed=1):
    net = ex.Network.create(cell, "ab", H, precision=precision, rng=np.random.default_rng(seed))
    r = np.random.default_rng(seed + 100)
    # larger weights and a non-zero initial state: every term matters
    src = {k: 1.5 * v + 0.3 * r.standard_normal(v.shape) for k, v in net.source_params.items()}
    return net.with_params(src)


def _equal(a, b):
    if SIMULATOR:
        return np.array_equal(a, b, equal_nan=True)
    return np.allclose(a, b, rtol=1e-2, atol=1e-3, equal_nan=True)


def _assert_same(cpu, gpu):
    for name in ("parent", "symbol", "depth", "children", "is_word"):
        np.testing.assert_array_equal(getattr(gpu, name), getattr(cpu, name))
    assert gpu.states.dtype == cpu.states.dtype
    assert _equal(gpu.states, cpu.states)
    if cpu.outputs is None:
        assert gpu.outputs is None
    else:
        assert gpu.outputs.dtype == cpu.outputs.dtype
        assert _equal(gpu.outputs, cpu.outputs)
    if cpu.gates is None:
        assert gpu.gates is None
    else:
        assert list(gpu.gates) == list(cpu.gates)
        for name, g in cpu.gates.items():
            assert gpu.gates[name].dtype == g.dtype
            assert _equal(gpu.gates[name], g), name


@pytest.mark.parametrize("cell", ["lstm", "gru-reset-after"])
@pytest.mark.parametrize("sample", [4, WORDS], ids=["max_len", "words"])
def test_cuda_equals_cpu(cell, sample):
    net = _net(cell)
    cpu = collect_states(net, sample, gates=True)
    gpu = collect_states(net, sample, gates=True, backend="cuda")
    assert len(cpu) <= 31
    _assert_same(cpu, gpu)
    assert np.isnan(gpu.gates[net.spec.gates[0].name][0]).all()


@pytest.mark.parametrize("precision", ["float16", "float64"])
def test_cuda_equals_cpu_other_precisions(precision):
    net = _net("gru", precision=precision, H=2)
    _assert_same(
        collect_states(net, WORDS, gates=True),
        collect_states(net, WORDS, gates=True, backend="cuda"),
    )


def test_cuda_without_outputs_or_gates():
    net = _net("lstm", H=2)
    cpu = collect_states(net, WORDS, outputs=False)
    gpu = collect_states(net, WORDS, outputs=False, backend="cuda")
    assert gpu.outputs is None and gpu.gates is None
    _assert_same(cpu, gpu)


@pytest.mark.parametrize("width", [1, 3])
def test_cuda_lane_mapping_across_chunks(monkeypatch, width):
    """Narrow chunks: leaves spread over several chunks, with padding lanes."""
    monkeypatch.setattr(kc, "forward_cuda", functools.partial(kc.forward_cuda, width=width))
    net = _net("gru-reset-after", H=2)
    for sample in (3, WORDS):
        _assert_same(
            collect_states(net, sample, gates=True),
            collect_states(net, sample, gates=True, backend="cuda"),
        )


@pytest.mark.parametrize("sample", [0, [""]], ids=["max_len_0", "empty_word"])
def test_cuda_tree_of_only_the_empty_prefix(sample):
    net = _net("lstm", H=2)
    cpu = collect_states(net, sample, gates=True)
    gpu = collect_states(net, sample, gates=True, backend="cuda")
    assert len(gpu) == 1
    _assert_same(cpu, gpu)
    np.testing.assert_array_equal(gpu.states[0], net.initial_state())


@pytest.mark.parametrize("backend", ["gpu", "CUDA", "", None])
def test_bad_backend_raises(backend):
    with pytest.raises(ValueError, match="'cpu', 'cuda'"):
        collect_states(_net("gru", H=2), 2, backend=backend)


def test_cuda_unavailable_raises(monkeypatch):
    monkeypatch.setattr(kc, "available", lambda: False)
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        collect_states(_net("gru", H=2), 2, backend="cuda")


def test_extract_dfa_forwards_backend():
    net = parity_gru()
    words = ["", "a", "b", "ab", "ba", "bb", "abb", "bab", "bbb"]
    cpu = extract_dfa(net, words, "kmeans", k=2, rng=np.random.default_rng(0))
    gpu = extract_dfa(net, words, "kmeans", k=2, rng=np.random.default_rng(0), backend="cuda")
    assert gpu.dfa.n_states == cpu.dfa.n_states == 2
    assert gpu.sample_fidelity == cpu.sample_fidelity == 1.0
    with pytest.raises(ValueError, match="backend"):
        extract_dfa(net, words, "lstar", backend="gpu")


def test_find_counters_forwards_backend():
    lang = get_language("anbn")
    net = counting_lstm("float32")
    cpu = find_counters(net, lang, n_train=4, n_max=12)
    gpu = find_counters(net, lang, n_train=4, n_max=12, backend="cuda")
    assert [u.name for u in gpu.counters] == [u.name for u in cpu.counters] == ["c0"]
    fits = [x for u in cpu.units for x in (u.slope, u.intercept, u.r2)]
    assert [x for u in gpu.units for x in (u.slope, u.intercept, u.r2)] == (
        fits if SIMULATOR else pytest.approx(fits, rel=1e-3, abs=1e-6)
    )
    with pytest.raises(ValueError, match="backend"):
        find_counters(net, lang, n_train=4, backend="gpu")
