"""compare.py: the `compare` endpoint: one source text, two or three columns side by side, each a decoding
strategy of the direction's default model ('greedy', 'beam', 'sampling') or another model of that
direction ('model:NAME', e.g. one without attention); per column a label, the translation, its score and
its attention heatmap, and the whole as JSON.

The text goes through the same checks (`requests`) and error handling (`handlers.user_errors`) as
`translate`; the columns' texts are submitted to their models' batchers together, then awaited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog, ModelChoice, direction_name
from .handlers import user_errors
from .panel import inert, language_name
from .pool import DemoModels
from .requests import UI_STRATEGY, InputError, Request, check_text, parse_request
from .views import heatmap_html, notice_markdown, result_json

STRATEGY_LABELS = {"greedy": "Greedy search", "beam": "Beam search", "sampling": "Sampling"}
MODEL_PREFIX = "model:"
DEFAULT_COLUMNS = ("greedy", "beam", "sampling")  # every direction has these
MAX_COLUMNS = 3
NO_COLUMN = ""  # the third column's "none"
SHOWN_SPEC = 40  # characters of a bad column spec quoted in its message


@dataclass(frozen=True)
class Column:
    """One column of a comparison: what was asked for, how it is labelled, which model decodes it and
    with which strategy (a UI strategy name; None: the model's own decoding defaults, named in the label
    once known)."""

    spec: str
    label: str
    choice: ModelChoice
    strategy: str | None = None


def _short(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters at a word boundary, with an ellipsis when cut (dropdown labels)."""
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:(") + "…"


def column_choices(catalog: Catalog, src: str, tgt: str) -> list[tuple[str, str]]:
    """(label, spec) of every column a direction offers: its default model's strategies, then its models."""
    default = catalog.default_model(src, tgt)
    choices = [(f"{label} ({default.name})", spec) for spec, label in STRATEGY_LABELS.items()]
    for choice in catalog.models(src, tgt):
        purpose = f", {_short(choice.purpose)}" if choice.purpose else ""
        choices.append((f"Model {choice.name} (its own decoding{purpose})", MODEL_PREFIX + choice.name))
    return choices


def _shown(spec: str) -> str:
    return repr(spec if len(spec) <= SHOWN_SPEC else spec[: SHOWN_SPEC - 1] + "…")


def parse_column(number: int, spec: Any, catalog: Catalog, src: str, tgt: str) -> Column:
    """Column `number`'s spec -> a `Column`, or an `InputError` saying what the direction offers."""
    if not isinstance(spec, str):
        raise InputError(f"column {number} must be a strategy or 'model:NAME', got {type(spec).__name__}")
    spec = spec.strip()
    default = catalog.default_model(src, tgt)
    if spec in STRATEGY_LABELS:
        return Column(spec, f"{STRATEGY_LABELS[spec]} · {default.name}", default, spec)
    name = spec[len(MODEL_PREFIX) :] if spec.startswith(MODEL_PREFIX) else spec
    models = catalog.models(src, tgt)
    for choice in models:
        if choice.name == name:
            return Column(spec, choice.name, choice)
    elsewhere = [c for c in catalog.choices if c.name == name]
    if elsewhere:
        raise InputError(
            f"column {number}: the model {_shown(name)} translates "
            f"{direction_name(*elsewhere[0].direction)}, not {direction_name(src, tgt)}"
        )
    raise InputError(
        f"column {number}: {_shown(spec)} is neither a strategy ({', '.join(STRATEGY_LABELS)}) nor a "
        f"{direction_name(src, tgt)} model ({', '.join(MODEL_PREFIX + c.name for c in models)})"
    )


def parse_columns(specs: list[Any], catalog: Catalog, src: str, tgt: str) -> list[Column]:
    """Two or three column specs -> `Column`s. None takes the column's default; the third may be ''
    (no third column)."""
    if len(specs) > MAX_COLUMNS:
        raise InputError(f"compare shows at most {MAX_COLUMNS} columns, got {len(specs)}")
    columns = []
    for number, spec in enumerate(specs, 1):
        spec = DEFAULT_COLUMNS[number - 1] if spec is None else spec
        if number > 2 and spec == NO_COLUMN:
            continue
        columns.append(parse_column(number, spec, catalog, src, tgt))
    return columns


def _request(text: str, column: Column, translator: Any, source_language: str) -> Request:
    cfg = translator.config
    return parse_request(
        text,
        strategy=column.strategy,
        num_return_sequences=1,
        defaults=translator.generation_options,
        max_target_length=cfg.max_target_length,
        source_language=source_language,
    )


def compare_handler(models: Any) -> Callable[..., tuple]:
    """The `compare` event: (text, src_lang, tgt_lang, column_1, column_2, column_3) in; a notice, then per
    column (label, translation, score, heatmap HTML) for three columns (empty for a missing third), then
    the JSON result out."""
    models = DemoModels.of(models)

    def compare(
        text: Any = None, src_lang: Any = None, tgt_lang: Any = None, column_1=None, column_2=None, column_3=None
    ) -> tuple:
        with user_errors():
            src, tgt = models.direction(src_lang, tgt_lang)
            source_language = language_name(src)
            check_text(text, source_language)  # before loading any model for it
            columns = parse_columns([column_1, column_2, column_3], models.catalog, src, tgt)
            pending = []
            for column in columns:  # all submitted first: columns of one model may share a call
                served = models.pool.get(column.choice)
                request = _request(text, column, served.translator, source_language)
                pending.append((column, served, request, served.batcher.submit(request.text, request.options)))
            results = [(column, served, request, job.wait()) for column, served, request, job in pending]
        return compare_outputs(src, tgt, results)

    return compare


def compare_outputs(src: str, tgt: str, results: list[tuple]) -> tuple:
    """The event's outputs from (column, served, request, hypothesis) per column."""
    notices, views, columns = [], [], []
    for column, served, request, hyp in results:
        cfg = served.translator.config
        for line in notice_markdown(request.notices, hyp, cfg.max_source_length).splitlines():
            if line not in notices:
                notices.append(line)
        strategy = column.strategy or UI_STRATEGY[request.options.search]
        label = column.label if column.strategy else f"{column.label} · {STRATEGY_LABELS[strategy]} (its default)"
        # log-probability per token: comparable across models and strategies whatever their length penalty
        per_token = hyp.log_prob / max(len(hyp.tokens), 1)
        views += [f"**{inert(label)}**", hyp.text, round(per_token, 4), heatmap_html(hyp, merge=True, title=label)]
        summary = {"spec": column.spec, "label": label, "model": column.choice.name, "strategy": strategy}
        columns.append({**summary, **result_json(hyp)})
    views += ["", "", None, ""] * (MAX_COLUMNS - len(results))
    text = results[0][2].text
    result = {"text": text, "src_lang": src, "tgt_lang": tgt, "columns": columns}
    return ("\n".join(notices), *views, result)
