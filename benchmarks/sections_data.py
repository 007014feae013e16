"""Data-side benchmark section: how the training pipeline's data preparation scales with the corpus.

For each size a synthetic Multi30k-like corpus (synthetic.py) is written to gzip files in a temporary
folder, and each stage (reading it into a dataset, BPE training, tokenization, bucketing) runs in a
fresh process (data_stages.py) that reports its time and peak resident memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from context import Context, recipe
from synthetic import write_corpus

STAGE_SCRIPT = Path(__file__).resolve().parent / "data_stages.py"
STAGE_LABELS = {  # data_stages.STAGES, in order, with what the table calls them
    "load": "read into a dataset",
    "tokenizer": "BPE training",
    "tokenize": "tokenization (+ length filter, ids for the loop)",
    "bucket": "bucketing (one epoch)",
}


def run_stage(stage: str, corpus: Path, work: Path, threads: int) -> dict:
    """Run one stage in a fresh process; its RESULT line as a dict."""
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)  # the tokenizers library's threads
    done = subprocess.run(
        [sys.executable, str(STAGE_SCRIPT), stage, str(corpus), str(work)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"data stage {stage!r} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def measure_size(pairs: int, folder: Path, threads: int) -> dict:
    """Write a corpus of `pairs` pairs and run every stage on it; {"text_mib": ..., stage: result}."""
    corpus = folder / f"corpus-{pairs}"
    text_bytes = write_corpus(corpus, pairs, seed=0)
    try:
        results = {stage: run_stage(stage, corpus, corpus / "work", threads) for stage in STAGE_LABELS}
    finally:
        shutil.rmtree(corpus, ignore_errors=True)
    return {"text_mib": text_bytes / 2**20, **results}


def cell(result: dict) -> str:
    return (
        f"{result['seconds']:.1f} s, {result['peak_mib']:,.0f} MiB (+{result['peak_mib'] - result['start_mib']:,.0f})"
    )


def growth(first: dict, last: dict) -> str:
    time_ratio = last["seconds"] / max(first["seconds"], 1e-9)
    return f"x{time_ratio:.1f} time, x{last['peak_mib'] / first['peak_mib']:.2f} peak"


def data_scale(ctx: Context) -> None:
    """Time and peak memory of each data-preparation stage at each corpus size, and how they grow."""
    report, args, cfg = ctx.report, ctx.args, recipe()
    sizes = [int(n) for n in args.scale_sizes.split(",")]
    report.add(
        f"### Scale of data: the training pipeline's data preparation on synthetic corpora of "
        f"{', '.join(f'{n:,}' for n in sizes)} pairs"
    )
    report.add()
    report.add(
        "Each corpus recombines Multi30k train (lengths and words of randomly drawn pairs, 30% of the words "
        "redrawn from the running text), gzipped, one file per language. Each stage runs in a fresh process, "
        f"with the recipe's settings (BPE {cfg.vocab_size:,} / {cfg.tgt_vocab_size:,}, separate vocabularies, "
        f"{cfg.batch_tokens:,}-token batches): seconds, peak resident MiB of the process during the stage, and "
        "(+) its growth over the stage's start (interpreter, torch and the stage's inputs)."
    )
    report.add()
    with tempfile.TemporaryDirectory(prefix="seq2seq-scale-") as tmp:
        measured = {n: measure_size(n, Path(tmp), args.threads) for n in sizes}
    rows = []
    for n, m in measured.items():
        rows.append([f"{n:,}", f"{m['text_mib']:.0f}"] + [cell(m[stage]) for stage in STAGE_LABELS])
    first, last = measured[sizes[0]], measured[sizes[-1]]
    rows.append(
        [f"growth x{sizes[-1] / sizes[0]:.0f} pairs", f"x{last['text_mib'] / first['text_mib']:.1f}"]
        + [growth(first[stage], last[stage]) for stage in STAGE_LABELS]
    )
    report.table(["pairs", "text MiB"] + list(STAGE_LABELS.values()), rows)
    peak = max(last[stage]["peak_mib"] for stage in STAGE_LABELS)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    report.add(
        f"At {sizes[-1]:,} pairs: {last['tokenize']['kept']:,} pairs kept, {last['tokenize']['tgt_tokens']:,} "
        f"target tokens, {last['bucket']['batches']:,} batches ({last['bucket']['padding']:.1%} target padding); "
        f"the largest stage peak is {peak:,.0f} MiB, {peak / total:.1%} of this machine's {total / 1024:.0f} GiB."
    )
    report.add()
