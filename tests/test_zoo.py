"""The model zoo: shipped model folders found by language pair (an ensemble by its first member's
config), one default per direction, junk folders skipped, a clear error naming the available directions;
the command line picking a model by --src-lang / --tgt-lang and listing them with `seq2seq-hub models`."""

from __future__ import annotations

import io
import json

import pytest
from runhelpers import REPO, cli, subprocess_env

from seq2seq_hub import Translator, list_models, load_direction
from seq2seq_hub.cli import main as cli_main
from seq2seq_hub.zoo import CHECKOUT, MODELS_DIR_VARIABLE, default_models_dir, directions, model_for

SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
PURPOSE_CARD = "---\nlanguage:\n- fr\n- en\npurpose: smallest fr-en model, for tests\n---\n\n# fr-en\n"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, make_translator):
    """A models folder: two de->en models (one named multi30k-de-en), two en->fr (the first by name an
    ensemble), one fr->en with a purpose in its card, and folders that are not models."""
    root = tmp_path_factory.mktemp("zoo")
    make_translator(seed=1).save_pretrained(root / "multi30k-de-en")
    make_translator(seed=2).save_pretrained(root / "de-en-small")
    pair = [make_translator(seed=s, src_lang="en", tgt_lang="fr") for s in (3, 4)]
    Translator.ensemble(pair).save_pretrained(root / "a-en-fr")
    make_translator(seed=5, src_lang="en", tgt_lang="fr").save_pretrained(root / "b-en-fr")
    fr_en = make_translator(seed=6, src_lang="fr", tgt_lang="en")
    fr_en.card = PURPOSE_CARD
    fr_en.save_pretrained(root / "fr-en")
    for name, config in [("junk", "{not json"), ("bad-config", '{"cell": "lstn"}'), ("lost-members", None)]:
        (root / name).mkdir()
        members = {"model_type": "seq2seq-hub-ensemble", "members": ["member-1"], "combine": "mean_log_prob"}
        (root / name / "config.json").write_text(config or json.dumps(members))
    (root / "notes").mkdir()  # no config.json
    (root / "notes" / "todo.txt").write_text("train cs-en")
    (root / "README.md").write_text("a file, not a folder")
    return root


def test_the_zoo_lists_model_folders_by_direction_default_first(zoo):
    rows = [(e.src_lang, e.tgt_lang, e.name, e.default, e.ensemble_size, e.purpose) for e in list_models(zoo)]
    assert rows == [
        ("de", "en", "multi30k-de-en", True, 1, ""),  # multi30k-de-en is the default, though not first by name
        ("de", "en", "de-en-small", False, 1, ""),
        ("en", "fr", "a-en-fr", True, 2, ""),  # no multi30k-en-fr: the first by name
        ("en", "fr", "b-en-fr", False, 1, ""),
        ("fr", "en", "fr-en", True, 1, "smallest fr-en model, for tests"),
    ]
    assert all(e.path == zoo / e.name for e in list_models(zoo))
    assert directions(zoo) == [("de", "en"), ("en", "fr"), ("fr", "en")]


def test_model_for_picks_the_default_and_compares_codes_case_insensitively(zoo):
    assert model_for("de", "en", zoo) == zoo / "multi30k-de-en"
    assert model_for(" EN", "Fr", zoo) == zoo / "a-en-fr"


def test_an_unsupported_direction_names_the_available_ones(zoo, tmp_path):
    with pytest.raises(ValueError) as err:
        model_for("fr", "de", zoo)
    assert str(err.value) == "no shipped model translates fr -> de; available: de -> en, en -> fr, fr -> en"
    with pytest.raises(ValueError, match=r"available: none \(no model folders in .*empty\)$"):
        model_for("de", "en", tmp_path / "empty")
    with pytest.raises(ValueError, match="tgt_lang must be a language code like 'de', got ''"):
        model_for("de", "", zoo)
    assert list_models(tmp_path / "missing") == [] and directions(tmp_path / "missing") == []


def test_load_direction_loads_the_default_model(zoo, make_translator):
    loaded = load_direction("EN", "fr", zoo, device="cpu")
    assert len(loaded.members) == 2 and (loaded.config.src_lang, loaded.config.tgt_lang) == ("en", "fr")
    expected = Translator.from_pretrained(zoo / "a-en-fr").translate(SENTENCES, beam_size=2)
    assert [h.text for h in loaded.translate(SENTENCES, beam_size=2)] == [h.text for h in expected]
    with pytest.raises(TypeError, match="unexpected arguments to from_pretrained"):
        load_direction("de", "en", zoo, colour="blue")


