"""Tests of the demo serving the model zoo: the catalog of directions, the pool of loaded models (lazy,
least-recently-used cap, one load for concurrent first requests, a failing model failing alone), the
comparison's column specs, the BLEU-by-length plot data, and the launched demo through gradio_client:
`translate` with src_lang / tgt_lang, `compare` with strategies and models, and their clear messages.

The zoo is tiny untrained models in a temporary SEQ2SEQ_MODELS_DIR (tests/demozoo.py).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gc  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import weakref  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
from demozoo import BROKEN, COMPARISON, make_zoo, serve_zoo  # noqa: E402

from seq2seq_hub import Translator  # noqa: E402
from seq2seq_hub.demo import server as demo_server  # noqa: E402
from seq2seq_hub.demo.catalog import Catalog, ModelChoice  # noqa: E402
from seq2seq_hub.demo.compare import parse_columns  # noqa: E402
from seq2seq_hub.demo.pool import MAX_LOADED_MODELS, ModelLoadError, ModelPool  # noqa: E402
from seq2seq_hub.demo.requests import InputError  # noqa: E402
from seq2seq_hub.demo.scores import length_plot  # noqa: E402
from seq2seq_hub.zoo import list_models  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")
SENTENCE = "Ein Mann fährt mit dem Fahrrad durch die Stadt."
ENGLISH = "A man rides a bike through the city."
AVAILABLE = "cs-en (Czech → English), en-de (English → German), fr-en (French → English), de-en (German → English)"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, make_translator):
    return make_zoo(tmp_path_factory.mktemp("zoo"), make_translator)


@pytest.fixture(scope="module")
def catalog(zoo):
    return Catalog.from_zoo(list_models(zoo))


# ---------------------------------------------------------------------- the catalog
def test_catalog_offers_the_zoo_directions_with_their_default_models_first(catalog):
    assert catalog.directions == [("cs", "en"), ("en", "de"), ("fr", "en"), ("de", "en")]  # by language name
    assert catalog.default_direction == ("de", "en")
    assert catalog.sources() == ["cs", "en", "fr", "de"] and catalog.targets("de") == ["en"]
    assert [c.name for c in catalog.models("de", "en")] == ["multi30k-de-en", COMPARISON]
    assert catalog.models("de", "en")[1].purpose == "no attention" and catalog.models("en", "fr") == []
    assert catalog.available() == AVAILABLE


@pytest.mark.parametrize(
    ("src", "tgt", "message"),
    [
        ("en", "fr", f"There is no English → French model here. Available directions: {AVAILABLE}."),
        ("xx", "en", "There is no 'xx' → 'en' model here."),
        ("<b>" * 50, "en", "There is no '<b><b><b><b><b><b><b' → 'en' model here."),  # cut to 20 characters
        (None, "en", "src_lang must be a language code such as 'de', got NoneType"),
        ("de", ["en"], "tgt_lang must be a language code such as 'de', got list"),
    ],
)
def test_an_unsupported_direction_is_one_message_listing_the_available_ones(catalog, src, tgt, message):
    with pytest.raises(InputError) as info:
        catalog.check_direction(src, tgt)
    assert message in str(info.value)


# ---------------------------------------------------------------------- the pool
def _choice(name: str) -> ModelChoice:
    return ModelChoice(name, f"/models/{name}", "de", "en")


class Loader:
    """Loads stand-in translators, counting loads; `gate` (when set) holds every load until it is set."""

    def __init__(self, fail: set[str] = frozenset()):
        self.loaded: list[str] = []
        self.fail, self.gate, self.started = fail, None, threading.Event()

    def __call__(self, choice):
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(60), "the gate was never opened"
        self.loaded.append(choice.name)
        if choice.name in self.fail:
            raise OSError(f"cannot read {choice.source}")
        return SimpleNamespace(name=choice.name)


def test_pool_loads_lazily_and_keeps_the_most_recently_used_models():
    load = Loader()
    pool = ModelPool(load, max_loaded=2)
    assert pool.loaded == [] and load.loaded == []  # nothing before the first request
    a, b, c = (_choice(name) for name in "abc")
    first = pool.get(a)
    assert pool.get(a) is first and load.loaded == ["a"]  # loaded once, then served
    pool.get(b)
    pool.get(a)  # a is now the most recently used
    pool.get(c)  # b makes way
    assert pool.loaded == ["a", "c"] and load.loaded == ["a", "b", "c"] and pool.loads == 3
    assert pool.get(b).translator.name == "b" and pool.loaded == ["c", "b"]  # loaded again when asked again


def test_a_dropped_model_is_freed_and_a_request_that_still_holds_it_is_served(translator):
    class Stand:  # a stand-in that can be weakly referenced, decoding with the real model
        def translate(self, *args, **kwargs):
            return translator.translate(*args, **kwargs)

    pool = ModelPool(lambda choice: Stand(), max_loaded=1)
    first = pool.get(_choice("a"))
    greedy = translator.generation_options.merged(strategy="greedy")
    assert first.batcher.translate("Ein Mann.", greedy).text
    late = first.batcher.submit("Ein Mann.", greedy)  # a request still in flight when the model is dropped
    pool.get(_choice("b"))
    assert pool.loaded == ["b"] and late.wait().text  # it is served
    dropped = weakref.ref(first.translator)
    del first, late
    gc.collect()
    assert dropped() is None  # nothing (the decoding thread included) keeps the dropped model


def test_concurrent_first_requests_load_a_model_once():
    load = Loader()
    load.gate = threading.Event()
    pool = ModelPool(load, max_loaded=2)
    together = threading.Barrier(8)

    def first_request():
        together.wait(60)  # all eight ask at once
        return pool.get(_choice("a"))

    with ThreadPoolExecutor(8) as threads:
        futures = [threads.submit(first_request) for _ in range(8)]
        assert load.started.wait(60)
        # the load is held until the other seven are waiting for its outcome (the pending load's Future holds
        # them in its condition's waiters)
        pending = pool._loading["a"]
        deadline = time.monotonic() + 60
        while len(pending._condition._waiters) < 7:
            assert time.monotonic() < deadline, "the other requests never waited for the load in progress"
            time.sleep(0.01)
        load.gate.set()
        served = {id(future.result()) for future in futures}
    assert load.loaded == ["a"] and len(served) == 1 and pool.loads == 1


def test_a_model_that_fails_to_load_fails_alone_and_is_tried_again():
    load = Loader(fail={"broken"})
    pool = ModelPool(load, max_loaded=2)
    broken = ModelChoice("broken", "/models/broken", "cs", "en")
    with pytest.raises(ModelLoadError, match="The Czech → English model 'broken' could not be loaded"):
        pool.get(broken)
    assert pool.get(_choice("a")).translator.name == "a" and pool.loaded == ["a"]
    with pytest.raises(ModelLoadError):
        pool.get(broken)
    assert load.loaded == ["broken", "a", "broken"]


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_pool_size_must_be_a_positive_integer(size):
    with pytest.raises(ValueError, match="max_loaded must be an integer >= 1"):
        ModelPool(Loader(), max_loaded=size)


def test_max_loaded_models_comes_from_the_command_line(capsys):
    assert demo_server.parse_args([]).max_loaded_models == MAX_LOADED_MODELS
    assert demo_server.parse_args(["--max-loaded-models", "2"]).max_loaded_models == 2
    with pytest.raises(SystemExit):
        demo_server.parse_args(["--max-loaded-models", "0"])
    assert "must be an integer >= 1, got 0" in capsys.readouterr().err


# ---------------------------------------------------------------------- compare's columns
def test_column_specs_are_strategies_or_models_of_the_direction(catalog):
    columns = parse_columns(["greedy", f"model:{COMPARISON}", COMPARISON], catalog, "de", "en")
    assert [(c.choice.name, c.strategy) for c in columns] == [
        ("multi30k-de-en", "greedy"),
        (COMPARISON, None),
        (COMPARISON, None),
    ]
    assert [c.spec for c in parse_columns([None, None, None], catalog, "de", "en")] == ["greedy", "beam", "sampling"]
    assert len(parse_columns(["beam", "beam", ""], catalog, "de", "en")) == 2


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([5, "beam", ""], "column 1 must be a strategy or 'model:NAME', got int"),
        (["greedy", "nucleus", ""], "column 2: 'nucleus' is neither a strategy (greedy, beam, sampling) nor a"),
        (["", "beam", ""], "column 1: '' is neither a strategy"),
        (["greedy", "beam", "model:multi30k-en-de"], "'multi30k-en-de' translates English → German, not German"),
        (["greedy", "beam", ["beam"]], "column 3 must be a strategy or 'model:NAME', got list"),
        (["<b>" * 100, "beam", ""], "column 1: '<b><b><b><b><b><b><b><b><b><b><b><b><b>…' is neither"),
        (["greedy"] * 4, "compare shows at most 3 columns, got 4"),
    ],
)
def test_bad_column_specs_get_a_clear_message(catalog, specs, message):
    with pytest.raises(InputError) as info:
        parse_columns(specs, catalog, "de", "en")
    assert message in str(info.value)
    if "nucleus" in message:
        assert "nor a German → English model (model:multi30k-de-en, model:compare-de-en-no-attention)" in str(
            info.value
        )


# ---------------------------------------------------------------------- BLEU by source length
def test_length_plot_has_a_line_per_german_english_model_with_scores(catalog, zoo, tmp_path):
    plot = length_plot(catalog)
    assert plot.value["columns"] == ["source length (words)", "BLEU", "model", "sentences"]
    assert plot.order == ["0–7", "8–16", "17+"]  # empty bins have no point
    assert plot.value["data"][:2] == [["0–7", 45.1, "multi30k-de-en", 172], ["8–16", 41.0, "multi30k-de-en", 753]]
    assert {row[2] for row in plot.value["data"]} == {"multi30k-de-en", COMPARISON}
    assert plot.value["datatypes"]["BLEU"] == "quantitative" and plot.value["mark"] == "line"
    assert "test_2016_flickr" in plot.caption and "<b>13a</b>" in plot.caption
    assert length_plot(catalog, ("fr", "en")) is None  # no scores: no plot (the page shows a note)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "bleu_by_length.json").write_text('{"bins": [{"min_words": "x"}]}', encoding="utf-8")
    broken = Catalog([ModelChoice("broken", str(tmp_path / "broken"), "de", "en")])
    assert length_plot(broken) is None  # a broken file loses its line, not the page


# ---------------------------------------------------------------------- the launched demo
@pytest.fixture(scope="module")
def server(zoo):
    """The demo serving the zoo found through SEQ2SEQ_MODELS_DIR (at most 3 models loaded)."""
    with serve_zoo(zoo, "--max-loaded-models", "3") as served:
        assert served.models.pool.loaded == ["multi30k-de-en"]  # the page starts with it; the rest load when asked
        yield served


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False, analytics_enabled=False, download_files=False)


def _translate(client, text=SENTENCE, **options):
    return client.predict(text=text, api_name="/translate", **{"strategy": "greedy", "max_length": 10, **options})


def _alone(zoo, name: str, text: str) -> list[str]:
    """The tokens of the greedy translation by the model folder `name`, loaded on its own."""
    return Translator.from_pretrained(zoo / name).translate(text, strategy="greedy", max_length=10)[0].tokens


def test_translate_defaults_to_german_english_and_serves_other_directions(client, server, zoo):
    default = _translate(client)[5]
    assert default == _translate(client, src_lang="de", tgt_lang="en")[5]
    assert default["tokens"] == _alone(zoo, "multi30k-de-en", SENTENCE)
    english = _translate(client, ENGLISH, src_lang="en", tgt_lang="de")[5]
    assert english["tokens"] == _alone(zoo, "multi30k-en-de", ENGLISH)  # served by the English -> German model
    assert "multi30k-en-de" in server.models.pool.loaded


def test_unsupported_direction_and_unloadable_model_are_one_clear_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        _translate(client, src_lang="en", tgt_lang="cs")
    assert f"There is no English → Czech model here. Available directions: {AVAILABLE}." in str(info.value)
    for endpoint in ("/translate", "/compare"):
        with pytest.raises(AppError) as info:
            client.predict(text="Muž jede na kole.", src_lang="cs", tgt_lang="en", api_name=endpoint)
        message = str(info.value)
        assert f"The Czech → English model '{BROKEN}' could not be loaded" in message and "Traceback" not in message
    assert _translate(client)[0]  # the demo still serves the other directions


def test_compare_shows_strategies_and_models_side_by_side(client):
    out = client.predict(
        text=SENTENCE, column_1="greedy", column_2="beam", column_3=f"model:{COMPARISON}", api_name="/compare"
    )
    notice, views, result = out[0], out[1:13], out[-1]
    assert notice == "" and (result["text"], result["src_lang"], result["tgt_lang"]) == (SENTENCE, "de", "en")
    columns = result["columns"]
    assert [(c["model"], c["strategy"]) for c in columns] == [
        ("multi30k-de-en", "greedy"),
        ("multi30k-de-en", "beam"),
        (COMPARISON, "beam"),  # a model column decodes with the model's own defaults
    ]
    assert [views[4 * i + 1] for i in range(3)] == [c["text"] for c in columns]
    assert [views[4 * i + 2] for i in range(3)] == [c["score"] for c in columns]
    assert "its default" in views[8] and "this model has no attention" in views[11] and columns[2]["attention"] == []
    assert "<table" in views[3] and columns[0]["tokens"] == _translate(client, max_length=0)[5]["tokens"]


def test_compare_in_another_direction_and_with_two_columns(client):
    out = client.predict(
        text=ENGLISH,
        src_lang="en",
        tgt_lang="de",
        column_1="sampling",
        column_2="greedy",
        column_3="",
        api_name="/compare",
    )
    assert [c["model"] for c in out[-1]["columns"]] == ["multi30k-en-de", "multi30k-en-de"]
    out = client.predict(text=SENTENCE, column_3="", api_name="/compare")
    assert len(out[-1]["columns"]) == 2 and out[9:13] == ("", "", None, "")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"column_1": "nucleus"}, "column 1: 'nucleus' is neither a strategy (greedy, beam, sampling)"),
        ({"column_2": 3}, "column 2 must be a strategy or 'model:NAME', got int"),
        ({"column_3": "model:multi30k-fr-en"}, "'multi30k-fr-en' translates French → English, not German → English"),
        ({"column_1": "<script>alert(1)</script>"}, "column 1: '&lt;script&gt;alert(1)&lt;/script&gt;' is neither"),
    ],
)
def test_compare_bad_specs_get_one_clear_message(client, columns, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(text=SENTENCE, api_name="/compare", **columns)
    assert message in str(info.value) and "Traceback" not in str(info.value)


def test_main_reports_an_empty_or_broken_zoo_in_one_line(tmp_path, zoo, monkeypatch, capsys):
    monkeypatch.setenv("SEQ2SEQ_MODELS_DIR", str(tmp_path / "empty"))
    assert demo_server.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: cannot load the model zoo: there are no models in" in err
    (tmp_path / "only-broken").mkdir()
    (tmp_path / "only-broken" / BROKEN).symlink_to(zoo / BROKEN, target_is_directory=True)
    assert demo_server.main(["--models-dir", str(tmp_path / "only-broken")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"its default model '{BROKEN}'" in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:The value passed into gr.Dropdown")  # the source picker's update names no choices
def test_the_pickers_events_take_raw_values_a_stale_target_or_unknown_source_fails_nothing(server):
    """The pickers' events validate what they get themselves: an event still in flight with the old target after
    a new source changed the target's choices gets the new source's first target, not gradio's error over the
    target picker; an unknown source changes nothing."""
    import gradio as gr

    pickers = [f for f in server.demo.fns.values() if f.name in ("change", "swap")]  # source, target, swap
    assert len(pickers) == 3 and not any(f.preprocess for f in pickers)
    change, swap = pickers[0], pickers[2]
    updates = change.fn("en", "en")  # English chosen while the target still says English
    assert updates[0].value == "en" and updates[1].value == "de"
    assert [choice[1] for choice in updates[1].choices] == ["de"]
    with pytest.warns(UserWarning, match="There is no model from 'xx' here. Available directions: cs-en"):
        assert all(isinstance(u, type(gr.skip())) for u in change.fn("xx", "en"))
    assert all(isinstance(u, type(gr.skip())) for u in swap.fn(["de"], "en"))  # not a language code
