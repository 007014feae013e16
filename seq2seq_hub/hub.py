"""hub.py: the model repo format at the edge. Resolves a local folder or Hub repo id to its files,
reads config and weights strictly and safely (safetensors only, checked before allocating), writes
weights atomically, turns huggingface_hub's errors into one-line messages, and uploads folders.

Imports no model code: `model.py` and `translator.py` call it from their Hub mixin hooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors.torch import load_file, save_file

from .card import CARD_FILE
from .config import Seq2SeqConfig
from .decoding import GENERATION_CONFIG_FILE
from .tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
REPO_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TARGET_TOKENIZER_FILE, GENERATION_CONFIG_FILE, CARD_FILE)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MAX_HEADER_BYTES = 50_000_000
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")


@dataclass
class RepoFiles:
    """Local paths of a model repo's files (downloaded into the cache for Hub ids)."""

    origin: str  # what the user asked for (folder or repo id)
    config: Path
    weights: Path
    tokenizer: Path | None = None
    target_tokenizer: Path | None = None
    card: Path | None = None
    generation_config: Path | None = None


@dataclass(frozen=True)
class HubArgs:
    """Where and how to fetch a Hub repo (the arguments of `from_pretrained` besides the id)."""

    revision: str | None = None
    cache_dir: str | os.PathLike | None = None
    token: str | bool | None = None
    force_download: bool = False
    local_files_only: bool = False


def _refuse_pickles(origin: str, names: list[str]) -> None:
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES))
    detail = f" (found {', '.join(pickles)})" if pickles else ""
    raise ValueError(
        f"{origin} has no {WEIGHTS_FILE}{detail}: seq2seq-hub reads weights only from safetensors, "
        "because unpickling .bin/.pt files can run arbitrary code"
    )


def is_local(name_or_path: str | os.PathLike) -> bool:
    """True for an existing folder; False for a Hub repo id; FileNotFoundError for anything else."""
    origin = str(name_or_path)
    path = Path(origin).expanduser()
    if path.is_dir():
        return True
    if path.exists() or not REPO_ID.match(origin) or origin.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder not found: {origin} (nor is it a Hub repo id like 'org/name')")
    return False


def check_request(name_or_path: str | os.PathLike, unexpected: dict) -> None:
    """What `from_pretrained` checks before the mixin fetches anything: no unknown arguments, a folder or
    a repo id, and a local config.json that is a valid config (the mixin would read a bad one blindly)."""
    if unexpected:
        raise TypeError(f"unexpected arguments to from_pretrained: {sorted(unexpected)}")
    if is_local(name_or_path):
        config = Path(name_or_path).expanduser() / CONFIG_FILE
        if config.is_file():
            load_config(config)


def resolve_repo(
    name_or_path: str | os.PathLike, hub: HubArgs | None = None, *, need_tokenizer: bool = True
) -> RepoFiles:
    """Find config, weights, tokenizer file(s), decoding defaults and card of a folder or Hub repo id."""
    if is_local(name_or_path):
        return _resolve_folder(str(name_or_path), need_tokenizer)
    return _resolve_hub(str(name_or_path), hub or HubArgs(), need_tokenizer)


def _resolve_folder(origin: str, need_tokenizer: bool) -> RepoFiles:
    path = Path(origin).expanduser()
    names = os.listdir(path)
    if WEIGHTS_FILE not in names and any(n.endswith(PICKLE_SUFFIXES) for n in names):
        _refuse_pickles(origin, names)  # say why the pickle is not read before anything else
    if CONFIG_FILE not in names:
        raise FileNotFoundError(
            f"{origin} has no {CONFIG_FILE}; a model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_FILE}"
        )
    if WEIGHTS_FILE not in names:
        _refuse_pickles(origin, names)
    if need_tokenizer and TOKENIZER_FILE not in names:
        raise FileNotFoundError(f"{origin} has no {TOKENIZER_FILE}")

    def optional(name: str) -> Path | None:
        return path / name if name in names else None

    return RepoFiles(
        origin=origin,
        config=path / CONFIG_FILE,
        weights=path / WEIGHTS_FILE,
        tokenizer=optional(TOKENIZER_FILE),
        target_tokenizer=optional(TARGET_TOKENIZER_FILE),
        card=optional(CARD_FILE),
        generation_config=optional(GENERATION_CONFIG_FILE),
    )


