"""repo_files.py: the files of a model repo, read and written: config.json (validated; an ensemble's list of
members), model.safetensors (checked against the config's shapes before anything is allocated; never a
pickle) and their atomic writes. Knows nothing of the Hub or of the network's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .config import Seq2SeqConfig
from .files import atomic_write, atomic_write_text

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MAX_HEADER_BYTES = 50_000_000
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"  # how a Git LFS pointer file begins
ENSEMBLE_KEY = "members"  # config.json of an ensemble folder lists its member subfolders under this key
ENSEMBLE_COMBINE = "mean_log_prob"
MEMBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


# ---------------------------------------------------------------------- ensembles
def read_json(path: Path) -> Any:
    """The content of a JSON file (config.json and the like), or one ValueError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{Path(path).name} is not readable JSON: {first_line(err)}") from None


def read_ensemble_members(config: Path) -> list[str] | None:
    """The member subfolders an ensemble's config.json lists, or None for a single model's config."""
    return ensemble_members(read_json(config))


def ensemble_members(data: Any) -> list[str] | None:
    """The member subfolders an ensemble's (parsed) config.json lists, or None for a single model's config."""
    if not isinstance(data, dict) or ENSEMBLE_KEY not in data:
        return None
    unknown = sorted(set(data) - {ENSEMBLE_KEY, "model_type", "combine"})
    members = data[ENSEMBLE_KEY]
    problems = [f"unknown keys {unknown}"] if unknown else []
    if data.get("combine", ENSEMBLE_COMBINE) != ENSEMBLE_COMBINE:
        problems.append(f"combine must be {ENSEMBLE_COMBINE!r}, got {data.get('combine')!r}")
    if (
        not isinstance(members, list)
        or not members
        or not all(isinstance(m, str) and MEMBER_NAME.match(m) for m in members)
        or len(set(members)) != len(members)
    ):
        problems.append(f"{ENSEMBLE_KEY} must be a list of distinct subfolder names, got {members!r}")
    if problems:
        raise ValueError(f"{CONFIG_FILE} of an ensemble: " + "; ".join(problems))
    return members


def write_ensemble_config(directory: Path, members: list[str]) -> Path:
    """The config.json of an ensemble folder: its member subfolders and how they are combined."""
    data = {"model_type": "seq2seq-hub-ensemble", ENSEMBLE_KEY: members, "combine": ENSEMBLE_COMBINE}
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(directory / CONFIG_FILE, json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------- config
def load_config(path: Path) -> Seq2SeqConfig:
    """Read and validate config.json; unknown keys and bad values are refused with the file named."""
    return config_from_json(read_json(path))


def config_from_json(data: Any) -> Seq2SeqConfig:
    """A model's config from the parsed content of its config.json: unknown keys and bad values refused."""
    if isinstance(data, dict) and ENSEMBLE_KEY in data:
        raise ValueError(
            f"{CONFIG_FILE} describes an ensemble of {len(data[ENSEMBLE_KEY])} models: load it with "
            "Translator.from_pretrained, or one member's subfolder with Seq2SeqModel.from_pretrained"
        )
    return Seq2SeqConfig.from_dict(data, source=CONFIG_FILE)


# ---------------------------------------------------------------------- weights
def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Names -> (dtype, shape) from a safetensors header, checking the file is complete."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if f.read(len(LFS_POINTER)) == LFS_POINTER:
                raise ValueError(
                    "it is a Git LFS pointer (a small text file standing for the weights), not the weights: the "
                    "repository was cloned without Git LFS; run `git lfs install && git lfs pull` in the clone, or "
                    "load the model by its Hub id"
                )
            f.seek(0)
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError("the file is shorter than a safetensors header")
            header_len = int.from_bytes(prefix, "little")
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise ValueError("its header length points past the end of the file (truncated or not safetensors)")
            header = json.loads(f.read(header_len))
            if not isinstance(header, dict):
                raise ValueError("its header is not a JSON object")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path.name} is not a valid safetensors file: {first_line(err)}") from None
    except ValueError as err:
        raise ValueError(f"{path.name} is not a valid safetensors file: {err}") from None
    data_size = size - 8 - header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, end = info["data_offsets"]
            dtype, shape = info["dtype"], tuple(int(d) for d in info["shape"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path.name} is not a valid safetensors file: bad entry for {name!r}") from None
        if end > data_size:
            raise ValueError(f"{path.name} is truncated: tensor {name!r} ends past the end of the file")
        out[name] = (dtype, shape)
    return out


def check_weights(path: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Refuse a weights file whose tensors are not exactly `expected` (names -> shapes), naming them."""
    found = read_safetensors_header(path)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = [
        f"{n} {list(found[n][1])} (config needs {list(expected[n])})"
        for n in sorted(set(found) & set(expected))
        if found[n][1] != expected[n]
    ]
    bad_dtype = sorted(n for n, (dtype, _) in found.items() if dtype not in ("F32", "F16", "BF16"))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:5]}{'...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched[:5]))
    if bad_dtype:
        problems.append(f"non-float tensors {bad_dtype[:5]}")
    if problems:
        raise ValueError(f"{path.name} does not match {CONFIG_FILE}: " + ", ".join(problems))


def load_weights(path: Path, reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Read a safetensors file checked against `reference` (a state dict: names, shapes and dtypes).

    The header is checked before anything is allocated; tensors come back in the reference's dtypes.
    """
    check_weights(path, {name: tuple(t.shape) for name, t in reference.items()})
    try:
        state = load_file(str(path), device="cpu")
    except Exception as err:  # safetensors' own parse errors
        raise ValueError(f"{Path(path).name} could not be read: {first_line(err)}") from None
    return {name: tensor.to(reference[name].dtype) for name, tensor in state.items()}


def save_weights(state: dict[str, torch.Tensor], directory: Path, dtype: torch.dtype | None = None) -> Path:
    """Write a state dict to model.safetensors atomically.

    dtype: store floating-point tensors in this type (e.g. torch.float16 halves the folder).
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: (t.detach().to(dtype) if dtype is not None and t.is_floating_point() else t.detach()).cpu().contiguous()
        for name, t in state.items()
    }
    return atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))


def write_config(config: Seq2SeqConfig, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(directory / CONFIG_FILE, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
