"""hypothesis.py: `Hypothesis`, one translation as `Translator.translate` returns it (text, score,
tokens, per-token probabilities, attention, word alignment, n-best list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .alignment import format_pharaoh, word_alignment


@dataclass
class Hypothesis:
    """One translation of one source sentence."""

    text: str  # detokenized translation
    score: float  # sum of token log-probs / len(tokens) ** length_penalty
    tokens: list[str] = field(default_factory=list)  # target subword tokens, '</s>' last when finished
    token_probs: list[float] = field(default_factory=list)  # model probability of each target token
    src_tokens: list[str] = field(default_factory=list)  # source subword tokens, '</s>' last
    attention: list[list[float]] = field(default_factory=list)  # len(tokens) x len(src_tokens); [] without attention
    nbest: list[Hypothesis] = field(default_factory=list)  # all returned hypotheses, best first
    truncated: bool = False  # the source was cut to the model's maximum length
    log_prob: float = 0.0  # total log-probability of `tokens`

    @cached_property
    def alignment(self) -> list[tuple[int, int]]:
        """(source word, target word) links, 0-based, one per target word, in target order; [] without attention.

        Words are the whitespace-separated words of source and translation; see `alignment.word_alignment`.
        Read off `attention` on first access (most callers of a bulk translation never ask for it).
        """
        return word_alignment(self.src_tokens, self.tokens, self.attention)

    def pharaoh(self) -> str:
        """The alignment in Pharaoh format, as fast_align and Moses write it: '0-0 1-2 2-1' (source-target)."""
        return format_pharaoh(self.alignment)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("text", "score", "tokens", "token_probs", "src_tokens", "attention")}
        out.update(truncated=self.truncated, log_prob=self.log_prob)
        out["alignment"] = [[i, j] for i, j in self.alignment]  # (source word, target word) pairs
        out["nbest"] = [{"text": h.text, "score": h.score} for h in self.nbest]
        return out
