#!/usr/bin/env python
"""Load test: the running app over loopback, driven by concurrent `gradio_client` clients.

    python benchmarks/load.py [--model models/multi30k-de-en] [--clients 16] [--requests 200] [--no-write]
        [--singles 40] [--concurrency-limit N] [--max-batch-size N] [--queue-size N]

Starts `python app.py` in a subprocess (the serving flags go to it; left out, the app's defaults),
warms it up, times `--singles` single requests one after another (one client, end to end), sends
`--requests` translations from `--clients` threads (each with its own Client, all sharing one TLS
context), and records failures, p50 / p95 latency, throughput, the CPU time per request of the server and
of the clients (they share this machine's cores), and the server's resident memory. Then
it floods the queue to check that "queue full" answers come back at once. Last, with the app stopped,
it times in this process what a request costs the server: the translation alone, one batched call
for `--clients` requests, and the rest of the handler (request checks and the page's views). Appends a
report to BENCHMARKS.md.
"""

# This module owns the whole load test: one function per phase (start the app, warm-up, single requests,
# concurrent clients, queue flood, server-side costs, report), run in that order by `main`.

from __future__ import annotations

import argparse
import gzip
import os
import ssl
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from app_process import ROOT, cpu_seconds, publish, rss_mib, start_app, stop_app, wait_ready  # noqa: E402


@dataclass
class RunResult:
    """The concurrent-clients phase: latency in seconds of each good answer, failures, wall time."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0


@dataclass
class Costs:
    """Server-side cost of one request in ms (medians), timed in this process on the same sentences."""

    translate: float  # `Translator.translate` of one sentence
    batched: float  # one `translate` call for `clients` sentences, divided by `clients`
    extra: float  # the rest of the handler: request checks, heatmap, n-best rows, confidences, JSON, notices


@dataclass
class FloodResult:
    """The queue-flood phase, through the client library and then as raw HTTP joins."""

    answered: int = 0
    busy: list[str] = field(default_factory=list)  # the error of each request turned away
    latency: list[float] = field(default_factory=list)  # seconds until each was turned away
    up_after: str = ""  # the answer to a normal request after the flood
    raw_refused: int = 0
    raw_ms: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------- helpers
def raw_flood(url: str, text: str, joins: int = 60) -> tuple[int, list[float]]:
    """POST `joins` queue joins straight to the server; returns (refused, latency in ms of each refusal)."""
    import json
    import urllib.error
    import urllib.request

    config = json.load(urllib.request.urlopen(url + "config", timeout=30))
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "translate")
    refused, latencies = 0, []
    for i in range(joins):
        body = json.dumps(
            {
                "data": [text, "beam", 12, 1.0, 0, 1, 1.0, 0, 1.0, -1, "", True, "de", "en"],
                "fn_index": fn_index,
                "session_hash": f"flood{i}",
                "event_data": None,
                "trigger_id": None,
            }
        ).encode()
        request = urllib.request.Request(
            url + "gradio_api/queue/join", data=body, headers={"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        try:
            urllib.request.urlopen(request, timeout=30).read()
        except urllib.error.HTTPError as err:
            if err.code == 503:
                refused += 1
                latencies.append((time.perf_counter() - start) * 1000)
    return refused, latencies


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p95) in ms; NaN for no values."""
    ordered = sorted(seconds)
    if not ordered:
        return float("nan"), float("nan")
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def read_sentences() -> list[str]:
    with gzip.open(ROOT / "data" / "multi30k" / "test_2016_flickr.de.gz", "rt", encoding="utf-8") as f:
        return [line.strip() for line in f][:200]


# ---------------------------------------------------------------------- phases
def warm_up(connect, sentences: list[str], options: dict, clients: int) -> None:
    """The same concurrency as the run, so that threads, sessions and caches settle."""

    def one(i: int) -> None:
        connect().predict(text=sentences[-1 - i % 50], **options)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(2 * clients)))


def single_requests(connect, sentences: list[str], options: dict, count: int) -> list[float]:
    """End-to-end seconds of `count` requests sent one after another by one client (nothing else running)."""
    client, latencies = connect(), []
    for i in range(count):
        start = time.perf_counter()
        client.predict(text=sentences[i % len(sentences)], **options)
        latencies.append(time.perf_counter() - start)
    return latencies


