"""catalog.py: which models the demo serves and for which directions: the model zoo
(`seq2seq_hub.zoo.list_models`) or one model given on the command line, as `ModelChoice`s; the
language pickers' choices; direction checks with a message that lists what is available.

Knows nothing of gradio; loading is `load_translator`, keeping models loaded is `pool.ModelPool`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..card import LANGUAGE_NAMES
from .panel import language_name
from .requests import InputError

if TYPE_CHECKING:
    from ..translator import Translator

DEFAULT_DIRECTION = ("de", "en")  # shown first, and the API's default, when the catalog has it


@dataclass(frozen=True)
class ModelChoice:
    """One model the demo can serve: a name (unique in the catalog), where it is loaded from (a folder
    or a Hub repo id), its direction, whether it is the direction's default and what it is for."""

    name: str
    source: str
    src_lang: str
    tgt_lang: str
    default: bool = True
    purpose: str = ""

    @property
    def direction(self) -> tuple[str, str]:
        return (self.src_lang, self.tgt_lang)

    @property
    def folder(self) -> Path | None:
        """The local model folder, or None for a Hub repo id."""
        path = Path(self.source)
        return path if self.source and path.is_dir() else None


def direction_name(src: str, tgt: str) -> str:
    return f"{language_name(src)} → {language_name(tgt)}"


def load_translator(model: str, device: str | None = None, offline: bool = False, dtype: str = "auto") -> Translator:
    """A `Translator` from a folder or Hub id, on `device` (default: cuda when available), decoding in
    `dtype` (auto: int8 on a CPU, float32 on a GPU; see `serving_dtype`). Loaded in a thread that then
    ends, so that only the demo's decoding thread keeps torch's helper threads (see `run_in_new_thread`)."""
    import torch

    from ..cpu import run_in_new_thread
    from ..translator import Translator

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return run_in_new_thread(
        Translator.from_pretrained,
        model,
        device=device,
        local_files_only=offline,
        compute_dtype=serving_dtype(dtype, device),
    )


def serving_dtype(dtype: str, device: str) -> str | None:
    """The demo's decoding precision: 'float32' is None, others as given; 'auto' is float32 (None) on a
    GPU and int8 on a CPU, the fastest there for one sentence at the same BLEU on every CPU measured
    (BENCHMARKS.md, "Decoding")."""
    if dtype == "auto":
        return "int8" if str(device).startswith("cpu") else None
    return None if dtype == "float32" else dtype


class Catalog:
    """The models on offer, grouped by direction. A direction's default model serves `translate` and
    the strategy columns of `compare`; every model of a direction can be a `compare` column."""

    def __init__(self, choices: Iterable[ModelChoice]):
        self.choices = list(choices)
        if not self.choices:
            raise ValueError("the demo needs at least one model")
        names = [choice.name for choice in self.choices]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        self._by_direction: dict[tuple[str, str], list[ModelChoice]] = {}
        for choice in self.choices:
            self._by_direction.setdefault(choice.direction, []).append(choice)
        for models in self._by_direction.values():  # the default model first, then by name
            models.sort(key=lambda choice: (not choice.default, choice.name))

    @classmethod
    def from_zoo(cls, entries: Iterable[Any]) -> Catalog:
        """From `seq2seq_hub.zoo.ZooEntry`s (name, path, src_lang, tgt_lang, default, purpose)."""
        return cls(
            ModelChoice(e.name, str(e.path), e.src_lang, e.tgt_lang, bool(e.default), e.purpose or "") for e in entries
        )

    @classmethod
    def single(cls, translator: Any, source: str | None = None) -> Catalog:
        """One model (a folder or Hub id, already loaded as `translator`): its direction only."""
        cfg = translator.config
        name = f"{cfg.src_lang}-{cfg.tgt_lang} model"
        if source:
            name = Path(source).name if Path(source).is_dir() else source
        return cls([ModelChoice(name, source or "", cfg.src_lang, cfg.tgt_lang)])

    @property
    def directions(self) -> list[tuple[str, str]]:
        """(source, target) codes that have a model, sorted by language name."""
        return sorted(self._by_direction, key=lambda d: (language_name(d[0]), language_name(d[1])))

    @property
    def default_direction(self) -> tuple[str, str]:
        return DEFAULT_DIRECTION if DEFAULT_DIRECTION in self._by_direction else self.directions[0]

    def sources(self) -> list[str]:
        return list(dict.fromkeys(src for src, _ in self.directions))

    def targets(self, src: str) -> list[str]:
        return [tgt for s, tgt in self.directions if s == src]

    def has(self, src: str, tgt: str) -> bool:
        return (src, tgt) in self._by_direction

    def models(self, src: str, tgt: str) -> list[ModelChoice]:
        """The direction's models, its default first ([] for a direction without models)."""
        return list(self._by_direction.get((src, tgt), []))

    def default_model(self, src: str, tgt: str) -> ModelChoice:
        return self.models(*self.check_direction(src, tgt))[0]

    def available(self) -> str:
        return ", ".join(f"{src}-{tgt} ({direction_name(src, tgt)})" for src, tgt in self.directions)

    def check_direction(self, src: Any, tgt: Any) -> tuple[str, str]:
        """The direction as (src, tgt) codes, or an `InputError` naming the available directions."""
        for name, code in (("src_lang", src), ("tgt_lang", tgt)):
            if not isinstance(code, str):
                raise InputError(f"{name} must be a language code such as 'de', got {type(code).__name__}")
        if not self.has(src, tgt):
            shown = f"{src[:20]!r} → {tgt[:20]!r}"
            if src in LANGUAGE_NAMES and tgt in LANGUAGE_NAMES:  # known codes by name, others as sent
                shown = direction_name(src, tgt)
            raise InputError(f"There is no {shown} model here. Available directions: {self.available()}.")
        return src, tgt
