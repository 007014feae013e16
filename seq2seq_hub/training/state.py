"""state.py: `TrainingState`, where a training run stands (step, data position, best score, early
stopping and plateau counters, RNG), saved in and restored from a checkpoint as one object.

Its JSON form (`to_dict` / `from_dict`) is the "state" entry of a checkpoint's trainer_state.json;
the RNG states travel as tensors (`rng.torch`, `rng.cuda`). Knows nothing of files or models.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

RNG_TORCH = "rng.torch"  # tensor names of the RNG states in a checkpoint's state.safetensors
RNG_CUDA = "rng.cuda"


@dataclass
class TrainingState:
    """Everything the loop changes as it runs, besides the weights and the optimizer."""

    step: int = 0  # optimizer updates done
    epoch: int = 0  # the epoch being trained: with batch_in_epoch, the position in the data
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    best_bleu: float = -1.0  # best validation BLEU so far
    best_step: int = 0  # the step that reached it
    bad_evals: int = 0  # evaluations since the best one (early stopping)
    lr_scale: float = 1.0  # the 'plateau' schedule's factor on the learning rate
    plateau_bad: int = 0  # evaluations since the best one or the last lr cut (plateau schedule)
    skipped_steps: int = 0  # updates skipped for a non-finite loss (nonfinite=skip)
    history: list[dict[str, float]] = field(default_factory=list)  # {'step', 'valid_bleu'} per evaluation
    train_seconds: float = 0.0  # time spent training, over every resumed part of the run
    stopped_early: bool = False
    rng_torch: torch.Tensor | None = field(default=None, repr=False)  # CPU RNG state when saved
    rng_cuda: torch.Tensor | None = field(default=None, repr=False)  # the GPU's, when training on one

    # ------------------------------------------------------------------ the loop's bookkeeping
    def next_epoch(self, epoch: int) -> None:
        """Point the data position at the start of the epoch after `epoch`."""
        self.epoch, self.batch_in_epoch = epoch + 1, 0

    def record_evaluation(
        self, step: int, bleu: float, plateau_patience: int | None = None, plateau_factor: float = 1.0
    ) -> bool:
        """Count one validation score; True when it is the best so far.

        plateau_patience (the 'plateau' schedule; None: another schedule): after that many evaluations
        without a better score, `lr_scale` is multiplied by `plateau_factor`.
        """
        improved = bleu > self.best_bleu
        if improved:
            self.best_bleu, self.best_step, self.bad_evals, self.plateau_bad = bleu, step, 0, 0
        else:
            self.bad_evals += 1
            self.plateau_bad += 1
            if plateau_patience is not None and self.plateau_bad >= plateau_patience:
                self.lr_scale *= plateau_factor
                self.plateau_bad = 0
        self.history.append({"step": step, "valid_bleu": bleu})
        return improved

    # ------------------------------------------------------------------ RNG
    def capture_rng(self, device: torch.device) -> None:
        """Remember the RNG states now (just before a checkpoint is written)."""
        self.rng_torch = torch.get_rng_state()
        self.rng_cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def restore_rng(self, device: torch.device) -> None:
        """Put the remembered RNG states back (after a checkpoint is read)."""
        if self.rng_torch is not None:
            torch.set_rng_state(self.rng_torch)
        if self.rng_cuda is not None and device.type == "cuda":
            torch.cuda.set_rng_state(self.rng_cuda, device)

    def rng_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {RNG_TORCH: self.rng_torch} if self.rng_torch is not None else {}
        if self.rng_cuda is not None:
            tensors[RNG_CUDA] = self.rng_cuda
        return tensors

    # ------------------------------------------------------------------ JSON form
    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe fields (no RNG), with the key names checkpoints have always used."""
        return {name: copy.deepcopy(getattr(self, name)) for name in JSON_FIELDS}

    @classmethod
    def from_dict(cls, data: Any, tensors: dict[str, torch.Tensor] | None = None) -> TrainingState:
        """Rebuild from `to_dict`'s form (missing keys take their defaults) and, optionally, the
        checkpoint's tensors (for the RNG states). Unknown keys and wrong types raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"training state must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(JSON_FIELDS))
        if unknown:
            raise ValueError(f"training state has unknown keys {unknown}; known keys are {list(JSON_FIELDS)}")
        problems = [_type_problem(name, data[name]) for name in JSON_FIELDS if name in data]
        problems = [p for p in problems if p]
        if problems:
            raise ValueError("training state: " + "; ".join(problems))
        state = cls(**{name: copy.deepcopy(value) for name, value in data.items()})
        tensors = tensors or {}
        state.rng_torch, state.rng_cuda = tensors.get(RNG_TORCH), tensors.get(RNG_CUDA)
        return state


JSON_FIELDS = tuple(f.name for f in dataclasses.fields(TrainingState) if not f.name.startswith("rng_"))
_KINDS = {"int": (int,), "float": (int, float), "bool": (bool,)}


def _type_problem(name: str, value: Any) -> str | None:
    kind = next(f.type for f in dataclasses.fields(TrainingState) if f.name == name)  # a string (annotations)
    if kind in _KINDS:
        ok = isinstance(value, _KINDS[kind]) and (kind == "bool" or not isinstance(value, bool))
    else:  # history
        ok = isinstance(value, list) and all(isinstance(entry, dict) for entry in value)
    return None if ok else f"{name} must be {kind}, got {value!r}"
