"""Speed of the core cell kernels against PyTorch (CPU), in the same run.

Usage::

    python bench/bench_cells.py                      # full grid (~10 min on 2 cores)
    python bench/bench_cells.py --quick              # small subset (~1 min)
    python bench/bench_cells.py --threads 1 2 --out bench/results/cells.md

Sections (times are medians of interleaved repeats, ours and PyTorch's
alternating so that load from other processes hits both alike):

1. Training step: ours = the trainer's fused update (next-symbol head; forward,
   backward, gradients, Adam on float64 masters and re-rounding in one numba
   call, the batch resident as the trainer holds its data); PyTorch =
   ``nn.LSTM``/``nn.GRU`` (batch_first, one-hot input of size 2) + ``nn.Linear``
   readout over 3 outputs + cross-entropy + ``backward`` + ``torch.optim.Adam``.
2. Inference: ours = ``net.run`` (forward states, from integer codes) and
   ``net.states(words)`` (strings in, list of per-word arrays out); PyTorch =
   module forward under ``torch.no_grad()``.
3. ``net.states`` over a batch of words vs ``nn.LSTMCell`` stepped in a Python
   loop, one symbol per call, batch 1 (what a step-interface tool does).
4. Emulated float16 vs native float32 in our kernels (training and inference).

Our ``gru-reset-after`` is compared with ``nn.GRU`` (same equations); our
``gru`` (reset before the matrix product) is reported beside it.

Unit: microseconds per sequence per step (total time / (batch * length)).
Speedup = PyTorch time / our time (> 1: ours is faster).

FLOP model (stated in the results file): forward = 2*G*H*(H+I)*B*T
multiply-add flops + elementwise (counted 1 flop per operation, activations
included) + the readout 2*O*H*B*T where there is one; backward = 2x forward.
"""

# ruff: noqa: B023  (the closures are timed at once, inside the loop that builds them)
from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

import expressivity as ex

ALPHABET = "ab"
V = len(ALPHABET)  # one-hot input size I
O = V + 1  # next-symbol head: symbols + END
GATES = {"lstm": 4, "gru": 3, "gru-reset-after": 3}
#: elementwise flops per hidden unit per sequence per step (bias adds, activations,
#: state update), counted one per operation
ELEMWISE = {"lstm": 4 + 4 + 5, "gru": 3 + 3 + 1 + 4, "gru-reset-after": 3 + 3 + 3 + 4}
TORCH_CELL = {"lstm": "LSTM", "gru-reset-after": "GRU"}


# ---------------------------------------------------------------------------- machine
def machine_info() -> dict:
    info = {"model": platform.processor() or "?", "cores": os.cpu_count(), "mhz": None}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            v = v.strip()
            if k == "Model name":
                info["model"] = v
            elif k == "CPU family":
                info["family"] = v
            elif k in ("CPU(s)",):
                info["cores"] = int(v)
            elif k == "CPU max MHz":
                info["max_mhz"] = float(v)
    except (OSError, subprocess.CalledProcessError):
        pass
    flags = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
        flags = set(m.group(1).split()) if m else set()
        m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
        info["mhz"] = float(m.group(1)) if m else None
    except OSError:
        pass
    info["avx512"] = "avx512f" in flags
    info["avx2"] = "avx2" in flags
    info["fma"] = "fma" in flags
    ghz = (info.get("max_mhz") or info["mhz"] or 2000.0) / 1000.0
    info["ghz"] = ghz
    # float32 lanes per vector, two FMA pipes per core (Zen 4/5, Skylake-SP and later)
    lanes = 16 if info["avx512"] else 8 if info["avx2"] else 4
    fma = 2 if info["fma"] else 1
    info["flops_per_cycle"] = 2 * lanes * 2 if info["fma"] else lanes * 2
    info["pipes"] = fma
    return info


def peak_gflops(info: dict, threads: int) -> float:
    return threads * info["ghz"] * info["flops_per_cycle"]


def flops(cell: str, H: int, B: int, T: int, train: bool) -> float:
    G = GATES[cell]
    fwd = (2 * G * H * (H + V) + ELEMWISE[cell] * H) * B * T
    if train:
        fwd += 2 * O * H * B * (T + 1) + 5 * O * B * (T + 1)  # readout + softmax/CE
        return 3 * fwd
    return fwd


