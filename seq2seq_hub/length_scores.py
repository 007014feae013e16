"""length_scores.py: BLEU by source length: a test set cut into bins of source sentence length (in
whitespace words), sacreBLEU per bin, and the model folder's `bleu_by_length.json` that stores them.

Scores come from `metrics.corpus_bleu`; the CLI's `evaluate --record-length-scores` and a training
run's test evaluation write the file. Knows nothing of models or decoding.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .files import atomic_write_text
from .metrics import corpus_bleu

LENGTH_SCORES_FILE = "bleu_by_length.json"
LENGTH_UNIT = "source words"
# (min_words, max_words), both included; None: no upper bound. Chosen on Multi30k test_2016_flickr so that
# each bin holds 40+ sentences in every language: German sources give 172, 234, 214, 172, 133 and 75.
LENGTH_BINS: tuple[tuple[int, int | None], ...] = ((0, 7), (8, 9), (10, 11), (12, 13), (14, 16), (17, None))


def bleu_by_length(
    sources: Sequence[str],
    hypotheses: Sequence[str],
    references: Sequence[str],
    bins: Sequence[tuple[int, int | None]] = LENGTH_BINS,
) -> list[dict[str, Any]]:
    """Corpus sacreBLEU of the sentences in each source-length bin.

    Returns one dict per bin: {"min_words", "max_words" (None: open), "count", "bleu"} where bleu is
    None for an empty bin. A sentence whose length is in no bin is not counted.
    """
    if not len(sources) == len(hypotheses) == len(references):
        raise ValueError(
            f"got {len(sources)} sources, {len(hypotheses)} hypotheses and {len(references)} references; "
            "they must be aligned"
        )
    bins = check_bins(bins)
    lengths = [len(src.split()) for src in sources]
    out = []
    for low, high in bins:
        rows = [i for i, n in enumerate(lengths) if low <= n and (high is None or n <= high)]
        bleu = corpus_bleu([hypotheses[i] for i in rows], [references[i] for i in rows])[0] if rows else None
        out.append({"min_words": low, "max_words": high, "count": len(rows), "bleu": bleu})
    return out


def check_bins(bins: Sequence[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    """The bins as a list, or ValueError: each (min, max) with 0 <= min <= max, ascending, not overlapping."""
    checked: list[tuple[int, int | None]] = []
    for item in bins:
        low, high = item if isinstance(item, (tuple, list)) and len(item) == 2 else (None, None)
        valid = isinstance(low, int) and low >= 0 and (high is None or (isinstance(high, int) and high >= low))
        after_previous = not checked or (checked[-1][1] is not None and low > checked[-1][1])
        if not valid or not after_previous:
            raise ValueError(
                f"length bins must be ascending, non-overlapping (min_words, max_words) pairs with 0 <= min <= max "
                f"(max None: open), got {item!r} in {list(bins)!r}"
            )
        checked.append((low, high))
    if not checked:
        raise ValueError("length bins must not be empty")
    return checked


def write_length_scores(
    model_dir: str | os.PathLike, split: str, bins_scores: list[dict[str, Any]], signature: str
) -> Path:
    """Write `<model_dir>/bleu_by_length.json` atomically."""
    record = {"split": split, "length_unit": LENGTH_UNIT, "bleu_signature": signature, "bins": bins_scores}
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    path = model_dir / LENGTH_SCORES_FILE
    return atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def read_length_scores(model_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The content of `<model_dir>/bleu_by_length.json`, or None when it is absent or not such a file."""
    try:
        record = json.loads((Path(model_dir) / LENGTH_SCORES_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("bins"), list):
        return None
    return record


def split_name(path: str | os.PathLike) -> str:
    """A test set's name from its file name: 'data/test_2016_flickr.de.gz' -> 'test_2016_flickr'."""
    name = Path(path).name.removesuffix(".gz")
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def length_table(bins_scores: list[dict[str, Any]]) -> str:
    """The bins as an aligned text table: words, sentences, BLEU ('-' for an empty bin)."""
    lines = [f"{'words':>7}  {'sentences':>9}  {'BLEU':>6}"]
    for b in bins_scores:
        words = f"{b['min_words']}+" if b["max_words"] is None else f"{b['min_words']}-{b['max_words']}"
        bleu = "-" if b["bleu"] is None else f"{b['bleu']:.2f}"
        lines.append(f"{words:>7}  {b['count']:>9}  {bleu:>6}")
    return "\n".join(lines)


__all__ = [
    "LENGTH_BINS",
    "LENGTH_SCORES_FILE",
    "bleu_by_length",
    "length_table",
    "read_length_scores",
    "split_name",
    "write_length_scores",
]
