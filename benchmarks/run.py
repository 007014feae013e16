#!/usr/bin/env python
"""Speed / memory / quality harness: the library against a textbook reference, side by side.

    python benchmarks/run.py [--quick] [--repeats 3] [--train-steps 12] [--device cpu|cuda] [--no-write]

Prints a Markdown report and appends it, with machine info, to BENCHMARKS.md. Every figure is
measured in this one run, next to the naive reference (benchmarks/naive.py) at the same sizes, and
quoted as a median with its ratio to the reference: machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import os

# OMP_WAIT_POLICY is left as the environment has it: PASSIVE (what training/train.py sets, good on a shared
# machine) roughly doubles the latency of single-sentence decoding, which runs many tiny ops.
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from naive import NaiveSeq2Seq, naive_batches, pad, textbook_greedy  # noqa: E402

from seq2seq_hub import Seq2SeqConfig, Seq2SeqModel, Seq2SeqTokenizer, Translator  # noqa: E402
from seq2seq_hub.cpu import keep_freed_memory, release_freed_memory  # noqa: E402
from seq2seq_hub.data import TokenBucketSampler, collate, load_multi30k  # noqa: E402
from seq2seq_hub.metrics import corpus_scores  # noqa: E402

BUNDLED = ROOT / "models" / "multi30k-de-en"


# ---------------------------------------------------------------------- measurement helpers
class PeakMemory:
    """Peak resident memory (CPU, sampled from /proc) or peak allocated CUDA memory, in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            release_freed_memory()  # else memory that malloc keeps from earlier runs hides the growth
            self.base = self._rss()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mib = (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        else:
            self._stop.set()
            self.thread.join()
            self.peak_mib = max(self.peak - self.base, 0) / 2**20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """Measured matmul throughput in GFLOP/s (the machine's practical peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def train_flops_per_target_token(cfg: Seq2SeqConfig, src_per_tgt: float, src_len: float) -> float:
    """Matmul FLOPs of one training step per target token (forward x 3 for forward + backward)."""
    e, h, c, v = cfg.embedding_size, cfg.hidden_size, cfg.encoder_output_size, cfg.tgt_vocab_size
    gates = 4 if cfg.cell == "lstm" else 3
    d = cfg.num_directions
    enc = 2 * d * gates * h * (e + h) * src_per_tgt
    if cfg.attention == "bahdanau":
        a = cfg.attention_hidden_size
        dec = 2 * gates * h * (e + c + h) + 2 * h * a + 2 * src_len * (a + c) + 2 * (h + c + e) * e
        keys = 2 * c * a * src_per_tgt
    elif cfg.attention == "luong":
        dec = 2 * gates * h * (e + h) + 2 * src_len * (h + c) + 2 * (h + c) * e
        keys = 2 * c * h * src_per_tgt if cfg.luong_score == "general" else 0
    else:
        dec, keys = 2 * gates * h * (e + h) + 2 * (h + e) * e, 0
    return 3 * (enc + keys + dec + 2 * e * v)


# ---------------------------------------------------------------------- data
def load_data(tokenizer: Seq2SeqTokenizer, max_train: int):
    train = load_multi30k(ROOT / "data" / "multi30k", "train", "de", "en")
    if max_train:
        train = train.select(range(min(max_train, len(train))))
    src = [e.ids for e in tokenizer.encode_source(train["src"], max_length=128)]
    tgt = [e.ids for e in tokenizer.encode_target(train["tgt"], max_length=160)]
    test = load_multi30k(ROOT / "data" / "multi30k", "test", "de", "en")
    return src, tgt, list(test["src"]), list(test["tgt"])


# ---------------------------------------------------------------------- training throughput
def time_steps(step_fn, batches, device, warmup: int) -> tuple[float, float]:
    """Run warm-up steps, then time the rest; returns (target tokens/s, peak MiB over all steps).

    Memory is measured from the warm-up on (malloc's kept memory released first), so the first
    touches of new memory happen before the timed steps."""
    tokens = 0
    with PeakMemory(device) as mem:
        for b in batches[:warmup]:
            step_fn(b)
        sync(device)
        start = time.perf_counter()
        for b in batches[warmup:]:
            tokens += step_fn(b)
        sync(device)
        elapsed = time.perf_counter() - start
    return tokens / elapsed, mem.peak_mib


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


# ---------------------------------------------------------------------- report
class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.add("| " + " | ".join(header) + " |")
        self.add("|" + "---|" * len(header))
        for r in rows:
            self.add("| " + " | ".join(r) + " |")
        self.add()


def median_of(fn, repeats: int):
    results = [fn() for _ in range(repeats)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))
    return statistics.median(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and sentences (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per figure (the median is reported)")
    parser.add_argument("--train-steps", type=int, default=12, help="timed training steps per measurement")
    parser.add_argument("--decode-sentences", type=int, default=1000, help="test sentences for batched decoding")
    parser.add_argument("--naive-sentences", type=int, default=150, help="sentences for one-at-a-time decoding")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size of the comparison models")
    parser.add_argument("--embedding", type=int, default=256)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument(
        "--sections",
        default="train,decode,latency,scaling,bundled,quality",
        help="comma-separated subset of: train,decode,latency,scaling,bundled,quality",
    )
    parser.add_argument("--model", default=str(BUNDLED), help="trained model folder for the decoding figures")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown file to append to")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.train_steps, args.decode_sentences, args.naive_sentences = 1, 4, 200, 30
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as training/train.py does; applies to the naive reference and ours alike
    device = torch.device(args.device)
    sections = set(args.sections.split(","))
    report = Report()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads"
    )
    report.add(f"## Run of {stamp} on {args.device}: {machine}")
    report.add()
    report.add(
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"`python benchmarks/run.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
        f"medians of {args.repeats} repetitions."
    )
    report.add()

    model_dir = Path(args.model)
    have_model = (model_dir / "model.safetensors").is_file()
    if have_model:
        translator = Translator.from_pretrained(model_dir, device=device)
        tokenizer = translator.tokenizer
    else:
        report.add(f"(no trained model at {model_dir}: decoding sections skipped; tokenizer trained here)")
        train = load_multi30k(ROOT / "data" / "multi30k", "train", "de", "en")
        tokenizer = Seq2SeqTokenizer.train(
            train["src"], train["tgt"], vocab_size=8000, joint=False, target_vocab_size=6000
        )
        translator = None
    src, tgt, test_src, test_ref = load_data(tokenizer, 0)
    peak32 = matmul_peak(device, torch.float32)
    peak16 = matmul_peak(device, torch.bfloat16)
    report.add(
        f"Measured matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s. "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"freed memory kept by malloc (seq2seq_hub/cpu.py): {'yes' if kept else 'no'}."
    )
    report.add()
    mean_src = statistics.mean(len(s) for s in src)
    mean_tgt = statistics.mean(len(t) for t in tgt)

    base = dict(
        src_vocab_size=tokenizer.src_vocab_size,
        tgt_vocab_size=tokenizer.tgt_vocab_size,
        embedding_size=args.embedding,
        hidden_size=args.hidden,
        cell="lstm",
        bidirectional=False,
        tie_embeddings=False,
        dropout=0.0,
        luong_score="general",
    )

    if "train" in sections:
        report.add(
            f"### Training throughput (target tokens/s), LSTM, E {args.embedding}, H {args.hidden}, "
            f"vocab {tokenizer.src_vocab_size}/{tokenizer.tgt_vocab_size}"
        )
        report.add()
        report.add(
            "Naive: random batches of 32 padded to their longest, one step per Python iteration, keys "
            "re-projected every step, output layer in the loop, one teacher-forcing coin per step. Ours: "
            "length buckets under a token budget (about 32 sentences per batch, the same as naive, and "
            "the bundled config's 3,000 tokens), keys projected once, output layer over all steps at once, "
            "a whole-sequence RNN call for Luong / none at teacher forcing 1.0, per-token coins below 1.0."
        )
        report.add()
        budget32 = int(32 * statistics.mean(max(len(s), len(t)) for s, t in zip(src, tgt)))
        rows = []
        for attention in ("bahdanau", "luong", "none"):
            cfg = Seq2SeqConfig(**base, attention=attention)
            flops = train_flops_per_target_token(cfg, mean_src / mean_tgt, mean_src)
            for ratio in (1.0, 0.5):
                naive_tps, naive_mem = median_of(
                    lambda: train_naive(cfg, src, tgt, ratio, args.train_steps, device, 0), args.repeats
                )
                ours_tps, ours_mem, rows_per = median_of(
                    lambda: train_ours(cfg, src, tgt, ratio, budget32, args.train_steps, device, 0), args.repeats
                )
                big_tps, big_mem, big_rows = median_of(
                    lambda: train_ours(cfg, src, tgt, ratio, 3000, args.train_steps, device, 0), args.repeats
                )
                bf16_tps, _, _ = median_of(
                    lambda: train_ours(cfg, src, tgt, ratio, 3000, args.train_steps, device, 0, bf16=True),
                    args.repeats,
                )
                mfu = big_tps * flops / (peak32 * 1e9)
                rows.append(
                    [
                        attention,
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
                )
        report.table(
            [
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
            ],
            rows,
        )

    if translator is not None and "decode" in sections:
        n = min(args.decode_sentences, len(test_src))
        sents = test_src[:n]
        report.add(
            f"### Decoding throughput (sentences/s), bundled model `{model_dir.name}`, {n} test_2016_flickr sentences"
        )
        report.add()
        naive_n = min(args.naive_sentences, n)
        encoded = [e.ids for e in tokenizer.encode_source(test_src[:naive_n], max_length=128)]

        def naive_run():
            start = time.perf_counter()
            for ids in encoded:
                textbook_greedy(translator.model, ids, 2 * len(ids) + 10)
            return naive_n / (time.perf_counter() - start)

        def ours(strategy, beam, batch, dtype=None):
            def run():
                translator.compute_dtype = dtype
                start = time.perf_counter()
                hyps = translator.translate(sents, strategy=strategy, beam_size=beam, batch_size=batch)
                sync(device)
                speed = n / (time.perf_counter() - start)
                translator.compute_dtype = None
                bleu[(strategy, beam, dtype)] = corpus_scores([h.text for h in hyps], test_ref[:n]).bleu
                return speed

            return run

        bleu: dict = {}

        for dtype in (None, torch.bfloat16):  # warm-up: oneDNN builds its bf16 kernels once per matmul shape
            translator.compute_dtype = dtype
            for batch in (128, 256):
                translator.translate(sents, strategy="greedy", batch_size=batch)
                translator.translate(sents, beam_size=5, batch_size=batch // 2)
        translator.compute_dtype = None
        for ids in encoded[:10]:
            textbook_greedy(translator.model, ids, 2 * len(ids) + 10)
        naive = median_of(naive_run, args.repeats)
        rows = [["naive greedy, one at a time", f"{naive:.1f}", "1.0x", ""]]
        bf16 = torch.bfloat16
        for label, strategy, beam, batch, dtype in (
            ("greedy, batch 64", "greedy", 1, 64, None),
            ("greedy, batch 128", "greedy", 1, 128, None),
            ("greedy, batch 128, bf16 autocast", "greedy", 1, 128, bf16),
            ("greedy, batch 256, bf16 autocast", "greedy", 1, 256, bf16),
            ("beam 5, batch 32", "beam", 5, 32, None),
            ("beam 5, batch 64", "beam", 5, 64, None),
            ("beam 5, batch 64, bf16 autocast", "beam", 5, 64, bf16),
            ("beam 5, batch 128, bf16 autocast", "beam", 5, 128, bf16),
        ):
            value = median_of(ours(strategy, beam, batch, dtype), args.repeats)
            rows.append(
                [f"ours {label}", f"{value:.1f}", f"**{value / naive:.1f}x**", f"{bleu[(strategy, beam, dtype)]:.2f}"]
            )
        report.table(["decoder", "sentences/s", "ratio to naive", f"test BLEU ({n} sentences)"], rows)

    if translator is not None and "latency" in sections:
        fifteen = [s for s in test_src if len(s.split()) == 15][:20] or test_src[:20]
        for dtype, label in ((None, "float32"), (torch.bfloat16, "bf16 autocast")):
            translator.compute_dtype = dtype
            translator.translate(fifteen[0], beam_size=5)
            times = []
            for _ in range(max(args.repeats, 2)):
                for s in fifteen:
                    start = time.perf_counter()
                    translator.translate(s, beam_size=5)
                    sync(device)
                    times.append((time.perf_counter() - start) * 1000)
            times.sort()
            p50 = statistics.median(times)
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            report.add(
                f"### Single-sentence latency, beam 5, {label}, {len(fifteen)} fifteen-word sentences x "
                f"{max(args.repeats, 2)}: p50 **{p50:.1f} ms**, p95 **{p95:.1f} ms**"
            )
            report.add()
        translator.compute_dtype = None

    if translator is not None and "scaling" in sections:
        report.add("### Scaling: decode time against source length (beam 5 and greedy, batch of 16)")
        report.add()
        words = " ".join(test_src).split()
        rows = []
        for target_tokens in (10, 20, 40, 80):
            texts = []
            for i in range(16):
                start = (i * 97) % (len(words) - 200)
                n_words = max(1, int(target_tokens / 1.4))
                texts.append(" ".join(words[start : start + n_words]))
            real = statistics.mean(len(e.ids) for e in tokenizer.encode_source(texts))
            g = median_of(lambda: _timed(lambda: translator.translate(texts, strategy="greedy"), device), args.repeats)
            b = median_of(lambda: _timed(lambda: translator.translate(texts, beam_size=5), device), args.repeats)
            rows.append([f"{real:.0f}", f"{g * 1000:.0f}", f"{b * 1000:.0f}"])
        report.table(["source tokens (mean)", "greedy ms / 16 sentences", "beam 5 ms / 16 sentences"], rows)
        report.add("### Scaling: throughput against batch size (test sentences)")
        report.add()
        rows = []
        for batch in (1, 8, 32, 128):
            texts = test_src[: max(batch * 2, 32)]
            g = median_of(
                lambda: (
                    len(texts)
                    / _timed(lambda: translator.translate(texts, strategy="greedy", batch_size=batch), device)
                ),
                args.repeats,
            )
            b = median_of(
                lambda: len(texts) / _timed(lambda: translator.translate(texts, beam_size=5, batch_size=batch), device),
                args.repeats,
            )
            rows.append([str(batch), f"{g:.1f}", f"{b:.1f}"])
        report.table(["batch size", "greedy sentences/s", "beam 5 sentences/s"], rows)

    if translator is not None and "bundled" in sections:
        cfg = translator.config
        report.add(
            f"### The bundled model's configuration ({cfg.cell}, {cfg.attention}, E {cfg.embedding_size}, "
            f"H {cfg.hidden_size}, bidirectional {cfg.bidirectional}, vocab {cfg.src_vocab_size}/"
            f"{cfg.tgt_vocab_size}): training throughput"
        )
        report.add()
        train_cfg = Seq2SeqConfig(**{**cfg.to_dict(), "dropout": cfg.dropout})
        naive_tps, _ = median_of(
            lambda: train_naive(train_cfg, src, tgt, 1.0, args.train_steps, device, 0), args.repeats
        )
        ours_tps, ours_mem, rows_per = median_of(
            lambda: train_ours(train_cfg, src, tgt, 1.0, 3000, args.train_steps, device, 0), args.repeats
        )
        flops = train_flops_per_target_token(train_cfg, mean_src / mean_tgt, mean_src)
        report.table(
            ["naive tok/s", "ours tok/s (3000-token budget)", "ratio", "peak MiB", "MFU fp32", "MFU bf16 peak"],
            [
                [
                    f"{naive_tps:,.0f}",
                    f"{ours_tps:,.0f}",
                    f"**{ours_tps / naive_tps:.1f}x**",
                    f"{ours_mem:.0f}",
                    f"{ours_tps * flops / (peak32 * 1e9):.1%}",
                    f"{ours_tps * flops / (peak16 * 1e9):.1%}",
                ]
            ],
        )

    if "quality" in sections:
        report.add("### Quality: fast whole-sequence path vs step-by-step path, same seed and step budget")
        report.add()
        bleu_fast, bleu_step = quality_check(tokenizer, src, tgt, device, steps=40 if args.quick else 300)
        report.add(
            f"Validation BLEU after the same number of steps (small Bahdanau GRU model, greedy, 300 sentences): "
            f"fast path **{bleu_fast:.2f}**, step path **{bleu_step:.2f}** (difference "
            f"{bleu_fast - bleu_step:+.2f}; the two paths give the same logits up to float rounding)."
        )
        report.add()

    if not args.no_write:
        path = Path(args.output)
        header = (
            ""
            if path.exists()
            else (
                "# Benchmarks\n\nWritten by `python benchmarks/run.py` (newest run last). Ratios are measured side by "
                "side in one run against the textbook reference in `benchmarks/naive.py`.\n\n"
            )
        )
        with open(path, "a", encoding="utf-8") as f:
            f.write(header + "\n".join(report.lines) + "\n\n")
        print(f"appended to {path}")
    return 0


def _timed(fn, device) -> float:
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


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
            if stepwise:
                state = model.encode(b.src, b.src_lengths)
                logits = []
                for t in range(b.tgt_in.size(1)):
                    step_logits, _, state = model.decode_step(b.tgt_in[:, t], state)
                    logits.append(step_logits)
                logits = torch.stack(logits, 1)
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), b.labels.reshape(-1), ignore_index=0
                )
            else:
                loss = model(b.src, b.src_lengths, b.tgt_in, labels=b.labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        hyps = Translator(model, tokenizer).translate(list(valid["src"]), strategy="greedy")
        results.append(corpus_scores([h.text for h in hyps], list(valid["tgt"])).bleu)
    return results[0], results[1]


if __name__ == "__main__":
    sys.exit(main())
