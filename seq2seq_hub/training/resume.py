"""resume.py: what `--resume` continues from. The configuration must match the checkpoint's in every
setting that fixes the model or the data (`config.RESUME_FIXED`; a difference is refused, naming each
setting with both values) and the settings that may change are logged; the run's checkpoints are then
tried newest first, a damaged one skipped with the reason said. Knows nothing of the loop: it is handed
the model and optimizer to load into.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..config import Seq2SeqConfig
from .checkpoints import load_checkpoint, read_checkpoint_meta
from .config import FILLED_FROM_DATA, RESUME_FIXED, TrainConfig
from .errors import TrainingError
from .prepare import TOKENIZER_DIR
from .state import TrainingState

START_ANEW = "resume with the checkpoint's values, or start a new run with another --output_dir"


def check_resume_config(checkpoints: list[Path], cfg: TrainConfig, log: Callable[[str], None]) -> None:
    """Refuse (TrainingError) `cfg` when it differs from the newest readable checkpoint's configuration in
    a fixed setting; log the settings that changed and may. No readable configuration: nothing to check
    (loading the checkpoints then says what is wrong with them)."""
    for path in checkpoints:
        try:
            saved = read_checkpoint_meta(path).get("train_config")
        except TrainingError:
            continue
        if isinstance(saved, dict):
            break
    else:
        return
    fixed, changed = config_differences(saved, cfg)
    if fixed:
        raise TrainingError(
            f"--resume refused: settings that cannot change within a run differ from {path.name}'s: "
            + "; ".join(fixed)
            + f"; {START_ANEW}"
        )
    if changed:
        log(f"--resume: settings changed since {path.name}: " + "; ".join(changed))


def config_differences(saved: dict[str, Any], cfg: TrainConfig) -> tuple[list[str], list[str]]:
    """(differences in fixed settings, changes of the others) between a checkpoint's `train_config` and
    `cfg`, each as 'name (checkpoint A, now B)'. Settings a checkpoint lacks take their defaults; the
    model is compared field by field, defaults filled in."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name != "model"}
    fixed, changed = [], []
    for name, now in cfg.to_dict().items():
        if name == "model":
            model = saved.get("model")
            fixed += _model_differences(model if isinstance(model, dict) else {}, now)
            continue
        before = saved.get(name, defaults[name])
        before = list(before) if isinstance(before, tuple) else before  # betas: a list in JSON
        if before != now:
            (fixed if name in RESUME_FIXED else changed).append(f"{name} (checkpoint {before!r}, now {now!r})")
    return fixed, changed


def _model_fields(model: dict[str, Any]) -> dict[str, Any]:
    """`model` (a TrainConfig's) with every Seq2SeqConfig default filled in, less the fields the data fills."""
    given = {k: v for k, v in model.items() if k not in FILLED_FROM_DATA}
    try:
        full = Seq2SeqConfig(**given).to_dict()
    except (TypeError, ValueError):  # a checkpoint of another version: compare what it says
        full = given
    return {k: v for k, v in full.items() if k not in FILLED_FROM_DATA}


def _model_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    before, after = _model_fields(saved), _model_fields(now)
    return [
        f"model.{k} (checkpoint {before.get(k)!r}, now {after.get(k)!r})"
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]


def load_newest_intact(
    checkpoints: list[Path],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    model_config: Seq2SeqConfig,
    device: torch.device,
    log: Callable[[str], None],
) -> TrainingState:
    """Load the first of `checkpoints` that is intact into `model` / `optimizer` and return its state (RNG
    not yet restored), saying which were skipped and why. TrainingError when none is intact, or when the
    model built from the data differs from the checkpoint's (its tokenizer was replaced)."""
    damaged: list[TrainingError] = []
    for path in checkpoints:
        try:
            _check_model_config(path, model_config)
            state = load_checkpoint(path, model=model, optimizer=optimizer, device=device)
        except _ModelMismatch as err:
            raise TrainingError(str(err)) from None
        except TrainingError as err:
            damaged.append(err)
            continue
        for err in damaged:
            log(f"--resume: skipped a damaged checkpoint: {err}")
        skipped = f", the newest intact one ({len(damaged)} skipped)" if damaged else ""
        log(f"resumed from {path.name} (step {state.step}, epoch {state.epoch}){skipped}")
        return state
    raise TrainingError(
        f"--resume: no intact checkpoint in {checkpoints[0].parent} ("
        + "; ".join(str(err) for err in damaged)
        + "); start a new run with another --output_dir"
    )


class _ModelMismatch(TrainingError):
    """The checkpoint is readable but holds another model: refused, not skipped."""


def _check_model_config(path: Path, model_config: Seq2SeqConfig) -> None:
    saved = read_checkpoint_meta(path).get("model_config")
    if not isinstance(saved, dict):
        return  # loading says what is wrong
    now = model_config.to_dict()
    differ = [f"{k} (checkpoint {saved.get(k)!r}, now {now[k]!r})" for k in now if k in saved and saved[k] != now[k]]
    if differ:
        raise _ModelMismatch(
            f"--resume refused: the model built from this data differs from {path.name}'s: " + "; ".join(differ)
            + f" (was {path.parent / TOKENIZER_DIR} replaced?); {START_ANEW}"
        )  # fmt: skip
