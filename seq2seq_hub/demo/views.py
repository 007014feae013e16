"""views.py: what the page shows of a `Hypothesis`: the attention heatmap (data, HTML table, and a
matplotlib figure for use outside the page), the n-best rows, per-token confidence spans, the result JSON
and the notices under the translation.

Plain functions of a hypothesis (the table is built by `heatmap`, the figure drawn by
`seq2seq_hub.plotting`); imports no gradio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..plotting import attention_figure
from ..tokenizer import merge_subwords
from .heatmap import attention_table

if TYPE_CHECKING:
    from .. import Hypothesis

HEATMAP_MAX_WIDTH = 12.0  # inches at 100 dpi: about the width of the page's content column
NBEST_HEADERS = ["#", "translation", "score", "log-prob", "tokens"]
CONFIDENCE_LEVELS = [  # (lowest probability, label, colour) for the per-token confidence view
    (0.7, "sure (p ≥ 0.7)", "#4ade80"),
    (0.3, "unsure (0.3 ≤ p < 0.7)", "#fbbf24"),
    (0.0, "doubtful (p < 0.3)", "#f87171"),
]


def display_token(token: str) -> str:
    """A subword as it reads in running text ('▁' marks a space before the token)."""
    return token.replace("▁", " ")


def nbest_rows(hyp: Hypothesis) -> list[list[Any]]:
    """Rows of the n-best table: rank, translation, score (length-normalized), log-prob, tokens."""
    hyps = hyp.nbest or [hyp]
    return [[rank, h.text, round(h.score, 3), round(h.log_prob, 3), len(h.tokens)] for rank, h in enumerate(hyps, 1)]


def confidence_level(prob: float) -> str:
    return next(label for low, label, _ in CONFIDENCE_LEVELS if prob >= low)


def confidence_spans(hyp: Hypothesis) -> list[tuple[str, str]]:
    """(token, confidence level) pairs for the per-token confidence view (exact probabilities are in
    `result_json`)."""
    return [(display_token(tok), confidence_level(p)) for tok, p in zip(hyp.tokens, hyp.token_probs)]


@dataclass
class HeatmapData:
    """What the heatmap shows: one row per target label, one column per source label."""

    src_labels: list[str]
    tgt_labels: list[str]
    weights: list[list[float]]  # len(tgt_labels) x len(src_labels); [] for a model without attention


def heatmap_data(hyp: Hypothesis, merge: bool = True) -> HeatmapData:
    """Attention of one hypothesis, optionally with subwords merged into words (rows still sum to 1)."""
    src, tgt, weights = list(hyp.src_tokens), list(hyp.tokens), [list(row) for row in hyp.attention]
    if merge and weights:
        tgt, weights = merge_subwords(tgt, weights, axis=0)
        src, weights = merge_subwords(src, weights, axis=1)
    return HeatmapData(src_labels=src, tgt_labels=tgt, weights=weights)


def heatmap_title(rank: int, merge: bool) -> str:
    return f"hypothesis {rank}" + ("" if merge else "  (▁ marks the start of a word)")


def heatmap_html(hyp: Hypothesis, merge: bool = True, rank: int = 1, title: str | None = None) -> str:
    """The page's heatmap: `heatmap_data(hyp, merge)` as an HTML table (source across, translation down).
    With words merged, the hypothesis's word alignment (when it has one) is marked on the cells."""
    data = heatmap_data(hyp, merge)
    alignment = list(getattr(hyp, "alignment", None) or []) if merge else []
    title = heatmap_title(rank, merge) if title is None else title
    return attention_table(data.src_labels, data.tgt_labels, data.weights, title=title, alignment=alignment)


def heatmap_figure(hyp: Hypothesis, merge: bool = True, rank: int = 1):
    """A matplotlib Figure of `heatmap_data(hyp, merge)` (source across, translation down), for notebooks
    and reports; the page shows `heatmap_html`."""
    data = heatmap_data(hyp, merge)
    title = heatmap_title(rank, merge)
    return attention_figure(
        data.src_labels, data.tgt_labels, data.weights, merge=False, title=title, max_width=HEATMAP_MAX_WIDTH
    )


def result_json(hyp: Hypothesis) -> dict[str, Any]:
    """The hypothesis as JSON for API users, floats rounded."""
    out = hyp.to_dict()
    out["score"], out["log_prob"] = round(hyp.score, 4), round(hyp.log_prob, 4)
    out["token_probs"] = [round(p, 4) for p in hyp.token_probs]
    out["attention"] = [[round(w, 4) for w in row] for row in hyp.attention]
    out["nbest"] = [{"text": h.text, "score": round(h.score, 4)} for h in hyp.nbest]
    return out


def notice_markdown(notices: list[str], hyp: Hypothesis, max_source_length: int) -> str:
    """The notices under the translation (plain sentences, no user text)."""
    notices = list(notices)
    if hyp.truncated:
        notices.append(
            f"The source is longer than the model's limit of {max_source_length} tokens; "
            "only its beginning was translated."
        )
    return "\n".join(f"⚠️ {n}  " for n in notices)
