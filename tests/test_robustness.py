"""Hostile input through the library: every input gives a translation or one clear error, in bounded time."""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2seq_hub.tokenizer import normalize

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n  ",
    "one character": "a",
    "5,000 words": "Ein Mann fährt Fahrrad. " * 1250,
    "1 MB": "x" * 1_000_000,
    "NUL and controls": "Ein\x00 Mann\x07\x1b[31m fährt\x7f",
    "zero-width and RTL marks": "Ein\u200b Mann\u200f fährt\u202e Fahrrad\ufeff",
    "lone surrogates": "Ein \ud800 Mann \udfff",
    "emoji": "Ein 👨‍👩‍👧 fährt 🚲🚲",
    "CJK, Cyrillic, Arabic": "男人骑自行车 Мужчина едет مرد يركب",
    "HTML": "<script>alert('x')</script><b>Ein Mann</b>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_gives_a_translation_quickly(translator, name):
    start = time.perf_counter()
    (hyp,) = translator.translate(HOSTILE[name], strategy="greedy", max_length=20)
    assert time.perf_counter() - start < 10
    assert isinstance(hyp.text, str)
    assert len(hyp.tokens) == len(hyp.token_probs) == len(hyp.attention)
    assert all(len(row) == len(hyp.src_tokens) for row in hyp.attention)
    assert len(hyp.src_tokens) <= translator.config.max_source_length


@pytest.mark.parametrize("name", ["5,000 words", "1 MB"])
def test_over_long_input_is_truncated_and_says_so(translator, name):
    (hyp,) = translator.translate(HOSTILE[name], beam_size=2, max_length=10)
    assert hyp.truncated
    assert len(hyp.src_tokens) == translator.config.max_source_length


@pytest.mark.parametrize("payload", [None, 42, 3.5, ["ok", None], {"text": "x"}, [["nested"]], b"bytes"])
def test_non_string_payloads_are_refused_with_a_clear_type_error(translator, payload):
    with pytest.raises(TypeError, match="texts must be a string or a list of strings"):
        translator.translate(payload)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_translate_never_raises_on_arbitrary_unicode(translator, text):
    (hyp,) = translator.translate(text, strategy="greedy", max_length=8)
    assert isinstance(hyp.text, str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_tokenizer_round_trip_is_lossless_after_normalization(tokenizer, text):
    ids = tokenizer.encode_target([text])[0].ids
    assert tokenizer.decode(ids) == normalize(text)
