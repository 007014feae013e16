"""metrics.py: sacreBLEU, chrF and perplexity wrappers (corpus level, detokenized text)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Scores:
    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    bleu_lowercase: float


def corpus_scores(hypotheses: list[str], references: list[str]) -> Scores:
    """Corpus sacreBLEU (13a, cased), lowercased BLEU and chrF of detokenized hypotheses."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses for {len(references)} references")
    bleu, bleu_lc, chrf = BLEU(), BLEU(lowercase=True), CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return Scores(
        bleu=b.score,
        bleu_signature=str(bleu.get_signature()),
        chrf=c.score,
        chrf_signature=str(chrf.get_signature()),
        bleu_lowercase=bleu_lc.corpus_score(hypotheses, [references]).score,
    )


def corpus_bleu(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """Corpus sacreBLEU (13a, cased) of detokenized hypotheses, and its signature."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU()
    return bleu.corpus_score(hypotheses, [references]).score, str(bleu.get_signature())


def perplexity(total_nll: float, num_tokens: int) -> float:
    """exp(mean per-token negative log-likelihood); inf for no tokens or an overflow."""
    if num_tokens <= 0:
        return float("inf")
    mean = total_nll / num_tokens
    return math.exp(mean) if mean < 700 else float("inf")
