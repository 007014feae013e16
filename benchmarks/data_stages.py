#!/usr/bin/env python
"""One stage of the training pipeline's data preparation, run in a fresh process so that its time and
peak memory are its own; the data-scale section (sections_data.py) starts one per stage and corpus size.

    python benchmarks/data_stages.py {load,tokenizer,tokenize,bucket} CORPUS_DIR WORK_DIR

Each stage calls what `seq2seq_hub.training.prepare` calls, with the bundled recipe's settings. What a
stage needs (the corpus read into a dataset, the tokenizer, the lengths) is made or read from WORK_DIR,
where the earlier stages left it, before the clock starts; then malloc's free memory is handed back,
the process's peak-RSS mark (VmHWM) is reset and the stage runs. Prints one line `RESULT {json}`:
seconds, resident MiB when the stage began, peak resident MiB during the stage, and what it made.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import datasets  # noqa: E402
import numpy as np  # noqa: E402
from context import recipe  # noqa: E402

from seq2seq_hub import Seq2SeqConfig, Seq2SeqTokenizer  # noqa: E402
from seq2seq_hub.cpu import keep_freed_memory, release_freed_memory  # noqa: E402
from seq2seq_hub.data import load_parallel_files, padding_ratio  # noqa: E402
from seq2seq_hub.training.prepare import bucket_sampler, tokenize_train, train_tokenizer  # noqa: E402

STAGES = ("load", "tokenizer", "tokenize", "bucket")


def status_mib(field: str) -> float:
    """A /proc/self/status memory field (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def load_corpus(corpus: Path):
    return load_parallel_files(f"{corpus}/train.de.gz,{corpus}/train.en.gz", "de", "en")


# ---------------------------------------------------------------------- stages: (setup, timed run)
def setup(stage: str, corpus: Path, work: Path) -> dict:
    """The stage's inputs, made before the clock starts."""
    if stage == "load":
        return {}
    if stage == "tokenizer":
        return {"train": load_corpus(corpus)}
    if stage == "tokenize":
        tokenizer = Seq2SeqTokenizer.from_pretrained(work / "tokenizer")
        sizes = {"src_vocab_size": tokenizer.src_vocab_size, "tgt_vocab_size": tokenizer.tgt_vocab_size}
        config = Seq2SeqConfig(**{**recipe().model, **sizes})  # only its maximum lengths are read
        return {"train": load_corpus(corpus), "tokenizer": tokenizer, "config": config}
    lengths = np.load(work / "lengths.npz")
    return {"src": lengths["src"].tolist(), "tgt": lengths["tgt"].tolist()}


def run(stage: str, inputs: dict, corpus: Path, work: Path) -> dict:
    """Run the stage; returns what it made (counts), having saved what later stages read."""
    if stage == "load":
        train = load_corpus(corpus)
        return {"pairs": len(train), "arrow_mib": train.data.nbytes / 2**20}
    if stage == "tokenizer":
        tokenizer = train_tokenizer(recipe(), inputs["train"])
        tokenizer.save(work / "tokenizer")
        return {"src_vocab": tokenizer.src_vocab_size, "tgt_vocab": tokenizer.tgt_vocab_size}
    if stage == "tokenize":
        kept, src, tgt = tokenize_train(inputs["train"], inputs["tokenizer"], inputs["config"])
        src_lengths, tgt_lengths = src.lengths(), tgt.lengths()
        np.savez(work / "lengths.npz", src=np.array(src_lengths), tgt=np.array(tgt_lengths))
        return {"kept": len(kept), "src_tokens": sum(src_lengths), "tgt_tokens": sum(tgt_lengths)}
    sampler = bucket_sampler(recipe(), inputs["src"], inputs["tgt"], rank=0, world=1)
    batches = sampler.batches(0)
    return {"batches": len(batches), "padding": padding_ratio(batches, inputs["tgt"])}


def main(argv: list[str]) -> int:
    stage, corpus, work = argv[0], Path(argv[1]), Path(argv[2])
    if stage not in STAGES:
        raise SystemExit(f"stage must be one of {STAGES}, got {stage!r}")
    work.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()
    keep_freed_memory()  # as training/train.py runs
    inputs = setup(stage, corpus, work)
    gc.collect()
    release_freed_memory()
    start_mib = status_mib("VmRSS")
    peak_reset = reset_peak()
    start = time.perf_counter()
    made = run(stage, inputs, corpus, work)
    seconds = time.perf_counter() - start
    result = {"stage": stage, "seconds": seconds, "start_mib": start_mib, "peak_mib": status_mib("VmHWM")}
    print("RESULT " + json.dumps({**result, "peak_reset": peak_reset, **made}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
