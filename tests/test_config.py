"""Seq2SeqConfig: every bad value is refused with one ValueError naming the field, the value and what is
allowed; unknown keys are refused; sizes no honest model reaches are refused before allocating."""

import re

import pytest

from seq2seq_hub import Seq2SeqConfig, Seq2SeqModel


def test_defaults_are_valid_and_round_trip_through_a_dict():
    config = Seq2SeqConfig()
    assert Seq2SeqConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("cell", "lstn", "cell must be one of {'gru', 'lstm'}, got 'lstn'"),
        ("attention", "bahdanu", "attention must be one of {'bahdanau', 'luong', 'none'}, got 'bahdanu'"),
        ("luong_score", "cosine", "luong_score must be one of {'dot', 'general'}, got 'cosine'"),
        ("hidden_size", 0, "hidden_size must be an integer in [1, 16384], got 0"),
        ("hidden_size", 2.5, "hidden_size must be an integer in [1, 16384], got 2.5"),
        ("embedding_size", True, "embedding_size must be an integer in [1, 16384], got True"),
        ("encoder_layers", 17, "encoder_layers must be an integer in [1, 16], got 17"),
        ("src_vocab_size", 10**9, "src_vocab_size must be an integer in [5, 1000000], got 1000000000"),
        ("tgt_vocab_size", 4, "tgt_vocab_size must be an integer in [5, 1000000], got 4"),
        ("max_source_length", 1, "max_source_length must be an integer in [2, 100000], got 1"),
        ("dropout", 1.0, "dropout must be a number in [0, 1), got 1.0"),
        ("dropout", float("nan"), "dropout must be a number in [0, 1), got nan"),
        ("dropout", "0.1", "dropout must be a number in [0, 1), got '0.1'"),
        ("bidirectional", "yes", "bidirectional must be true or false, got 'yes'"),
        ("tie_embeddings", 1, "tie_embeddings must be true or false, got 1"),
        ("pad_token_id", -1, "pad_token_id must be an integer >= 0, got -1"),
        ("src_lang", None, "src_lang must be a string, got None"),
    ],
)
def test_bad_value_raises_one_error_naming_field_and_value(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Seq2SeqConfig(**{field: value})


def test_every_problem_is_reported_in_one_error():
    with pytest.raises(ValueError, match="Invalid Seq2SeqConfig") as info:
        Seq2SeqConfig(cell="lstn", hidden_size=-3, dropout=2.0)
    message = str(info.value)
    for field in ("cell", "hidden_size", "dropout"):
        assert field in message


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(bos_token_id=0), "special token ids must be distinct"),
        (dict(src_vocab_size=10, eos_token_id=12), r"eos_token_id \(12\) must be below both vocabulary sizes"),
        (dict(shared_vocab=True, src_vocab_size=100, tgt_vocab_size=90), "shared_vocab requires src_vocab_size"),
        (dict(attention="luong", luong_score="dot", bidirectional=True), "luong_score 'dot' needs encoder outputs"),
    ],
)
def test_inconsistent_fields_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqConfig(**overrides)


def test_luong_dot_is_allowed_with_a_unidirectional_encoder():
    config = Seq2SeqConfig(attention="luong", luong_score="dot", bidirectional=False)
    assert config.encoder_output_size == config.hidden_size


def test_absurd_total_size_is_refused_before_allocating():
    # every field is within its own bounds, but together they make tens of billions of parameters
    with pytest.raises(ValueError, match="parameters, more than the 2,000,000,000 allowed"):
        Seq2SeqConfig(src_vocab_size=1_000_000, tgt_vocab_size=1_000_000, embedding_size=16_384)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(cell="gru", bidirectional=False, attention="none"),
        dict(attention="luong", encoder_layers=2, decoder_layers=3, tie_embeddings=False),
        dict(attention="luong", luong_score="dot", bidirectional=False, cell="gru"),
    ],
)
def test_parameter_estimate_is_an_upper_bound(make_model, overrides):
    model = make_model(**overrides)
    assert model.config.estimated_parameters() >= model.num_parameters()


def test_from_dict_refuses_unknown_keys():
    data = Seq2SeqConfig().to_dict()
    data["hiden_size"] = 128
    with pytest.raises(ValueError, match=r"config has unknown keys \['hiden_size'\]; known keys are"):
        Seq2SeqConfig.from_dict(data)


def test_from_dict_names_its_source_in_errors():
    with pytest.raises(ValueError, match=r"^config\.json: Invalid Seq2SeqConfig: cell must be one of"):
        Seq2SeqConfig.from_dict({"cell": "lstn"}, source="config.json")


def test_from_dict_refuses_a_non_object():
    with pytest.raises(ValueError, match="config must hold a JSON object, got list"):
        Seq2SeqConfig.from_dict([1, 2])


def test_model_accepts_a_dict_and_refuses_anything_else(make_config):
    config = make_config()
    assert Seq2SeqModel(config.to_dict()).config == config
    with pytest.raises(TypeError, match="config must be a Seq2SeqConfig, got str"):
        Seq2SeqModel("config.json")
