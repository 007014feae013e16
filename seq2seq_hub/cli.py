"""cli.py: the `seq2seq-hub` command: translate (stdin -> stdout), evaluate, models, push, ensemble,
average, backtranslate, distill, plot.

A thin client of `Translator`, `zoo`, `metrics`, `length_scores`, `hub.push_folder` and `compose`;
errors become one line on stderr and exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import os
import sys


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default=None, help="model folder or Hub repo id (default: the shipped model for the languages)"
    )
    p.add_argument("--src-lang", default=None, help="source language code; without --model picks a shipped model")
    p.add_argument("--tgt-lang", default=None, help="target language code (see `seq2seq-hub models`)")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "int8"],
        help="bfloat16: autocast decoding (faster on CPUs with bf16 units, same BLEU here); "
        "int8: int8 matrix products on the CPU (about twice as fast as float32 here, same BLEU)",
    )


# decoding flag -> DecodingOptions field; a flag left out keeps the model's generation_config.json value
DECODING_FLAGS = {
    "strategy": "strategy",
    "beam_size": "num_beams",
    "length_penalty": "length_penalty",
    "max_length": "max_length",
    "min_length": "min_length",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "seed": "seed",
}


def _add_decoding_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding (defaults: the model's generation_config.json, else beam search with 5 beams)")
    g.add_argument(
        "--strategy",
        choices=["greedy", "beam", "sample"],
        default=None,
        help="default: the model's; beam when the beam size is > 1, else greedy",
    )
    g.add_argument("--beam-size", type=int, default=None, help="beams (num_beams)")
    g.add_argument("--length-penalty", type=float, default=None)
    g.add_argument("--max-length", type=int, default=None, help="most target tokens (default: 2 x source + 10)")
    g.add_argument("--min-length", type=int, default=None)
    g.add_argument("--temperature", type=float, default=None)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=64, help="sentences decoded at once")


def _decoding_options(args: argparse.Namespace, translator, nbest: int = 1):
    """The model's decoding defaults with the flags given on the command line applied."""
    overrides = {
        field: getattr(args, flag) for flag, field in DECODING_FLAGS.items() if getattr(args, flag) is not None
    }
    if nbest > 1:
        overrides["num_return_sequences"] = nbest
    return translator.generation_options.merged(**overrides)


def _add_synthetic_args(p: argparse.ArgumentParser, kind: str) -> None:
    _add_model_args(p)
    _add_decoding_args(p)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2seq-hub", description="Attention seq2seq translation models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("translate", help="translate lines from stdin (or --input) to stdout")
    _add_model_args(p)
    _add_decoding_args(p)
    p.add_argument("--input", default="-", help="text file, one sentence per line (default: stdin)")
    p.add_argument(
        "--nbest", type=int, default=1, help="print this many hypotheses per line, tab-separated with scores"
    )
    p.add_argument(
        "--alignments",
        action="store_true",
        help="print 'translation ||| 0-0 1-2 ...': word alignments from attention in Pharaoh format (source-target "
        "word indices from 0, one link per target word; none for a model without attention); with --nbest each "
        "hypothesis's text field becomes 'text ||| alignment', followed as before by a tab and its score",
    )

    p = sub.add_parser("evaluate", help="sacreBLEU, chrF and perplexity on a source/reference file pair")
    _add_model_args(p)
    _add_decoding_args(p)
    p.add_argument("--src", required=True, help="source sentences, one per line (.gz allowed)")
    p.add_argument("--ref", required=True, help="reference translations, aligned with --src")
    p.add_argument("--output", default=None, help="also write the translations to this file")
    p.add_argument(
        "--record-length-scores",
        action="store_true",
        help="print BLEU by source length and store it as bleu_by_length.json in the (local) model folder",
    )
    p.add_argument("--split-name", default=None, help="the test set's name in that file (default: from --src)")

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

    for kind, helptext in (
        ("backtranslate", "synthetic sources: translate target-language text back with a reverse model"),
        ("distill", "synthetic targets: a teacher's translations of training or monolingual sources"),
    ):
        p = sub.add_parser(kind, help=helptext)
        _add_synthetic_args(p, kind)

    p = sub.add_parser("plot", help="plot a training run's metrics.jsonl to a PNG")
    p.add_argument("--run", required=True, help="training output folder (holding metrics.jsonl)")
    p.add_argument("--output", default=None, help="PNG path (default: <run>/curves.png)")
    return parser


def _load_translator(args: argparse.Namespace):
    """--model, or the shipped model for --src-lang -> --tgt-lang (args.model is set to it); a --model must
    translate the languages given."""
    from .translator import Translator
    from .zoo import model_for

    if not args.model:
        if not args.src_lang or not args.tgt_lang:
            raise ValueError(
                "give --model, or --src-lang and --tgt-lang for a shipped model (see `seq2seq-hub models`)"
            )
        args.model = str(model_for(args.src_lang, args.tgt_lang))
    translator = Translator.from_pretrained(
        args.model, revision=args.revision, device=args.device, compute_dtype=args.dtype
    )
    config = translator.config
    given = {"--src-lang": (args.src_lang, config.src_lang), "--tgt-lang": (args.tgt_lang, config.tgt_lang)}
    wrong = [f"{flag} {code}" for flag, (code, own) in given.items() if code and code.strip().lower() != own.lower()]
    if wrong:
        raise ValueError(
            f"--model {args.model} translates {config.src_lang} -> {config.tgt_lang}, which disagrees with "
            + " and ".join(wrong)
        )
    return translator


