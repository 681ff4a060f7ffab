"""CUDA kernels against the CPU kernels, for every cell and three precisions.

Runs under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set in conftest.py)
on machines without a GPU; on a GPU machine run the same file with
``NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/test_cuda.py``.

Comparison by ULP distance, measured in the network's own format (float16
ULPs for float16, carrier ULPs for float32/float64), NaN equal to NaN:

- simulator: bound 0 (the simulator runs the same IEEE scalar arithmetic as
  the CPU kernels: bit for bit);
- real GPU: bound :data:`GPU_ULP_BOUND` (the kernels' own products are
  uncontracted ``__fmul_rn``, but NVVM may fuse multiply-adds inside the shared
  ``exp_f32``/``tanh_f32`` polynomials, and float64 ``exp``/``tanh`` come from
  libdevice instead of the C library). Not yet measured on hardware.

Grids are tiny (H = 2..3, words of length <= 5, a few lanes): the simulator is slow.
"""

import textwrap

import numpy as np
import pytest
from lowering import assert_lowers_for_cuda

import expressivity as ex

pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
from numba import config  # noqa: E402

from expressivity.kernels import cpu  # noqa: E402

kc = pytest.importorskip("expressivity.kernels.cuda")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not kc.available(), reason="no CUDA GPU and no CUDA simulator"),
]

SIMULATOR = bool(config.ENABLE_CUDASIM)
GPU_ULP_BOUND = 8
BOUND = 0 if SIMULATOR else GPU_ULP_BOUND

CELLS = ex.list_cells()
PRECISIONS = ["float32", "float64", "float16"]
WORDS = ["", "a", "ba", "abba", "bbaab", "aab"]


def _net(cell, precision, H=3, seed=1):
    net = ex.Network.create(cell, "ab", H, precision=precision, rng=np.random.default_rng(seed))
    r = np.random.default_rng(seed + 100)
    # larger weights and a non-zero initial state: every term matters
    src = {k: 1.5 * v + 0.3 * r.standard_normal(v.shape) for k, v in net.source_params.items()}
    return net.with_params(src)


def _ordered(a, precision):
    """Values as integers ordered like the reals, one step per ULP of the format."""
    a = np.asarray(a)
    if precision == "float16":
        bits = a.astype(np.float16).view(np.int16).astype(np.int64)  # exact: float16 values
        low = np.iinfo(np.int16).min
    else:
        bits = a.view(np.int32 if a.dtype == np.float32 else np.int64).astype(np.int64)
        low = np.iinfo(np.int32 if a.dtype == np.float32 else np.int64).min
    # -0.0 and +0.0 both map to 0; negative floats count down from there
    return np.where(bits < 0, low - bits, bits).astype(object)  # Python ints: no overflow