def test_the_bundled_models_folder_has_the_flagship_de_en_model(monkeypatch):
    monkeypatch.delenv(MODELS_DIR_VARIABLE, raising=False)
    assert CHECKOUT == REPO and default_models_dir() == REPO / "models"
    flagship = [e for e in list_models() if (e.src_lang, e.tgt_lang) == ("de", "en") and e.default]
    members = json.loads((REPO / "models" / "multi30k-de-en" / "config.json").read_text()).get("members", [None])
    assert [(e.name, e.ensemble_size) for e in flagship] == [("multi30k-de-en", len(members))]
    monkeypatch.setenv(MODELS_DIR_VARIABLE, "/nowhere")
    assert default_models_dir().as_posix() == "/nowhere" and list_models() == []


# ---------------------------------------------------------------------- the command line
def test_cli_models_lists_the_zoo_of_the_environment_variable(zoo, tmp_path):
    result = cli("models", env=subprocess_env(tmp_path, **{MODELS_DIR_VARIABLE: str(zoo)}))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["direction", "model", "default", "members", "purpose"]
    assert rows[1:] == [
        ["de", "->", "en", "multi30k-de-en", "yes", "1"],
        ["de", "->", "en", "de-en-small", "1"],
        ["en", "->", "fr", "a-en-fr", "yes", "2"],
        ["en", "->", "fr", "b-en-fr", "1"],
        ["fr", "->", "en", "fr-en", "yes", "1", *"smallest fr-en model, for tests".split()],
    ]


def test_cli_translates_with_the_shipped_model_of_the_languages(zoo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(zoo))
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    assert cli_main(["translate", "--src-lang", "en", "--tgt-lang", "fr", "--input", str(source)]) == 0
    expected = Translator.from_pretrained(zoo / "a-en-fr").translate(SENTENCES)
    assert capsys.readouterr().out.splitlines() == [h.text for h in expected]
    # --model wins over the zoo, and may come with the languages it translates
    assert cli_main(["translate", "--model", str(zoo / "b-en-fr"), "--tgt-lang", "FR", "--input", str(source)]) == 0
    expected = Translator.from_pretrained(zoo / "b-en-fr").translate(SENTENCES)
    assert capsys.readouterr().out.splitlines() == [h.text for h in expected]


def test_cli_evaluates_the_shipped_model_of_the_languages(zoo, tmp_path, capsys, monkeypatch, multi30k):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(zoo))
    (tmp_path / "a.fr").write_text("\n".join(multi30k("val", "fr", 5)) + "\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("\n".join(multi30k("val", "en", 5)) + "\n", encoding="utf-8")
    argv = ["evaluate", "--src-lang", "fr", "--tgt-lang", "en", "--src", str(tmp_path / "a.fr")]
    assert cli_main([*argv, "--ref", str(tmp_path / "a.en"), "--beam-size", "1"]) == 0
    assert capsys.readouterr().out.startswith("BLEU = ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["translate", "--src-lang", "fr", "--tgt-lang", "de"],
            "error: no shipped model translates fr -> de; available: de -> en, en -> fr, fr -> en",
        ),
        (
            ["translate"],
            "error: give --model, or --src-lang and --tgt-lang for a shipped model (see `seq2seq-hub models`)",
        ),
        (
            ["translate", "--src-lang", "de"],
            "error: give --model, or --src-lang and --tgt-lang for a shipped model (see `seq2seq-hub models`)",
        ),
        (
            ["translate", "--model", "{zoo}/fr-en", "--src-lang", "de", "--tgt-lang", "en"],
            "error: --model {zoo}/fr-en translates fr -> en, which disagrees with --src-lang de",
        ),
        (
            ["evaluate", "--src-lang", "cs", "--tgt-lang", "en", "--src", "{tmp}/a", "--ref", "{tmp}/a"],
            "error: no shipped model translates cs -> en; available: de -> en, en -> fr, fr -> en",
        ),
    ],
)
def test_cli_model_choice_errors_are_one_line_and_exit_2(zoo, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(zoo))
    monkeypatch.setattr("sys.stdin", io.StringIO("Hallo\n"))  # never read: the model is chosen first
    (tmp_path / "a").write_text("eins\n", encoding="utf-8")
    assert cli_main([a.format(zoo=zoo, tmp=tmp_path) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.splitlines() == [message.format(zoo=zoo)]


def test_a_training_run_states_its_purpose_in_the_card_and_the_zoo_shows_it(tmp_path):
    from runhelpers import in_process_args, train_main

    purpose = "For comparison: a tiny run   without much training."
    assert train_main(in_process_args(tmp_path / "run", "--purpose", purpose)) == 0
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "run" / "model").rename(models / "tiny-de-en")
    card = (models / "tiny-de-en" / "README.md").read_text(encoding="utf-8")
    assert "purpose: 'For comparison: a tiny run without much training.'" in card  # metadata, spaces folded
    assert "\nFor comparison: a tiny run without much training.\n" in card  # and the card's first paragraph
    [entry] = list_models(models)
    assert entry.purpose == "For comparison: a tiny run without much training."
