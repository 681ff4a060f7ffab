"""Population training: on the GPU vs PyTorch/cuDNN (issue 7), on the CPU as lanes (issue 14).

Run on a GPU machine:

    python bench/bench_population.py --out bench/results/population.md

On the CPU (``--cpu``, issue 14; see :func:`main_cpu`):

    python bench/bench_population.py --cpu --out bench/results/population_cpu.md

Three measurements per (cell, hidden size, population size P), words of length
``--length`` (a^n b^n, next-symbol head, Adam, float32, batch ``--batch`` per
network), all on the same GPU in the same process:

(a) one network, batch 32–256: our population kernel with P = 1 vs cuDNN;
(b) P networks: one launch of our population kernel per update of all P, vs
    PyTorch (cuDNN) training the P networks one after another;
(c) cuDNN training one network with batch P×B: an upper bound on throughput.

Reported: sequence-steps per second (words × symbols per second, all networks
together) and the ratios ours / (b) and ours / (c). Timing covers the update
only (our kernel: forward, loss, backward, reductions, Adam in one launch; the
words are resident on the device); validation is not timed.

``--dry-run`` runs every code path once at a tiny size (under
``NUMBA_ENABLE_CUDASIM=1`` on a machine without a GPU, PyTorch on the CPU) and
writes nothing: a check of the script, not a measurement.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np


def _data(length: int, n_words: int):
    from expressivity.languages import Dataset, get_language

    lang = get_language("anbn")
    n = length // 2
    return Dataset.from_words(lang, ["a" * n + "b" * n] * n_words)


def ours(cell: str, H: int, P: int, B: int, length: int, steps: int) -> float:
    """Seconds per update of all P networks (population kernel, float32)."""
    from numba import cuda

    import expressivity as ex
    from expressivity.training import TrainConfig
    from expressivity.training.backends import CudaBackend

    data = [_data(length, B)] * P
    nets = [ex.Network.create(cell, "ab", H, head="next-symbol", precision="float32",
                              rng=np.random.default_rng(p)) for p in range(P)]  # fmt: skip
    be = CudaBackend(nets, data, [TrainConfig(lr=0.001, batch_size=B)] * P)
    idx = np.tile(np.arange(B), (P, 1))
    nwords = np.full(P, B)
    active = np.ones(P, dtype=bool)
    be.step(idx, nwords, active)  # compile
    cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        be.step(idx, nwords, active)  # copies the losses back: synchronises
    return (time.perf_counter() - t) / steps


def _torch_model(cell: str, H: int, device):
    import torch
    from torch import nn

    rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn(2, H, batch_first=True)
            self.out = nn.Linear(H, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.out(y)

    torch.manual_seed(0)
    return LM().to(device)


def _torch_step_time(models, B: int, length: int, steps: int, device) -> float:
    """Seconds per update of every model in ``models``, one after another."""
    import torch

    n = length // 2
    x = torch.zeros(B, length, 2, device=device)
    x[:, :n, 0] = 1
    x[:, n:, 1] = 1
    y = torch.tensor([0] * (n - 1) + [1] * n + [2], device=device).repeat(B)
    loss_fn = torch.nn.CrossEntropyLoss()
    opts = [torch.optim.Adam(m.parameters(), lr=0.001) for m in models]

    def once():
        for m, opt in zip(models, opts):
            opt.zero_grad()
            loss = loss_fn(m(x).reshape(-1, 3), y)
            loss.backward()
            opt.step()

    once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


# ----------------------------------------------------------------------------- CPU (issue 14)

#: float32 FLOP per cycle per core (AVX-512: 16 lanes x 2 FMA pipes x 2), as bench_cells;
#: half that where the CPU shows only AVX2 (see :func:`_peak_flop_per_cycle`)
PEAK_FLOP_PER_CYCLE = 64


def _peak_flop_per_cycle() -> int:
    """float32 FLOP per cycle per core from the CPU's flags: 64 with AVX-512, 32 with
    AVX2 and FMA (8 lanes x 2 FMA pipes x 2), else 16."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags")).split()  # fmt: skip
    except (OSError, StopIteration):
        return PEAK_FLOP_PER_CYCLE
    if "avx512f" in flags:
        return 64
    return 32 if "avx2" in flags and "fma" in flags else 16


