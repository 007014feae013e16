"""DecodingOptions: validation, overrides, the generation_config.json form, and the decoding defaults a
model folder carries through save / load, `translate`, and the CLI."""

import json
import shutil

import pytest

from seq2seq_hub import DecodingOptions, Translator
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.decoding import GENERATION_CONFIG_FILE

SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch."]


def test_defaults_are_todays_translate_defaults():
    options = DecodingOptions()
    assert (options.num_beams, options.length_penalty, options.max_length, options.search) == (5, 1.0, None, "beam")
    assert DecodingOptions(num_beams=1).search == "greedy"
    assert DecodingOptions(strategy="sample").search == "sample"


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(num_beams=0), r"num_beams must be an integer in \[1, 64\], got 0"),
        (dict(strategy="topk"), r"strategy must be one of \{'beam', 'greedy', 'sample'\}, got 'topk'"),
        (dict(length_penalty=float("nan")), r"length_penalty must be a number in \[0, 10\], got nan"),
        (dict(top_p=1.5), r"top_p must be a number in \(0, 1\], got 1.5"),
        (dict(num_beams=2, num_return_sequences=3), r"num_return_sequences must be an integer in \[1, 2\], got 3"),
        (dict(seed=True), r"seed must be an integer .* got True"),
    ],
)
def test_bad_values_raise_one_error_naming_field_value_and_range(values, message):
    with pytest.raises(ValueError, match=message):
        DecodingOptions(**values)


def test_every_problem_is_named_in_one_error():
    with pytest.raises(ValueError) as err:
        DecodingOptions(num_beams=0, temperature=0.0, top_k=-1)
    assert all(name in str(err.value) for name in ("num_beams", "temperature", "top_k"))


def test_merged_accepts_the_beam_size_alias_and_names_it_in_errors():
    assert DecodingOptions().merged(beam_size=3).num_beams == 3
    with pytest.raises(ValueError, match=r"beam_size must be an integer in \[1, 64\], got 0"):
        DecodingOptions().merged(beam_size=0)
    with pytest.raises(TypeError, match="unknown decoding option 'beams'"):
        DecodingOptions().merged(beams=3)


def test_options_are_immutable():
    with pytest.raises(AttributeError):
        DecodingOptions().num_beams = 3


@pytest.mark.parametrize(
    "options",
    [
        DecodingOptions(),
        DecodingOptions(num_beams=4, length_penalty=1.3, max_length=40, min_length=2, num_return_sequences=2),
        DecodingOptions(strategy="greedy", num_beams=1),
        DecodingOptions(strategy="sample", temperature=0.7, top_k=20, top_p=0.9, seed=5, num_return_sequences=3),
    ],
)
def test_generation_config_round_trip(options, tmp_path):
    path = options.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["do_sample"] == (options.search == "sample")
    assert data["num_beams"] == (options.num_beams if options.search == "beam" else 1)
    loaded = DecodingOptions.load(path)
    assert loaded.search == options.search
    for name in ("length_penalty", "max_length", "min_length", "num_return_sequences", "temperature", "top_k"):
        assert getattr(loaded, name) == getattr(options, name)


def test_a_hugging_face_generation_config_is_read_by_its_key_names():
    data = {"num_beams": 4, "length_penalty": 0.8, "max_length": 50, "_from_model_config": True,
            "transformers_version": "4.40.0", "decoder_start_token_id": 1, "eos_token_id": 2}  # fmt: skip
    options = DecodingOptions.from_generation_config(data)
    assert (options.search, options.num_beams, options.length_penalty, options.max_length) == ("beam", 4, 0.8, 50)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"num_beams": 4, "repetition_penalty": 1.2}, r"keys seq2seq-hub cannot honour: \['repetition_penalty'\]"),
        ({"num_beams": 0}, r"generation_config.json: num_beams must be an integer"),
        ({"do_sample": "yes"}, "do_sample must be true or false"),
        ([1, 2], "must hold a JSON object, got list"),
    ],
)
def test_bad_generation_configs_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        DecodingOptions.from_generation_config(data)


# ---------------------------------------------------------------------- a model folder's defaults
@pytest.fixture
def folder_with_defaults(translator, tmp_path):
    """A saved tiny model whose generation_config.json says greedy with at most 7 tokens."""
    translator = Translator(translator.model, translator.tokenizer)
    translator.generation_options = DecodingOptions(strategy="greedy", num_beams=1, max_length=7)
    translator.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_saved_then_loaded_model_keeps_its_decoding_defaults(folder_with_defaults):
    loaded = Translator.from_pretrained(folder_with_defaults)
    assert loaded.generation_options == DecodingOptions(strategy=None, num_beams=1, max_length=7)
    assert loaded.generation_options.search == "greedy"
    assert all(len(h.tokens) <= 7 for h in loaded.translate(SENTENCES))


def test_translate_starts_from_the_defaults_and_keywords_override_them(folder_with_defaults):
    loaded = Translator.from_pretrained(folder_with_defaults)
    bare = loaded.translate(SENTENCES)
    explicit = loaded.translate(SENTENCES, options=DecodingOptions(num_beams=1, max_length=7))
    assert [h.text for h in bare] == [h.text for h in explicit]
    longer = loaded.translate(SENTENCES, max_length=30, beam_size=3, num_return_sequences=2)
    assert all(len(h.nbest) == 2 for h in longer)
    with pytest.raises(TypeError, match="options must be a DecodingOptions, got str"):
        loaded.translate(SENTENCES, "beam")


def test_a_folder_without_generation_config_loads_with_the_library_defaults(folder_with_defaults):
    (folder_with_defaults / GENERATION_CONFIG_FILE).unlink()
    assert Translator.from_pretrained(folder_with_defaults).generation_options == DecodingOptions()


def test_a_broken_generation_config_is_refused_with_its_name(folder_with_defaults):
    (folder_with_defaults / GENERATION_CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="generation_config.json is not readable JSON"):
        Translator.from_pretrained(folder_with_defaults)


def test_the_cli_starts_from_the_model_defaults(folder_with_defaults, tmp_path, capsys, monkeypatch):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SENTENCES) + "\n")
    loaded = Translator.from_pretrained(folder_with_defaults)
    assert cli_main(["translate", "--model", str(folder_with_defaults), "--input", str(source)]) == 0
    assert capsys.readouterr().out.splitlines() == [h.text for h in loaded.translate(SENTENCES)]
    assert (
        cli_main(["translate", "--model", str(folder_with_defaults), "--input", str(source), "--max-length", "3"]) == 0
    )
    assert capsys.readouterr().out.splitlines() == [h.text for h in loaded.translate(SENTENCES, max_length=3)]


def test_the_bundled_model_ships_beam_search_defaults():
    from pathlib import Path

    bundled = Path(__file__).resolve().parent.parent / "models" / "multi30k-de-en"
    shutil.os.stat(bundled / GENERATION_CONFIG_FILE)
    options = DecodingOptions.load(bundled / GENERATION_CONFIG_FILE)
    assert options.search == "beam" and options.num_beams == 5
