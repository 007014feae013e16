"""cli/translating.py: `seq2seq-hub translate` (lines on stdin or --input -> translations on stdout, with
n-best lists and word alignments on request) and `seq2seq-hub evaluate` (sacreBLEU, chrF, perplexity)."""

from __future__ import annotations

import argparse
import sys

from .common import add_decoding_args, add_model_args, decoding_options, load_translator


def register(sub) -> dict:
    """Add the commands' parsers; returns command -> handler."""
    p = sub.add_parser("translate", help="translate lines from stdin (or --input) to stdout")
    add_model_args(p)
    add_decoding_args(p)
    p.add_argument("--input", default="-", help="text file, one sentence per line, .gz allowed (default: stdin)")
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
    add_model_args(p)
    add_decoding_args(p)
    p.add_argument("--src", required=True, help="source sentences, one per line (.gz allowed)")
    p.add_argument("--ref", required=True, help="reference translations, aligned with --src")
    p.add_argument("--output", default=None, help="also write the translations to this file")
    p.add_argument(
        "--record-length-scores",
        action="store_true",
        help="print BLEU by source length and store it as bleu_by_length.json in the (local) model folder",
    )
    p.add_argument("--split-name", default=None, help="the test set's name in that file (default: from --src)")

    return {"translate": _translate, "evaluate": _evaluate}


def _translate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data import open_text

    translator = load_translator(args)
    if args.input != "-" and not Path(args.input).is_file():
        raise FileNotFoundError(f"--input not found: {args.input}")
    stream = sys.stdin if args.input == "-" else open_text(Path(args.input))
    nbest = max(1, args.nbest)
    options = decoding_options(args, translator, nbest)
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
    from ..data import read_lines
    from ..metrics import corpus_scores, perplexity

    src, ref = read_lines(args.src), read_lines(args.ref)
    if len(src) != len(ref):
        raise ValueError(f"--src has {len(src)} lines but --ref has {len(ref)}")
    if args.record_length_scores and args.model:
        _check_local_folder(args.model)
    translator = load_translator(args)
    hyps = translator.translate(src, decoding_options(args, translator), batch_size=args.batch_size)
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
    from ..hub import is_local

    if not is_local(model):
        raise ValueError(
            f"--record-length-scores writes into a local model folder, and {model} is a Hub repo id: "
            "download it to a folder and evaluate that"
        )


def _record_length_scores(args: argparse.Namespace, src: list[str], texts: list[str], ref: list[str], sig: str) -> None:
    from ..length_scores import bleu_by_length, length_table, split_name, write_length_scores

    split = args.split_name or split_name(args.src)
    bins = bleu_by_length(src, texts, ref)
    print(f"BLEU by source length in words ({split}):")
    print(length_table(bins))
    print(f"recorded in {write_length_scores(args.model, split, bins, sig)}")
