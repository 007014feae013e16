"""cli/synthetic.py: `seq2seq-hub backtranslate` and `seq2seq-hub distill`: a model's translations of
monolingual or training text, written as synthetic parallel files (`seq2seq_hub.synthetic`)."""

from __future__ import annotations

import argparse
import sys

from .common import add_decoding_args, add_model_args, decoding_options, load_translator


def register(sub) -> dict:
    """Add the commands' parsers; returns command -> handler."""
    for kind, helptext in (
        ("backtranslate", "synthetic sources: translate target-language text back with a reverse model"),
        ("distill", "synthetic targets: a teacher's translations of training or monolingual sources"),
    ):
        p = sub.add_parser(kind, help=helptext)
        _add_synthetic_args(p, kind)

    return {"backtranslate": _synthetic, "distill": _synthetic}


def _add_synthetic_args(p: argparse.ArgumentParser, kind: str) -> None:
    add_model_args(p)
    add_decoding_args(p)
    role = "reverse model" if kind == "backtranslate" else "teacher"
    p.description = (
        f"The {role} (--model, a folder, an ensemble or a Hub id) translates the --input lines; writes "
        "OUTPUT.<its source language> (the input lines, cleaned) and OUTPUT.<its target language> (their "
        "translations), aligned, plus OUTPUT.json (how they were made). "
        + (
            "For back-translation the translations are the synthetic sources of the reverse direction."
            if kind == "backtranslate"
            else "The translations are the student's targets."
        )
    )
    p.add_argument("--input", nargs="+", required=True, help="text files, one sentence per line (.gz allowed)")
    p.add_argument("--output", required=True, help="output prefix: OUTPUT.<lang> files and OUTPUT.json")
    p.add_argument(
        "--exclude", nargs="*", default=[], help="leave out input lines that occur in these files (e.g. val, test)"
    )
    p.add_argument("--keep-duplicates", action="store_true", help="translate repeated input lines again")
    if kind == "backtranslate":
        p.add_argument("--tag", default="", help="prepend this tag to every synthetic source (tagged back-translation)")
    p.add_argument("--resume", action="store_true", help="continue the files at --output after the last full pair")
    p.add_argument("--progress", default="auto", choices=["auto", "on", "off"], help="progress bar on stderr")


def _synthetic(args: argparse.Namespace) -> int:
    from ..synthetic import SyntheticRecipe, monolingual_lines, pair_paths, write_synthetic

    text = monolingual_lines(args.input, args.exclude, dedupe=not args.keep_duplicates)
    print(f"input: {text.summary()}", file=sys.stderr)
    translator = load_translator(args)
    options = decoding_options(args, translator)
    config = translator.config
    recipe = SyntheticRecipe(
        kind="backtranslation" if args.command == "backtranslate" else "distillation",
        model=args.model,
        src_lang=config.src_lang,
        tgt_lang=config.tgt_lang,
        inputs=[str(p) for p in args.input],
        excluded=[str(p) for p in args.exclude],
        dtype=args.dtype,
        tag=getattr(args, "tag", ""),
        cleaning={"read": text.read, "blank": text.empty, "repeated": text.repeated, "excluded": text.excluded},
    )
    progress = {"on": True, "off": False}.get(args.progress, sys.stderr.isatty())
    try:
        recipe = write_synthetic(
            translator, text.lines, args.output, recipe, options, resume=args.resume,
            batch_size=args.batch_size, progress=progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        print(f"stopped: {recipe.written:,} of {recipe.lines:,} pairs kept; --resume continues", file=sys.stderr)
        return 130
    for path in pair_paths(args.output, config.src_lang, config.tgt_lang):
        print(path)
    return 0
