"""requests.py: the demo's raw control values (from the page or an API call) -> a validated `Request`.

Owns text cleaning, the demo's own serving caps (beam size <= 16, n-best <= 10, ...) with their
user-facing messages, and the controls' starting values; every other decoding check is the library's
(`DecodingOptions`), whose `ValueError` becomes an `InputError`. Imports no gradio.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..checks import is_number, number_problem, raise_problems, string_problem
from ..decoding import DecodingOptions

MAX_INPUT_CHARS = 2_000  # longer source text is cut here (the model's own token limit usually comes first)
MAX_PREFIX_CHARS = 500
KEEP_CONTROLS = "\t\n\r"  # whitespace the tokenizer turns into plain spaces
STRATEGIES = {"greedy": "greedy", "beam": "beam", "sampling": "sample", "sample": "sample"}  # UI -> library
UI_STRATEGY = {"greedy": "greedy", "beam": "beam", "sample": "sampling"}  # library -> UI
NBEST_SHOWN = 5  # alternatives the n-best list starts with (beam search and sampling)


@dataclass(frozen=True)
class Cap:
    """The demo's range of one numeric control: what the slider offers and a request may ask for."""

    label: str  # the name users see in messages
    low: float
    high: float
    integer: bool = False


# The demo's serving caps, narrower than what the library accepts; the sliders read them too.
CAPS = {
    "beam_size": Cap("beam size", 1, 16, integer=True),
    "length_penalty": Cap("length penalty", 0.0, 3.0),
    "num_return_sequences": Cap("n-best count", 1, 10, integer=True),
    "temperature": Cap("temperature", 0.05, 5.0),
    "top_k": Cap("top-k", 0, 200, integer=True),
    "top_p": Cap("top-p", 0.05, 1.0),
    "seed": Cap("seed", -1, 2**32 - 1, integer=True),  # -1: a fresh random seed
}


def max_length_cap(max_target_length: int) -> Cap:
    """The max-length control: 0 (automatic) up to the model's own limit."""
    return Cap("max length", 0, max_target_length, integer=True)


class InputError(ValueError):
    """A request the user can fix; its message is shown to them as it is."""


@dataclass
class Request:
    """A validated translation request: the text, how to decode it, the target prefix, and notices to
    show next to the result (truncation, removed characters, ...)."""

    text: str
    options: DecodingOptions
    prefix: str | None = None
    merge: bool = True  # heatmap: subwords merged into words
    notices: list[str] = field(default_factory=list)


def _clamp(value: float, cap: Cap) -> int | float:
    value = min(max(value, cap.low), cap.high)
    return int(value) if cap.integer else float(value)


def control_values(defaults: DecodingOptions, max_target_length: int) -> dict[str, Any]:
    """Where each decoding control starts: the model's defaults, brought within the demo's caps.

    The n-best list starts with up to NBEST_SHOWN alternatives (one for greedy search), so the page
    shows some without being asked. Keys are the `translate` endpoint's parameter names.
    """
    search = defaults.search
    beam_size = _clamp(defaults.num_beams, CAPS["beam_size"])
    nbest = max(defaults.num_return_sequences, NBEST_SHOWN)
    nbest = {"greedy": 1, "beam": min(nbest, beam_size)}.get(search, nbest)
    return {
        "strategy": UI_STRATEGY[search],
        "beam_size": beam_size,
        "length_penalty": _clamp(defaults.length_penalty, CAPS["length_penalty"]),
        "max_length": _clamp(defaults.max_length or 0, max_length_cap(max_target_length)),
        "num_return_sequences": _clamp(nbest, CAPS["num_return_sequences"]),
        "temperature": _clamp(defaults.temperature, CAPS["temperature"]),
        "top_k": _clamp(defaults.top_k, CAPS["top_k"]),
        "top_p": _clamp(defaults.top_p, CAPS["top_p"]),
        "seed": -1 if defaults.seed is None else _clamp(defaults.seed, CAPS["seed"]),
    }


