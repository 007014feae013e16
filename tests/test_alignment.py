"""Word alignments from attention: subwords merged into words, '</s>' never a word, one link per target
word in Pharaoh order; filled by the Translator for every hypothesis; and read off a tiny trained model
whose true alignment is known (copy: the diagonal, reversal: the anti-diagonal)."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from seq2seq_hub import Hypothesis, Seq2SeqTokenizer, Translator
from seq2seq_hub.alignment import format_pharaoh, word_alignment
from seq2seq_hub.tokenizer import SPECIAL_TOKENS

SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch am Strand."]

# source words: Ein(0) Mann(1) fährt(2) Rad.(3); target words: A(0) man(1) rides(2) a(3) bike.(4)
SRC = ["Ein", "▁Mann", "▁fähr", "t", "▁Rad", ".", "</s>"]
TGT = ["A", "▁man", "▁rid", "es", "▁a", "▁bike", ".", "</s>"]
ATTENTION = [  # rows: target tokens; columns: source tokens; each row sums to 1
    [0.90, 0.05, 0.00, 0.00, 0.00, 0.00, 0.05],  # A -> Ein
    [0.05, 0.90, 0.00, 0.00, 0.00, 0.00, 0.05],  # man -> Mann
    [0.00, 0.40, 0.30, 0.30, 0.00, 0.00, 0.00],  # ▁rid: Mann 0.4 beats each half of fährt (0.3) ...
    [0.00, 0.40, 0.30, 0.30, 0.00, 0.00, 0.00],  # ... but fährt as a word has 0.6: rides -> fährt
    [0.00, 0.00, 0.00, 0.00, 0.20, 0.10, 0.70],  # a: '</s>' has most, but is no word: a -> Rad.
    [0.00, 0.00, 0.00, 0.00, 0.50, 0.00, 0.50],  # ▁bike and '.' average to bike. -> Rad.
    [0.10, 0.00, 0.00, 0.00, 0.00, 0.30, 0.60],
    [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00],  # the target's '</s>' gets no link
]


def test_words_are_merged_subwords_and_the_end_of_sentence_is_never_linked():
    assert word_alignment(SRC, TGT, ATTENTION) == [(0, 0), (1, 1), (2, 2), (3, 3), (3, 4)]


def test_target_rows_are_averaged_over_a_word_before_the_argmax():
    attention = [row[:] for row in ATTENTION]
    attention[2] = [0.00, 0.90, 0.05, 0.05, 0.00, 0.00, 0.00]  # ▁rid: Mann 0.9, fährt 0.1; es: Mann 0.4, fährt 0.6
    assert word_alignment(SRC, TGT, attention)[2] == (1, 2)  # mean: Mann 0.65, fährt 0.35
    attention[2] = [0.00, 0.50, 0.25, 0.25, 0.00, 0.00, 0.00]
    assert word_alignment(SRC, TGT, attention)[2] == (2, 2)  # mean: Mann 0.45, fährt 0.55


def test_ties_go_to_the_first_source_word_and_an_unfinished_target_has_no_end_to_drop():
    attention = [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    assert word_alignment(["x", "▁y", "</s>"], ["u", "▁v"], attention) == [(0, 0), (1, 1)]


def test_no_attention_or_nothing_to_align_gives_no_links():
    assert word_alignment(SRC, TGT, []) == []  # a model without attention
    assert word_alignment(["</s>"], ["▁a", "</s>"], [[1.0], [1.0]]) == []  # an empty source
    assert word_alignment(SRC, ["</s>"], [ATTENTION[-1]]) == []  # an empty translation


def test_attention_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"one row per target token .* expected 8 x 7, got 7 x 7"):
        word_alignment(SRC, TGT, ATTENTION[:-1])


def test_pharaoh_format_is_source_dash_target_pairs():
    assert format_pharaoh([(0, 0), (2, 1), (1, 2)]) == "0-0 2-1 1-2"
    assert format_pharaoh([]) == ""
    hyp = Hypothesis(
        text="A man",
        score=0.0,
        tokens=["▁A", "▁man", "</s>"],
        src_tokens=["▁Ein", "▁Mann", "</s>"],
        attention=[[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
    )
    assert hyp.pharaoh() == "0-0 1-1"
    assert json.loads(json.dumps(hyp.to_dict()))["alignment"] == [[0, 0], [1, 1]]


# ---------------------------------------------------------------------- from the Translator
def test_every_hypothesis_of_an_nbest_list_has_one_link_per_target_word(translator):
    hyps = translator.translate([*SENTENCES, ""], beam_size=3, num_return_sequences=3)
    for source, hyp in zip(SENTENCES, hyps):
        assert len(hyp.nbest) == 3
        for entry in hyp.nbest:
            words = entry.text.split()
            assert [j for _, j in entry.alignment] == list(range(len(words)))
            assert all(0 <= i < len(source.split()) for i, _ in entry.alignment)
            assert entry.alignment == word_alignment(entry.src_tokens, entry.tokens, entry.attention)
    assert hyps[-1].alignment == [] and hyps[-1].text == ""


def test_a_model_without_attention_has_no_alignment(make_translator):
    hyps = make_translator(attention="none").translate(SENTENCES, beam_size=2, num_return_sequences=2)
    assert all(entry.alignment == [] and entry.pharaoh() == "" for hyp in hyps for entry in hyp.nbest)


# ---------------------------------------------------------------------- a known alignment, learned
LETTERS = "abcdefghij"  # the toy task's symbols 4..13 as words


def word_tokenizer() -> Seq2SeqTokenizer:
    """One token per letter-word (written '▁a' like any word-initial byte-level token), ids as the toy task's."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + [f"Ġ{c}" for c in LETTERS])}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    words.decoder = decoders.ByteLevel()
    return Seq2SeqTokenizer(words)


@pytest.mark.parametrize("reverse", [False, True], ids=["copy-diagonal", "reversal-anti-diagonal"])
def test_a_model_trained_on_a_toy_task_aligns_each_word_with_its_source(make_config, train_toy, reverse):
    sizes = dict(src_vocab_size=14, tgt_vocab_size=14, embedding_size=16, hidden_size=32, attention_size=0)
    config = make_config(**sizes, cell="gru", dropout=0.0, shared_vocab=True)
    translator = Translator(train_toy(config, 250, reverse=reverse, max_len=6), word_tokenizer())
    rng = random.Random(1)
    sources = [" ".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 6))) for _ in range(40)]
    hyps = translator.translate(sources, strategy="greedy")
    correct = [(s.split(), h) for s, h in zip(sources, hyps) if h.text.split() == s.split()[:: -1 if reverse else 1]]
    assert len(correct) >= 36, f"the model learned the task for {len(correct)} of 40 sentences"
    n_aligned = 0
    for words, hyp in correct:
        n = len(words)
        n_aligned += hyp.alignment == [(n - 1 - j if reverse else j, j) for j in range(n)]
    assert n_aligned >= 0.95 * len(correct), f"{n_aligned} of {len(correct)} alignments are the expected ones"
