"""alignment.py: word alignments read off a hypothesis's attention, and the Pharaoh text format.

Subword tokens are merged into words as the heatmaps merge them (`tokenizer.merge_subwords`); knows
nothing of models, search or files.

Rule: each target word is linked to the one source word with the highest merged attention weight
(argmax; the first such word on a tie). A word's weights are its subwords' rows averaged (target side)
and columns summed (source side). Special tokens ('</s>', '<unk>', ...) and bare spaces are not words
on either side: they get no index and no link, so the end-of-sentence column never wins the argmax.
Indices are 0-based positions among the remaining words: the space-separated words of the (normalized)
source text and of the translation, `text.split()` for ordinary text.

Pairs are `(source word, target word)`, the `i-j` order of fast_align and Moses, listed in target order
(one pair per target word).
"""

from __future__ import annotations

from collections.abc import Sequence

from .tokenizer import SPECIAL_TOKENS, merge_subwords


def word_alignment(
    src_tokens: Sequence[str], tgt_tokens: Sequence[str], attention: Sequence[Sequence[float]]
) -> list[tuple[int, int]]:
    """(source word, target word) pairs from token attention; [] without attention.

    src_tokens: S readable source tokens ('▁' starts a word, '</s>' last), as `Hypothesis.src_tokens`.
    tgt_tokens: T readable target tokens, as `Hypothesis.tokens`.
    attention: (T, S) weights, one row per target token (a model without attention gives []).
    """
    if not attention or not src_tokens or not tgt_tokens:
        return []
    if len(attention) != len(tgt_tokens) or any(len(row) != len(src_tokens) for row in attention):
        raise ValueError(
            f"attention must have one row per target token and one column per source token: expected "
            f"{len(tgt_tokens)} x {len(src_tokens)}, got {len(attention)} x {len(attention[0])}"
        )
    tgt_words, rows = merge_subwords(list(tgt_tokens), [list(row) for row in attention], axis=0)  # (T, S) -> (T', S)
    src_words, weights = merge_subwords(list(src_tokens), rows, axis=1)  # (T', S) -> (T', S')
    src_columns = [c for c, word in enumerate(src_words) if _is_word(word)]
    if not src_columns:
        return []
    src_index = {column: i for i, column in enumerate(src_columns)}  # merged column -> source word index
    pairs = []
    tgt_rows = [r for r, word in enumerate(tgt_words) if _is_word(word)]
    for j, r in enumerate(tgt_rows):
        best = max(src_columns, key=lambda c: weights[r][c])  # max keeps the first of equal weights
        pairs.append((src_index[best], j))
    return pairs


def _is_word(merged: str) -> bool:
    """False for a special token and for a group of bare spaces (`merge_subwords` shows those as '▁')."""
    return merged not in SPECIAL_TOKENS and merged != "▁"


def format_pharaoh(pairs: Sequence[tuple[int, int]]) -> str:
    """Pharaoh format: 'i-j' pairs (source-target, 0-based) separated by spaces, e.g. '0-0 2-1 1-2'."""
    return " ".join(f"{i}-{j}" for i, j in pairs)


__all__ = ["format_pharaoh", "word_alignment"]
