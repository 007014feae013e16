"""evaluation.py: scoring a model during and after training: validation loss, perplexity, sacreBLEU
and chrF, and the test scores with their sacreBLEU signatures. Decoding settings come in as one
`DecodingOptions`; what to do with a score (early stopping, best model) is the loop's business.
"""

from __future__ import annotations

from typing import Any

from ..decoding import DecodingOptions
from ..metrics import Scores, corpus_scores, perplexity
from ..translator import Translator


def translation_scores(translator: Translator, data: Any, options: DecodingOptions, batch_size: int) -> Scores:
    """sacreBLEU / chrF of `data` (columns src, tgt) decoded with `options`."""
    hyps = translator.translate(list(data["src"]), options=options, batch_size=batch_size)
    return corpus_scores([h.text for h in hyps], list(data["tgt"]))


def validation_scores(translator: Translator, valid: Any, options: DecodingOptions) -> dict[str, float]:
    """valid_loss (teacher-forced NLL per token, no label smoothing), valid_ppl, valid_bleu, valid_chrf."""
    nll, tokens = translator.score(list(valid["src"]), list(valid["tgt"]), batch_size=128)
    scores = translation_scores(translator, valid, options, batch_size=128)
    return {
        "valid_loss": nll / max(tokens, 1),
        "valid_ppl": perplexity(nll, tokens),
        "valid_bleu": scores.bleu,
        "valid_chrf": scores.chrf,
    }


def test_scores(translator: Translator, test: Any, options: DecodingOptions) -> dict[str, Any]:
    """test_bleu (+ signature, lowercased), test_chrf (+ signature) and the beam size used."""
    scores = translation_scores(translator, test, options, batch_size=64)
    return {
        "test_bleu": scores.bleu,
        "test_bleu_signature": scores.bleu_signature,
        "test_bleu_lowercase": scores.bleu_lowercase,
        "test_chrf": scores.chrf,
        "test_chrf_signature": scores.chrf_signature,
        "test_beam_size": options.num_beams,
    }
