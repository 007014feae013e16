"""Tests of the Gradio demo (app.py and seq2seq_hub.demo): its request checks, result views and model
panel as plain functions, the running app through gradio_client, and the page in a real headless Chromium.

The demo is built around a tiny untrained translator (a 400-entry BPE and a 16/32-wide model), so
translations are gibberish; the tests check the plumbing, not the quality.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gzip  # noqa: E402
import io  # noqa: E402
import ipaddress  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from demozoo import launch_locally  # noqa: E402
from hostile import HOSTILE  # noqa: E402

import app  # noqa: E402
from seq2seq_hub import Hypothesis, Seq2SeqConfig, Seq2SeqModel, Seq2SeqTokenizer, Translator  # noqa: E402
from seq2seq_hub.card import CardInfo, read_model_card, render_model_card  # noqa: E402
from seq2seq_hub.decoding import DecodingOptions  # noqa: E402
from seq2seq_hub.demo import layout, widgets  # noqa: E402
from seq2seq_hub.demo import server as demo_server  # noqa: E402
from seq2seq_hub.demo.panel import model_markdown  # noqa: E402
from seq2seq_hub.demo.requests import MAX_INPUT_CHARS, InputError, control_values, parse_request  # noqa: E402
from seq2seq_hub.demo.views import (  # noqa: E402
    confidence_level,
    confidence_spans,
    heatmap_data,
    heatmap_figure,
    nbest_rows,
)

torch.set_num_threads(1)  # another CPU-heavy job may share the machine
# gradio 6 on pandas 3 warns from inside its queue
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "multi30k"
SENTENCE = "Ein Mann fährt mit dem Fahrrad durch die Stadt."


def _lines(path: Path, count: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(count)]


@pytest.fixture(scope="module")
def demo_translator() -> Translator:
    """A tiny untrained translator (bahdanau GRU, embedding 16, hidden 32) with a model card."""
    torch.manual_seed(0)
    tokenizer = Seq2SeqTokenizer.train(
        _lines(DATA / "train.de.gz", 300), _lines(DATA / "train.en.gz", 300), vocab_size=400
    )
    config = Seq2SeqConfig(
        src_vocab_size=tokenizer.src_vocab_size,
        tgt_vocab_size=tokenizer.tgt_vocab_size,
        shared_vocab=True,
        embedding_size=16,
        hidden_size=32,
        cell="gru",
        attention="bahdanau",
        dropout=0.0,
        max_source_length=48,
        max_target_length=40,
    )
    model = Seq2SeqModel(config)
    translator = Translator(model, tokenizer)
    translator.card = render_model_card(
        config,
        num_parameters=model.num_parameters(),
        datasets=["bentrevett/multi30k"],
        metrics={"test_bleu": 31.4159, "test_chrf": 55.5, "test_bleu_signature": "nrefs:1|case:mixed"},
        training={"data": "Multi30k de-en (300 lines)", "steps": 0},
    )
    return translator


@pytest.fixture(scope="module")
def hyp(demo_translator):
    return demo_translator.translate(SENTENCE, strategy="beam", beam_size=3, num_return_sequences=3)[0]


# ---------------------------------------------------------------------- request checks
def test_parse_request_defaults_and_strategy_names():
    request = parse_request(" Ein Mann. ", "sampling", 5.0, 1.0, 0, 3.0, 0.7, 10.0, 0.9, 7.0, "", True)
    assert request.text == " Ein Mann. "
    assert request.options == DecodingOptions(
        strategy="sample",
        num_beams=5,
        length_penalty=1.0,
        max_length=None,
        num_return_sequences=3,
        temperature=0.7,
        top_k=10,
        top_p=0.9,
        seed=7,
    )
    assert request.prefix is None
    assert isinstance(request.options.num_beams, int) and request.notices == []
    assert parse_request("a", seed=-1).options.seed is None
    assert parse_request("a", seed=None).options.seed is None


def test_parse_request_limits_the_nbest_list_with_a_notice():
    greedy = parse_request("a", "greedy", num_return_sequences=4)
    assert greedy.options.num_return_sequences == 1 and "Greedy" in greedy.notices[0]
    beam = parse_request("a", "beam", beam_size=2, num_return_sequences=4)
    assert beam.options.num_return_sequences == 2 and "beam size (2)" in beam.notices[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "Enter some German text"),
        ({"text": " \n\t "}, "Enter some German text"),
        ({"text": "\x00\x07"}, "Enter some German text"),
        ({"text": 42}, "text must be a string, got int"),
        ({"text": ["Ein", "Mann"]}, "text must be a string, got a list of str"),
        ({"strategy": "topk"}, "strategy must be one of"),
        ({"beam_size": 0}, "beam size must be an integer in \\[1, 16\\], got 0"),
        ({"beam_size": 2.5}, "beam size must be an integer in \\[1, 16\\], got 2.5"),
        ({"beam_size": "5"}, "beam size must be an integer in \\[1, 16\\], got '5'"),
        ({"temperature": float("nan")}, "temperature must be a number"),
        ({"top_p": 0.0}, "top-p must be a number in"),
        ({"max_length": 41}, "max length must be an integer in \\[0, 40\\], got 41"),
        ({"seed": -2}, "seed must be an integer in"),
        ({"prefix": {"a": 1}}, "target prefix must be a string, got dict"),
        ({"merge": "yes"}, "merge must be true or false"),
    ],
)
def test_parse_request_refuses_bad_input_with_a_clear_message(kwargs, message):
    kwargs = {"text": "Ein Mann.", **kwargs}
    with pytest.raises(InputError, match=message):
        parse_request(**kwargs, max_target_length=40, source_language="German")


def test_parse_request_cuts_long_text_and_drops_control_characters():
    long = parse_request("Ein Mann. " * 100_000)
    assert len(long.text) == MAX_INPUT_CHARS
    assert "1,000,000 characters" in long.notices[0]
    controls = parse_request("Ein\x00 Mann\x1b[31m\tfährt\u0085.\n")
    assert controls.text == "Ein Mann[31m\tfährt.\n"
    assert controls.notices == ["Removed 3 control characters from the text."]


# ---------------------------------------------------------------------- result views
def test_heatmap_has_a_row_per_target_token_and_a_column_per_source_token(hyp):
    data = heatmap_data(hyp, merge=False)
    assert (data.tgt_labels, data.src_labels) == (hyp.tokens, hyp.src_tokens)
    assert len(data.weights) == len(hyp.tokens) and {len(row) for row in data.weights} == {len(hyp.src_tokens)}
    figure = heatmap_figure(hyp, merge=False)
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (len(hyp.tokens), len(hyp.src_tokens))
    assert len(figure.axes) == 2  # the heatmap and its colour bar
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == hyp.src_tokens


def test_merged_heatmap_has_a_row_per_word_and_keeps_rows_normalised(hyp):
    data = heatmap_data(hyp, merge=True)
    assert data.src_labels == SENTENCE.split() + ["</s>"]
    assert len(data.weights) == len(data.tgt_labels) <= len(hyp.tokens)
    assert {len(row) for row in data.weights} == {len(data.src_labels)}
    for row in data.weights:
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
    image = heatmap_figure(hyp, merge=True).axes[0].images[0].get_array()
    assert image.shape == (len(data.tgt_labels), len(data.src_labels))


def test_heatmap_labels_are_short_and_never_math(demo_translator):
    hyp = demo_translator.translate("Preis $\\frac{1}{0$ " + "x" * 300, strategy="greedy", max_length=5)[0]
    figure = heatmap_figure(hyp, merge=True)
    figure.savefig(io.BytesIO(), format="png")  # as gradio does; an unescaped '$...$' label fails here
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert max(len(label) for label in labels) <= 19


def test_heatmap_of_a_model_without_attention(demo_translator):
    config = Seq2SeqConfig(**{**demo_translator.config.to_dict(), "attention": "none"})
    plain = Translator(Seq2SeqModel(config), demo_translator.tokenizer)
    hyp = plain.translate(SENTENCE, strategy="greedy", max_length=6)[0]
    assert heatmap_data(hyp).weights == []
    figure = heatmap_figure(hyp)
    assert figure.axes[0].texts[0].get_text() == "this model has no attention"


def test_nbest_rows_are_rounded_and_tokens_get_a_confidence_level(hyp):
    rows = nbest_rows(hyp)
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][1] == hyp.text and rows[0][2] == round(hyp.score, 3)
    assert all(r[2] == round(r[2], 3) and r[3] == round(r[3], 3) for r in rows)
    spans = confidence_spans(hyp)
    assert [level for _, level in spans] == [confidence_level(p) for p in hyp.token_probs]
    assert "▁" not in "".join(token for token, _ in spans)
    assert [confidence_level(p)[:4] for p in (1.0, 0.7, 0.69, 0.3, 0.29, 0.0)] == ["sure"] * 2 + ["unsu"] * 2 + [
        "doub"
    ] * 2


def test_model_panel_shows_architecture_size_data_and_card_scores(demo_translator):
    text = model_markdown(demo_translator)
    assert "bidirectional GRU encoder-decoder, Bahdanau (additive) attention" in text
    assert f"{demo_translator.model.num_parameters():,}" in text
    assert "German → English" in text and "bentrevett/multi30k" in text
    assert "| sacreBLEU | 31.42 | Multi30k test\\_2016\\_flickr |" in text
    assert "| chrF | 55.50 |" in text
    assert "Multi30k de-en (300 lines)" in text


def test_model_panel_says_when_the_model_is_an_ensemble(demo_translator):
    from seq2seq_hub import Translator

    text = model_markdown(Translator.ensemble([demo_translator, demo_translator]))
    assert "an ensemble of 2 bidirectional GRU encoder-decoders, Bahdanau (additive) attention" in text
    assert f"{2 * demo_translator.model.num_parameters():,}" in text


def _with_card(translator, card):
    return SimpleNamespace(config=translator.config, model=translator.model, tokenizer=translator.tokenizer, card=card)


def test_model_panel_reads_scores_and_training_facts_from_metadata_and_escapes_card_text(demo_translator):
    hostile = "<img src=x onerror=alert(1)>"
    card = render_model_card(
        demo_translator.config,
        num_parameters=1,
        metrics={"test_bleu": 12.34, "test_dataset_name": hostile + "|x"},
        training={"data": hostile, "reproduce": "python training/train.py"},
    )
    front_matter = card.split("\n---\n", 1)[0] + "\n---\n\n# model\n"  # the metadata, no Markdown tables
    info = read_model_card(front_matter)
    assert [(s.name, s.value, s.dataset) for s in info.scores] == [("sacreBLEU", 12.34, hostile + "|x")]
    text = model_markdown(_with_card(demo_translator, front_matter))
    assert "| sacreBLEU | 12.34 | \\<img src=x onerror=alert(1)\\>\\|x |" in text
    assert "- **data**: \\<img" in text and "reproduce" not in text
    assert re.search(r"(?<!\\)<img", text) is None  # escaped: shown as text


def test_model_panel_of_an_old_card_shows_no_markdown_scores_or_training_facts(demo_translator):
    old_card = (
        "# model\n\n## Scores\n\n| metric | value | sacreBLEU signature |\n|---|---|---|\n"
        "| test_bleu | 12.34 | nrefs:1|case:mixed |\n\n## Training\n\n- **data**: Multi30k de-en\n"
    )
    assert read_model_card(old_card).scores == [] and read_model_card(old_card).training == {}
    text = model_markdown(_with_card(demo_translator, old_card))
    assert "The model card reports no scores." in text and "Multi30k de-en" not in text
    assert read_model_card("---\n: not yaml: [\n---\nbody") == CardInfo()
    assert "no model card" in model_markdown(_with_card(demo_translator, None))


# ---------------------------------------------------------------------- decoding defaults
MODEL_DEFAULTS = DecodingOptions(
    strategy="sample",
    num_beams=3,
    length_penalty=1.5,
    max_length=20,
    num_return_sequences=2,
    temperature=0.7,
    top_k=20,
    top_p=0.9,
    seed=11,
)


def test_controls_start_from_the_model_decoding_defaults():
    assert control_values(MODEL_DEFAULTS, max_target_length=40) == {
        "strategy": "sampling",
        "beam_size": 3,
        "length_penalty": 1.5,
        "max_length": 20,
        "num_return_sequences": 5,
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.9,
        "seed": 11,
    }
    library = control_values(DecodingOptions(), max_target_length=40)  # a model without generation_config.json
    assert library == {
        "strategy": "beam",
        "beam_size": 5,
        "length_penalty": 1.0,
        "max_length": 0,
        "num_return_sequences": 5,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": -1,
    }
    beyond = control_values(DecodingOptions(num_beams=32, max_length=500, num_return_sequences=32), 40)
    assert (beyond["beam_size"], beyond["max_length"], beyond["num_return_sequences"]) == (16, 40, 10)
    assert control_values(DecodingOptions(num_beams=1), 40)["num_return_sequences"] == 1  # greedy


def test_a_request_that_omits_settings_gets_the_model_defaults():
    request = parse_request("Ein Mann.", defaults=MODEL_DEFAULTS, max_target_length=40)
    assert request.options == MODEL_DEFAULTS.merged(num_return_sequences=5)
    assert parse_request("a", "greedy", seed=-1, defaults=MODEL_DEFAULTS).options.seed is None
    with_min = DecodingOptions(min_length=3)
    assert parse_request("a", "beam", defaults=with_min).options.min_length == 3  # not a control: kept


def test_app_py_is_a_thin_shell_and_the_library_never_imports_the_demo():
    import subprocess
    import sys

    assert app.main is demo_server.main
    assert len(Path(app.__file__).read_text(encoding="utf-8").splitlines()) < 30
    check = "import sys, seq2seq_hub; print(sorted({'gradio', 'matplotlib', 'seq2seq_hub.demo'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_examples_come_from_the_test_set_in_the_source_language():
    examples = widgets.load_examples()
    assert len(examples) == widgets.NUM_EXAMPLES
    assert examples[0] == _lines(DATA / "test_2016_flickr.de.gz", 1)[0]
    assert widgets.load_examples(Path("no/such/file.gz")) == []
    for lang in ("de", "en", "fr", "cs"):
        assert widgets.examples_for(lang)[0] == _lines(DATA / f"test_2016_flickr.{lang}.gz", 1)[0]
    assert widgets.examples_for("xx") == () and widgets.examples_for("../de") == ()


def test_main_reports_an_unloadable_model_in_one_line(demo_translator, tmp_path, capsys):
    assert demo_server.main(["--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot load the model") and "Traceback" not in err
    demo_translator.save_pretrained(tmp_path / "model")
    assert demo_server.load_translator(str(tmp_path / "model"), "cpu").config == demo_translator.config
    (tmp_path / "model" / "config.json").write_text("{", encoding="utf-8")
    assert demo_server.main(["--model", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json is not readable JSON" in err


def test_model_comes_from_the_environment_variable(monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_MODEL", "org/some-model")
    assert demo_server.parse_args([]).model == "org/some-model"
    assert demo_server.parse_args(["--model", "x", "--port", "7000"]).port == 7000
    monkeypatch.delenv("SEQ2SEQ_MODEL")
    args = demo_server.parse_args([])  # no model named: the demo serves the model zoo
    assert args.model is None and args.models_dir is None and (args.host, args.port) == ("127.0.0.1", 7860)


# ---------------------------------------------------------------------- the running app
def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(scope="module")
def server(demo_translator):
    """The demo launched in this process; any connection it tries beyond 127.0.0.1 is refused and recorded."""
    outbound: list = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guard(real):
        def connect(sock, address):
            if isinstance(address, tuple) and not _is_loopback(address[0]):
                outbound.append(address)
                raise OSError(f"tests allow no network access ({address[0]})")
            return real(sock, address)

        return connect

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guard(real_connect))
        patch.setattr(socket.socket, "connect_ex", guard(real_connect_ex))
        demo = layout.build_demo(demo_translator)
        url = launch_locally(demo)
        try:
            yield SimpleNamespace(url=url, demo=demo, outbound=outbound)
        finally:
            demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False, analytics_enabled=False, download_files=False)


def _translate(client, text=SENTENCE, **options):
    return client.predict(text=text, api_name="/translate", **options)


def test_translate_and_compare_endpoints_with_a_bounded_queue(server):
    endpoints = [fn for fn in server.demo.fns.values() if fn.api_visibility == "public"]
    assert sorted(fn.api_name for fn in endpoints) == ["compare", "translate"]
    assert {fn.concurrency_limit for fn in endpoints} == {layout.CONCURRENCY_LIMIT}
    assert {fn.concurrency_id for fn in endpoints} == {"decode"}  # one limit for both
    assert server.demo._queue.max_size == layout.QUEUE_MAX_SIZE


def test_the_page_and_its_api_start_from_the_model_decoding_defaults(demo_translator):
    from gradio_client import Client

    translator = Translator(demo_translator.model, demo_translator.tokenizer)
    translator.generation_options = MODEL_DEFAULTS
    demo = layout.build_demo(translator)
    values = {block.label: block.value for block in demo.blocks.values() if hasattr(block, "value")}
    assert (values["Strategy"], values["Beam size"], values["Length penalty"]) == ("sampling", 3, 1.5)
    assert (values["Max length"], values["Temperature"], values["Top-k"], values["Seed"]) == (20, 0.7, 20, 11)
    url = launch_locally(demo)
    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        first = _translate(client)  # every setting omitted: the model's (seeded sampling, 5 alternatives)
        assert first[5] == _translate(client)[5] and len(first[3]["data"]) == 5
        assert len(first[5]["tokens"]) <= 20
    finally:
        demo.close()


def test_api_returns_translation_heatmap_nbest_and_confidences(client):
    text, notice, heatmap, table, confidence, result, *_ = _translate(
        client, strategy="beam", beam_size=4, num_return_sequences=3
    )
    assert isinstance(text, str) and text == result["text"] and notice == ""
    # The heatmap is an HTML table (it was a matplotlib PNG): a row per merged target word, a cell per source word.
    shown = heatmap_data(
        Hypothesis(text, 0.0, result["tokens"], src_tokens=result["src_tokens"], attention=result["attention"])
    )
    assert isinstance(heatmap, str) and heatmap.startswith('<div class="attn">')
    assert heatmap.count("<td ") == len(shown.tgt_labels) * len(shown.src_labels) > 0
    assert table["headers"] == ["#", "translation", "score", "log-prob", "tokens"]
    assert [row[0] for row in table["data"]] == [1, 2, 3] and table["data"][0][1] == text
    tokens, src_tokens, attention = result["tokens"], result["src_tokens"], result["attention"]
    assert len(attention) == len(tokens) and {len(row) for row in attention} == {len(src_tokens)}
    assert src_tokens[-1] == "</s>" and "".join(src_tokens[:-1]).replace("▁", " ") == SENTENCE
    assert [c["token"] for c in confidence] == [t.replace("▁", " ") for t in tokens]
    assert [c["class_or_confidence"] for c in confidence] == [confidence_level(p) for p in result["token_probs"]]


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sampling"])
def test_api_every_strategy_translates(client, strategy):
    options = dict(
        strategy=strategy,
        beam_size=3,
        num_return_sequences=2,
        max_length=12,
        seed=123,
        temperature=0.8,
        top_k=20,
        top_p=0.9,
    )
    text, notice, _, table, _, result = _translate(client, **options)
    assert isinstance(text, str) and len(result["tokens"]) <= 12
    assert len(table["data"]) == (1 if strategy == "greedy" else 2)
    assert ("Greedy" in notice) == (strategy == "greedy")
    if strategy == "sampling":  # a seed makes sampling repeatable
        assert _translate(client, **options)[5] == result


def test_api_continues_a_target_prefix(client):
    result = _translate(client, strategy="greedy", prefix="A man", max_length=10)[5]
    assert result["text"].startswith("A man")


def _compare(client, text=SENTENCE, **options):
    return client.predict(text=text, api_name="/compare", **options)


def test_api_translate_keeps_its_parameters_and_defaults_to_the_served_direction(client):
    greedy = _translate(client, strategy="greedy", max_length=8)
    old_positional = client.predict(SENTENCE, "greedy", 5, 1.0, 8, 1, 1.0, 0, 1.0, -1, "", True, api_name="/translate")
    explicit = _translate(client, strategy="greedy", max_length=8, src_lang="de", tgt_lang="en")
    assert greedy[5] == old_positional[5] == explicit[5]
    message = _error(client, "translate", SENTENCE, src_lang="fr", tgt_lang="en")
    assert "There is no French → English model here. Available directions: de-en (German → English)." in message
    assert "src_lang must be a language code" in _error(client, "translate", SENTENCE, src_lang=7)


def test_api_compare_of_one_served_model_offers_its_strategies(client):
    out = _compare(client, column_1="greedy", column_2="beam", column_3="sampling")
    notice, views, result = out[0], out[1:13], out[-1]
    assert notice == "" and (result["src_lang"], result["tgt_lang"]) == ("de", "en")
    assert [c["strategy"] for c in result["columns"]] == ["greedy", "beam", "sampling"]
    assert [c["model"] for c in result["columns"]] == ["de-en model"] * 3
    for number, column in enumerate(result["columns"]):
        label, translation, score, heatmap = views[4 * number : 4 * number + 4]
        assert translation == column["text"] and score == column["score"] and heatmap.startswith('<div class="attn">')
        assert column["label"] in label
    greedy = _translate(client, strategy="greedy", num_return_sequences=1)[5]
    assert result["columns"][0]["tokens"] == greedy["tokens"]  # a strategy column is that strategy's translation
    assert _compare(client, column_1="model:de-en model", column_3="")[-1]["columns"][0]["model"] == "de-en model"


ENDPOINTS = ["translate", "compare"]  # hostile input gets the same treatment through both


def _notice_and_result(client, endpoint: str, text) -> tuple[str, dict]:
    """Greedy search of `text` through `endpoint`: the notice and the (first column's) result."""
    if endpoint == "translate":
        out = _translate(client, text, strategy="greedy")
        assert out[0] == out[5]["text"]
        return out[1], out[5]
    out = _compare(client, text, column_1="greedy", column_2="greedy", column_3="")
    assert out[0 + 2] == out[-1]["columns"][0]["text"] and out[9:13] == ("", "", None, "")  # no third column
    return out[0], out[-1]["columns"][0]


def _error(client, endpoint: str, text, **options) -> str:
    from gradio_client.exceptions import AppError

    call = _translate if endpoint == "translate" else _compare
    with pytest.raises(AppError) as info:
        call(client, text, **options)
    assert "Traceback" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter some German text to translate."),
        ("\x00\x01\x02", "Enter some German text"),
        (12345, "text must be a string, got int"),
        ({"text": "Ein Mann"}, "text must be a string, got dict"),
        (None, "Enter some German text"),
    ],
)
def test_api_bad_input_gives_a_clear_message(client, endpoint, text, message):
    assert message in _error(client, endpoint, text)


