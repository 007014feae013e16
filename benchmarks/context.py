"""What every benchmark section shares: the Markdown `Report` (printed as it grows, appended to
BENCHMARKS.md at the end) and the `Context` built once per run: arguments, device, the trained model
or a tokenizer trained here, the tokenized training data, the test sentences and the measured matmul peaks.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import torch
from measure import matmul_peak

from seq2seq_hub import Seq2SeqTokenizer, Translator
from seq2seq_hub.cpu import keep_freed_memory
from seq2seq_hub.data import load_multi30k
from seq2seq_hub.modeling.quantize import onednn_int8_pays
from seq2seq_hub.training import TrainConfig, build_train_parser, load_train_config

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "models" / "multi30k-de-en"
RECIPE = ROOT / "seq2seq_hub" / "training" / "recipes" / "multi30k_de_en.yaml"  # the bundled model's recipe
REPORT_HEADER = (
    "# Benchmarks\n\nWritten by `python benchmarks/run.py` (newest run last). Ratios are measured side by "
    "side in one run: training against the tutorial's own loop (`benchmarks/tutorial.py`), decoding against "
    "the textbook one-sentence-at-a-time greedy (`benchmarks/naive.py`).\n\n"
)


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

    def append_to(self, path: Path) -> None:
        """Append the report to `path`, with the file's header if the file is new."""
        header = "" if path.exists() else REPORT_HEADER
        with open(path, "a", encoding="utf-8") as f:
            f.write(header + "\n".join(self.lines) + "\n\n")
        print(f"appended to {path}")


@dataclass
class Context:
    """One run's shared state, handed to every section."""

    args: argparse.Namespace
    device: torch.device
    report: Report
    model_dir: Path
    tokenizer: Seq2SeqTokenizer
    translator: Translator | None  # one model (an ensemble's first member); None: no trained model, no decoding
    flagship: Translator | None  # the model folder as shipped: the single model, or the whole ensemble
    src: list[list[int]]  # tokenized training sources
    tgt: list[list[int]]  # tokenized training targets
    test_src: list[str]
    test_ref: list[str]
    peak32: float  # measured matmul peaks, GFLOP/s
    peak16: float
    mean_src: float  # mean training source / target lengths in tokens
    mean_tgt: float


@cache
def recipe() -> TrainConfig:
    """The bundled model's training config (seq2seq_hub/training/recipes/multi30k_de_en.yaml): its vocabulary sizes,
    token budget and maximum lengths are the benchmarks' settings for "ours"."""
    return load_train_config(build_train_parser().parse_args(["--config", str(RECIPE)]))


def load_data(tokenizer: Seq2SeqTokenizer, max_train: int):
    train = load_multi30k(ROOT / "data" / "multi30k", "train", "de", "en")
    if max_train:
        train = train.select(range(min(max_train, len(train))))
    src = [e.ids for e in tokenizer.encode_source(train["src"], max_length=128)]
    tgt = [e.ids for e in tokenizer.encode_target(train["tgt"], max_length=160)]
    test = load_multi30k(ROOT / "data" / "multi30k", "test", "de", "en")
    return src, tgt, list(test["src"]), list(test["tgt"])


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows: runs on different CPUs of the
    same architecture differ by up to 100x in int8."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    except OSError:
        names = []
    return (names[0] if names else platform.processor()) or platform.machine()


def add_run_header(report: Report, args: argparse.Namespace, device: torch.device, command: list[str]) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"int8 kernel: {'oneDNN' if onednn_int8_pays() else 'torch._int_mm'}"
    )
    report.add(f"## Run of {stamp} on {args.device}: {machine}")
    report.add()
    report.add(
        f"torch {torch.__version__}, Python {platform.python_version()}, "
        f"`python benchmarks/run.py {' '.join(command)}`; "
        f"medians of {args.repeats} repetitions."
    )
    report.add()


def load_model_or_tokenizer(model_dir: Path, device: torch.device, report: Report):
    """The trained model's translator and tokenizer, or (None, a tokenizer trained here) when there is none."""
    if (model_dir / "config.json").is_file():
        translator = Translator.from_pretrained(model_dir, device=device)
        return translator, translator.tokenizer
    report.add(f"(no trained model at {model_dir}: decoding sections skipped; tokenizer trained here)")
    train = load_multi30k(ROOT / "data" / "multi30k", "train", "de", "en")
    tokenizer = Seq2SeqTokenizer.train(train["src"], train["tgt"], vocab_size=8000, joint=False, target_vocab_size=6000)
    return None, tokenizer


def build_context(args: argparse.Namespace, command: list[str]) -> Context:
    """Set threads and malloc policy, write the run's header, load the model and data, measure the matmul peak."""
    if args.threads:
        torch.set_num_threads(args.threads)
    kept = keep_freed_memory()  # as training/train.py does; applies to the naive reference and ours alike
    device = torch.device(args.device)
    report = Report()
    add_run_header(report, args, device, command)
    model_dir = Path(args.model)
    flagship, tokenizer = load_model_or_tokenizer(model_dir, device, report)
    translator = flagship
    if flagship is not None and len(flagship.members) > 1:  # implementation speed: one model against the naive one
        translator = Translator(flagship.members[0], tokenizer, generation_options=flagship.generation_options)
        report.add(f"({model_dir.name} is an ensemble of {len(flagship.members)}: speed tables use its first member)")
    src, tgt, test_src, test_ref = load_data(tokenizer, 0)
    peak32 = matmul_peak(device, torch.float32)
    peak16 = matmul_peak(device, torch.bfloat16)
    report.add(
        f"Measured matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s. "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"freed memory kept by malloc (seq2seq_hub/cpu.py): {'yes' if kept else 'no'}."
    )
    report.add()
    return Context(
        args=args,
        device=device,
        report=report,
        model_dir=model_dir,
        tokenizer=tokenizer,
        translator=translator,
        flagship=flagship,
        src=src,
        tgt=tgt,
        test_src=test_src,
        test_ref=test_ref,
        peak32=peak32,
        peak16=peak16,
        mean_src=statistics.mean(len(s) for s in src),
        mean_tgt=statistics.mean(len(t) for t in tgt),
    )
