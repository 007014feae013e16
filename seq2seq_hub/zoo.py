"""zoo.py: the shipped models by language pair. Every folder under `MODELS_DIR` that holds a valid
config.json is a model for the direction its config names (an ensemble's, its first member's); one
model per direction is its default. Reads folders only; loading is `Translator.from_pretrained`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .card import CARD_FILE, read_model_card
from .repo_files import CONFIG_FILE, load_config, read_ensemble_members
from .translator import Translator

MODELS_DIR_VARIABLE = "SEQ2SEQ_MODELS_DIR"
CHECKOUT = Path(__file__).resolve().parents[1]  # the repository checkout the package is installed from (editable)


def default_models_dir() -> Path:
    """$SEQ2SEQ_MODELS_DIR when set, else the checkout's models/ folder; read at each call."""
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or CHECKOUT / "models").expanduser()


MODELS_DIR = default_models_dir()  # as it was at import; the functions below read the variable when called


@dataclass(frozen=True)
class ZooEntry:
    """One shipped model folder."""

    name: str  # folder name, e.g. 'multi30k-de-en'
    path: Path  # the folder, loadable with Translator.from_pretrained
    src_lang: str  # source language code from config.json, lowercased
    tgt_lang: str  # target language code from config.json, lowercased
    default: bool  # the model `model_for(src_lang, tgt_lang)` picks: 'multi30k-{src}-{tgt}', else the first name
    purpose: str  # the card's metadata key `purpose`, '' when absent
    ensemble_size: int  # 1 for a single model


def list_models(models_dir: str | os.PathLike | None = None) -> list[ZooEntry]:
    """Every model folder under `models_dir` (default: `default_models_dir()`), by direction, the default
    first, then by name. Folders without a valid config.json are skipped; a missing directory lists nothing."""
    entries = [entry for entry in map(_read_folder, _subfolders(_root(models_dir))) if entry is not None]
    names_by_direction: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        names_by_direction.setdefault((entry.src_lang, entry.tgt_lang), []).append(entry.name)
    defaults = set()
    for (src, tgt), names in names_by_direction.items():
        preferred = f"multi30k-{src}-{tgt}"
        defaults.add((src, tgt, preferred if preferred in names else min(names)))
    entries = [dataclasses.replace(e, default=(e.src_lang, e.tgt_lang, e.name) in defaults) for e in entries]
    return sorted(entries, key=lambda e: (e.src_lang, e.tgt_lang, not e.default, e.name))


def directions(models_dir: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """The (source, target) language pairs some shipped model translates, sorted."""
    return sorted({(e.src_lang, e.tgt_lang) for e in list_models(models_dir)})


def model_for(src_lang: str, tgt_lang: str, models_dir: str | os.PathLike | None = None) -> Path:
    """The default model folder for `src_lang` -> `tgt_lang` (codes compared case-insensitively).

    Raises ValueError naming the directions that are available when no model translates this one.
    """
    src, tgt = _language_code("src_lang", src_lang), _language_code("tgt_lang", tgt_lang)
    entries = list_models(models_dir)
    for entry in entries:
        if entry.default and (entry.src_lang, entry.tgt_lang) == (src.lower(), tgt.lower()):
            return entry.path
    available = ", ".join(f"{s} -> {t}" for s, t in sorted({(e.src_lang, e.tgt_lang) for e in entries}))
    if not available:
        available = f"none (no model folders in {_root(models_dir)})"
    raise ValueError(f"no shipped model translates {src} -> {tgt}; available: {available}")


def load_direction(
    src_lang: str, tgt_lang: str, models_dir: str | os.PathLike | None = None, **from_pretrained_kwargs: Any
) -> Translator:
    """`Translator.from_pretrained` on the default model for `src_lang` -> `tgt_lang` (see `model_for`)."""
    return Translator.from_pretrained(model_for(src_lang, tgt_lang, models_dir), **from_pretrained_kwargs)


def _root(models_dir: str | os.PathLike | None) -> Path:
    return Path(models_dir).expanduser() if models_dir is not None else default_models_dir()


def _language_code(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a language code like 'de', got {value!r}")
    return value.strip()


def _subfolders(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # missing or unreadable: nothing shipped there
        return []


def _read_folder(folder: Path) -> ZooEntry | None:
    """The folder as a (not yet default) entry, or None when its config.json is missing or invalid."""
    config_file = folder / CONFIG_FILE
    try:
        if not config_file.is_file():
            return None
        members = read_ensemble_members(config_file)
        config = load_config(folder / members[0] / CONFIG_FILE if members else config_file)
    except (OSError, ValueError, TypeError):
        return None
    src, tgt = config.src_lang.strip().lower(), config.tgt_lang.strip().lower()
    if not src or not tgt:
        return None
    size = len(members) if members else 1
    return ZooEntry(folder.name, folder, src, tgt, default=False, purpose=_purpose(folder), ensemble_size=size)


def _purpose(folder: Path) -> str:
    """The model card's `purpose` metadata, '' when the card or the key is missing."""
    try:
        text = (folder / CARD_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    purpose = read_model_card(text).metadata.get("purpose")
    return " ".join(purpose.split()) if isinstance(purpose, str) else ""


__all__ = [
    "MODELS_DIR",
    "ZooEntry",
    "default_models_dir",
    "directions",
    "list_models",
    "load_direction",
    "model_for",
]
