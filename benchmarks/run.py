#!/usr/bin/env python
"""Speed / memory / quality harness: the library against reference implementations, side by side.

    python benchmarks/run.py [--quick] [--repeats 3] [--train-steps 12] [--device cpu|cuda] [--no-write]
        [--sections train,decode,...] [--scale-sizes 100000,300000,1000000]

Prints a Markdown report and appends it, with machine info, to BENCHMARKS.md. Every figure is
measured in this one run, next to its reference at the same sizes (training: the tutorial's own loop,
benchmarks/tutorial.py; decoding: the textbook one-sentence-at-a-time greedy, benchmarks/naive.py),
and quoted as a median with its ratio to the reference: machines here are shared and noisy. The
data_scale section measures the data preparation on synthetic corpora of growing size.
"""

# This module owns the command line and the registry of sections; the sections live in
# sections_train.py / sections_decode.py / sections_data.py, the shared run state in context.py, the
# timing helpers in measure.py.
#
# OMP_WAIT_POLICY is left as the environment has it: PASSIVE (what training/train.py sets, good on a shared
# machine) roughly doubles the latency of single-sentence decoding, which runs many tiny ops.

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import BUNDLED, Context, build_context  # noqa: E402
from sections_data import data_scale  # noqa: E402
from sections_decode import (  # noqa: E402
    batched_decoding,
    decode_scaling,
    flagship_throughput,
    single_sentence_latency,
)
from sections_train import bundled_training, quality, training_throughput  # noqa: E402


@dataclass(frozen=True)
class Section:
    name: str  # what --sections selects it by
    fn: Callable[[Context], None]
    needs_model: bool = False  # skipped when there is no trained model


SECTIONS = (  # in report order, whatever order --sections names them in
    Section("train", training_throughput),
    Section("decode", batched_decoding, needs_model=True),
    Section("latency", single_sentence_latency, needs_model=True),
    Section("flagship", flagship_throughput, needs_model=True),
    Section("scaling", decode_scaling, needs_model=True),
    Section("bundled", bundled_training, needs_model=True),
    Section("quality", quality),
    Section("data_scale", data_scale),
)
SECTION_NAMES = ",".join(s.name for s in SECTIONS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    parser.add_argument("--sections", default=SECTION_NAMES, help=f"comma-separated subset of: {SECTION_NAMES}")
    parser.add_argument(
        "--scale-sizes",
        help="pairs per corpus in the data_scale section (default 100000,300000,1000000; --quick: 5000,15000,50000)",
    )
    parser.add_argument("--model", default=str(BUNDLED), help="trained model folder for the decoding figures")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="the Markdown file to append to")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.train_steps, args.decode_sentences, args.naive_sentences = 1, 4, 200, 30
    if args.scale_sizes is None:
        args.scale_sizes = "5000,15000,50000" if args.quick else "100000,300000,1000000"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ctx = build_context(args, argv if argv is not None else sys.argv[1:])
    chosen = set(args.sections.split(","))
    for section in SECTIONS:
        if section.name in chosen and (ctx.translator is not None or not section.needs_model):
            section.fn(ctx)
    if not args.no_write:
        ctx.report.append_to(Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
