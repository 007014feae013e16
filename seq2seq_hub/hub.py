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
from dataclasses import dataclass, field
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
from .decoding import GENERATION_CONFIG_FILE
from .modeling.config import Seq2SeqConfig
from .tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
REPO_FILES = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TARGET_TOKENIZER_FILE, GENERATION_CONFIG_FILE, CARD_FILE)
RESULT_FILES = ("bleu_by_length.json",)  # results stored with a model (length_scores.py), pushed with it
OPTIONAL_FILES = (TARGET_TOKENIZER_FILE, GENERATION_CONFIG_FILE, CARD_FILE)  # a repo works without them
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MAX_HEADER_BYTES = 50_000_000
ENSEMBLE_KEY = "members"  # config.json of an ensemble folder lists its member subfolders under this key
ENSEMBLE_COMBINE = "mean_log_prob"
MEMBER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
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
    members: list[RepoFiles] = field(default_factory=list)  # an ensemble's members (config + weights each)


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


def check_request(name_or_path: str | os.PathLike, unexpected: dict, ensemble: bool = False) -> None:
    """What `from_pretrained` checks before the mixin fetches anything: no unknown arguments, a folder or
    a repo id, and a local config.json that is valid (the mixin would read a bad one blindly): a model's
    config, or (`ensemble`) an ensemble's list of members."""
    if unexpected:
        raise TypeError(f"unexpected arguments to from_pretrained: {sorted(unexpected)}")
    if is_local(name_or_path):
        config = Path(name_or_path).expanduser() / CONFIG_FILE
        if config.is_file() and not (ensemble and read_ensemble_members(config)):
            load_config(config)


def resolve_repo(
    name_or_path: str | os.PathLike, hub: HubArgs | None = None, *, need_tokenizer: bool = True
) -> RepoFiles:
    """Find config, weights, tokenizer file(s), decoding defaults and card of a folder or Hub repo id.

    An ensemble repo (config.json lists `members`) has no weights of its own: `members` holds each
    member's config and weights, read from its subfolder.
    """
    origin = str(name_or_path)
    source = _Folder(origin) if is_local(origin) else _HubRepo(origin, hub or HubArgs())
    config = source.get(CONFIG_FILE, optional=True)
    if config is None:
        source.refuse_pickles()  # say why a pickle is not read before anything else
        raise FileNotFoundError(f"{source.label} has no {CONFIG_FILE}{source.config_hint}")
    member_names = read_ensemble_members(config)
    weights = None if member_names else source.get(WEIGHTS_FILE, optional=True)
    if weights is None and not member_names:
        source.refuse_pickles(always=True)
    tokenizer = source.get(TOKENIZER_FILE, optional=True)
    if need_tokenizer and tokenizer is None:
        raise FileNotFoundError(f"{source.label} has no {TOKENIZER_FILE}")
    members = []
    for name in member_names or []:
        member_config, member_weights = source.get(f"{name}/{CONFIG_FILE}"), source.get(f"{name}/{WEIGHTS_FILE}")
        members.append(RepoFiles(origin=f"{origin}/{name}", config=member_config, weights=member_weights))
    return RepoFiles(
        origin=origin,
        config=config,
        weights=weights,
        tokenizer=tokenizer,
        target_tokenizer=source.get(TARGET_TOKENIZER_FILE, optional=True),
        card=source.get(CARD_FILE, optional=True),
        generation_config=source.get(GENERATION_CONFIG_FILE, optional=True),
        members=members,
    )


class _Folder:
    """Files of a local model folder."""

    def __init__(self, origin: str) -> None:
        self.path, self.label = Path(origin).expanduser(), origin
        self.config_hint = f"; a model folder holds {CONFIG_FILE}, {WEIGHTS_FILE} and {TOKENIZER_FILE}"

    def get(self, name: str, optional: bool = False) -> Path | None:
        path = self.path / name
        if path.is_file():
            return path
        if optional:
            return None
        raise FileNotFoundError(f"{self.label} has no {name}")

    def refuse_pickles(self, always: bool = False) -> None:
        names = os.listdir(self.path)
        if always or any(n.endswith(PICKLE_SUFFIXES) for n in names):
            _refuse_pickles(self.label, names)


class _HubRepo:
    """Files of a Hub model repo, downloaded into the cache on first use."""

    def __init__(self, origin: str, hub: HubArgs) -> None:
        self.origin, self.hub, self.label, self.config_hint = origin, hub, f"Hub repo '{origin}'", ""

    def get(self, name: str, optional: bool = False) -> Path | None:
        with hub_errors(self.origin, name, self.hub.revision):
            try:
                return Path(
                    hf_hub_download(
                        repo_id=self.origin,
                        filename=name,
                        revision=self.hub.revision,
                        cache_dir=self.hub.cache_dir,
                        token=self.hub.token,
                        force_download=self.hub.force_download,
                        local_files_only=self.hub.local_files_only,
                    )
                )
            except (EntryNotFoundError, OfflineModeIsEnabled) as err:
                offline = isinstance(err, LocalEntryNotFoundError | OfflineModeIsEnabled)  # not cached, no Hub
                if optional and (not offline or name in OPTIONAL_FILES):
                    return None
                if not offline:
                    raise FileNotFoundError(f"{self.label} has no {name}") from None
                raise

    def refuse_pickles(self, always: bool = False) -> None:
        if always:
            _refuse_pickles(self.label, [])


# ---------------------------------------------------------------------- ensembles
def read_ensemble_members(config: Path) -> list[str] | None:
    """The member subfolders an ensemble's config.json lists, or None for a single model's config."""
    try:
        data = json.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{CONFIG_FILE} is not readable JSON: {_first_line(err)}") from None
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
    path = directory / CONFIG_FILE
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


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
    files = resolve_repo(folder)  # refuse to publish an incomplete folder
    members = [f"{Path(m.origin).name}/{name}" for m in files.members for name in (CONFIG_FILE, WEIGHTS_FILE)]
    api = HfApi(token=token)
    repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
    info = api.upload_folder(
        repo_id=repo,
        folder_path=str(folder),
        commit_message=commit_message,
        allow_patterns=[*REPO_FILES, *RESULT_FILES, *members],
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
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_FILE
    path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
