"""checkpoints.py: a run's files on disk besides the model folder: resumable checkpoints (written
atomically, the newest named by `latest`, old ones pruned), the weights kept for checkpoint averaging
and their average, and atomic text writes. Knows nothing of the loop: it is handed what to save.

A checkpoint folder `checkpoint-<step>/` holds state.safetensors (model.*, optim.<param>.<key>, rng.*)
and trainer_state.json ({"state", "param_groups", "train_config", "model_config"}).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import safetensors.torch  # looked up at call time, so that a replaced save_file is the one used
import torch

from .errors import TrainingError
from .state import TrainingState

CHECKPOINT_PREFIX = "checkpoint-"
LATEST_FILE = "latest"  # names the newest complete checkpoint (written atomically)
TENSORS_FILE = "state.safetensors"
STATE_FILE = "trainer_state.json"
AVERAGING_DIR = "averaging"  # weights of the best evaluations, for checkpoint averaging
AVERAGING_INDEX = "index.json"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------- resumable checkpoints
def latest_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint folder `latest` names, or None when there is none."""
    latest = output_dir / LATEST_FILE
    if not latest.is_file():
        return None
    path = output_dir / latest.read_text(encoding="utf-8").strip()
    return path if path.is_dir() else None


def checkpoint_tensors(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainingState
) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: weights, optimizer state per parameter, RNG states."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for pid, pstate in optimizer.state_dict()["state"].items():
        for key, value in pstate.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"optim.{pid}.{key}"] = t.detach().cpu().contiguous()
    tensors.update(state.rng_tensors())
    return tensors


def save_checkpoint(
    output_dir: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    configs: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint-<step>/ (through a temporary folder), point `latest` at it, prune to `keep`.

    `state` must hold its RNG states (`TrainingState.capture_rng`); `configs` holds 'train_config' and
    'model_config' as dicts. A failed write raises TrainingError and leaves the previous checkpoint intact.
    """
    final = output_dir / f"{CHECKPOINT_PREFIX}{state.step}"
    tmp = Path(tempfile.mkdtemp(dir=output_dir, prefix=f".{CHECKPOINT_PREFIX}{state.step}-"))
    try:
        safetensors.torch.save_file(checkpoint_tensors(model, optimizer, state), str(tmp / TENSORS_FILE))
        meta = {"state": state.to_dict(), "param_groups": optimizer.state_dict()["param_groups"], **configs}
        (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TrainingError(
            f"could not write checkpoint {final.name} ({err.strerror or err}); the previous checkpoint is "
            "intact; free some disk space and rerun with --resume"
        ) from None
    atomic_write_text(output_dir / LATEST_FILE, final.name + "\n")
    prune_checkpoints(output_dir, keep, final)
    return final


def prune_checkpoints(output_dir: Path, keep: int, current: Path) -> None:
    """Keep the newest `keep` checkpoints (never `current`) and remove unfinished ones."""
    checkpoints = sorted(output_dir.glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name.split("-")[1]))
    for old in checkpoints[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    for stale in output_dir.glob(f".{CHECKPOINT_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def load_checkpoint(
    path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> TrainingState:
    """Load weights and optimizer state into `model` / `optimizer`; returns the state (RNG not yet restored)."""
    try:
        meta = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        tensors = safetensors.torch.load_file(str(path / TENSORS_FILE))
        state = TrainingState.from_dict(meta["state"], tensors)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"checkpoint {path} is unreadable: {err}") from None
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(model_state, strict=True)
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value.to(device) if name != "step" else value
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    return state


# ---------------------------------------------------------------------- checkpoint averaging
def keep_for_averaging(output_dir: Path, model: torch.nn.Module, step: int, bleu: float, count: int) -> None:
    """Keep the weights of the best `count` evaluations by validation BLEU (averaging/step-<step>.safetensors)."""
    folder = output_dir / AVERAGING_DIR
    folder.mkdir(exist_ok=True)
    index = folder / AVERAGING_INDEX
    entries = json.loads(index.read_text()) if index.exists() else []
    entries.append({"step": step, "bleu": bleu})
    entries.sort(key=lambda e: e["bleu"], reverse=True)
    keep, drop = entries[:count], entries[count:]
    if any(e["step"] == step for e in keep):
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(weights, str(folder / f"step-{step}.safetensors"))
    for e in drop:
        (folder / f"step-{e['step']}.safetensors").unlink(missing_ok=True)
    atomic_write_text(index, json.dumps(keep))


def average_weights(output_dir: Path) -> dict[str, torch.Tensor] | None:
    """The float32 mean of the kept weights, or None when fewer than two were kept."""
    folder = output_dir / AVERAGING_DIR
    if not (folder / AVERAGING_INDEX).exists():
        return None
    entries = json.loads((folder / AVERAGING_INDEX).read_text())
    files = [folder / f"step-{e['step']}.safetensors" for e in entries]
    files = [f for f in files if f.exists()]
    if len(files) < 2:
        return None
    states = [safetensors.torch.load_file(str(f)) for f in files]
    return {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}