# ---------------------------------------------------------------------------- data
def make_batch(rng, B, T):
    symbols = rng.integers(0, V, size=(B, T)).astype(np.int32)
    lengths = np.full(B, T, dtype=np.int64)
    targets = np.empty((B, T + 1), dtype=np.int64)
    targets[:, :T] = symbols
    targets[:, T] = V  # END
    words = ["".join(ALPHABET[s] for s in row) for row in symbols]
    return symbols, lengths, targets, words


# ---------------------------------------------------------------------------- ours
class OurTrainer:
    """The trainer's own update: the fused CPU step (forward, head, backward, gradients,
    Adam on float64 masters, re-rounding) of ``expressivity.training.population``, on a
    batch held resident as the trainer holds its dataset."""

    def __init__(self, net, lr=1e-3):
        self.net, self.lr, self.backend = net, lr, None

    def step(self, symbols, lengths, targets):
        from expressivity.languages import Dataset
        from expressivity.training import TrainConfig
        from expressivity.training.backends import CpuBackend

        B = len(lengths)
        if self.backend is None:
            T = symbols.shape[1]
            ds = Dataset(ALPHABET, symbols.astype(np.int32), lengths.astype(np.int64),
                         np.ones(B, dtype=bool), targets.astype(np.int32),
                         np.zeros((B, T + 1, V + 1), dtype=bool))  # fmt: skip
            cfg = TrainConfig(lr=self.lr, batch_size=B)
            self.backend = CpuBackend([self.net], [ds], [cfg])
            self.idx = np.arange(B).reshape(1, 1, B)
            self.nwords = np.array([[B]])
            self.active = np.ones(1, dtype=bool)
        loss, _ = self.backend.steps(self.idx, self.nwords, self.active)
        return loss[0, 0]


# ---------------------------------------------------------------------------- torch
class TorchModel(torch.nn.Module):
    def __init__(self, kind, H):
        super().__init__()
        self.rnn = getattr(torch.nn, kind)(V, H, batch_first=True)
        self.out = torch.nn.Linear(H, O)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y)


def torch_setup(kind, H, symbols, targets):
    torch.manual_seed(0)
    model = TorchModel(kind, H)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.nn.functional.one_hot(torch.from_numpy(symbols.astype(np.int64)), V).float()
    # next-symbol targets after each of the T inputs (ours also reads out h0: 1 extra row)
    y = torch.from_numpy(targets[:, 1:].copy())
    return model, opt, x, y


def torch_train_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, O), y.reshape(-1))
    loss.backward()
    opt.step()


