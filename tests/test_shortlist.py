"""Lexical shortlists: built from aligned id sequences, stored with the model, and decoding restricted to each
sentence's own list (greedy, beam, sampling; float32 and int8; ensembles; a forced prefix always allowed).
Scores are normalised over the sentence's shortlist, and a sentence's result does not depend on its batch."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq_hub import DecodingOptions, Translator
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.shortlist import SHORTLIST_FILE, Shortlist, shortlist_view

SPECIALS = 4


def test_build_keeps_the_associated_tokens_the_frequent_ones_and_the_specials():
    src = [[5, 6], [5, 7], [6, 7], [5]]
    tgt = [[10, 11], [10, 12], [11, 12], [10, 13]]
    shortlist = Shortlist.build(src, tgt, src_vocab_size=9, tgt_vocab_size=15, k=2, frequent=1)
    assert shortlist.table.shape == (9, 2)
    assert shortlist.table[5].tolist()[0] == 10  # 5 and 10 always come together
    assert shortlist.table[8].tolist() == [-1, -1]  # never seen: nothing of its own
    assert shortlist.frequent.tolist() == [0, 1, 2, 3, 10]  # the specials and the most frequent target token
    assert shortlist.candidates([5], prefix_ids=[14]).tolist() == sorted(
        {0, 1, 2, 3, 10, *shortlist.table[5].tolist(), 14}
    )
    with pytest.raises(ValueError, match="must be aligned"):
        Shortlist.build(src, tgt[:2], 9, 15)


def test_the_batch_view_keeps_special_ids_as_positions_and_each_sentence_its_own_list():
    shortlist = Shortlist(torch.tensor([[-1], [-1], [-1], [-1], [9], [7]]), torch.tensor([0, 1, 2, 3]))
    vocab, mask = shortlist_view(shortlist, [[4], [5, 4]], [[], [11]], SPECIALS)
    assert vocab.tolist() == [0, 1, 2, 3, 7, 9, 11]
    assert mask.tolist() == [[True] * 4 + [False, True, False], [True] * 4 + [True, True, True]]


def _full(translator: Translator) -> Shortlist:
    vocab = translator.config.tgt_vocab_size
    return Shortlist(torch.full((translator.config.src_vocab_size, 1), -1), torch.arange(vocab))


@pytest.mark.parametrize(
    "options",
    [dict(strategy="greedy"), dict(beam_size=4, num_return_sequences=2), dict(strategy="sample", seed=3)],
    ids=["greedy", "beam", "sample"],
)
def test_a_shortlist_of_every_token_decodes_exactly_as_the_full_vocabulary(make_translator, multi30k, options):
    translator = make_translator(seed=5)
    translator.shortlist = _full(translator)
    texts = multi30k("val", "de", 8)
    plain = translator.translate(texts, max_length=10, **options)
    listed = translator.translate(texts, max_length=10, shortlist=True, **options)
    for a, b in zip(plain, listed):
        assert [h.text for h in a.nbest] == [h.text for h in b.nbest]
        assert a.score == pytest.approx(b.score, abs=1e-6)


def _small_shortlist(translator: Translator, allowed: list[int]) -> Shortlist:
    return Shortlist(
        torch.full((translator.config.src_vocab_size, 1), -1), torch.tensor(sorted({0, 1, 2, 3, *allowed}))
    )


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_a_token_outside_the_shortlist_never_appears_but_a_prefix_token_can(make_translator, multi30k, dtype):
    translator = make_translator(seed=6)
    translator.compute_dtype = dtype
    texts = multi30k("val", "de", 6)
    allowed = list(range(4, 4 + translator.config.tgt_vocab_size // 3))  # a third of the vocabulary
    translator.shortlist = _small_shortlist(translator, allowed)
    readable = set(translator.tokenizer.target_tokens([*allowed, 2]))
    unrestricted = translator.translate(texts, max_length=8, strategy="greedy")
    assert any(not set(h.tokens) <= readable for h in unrestricted)  # the list really leaves tokens out
    for options in (dict(strategy="greedy"), dict(beam_size=3), dict(strategy="sample", seed=1)):
        hyps = translator.translate(texts, max_length=8, shortlist=True, **options)
        assert all(set(h.tokens) <= readable for h in hyps)
        assert all(len(h.tokens) == len(h.token_probs) == len(h.attention) for h in hyps)  # the same form
    prefixed = translator.translate(texts[0], prefix="Ein", max_length=8, shortlist=True)[0]
    assert prefixed.text.startswith("Ein")


def test_scores_are_normalised_over_each_sentences_own_shortlist(make_model):
    model = make_model()
    src, lengths = torch.tensor([[5, 6, 2], [7, 2, 0]]), torch.tensor([3, 2])
    vocab = torch.tensor([0, 1, 2, 3, 8, 9, 12])
    mask = torch.tensor([[True] * 5 + [False, True], [True] * 7])
    with torch.inference_mode():
        state = model.encode(src, lengths, vocab, mask)
        logits, _, _ = model.decode_step(torch.tensor([1, 1]), state)
    probs = logits.softmax(-1)
    assert logits.shape == (2, 7) and logits[0, 5] == float("-inf") and probs[0, 5] == 0
    assert torch.allclose(probs.sum(-1), torch.ones(2))


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_with_a_shortlist_a_sentence_translates_the_same_alone_and_in_a_batch(make_translator, multi30k, dtype):
    translator = make_translator(seed=7)
    translator.compute_dtype = dtype
    texts = multi30k("val", "de", 40)
    ids = [e.ids for e in translator.tokenizer.encode_source(texts, max_length=None)]
    tgt = [e.ids for e in translator.tokenizer.encode_target(multi30k("val", "en", 40), max_length=None)]
    translator.shortlist = Shortlist.build(
        ids, tgt, translator.config.src_vocab_size, translator.config.tgt_vocab_size, k=5, frequent=20
    )
    alone = translator.translate(texts, beam_size=3, max_length=10, shortlist=True, batch_size=1)
    batched = translator.translate(texts, beam_size=3, max_length=10, shortlist=True, batch_size=16)
    assert all(a.text == b.text and abs(a.score - b.score) <= 1e-5 for a, b in zip(alone, batched))


def test_an_ensemble_decodes_with_one_shortlist(make_translator, multi30k):
    pair = Translator.ensemble([make_translator(seed=1), make_translator(seed=2)])
    pair.shortlist = _full(pair)
    texts = multi30k("val", "de", 4)
    plain, listed = (
        pair.translate(texts, beam_size=2, max_length=8),
        pair.translate(texts, beam_size=2, max_length=8, shortlist=True),
    )
    assert [h.text for h in plain] == [h.text for h in listed]


def test_the_shortlist_travels_with_the_model_and_its_default_in_generation_config(make_translator, tmp_path):
    translator = make_translator()
    with pytest.raises(ValueError, match="has no shortlist.safetensors: build one with `seq2seq-hub shortlist"):
        translator.translate("Ein Hund.", shortlist=True)
    translator.shortlist = _small_shortlist(translator, [10, 11])
    translator.generation_options = DecodingOptions(num_beams=2, shortlist=True)
    translator.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "generation_config.json").read_text())["seq2seq_hub_shortlist"] is True
    loaded = Translator.from_pretrained(tmp_path / "m")
    assert loaded.generation_options.shortlist and torch.equal(loaded.shortlist.frequent, translator.shortlist.frequent)
    assert (
        loaded.translate("Ein Hund.", shortlist=False)[0].text
        == translator.translate("Ein Hund.", shortlist=False)[0].text
    )
    (tmp_path / "m" / SHORTLIST_FILE).write_bytes(b"not a shortlist")
    with pytest.raises(ValueError, match="shortlist.safetensors is not a readable shortlist"):
        Translator.from_pretrained(tmp_path / "m")


def test_the_shortlist_command_builds_one_into_the_model_folder(make_translator, multi30k, tmp_path, capsys):
    folder = tmp_path / "m"
    make_translator().save_pretrained(folder)
    src, tgt = tmp_path / "train.de", tmp_path / "train.en"
    src.write_text("\n".join(multi30k("train", "de", 50)) + "\n")
    tgt.write_text("\n".join(multi30k("train", "en", 50)) + "\n")
    args = ["shortlist", "--model", str(folder), "--src", str(src), "--tgt", str(tgt), "--k", "5", "--frequent", "30"]
    assert cli_main(args) == 0
    loaded = Translator.from_pretrained(folder)
    assert loaded.shortlist is not None and loaded.shortlist.table.size(1) == 5
    assert loaded.translate("Ein Mann.", shortlist=True, max_length=6)[0].tokens
    assert cli_main([*args[:-2], "--frequent", "-1"]) == 2
    assert "--frequent must be an integer >= 0, got -1" in capsys.readouterr().err
