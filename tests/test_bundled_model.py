"""The bundled flagship (models/multi30k-de-en): a complete Hub-format folder (a single model or an ensemble)
whose scores hold up, small enough to ship."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from seq2seq_hub import Translator
from seq2seq_hub.metrics import corpus_scores

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "models" / "multi30k-de-en"
FLOOR_BELOW_CARD = 4.0  # BLEU points: a 200-sentence slice varies around the 1,000-sentence figure


@pytest.fixture(scope="module")
def bundled() -> Translator:
    return Translator.from_pretrained(BUNDLED)


def card_bleu(split: str = "test") -> float:
    card = ModelCard.load(BUNDLED / "README.md")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results or [] if r.dataset_split == split}
    assert "bleu" in results, f"the model card lists no {split} BLEU"
    return float(results["bleu"])


def test_the_bundled_folder_is_complete_and_small(bundled):
    names = {p.name for p in BUNDLED.iterdir()}
    assert {"config.json", "tokenizer.json", "generation_config.json", "README.md"} <= names
    weights = (
        [BUNDLED / "model.safetensors"]
        if len(bundled.members) == 1
        else list(BUNDLED.glob("member-*/model.safetensors"))
    )
    assert len(weights) == len(bundled.members) and all(w.is_file() for w in weights)
    files = [p for p in BUNDLED.rglob("*") if p.is_file()]
    assert not any(p.name.endswith((".bin", ".pt", ".pth", ".pkl")) for p in files)
    assert sum(p.stat().st_size for p in files) <= 60 * 2**20


def test_the_card_reports_validation_and_test_bleu():
    assert card_bleu("validation") >= 35.0 and card_bleu("test") >= 35.0
    text = (BUNDLED / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: translation" in text and "nrefs:1|case:mixed|eff:no|tok:13a" in text.replace("\\|", "|")


@pytest.mark.slow
def test_bleu_on_200_test_sentences_is_near_the_cards_figure(bundled, multi30k):
    sources, references = multi30k("test_2016_flickr", "de", 200), multi30k("test_2016_flickr", "en", 200)
    hyps = bundled.translate(sources)  # its generation_config.json: how the card's figure was measured
    bleu = corpus_scores([h.text for h in hyps], references).bleu
    assert bleu >= card_bleu() - FLOOR_BELOW_CARD, f"BLEU {bleu:.2f} on 200 test sentences"


def test_it_translates_a_simple_sentence_sensibly(bundled):
    text = bundled.translate("Ein Hund rennt durch den Schnee.", beam_size=5)[0].text.lower()
    assert "dog" in text and "snow" in text