# ---------------------------------------------------------------------------- timing
def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(fns: dict, budget: float, max_reps: int = 31, min_reps: int = 3) -> dict:
    """Warm up each fn twice, then interleave repeats; median and min seconds per call.

    Repeats fit ``budget`` seconds in all (at least ``min_reps``, at most
    ``max_reps``). If a series is noisy (interquartile range > 30 % of the
    median, other load on the machine), repeats are added once.
    """
    for f in fns.values():  # warm-up: JIT compile, allocators, torch's first-call setup
        f()
    second = {k: timed(f) for k, f in fns.items()}  # second warm-up sizes the repeats
    per_round = sum(second.values())
    reps = int(max(min_reps, min(max_reps, budget / max(per_round, 1e-9))))
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            times[k].append(timed(f))
    for k, f in fns.items():
        q1, q2, q3 = np.percentile(times[k], [25, 50, 75])
        if q3 - q1 > 0.3 * q2:
            times[k].extend(timed(f) for _ in range(max(3, reps // 2)))
    return {k: (float(np.median(v)), float(np.min(v))) for k, v in times.items()}


def set_threads(n):
    """n threads for both sides: torch's, numba's and numpy's BLAS (our large gradient sums)."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    numba.set_num_threads(n)
    threadpool_limits(n, user_api="blas")  # applied at once, kept until the next call


# ---------------------------------------------------------------------------- sections
def bench_main(cfg, info, threads_list, log):
    """Training and inference grid: rows of dicts."""
    rows = []
    rng = np.random.default_rng(0)
    for threads in threads_list:
        set_threads(threads)
        for cell in cfg["cells"]:
            for H in cfg["hidden"]:
                for B in cfg["batch"]:
                    for T in cfg["length"]:
                        if (B, T, H) in cfg["skip"]:
                            continue
                        work = B * T * H * H
                        budget = cfg["budget"] * (1 + (work > 5e7))
                        symbols, lengths, targets, words = make_batch(rng, B, T)
                        net = ex.Network.create(
                            cell, ALPHABET, H, head="next-symbol", precision="float32",
                            rng=np.random.default_rng(1),
                        )  # fmt: skip
                        trainer = OurTrainer(net)
                        fns_tr = {"ours": lambda: trainer.step(symbols, lengths, targets)}
                        fns_in = {
                            "ours": lambda: net.run(symbols, lengths),
                            "states": lambda: net.states(words),
                        }
                        kind = TORCH_CELL.get(cell)
                        if kind:
                            model, opt, x, y = torch_setup(kind, H, symbols, targets)
                            fns_tr["torch"] = lambda: torch_train_step(model, opt, x, y)

                            def infer(model=model, x=x):
                                with torch.no_grad():
                                    model.rnn(x)

                            fns_in["torch"] = infer
                        for mode, fns in (("train", fns_tr), ("infer", fns_in)):
                            r = measure(fns, budget)
                            row = dict(threads=threads, cell=cell, H=H, B=B, T=T, mode=mode)
                            fl = flops(cell, H, B, T, mode == "train")
                            pk = peak_gflops(info, threads) * 1e9
                            for k, (sec, best) in r.items():
                                row[k] = sec / (B * T) * 1e6
                                row[k + "_min"] = best / (B * T) * 1e6
                                row[k + "_peak"] = fl / sec / pk
                            rows.append(row)
                            log(_fmt_row(row))
    return rows


def bench_cell_loop(cfg, log):
    """net.states over a batch of words vs nn.LSTMCell stepped per symbol (batch 1)."""
    rows = []
    rng = np.random.default_rng(2)
    set_threads(1)
    for H in cfg["hidden"]:
        N, T = cfg["states_words"]
        _, _, _, words = make_batch(rng, N, T)
        net = ex.Network.create(
            "lstm", ALPHABET, H, precision="float32", rng=np.random.default_rng(1)
        )
        cell = torch.nn.LSTMCell(V, H)
        eye = torch.eye(V)
        codes = [[ALPHABET.index(a) for a in w] for w in words[: cfg["loop_words"]]]

        def loop():
            with torch.no_grad():
                for w in codes:
                    h = torch.zeros(1, H)
                    c = torch.zeros(1, H)
                    for s in w:
                        h, c = cell(eye[s : s + 1], (h, c))

        def loop_numpy():  # what a tool needs back: the state as numpy after each symbol
            with torch.no_grad():
                for w in codes:
                    h = torch.zeros(1, H)
                    c = torch.zeros(1, H)
                    for s in w:
                        h, c = cell(eye[s : s + 1], (h, c))
                        np.concatenate([h.numpy()[0], c.numpy()[0]])

        r = measure({"states": lambda: net.states(words), "cell": loop, "cell_np": loop_numpy}, 2.0)
        n_ours = N * T
        n_loop = len(codes) * T
        row = dict(
            H=H,
            N=N,
            T=T,
            states=r["states"][0] / n_ours * 1e6,
            cell=r["cell"][0] / n_loop * 1e6,
            cell_np=r["cell_np"][0] / n_loop * 1e6,
        )
        rows.append(row)
        log(f"states vs LSTMCell loop H={H}: {row}")
    return rows


def bench_fp16(cfg, threads_list, log):
    """Our training step and inference, emulated float16 vs native float32."""
    rows = []
    rng = np.random.default_rng(3)
    for threads in threads_list:
        set_threads(threads)
        for cell in cfg["cells"]:
            for H in cfg["fp16_hidden"]:
                B, T = cfg["fp16_bt"]
                symbols, lengths, targets, _ = make_batch(rng, B, T)
                nets = {
                    p: ex.Network.create(
                        cell,
                        ALPHABET,
                        H,
                        head="next-symbol",
                        precision=p,
                        rng=np.random.default_rng(1),
                    )
                    for p in ("float32", "float16")
                }
                trainers = {p: OurTrainer(n) for p, n in nets.items()}
                for mode in ("train", "infer"):
                    if mode == "train":
                        fns = {
                            p: (lambda tr=tr: tr.step(symbols, lengths, targets))
                            for p, tr in trainers.items()
                        }
                    else:
                        fns = {p: (lambda n=n: n.run(symbols, lengths)) for p, n in nets.items()}
                    r = measure(fns, cfg["budget"])
                    row = dict(threads=threads, cell=cell, H=H, B=B, T=T, mode=mode)
                    for p, (sec, best) in r.items():
                        row[p] = sec / (B * T) * 1e6
                        row[p + "_min"] = best / (B * T) * 1e6
                    rows.append(row)
                    log(f"fp16 {row}")
    return rows


# ---------------------------------------------------------------------------- report
def _fmt_row(row):
    s = f"{row['mode']:5s} t={row['threads']} {row['cell']:16s} H={row['H']:3d} B={row['B']:3d} T={row['T']:3d}"
    s += f"  ours {row['ours']:9.3f}us"
    if "torch" in row:
        s += f"  torch {row['torch']:9.3f}us  speedup {row['torch'] / row['ours']:6.2f}x"
    if "states" in row:
        s += f"  states {row['states']:9.3f}us"
    return s


def _geo(xs):
    xs = [x for x in xs if x > 0]
    return float(np.exp(np.mean(np.log(xs)))) if xs else float("nan")


def main_table(rows, mode):
    head = (
        "| threads | cell | H | B | T | ours µs | PyTorch µs | speedup | ours % peak | PyTorch % peak |"
        + (" `states` µs |" if mode == "infer" else "")
    )
    sep = "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|" + (
        "---:|" if mode == "infer" else ""
    )
    out = [head, sep]
    for r in rows:
        if r["mode"] != mode:
            continue
        th = r.get("torch")
        cell = r["cell"] + (f" (vs nn.{TORCH_CELL[r['cell']]})" if r["cell"] in TORCH_CELL else "")
        line = (
            f"| {r['threads']} | {cell} | {r['H']} | {r['B']} | {r['T']} | {r['ours']:.3f} | "
            + (f"{th:.3f} | {th / r['ours']:.2f}x | " if th else "– | – | ")
            + f"{100 * r['ours_peak']:.2f} | "
            + (f"{100 * r['torch_peak']:.2f} |" if th else "– |")
        )
        if mode == "infer":
            line += f" {r['states']:.3f} |"
        out.append(line)
    return "\n".join(out)


def _ratio_line(label, rs, num, den, need, better="≥", target=True):
    """One target row: ratios num/den from medians, and from best-of times as a check."""
    med = [r[num] / r[den] for r in rs]
    best = [r[num + "_min"] / r[den + "_min"] for r in rs] if num + "_min" in rs[0] else med
    ok = (lambda x: x >= need) if better == "≥" else (lambda x: x <= need)
    met = sum(ok(x) for x in med)
    return (
        f"| {label} | {met}/{len(med)} | min {min(med):.2f}x, geo-mean {_geo(med):.2f}x, "
        f"max {max(med):.2f}x | geo-mean {_geo(best):.2f}x ({sum(ok(x) for x in best)}/{len(best)} meet) | "
        f"{('met' if met == len(med) else 'not met') if target else '–'} |"
    )


def targets_summary(rows, loop_rows, fp16_rows):
    lines = []
    tr = [r for r in rows if r["mode"] == "train" and "torch" in r]
    for label, sel, need in (
        ("training ≥ 5x PyTorch, H ≤ 32", [r for r in tr if r["H"] <= 32], 5),
        ("training ≥ 1x PyTorch, H = 128", [r for r in tr if r["H"] == 128], 1),
    ):
        if sel:
            lines.append(_ratio_line(label, sel, "torch", "ours", need))
    for th in sorted({r["threads"] for r in tr}):
        for hs, lab in (((8, 32), "H ≤ 32"), ((128,), "H = 128")):
            sel = [r for r in tr if r["H"] in hs and r["threads"] == th]
            if sel:
                lines.append(
                    _ratio_line(
                        f"  (training, {th} thread(s), {lab})",
                        sel,
                        "torch",
                        "ours",
                        5 if 128 not in hs else 1,
                    )
                )
    inf = [r for r in rows if r["mode"] == "infer" and "torch" in r]
    if inf:
        lines.append(
            _ratio_line("(inference `run`, no target; ≥ 1x counted)", inf, "torch", "ours", 1)
        )
    if loop_rows:
        lines.append(
            _ratio_line(
                "`states` ≥ 50x `nn.LSTMCell` loop per symbol", loop_rows, "cell", "states", 50
            )
        )
    if fp16_rows:
        lines.append(
            _ratio_line(
                "emulated float16 ≤ 3x float32 time (ours)", fp16_rows, "float16", "float32", 3, "≤"
            )
        )
    head = "| target | configs meeting it (medians) | ratio (medians) | cross-check: best-of times | verdict |"
    return "\n".join([head, "|---|---|---|---|---|"] + lines)


def write_report(path, args, info, rows, loop_rows, fp16_rows, load0, load1, elapsed, cfg):
    cmd = "python " + " ".join([sys.argv[0]] + sys.argv[1:])
    peak1 = peak_gflops(info, 1)
    skipped = ", ".join(f"B={b} T={t} H={h}" for b, t, h in sorted(cfg["skip"])) or "none"
    md = [
        "## cells: training and inference speed vs PyTorch (CPU)",
        "",
        f"Machine: {info['model']} (CPU family {info.get('family', '?')}), {info['cores']} cores, "
        f"{info['ghz']:.2f} GHz (/proc/cpuinfo; no boost clock exposed under KVM); "
        f"AVX-512: {info['avx512']}, AVX2: {info['avx2']}, FMA: {info['fma']}.",
        f"Software: Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"torch {torch.__version__} (CPU), expressivity {getattr(ex, '__version__', '?')}.",
        f"Command: `{cmd}`  ({elapsed / 60:.1f} min)",
        f"Load average (1, 5, 15 min) at start: {load0[0]:.2f}, {load0[1]:.2f}, {load0[2]:.2f}; "
        f"at end: {load1[0]:.2f}, {load1[1]:.2f}, {load1[2]:.2f} (2 cores; other agents shared the "
        "machine, so absolute numbers are noisy; ours and PyTorch's repeats are interleaved, "
        "so ratios are fairer than absolutes).",
        "",
        "Unit: µs per sequence per step (median time / (batch × length)). Speedup = PyTorch / ours "
        "(> 1: ours faster). Medians of interleaved repeats after two warm-up calls each (JIT "
        "compiled before timing).",
        "",
        f"Peak assumption: {info['flops_per_cycle']} float32 FLOP/cycle/core (AVX-512 "
        "16 lanes × 2 FMA pipes × 2 flops; Zen 4/5-class core with two 512-bit FMA pipes — "
        "if the core splits 512-bit ops into 2×256, halve the peak and double the % columns) → "
        f"{peak1:.0f} GFLOP/s per thread, {peak_gflops(info, 2):.0f} GFLOP/s with 2 threads. "
        "FLOPs: forward = 2·G·H·(H+I)·B·T + elementwise (LSTM 13, GRU 11–13 per unit per step, "
        "activations counted 1) ; training = 3 × (forward + readout 2·O·H·B·(T+1) + softmax/CE), "
        "I = 2, O = 3; Adam not counted. Ours replaces the input product by a table lookup, "
        "so it is credited with flops it does not do (< 2 % at H ≥ 32).",
        "",
        "Setup. Ours: `Network.create(cell, 'ab', H, head='next-symbol', precision='float32')`; "
        "training step = the trainer's fused update (`expressivity.kernels.step`: forward, head, "
        "backward, gradient sums, Adam on float64 masters, re-rounding, in one numba call; the "
        "batch resident, as the trainer holds its data); inference = `net.run(symbols, lengths)`; "
        "`states` = `net.states(words)` from strings, including per-word list building. PyTorch: "
        "`nn.LSTM`/`nn.GRU(2, H, batch_first=True)` on one-hot float32 input + `nn.Linear(H, 3)` + "
        "cross-entropy + `backward()` + `torch.optim.Adam.step()`; inference = the recurrent module's "
        "forward under `torch.no_grad()`. Our `gru-reset-after` is compared with `nn.GRU` (same "
        "equations); our `gru` (reset before the product) has no PyTorch twin. All words of a "
        "batch have the full length T.",
        f"Skipped configurations (too slow for the 10-minute budget): {skipped}.",
        "",
        "### Targets",
        "",
        targets_summary(rows, loop_rows, fp16_rows),
        "",
        "### Training step (forward + backward + Adam)",
        "",
        main_table(rows, "train"),
        "",
        "### Inference (forward only)",
        "",
        main_table(rows, "infer"),
        "",
    ]
    if loop_rows:
        md += [
            "### `net.states(words)` vs `nn.LSTMCell` stepped per symbol (1 thread)",
            "",
            f"Ours: `net.states` on {loop_rows[0]['N']} words of length {loop_rows[0]['T']} "
            "(strings in, list of (T+1, 2H) arrays out). PyTorch: `nn.LSTMCell` called once per "
            "symbol with batch 1 under `no_grad` (input row from a precomputed one-hot table), "
            "over the first "
            f"{cfg['loop_words']} words; 'with numpy' also copies (h, c) to one numpy vector "
            "after each step, as a step-interface tool needs.",
            "",
            "| H | ours µs/symbol | LSTMCell loop µs/symbol | speedup | loop with numpy µs/symbol | speedup |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in loop_rows:
            md.append(
                f"| {r['H']} | {r['states']:.3f} | {r['cell']:.2f} | {r['cell'] / r['states']:.0f}x | "
                f"{r['cell_np']:.2f} | {r['cell_np'] / r['states']:.0f}x |"
            )
        md.append("")
    if fp16_rows:
        md += [
            "### Emulated float16 vs native float32 (ours)",
            "",
            "| mode | threads | cell | H | B | T | float32 µs | float16 µs | float16 / float32 |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in fp16_rows:
            md.append(
                f"| {r['mode']} | {r['threads']} | {r['cell']} | {r['H']} | {r['B']} | {r['T']} | "
                f"{r['float32']:.3f} | {r['float16']:.3f} | {r['float16'] / r['float32']:.2f}x |"
            )
        md.append("")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(md))


def config(quick: bool) -> dict:
    if quick:
        return dict(
            cells=["lstm", "gru-reset-after", "gru"],
            hidden=[8, 32],
            batch=[1, 32],
            length=[50],
            skip=set(),
            budget=0.4,
            states_words=(64, 20),
            loop_words=16,
            fp16_hidden=[32],
            fp16_bt=(32, 50),
        )
    return dict(
        cells=["lstm", "gru-reset-after", "gru"],
        hidden=[8, 32, 128],
        batch=[1, 32, 256],
        length=[50, 500],
        skip={(256, 500, 128)},
        budget=0.6,
        states_words=(256, 50),
        loop_words=32,
        fp16_hidden=[8, 32, 128],
        fp16_bt=(32, 50),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subset (~1 min)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=None, help="write the Markdown results here")
    ap.add_argument("--sections", nargs="+", default=["main", "loop", "fp16"])
    args = ap.parse_args(argv)
    cfg = config(args.quick)
    info = machine_info()
    load0 = os.getloadavg()
    t0 = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t0:6.1f}s load {os.getloadavg()[0]:.2f}] {msg}", flush=True)

    log(f"machine {info['model']}, {info['cores']} cores; load {load0}")
    rows = bench_main(cfg, info, args.threads, log) if "main" in args.sections else []
    loop_rows = bench_cell_loop(cfg, log) if "loop" in args.sections else []
    fp16_rows = bench_fp16(cfg, args.threads, log) if "fp16" in args.sections else []
    load1 = os.getloadavg()
    elapsed = time.perf_counter() - t0
    log(f"done; load {load1}")
    if args.out:
        write_report(args.out, args, info, rows, loop_rows, fp16_rows, load0, load1, elapsed, cfg)
        log(f"wrote {args.out}")
    else:
        print(targets_summary(rows, loop_rows, fp16_rows))


if __name__ == "__main__":
    main()
