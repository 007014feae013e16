"""Hostile input through the library: every input gives a translation or one clear error, in bounded time."""

import time

import pytest
from hostile import HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2seq_hub.tokenizer import normalize


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


def test_hostile_lines_through_the_cli_give_one_translation_each(tmp_path_factory):
    from runhelpers import cli, subprocess_env, tiny_run

    run, _ = tiny_run(tmp_path_factory)
    lines = [v for k, v in HOSTILE.items() if k != "1 MB"] + ["x" * 200_000]
    stdin = "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    stdin = stdin.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # what a pipe can carry
    result = cli(
        "translate",
        "--model",
        str(run / "model"),
        "--beam-size",
        "2",
        "--max-length",
        "8",
        env=subprocess_env(tmp_path_factory.mktemp("cli-hostile")),
        stdin=stdin,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.split("\n")) - 1 == stdin.count("\n")
    assert "Traceback" not in result.stderr
    assert "truncated" in result.stderr  # the over-long lines are reported
