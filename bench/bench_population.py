"""GPU population training vs PyTorch/cuDNN (issue #7's benchmark). Needs a CUDA GPU.

Run on a GPU machine:

    python bench/bench_population.py --out bench/results/population.md

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    ap.add_argument("--hidden", nargs="+", type=int, default=[8, 32, 64])
    ap.add_argument("--populations", nargs="+", type=int, default=[64, 256, 1024])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--out", help="write a Markdown table here")
    a = ap.parse_args()
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
