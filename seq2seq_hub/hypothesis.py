"""hypothesis.py: `Hypothesis`, one translation as `Translator.translate` returns it (text, score,
tokens, per-token probabilities, attention, n-best list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("text", "score", "tokens", "token_probs", "src_tokens", "attention")}
        out.update(truncated=self.truncated, log_prob=self.log_prob)
        out["nbest"] = [{"text": h.text, "score": h.score} for h in self.nbest]
        return out