def _weiss(cell: str, H: int, P: int):
    import expressivity as ex
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol

    lang, proto = get_language("anbn"), get_protocol("weiss2018")
    data = proto.training_data(lang, np.random.default_rng(0), 1, 99)
    E = 3 if cell == "lstm" else None  # the Weiss LSTM has a 3-dim embedding
    nets = [ex.Network.create(cell, "ab", H, head="next-symbol", embedding_size=E,
                              precision="float32", rng=np.random.default_rng(p))
            for p in range(P)]  # fmt: skip
    return nets, data


def _flop_per_update(net, data) -> float:
    """Training FLOP of one one-word update: 3 x (recurrent and input products,
    elementwise ~12 per unit, readout) per step, at the mean word length."""
    G, H, O = len(net.spec.gates), net.hidden_size, net.n_outputs
    E = net.params["embedding"].shape[0] if "embedding" in net.params else len(net.alphabet)
    T = float(data.lengths.mean())
    return 3.0 * (T * (2 * G * H * (H + E) + 12 * H) + (T + 1) * 2 * O * H)


def cpu_population(cell: str, H: int, P: int, epochs: int) -> float:
    """Network-updates per second of ``train_population`` (lanes for P >= 2)."""
    from expressivity.kernels import lanes
    from expressivity.training import TrainConfig, train_population

    # measure the lanes kernel at every P >= 2 (the default uses it only where it
    # paid in this benchmark: lanes.MIN_LANES networks, lanes.MAX_HIDDEN units)
    lanes.MIN_LANES, lanes.MAX_HIDDEN = 2, 10**6
    nets, data = _weiss(cell, H, P)
    cfg = TrainConfig(epochs=epochs, eval_every=10**6)
    # JIT warm-up on the same population (so the same kernel, serial or parallel, is compiled)
    train_population(nets, [data[-8:]] * P, [np.random.default_rng(0)] * P, cfg)
    t = time.perf_counter()
    out = train_population(nets, [data] * P, [np.random.default_rng(p) for p in range(P)], cfg)
    dt = time.perf_counter() - t
    return sum(r.updates for r in out) / dt


def cpu_sequential(cell: str, H: int, P: int, epochs: int, most: int = 8) -> float:
    """Network-updates per second of ``train`` on the same networks one after another
    (the first ``most`` of them: the rate does not depend on P)."""
    from expressivity.training import TrainConfig, train

    nets, data = _weiss(cell, H, min(P, most))
    cfg = TrainConfig(epochs=epochs, eval_every=10**6)
    train(nets[0], data[:4], np.random.default_rng(0), cfg)  # JIT
    t = time.perf_counter()
    n = sum(train(net, data, np.random.default_rng(p), cfg).updates for p, net in enumerate(nets))
    return n / (time.perf_counter() - t)


