"""Training-side benchmark sections: training throughput of ours against the tutorial's own loop
(benchmarks/tutorial.py; the headline is "x the tutorial as written") at the tutorial's sizes and at the
bundled model's configuration, and the fast-path vs step-path quality check. Also owns the training
loops they time (`train_ours`, `train_tutorial`).
"""

from __future__ import annotations

import random
import statistics
from functools import cache
from typing import NamedTuple

import torch
import tutorial
from context import ROOT, Context, recipe
from measure import median_of, time_steps, train_flops_per_target_token

from seq2seq_hub import Seq2SeqConfig, Seq2SeqModel, Translator
from seq2seq_hub.data import TokenBucketSampler, collate, load_multi30k
from seq2seq_hub.metrics import corpus_scores
from seq2seq_hub.training.config import TrainConfig
from seq2seq_hub.training.distributed import resolve_precision

TRAIN_INTRO = (
    "The tutorial: bentrevett/pytorch-seq2seq notebook 3 as written (benchmarks/tutorial.py: its model with "
    "LSTM cells, its word vocabularies, random batches padded time-major, the attention re-concatenating the "
    "repeated decoder state with the encoder outputs every step, the output layer inside the step loop, a "
    "(T, B, V) logits buffer, one teacher-forcing coin per step at its ratio 0.5, dropout 0.5). Ours: the "
    "same sizes (bidirectional LSTM encoder, H per direction, decoder H, attention H, dropout 0.5, untied), "
    "BPE vocabularies of 8,000 / 6,000, length-bucketed batches, keys projected once, the output layer over "
    "all steps at once, per-token coins below teacher forcing 1.0. Target tokens: non-pad, BOS excluded, "
    "EOS included, on both sides (the tutorial's are words, ours BPE pieces: sentences/s compares the two "
    "without that difference)."
)
TRAIN_HEADER = [
    "loop",
    "batches",
    "TF",
    "target tok/s",
    "sentences/s",
    "x the tutorial as written (tok/s)",
    "(sentences/s)",
    "peak MiB",
]


class Throughput(NamedTuple):
    tokens: float  # target tokens/s
    sentences: float  # sentence pairs/s
    peak_mib: float
    rows: float  # mean sentences per batch


@cache
def word_data() -> tutorial.WordData:
    """Multi30k train tokenized and numericalized the tutorial's way (built once per run)."""
    return tutorial.load_word_data(ROOT / "data" / "multi30k")


# ---------------------------------------------------------------------- the timed training loops
def train_ours(
    cfg: Seq2SeqConfig,
    src,
    tgt,
    ratio: float,
    steps: int,
    device,
    seed: int,
    max_tokens: int,
    max_sentences: int = 0,
    bf16: bool = False,
) -> Throughput:
    torch.manual_seed(seed)
    model = Seq2SeqModel(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = TokenBucketSampler(
        [len(s) for s in src], [len(t) for t in tgt], max_tokens=max_tokens, max_sentences=max_sentences, seed=seed
    )
    batches = sampler.batches(0)[: steps + 2]

    def step(idx):
        b = collate([src[i] for i in idx], [tgt[i] for i in idx], 0, 1).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):  # as the trainer's precision: bf16
            out = model(b.src, b.src_lengths, b.tgt_in, labels=b.labels, teacher_forcing_ratio=ratio)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return b.num_tokens

    rows = statistics.mean(len(b) for b in batches)
    return Throughput(*time_steps(step, batches, device, warmup=2), rows)


def train_tutorial(
    data: tutorial.WordData, embedding: int, hidden: int, batch_size: int, steps: int, device, seed: int
) -> Throughput:
    """The tutorial's training loop (teacher forcing 0.5, Adam, clip 1.0) over its random batches."""
    random.seed(seed)
    torch.manual_seed(seed)
    model = tutorial.build_model(len(data.de_vocab), len(data.en_vocab), device, embedding, hidden)
    optimizer = torch.optim.Adam(model.parameters())
    criterion = torch.nn.CrossEntropyLoss(ignore_index=data.pad_index)
    model.train()
    batches = tutorial.random_batches(len(data), batch_size, seed)[: steps + 2]

    def step(indices):
        batch = data.collate(indices)
        ratio = tutorial.TEACHER_FORCING_RATIO
        tutorial.train_step(model, batch, optimizer, criterion, tutorial.CLIP, ratio, device)
        return int((batch["en_ids"][1:] != data.pad_index).sum())  # non-pad targets after <sos>

    rows = statistics.mean(len(b) for b in batches)
    return Throughput(*time_steps(step, batches, device, warmup=2), rows)


