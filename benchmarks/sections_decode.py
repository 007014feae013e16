"""Decoding-side benchmark sections, all on the trained model: batched decoding throughput against the
naive one-at-a-time reference, single-sentence latency, and how decode time scales with source length
and batch size.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import torch
from context import Context
from measure import median_of, sync, timed
from naive import textbook_greedy

from seq2seq_hub.metrics import corpus_scores
from seq2seq_hub.modeling.model import Seq2SeqModel
from seq2seq_hub.search import beam_search

BF16 = torch.bfloat16
DECODERS = (  # label, strategy, beam size, batch size, compute dtype
    ("greedy, batch 64", "greedy", 1, 64, None),
    ("greedy, batch 128", "greedy", 1, 128, None),
    ("greedy, batch 128, bf16 autocast", "greedy", 1, 128, BF16),
    ("greedy, batch 256, bf16 autocast", "greedy", 1, 256, BF16),
    ("beam 5, batch 32", "beam", 5, 32, None),
    ("beam 5, batch 64", "beam", 5, 64, None),
    ("beam 5, batch 64, bf16 autocast", "beam", 5, 64, BF16),
    ("beam 5, batch 128, bf16 autocast", "beam", 5, 128, BF16),
    ("greedy, batch 128, int8", "greedy", 1, 128, "int8"),
    ("beam 5, batch 64, int8", "beam", 5, 64, "int8"),
    ("beam 5, batch 128, int8", "beam", 5, 128, "int8"),
)


# ---------------------------------------------------------------------- section: decode
def warm_up_decoders(translator, sents: list[str], encoded: list[list[int]]) -> None:
    for dtype in (None, BF16, "int8"):  # warm-up: oneDNN builds its bf16 kernels once per matmul shape
        translator.compute_dtype = dtype
        for batch in (128, 256):
            translator.translate(sents, strategy="greedy", batch_size=batch)
            translator.translate(sents, beam_size=5, batch_size=batch // 2)
    translator.compute_dtype = None
    for ids in encoded[:10]:
        textbook_greedy(translator.model, ids, 2 * len(ids) + 10)


def naive_speed(translator, encoded: list[list[int]]) -> float:
    """Sentences/s of the textbook greedy decoder, one sentence at a time."""
    start = time.perf_counter()
    for ids in encoded:
        textbook_greedy(translator.model, ids, 2 * len(ids) + 10)
    return len(encoded) / (time.perf_counter() - start)


def ours_speed(ctx: Context, sents: list[str], refs: list[str], decoder: tuple, bleu: dict):
    """A function that times one batched decoding run (sentences/s) and records its BLEU in `bleu`."""
    _, strategy, beam, batch, dtype = decoder
    translator, n = ctx.translator, len(sents)

    def run():
        translator.compute_dtype = dtype
        start = time.perf_counter()
        hyps = translator.translate(sents, strategy=strategy, beam_size=beam, batch_size=batch)
        sync(ctx.device)
        speed = n / (time.perf_counter() - start)
        translator.compute_dtype = None
        bleu[(strategy, beam, dtype)] = corpus_scores([h.text for h in hyps], refs).bleu
        return speed

    return run


def batched_decoding(ctx: Context) -> None:
    """Sentences/s of our batched greedy and beam decoders against the naive one-at-a-time greedy."""
    report, translator, args = ctx.report, ctx.translator, ctx.args
    n = min(args.decode_sentences, len(ctx.test_src))
    sents = ctx.test_src[:n]
    report.add(
        f"### Decoding throughput (sentences/s), bundled model `{ctx.model_dir.name}`, {n} test_2016_flickr sentences"
    )
    report.add()
    naive_n = min(args.naive_sentences, n)
    encoded = [e.ids for e in ctx.tokenizer.encode_source(ctx.test_src[:naive_n], max_length=128)]
    warm_up_decoders(translator, sents, encoded)
    naive = median_of(lambda: naive_speed(translator, encoded), args.repeats)
    rows = [["naive greedy, one at a time", f"{naive:.1f}", "1.0x", ""]]
    bleu: dict = {}
    for decoder in DECODERS:
        label, strategy, beam, _, dtype = decoder
        value = median_of(ours_speed(ctx, sents, ctx.test_ref[:n], decoder, bleu), args.repeats)
        rows.append(
            [f"ours {label}", f"{value:.1f}", f"**{value / naive:.1f}x**", f"{bleu[(strategy, beam, dtype)]:.2f}"]
        )
    report.table(["decoder", "sentences/s", "ratio to naive", f"test BLEU ({n} sentences)"], rows)


# ---------------------------------------------------------------------- section: latency
def _latency(ctx: Context, translator, label: str, sentences: list[str], repeats: int) -> None:
    translator.translate(sentences[0], beam_size=5)
    times = []
    for _ in range(repeats):
        for s in sentences:
            start = time.perf_counter()
            translator.translate(s, beam_size=5)
            sync(ctx.device)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    ctx.report.add(
        f"### Single-sentence latency, beam 5, {label}, {len(sentences)} fifteen-word sentences x "
        f"{repeats}: p50 **{p50:.1f} ms**, p95 **{p95:.1f} ms**"
    )
    ctx.report.add()


def single_sentence_latency(ctx: Context) -> None:
    """p50 / p95 latency of beam-5 decoding of one fifteen-word sentence in float32, bf16 autocast and int8,
    of one model and of the shipped ensemble when the model folder is one."""
    translator, repeats = ctx.translator, max(ctx.args.repeats, 2)
    fifteen = [s for s in ctx.test_src if len(s.split()) == 15][:20] or ctx.test_src[:20]
    for dtype, label in ((None, "float32"), (BF16, "bf16 autocast"), ("int8", "int8")):
        translator.compute_dtype = dtype
        _latency(ctx, translator, label, fifteen, repeats)
    translator.compute_dtype = None
    if ctx.flagship is not translator:
        name = f"the {ctx.model_dir.name} ensemble of {len(ctx.flagship.members)}"
        for dtype, label in ((None, "float32"), (BF16, "bf16 autocast"), ("int8", "int8")):
            ctx.flagship.compute_dtype = dtype
            _latency(ctx, ctx.flagship, f"{label}, {name}", fifteen, repeats)
        ctx.flagship.compute_dtype = None
    per_op_floor(ctx)


def _forced_beam_ms(model, steps: int, repeats: int) -> float:
    """Median ms of beam-5 search of one 17-token source, made to run exactly `steps` decoder steps."""
    src = torch.randint(4, model.config.src_vocab_size, (1, 17), generator=torch.Generator().manual_seed(0))
    lengths, max_lengths = torch.tensor([17]), torch.tensor([steps])
    times = []
    for _ in range(repeats + 3):  # the first three warm up
        start = time.perf_counter()
        beam_search(model, src, lengths, max_lengths, beam_size=5, min_length=steps)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[3:])


def per_op_floor(ctx: Context, steps: int = 19, repeats: int = 30) -> None:
    """What one sentence's beam search costs besides arithmetic: the same search (same architecture, same
    number of steps) on a model 8 wide with 50-token vocabularies, whose every op is nearly free."""
    model = ctx.translator.model
    if model.device.type != "cpu":
        return
    config = model.config
    shrunk = dict(embedding_size=8, hidden_size=8, attention_size=8, src_vocab_size=50, tgt_vocab_size=50)
    tiny = Seq2SeqModel(replace(config, **shrunk)).eval()
    full_ms, tiny_ms = _forced_beam_ms(model, steps, repeats), _forced_beam_ms(tiny, steps, repeats)
    ctx.report.add(
        f"### Where one sentence's time goes: beam 5, one 17-token source, {steps} decoder steps, float32: "
        f"**{full_ms:.1f} ms** with the model, **{tiny_ms:.1f} ms** ({tiny_ms / full_ms:.0%}) with the same "
        f"architecture 8 wide and 50-token vocabularies, i.e. the cost of the ops themselves "
        f"({tiny_ms / steps * 1000:.0f} us per step), not of their arithmetic"
    )
    ctx.report.add()


# ---------------------------------------------------------------------- section: flagship
def flagship_throughput(ctx: Context) -> None:
    """Bulk beam-5 sentences/s of the shipped ensemble next to its first member, float32 and int8."""
    if ctx.flagship is ctx.translator:
        ctx.report.add("### Flagship throughput: the model folder is a single model (see the decoding table)")
        ctx.report.add()
        return
    n = min(ctx.args.decode_sentences, len(ctx.test_src))
    sents, members = ctx.test_src[:n], len(ctx.flagship.members)
    ctx.report.add(
        f"### Flagship throughput: beam 5, batch 64, {n} test sentences, the ensemble of {members} and one member"
    )
    ctx.report.add()
    rows = []
    for dtype, label in ((None, "float32"), ("int8", "int8")):
        speeds = {}
        for name, translator in (("one member", ctx.translator), (f"ensemble of {members}", ctx.flagship)):
            translator.compute_dtype = dtype
            translator.translate(sents[:64], beam_size=5, batch_size=64)  # warm-up

            def run(translator=translator):
                start = time.perf_counter()
                translator.translate(sents, beam_size=5, batch_size=64)
                sync(ctx.device)
                return n / (time.perf_counter() - start)

            speeds[name] = median_of(run, ctx.args.repeats)
            translator.compute_dtype = None
        one, ensemble = speeds["one member"], speeds[f"ensemble of {members}"]
        rows.append([label, f"{one:.1f}", f"{ensemble:.1f}", f"{ensemble / one:.2f}x"])
    ctx.report.table(["dtype", "one member, sentences/s", f"ensemble of {members}, sentences/s", "ratio"], rows)


# ---------------------------------------------------------------------- section: scaling
def scaling_with_length(ctx: Context) -> None:
    report, translator, device, repeats = ctx.report, ctx.translator, ctx.device, ctx.args.repeats
    report.add("### Scaling: decode time against source length (beam 5 and greedy, batch of 16)")
    report.add()
    words = " ".join(ctx.test_src).split()
    rows = []
    for target_tokens in (10, 20, 40, 80):
        texts = []
        for i in range(16):
            start = (i * 97) % (len(words) - 200)
            n_words = max(1, int(target_tokens / 1.4))
            texts.append(" ".join(words[start : start + n_words]))
        real = statistics.mean(len(e.ids) for e in ctx.tokenizer.encode_source(texts))
        g = median_of(lambda: timed(lambda: translator.translate(texts, strategy="greedy"), device), repeats)
        b = median_of(lambda: timed(lambda: translator.translate(texts, beam_size=5), device), repeats)
        rows.append([f"{real:.0f}", f"{g * 1000:.0f}", f"{b * 1000:.0f}"])
    report.table(["source tokens (mean)", "greedy ms / 16 sentences", "beam 5 ms / 16 sentences"], rows)


def scaling_with_batch(ctx: Context) -> None:
    report, translator, device, repeats = ctx.report, ctx.translator, ctx.device, ctx.args.repeats
    report.add("### Scaling: throughput against batch size (test sentences)")
    report.add()
    rows = []
    for batch in (1, 8, 32, 128):
        texts = ctx.test_src[: max(batch * 2, 32)]
        g = median_of(
            lambda: (
                len(texts) / timed(lambda: translator.translate(texts, strategy="greedy", batch_size=batch), device)
            ),
            repeats,
        )
        b = median_of(
            lambda: len(texts) / timed(lambda: translator.translate(texts, beam_size=5, batch_size=batch), device),
            repeats,
        )
        rows.append([str(batch), f"{g:.1f}", f"{b:.1f}"])
    report.table(["batch size", "greedy sentences/s", "beam 5 sentences/s"], rows)


def decode_scaling(ctx: Context) -> None:
    """Decode time against source length, then throughput against batch size."""
    scaling_with_length(ctx)
    scaling_with_batch(ctx)