def ulp_distance(a, b, precision):
    """Largest ULP distance between ``a`` and ``b`` (NaN == NaN; NaN vs number: inf)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    na, nb = np.isnan(a), np.isnan(b)
    if (na != nb).any():
        return float("inf")
    keep = ~na
    if not keep.any():
        return 0
    d = np.abs(_ordered(a[keep], precision) - _ordered(b[keep], precision))
    return int(d.max())


def test_ulp_distance_counts_representable_steps():
    x = np.array([1.0, -0.0, 0.0], dtype=np.float32)
    y = np.array([np.nextafter(np.float32(1), np.float32(2)), 0.0, -0.0], dtype=np.float32)
    assert ulp_distance(x, y, "float32") == 1
    h = np.array([1.0], np.float32), np.array([1.0 + 2.0**-10], np.float32)
    assert ulp_distance(*h, "float16") == 1
    assert ulp_distance(np.array([2.0]), np.array([np.nextafter(2.0, 0.0)]), "float64") == 1


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_matches_cpu(cell, precision):
    net = _net(cell, precision, H=2 if cell == "lstm" else 3)
    symbols, lengths = net.encode(WORDS)
    batch, traj = kc.forward_cuda(net, symbols, lengths, width=4)
    for k, v in traj.items():
        assert v.dtype == net.precision.carrier, k
    # the CPU kernel on the same chunked batch: every array, every row
    states = np.empty_like(traj["states"])
    states[:, 0] = traj["states"][:, 0]
    gates, aux = np.zeros_like(traj["gates"]), np.zeros_like(traj["aux"])
    pk = net._packed
    cpu.forward(batch.symbols, batch.lengths, pk["XW"], pk["U"], pk["bias"], pk["d"],
                net._cfg, net._prec_code, states, gates, aux)  # fmt: skip
    assert ulp_distance(traj["states"], states, precision) <= BOUND
    assert ulp_distance(traj["gates"], gates, precision) <= BOUND
    assert ulp_distance(traj["aux"], aux, precision) <= BOUND
    # and the public CPU path, per word
    mine = net._per_word(batch, traj["states"], 1)
    for got, want in zip(mine, net.states(WORDS)):
        assert ulp_distance(got, want, precision) <= BOUND
    assert np.isfinite(traj["states"]).all()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("cell", CELLS)
def test_backward_matches_cpu(cell, precision):
    net = _net(cell, precision, H=2, seed=3)
    symbols, lengths = net.encode(WORDS)
    batch, traj = kc.forward_cuda(net, symbols, lengths, width=4)
    states, gates, aux = traj["states"], traj["gates"], traj["aux"]
    C, T1, S, L = states.shape
    G, H = gates.shape[2], gates.shape[3]
    r = np.random.default_rng(7)
    dh_ext = net.precision.round(r.standard_normal((C, T1, H, L))).astype(states.dtype)
    out = {}
    for name, fn in (("cpu", cpu.backward), ("cuda", kc.backward_device)):
        dpre = np.zeros((C, T1 - 1, G, H, L), states.dtype)
        daux = np.zeros((C, T1 - 1, H, L), states.dtype)
        d0 = np.zeros((C, S, L), states.dtype)
        fn(batch.lengths, net._packed["U"], net._cfg, net._prec_code, states, gates, aux,
           dh_ext, dpre, daux, d0)  # fmt: skip
        out[name] = (dpre, daux, d0)
    for got, want in zip(out["cuda"], out["cpu"]):
        assert ulp_distance(got, want, precision) <= BOUND
    assert np.abs(out["cuda"][0]).sum() > 0  # something flowed back


def test_global_memory_path_and_several_blocks(monkeypatch):
    """Weights too large for shared memory are read from global memory; blocks split lanes."""
    net = _net("gru-reset-after", "float32", H=3)
    words = ["abab", "b", "aa", "", "bbb", "a", "ab"]
    want = net.states(words)
    for limit in (0, kc.SHARED_MEMORY_BYTES):
        monkeypatch.setattr(kc, "SHARED_MEMORY_BYTES", limit)
        batch, traj = kc.forward_cuda(net, *net.encode(words), width=2, threads_per_block=3)
        assert batch.n_chunks == 4
        for got, w in zip(net._per_word(batch, traj["states"], 1), want):
            assert ulp_distance(got, w, "float32") <= BOUND


def test_state0_and_lstm_cell_state():
    net = _net("lstm", "float16", H=2)
    s0 = np.random.default_rng(0).uniform(-1, 1, (3, net.state_size))
    words = ["ab", "", "bba"]
    batch, traj = kc.forward_cuda(net, *net.encode(words), state0=s0, width=2)
    ref_batch, ref = net.run(*net.encode(words), state0=s0)
    got = net._per_word(batch, traj["states"], 1)
    want = net._per_word(ref_batch, ref["states"], 1)
    for g, w, s in zip(got, want, s0):
        assert ulp_distance(g, w, "float16") <= BOUND
        assert np.array_equal(g[0], net.precision.round(s))


def test_bad_input_raises():
    net = _net("gru", "float32")
    with pytest.raises(ValueError, match="symbol codes"):
        kc.forward_cuda(net, np.array([[0, 5]]), np.array([2]))
    with pytest.raises(ValueError, match="width"):
        kc.forward_cuda(net, *net.encode(["ab"]), width=0)
    with pytest.raises(ValueError, match="state0"):
        kc.forward_cuda(net, *net.encode(["ab"]), state0=np.zeros((2, 3)))


_LOWERING_CHECK = textwrap.dedent(
    """
    import types
    import numba.cuda.dispatcher as D
    from numba.core import sigutils
    from numba.cuda.compiler import compile_cuda
    # no GPU here: give device-function compilation a compute capability to target
    D.get_current_device = lambda: types.SimpleNamespace(compute_capability=(8, 0))
    from expressivity.kernels import cuda as kc
    for dt, pc in (("float32", "int64"), ("float64", "int8")):
        a4, a5 = f"{dt}[:,:,:,::1]", f"{dt}[:,:,:,:,::1]"
        fwd = (f"void(int32[:,:,::1], int64[:,::1], {dt}[::1], int64, int64, int64, "
               f"int64[::1], {pc}[::1], {dt}, {a4}, {a5}, {a4})")
        bwd = (f"void(int64[:,::1], {dt}[::1], int64, int64, int64, int64[::1], {pc}[::1], "
               f"{dt}, {a4}, {a5}, {a4}, {a4}, {a5}, {a4}, {dt}[:,:,::1], {a4})")
        k = 32 if dt == "float32" else 64
        for kern, sig in ((getattr(kc, f"_forward_kernel{k}"), fwd),
                          (getattr(kc, f"_backward_kernel{k}"), bwd)):
            args, rt = sigutils.normalize_signature(sig)
            ir = compile_cuda(kern.py_func, rt, args, cc=(8, 0)).library.get_llvm_str()
            assert "mul_rn" in ir and "_rnd" in ir, "shared rnd / uncontracted products missing"
    print("LOWERED")
    """
)


@pytest.mark.skipif(not SIMULATOR, reason="on a GPU the comparison tests compile the kernels")
def test_kernels_type_and_lower_for_the_cuda_target():
    """Without a GPU: the real CUDA target types and lowers both kernels to NVVM IR,
    with the shared ``rnd`` / activations / bit casts (only PTX generation needs NVVM).

    Uses numba-cuda internals (``compile_cuda``); skipped if they move.
    """
    assert_lowers_for_cuda(_LOWERING_CHECK)