# ---------------------------------------------------------------------- section: train
def tutorial_sizes_config(ctx: Context) -> Seq2SeqConfig:
    """Ours at the tutorial's sizes (the command line's E and H, which default to the tutorial's 256 / 512)."""
    return Seq2SeqConfig(
        src_vocab_size=ctx.tokenizer.src_vocab_size,
        tgt_vocab_size=ctx.tokenizer.tgt_vocab_size,
        embedding_size=ctx.args.embedding,
        hidden_size=ctx.args.hidden,
        attention_size=ctx.args.hidden,
        cell="lstm",
        bidirectional=True,
        attention="bahdanau",
        dropout=tutorial.DROPOUT,
        tie_embeddings=False,
    )


def training_runs(ctx: Context, cfg: Seq2SeqConfig) -> list[tuple]:
    """(loop, batches, teacher forcing, run) for each row of the training table; the first is the reference."""
    args, device, src, tgt = ctx.args, ctx.device, ctx.src, ctx.tgt
    steps, tf, budget = args.train_steps, tutorial.TEACHER_FORCING_RATIO, recipe().batch_tokens
    longest = max(max(map(len, src)), max(map(len, tgt)))

    def theirs(batch_size: int):
        return lambda: train_tutorial(word_data(), args.embedding, args.hidden, batch_size, steps, device, 0)

    def ours(ratio: float, max_tokens: int, **kw):
        return lambda: train_ours(cfg, src, tgt, ratio, steps, device, 0, max_tokens, **kw)

    auto = resolve_precision("auto", device)  # what the toolkit trains in by default on this device
    default_budget = TrainConfig.__dataclass_fields__["batch_tokens"].default
    defaults = f"**ours, the defaults** (precision auto: {auto})"
    runs = [
        ("**the tutorial as written**", f"{tutorial.BATCH_SIZE} random sentences", tf, theirs(tutorial.BATCH_SIZE)),
        ("the tutorial's loop", "32 random sentences", tf, theirs(32)),
        ("ours, fp32", "32 sentences, length-bucketed", tf, ours(tf, 32 * longest, max_sentences=32)),
        ("ours, fp32", f"{budget:,}-token budget, the recipe's", tf, ours(tf, budget)),
        (defaults, f"{default_budget:,}-token budget, the default", tf, ours(tf, default_budget, bf16=auto == "bf16")),
        (
            defaults,
            f"{default_budget:,}-token budget, the default",
            1.0,
            ours(1.0, default_budget, bf16=auto == "bf16"),
        ),
    ]
    return runs


def training_throughput(ctx: Context) -> None:
    """Target tokens/s of the tutorial's loop as written and of ours at the tutorial's sizes, side by side."""
    args, report, data = ctx.args, ctx.report, word_data()
    cfg = tutorial_sizes_config(ctx)
    report.add(
        f"### Training throughput (target tokens/s) against the tutorial as written: LSTM, E {args.embedding}, "
        f"H {args.hidden}, Bahdanau; vocab tutorial {len(data.de_vocab):,} / {len(data.en_vocab):,} words, "
        f"ours {ctx.tokenizer.src_vocab_size:,} / {ctx.tokenizer.tgt_vocab_size:,} BPE"
    )
    report.add()
    report.add(TRAIN_INTRO)
    report.add()
    results = []
    for loop, batches, tf, run in training_runs(ctx, cfg):
        results.append((loop, batches, tf, Throughput(*median_of(run, args.repeats))))
    ref = results[0][3]
    rows = [
        [
            loop,
            f"{batches} ({r.rows:.0f} rows)",
            f"{tf:.1f}",
            f"{r.tokens:,.0f}",
            f"{r.sentences:,.1f}",
            f"**{r.tokens / ref.tokens:.1f}x**",
            f"{r.sentences / ref.sentences:.1f}x",
            f"{r.peak_mib:.0f}",
        ]
        for loop, batches, tf, r in results
    ]
    report.table(TRAIN_HEADER, rows)
    words = statistics.mean(len(t) - 1 for t in data.en_ids)
    flops = train_flops_per_target_token(cfg, ctx.mean_src / ctx.mean_tgt, ctx.mean_src)
    budget_fp32 = next(r for loop, batches, tf, r in results if loop == "ours, fp32" and "recipe" in batches)
    report.add(
        f"Target tokens per sentence: {words:.1f} words (tutorial), {ctx.mean_tgt:.1f} BPE pieces (ours). "
        f"Ours: {flops / 1e6:.0f} MFLOP per target token (matmuls, forward + backward); MFU at the recipe's "
        f"budget, fp32, TF {tutorial.TEACHER_FORCING_RATIO}: {budget_fp32.tokens * flops / (ctx.peak32 * 1e9):.1%}."
    )
    report.add()


