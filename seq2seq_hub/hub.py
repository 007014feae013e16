"""hub.py: the Hub at the edge. `StrictHubMixin`, the one strict base of `Seq2SeqModel` and `Translator`
(unknown arguments refused, the config validated once before anything is allocated, safetensors only,
one-line errors, folders saved whole); resolving a local folder or Hub repo id to its files; huggingface_hub's
errors as one-line messages; uploads. The files' format itself is `repo_files.py`.

Imports no model code: the model and the translator subclass the mixin and supply `_from_repo`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import HfApi, ModelHubMixin, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .card import CARD_FILE
from .config import Seq2SeqConfig
from .decoding import GENERATION_CONFIG_FILE
from .files import replace_folder, staging_folder
from .repo_files import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    config_from_json,
    ensemble_members,
    first_line,
    read_ensemble_members,
)
from .shortlist import SHORTLIST_FILE
from .tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE

REPO_FILES = (
    CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TARGET_TOKENIZER_FILE, GENERATION_CONFIG_FILE, CARD_FILE, SHORTLIST_FILE,
)  # fmt: skip
RESULT_FILES = ("bleu_by_length.json",)  # results stored with a model (length_scores.py), pushed with it
OPTIONAL_FILES = (TARGET_TOKENIZER_FILE, GENERATION_CONFIG_FILE, CARD_FILE, SHORTLIST_FILE)  # a repo works without them
MEMBER_FOLDER = re.compile(r"^member-\d+$")  # an ensemble's member subfolders, as `save_pretrained` names them
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
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
    shortlist: Path | None = None  # shortlist.safetensors, a lexical shortlist for faster decoding
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


class StrictHubMixin(ModelHubMixin):
    """The one strict `from_pretrained` / `save_pretrained` of `Seq2SeqModel` and `Translator`.

    The mixin's public `from_pretrained` fetches and parses config.json; this base refuses unknown arguments
    first, validates the parsed config once (`_decode_arg` for a `Seq2SeqConfig` argument, `config_from_json`
    for an injected one), resolves the repo's files (safetensors only) and hands them to the subclass's
    `_from_repo`. `save_pretrained` writes a new folder beside the old one and swaps it in.
    """

    _hub_load_options: ClassVar[tuple[str, ...]] = ()  # keyword arguments of from_pretrained besides the mixin's
    _hub_needs_tokenizer: ClassVar[bool] = False

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        device: str | torch.device = "cpu",
        **options: Any,
    ):
        """Load from a local folder or a Hub repo id (see the subclass for what is loaded and its options)."""
        origin = str(pretrained_model_name_or_path)
        unexpected = sorted(set(options) - set(cls._hub_load_options))
        if unexpected:
            raise TypeError(f"unexpected arguments to from_pretrained: {unexpected}")
        with hub_errors(origin, revision=revision):
            is_local(origin)  # a folder or a repo id, else FileNotFoundError before any download
            try:
                return super().from_pretrained(
                    pretrained_model_name_or_path,
                    revision=revision,
                    cache_dir=cache_dir,
                    token=token,
                    force_download=force_download,
                    local_files_only=local_files_only,
                    device=device,
                    **options,
                )
            except AttributeError as err:  # the mixin reads config.json as a JSON object (`.items()`)
                if "has no attribute 'items'" not in str(err):
                    raise
                raise ValueError(f"{CONFIG_FILE} must hold a JSON object") from None

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | os.PathLike | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: Any = None,  # what the mixin parsed from config.json (validated by `_decode_arg`, or raw)
        device: str | torch.device = "cpu",
        **options: Any,
    ):
        args = HubArgs(revision, cache_dir, token, force_download, local_files_only)
        files = resolve_repo(model_id, args, need_tokenizer=cls._hub_needs_tokenizer, parsed_config=config)
        return cls._from_repo(files, config, device=device, **options)

    @classmethod
    def _from_repo(cls, files: RepoFiles, config: Any, *, device: str | torch.device, **options: Any):
        """Build the object from a resolved repo and its parsed config.json (the subclass's job)."""
        raise NotImplementedError

    @classmethod
    def _decode_arg(cls, expected_type: type, value: Any) -> Any:
        # The mixin fills a dataclass argument leniently (unknown keys dropped); a config is read strictly. Under
        # postponed annotations the mixin sees the annotation as the string "Seq2SeqConfig".
        if expected_type in (Seq2SeqConfig, Seq2SeqConfig.__name__):
            return config_from_json(value)
        return super()._decode_arg(expected_type, value)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any):
        """Save into a new folder beside `save_directory`, then swap it in: a crash leaves the old folder or the
        new one, never a mix. Entries of the old folder that are not part of a model repo (a `.git`, notes) are
        hard-linked into the new one first (see `files.replace_folder`). Keyword arguments are the mixin's
        (config, push_to_hub, repo_id, ...)."""
        target = Path(save_directory).expanduser().resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        config, card_kwargs = kwargs.pop("config", None), kwargs.pop("model_card_kwargs", None)
        push, repo_id = kwargs.pop("push_to_hub", False), kwargs.pop("repo_id", None)
        staged = staging_folder(target)
        try:
            super().save_pretrained(staged, config=config, model_card_kwargs=card_kwargs)
            replace_folder(staged, target, keep=lambda name: not is_repo_entry(name))
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        if push:
            return self.push_to_hub(repo_id=repo_id or target.name, **kwargs)
        return None


def is_repo_entry(name: str) -> bool:
    """True for the files and member folders a saved model repo consists of (what a new save replaces)."""
    return name in (*REPO_FILES, *RESULT_FILES) or MEMBER_FOLDER.match(name) is not None


def resolve_repo(
    name_or_path: str | os.PathLike,
    hub: HubArgs | None = None,
    *,
    need_tokenizer: bool = True,
    parsed_config: Any = None,
) -> RepoFiles:
    """Find config, weights, tokenizer file(s), decoding defaults and card of a folder or Hub repo id.

    An ensemble repo (config.json lists `members`) has no weights of its own: `members` holds each
    member's config and weights, read from its subfolder. parsed_config: config.json's content when the
    caller has read it already (it is not read again).
    """
    origin = str(name_or_path)
    source = _Folder(origin) if is_local(origin) else _HubRepo(origin, hub or HubArgs())
    config = source.get(CONFIG_FILE, optional=True)
    if config is None:
        source.refuse_pickles()  # say why a pickle is not read before anything else
        raise FileNotFoundError(f"{source.label} has no {CONFIG_FILE}{source.config_hint}")
    if parsed_config is None:
        member_names = read_ensemble_members(config)
    else:
        member_names = ensemble_members(parsed_config) if isinstance(parsed_config, dict) else None
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
        shortlist=source.get(SHORTLIST_FILE, optional=True),
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
        raise ConnectionError(f"downloading {filename} of '{origin}' failed: {first_line(err)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:  # the mixin reads config.json itself
        raise ValueError(f"{CONFIG_FILE} is not readable JSON: {first_line(err)}") from None


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
