"""scores.py: the "BLEU by source length" plot of the About tab: one line per German -> English model of
the catalog whose folder has a `bleu_by_length.json` (`seq2seq_hub.length_scores.read_length_scores`).

Builds plain data for `gr.LinePlot` (its JSON form, so no data frame is needed); imports no gradio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog, ModelChoice

logger = logging.getLogger("seq2seq_hub.demo")

PLOT_DIRECTION = ("de", "en")
X, Y, SERIES, COUNT = "source length (words)", "BLEU", "model", "sentences"


@dataclass(frozen=True)
class LengthPlot:
    """What the plot shows: `value` in `gr.LinePlot`'s JSON form, the x labels in order, and a caption
    (plain text: the plot shows it as text, never as markup)."""

    value: dict[str, Any]
    order: list[str]
    caption: str


def bin_label(low: int, high: int | None) -> str:
    """'0–7', '8–9', ..., '17+' (an open last bin)."""
    if high is None:
        return f"{low}+"
    return str(low) if high == low else f"{low}–{high}"


def _model_rows(choice: ModelChoice) -> tuple[dict, list[tuple[str, int, float, int]]] | None:
    """A model's length scores file and its (label, lowest length, BLEU, sentences) per non-empty bin, or
    None when it has none (a broken file is logged and skipped: it loses its line, not the page)."""
    from ..length_scores import read_length_scores

    if choice.folder is None:
        return None
    try:
        scores = read_length_scores(choice.folder)
        if not scores:
            return None
        rows = [
            (bin_label(int(e["min_words"]), e.get("max_words")), int(e["min_words"]), float(e["bleu"]), int(e["count"]))
            for e in scores["bins"]
            if e.get("bleu") is not None  # an empty bin
        ]
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        logger.warning("cannot read the length scores of %s: %s", choice.folder, err)
        return None
    return scores, rows


def length_plot(catalog: Catalog, direction: tuple[str, str] = PLOT_DIRECTION) -> LengthPlot | None:
    """The plot's data from the direction's models that have length scores, or None when none has."""
    rows: list[list[Any]] = []
    bins: dict[str, int] = {}  # label -> lowest length, for the order of the x axis
    splits, signatures = set(), set()
    for choice in catalog.models(*direction):
        found = _model_rows(choice)
        if found is None:
            continue
        scores, model_rows = found
        splits.add(str(scores.get("split", "test")))
        signatures.add(str(scores.get("bleu_signature", "")))
        for label, low, bleu, count in model_rows:
            bins[label] = low
            rows.append([label, round(bleu, 2), choice.name, count])
    if not rows:
        return None
    value = {
        "columns": [X, Y, SERIES, COUNT],
        "data": rows,
        "datatypes": {X: "nominal", Y: "quantitative", SERIES: "nominal", COUNT: "quantitative"},
        "mark": "line",
    }
    caption = f"sacreBLEU on Multi30k {', '.join(sorted(splits))[:80]} by the number of source words"
    if len(signatures) == 1 and "" not in signatures:
        caption += f" (signature: {signatures.pop()[:200]})"
    return LengthPlot(value=value, order=sorted(bins, key=bins.__getitem__), caption=caption + ".")
