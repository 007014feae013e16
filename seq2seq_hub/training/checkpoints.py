"""checkpoints.py: a run's files on disk besides the model folder: resumable checkpoints (written
atomically, the newest named by `latest`, old ones pruned; a damaged one fails to load with one
TrainingError), the weights kept for checkpoint averaging and their average.
Knows nothing of the loop: it is handed what to save. Which checkpoint a resumed run uses is resume.py's.

A checkpoint folder `checkpoint-<step>/` holds state.safetensors (model.*, optim.<param>.<key>, rng.*)
and trainer_state.json ({"state", "param_groups", "train_config", "model_config"}).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import safetensors.torch  # looked up at call time, so that a replaced save_file is the one used
import torch
from safetensors import SafetensorError

from ..averaging import AVERAGING_DIR, AVERAGING_INDEX, CHECKPOINT_TENSORS, kept_weights, kept_weights_file
from ..averaging import average_weights as average_files
from ..files import atomic_write_text, replace_folder, staging_folder
from .errors import TrainingError
from .state import TrainingState

CHECKPOINT_PREFIX = "checkpoint-"
LATEST_FILE = "latest"  # names the newest complete checkpoint (written atomically)
TENSORS_FILE = CHECKPOINT_TENSORS
STATE_FILE = "trainer_state.json"


def remove(output_dir: Path, names: tuple[str, ...]) -> None:
    """Remove these files and folders of `output_dir` (those that exist)."""
    for name in names:
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# ---------------------------------------------------------------------- resumable checkpoints
def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint folder's name (checkpoint-<step>), or None for any other name."""
    number = path.name.removeprefix(CHECKPOINT_PREFIX)
    return int(number) if path.name.startswith(CHECKPOINT_PREFIX) and number.isdigit() else None


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The checkpoint folder `latest` names, or None when there is none."""
    try:
        name = (output_dir / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    path = output_dir / name
    return path if checkpoint_step(path) is not None and path.parent == output_dir and path.is_dir() else None


def list_checkpoints(output_dir: Path) -> list[Path]:
    """The run's checkpoint folders in the order to resume from them: the one `latest` names, then the
    others newest first (unfinished writes, .checkpoint-*, are not checkpoints)."""
    found = [p for p in output_dir.glob(f"{CHECKPOINT_PREFIX}*") if checkpoint_step(p) is not None and p.is_dir()]
    found.sort(key=checkpoint_step, reverse=True)
    latest = latest_checkpoint(output_dir)
    return [latest, *(p for p in found if p != latest)] if latest else found


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
    tmp = staging_folder(final)
    try:
        safetensors.torch.save_file(checkpoint_tensors(model, optimizer, state), str(tmp / TENSORS_FILE))
        meta = {"state": state.to_dict(), "param_groups": optimizer.state_dict()["param_groups"], **configs}
        atomic_write_text(tmp / STATE_FILE, json.dumps(meta, indent=1))
        replace_folder(tmp, final)
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
    """Keep the newest `keep` checkpoints up to `current` (never `current` itself) and remove unfinished ones.

    Checkpoints past `current` are removed too: they are left from before a resume that fell back to an
    earlier checkpoint (the newer one was damaged), and the run has replaced them.
    """
    step = checkpoint_step(current)
    checkpoints = sorted(
        (p for p in output_dir.glob(f"{CHECKPOINT_PREFIX}*") if checkpoint_step(p) is not None), key=checkpoint_step
    )
    newer = [p for p in checkpoints if step is not None and checkpoint_step(p) > step]
    older = [p for p in checkpoints if p not in newer]
    for old in newer + older[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
    for stale in output_dir.glob(f".{CHECKPOINT_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    """A checkpoint's trainer_state.json; TrainingError when it is missing or damaged."""
    try:
        meta = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: not JSON, not UTF-8
        raise TrainingError(f"checkpoint {path} is unreadable: {STATE_FILE}: {_reason(err)}") from None
    if not isinstance(meta, dict):
        raise TrainingError(f"checkpoint {path} is unreadable: {STATE_FILE} is not a JSON object")
    return meta


def load_checkpoint(
    path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> TrainingState:
    """Load weights and optimizer state into `model` / `optimizer`; returns the state (RNG not yet restored).

    A checkpoint that cannot be read whole, or whose tensors do not fit `model`, raises TrainingError
    saying why; `model` may then hold part of it (load another checkpoint over it, or stop).
    """
    meta = read_checkpoint_meta(path)
    try:
        tensors = safetensors.torch.load_file(str(path / TENSORS_FILE))
    except (OSError, SafetensorError) as err:
        raise TrainingError(f"checkpoint {path} is unreadable: {TENSORS_FILE}: {_reason(err)}") from None
    try:
        state = TrainingState.from_dict(meta.get("state"), tensors)
        weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        _check_fits(model, weights)
        model.load_state_dict(weights, strict=True)
        opt_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                opt_state.setdefault(int(pid), {})[name] = value.to(device) if name != "step" else value
        optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    except (KeyError, TypeError, ValueError) as err:
        raise TrainingError(f"checkpoint {path} is unreadable: {_reason(err)}") from None
    return state


def _check_fits(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """ValueError naming what in `weights` does not fit `model` (missing, unknown or reshaped tensors)."""
    expected = model.state_dict()
    missing, unknown = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    reshaped = [k for k in expected if k in weights and weights[k].shape != expected[k].shape]
    problems = [f"{len(missing)} missing (e.g. {missing[0]})"] if missing else []
    problems += [f"{len(unknown)} unknown (e.g. {unknown[0]})"] if unknown else []
    if reshaped:
        k = reshaped[0]
        problems.append(
            f"{len(reshaped)} of another shape (e.g. {k}: {list(weights[k].shape)} in the checkpoint, "
            f"{list(expected[k].shape)} in the model)"
        )
    if problems:
        raise ValueError("its weights do not fit the model: " + "; ".join(problems))


def _reason(err: BaseException) -> str:
    """One line saying why a read failed."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    if isinstance(err, KeyError):
        return f"no {err} entry"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------- checkpoint averaging
def keep_for_averaging(output_dir: Path, model: torch.nn.Module, step: int, bleu: float, count: int) -> None:
    """Keep the weights of the best `count` evaluations by validation BLEU (averaging/step-<step>.safetensors)."""
    folder = output_dir / AVERAGING_DIR
    folder.mkdir(exist_ok=True)
    index = folder / AVERAGING_INDEX
    entries = json.loads(index.read_text()) if index.exists() else []
    redone = [e for e in entries if e["step"] >= step]  # kept before a resume: this run evaluates them again
    entries = [e for e in entries if e["step"] < step] + [{"step": step, "bleu": bleu}]
    entries.sort(key=lambda e: e["bleu"], reverse=True)
    keep, drop = entries[:count], entries[count:] + [e for e in redone if e["step"] != step]
    if any(e["step"] == step for e in keep):
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(weights, str(kept_weights_file(output_dir, step)))
    for e in drop:
        kept_weights_file(output_dir, e["step"]).unlink(missing_ok=True)
    atomic_write_text(index, json.dumps(keep))


def average_weights(output_dir: Path) -> dict[str, torch.Tensor] | None:
    """The float32 mean of the kept weights, or None when fewer than two were kept."""
    files = kept_weights(output_dir)
    return average_files(files) if len(files) >= 2 else None