def _resolve_hub(origin: str, hub: HubArgs, need_tokenizer: bool) -> RepoFiles:
    def download(filename: str, optional: bool = False) -> Path | None:
        with hub_errors(origin, filename, hub.revision):
            try:
                return Path(
                    hf_hub_download(
                        repo_id=origin,
                        filename=filename,
                        revision=hub.revision,
                        cache_dir=hub.cache_dir,
                        token=hub.token,
                        force_download=hub.force_download,
                        local_files_only=hub.local_files_only,
                    )
                )
            except (EntryNotFoundError, LocalEntryNotFoundError, OfflineModeIsEnabled):
                if optional:  # absent, or not cached while offline: the repo works without it
                    return None
                raise

    try:
        config = download(CONFIG_FILE)
    except EntryNotFoundError:
        raise FileNotFoundError(f"Hub repo '{origin}' has no {CONFIG_FILE}") from None
    try:
        weights = download(WEIGHTS_FILE)
    except EntryNotFoundError:
        _refuse_pickles(f"Hub repo '{origin}'", [])
    tokenizer = download(TOKENIZER_FILE, optional=not need_tokenizer)
    if need_tokenizer and tokenizer is None:
        raise FileNotFoundError(f"Hub repo '{origin}' has no {TOKENIZER_FILE}")
    return RepoFiles(
        origin=origin,
        config=config,
        weights=weights,
        tokenizer=tokenizer,
        target_tokenizer=download(TARGET_TOKENIZER_FILE, optional=True),
        card=download(CARD_FILE, optional=True),
        generation_config=download(GENERATION_CONFIG_FILE, optional=True),
    )


@contextlib.contextmanager
def hub_errors(origin: str, filename: str = CONFIG_FILE, revision: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub's exceptions about `origin` into one-line errors a user can act on.

    A missing entry (EntryNotFoundError) passes through: callers decide whether the file is optional.
    """
    try:
        yield
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise ConnectionError(
            f"cannot get {filename} of Hub repo '{origin}': it is not a local folder, not in the "
            "local cache, and the Hub cannot be reached (offline?)"
        ) from None
    except GatedRepoError:
        raise PermissionError(f"Hub repo '{origin}' is gated: accept its terms and pass a token") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"'{origin}' is neither a local folder nor a Hub model repo you can access") from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"Hub repo '{origin}' has no revision {revision!r}") from None
    except EntryNotFoundError:
        raise
    except HfHubHTTPError as err:
        raise ConnectionError(f"downloading {filename} of '{origin}' failed: {_first_line(err)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:  # the mixin reads config.json itself
        raise ValueError(f"{CONFIG_FILE} is not readable JSON: {_first_line(err)}") from None


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload seq2seq-hub model",
) -> str:
    """Upload a finished model folder (only the files `from_pretrained` reads, plus the card)."""
    resolve_repo(folder)  # refuse to publish an incomplete folder
    api = HfApi(token=token)
    repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
    info = api.upload_folder(
        repo_id=repo,
        folder_path=str(folder),
        commit_message=commit_message,
        allow_patterns=list(REPO_FILES),
    )
    return str(getattr(info, "commit_url", info))


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


# ---------------------------------------------------------------------- config
def load_config(path: Path) -> Seq2SeqConfig:
    """Read and validate config.json; unknown keys and bad values are refused with the file named."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{CONFIG_FILE} is not readable JSON: {_first_line(err)}") from None
    return Seq2SeqConfig.from_dict(data, source=CONFIG_FILE)


# ---------------------------------------------------------------------- weights
def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Names -> (dtype, shape) from a safetensors header, checking the file is complete."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
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
        raise ValueError(f"{path.name} is not a valid safetensors file: {_first_line(err)}") from None
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
        raise ValueError(f"{Path(path).name} could not be read: {_first_line(err)}") from None
    return {name: tensor.to(reference[name].dtype) for name, tensor in state.items()}


def save_weights(state: dict[str, torch.Tensor], directory: Path, dtype: torch.dtype | None = None) -> Path:
    """Write a state dict to model.safetensors atomically (a temp file, then a rename).

    dtype: store floating-point tensors in this type (e.g. torch.float16 halves the folder).
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        name: (t.detach().to(dtype) if dtype is not None and t.is_floating_point() else t.detach()).cpu().contiguous()
        for name, t in state.items()
    }
    target = directory / WEIGHTS_FILE
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".safetensors.tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"format": "pt"})
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def write_config(config: Seq2SeqConfig, directory: Path) -> Path:
    path = directory / CONFIG_FILE
    path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
