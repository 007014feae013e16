#!/usr/bin/env python
"""Memory of the demo serving the whole model zoo: resident memory as every model is loaded in turn.

    python benchmarks/demo_memory.py [--models-dir models] [--max-loaded-models N ...] [--no-write]

Starts `python app.py` (the zoo of `--models-dir`, the app's default precision) once per cap given with
`--max-loaded-models` (default: the app's cap, and one that holds every model), sends one `compare`
request per model of the zoo (the model in the first column, so that it is loaded and decodes), and
reads the server's resident memory (VmRSS) after each and its peak (VmHWM) at the end. Appends a report
to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from app_process import ROOT, publish, rss_mib, start_app, stop_app, wait_ready

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(ROOT))


def first_test_line(lang: str) -> str:
    with gzip.open(ROOT / "data" / "multi30k" / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
        return next(f).strip()


def load_every_model(models_dir: str, cap: int) -> dict:
    """Start the app with `cap` models kept loaded, load every model of the zoo through `compare`; the RSS
    after start-up, after each model (name, MiB), and the peak."""
    from gradio_client import Client

    from seq2seq_hub.zoo import list_models

    entries = list_models(models_dir)
    app = start_app(None, ["--models-dir", models_dir, f"--max-loaded-models={cap}"])
    try:
        wait_ready(app.url, app.process)
        client = Client(app.url, verbose=False, analytics_enabled=False, download_files=False)
        measured = {"start": rss_mib(app.process.pid), "models": [], "errors": []}
        for entry in entries:
            compare = partial(client.predict, api_name="/compare", src_lang=entry.src_lang, tgt_lang=entry.tgt_lang)
            try:
                compare(text=first_test_line(entry.src_lang), column_1=f"model:{entry.name}", column_2="greedy")
            except Exception as err:  # recorded in the report, not hidden
                measured["errors"].append(f"{entry.name}: {' '.join(str(err).split())[:120]}")
            measured["models"].append((entry.name, entry.ensemble_size, rss_mib(app.process.pid)))
        measured["peak"] = rss_mib(app.process.pid, "VmHWM")
    finally:
        stop_app(app)
    return measured


def report_lines(command: list[str], models_dir: str, runs: dict[int, dict]) -> list[str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    caps = sorted(runs)
    first = runs[caps[0]]
    lines = [
        f"## Demo memory of {stamp}: `python benchmarks/demo_memory.py {' '.join(command)}`",
        "",
        f"`python app.py` serving the zoo in `{models_dir}` ({len(first['models'])} models, the app's default "
        "precision), one `compare` request per model in turn; resident memory (VmRSS) of the server after each, "
        "and its peak (VmHWM), for each cap on the models kept loaded (`--max-loaded-models`).",
        "",
        "| after loading | members | " + " | ".join(f"RSS, cap {cap}" for cap in caps) + " |",
        "|---|---|" + "---|" * len(caps),
        "| start-up (default model) | | " + " | ".join(f"{runs[cap]['start']:.0f} MiB" for cap in caps) + " |",
    ]
    for i, (name, members, _) in enumerate(first["models"]):
        lines.append(
            f"| {name} | {members} | " + " | ".join(f"{runs[cap]['models'][i][2]:.0f} MiB" for cap in caps) + " |"
        )
    lines += ["| **peak** | | " + " | ".join(f"**{runs[cap]['peak']:.0f} MiB**" for cap in caps) + " |", ""]
    errors = [error for cap in caps for error in runs[cap]["errors"]]
    if errors:
        lines += ["Errors: " + "; ".join(errors), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from seq2seq_hub.demo.pool import MAX_LOADED_MODELS
    from seq2seq_hub.zoo import list_models

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", default=str(ROOT / "models"))
    parser.add_argument("--max-loaded-models", type=int, nargs="+", help="caps to measure (default: the app's, all)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    caps = args.max_loaded_models or sorted({MAX_LOADED_MODELS, len(list_models(args.models_dir))})
    runs = {cap: load_every_model(args.models_dir, cap) for cap in caps}
    publish(report_lines(argv or sys.argv[1:], Path(args.models_dir).name, runs), args.output, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