def test_api_bad_options_give_a_clear_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="beam size must be an integer in \\[1, 16\\], got 99"):
        _translate(client, beam_size=99)
    with pytest.raises(AppError, match="strategy must be one of"):
        _translate(client, strategy="<b>nucleus</b>")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_api_huge_and_control_character_input_is_translated_with_a_notice(client, endpoint):
    notice, result = _notice_and_result(client, endpoint, "Ein Mann fährt. " * 65_536)  # 1 MiB
    assert "1,048,576 characters" in notice and "only its beginning was translated" in notice
    assert result["truncated"] is True and len(result["src_tokens"]) == 48
    notice, result = _notice_and_result(client, endpoint, "Ein\x00 Mann\x1b fährt.")
    assert "Removed 2 control characters" in notice
    assert "".join(result["src_tokens"][:-1]).replace("▁", " ") == "Ein Mann fährt."


# Empty, control-character, 1 MB and lone-surrogate texts have tests of their own below and above.
HOSTILE_TEXTS = {
    name: HOSTILE[name]
    for name in ("one character", "5,000 words", "zero-width and RTL marks", "emoji", "CJK, Cyrillic, Arabic", "HTML")
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", list(HOSTILE_TEXTS))
def test_api_hostile_text_gets_a_translation_in_bounded_time(client, endpoint, name):
    start = time.monotonic()
    notice, result = _notice_and_result(client, endpoint, HOSTILE_TEXTS[name])
    assert time.monotonic() - start < 30
    assert isinstance(result["text"], str)
    assert "Traceback" not in notice


def _raw_call(server, endpoint: str, inputs: list) -> list:
    """A raw HTTP call (no gradio_client): POST the inputs, read the event stream, return the outputs."""
    import json
    import urllib.request

    body = json.dumps({"data": inputs}, ensure_ascii=True).encode()
    base = server.url.rstrip("/") + f"/gradio_api/call/{endpoint}"
    request = urllib.request.Request(base, data=body, headers={"Content-Type": "application/json"})
    event_id = json.load(urllib.request.urlopen(request, timeout=30))["event_id"]
    stream = urllib.request.urlopen(f"{base}/{event_id}", timeout=60).read().decode("utf-8")
    assert "event: complete" in stream, stream[:500]
    return json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])


