"""Training: the trainer, population training, optimizers and checkpoints.

Examples
--------
>>> from expressivity.training import TrainConfig
>>> TrainConfig(lr=0.01, batch_size=8).optimizer
'adam'
"""

from expressivity.training.checkpoint import CheckpointError
from expressivity.training.optim import SGD, Adam, clip_by_global_norm, make_optimizer
from expressivity.training.population import train_population
from expressivity.training.trainer import (
    TrainConfig,
    TrainingDiverged,
    TrainResult,
    dataset_accuracy,
    train,
)

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