def concurrent_clients(connect, sentences: list[str], options: dict, clients: int, requests: int) -> RunResult:
    """`requests` translations from `clients` threads, each with its own client."""
    local = threading.local()
    result = RunResult()
    lock = threading.Lock()

    def one(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = connect()
        start = time.perf_counter()
        try:
            text = local.client.predict(text=sentences[i % len(sentences)], **options)[0]
            ok = isinstance(text, str) and text.strip() != ""
            with lock:
                if ok:
                    result.latencies.append(time.perf_counter() - start)
                else:
                    result.failures.append(f"empty answer {i}")
        except Exception as err:  # a failed request is what we count
            with lock:
                result.failures.append(f"{type(err).__name__}: {str(err)[:120]}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    result.wall = time.perf_counter() - start
    return result


def queue_flood(connect, url: str, sentences: list[str], options: dict) -> FloodResult:
    """Many more requests at once than the queue holds (32) with long inputs, then raw joins of the full queue."""
    result = FloodResult()
    lock = threading.Lock()
    long_text = " ".join(sentences[:6])

    def flood(i: int) -> None:
        client = connect()
        t0 = time.perf_counter()
        try:
            client.predict(text=long_text, strategy="beam", beam_size=12, num_return_sequences=1, api_name="/translate")
            with lock:
                result.answered += 1
        except Exception as err:
            with lock:
                result.busy.append(str(err)[:100])
                result.latency.append(time.perf_counter() - t0)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(flood, range(64)))
    result.up_after = connect().predict(text=sentences[0], **options)[0]
    result.raw_refused, result.raw_ms = raw_flood(url, long_text)
    return result


def server_costs(model: str, sentences: list[str], beam_size: int, clients: int, count: int = 40) -> Costs:
    """What one request costs the server besides the framework, timed in this process with the app stopped."""
    from seq2seq_hub import Translator
    from seq2seq_hub.demo.requests import parse_request
    from seq2seq_hub.demo.views import confidence_spans, heatmap_html, nbest_rows, notice_markdown, result_json

    translator = Translator.from_pretrained(model, device="cpu")
    cfg = translator.config

    def parse(text: str):
        return parse_request(text, "beam", beam_size, num_return_sequences=1, defaults=translator.generation_options)

    def median_ms(fn, items) -> float:
        times = []
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    def extra(pair) -> None:
        text, hyp = pair
        request = parse(text)
        for view in (heatmap_html, nbest_rows, confidence_spans, result_json):
            view(hyp)
        notice_markdown(request.notices, hyp, cfg.max_source_length)

    options = parse(sentences[0]).options
    texts = sentences[:count]
    hyps = translator.translate(texts, options=options)  # also the warm-up
    alone = median_ms(lambda text: translator.translate(text, options=options), texts)
    groups = [sentences[i : i + clients] for i in range(0, 4 * clients, clients)]
    batched = median_ms(lambda group: translator.translate(group, options=options), groups) / clients
    return Costs(translate=alone, batched=batched, extra=median_ms(extra, list(zip(texts, hyps))))


def report_lines(args: argparse.Namespace, command: list[str], measured: dict) -> list[str]:
    """The Markdown report of the load test; `measured` holds each phase's result by name."""
    run, flood, singles, costs = measured["run"], measured["flood"], measured["singles"], measured.get("costs")
    rss_warm, rss_after = measured["rss_warm"], measured["rss_after"]
    failures, busy, raw_ms = run.failures, flood.busy, flood.raw_ms
    p50, p95 = percentiles(run.latencies)
    single50, single95 = percentiles(singles)
    throughput = len(run.latencies) / run.wall
    from seq2seq_hub.demo.layout import QUEUE_MAX_SIZE  # the app's default

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    serving = " ".join(serving_flags(args)) or "the app's defaults"
    lines = [
        f"## Load test of {stamp}: `python benchmarks/load.py {' '.join(command)}`",
        "",
        f"The app (`app.py`, model `{Path(args.model).name}`, beam {args.beam_size}, serving: {serving}) over "
        f"loopback, {args.requests} requests from {args.clients} concurrent `gradio_client` clients after a "
        f"warm-up of {2 * args.clients} requests at the same concurrency, on {os.cpu_count()} CPU cores.",
        "",
        "| requests | failures | p50 latency | p95 latency | throughput | RSS after warm-up | RSS after run | ratio |",
        "|---|---|---|---|---|---|---|---|",
        f"| {args.requests} | {len(failures)} | {p50:.0f} ms | {p95:.0f} ms | {throughput:.1f} req/s | "
        f"{rss_warm:.0f} MiB | {rss_after:.0f} MiB | {rss_after / rss_warm:.2f}x |",
        "",
        f"CPU time per request during that run: the server {measured['cpu'][0] / args.requests * 1000:.0f} ms, "
        f"the {args.clients} clients (this process, on the same {os.cpu_count()} cores) "
        f"{measured['cpu'][1] / args.requests * 1000:.0f} ms.",
        "",
        f"Single requests, one at a time from one client (end to end, {len(singles)} requests): "
        f"p50 {single50:.0f} ms, p95 {single95:.0f} ms.",
        "",
        f"Queue flood (64 simultaneous long beam-12 requests, queue of {args.queue_size or QUEUE_MAX_SIZE}): "
        f"{flood.answered} answered, {len(busy)} turned away"
        + (f' in a median {statistics.median(flood.latency) * 1000:.0f} ms with "{busy[0]}"' if busy else "")
        + f"; the next normal request was answered ({flood.up_after[:40]!r}). (That median is the client "
        "library's round trip; the server itself answers a join of a full queue with HTTP 503 "
        f'"Queue is full" in a median {statistics.median(raw_ms) if raw_ms else float("nan"):.0f} ms, '
        f"max {max(raw_ms) if raw_ms else float('nan'):.0f} ms: {flood.raw_refused} of 60 raw joins refused.)",
        "",
    ]
    if failures:
        lines.insert(-1, "Failures: " + "; ".join(sorted(set(failures))[:5]))
    if costs:
        lines += [
            f"Server-side cost of one request (medians, in-process, app stopped): translation {costs.translate:.1f} ms "
            f"alone, {costs.batched:.1f} ms each in a batch of {args.clients}; the rest of the handler "
            f"(request checks, heatmap, n-best, confidences, JSON) {costs.extra:.2f} ms.",
            "",
        ]
    return lines


# ---------------------------------------------------------------------- entry point
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "multi30k-de-en"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--singles", type=int, default=40, help="single requests timed one after another")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--concurrency-limit", type=int, help="passed to app.py (default: the app's)")
    parser.add_argument("--max-batch-size", type=int, help="passed to app.py (default: the app's)")
    parser.add_argument("--queue-size", type=int, help="passed to app.py (default: the app's)")
    parser.add_argument("--no-costs", action="store_true", help="skip timing the server-side costs in-process")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    return parser.parse_args(argv)


