"""Seq2SeqTokenizer: lossless text <-> ids for any language and any Unicode, joint and separate
vocabularies, truncation, and its files."""

import json

import pytest
from tokenizers import Tokenizer, models

from seq2seq_hub import Seq2SeqTokenizer
from seq2seq_hub.tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE, normalize

SPECIAL_TEXTS = [
    "Über Äpfel, Öfen und Straßen: süß!",
    "Crème brûlée, déjà vu, naïve façade, Noël.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.",
    "0123456789 3.14 -42 1,000,000 50% 7/8",
    "Punctuation: ¿¡«»„“” ‘’ (a) [b] {c} <d> #@&*~^|\\`'\" – —",
    "Emoji: 😀 👍🏽 👨‍👩‍👧 🇩🇪 ❤️",
    "CJK: 日本語のテキスト 中文 한국어",
    "Zwei Männer stehen am Herd und bereiten Essen zu.",
    "a",
    "",
]


def round_trip(tokenizer, texts):
    return [tokenizer.decode(e.ids) for e in tokenizer.encode_target(texts)]


@pytest.mark.parametrize("lang", ["de", "en", "fr", "cs"])
def test_round_trip_of_multi30k_sentences(tokenizer, multi30k, lang):
    # French and Czech are unseen by the German-English BPE: byte-level fallback keeps them lossless.
    # The tokenizer normalizes whitespace (a few French lines start with a space), so compare normalized text.
    texts = [normalize(t) for t in multi30k("val", lang, 200)]
    assert round_trip(tokenizer, texts) == texts


def test_round_trip_of_umlauts_accents_digits_punctuation_and_emoji(tokenizer):
    assert round_trip(tokenizer, SPECIAL_TEXTS) == SPECIAL_TEXTS


def test_compatibility_characters_are_nfkc_normalized(tokenizer):
    texts = ["Wait…", "ﬁnd", "①②", "ｆｕｌｌ", "x²"]
    assert round_trip(tokenizer, texts) == [normalize(t) for t in texts] == ["Wait...", "find", "12", "full", "x2"]


def test_source_side_round_trips_too(tokenizer):
    encoded = tokenizer.encode_source(SPECIAL_TEXTS)
    assert [tokenizer.decode_source(e.ids) for e in encoded] == SPECIAL_TEXTS


def test_whitespace_is_collapsed_and_stripped(tokenizer):
    assert round_trip(tokenizer, ["  Ein \t Mann\n\nläuft.  ", "   "]) == ["Ein Mann läuft.", ""]


def test_any_python_string_is_encodable(tokenizer):
    # a lone surrogate cannot be UTF-8 encoded: it becomes U+FFFD; NUL and controls survive
    texts = ["\ud800", "a\udfffb", "a\x00b", "\x07\x1b[0m", "\u200b\u200e\u202e"]
    assert round_trip(tokenizer, texts) == ["\ufffd", "a\ufffdb", "a\x00b", "\x07\x1b[0m", "\u200b\u200e\u202e"]


def test_sources_and_targets_end_with_eos_and_prefixes_do_not(tokenizer):
    eos = tokenizer.eos_token_id
    (encoded,) = tokenizer.encode_source(["Ein Mann."])
    assert encoded.ids[-1] == eos and eos not in encoded.ids[:-1] and not encoded.truncated
    assert tokenizer.encode_target([""])[0].ids == [eos]
    prefix = tokenizer.encode_prefix("A man")
    assert eos not in prefix and tokenizer.decode(prefix) == "A man"


def test_truncation_keeps_eos_and_sets_the_flag(tokenizer):
    text = "Ein Mann in einem blauen Hemd steht auf einer Leiter und putzt ein Fenster."
    full = tokenizer.encode_source([text])[0]
    assert len(full.ids) > 6
    (cut,) = tokenizer.encode_source([text], max_length=6)
    assert cut.truncated and len(cut.ids) == 6
    assert cut.ids == full.ids[:5] + [tokenizer.eos_token_id]
    (fits,) = tokenizer.encode_source([text], max_length=len(full.ids))
    assert not fits.truncated and fits.ids == full.ids


