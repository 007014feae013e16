"""seq2seq_hub.training: what `seq2seq-hub train` runs (`command`). `TrainConfig` and the command line (config),
the loop (trainer), its state, checkpoints, data preparation, metrics log and model folder, each in
its own module; this package exports the names a training script needs.
"""

from .config import TrainConfig, build_train_parser, load_train_config
from .errors import TrainingError, user_message
from .state import TrainingState
from .trainer import Trainer

__all__ = [
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "TrainingState",
    "build_train_parser",
    "load_train_config",
    "user_message",
]
