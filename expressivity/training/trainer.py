"""The trainer: any cell, head and precision; Adam or SGD; batches from one word up.

Float64 master weights are updated by the optimizer and rounded to the
network's precision after each update, so gradients are always taken at the
weights the finite precision model actually uses. The loop (epochs,
validation, early stopping, checkpoints) is
:func:`expressivity.training.population.train_population`'s: a run is a
population of one, and its updates run on the CPU or the GPU
(:mod:`expressivity.training.backends`). Imports point one way: ``trainer``
-> ``population`` -> ``backends`` -> ``records`` (the settings, results,
epoch records and checkpoints they share).

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> from expressivity.languages import get_language
>>> from expressivity.protocols import get_protocol
>>> lang, proto = get_language("anbn"), get_protocol("weiss2018")
>>> data = proto.training_data(lang, np.random.default_rng(0), 0, 4)
>>> net = ex.Network.create("lstm", "ab", 4, head="next-symbol", rng=np.random.default_rng(0))
>>> res = train(net, data, np.random.default_rng(1), TrainConfig(epochs=2))
>>> res.epochs_run, res.updates, res.stopped
(2, 10, 'epochs')
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from expressivity._progress import epoch_progress
from expressivity.training.backends import resolve_backend
from expressivity.training.population import train_population

# the run's settings, result and error live in ``records`` (below the loop and the
# backends); re-exported here for imports written before that module existed
from expressivity.training.records import (
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    dataset_accuracy,
)

__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "dataset_accuracy", "train"]


def train(
    net,
    data,
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    validation=None,
    checkpoint: str | Path | None = None,
    progress: Callable[[dict], None] | None = None,
    backend: str = "cpu",
) -> TrainResult:
    """Train ``net`` on the :class:`~expressivity.languages.Dataset` ``data``.

    Parameters
    ----------
    net : Network
        Start weights, cell, head and precision.
    data : Dataset
        Training words with their targets (the head picks ``next_symbol``,
        ``labels`` or ``next_set``).
    rng : np.random.Generator
        Shuffles the words every epoch; training is deterministic given its state.
    config : TrainConfig
    validation : Dataset, optional
        Early stopping and the choice of the returned weights use accuracy on
        it (then loss). Without it, ``target_accuracy`` is checked on ``data``.
    checkpoint : path, optional
        Written every ``checkpoint_every`` epochs. If the file exists, training
        resumes from it (same config and network required), restoring the
        weights, the optimizer and ``rng``'s state, so the result equals an
        uninterrupted run.
    progress : callable, optional
        Called with each epoch's history record. (A progress bar counts the epochs
        in a terminal or notebook; ``EXPRESSIVITY_PROGRESS=0`` turns it off.)
    backend : "cpu", "cuda" or "auto" (the GPU when there is one)
        Where the updates run: :func:`expressivity.training.population.train_population`
        with one network (``"cuda"``: the GPU's population kernel).

    Raises
    ------
    TrainingDiverged
        NaN or inf in the loss, the gradients or the weights; the last good
        checkpoint stays on disk.
    CheckpointError
        The checkpoint is corrupt or belongs to another configuration.
    """
    cfg = config or TrainConfig()
    if len(data) == 0:
        raise ValueError("the training data is empty")
    if data.alphabet != net.alphabet:
        raise ValueError(
            f"data alphabet {data.alphabet!r} differs from the network's {net.alphabet!r}"
        )
    backend = resolve_backend(backend)
    prog, bar = epoch_progress(progress, cfg.epochs, f"training {net.cell}")  # bar if interactive
    try:
        (out,) = train_population([net], [data], [rng], [cfg], [validation], backend, prog,
                                  checkpoints=[checkpoint])  # fmt: skip
    finally:
        bar.close()
    if isinstance(out, TrainingDiverged):
        raise out
    return out
