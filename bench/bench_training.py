"""Training speed: expressivity vs PyTorch on the Weiss protocol, and the per-update cost.

Run: ``python bench/bench_training.py [--updates N] [--out bench/results/training.md]``
(dask's overhead per run is measured by ``bench/bench_dask.py``.)

1. The same a^n b^n LSTM training (10 hidden units, 3-dim embedding, next-symbol
   softmax with end marker, Adam lr 0.001, one word per update, n = 1..99 shuffled,
   the same number of updates) written the usual PyTorch way (nn.Embedding,
   nn.LSTM, nn.Linear, CrossEntropyLoss, torch.optim.Adam) and with
   :func:`expressivity.training.train` (float32). Wall time of both, same process.
2. The cost of one fused update at batch 1 by word length (the trainer's
   update: forward, head, backward, gradient sums, Adam and re-rounding in one
   numba call, :mod:`expressivity.kernels.step`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


def bench_expressivity(updates: int) -> float:
    import expressivity as ex
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol
    from expressivity.training import TrainConfig, train

    lang, proto = get_language("anbn"), get_protocol("weiss2018")
    data = proto.training_data(lang, np.random.default_rng(0), 1, 99)
    net = ex.Network.create("lstm", "ab", 10, head="next-symbol", embedding_size=3,
                            precision="float32", rng=np.random.default_rng(0))  # fmt: skip
    train(net, data[:2], np.random.default_rng(0), TrainConfig(epochs=1))  # JIT warm-up
    epochs = max(1, updates // len(data))
    t = time.perf_counter()
    train(net, data, np.random.default_rng(1), TrainConfig(epochs=epochs, eval_every=10**6))
    return (time.perf_counter() - t) / (epochs * len(data))


def bench_torch(updates: int) -> float:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(3, 3)
            self.lstm = nn.LSTM(3, 10, batch_first=True)
            self.out = nn.Linear(10, 3)
            self.h0 = nn.Parameter(torch.zeros(1, 1, 10))
            self.c0 = nn.Parameter(torch.zeros(1, 1, 10))

        def forward(self, x):
            # the state before the first symbol predicts it: prepend h0 to the outputs
            y, _ = self.lstm(self.emb(x), (self.h0, self.c0))
            h = torch.cat([self.h0.transpose(0, 1), y], dim=1)
            return self.out(h)

    model = LM()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    words = []
    for n in range(1, 100):
        w = [0] * n + [1] * n
        words.append((torch.tensor([w], dtype=torch.long), torch.tensor(w + [2], dtype=torch.long)))
    rng = np.random.default_rng(1)
    epochs = max(1, updates // len(words))
    t = time.perf_counter()
    for _ in range(epochs):
        for i in rng.permutation(len(words)):
            x, y = words[i]
            opt.zero_grad()
            logits = model(x)[0]
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
    return (time.perf_counter() - t) / (epochs * len(words))


def bench_update_parts(reps: int = 300) -> dict:
    """ms per one-word update of the fused step, by word length (the word held resident)."""
    import expressivity as ex
    from expressivity.languages import get_language
    from expressivity.protocols import get_protocol
    from expressivity.training import TrainConfig
    from expressivity.training.backends import CpuBackend

    lang, proto = get_language("anbn"), get_protocol("weiss2018")
    data = proto.training_data(lang, np.random.default_rng(0), 1, 99)
    net = ex.Network.create("lstm", "ab", 10, head="next-symbol", embedding_size=3,
                            precision="float32", rng=np.random.default_rng(0))  # fmt: skip
    be = CpuBackend([net], [data], [TrainConfig(lr=0.001)])
    out = {}
    for n in (10, 50, 99):
        i = int(np.flatnonzero(data.lengths == 2 * n)[0])
        idx = np.full((reps, 1, 1), i)
        nw = np.ones((reps, 1), dtype=np.int64)
        be.steps(idx[:2], nw[:2], np.ones(1, dtype=bool))
        t = time.perf_counter()
        be.steps(idx, nw, np.ones(1, dtype=bool))
        out[2 * n] = 1e3 * (time.perf_counter() - t) / reps
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=2970)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "training.md"))
    a = ap.parse_args()
    ours = bench_expressivity(a.updates)
    theirs = bench_torch(a.updates)
    parts = bench_update_parts()
    lines = [
        "## Training (bench/bench_training.py)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Command: `python bench/bench_training.py`.",
        "",
        "a^n b^n LSTM (10 units, 3-dim embedding, next-symbol + end marker, Adam lr 0.001,"
        f" one word per update, n = 1..99 shuffled), {a.updates} updates, single thread:",
        "",
        "| implementation | ms / update | ratio |",
        "|---|---|---|",
        f"| expressivity `train` (float32, numba) | {1e3 * ours:.3f} | 1.00 |",
        f"| PyTorch 2 (nn.LSTM + Adam, the usual way) | {1e3 * theirs:.3f} | {theirs / ours:.2f}x slower |",
        "",
        "The fused update alone (forward, head, backward, gradient sums, Adam, re-rounding in "
        "one numba call; `expressivity.kernels.step`), by word length:",
        "",
        "| length | ms / update |",
        "|---|---|",
    ]
    for L, ms in parts.items():
        lines.append(f"| {L} | {ms:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
