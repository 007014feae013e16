"""Training-side benchmark sections: training throughput of ours against the naive reference at the
comparison sizes and at the bundled model's configuration, and the fast-path vs step-path quality check.
Also owns the two training loops they time (`train_ours`, `train_naive`).
"""

from __future__ import annotations

import random
import statistics

import torch
from context import ROOT, Context
from measure import median_of, time_steps, train_flops_per_target_token
from naive import NaiveSeq2Seq, naive_batches, pad

from seq2seq_hub import Seq2SeqConfig, Seq2SeqModel, Translator
from seq2seq_hub.data import TokenBucketSampler, collate, load_multi30k
from seq2seq_hub.metrics import corpus_scores

TRAIN_INTRO = (
    "Naive: random batches of 32 padded to their longest, one step per Python iteration, keys "
    "re-projected every step, output layer in the loop, one teacher-forcing coin per step. Ours: "
    "length buckets under a token budget (about 32 sentences per batch, the same as naive, and "
    "the bundled config's 3,000 tokens), keys projected once, output layer over all steps at once, "
    "a whole-sequence RNN call for Luong / none at teacher forcing 1.0, per-token coins below 1.0."
)
TRAIN_HEADER = [
    "attention",
    "TF",
    "naive tok/s",
    "ours, ~32 rows",
    "ratio",
    "ours, 3000-token budget",
    "ratio",
    "ours-3000, bf16 autocast (ratio)",
    "peak MiB naive / ours / ours-3000",
    "MFLOP/token",
    "MFU (fp32, 3000)",
]


