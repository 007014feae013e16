"""averaging.py: checkpoint averaging, the float32 mean of several weight sets of one model, read from
model folders, training checkpoints or weight files, each checked against the model before it is read.

Knows the file names of a model folder and of a training checkpoint; knows nothing of training itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open

from .repo_files import WEIGHTS_FILE, read_safetensors_header

CHECKPOINT_TENSORS = "state.safetensors"  # a training checkpoint's tensors: weights under 'model.', optimizer, RNG
CHECKPOINT_PREFIX = "model."
AVERAGING_DIR = "averaging"  # a run's weights of its best evaluations, kept for checkpoint averaging
AVERAGING_INDEX = "index.json"  # [{"step": ..., "bleu": ...}] of the weights kept there, best first


def weights_file(path: str | os.PathLike) -> Path:
    """The safetensors file of a model folder, a training checkpoint folder, or the file itself."""
    path = Path(path)
    if path.is_dir():
        for name in (WEIGHTS_FILE, CHECKPOINT_TENSORS):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(
            f"{path} holds neither {WEIGHTS_FILE} (a model folder) nor {CHECKPOINT_TENSORS} (a checkpoint)"
        )
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    return path


def read_weights(path: str | os.PathLike, reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights stored at `path` (see `weights_file`) as float32, names and shapes checked against
    `reference` (a state dict) before any tensor is read."""
    file = weights_file(path)
    header = read_safetensors_header(file)
    prefix = "" if set(reference) <= set(header) else CHECKPOINT_PREFIX
    missing = sorted(name for name in reference if prefix + name not in header)
    mismatched = sorted(
        name
        for name in reference
        if prefix + name in header and header[prefix + name][1] != tuple(reference[name].shape)
    )
    if missing or mismatched:
        detail = f"missing {missing[:5]}" if missing else f"other shapes for {mismatched[:5]}"
        raise ValueError(f"{file} holds weights of another model ({detail})")
    with safe_open(str(file), framework="pt") as f:
        return {name: f.get_tensor(prefix + name).float() for name in reference}


def average_weights(
    paths: list[str | os.PathLike], reference: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The mean of the weights at `paths` (at least two), in the dtypes of `reference` (a state dict they
    are checked against; None: the names and shapes of the first file, in float32)."""
    if reference is None and paths:
        header = read_safetensors_header(weights_file(paths[0]))
        reference = {name: torch.empty(shape, device="meta") for name, (_, shape) in header.items()}
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least two weight sets, got {len(paths)}")
    total = {name: torch.zeros(t.shape, dtype=torch.float32) for name, t in reference.items()}
    for path in paths:  # one weight set in memory at a time
        for name, tensor in read_weights(path, reference).items():
            total[name] += tensor
    return {name: (t / len(paths)).to(reference[name].dtype) for name, t in total.items()}


def kept_weights_file(run_dir: str | os.PathLike, step: int) -> Path:
    """Where a training run keeps the weights of its evaluation at `step` for averaging."""
    return Path(run_dir) / AVERAGING_DIR / f"step-{step}.safetensors"


def kept_weights(run_dir: str | os.PathLike) -> list[Path]:
    """The weight files a training run's averaging index lists (best evaluation first) that exist."""
    index = Path(run_dir) / AVERAGING_DIR / AVERAGING_INDEX
    if not index.exists():
        return []
    files = [kept_weights_file(run_dir, entry["step"]) for entry in json.loads(index.read_text())]
    return [f for f in files if f.exists()]


def run_weights(run_dir: str | os.PathLike) -> list[Path]:
    """The weight sets a training run kept for averaging (its best validation evaluations), else its checkpoints."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"training run not found: {run_dir}")
    return kept_weights(run_dir) or sorted(
        p for p in run_dir.glob("checkpoint-*") if (p / CHECKPOINT_TENSORS).is_file()
    )


__all__ = ["average_weights", "kept_weights", "kept_weights_file", "read_weights", "run_weights", "weights_file"]
