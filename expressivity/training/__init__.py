"""Training: the trainer, population training, optimizers and checkpoints.

Imports point one way: :mod:`~expressivity.training.trainer` (``train``) ->
:mod:`~expressivity.training.population` (``train_population``, the loop) ->
:mod:`~expressivity.training.backends` (the updates) ->
:mod:`~expressivity.training.records` (settings, results, epoch records,
divergence, checkpoints of a run), with ``optim`` and ``checkpoint`` below.

Examples
--------
>>> from expressivity.training import TrainConfig
>>> TrainConfig(lr=0.01, batch_size=8).optimizer
'adam'
"""

from expressivity.training.checkpoint import CheckpointError
from expressivity.training.optim import SGD, Adam, clip_by_global_norm, make_optimizer
from expressivity.training.population import train_population
from expressivity.training.records import (
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    dataset_accuracy,
)
from expressivity.training.trainer import train

__all__ = [
    "SGD",
    "Adam",
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "clip_by_global_norm",
    "dataset_accuracy",
    "make_optimizer",
    "train",
    "train_population",
]
