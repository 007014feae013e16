"""decoding.py: `DecodingOptions`, every decoding setting in one validated object, and its file form
`generation_config.json` (Hugging Face key names) that a model repo carries as its decoding defaults.

Knows nothing of models, tokenizers or the Hub: limits that depend on a model (its vocabulary, its
maximum target length) are checked by `check_for_model` against the numbers passed in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import bool_problem, choice_problem, number_problem, raise_problems
from .files import atomic_write_text

GENERATION_CONFIG_FILE = "generation_config.json"
STRATEGIES = ("beam", "greedy", "sample")
MAX_BEAMS = 64
MAX_SAMPLES = 64  # most hypotheses sampling returns per sentence
ALIASES = {"beam_size": "num_beams"}  # translate()'s historical keyword -> the field it sets
SHORTLIST_KEY = "seq2seq_hub_shortlist"  # generation_config.json key of our own (Hugging Face has none)
# keys of a Hugging Face generation_config.json that carry no decoding choice of ours
IGNORED_FILE_KEYS = frozenset(
    {
        "_from_model_config",
        "transformers_version",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "decoder_start_token_id",
        "forced_eos_token_id",
        "early_stopping",
        "use_cache",
    }
)


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode: search strategy and its settings, validated on construction.

    Field names follow Hugging Face's `GenerationConfig` where one exists; `translate(beam_size=...)`
    still sets `num_beams`. Construction raises one `ValueError` naming every bad field.
    """

    strategy: str | None = None  # 'beam' | 'greedy' | 'sample'; None: beam when num_beams > 1, else greedy
    num_beams: int = 5  # beam width (beam search)
    length_penalty: float = 1.0  # score = sum(log p) / length ** length_penalty (beam ranking, n-best order)
    max_length: int | None = None  # most target tokens, prefix and </s> included; None: 2 x source + 10
    min_length: int = 0  # no </s> before this many target tokens
    num_return_sequences: int = 1  # hypotheses per sentence: up to num_beams (beam), 64 (sample), 1 (greedy)
    temperature: float = 1.0  # sampling: logits / temperature
    top_k: int = 0  # sampling: keep the k most likely tokens (0: all)
    top_p: float = 1.0  # sampling: keep the smallest set of tokens whose mass reaches top_p
    seed: int | None = None  # sampling: a seed makes the samples reproducible
    shortlist: bool = False  # the output layer over each sentence's lexical shortlist (the model's shortlist file)

    def __post_init__(self) -> None:
        raise_problems(_problems(dataclasses.asdict(self), {}))

    @property
    def search(self) -> str:
        """The strategy that runs: `strategy`, or beam / greedy from `num_beams` when it is None."""
        return self.strategy or ("beam" if self.num_beams > 1 else "greedy")

    def merged(self, **overrides: Any) -> DecodingOptions:
        """A copy with some fields replaced (`beam_size` is accepted for `num_beams`).

        Errors name the keyword the caller used.
        """
        values, labels = dataclasses.asdict(self), {}
        for key, value in overrides.items():
            name = ALIASES.get(key, key)
            if name not in values:
                raise TypeError(f"unknown decoding option {key!r}; the options are {sorted([*values, *ALIASES])}")
            values[name] = value
            if name != key:
                labels[name] = key
        raise_problems(_problems(values, labels))
        return DecodingOptions(**values)

    def check_for_model(self, max_target_length: int, tgt_vocab_size: int) -> None:
        """Refuse settings beyond what a model with these limits can do."""
        problems = [
            number_problem("min_length", self.min_length, 0, max_target_length, integer=True),
            number_problem("top_k", self.top_k, 0, tgt_vocab_size, integer=True),
        ]
        raise_problems([p for p in problems if p])

    # ------------------------------------------------------------------ generation_config.json
    def to_generation_config(self) -> dict[str, Any]:
        """The Hugging Face form: `do_sample` and `num_beams` say the strategy (greedy is one beam)."""
        search = self.search
        out: dict[str, Any] = {
            "do_sample": search == "sample",
            "num_beams": self.num_beams if search == "beam" else 1,
            "length_penalty": self.length_penalty,
            "min_length": self.min_length,
            "num_return_sequences": self.num_return_sequences,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
        }
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.seed is not None:
            out["seed"] = self.seed
        if self.shortlist:
            out[SHORTLIST_KEY] = True
        return out

    @classmethod
    def from_generation_config(cls, data: Any, source: str = GENERATION_CONFIG_FILE) -> DecodingOptions:
        """Read the Hugging Face form; missing keys take this library's defaults, unknown keys are refused."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must hold a JSON object, got {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)} - {"strategy", "shortlist"}
        unknown = sorted(set(data) - fields - {"do_sample", SHORTLIST_KEY} - IGNORED_FILE_KEYS)
        if unknown:
            raise ValueError(f"{source} has keys seq2seq-hub cannot honour: {unknown}; it reads {sorted(fields)}")
        values = {k: v for k, v in data.items() if k in fields}
        do_sample = data.get("do_sample", False)
        if not isinstance(do_sample, bool):
            raise ValueError(f"{source}: do_sample must be true or false, got {do_sample!r}")
        if do_sample:
            values["strategy"] = "sample"
        if SHORTLIST_KEY in data:
            values["shortlist"] = data[SHORTLIST_KEY]
        try:
            return cls(**values)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    def save(self, directory: str | os.PathLike) -> Path:
        """Write generation_config.json into a model folder."""
        path = Path(directory) / GENERATION_CONFIG_FILE
        text = json.dumps(self.to_generation_config(), indent=2, sort_keys=True) + "\n"
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> DecodingOptions:
        """Read a generation_config.json; None (a repo without one) gives the defaults."""
        if path is None:
            return cls()
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"{GENERATION_CONFIG_FILE} is not readable JSON: {first}") from None
        return cls.from_generation_config(data)


# ---------------------------------------------------------------------- validation
def _problems(values: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Every problem of a set of field values; `labels` renames fields the caller set by an alias."""

    def label(name: str) -> str:
        return labels.get(name, name)

    problems = [number_problem(label("num_beams"), values["num_beams"], 1, MAX_BEAMS, integer=True)]
    strategy = values["strategy"]
    if strategy is not None:
        problems.append(choice_problem("strategy", strategy, STRATEGIES))
    problems += [
        number_problem("length_penalty", values["length_penalty"], 0.0, 10.0),
        number_problem("min_length", values["min_length"], 0, 10**9, integer=True),
        number_problem("temperature", values["temperature"], 0.001, 100.0),
        number_problem("top_k", values["top_k"], 0, 10**9, integer=True),
        number_problem("top_p", values["top_p"], 0.0, 1.0, low_open=True),
    ]
    if values["max_length"] is not None:
        problems.append(number_problem("max_length", values["max_length"], 1, 10**9, integer=True))
    if values["seed"] is not None:
        problems.append(number_problem("seed", values["seed"], 0, 2**63 - 1, integer=True))
    problems.append(bool_problem("shortlist", values["shortlist"]))
    if not problems[0] and strategy in (None, *STRATEGIES):
        search = strategy or ("beam" if values["num_beams"] > 1 else "greedy")
        limit = {"beam": values["num_beams"], "sample": MAX_SAMPLES, "greedy": 1}[search]
        problems.append(number_problem("num_return_sequences", values["num_return_sequences"], 1, limit, integer=True))
    return [p for p in problems if p]


__all__ = ["DecodingOptions", "GENERATION_CONFIG_FILE", "STRATEGIES"]