# ---------------------------------------------------------------------- section: bundled
def bundled_training(ctx: Context) -> None:
    """Training throughput and MFU at the bundled model's own configuration, against the tutorial's loop
    as written at the same embedding and hidden sizes."""
    cfg, report, args = ctx.translator.config, ctx.report, ctx.args
    budget = recipe().batch_tokens
    report.add(
        f"### The bundled model's configuration ({cfg.cell}, {cfg.attention}, E {cfg.embedding_size}, "
        f"H {cfg.hidden_size}, bidirectional {cfg.bidirectional}, vocab {cfg.src_vocab_size}/"
        f"{cfg.tgt_vocab_size}): training throughput against the tutorial's loop as written at E "
        f"{cfg.embedding_size}, H {cfg.hidden_size}"
    )
    report.add()
    train_cfg = Seq2SeqConfig(**cfg.to_dict())
    src, tgt, device, steps = ctx.src, ctx.tgt, ctx.device, args.train_steps
    theirs = Throughput(
        *median_of(
            lambda: train_tutorial(
                word_data(), cfg.embedding_size, cfg.hidden_size, tutorial.BATCH_SIZE, steps, device, 0
            ),
            args.repeats,
        )
    )
    ours = Throughput(*median_of(lambda: train_ours(train_cfg, src, tgt, 1.0, steps, device, 0, budget), args.repeats))
    flops = train_flops_per_target_token(train_cfg, ctx.mean_src / ctx.mean_tgt, ctx.mean_src)
    report.table(
        [
            "tutorial tok/s (128 sentences, TF 0.5)",
            f"ours tok/s ({budget:,}-token budget, TF 1.0, as the recipe)",
            "x the tutorial as written",
            "(sentences/s)",
            "peak MiB tutorial / ours",
            "MFU fp32",
            "MFU bf16 peak",
        ],
        [
            [
                f"{theirs.tokens:,.0f}",
                f"{ours.tokens:,.0f}",
                f"**{ours.tokens / theirs.tokens:.1f}x**",
                f"{ours.sentences / theirs.sentences:.1f}x",
                f"{theirs.peak_mib:.0f} / {ours.peak_mib:.0f}",
                f"{ours.tokens * flops / (ctx.peak32 * 1e9):.1%}",
                f"{ours.tokens * flops / (ctx.peak16 * 1e9):.1%}",
            ]
        ],
    )


# ---------------------------------------------------------------------- section: quality
def quality(ctx: Context) -> None:
    """Validation BLEU of the fast whole-sequence path against the step-by-step path."""
    report = ctx.report
    report.add("### Quality: fast whole-sequence path vs step-by-step path, same seed and step budget")
    report.add()
    steps = 40 if ctx.args.quick else 300
    bleu_fast, bleu_step = quality_check(ctx.tokenizer, ctx.src, ctx.tgt, ctx.device, steps=steps)
    report.add(
        f"Validation BLEU after the same number of steps (small Bahdanau GRU model, greedy, 300 sentences): "
        f"fast path **{bleu_fast:.2f}**, step path **{bleu_step:.2f}** (difference "
        f"{bleu_fast - bleu_step:+.2f}; the two paths give the same logits up to float rounding)."
    )
    report.add()


def stepwise_loss(model: Seq2SeqModel, b) -> torch.Tensor:
    """Cross-entropy of a batch decoded one `decode_step` at a time under teacher forcing."""
    state = model.encode(b.src, b.src_lengths)
    logits = []
    for t in range(b.tgt_in.size(1)):
        step_logits, _, state = model.decode_step(b.tgt_in[:, t], state)
        logits.append(step_logits)
    logits = torch.stack(logits, 1)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), b.labels.reshape(-1), ignore_index=0)


def quality_check(tokenizer, src, tgt, device, steps: int) -> tuple[float, float]:
    """Train the same small model twice (fast path, step path) and compare validation BLEU."""
    valid = load_multi30k(ROOT / "data" / "multi30k", "validation", "de", "en").select(range(300))
    cfg = Seq2SeqConfig(
        src_vocab_size=tokenizer.src_vocab_size,
        tgt_vocab_size=tokenizer.tgt_vocab_size,
        embedding_size=128,
        hidden_size=128,
        cell="gru",
        attention="bahdanau",
        dropout=0.1,
    )
    results = []
    for stepwise in (False, True):
        torch.manual_seed(0)
        model = Seq2SeqModel(cfg).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sampler = TokenBucketSampler([len(s) for s in src], [len(t) for t in tgt], max_tokens=2000, seed=0)
        batches = sampler.batches(0) + sampler.batches(1)
        for idx in batches[:steps]:
            b = collate([src[i] for i in idx], [tgt[i] for i in idx], 0, 1).to(device)
            loss = stepwise_loss(model, b) if stepwise else model(b.src, b.src_lengths, b.tgt_in, labels=b.labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        hyps = Translator(model, tokenizer).translate(list(valid["src"]), strategy="greedy")
        results.append(corpus_scores([h.text for h in hyps], list(valid["tgt"])).bleu)
    return results[0], results[1]
