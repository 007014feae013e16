"""Tests of serving many visitors: the micro-batcher in front of the translator (each caller gets its own
result, in order, under concurrency; seeded sampling decoded alone; one bad request fails alone), the
batched `translate` handler and a launched demo under concurrent `gradio_client` clients, and the HTML
attention heatmap (labels, subword merging, escaping of hostile text).

No timed assertions: where a test needs requests to pile up, the first model call waits until they have.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import html  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from html.parser import HTMLParser  # noqa: E402

import pytest  # noqa: E402
from demozoo import launch_locally  # noqa: E402
from hostile import HOSTILE  # noqa: E402

from seq2seq_hub import Hypothesis  # noqa: E402
from seq2seq_hub.decoding import DecodingOptions  # noqa: E402
from seq2seq_hub.demo import layout  # noqa: E402
from seq2seq_hub.demo import server as demo_server  # noqa: E402
from seq2seq_hub.demo.batching import BatchingTranslator, DecodingThread, Job, group_jobs  # noqa: E402
from seq2seq_hub.demo.handlers import translate_handler  # noqa: E402
from seq2seq_hub.demo.heatmap import COLOURS, attention_table, colour, short_label  # noqa: E402
from seq2seq_hub.demo.requests import parse_request  # noqa: E402
from seq2seq_hub.demo.views import heatmap_data, heatmap_html  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")
BEAM4 = DecodingOptions(strategy="beam", num_beams=4)
GREEDY = DecodingOptions(strategy="greedy")
SAMPLE = DecodingOptions(strategy="sample", num_return_sequences=2)
SEEDED = DecodingOptions(strategy="sample", seed=7)
PATIENCE = 60.0  # seconds a test waits for threads to pile up before it gives up (a failure, not a timing)


def _wait_for(condition, message: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.005)


class EchoTranslator:
    """Stands in for a `Translator`: each hypothesis names its text, options and prefix; records every call.
    Its first call waits until `hold` returns False, so that other callers pile up meanwhile."""

    def __init__(self, hold=lambda: False):
        self.calls: list[tuple[list[str], DecodingOptions, object]] = []
        self.hold = hold
        self.started = threading.Event()  # the first call has begun

    def translate(self, texts, options=None, *, prefix=None):
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not self.started.is_set():
            self.started.set()
            _wait_for(lambda: not self.hold(), "the other callers never arrived")
        self.calls.append((texts, options, prefix))
        if any("bad" in text for text in texts):
            raise ValueError(f"cannot translate {[t for t in texts if 'bad' in t]}")
        prefixes = prefix if isinstance(prefix, list) else [prefix] * len(texts)
        return [Hypothesis(text=echo(t, options, p), score=0.0) for t, p in zip(texts, prefixes)]


def echo(text: str, options: DecodingOptions, prefix: str | None) -> str:
    return f"{text}|{options.search}|{options.num_beams}|{options.seed}|{prefix or ''}"


def _requests(count: int) -> list[tuple[str, DecodingOptions, str | None]]:
    options = [BEAM4, GREEDY, SAMPLE, SEEDED]
    return [(f"sentence {i}", options[i % 4], "A man" if i % 3 == 0 else None) for i in range(count)]


def _call_all(batcher: BatchingTranslator, requests: list, started: threading.Event) -> list:
    """Each request from its own thread: the first, then, once the model has `started` on it, all the
    rest at once. The results (or errors) in request order."""

    def one(request):
        try:
            return batcher.translate(*request)
        except Exception as err:
            return err

    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(one, requests[0])]
        assert started.wait(PATIENCE), "the first request never reached the model"
        futures += [pool.submit(one, request) for request in requests[1:]]
        return [future.result() for future in futures]


# ---------------------------------------------------------------------- the micro-batcher
def test_concurrent_callers_each_get_their_own_result_and_share_model_calls():
    requests = _requests(24)
    batcher: BatchingTranslator
    fake = EchoTranslator(hold=lambda: batcher.waiting < len(requests) - 1)
    batcher = BatchingTranslator(fake, max_batch_size=8)
    results = _call_all(batcher, requests, fake.started)
    assert [r.text for r in results] == [echo(*request) for request in requests]
    decoded = sorted(text for texts, _, _ in fake.calls for text in texts)
    assert decoded == sorted(text for text, _, _ in requests)  # every request decoded once
    sizes = [len(texts) for texts, _, _ in fake.calls]
    assert max(sizes) > 1 and max(sizes) <= 8 and len(fake.calls) < len(requests)
    by_text = {text: opts for text, opts, _ in requests}
    for texts, options, _ in fake.calls:  # one call: equal options; seeded sampling alone
        assert {by_text[text] for text in texts} == {options}
        assert options != SEEDED or len(texts) == 1


def test_one_decoding_thread_serves_every_model_oldest_first_and_never_mixes_models_in_a_call():
    thread = DecodingThread()
    a = EchoTranslator(hold=lambda: thread.waiting(batcher_a) + thread.waiting(batcher_b) < 4)
    b = EchoTranslator()
    batcher_a, batcher_b = BatchingTranslator(a, thread=thread), BatchingTranslator(b, max_batch_size=2, thread=thread)
    opening = batcher_a.submit("a0", GREEDY)  # holds the thread until the other four wait
    assert a.started.wait(PATIENCE)
    jobs = [batcher_b.submit("b1", GREEDY), batcher_a.submit("a2", GREEDY)]
    jobs += [batcher_b.submit("b3", GREEDY), batcher_b.submit("b4", GREEDY)]
    results = [job.wait().text for job in [opening, *jobs]]
    assert results == [echo(text, GREEDY, None) for text in ("a0", "b1", "a2", "b3", "b4")]
    # b's oldest job was the oldest waiting: b's first two (its batch size), then a's, then b's last
    assert [texts for texts, _, _ in b.calls] == [["b1", "b3"], ["b4"]]
    assert [texts for texts, _, _ in a.calls] == [["a0"], ["a2"]]
    assert thread.waiting(batcher_a) == thread.waiting(batcher_b) == 0


def test_grouping_keeps_equal_options_together_and_seeded_sampling_alone():
    jobs = [Job("a", BEAM4), Job("b", SEEDED), Job("c", BEAM4, "A"), Job("d", SEEDED), Job("e", SAMPLE)]
    jobs.append(Job("f", SAMPLE))
    groups = [[job.text for job in group] for group in group_jobs(jobs)]
    assert groups == [["a", "c"], ["b"], ["d"], ["e", "f"]]


def test_a_request_that_fails_fails_alone():
    requests = [("first", GREEDY, None), ("good 1", BEAM4, None), ("bad 2", BEAM4, None), ("good 3", BEAM4, "The")]
    batcher: BatchingTranslator
    fake = EchoTranslator(hold=lambda: batcher.waiting < 3)
    batcher = BatchingTranslator(fake)
    results = _call_all(batcher, requests, fake.started)  # the rest wait, then share a call
    assert [texts for texts, _, _ in fake.calls[:2]] == [["first"], ["good 1", "bad 2", "good 3"]]
    assert [r.text for r in (results[0], results[1], results[3])] == [echo(*requests[i]) for i in (0, 1, 3)]
    assert isinstance(results[2], ValueError) and "bad 2" in str(results[2])
    assert batcher.translate("later", GREEDY).text == echo("later", GREEDY, None)  # still serving


@pytest.mark.parametrize("size", [0, -1, 2.5, True, "8"])
def test_batch_size_must_be_a_positive_integer(size):
    with pytest.raises(ValueError, match="max_batch_size must be an integer >= 1"):
        BatchingTranslator(EchoTranslator(), max_batch_size=size)


def test_serving_settings_come_from_the_command_line(capsys):
    args = demo_server.parse_args([])
    assert (args.concurrency_limit, args.max_batch_size, args.queue_size) == (
        layout.CONCURRENCY_LIMIT,
        layout.MAX_BATCH_SIZE,
        layout.QUEUE_MAX_SIZE,
    )
    args = demo_server.parse_args(["--concurrency-limit", "4", "--max-batch-size", "2", "--queue-size", "9"])
    assert (args.concurrency_limit, args.max_batch_size, args.queue_size) == (4, 2, 9)
    for bad in ("0", "-3", "two"):
        with pytest.raises(SystemExit):
            demo_server.parse_args(["--max-batch-size", bad])
        shown = bad if bad.lstrip("-").isdigit() else repr(bad)
        assert f"the value must be an integer >= 1, got {shown}" in capsys.readouterr().err


# ---------------------------------------------------------------------- the handler with a real model
@pytest.fixture(scope="module")
def demo_translator(make_translator):
    return make_translator(seed=3)


class Gate:
    """Wraps a translator's `translate`: the first call (the opening request) waits until all the other
    requests wait behind it; records the number of texts in every call."""

    def __init__(self, translator, batcher, others: int):
        self.translator, self.batcher, self.others = translator, batcher, others
        self.sizes: list[int] = []
        self.opened = threading.Event()  # the opening request is being decoded
        self.real = translator.translate

    def __enter__(self):
        self.translator.translate = self.translate
        return self

    def __exit__(self, *exc):
        del self.translator.translate  # the real method again

    def translate(self, texts, options=None, **kwargs):
        if not self.opened.is_set():
            self.opened.set()
            _wait_for(lambda: self.batcher.waiting >= self.others, "the other requests never arrived")
        self.sizes.append(1 if isinstance(texts, str) else len(texts))
        return self.real(texts, options, **kwargs)


OPENING = dict(text="Ein Hund.", strategy="greedy", max_length=5)  # decoded alone while the others queue


TEXTS = [
    "Ein Mann fährt mit dem Fahrrad.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau liest ein Buch.",
    "Kinder spielen Fußball.",
    "Ein Mädchen springt ins Wasser.",
    "Ein alter Mann sitzt.",
    "Eine Katze schläft.",
    "Drei Männer lachen.",
]
BEAM_OPTIONS = dict(strategy="beam", beam_size=3, num_return_sequences=3, max_length=9)
GREEDY_OPTIONS = dict(strategy="greedy", max_length=10)
SEEDED_OPTIONS = dict(strategy="sampling", seed=11, num_return_sequences=2, max_length=8)
SAMPLE_OPTIONS = dict(strategy="sampling", num_return_sequences=4, max_length=10)
OPTIONS = [  # the API's parameters, by pairs: strategies, lengths and n-best counts, a prefix, a seed
    BEAM_OPTIONS,
    GREEDY_OPTIONS,
    BEAM_OPTIONS,
    {**GREEDY_OPTIONS, "prefix": "A dog"},  # shares a call with the other greedy request
    SEEDED_OPTIONS,
    SEEDED_OPTIONS,  # each seeded request is decoded alone
    SAMPLE_OPTIONS,
    SAMPLE_OPTIONS,
]


def _check_own_result(translator, text: str, options: dict, result: dict, nbest_rows: list) -> None:
    """The result is the one asked for: its own source, within its own length, with its own n-best count;
    seeded sampling gives exactly what the translator gives that request alone."""
    (ids,) = [enc.ids for enc in translator.tokenizer.encode_source([text], translator.config.max_source_length)]
    assert result["src_tokens"] == translator.tokenizer.source_tokens(ids)
    assert len(result["tokens"]) <= options["max_length"]
    assert len(nbest_rows) == options.get("num_return_sequences", 1)
    if "prefix" in options:
        assert result["text"].startswith(options["prefix"])
    if options.get("seed") is not None:
        request = parse_request(text, **options, defaults=translator.generation_options)
        alone = translator.translate(text, options=request.options)[0]
        assert result["tokens"] == alone.tokens and [row[1] for row in nbest_rows] == [h.text for h in alone.nbest]


def _opening_then_all(call, count: int, gate: Gate) -> list:
    """call(-1) (the opening request) from one thread, then call(0) ... call(count - 1) from one thread each."""
    with ThreadPoolExecutor(count + 1) as pool:
        opening = pool.submit(call, -1)
        assert gate.opened.wait(PATIENCE), "the opening request never reached the model"
        outputs = list(pool.map(call, range(count)))
        assert opening.result()[0] == opening.result()[5]["text"]
    return outputs


def _check_outputs(translator, gate: Gate, outputs: list) -> None:
    # the opening request alone, then one call per group of equal options: pairs, and each seeded request alone
    assert sorted(gate.sizes) == [1, 1, 1, 2, 2, 2]
    for text, options, (translation, _, heatmap, rows, _, result, *_) in zip(TEXTS, OPTIONS, outputs):
        assert translation == result["text"] and heatmap.startswith('<div class="attn">')
        _check_own_result(translator, text, options, result, rows["data"] if isinstance(rows, dict) else rows)


def test_batched_handler_under_concurrency_answers_each_caller(demo_translator):
    handler = translate_handler(demo_translator, max_batch_size=8)

    def call(i: int):
        return handler(**OPENING) if i < 0 else handler(text=TEXTS[i], **OPTIONS[i])

    with Gate(demo_translator, handler.batcher, others=len(TEXTS)) as gate:
        outputs = _opening_then_all(call, len(TEXTS), gate)
    _check_outputs(demo_translator, gate, outputs)


def test_launched_demo_answers_concurrent_clients_each_their_own(demo_translator):
    from gradio_client import Client

    demo = layout.build_demo(demo_translator, max_batch_size=8)
    (handler,) = [fn.fn for fn in demo.fns.values() if fn.api_name == "translate"]
    url = launch_locally(demo)
    try:
        clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(9)]

        def call(i: int):
            kwargs = OPENING if i < 0 else dict(text=TEXTS[i], **OPTIONS[i])
            return clients[i].predict(api_name="/translate", **kwargs)  # clients[-1]: the opening request's

        with Gate(demo_translator, handler.batcher, others=len(TEXTS)) as gate:
            outputs = _opening_then_all(call, len(TEXTS), gate)
    finally:
        demo.close()
    _check_outputs(demo_translator, gate, outputs)


# ---------------------------------------------------------------------- the HTML heatmap
class TableReader(HTMLParser):
    """The tags, column and row titles, shown label texts and cell titles and colours of a heatmap fragment."""

    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment
        self.tags: set[str] = set()
        self.columns, self.rows, self.cells = [], [], []
        self.shown: list[str] = []  # the text of every header cell, the corner first
        self._where: list[str] = []
        self.feed(fragment)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self._where.append(tag)
        if tag == "th":
            self.shown.append("")
        if tag == "th" and "title" in attrs and "thead" in self._where:
            self.columns.append(attrs["title"])
        elif tag == "th" and "title" in attrs:
            self.rows.append(attrs["title"])
        elif tag == "td":
            self.cells.append((attrs["title"], attrs["style"]))

    def handle_data(self, data):
        if "th" in self._where:
            self.shown[-1] += data

    def handle_endtag(self, tag):
        while self._where and self._where.pop() != tag:
            pass


def test_heatmap_table_has_labelled_rows_columns_and_titled_cells():
    weights = [[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]]
    fragment = attention_table(["Ein", "Mann", "</s>"], ["A", "man"], weights, title="hypothesis 1")
    table = TableReader(fragment)
    assert table.tags <= {"div", "span", "table", "thead", "tbody", "tr", "th", "td", "p"}
    assert table.columns == ["Ein", "Mann", "</s>"] and table.rows == ["A", "man"]
    assert [title for title, _ in table.cells] == [
        "Ein → A: 0.90",
        "Mann → A: 0.10",
        "</s> → A: 0.00",
        "Ein → man: 0.20",
        "Mann → man: 0.30",
        "</s> → man: 0.50",
    ]
    assert table.cells[0][1] == f"background:{colour(0.9)}" and "hypothesis 1" in fragment
    assert [colour(w) for w in (0.0, 1.0, -3, 7, float("nan"))] == [
        "#440154",
        "#fde725",
        "#440154",
        "#fde725",
        "#440154",
    ]
    assert len(set(COLOURS)) > 90  # a smooth scale, not a handful of bands


def test_heatmap_of_a_hypothesis_merges_subwords_unless_asked_not_to(make_translator):
    hyp = make_translator(seed=1).translate("Ein Mann fährt mit dem Fahrrad.", strategy="greedy", max_length=8)[0]
    merged, split = TableReader(heatmap_html(hyp)), TableReader(heatmap_html(hyp, merge=False, rank=2))
    data = heatmap_data(hyp, merge=True)
    assert merged.columns == data.src_labels == ["Ein", "Mann", "fährt", "mit", "dem", "Fahrrad.", "</s>"]
    assert merged.rows == data.tgt_labels and len(merged.cells) == len(data.tgt_labels) * len(data.src_labels)
    assert split.columns == hyp.src_tokens and split.rows == hyp.tokens
    assert len(split.cells) == len(hyp.tokens) * len(hyp.src_tokens)
    assert "hypothesis 2" in heatmap_html(hyp, merge=False, rank=2) and "▁ marks" in split.fragment


def test_heatmap_escapes_hostile_text_and_shortens_long_labels():
    hostile = [HOSTILE["HTML"], '"><img src=x onerror=alert(1)>', "${alert(1)}", "{{constructor}}", "a&b", "x" * 300]
    fragment = attention_table(hostile, hostile[:3], [[0.5] * len(hostile)] * 3, title="<b>title</b>")
    table = TableReader(fragment)
    assert table.tags <= {"div", "span", "table", "thead", "tbody", "tr", "th", "td", "p"}  # no script, img, b
    assert table.columns == hostile and table.rows == hostile[:3]  # full labels in titles, read back intact
    assert f"{hostile[1]} → {hostile[0]}: 0.50" in [title for title, _ in table.cells]
    assert "<script" not in fragment and "<img" not in fragment and html.escape("<b>title</b>") in fragment
    assert short_label("x" * 300) == "x" * 17 + "…" and html.escape(short_label("x" * 300)) in fragment
    assert table.shown[1:] == [short_label(label) for label in hostile + hostile[:3]]  # titles hold the full labels


def test_heatmap_of_a_model_without_attention_says_so():
    table = TableReader(attention_table(["Ein", "</s>"], ["A", "</s>"], [], title="hypothesis 1"))
    assert "table" not in table.tags and "this model has no attention" in table.fragment
