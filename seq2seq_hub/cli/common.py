"""cli/common.py: what several `seq2seq-hub` commands share: the model and decoding flags, the model a
command loads (--model, or the shipped model for --src-lang / --tgt-lang), and its decoding options."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser) -> None:
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
    "shortlist": "shortlist",
}


def add_decoding_args(p: argparse.ArgumentParser) -> None:
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
    g.add_argument(
        "--shortlist",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the output layer over each sentence's lexical shortlist (the model's shortlist.safetensors)",
    )
    g.add_argument("--batch-size", type=int, default=64, help="sentences decoded at once")


def decoding_options(args: argparse.Namespace, translator, nbest: int = 1):
    """The model's decoding defaults with the flags given on the command line applied."""
    overrides = {
        field: getattr(args, flag) for flag, field in DECODING_FLAGS.items() if getattr(args, flag) is not None
    }
    if nbest > 1:
        overrides["num_return_sequences"] = nbest
    return translator.generation_options.merged(**overrides)


def load_translator(args: argparse.Namespace):
    """--model, or the shipped model for --src-lang -> --tgt-lang (args.model is set to it); a --model must
    translate the languages given."""
    from ..translator import Translator
    from ..zoo import model_for

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