def torch_one_process(cell: str, H: int, updates: int) -> float:
    """Updates per second of PyTorch training one Weiss network, one thread, its own process."""
    import subprocess
    import sys

    code = (
        "import sys, time, numpy as np, torch\n"
        "from torch import nn\n"
        "torch.set_num_threads(1); torch.manual_seed(0)\n"
        f"cell, H, U = {cell!r}, {H}, {updates}\n"
        "E = 3 if cell == 'lstm' else 2\n"
        "rnn = {'lstm': nn.LSTM, 'gru': nn.GRU}[cell](E, H, batch_first=True)\n"
        "emb = nn.Embedding(3, E); out = nn.Linear(H, 3)\n"
        "h0 = nn.Parameter(torch.zeros(1, 1, H))\n"
        "ps = list(rnn.parameters()) + list(emb.parameters()) + list(out.parameters()) + [h0]\n"
        "opt = torch.optim.Adam(ps, lr=0.001); lf = nn.CrossEntropyLoss()\n"
        "words = [[0] * n + [1] * n for n in range(1, 100)]\n"
        "def step(w):\n"
        "    x, y = torch.tensor([w]), torch.tensor(w + [2])\n"  # next symbols, end marker
        "    opt.zero_grad()\n"
        "    hs = (h0, torch.zeros_like(h0)) if cell == 'lstm' else h0\n"
        "    o, _ = rnn(emb(x), hs)\n"
        "    logits = torch.cat([out(h0[0]), out(o[0])], 0)\n"  # the empty prefix first
        "    loss = lf(logits, y); loss.backward(); opt.step()\n"
        "for w in words[:5]: step(w)\n"
        "rng = np.random.default_rng(0); t = time.perf_counter()\n"
        "for i in range(U): step(words[rng.integers(len(words))])\n"
        "print(U / (time.perf_counter() - t))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def _spread(x) -> str:
    """'median [min-max]' of rates, or the one rate."""
    m = float(np.median(x))
    return f"{m:.0f}" if len(x) == 1 else f"{m:.0f} [{min(x):.0f}-{max(x):.0f}]"


def _cpu_ghz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return 2.6


def _lscpu() -> str:
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor()
    keep = ("Model name", "CPU(s):", "Thread(s) per core", "L2 cache", "L3 cache")
    return "; ".join(" ".join(l.split()) for l in out.splitlines() if l.startswith(keep))


def main_cpu(a) -> None:
    """Weiss protocol (a^n b^n, n = 1..99 shuffled, one word per update, Adam, float32;
    LSTM with a 3-dim embedding, GRU one-hot), populations of P networks: network-updates
    per second of ``train_population`` (networks as lanes, :mod:`expressivity.kernels.lanes`)
    against the same networks trained one after another with ``train`` and against
    PyTorch training one network in its own process on one thread; same run."""
    import os
    import subprocess

    rows = []
    R = a.repeats
    load0 = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    t0 = time.perf_counter()
    ghz = _cpu_ghz()
    fpc = _peak_flop_per_cycle()
    peak = fpc * ghz * 1e9 * (os.cpu_count() or 1)
    for cell in a.cells:
        for H in a.hidden:
            # R rounds, each measuring the three side by side (so a change of load hits
            # all of them); the table gives medians and the range of the R rounds
            tor, seq, pops = [], [], {P: [] for P in a.populations}
            for _ in range(R):
                tor.append(torch_one_process(cell, H, a.torch_updates))
                seq.append(cpu_sequential(cell, H, max(a.populations), a.epochs))
                for P in a.populations:
                    pops[P].append(cpu_population(cell, H, P, a.epochs))
            nets, data = _weiss(cell, H, 1)
            flop = _flop_per_update(nets[0], data)
            for P in a.populations:
                pop, sq, tr = (float(np.median(x)) for x in (pops[P], seq, tor))
                rows.append((cell, H, P, pops[P], seq, tor, pop / sq, pop / tr, pop * flop / peak))
                print(f"{cell} H={H} P={P}: population {_spread(pops[P])}/s, one after another "
                      f"{_spread(seq)}/s, PyTorch {_spread(tor)}/s: {pop / sq:.2f}x, "
                      f"{pop / tr:.1f}x, {100 * pop * flop / peak:.2f}% of peak", flush=True)
    if not a.out:
        return
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [
        "## population_cpu: populations of networks as SIMD lanes (CPU, issue 14)",
        "",
        f"Command: `python bench/bench_population.py --cpu --epochs {a.epochs} --repeats {R} "
        f"--cells {' '.join(a.cells)} --hidden {' '.join(map(str, a.hidden))} --populations "
        f"{' '.join(map(str, a.populations))} --out bench/results/population_cpu.md` "
        f"({(time.perf_counter() - t0) / 60:.1f} min).",
        f"Machine: {_lscpu()}. Load average at start: {load0}; at end: `{up}` (this "
        "script's own two threads make it about 2). Each rate: the median of "
        f"{R} rounds (their range in brackets); in each round the three columns were "
        "measured one after the other, so a change of load reaches all of them; ratios "
        "are of the medians.",
        "",
        "Weiss protocol: a^n b^n, n = 1..99 shuffled per network, one word per update, Adam "
        "lr 0.001, float32, next-symbol head; LSTM with a 3-dim embedding, GRU one-hot. "
        f"{a.epochs} epoch(s), evaluation at the end (paid by both of ours). Population: "
        "`train_population` of P networks (P ≥ 2: networks as lanes, `kernels/lanes.py`, "
        "tiles as `nogil` calls on two Python threads when the work justifies it); one after another: `train` "
        "of each network (its fused one-network step); PyTorch: one network per process, "
        "`torch.set_num_threads(1)`, nn.Embedding + nn.LSTM/nn.GRU + nn.Linear + "
        "CrossEntropyLoss + Adam, the same words (one process; a second process on the "
        "second core would at best double its rate; PyTorch's CPU GRU runs step by step "
        "through autograd, with no fused kernel as its LSTM has, hence its low rate). "
        "Rates are network-updates per second. "
        f"Peak: {fpc} float32 FLOP/cycle/core × {ghz:.2f} GHz × "
        f"{os.cpu_count()} cores = {peak / 1e9:.0f} GFLOP/s; FLOP per update = 3 × "
        "(2·G·H·(H+E) + 12·H) per step + readout, at the mean word length (100).",
        "",
        "| cell | H | P | population (upd/s) | one after another (upd/s) | PyTorch 1 thread "
        "(upd/s) | vs one after another | vs PyTorch | % of peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c} | {h} | {p} | {_spread(x)} | {_spread(y)} | {_spread(z)} | {r1:.2f}× | "
        f"{r2:.1f}× | {100 * f:.2f}% |"
        for c, h, p, x, y, z, r1, r2, f in rows
    ]
    lines += [
        "",
        "Population rows use the lanes kernel at every P ≥ 2 (forced for this table). "
        "Where it did not beat one network after another, the CPU backend does not use it "
        "by default: lanes from `kernels.lanes.MIN_LANES` = 32 networks with at most "
        "`MAX_HIDDEN` = 16 units; otherwise the fused one-network step.",
    ]
    Path(a.out).write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="the CPU lanes benchmark (issue 14)")
    ap.add_argument("--epochs", type=int, default=1, help="--cpu: epochs per run")
    ap.add_argument("--torch-updates", type=int, default=300, help="--cpu: PyTorch updates")
    ap.add_argument("--repeats", type=int, default=3, help="--cpu: rounds (median reported)")
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--hidden", nargs="+", type=int, default=[8, 32, 64])
    ap.add_argument("--populations", nargs="+", type=int, default=[64, 256, 1024])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--out", help="write a Markdown table here")
    a = ap.parse_args()
    if a.cpu:
        if a.hidden == [8, 32, 64]:
            a.hidden = [10, 32]
        if a.populations == [64, 256, 1024]:
            a.populations = [1, 8, 32, 128]
        main_cpu(a)
        return
    import torch

    if a.dry_run:
        a.cells, a.hidden, a.populations, a.batch, a.length, a.steps = ["lstm"], [2], [2], 2, 4, 1
        device = torch.device("cpu")
    else:
        from expressivity.kernels.cuda import available

        if not (available() and torch.cuda.is_available()):
            raise SystemExit("this benchmark needs a CUDA GPU (and a CUDA build of PyTorch)")
        device = torch.device("cuda")
    rows = []
    for cell in a.cells:
        for H in a.hidden:
            for P in a.populations:
                sps = P * a.batch * a.length  # sequence-steps per update of all P
                t_ours = ours(cell, H, P, a.batch, a.length, a.steps)
                models = [_torch_model(cell, H, device) for _ in range(min(P, 16))]
                t_seq = (
                    _torch_step_time(models, a.batch, a.length, a.steps, device) * P / len(models)
                )
                big = [_torch_model(cell, H, device)]
                t_big = _torch_step_time(big, P * a.batch, a.length, a.steps, device)
                row = (
                    cell,
                    H,
                    P,
                    sps / t_ours,
                    sps / t_seq,
                    sps / t_big,
                    t_seq / t_ours,
                    t_big / t_ours,
                )
                rows.append(row)
                print(
                    f"{cell} H={H} P={P} ours {row[3]:.3g}/s, one-by-one {row[4]:.3g}/s, "
                    f"batch P*B {row[5]:.3g}/s: {row[6]:.2f}x and {row[7]:.2f}x",
                    flush=True,
                )
    for B in (32, 256) if not a.dry_run else ():
        t1 = ours("lstm", 32, 1, B, a.length, a.steps)
        tt = _torch_step_time([_torch_model("lstm", 32, device)], B, a.length, a.steps, device)
        print(
            f"(a) one lstm H=32 B={B}: ours {t1 * 1e3:.3f} ms, cuDNN {tt * 1e3:.3f} ms, "
            f"{tt / t1:.2f}x"
        )
    if a.out and not a.dry_run:
        dev = torch.cuda.get_device_name(0)
        lines = [
            f"# Population training on the GPU ({dev})",
            "",
            f"`python bench/bench_population.py` on {dev}, {platform.node()}; batch {a.batch} "
            f"per network, words of length {a.length}, float32, Adam. Sequence-steps per second "
            "(all networks together).",
            "",
            "| cell | H | P | ours | PyTorch one by one | PyTorch batch P×B | vs one by one | "
            "vs batch P×B |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c} | {h} | {p} | {a_:.3g} | {b:.3g} | {d:.3g} | {e:.2f}× | {f:.2f}× |"
            for c, h, p, a_, b, d, e, f in rows
        ]
        Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
