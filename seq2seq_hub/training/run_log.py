"""run_log.py: what a run reports as it trains: metrics.jsonl (one JSON record per log line,
evaluation and final score), the same numbers in TensorBoard when it is installed, and the training
loss and throughput over the steps since the last log line. Only rank 0 writes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import atomic_write_text

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class MetricsLog:
    """Appends records to metrics.jsonl and TensorBoard (when `enabled`, i.e. on rank 0)."""

    def __init__(self, output_dir: Path, *, enabled: bool, tensorboard: bool) -> None:
        self.path = output_dir / METRICS_FILE
        self.enabled = enabled
        self.writer = None
        self.warning = ""  # why TensorBoard is off although asked for
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard may not be installed

                self.writer = SummaryWriter(str(output_dir / TENSORBOARD_DIR))
            except ImportError:
                self.warning = "tensorboard is not installed: logging to metrics.jsonl only"

    def record(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def drop_after(self, step: int) -> None:
        """After a resume, forget what was logged past the checkpoint: those steps run again."""
        if not (self.enabled and self.path.exists()):
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class StepResult:
    """What one optimizer update reports to the log."""

    step: int
    lr: float
    tf_ratio: float
    loss: float  # mean over the batch's target tokens
    num_tokens: int
    grad_norm: float


@dataclass
class TrainWindow:
    """Training loss and tokens since the last log line."""

    tokens: int = 0
    loss_sum: float = 0.0  # summed over tokens
    start: float = field(default_factory=time.perf_counter)

    def add(self, tokens: int, mean_loss: float) -> None:
        self.tokens += tokens
        self.loss_sum += mean_loss * tokens

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.tokens, 1)

    def tokens_per_s(self, world: int) -> float:
        """Throughput of all `world` processes (each trains on as many tokens, give or take)."""
        return self.tokens * world / max(time.perf_counter() - self.start, 1e-9)