def clean_input(value: Any, name: str, limit: int, notices: list[str]) -> str:
    """Check that `value` is a string, remove control characters and cut it to `limit` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(string_problem(name, value))
    if len(value) > limit:
        notices.append(f"The {name} was {len(value):,} characters long; only the first {limit:,} were used.")
        value = value[:limit]
    kept = "".join(ch for ch in value if ch in KEEP_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs"))
    if len(kept) < len(value):
        removed = len(value) - len(kept)
        notices.append(f"Removed {removed} control character{'s' if removed > 1 else ''} from the {name}.")
    return kept


def check_text(text: Any, source_language: str = "source", notices: list[str] | None = None) -> str:
    """The source text, cleaned (`clean_input`), or an `InputError` when it is not a string or is empty.
    Cheap: handlers call it before loading a model for a request."""
    text = clean_input(text, "text", MAX_INPUT_CHARS, [] if notices is None else notices)
    if not text.strip():
        raise InputError(f"Enter some {source_language} text to translate.")
    return text


def within_cap(value: Any, cap: Cap) -> int | float:
    """`value` as an int or float inside the demo's cap, or an `InputError` naming the control."""
    if cap.integer and is_number(value) and math.isfinite(value) and value == int(value):
        value = int(value)  # a slider sends 5.0 for 5
    raise_problems([number_problem(cap.label, value, cap.low, cap.high, integer=cap.integer)], error=InputError)
    return int(value) if cap.integer else float(value)


def parse_request(
    text: Any,
    strategy: Any = None,
    beam_size: Any = None,
    length_penalty: Any = None,
    max_length: Any = None,
    num_return_sequences: Any = None,
    temperature: Any = None,
    top_k: Any = None,
    top_p: Any = None,
    seed: Any = None,
    prefix: Any = "",
    merge: Any = True,
    *,
    defaults: DecodingOptions | None = None,
    max_target_length: int = 160,
    source_language: str = "source",
) -> Request:
    """Validate the raw values of the page (or of an API call) and turn them into a `Request`.

    A setting left as None takes its control's starting value (`control_values(defaults)`, the
    model's decoding defaults). `max_length` 0 means automatic; `seed` -1 (or an empty string) means a
    fresh random seed. Raises `InputError` with a message for the user.
    """
    notices: list[str] = []
    text = check_text(text, source_language, notices)
    defaults = defaults or DecodingOptions()
    raw = {
        "strategy": strategy,
        "beam_size": beam_size,
        "length_penalty": length_penalty,
        "max_length": max_length,
        "num_return_sequences": num_return_sequences,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "seed": -1 if seed == "" else seed,
    }
    start = control_values(defaults, max_target_length)
    raw = {name: start[name] if value is None else value for name, value in raw.items()}
    if not isinstance(raw["strategy"], str) or raw["strategy"] not in STRATEGIES:
        raise InputError("strategy must be one of 'greedy', 'beam', 'sampling'")
    caps = {**CAPS, "max_length": max_length_cap(max_target_length)}
    values = {name: within_cap(raw[name], caps[name]) for name in caps}
    values["strategy"] = STRATEGIES[raw["strategy"]]
    values["max_length"] = values["max_length"] or None
    values["seed"] = None if values["seed"] == -1 else values["seed"]
    notices += _limit_nbest(values)
    prefix = clean_input(prefix, "target prefix", MAX_PREFIX_CHARS, notices)
    if not isinstance(merge, bool):
        raise InputError(f"merge must be true or false, got {type(merge).__name__}")
    try:
        options = defaults.merged(**values)
    except ValueError as err:
        raise InputError(str(err)) from None
    return Request(text=text, options=options, prefix=prefix if prefix.strip() else None, merge=merge, notices=notices)


def _limit_nbest(values: dict[str, Any]) -> list[str]:
    """Bring the n-best count within what the strategy can return; the notice says why."""
    wanted, strategy = values["num_return_sequences"], values["strategy"]
    if strategy == "greedy" and wanted > 1:
        values["num_return_sequences"] = 1
        return ["Greedy search finds one translation; choose beam search or sampling for an n-best list."]
    if strategy == "beam" and wanted > values["beam_size"]:
        values["num_return_sequences"] = values["beam_size"]
        return [f"The n-best list is limited to the beam size ({values['beam_size']})."]
    return []
