"""cli/folders.py: commands on model folders and runs: `models` (the zoo), `push` (to the Hub), `ensemble`,
`average` (new folders from existing ones), `shortlist` (build a model's lexical shortlist), `plot` (a run's
curves) and `train` (the training command, `training.command`)."""

from __future__ import annotations

import argparse
import os


def register(sub) -> dict:
    """Add the commands' parsers; returns command -> handler."""
    sub.add_parser("models", help="list the shipped models ($SEQ2SEQ_MODELS_DIR, else models/) by language pair")

    p = sub.add_parser("push", help="upload a finished model folder to the Hugging Face Hub")
    p.add_argument("--model", required=True, help="local model folder")
    p.add_argument("--repo-id", required=True, help="org/name on the Hub")
    p.add_argument("--private", action="store_true")
    p.add_argument("--commit-message", default="Upload seq2seq-hub model")

    p = sub.add_parser("ensemble", help="save several models (one tokenizer) as one ensemble model folder")
    p.add_argument("--model", action="append", required=True, help="a member: folder or Hub id (repeat)")
    p.add_argument("--output", required=True, help="the ensemble's folder")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="stored weights")

    p = sub.add_parser("average", help="save the average of one model's checkpoints as a model folder")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a training run: average what it kept for averaging, on its model/")
    source.add_argument("--model", help="the model folder whose config and tokenizer the average gets")
    p.add_argument("--weights", nargs="+", default=[], help="with --model: folders, checkpoints or .safetensors")
    p.add_argument("--output", required=True, help="the averaged model's folder")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"], help="stored weights")

    p = sub.add_parser("plot", help="plot a training run's metrics.jsonl to a PNG")
    p.add_argument("--run", required=True, help="training output folder (holding metrics.jsonl)")
    p.add_argument("--output", default=None, help="PNG path (default: <run>/curves.png)")
    p = sub.add_parser("shortlist", help="build a model's lexical shortlist from its training data")
    p.add_argument("--model", required=True, help="local model folder (shortlist.safetensors is written into it)")
    p.add_argument("--src", required=True, help="training sources, one per line (.gz allowed)")
    p.add_argument("--tgt", required=True, help="their targets: the references, or the model's own translations")
    p.add_argument("--k", type=int, default=100, help="target tokens kept per source token")
    p.add_argument("--frequent", type=int, default=1000, help="most frequent target tokens every list holds")

    p = sub.add_parser(
        "train",
        help="train a model from a recipe (seq2seq-hub train --help for every setting)",
        add_help=False,
        prefix_chars="\0",  # every argument, --help included, goes to the training command line
    )
    p.add_argument("arguments", nargs=argparse.REMAINDER)
    return {
        "models": _models, "push": _push, "ensemble": _ensemble, "average": _average, "plot": _plot, "train": _train,
        "shortlist": _shortlist,
    }  # fmt: skip


def _shortlist(args: argparse.Namespace) -> int:
    from ..checks import number_problem, raise_problems
    from ..data import read_lines
    from ..hub import is_local
    from ..shortlist import Shortlist
    from ..translator import Translator

    raise_problems(
        [number_problem("--k", args.k, 1, integer=True), number_problem("--frequent", args.frequent, 0, integer=True)]
    )
    if not is_local(args.model):
        raise ValueError(f"--model must be a local folder (the shortlist is written into it), got {args.model}")
    translator = Translator.from_pretrained(args.model)  # config (an ensemble's, too) and tokenizer, checked
    tokenizer, config = translator.tokenizer, translator.config
    src, tgt = read_lines(args.src), read_lines(args.tgt)
    if len(src) != len(tgt):
        raise ValueError(f"--src has {len(src)} lines but --tgt has {len(tgt)}")
    src_ids = [e.ids for e in tokenizer.encode_source(src, max_length=None)]
    tgt_ids = [e.ids for e in tokenizer.encode_target(tgt, max_length=None)]
    shortlist = Shortlist.build(
        src_ids, tgt_ids, config.src_vocab_size, config.tgt_vocab_size, k=args.k, frequent=args.frequent
    )
    print(shortlist.save(args.model))
    return 0


def _train(args: argparse.Namespace) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (training.command.WAIT_POLICY)
    from ..training.command import main

    return main(args.arguments)


def _models(args: argparse.Namespace) -> int:
    from ..zoo import default_models_dir, list_models

    entries = list_models()
    if not entries:
        print(f"no models in {default_models_dir()}")
        return 0
    rows = [("direction", "model", "default", "members", "purpose")]
    for e in entries:
        rows.append(
            (f"{e.src_lang} -> {e.tgt_lang}", e.name, "yes" if e.default else "", str(e.ensemble_size), e.purpose)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4]).rstrip())
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..hub import push_folder

    url = push_folder(args.model, args.repo_id, private=args.private, commit_message=args.commit_message)
    print(url)
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from ..compose import build_ensemble

    print(build_ensemble(args.model, args.output, args.dtype))
    return 0


def _average(args: argparse.Namespace) -> int:
    from ..compose import build_average, build_run_average

    if args.run:
        print(build_run_average(args.run, args.output, args.dtype))
    else:
        print(build_average(args.model, args.weights, args.output, args.dtype))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from ..plotting import plot_training_curves

    path = plot_training_curves(args.run, args.output)
    print(path)
    return 0