def test_api_lone_surrogates_sent_as_json_escapes_get_a_translation(server):
    # gradio_client cannot encode a lone surrogate; a raw client can send it as a JSON escape (a raw
    # client sends every parameter, src_lang and tgt_lang included).
    text = "Ein \ud800 Mann \udfff"
    data = _raw_call(server, "translate", [text, "greedy", 5, 1.0, 0, 1, 1.0, 0, 1.0, -1, "", True, "de", "en"])
    assert isinstance(data[0], str) and data[0] == data[5]["text"]
    data = _raw_call(server, "compare", [text, "de", "en", "greedy", "beam", ""])
    assert isinstance(data[2], str) and data[2] == data[-1]["columns"][0]["text"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("payload", [3.5, ["Ein", "Mann"], {"a": {"b": ["c"]}}, [[1, 2], None], True])
def test_api_non_string_payloads_get_one_clear_message(client, endpoint, payload):
    assert "text must be a string" in _error(client, endpoint, payload)


def test_api_still_answers_after_bad_requests_and_made_no_outside_calls(client, server):
    for endpoint in ENDPOINTS:  # bad requests first, sent here, whichever tests ran before
        assert "text must be a string" in _error(client, endpoint, ["not", "text"])
    assert "Enter some German text" in _error(client, "translate", "   ")
    text, *_ = _translate(client, "Zwei Hunde spielen im Schnee.", strategy="greedy")
    assert isinstance(text, str)
    assert server.outbound == []


# ---------------------------------------------------------------------- a real browser
def _wait_until(condition, message: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


@pytest.mark.browser
def test_browser_translates_and_shows_the_heatmap(server, tmp_path):
    pytest.importorskip("playwright")
    from browser import launch
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url, wait_until="domcontentloaded")
            source = page.locator("#source textarea")
            expect(source).to_be_visible(timeout=20_000)
            source.fill(SENTENCE)
            page.locator("#target-prefix textarea").fill('<b id="injected">')
            page.locator("#translate-button").click()
            output = page.locator("#translation textarea")
            expect(output).not_to_have_value("", timeout=20_000)
            expect(page.locator("#heatmap table")).to_be_visible(timeout=20_000)
            expect(page.locator(".wrap.pending, .wrap.generating")).to_have_count(0, timeout=20_000)
            assert output.input_value().startswith('<b id="injected">')  # the prefix, shown as text
            expect(page.locator("#nbest")).to_contain_text('<b id="injected">')
            assert page.locator("#injected").count() == 0  # nothing typed is rendered as HTML
            assert page.locator("#confidence").inner_text().strip()
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

            heatmap = page.locator("#heatmap .attn")
            cell = page.locator("#heatmap td").first
            cell.hover()  # the cell's title (source word → target word: weight) is read out under the table
            expect(page.locator("#heatmap .attn-readout")).to_have_text(cell.get_attribute("title"))
            for action in (
                lambda: page.get_by_label("Merge subwords into words").uncheck(),
                lambda: page.locator('#nbest [data-testid="cell-1-1"]').click(),
            ):
                shown = heatmap.inner_html()
                action()  # unmerged subwords, then the second hypothesis: a new heatmap each time
                _wait_until(lambda old=shown: heatmap.inner_html() != old, "the heatmap was not redrawn")

            page.locator("#target-prefix textarea").fill("Two dogs")
            source.fill("Zwei Hunde spielen im Schnee.")
            source.press("Enter")  # Enter submits too
            expect(output).to_have_value(re.compile("^Two dogs"), timeout=20_000)
        finally:
            browser.close()
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_the_demo_decodes_in_int8_on_a_cpu_by_default_and_the_flag_overrides_it(demo_translator, tmp_path):
    import torch

    from seq2seq_hub.demo.catalog import serving_dtype

    assert demo_server.parse_args([]).dtype == "auto"
    assert serving_dtype("auto", "cpu") == "int8" and serving_dtype("auto", "cuda") is None
    assert serving_dtype("float32", "cpu") is None and serving_dtype("bfloat16", "cpu") == "bfloat16"
    demo_translator.save_pretrained(tmp_path / "model")
    assert demo_server.load_translator(str(tmp_path / "model"), "cpu").compute_dtype == torch.int8
    assert demo_server.load_translator(str(tmp_path / "model"), "cpu", dtype="float32").compute_dtype is None