def test_readable_tokens_show_spaces_and_specials(tokenizer):
    (encoded,) = tokenizer.encode_source(["A man is running."])
    tokens = tokenizer.source_tokens(encoded.ids)
    assert tokens[-1] == "</s>"
    assert "".join(tokens[:-1]).replace("▁", " ") == "A man is running."
    assert tokenizer.target_tokens([0, 1, 2, 3]) == ["<pad>", "<s>", "</s>", "<unk>"]


def test_joint_vocabulary(tokenizer):
    assert tokenizer.joint and tokenizer.source is tokenizer.target
    assert tokenizer.src_vocab_size == tokenizer.tgt_vocab_size <= 400
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (
        0,
        1,
        2,
        3,
    )


@pytest.fixture(scope="module")
def separate(multi30k):
    return Seq2SeqTokenizer.train(
        multi30k("train", "de", 300), multi30k("train", "en", 300), vocab_size=360, joint=False, target_vocab_size=320
    )


def test_separate_vocabularies(separate):
    assert not separate.joint and separate.source is not separate.target
    assert separate.src_vocab_size <= 360 and separate.tgt_vocab_size <= 320
    assert separate.src_vocab_size != separate.tgt_vocab_size
    assert round_trip(separate, SPECIAL_TEXTS) == SPECIAL_TEXTS
    encoded = separate.encode_source(SPECIAL_TEXTS)
    assert [separate.decode_source(e.ids) for e in encoded] == SPECIAL_TEXTS


@pytest.mark.parametrize("which", ["joint", "separate"])
def test_save_and_load_give_the_same_ids(tokenizer, separate, tmp_path, which):
    original = tokenizer if which == "joint" else separate
    names = original.save(tmp_path)
    assert names == ([TOKENIZER_FILE] if which == "joint" else [TOKENIZER_FILE, TARGET_TOKENIZER_FILE])
    loaded = Seq2SeqTokenizer.from_pretrained(tmp_path)
    assert loaded.joint == original.joint
    assert (loaded.src_vocab_size, loaded.tgt_vocab_size) == (original.src_vocab_size, original.tgt_vocab_size)
    for encode in ("encode_source", "encode_target"):
        assert [e.ids for e in getattr(loaded, encode)(SPECIAL_TEXTS)] == [
            e.ids for e in getattr(original, encode)(SPECIAL_TEXTS)
        ]


def test_saving_a_joint_tokenizer_removes_a_stale_target_file(tokenizer, separate, tmp_path):
    separate.save(tmp_path)
    tokenizer.save(tmp_path)
    assert not (tmp_path / TARGET_TOKENIZER_FILE).exists()
    assert Seq2SeqTokenizer.from_pretrained(tmp_path).joint


def test_too_small_vocabulary_is_refused():
    with pytest.raises(ValueError, match="vocab_size must be at least 300 .* got 100"):
        Seq2SeqTokenizer.train(["a b"], ["c d"], vocab_size=100)


def test_missing_tokenizer_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no {TOKENIZER_FILE} in"):
        Seq2SeqTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="tokenizer file not found: .*nothing.json"):
        Seq2SeqTokenizer.from_files(tmp_path / "nothing.json")


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": "1.0", "model": 5}), "[]"])
def test_malformed_tokenizer_file_is_refused(tmp_path, content):
    (tmp_path / TOKENIZER_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{TOKENIZER_FILE} is not a valid tokenizers file"):
        Seq2SeqTokenizer.from_pretrained(tmp_path)


def test_tokenizer_without_our_special_ids_is_refused():
    plain = Tokenizer(models.WordLevel({"a": 0, "<pad>": 1}, unk_token="a"))
    with pytest.raises(ValueError, match="the source tokenizer must map '<pad>' to id 0, got 1"):
        Seq2SeqTokenizer(plain)