def _translate(args: argparse.Namespace) -> int:
    translator = _load_translator(args)
    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    nbest = max(1, args.nbest)
    options = _decoding_options(args, translator, nbest)
    out = sys.stdout
    try:
        batch: list[str] = []
        interactive = stream.isatty()
        for line in stream:
            batch.append(line.rstrip("\n"))
            if interactive or len(batch) >= args.batch_size:
                _write(out, translator.translate(batch, options, batch_size=args.batch_size), nbest, args.alignments)
                batch = []
        if batch:
            _write(out, translator.translate(batch, options, batch_size=args.batch_size), nbest, args.alignments)
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 0


def _write(out, hyps, nbest: int, alignments: bool = False) -> None:
    def text(h) -> str:
        return f"{h.text} ||| {h.pharaoh()}" if alignments else h.text

    for hyp in hyps:
        if nbest > 1:
            out.write("\t".join(f"{text(h)}\t{h.score:.4f}" for h in hyp.nbest) + "\n")
        else:
            out.write(text(hyp) + "\n")
        if hyp.truncated:
            print("warning: an input line was longer than the model's maximum and was truncated", file=sys.stderr)
    out.flush()


def _evaluate(args: argparse.Namespace) -> int:
    from .data import read_lines
    from .metrics import corpus_scores, perplexity

    src, ref = read_lines(args.src), read_lines(args.ref)
    if len(src) != len(ref):
        raise ValueError(f"--src has {len(src)} lines but --ref has {len(ref)}")
    if args.record_length_scores and args.model:
        _check_local_folder(args.model)
    translator = _load_translator(args)
    hyps = translator.translate(src, _decoding_options(args, translator), batch_size=args.batch_size)
    texts = [h.text for h in hyps]
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
    scores = corpus_scores(texts, ref)
    nll, tokens = translator.score(src, ref)
    print(f"BLEU = {scores.bleu:.2f}  ({scores.bleu_signature})")
    print(f"BLEU (lowercased) = {scores.bleu_lowercase:.2f}")
    print(f"chrF = {scores.chrf:.2f}  ({scores.chrf_signature})")
    print(f"perplexity = {perplexity(nll, tokens):.2f}  (teacher-forced, {tokens} reference tokens)")
    if args.record_length_scores:
        _record_length_scores(args, src, texts, ref, scores.bleu_signature)
    return 0


def _check_local_folder(model: str) -> None:
    from .hub import is_local

    if not is_local(model):
        raise ValueError(
            f"--record-length-scores writes into a local model folder, and {model} is a Hub repo id: "
            "download it to a folder and evaluate that"
        )


def _record_length_scores(args: argparse.Namespace, src: list[str], texts: list[str], ref: list[str], sig: str) -> None:
    from .length_scores import bleu_by_length, length_table, split_name, write_length_scores

    split = args.split_name or split_name(args.src)
    bins = bleu_by_length(src, texts, ref)
    print(f"BLEU by source length in words ({split}):")
    print(length_table(bins))
    print(f"recorded in {write_length_scores(args.model, split, bins, sig)}")


def _models(args: argparse.Namespace) -> int:
    from .zoo import default_models_dir, list_models

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
    from .hub import push_folder

    url = push_folder(args.model, args.repo_id, private=args.private, commit_message=args.commit_message)
    print(url)
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from .compose import build_ensemble

    print(build_ensemble(args.model, args.output, args.dtype))
    return 0


def _average(args: argparse.Namespace) -> int:
    from .compose import build_average, build_run_average

    if args.run:
        print(build_run_average(args.run, args.output, args.dtype))
    else:
        print(build_average(args.model, args.weights, args.output, args.dtype))
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .synthetic import SyntheticRecipe, monolingual_lines, pair_paths, write_synthetic

    text = monolingual_lines(args.input, args.exclude, dedupe=not args.keep_duplicates)
    print(f"input: {text.summary()}", file=sys.stderr)
    translator = _load_translator(args)
    options = _decoding_options(args, translator)
    config = translator.config
    recipe = SyntheticRecipe(
        kind="backtranslation" if args.command == "backtranslate" else "distillation",
        model=args.model,
        src_lang=config.src_lang,
        tgt_lang=config.tgt_lang,
        inputs=[str(p) for p in args.input],
        excluded=[str(p) for p in args.exclude],
        options=asdict(options),
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


def _plot(args: argparse.Namespace) -> int:
    from .plotting import plot_training_curves

    path = plot_training_curves(args.run, args.output)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "translate": _translate,
        "evaluate": _evaluate,
        "models": _models,
        "push": _push,
        "ensemble": _ensemble,
        "average": _average,
        "plot": _plot,
        "backtranslate": _synthetic,
        "distill": _synthetic,
    }
    try:
        return handlers[args.command](args)
    except (
        ValueError,
        TypeError,
        FileNotFoundError,
        FileExistsError,
        ConnectionError,
        PermissionError,
        OSError,
    ) as err:
        # one line: the Hub's HTTP errors span several
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        token = os.environ.get("HF_TOKEN")
        if token:
            message = message.replace(token, "***")
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