# ---------------------------------------------------------------------- the timed training loops
def train_ours(
    cfg: Seq2SeqConfig, src, tgt, ratio: float, budget: int, steps: int, device, seed: int, bf16: bool = False
):
    torch.manual_seed(seed)
    model = Seq2SeqModel(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = TokenBucketSampler([len(s) for s in src], [len(t) for t in tgt], max_tokens=budget, seed=seed)
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
    tps, mem = time_steps(step, batches, device, warmup=2)
    return tps, mem, rows


def train_naive(cfg: Seq2SeqConfig, src, tgt, ratio: float, steps: int, device, seed: int):
    torch.manual_seed(seed)
    random.seed(seed)
    model = (
        NaiveSeq2Seq(
            cfg.src_vocab_size,
            cfg.tgt_vocab_size,
            cfg.embedding_size,
            cfg.hidden_size,
            cfg.cell,
            cfg.attention,
            cfg.bidirectional,
        )
        .to(device)
        .train()
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = naive_batches(len(src), 32, seed)[: steps + 2]

    def step(idx):
        s = pad([src[i] for i in idx]).to(device)
        labels = pad([tgt[i] for i in idx]).to(device)
        tgt_in = torch.cat([torch.ones_like(labels[:, :1]), labels[:, :-1]], 1).masked_fill(labels == 0, 0)
        tgt_in[:, 0] = 1
        loss = model(s, tgt_in, labels, teacher_forcing_ratio=ratio)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return int((labels != 0).sum())

    tps, mem = time_steps(step, batches, device, warmup=2)
    return tps, mem


# ---------------------------------------------------------------------- section: train
def comparison_config(ctx: Context, attention: str) -> Seq2SeqConfig:
    """The LSTM comparison model at the command line's sizes, with the given attention."""
    return Seq2SeqConfig(
        src_vocab_size=ctx.tokenizer.src_vocab_size,
        tgt_vocab_size=ctx.tokenizer.tgt_vocab_size,
        embedding_size=ctx.args.embedding,
        hidden_size=ctx.args.hidden,
        cell="lstm",
        bidirectional=False,
        tie_embeddings=False,
        dropout=0.0,
        luong_score="general",
        attention=attention,
    )


def train_row(ctx: Context, cfg: Seq2SeqConfig, ratio: float, budget32: int) -> list[str]:
    """One row of the training table: naive, ours at ~32 rows, ours at 3000 tokens (fp32 and bf16)."""
    src, tgt, steps, device, repeats = ctx.src, ctx.tgt, ctx.args.train_steps, ctx.device, ctx.args.repeats
    flops = train_flops_per_target_token(cfg, ctx.mean_src / ctx.mean_tgt, ctx.mean_src)
    naive_tps, naive_mem = median_of(lambda: train_naive(cfg, src, tgt, ratio, steps, device, 0), repeats)
    ours_tps, ours_mem, rows_per = median_of(
        lambda: train_ours(cfg, src, tgt, ratio, budget32, steps, device, 0), repeats
    )
    big_tps, big_mem, big_rows = median_of(lambda: train_ours(cfg, src, tgt, ratio, 3000, steps, device, 0), repeats)
    bf16_tps, _, _ = median_of(
        lambda: train_ours(cfg, src, tgt, ratio, 3000, steps, device, 0, bf16=True),
        repeats,
    )
    mfu = big_tps * flops / (ctx.peak32 * 1e9)
    return [
        cfg.attention,
        f"{ratio:.1f}",
        f"{naive_tps:,.0f}",
        f"{ours_tps:,.0f} ({rows_per:.0f} rows)",
        f"**{ours_tps / naive_tps:.1f}x**",
        f"{big_tps:,.0f} ({big_rows:.0f} rows)",
        f"**{big_tps / naive_tps:.1f}x**",
        f"{bf16_tps:,.0f} ({bf16_tps / naive_tps:.1f}x)",
        f"{naive_mem:.0f} / {ours_mem:.0f} / {big_mem:.0f}",
        f"{flops / 1e6:.0f}",
        f"{mfu:.1%}",
    ]


def training_throughput(ctx: Context) -> None:
    """Target tokens/s of ours against the naive reference, per attention and teacher-forcing ratio."""
    args, report = ctx.args, ctx.report
    report.add(
        f"### Training throughput (target tokens/s), LSTM, E {args.embedding}, H {args.hidden}, "
        f"vocab {ctx.tokenizer.src_vocab_size}/{ctx.tokenizer.tgt_vocab_size}"
    )
    report.add()
    report.add(TRAIN_INTRO)
    report.add()
    budget32 = int(32 * statistics.mean(max(len(s), len(t)) for s, t in zip(ctx.src, ctx.tgt)))
    rows = []
    for attention in ("bahdanau", "luong", "none"):
        cfg = comparison_config(ctx, attention)
        for ratio in (1.0, 0.5):
            rows.append(train_row(ctx, cfg, ratio, budget32))
    report.table(TRAIN_HEADER, rows)


# ---------------------------------------------------------------------- section: bundled
def bundled_training(ctx: Context) -> None:
    """Training throughput and MFU at the bundled model's own configuration."""
    cfg, report, args = ctx.translator.config, ctx.report, ctx.args
    report.add(
        f"### The bundled model's configuration ({cfg.cell}, {cfg.attention}, E {cfg.embedding_size}, "
        f"H {cfg.hidden_size}, bidirectional {cfg.bidirectional}, vocab {cfg.src_vocab_size}/"
        f"{cfg.tgt_vocab_size}): training throughput"
    )
    report.add()
    train_cfg = Seq2SeqConfig(**{**cfg.to_dict(), "dropout": cfg.dropout})
    src, tgt, device = ctx.src, ctx.tgt, ctx.device
    naive_tps, _ = median_of(lambda: train_naive(train_cfg, src, tgt, 1.0, args.train_steps, device, 0), args.repeats)
    ours_tps, ours_mem, rows_per = median_of(
        lambda: train_ours(train_cfg, src, tgt, 1.0, 3000, args.train_steps, device, 0), args.repeats
    )
    flops = train_flops_per_target_token(train_cfg, ctx.mean_src / ctx.mean_tgt, ctx.mean_src)
    report.table(
        ["naive tok/s", "ours tok/s (3000-token budget)", "ratio", "peak MiB", "MFU fp32", "MFU bf16 peak"],
        [
            [
                f"{naive_tps:,.0f}",
                f"{ours_tps:,.0f}",
                f"**{ours_tps / naive_tps:.1f}x**",
                f"{ours_mem:.0f}",
                f"{ours_tps * flops / (ctx.peak32 * 1e9):.1%}",
                f"{ours_tps * flops / (ctx.peak16 * 1e9):.1%}",
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
