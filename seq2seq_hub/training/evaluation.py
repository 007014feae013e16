"""evaluation.py: scoring a model during and after training: validation loss, perplexity, sacreBLEU
and chrF, and the test scores with their sacreBLEU signatures and BLEU by source length. Decoding
settings come in as one `DecodingOptions`; what to do with a score (early stopping, best model) is the
loop's business.
"""

from __future__ import annotations

from typing import Any

from ..decoding import DecodingOptions
from ..length_scores import bleu_by_length
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


def test_scores(
    translator: Translator, test: Any, options: DecodingOptions
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The test metrics: test_bleu (+ signature, lowercased), test_chrf (+ signature) and the beam size used;
    and sacreBLEU by source length (`length_scores.bleu_by_length`)."""
    sources, references = list(test["src"]), list(test["tgt"])
    texts = [h.text for h in translator.translate(sources, options=options, batch_size=64)]
    scores = corpus_scores(texts, references)
    metrics = {
        "test_bleu": scores.bleu,
        "test_bleu_signature": scores.bleu_signature,
        "test_bleu_lowercase": scores.bleu_lowercase,
        "test_chrf": scores.chrf,
        "test_chrf_signature": scores.chrf_signature,
        "test_beam_size": options.num_beams,
    }
    return metrics, bleu_by_length(sources, texts, references)


def test_summary(metrics: dict[str, Any]) -> str:
    """The log line of the test scores."""
    return (
        f"test: BLEU {metrics['test_bleu']:.2f} (lowercased {metrics['test_bleu_lowercase']:.2f}) "
        f"chrF {metrics['test_chrf']:.2f} [{metrics['test_bleu_signature']}]"
    )