def serving_flags(args: argparse.Namespace) -> list[str]:
    """The serving flags given to app.py."""
    names = ("concurrency_limit", "max_batch_size", "queue_size")
    return [f"--{name.replace('_', '-')}={getattr(args, name)}" for name in names if getattr(args, name)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gradio_client import Client

    sentences = read_sentences()
    app = start_app(args.model, serving_flags(args))
    measured: dict = {}
    try:
        wait_ready(app.url, app.process)
        # gradio_client opens a new httpx client for every request, and with it a TLS context that loads the
        # CA bundle (~100 ms of CPU a request measured here, on the cores the server needs); one shared
        # context avoids that
        tls = ssl.create_default_context()
        connect = partial(Client, app.url, ssl_verify=tls, verbose=False, analytics_enabled=False, download_files=False)
        options = dict(strategy="beam", beam_size=args.beam_size, num_return_sequences=1, api_name="/translate")
        warm_up(connect, sentences, options, args.clients)
        measured["rss_warm"] = rss_mib(app.process.pid)
        measured["singles"] = single_requests(connect, sentences, options, args.singles)
        cpu_before = cpu_seconds(app.process.pid), cpu_seconds()
        measured["run"] = concurrent_clients(connect, sentences, options, args.clients, args.requests)
        measured["cpu"] = cpu_seconds(app.process.pid) - cpu_before[0], cpu_seconds() - cpu_before[1]
        measured["rss_after"] = rss_mib(app.process.pid)
        measured["flood"] = queue_flood(connect, app.url, sentences, options)
    finally:
        stop_app(app)
    if not args.no_costs:
        measured["costs"] = server_costs(args.model, sentences, args.beam_size, args.clients)
    publish(report_lines(args, argv or sys.argv[1:], measured), args.output, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
