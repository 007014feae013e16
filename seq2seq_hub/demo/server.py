"""server.py: the demo's command line: parse the arguments, gather the models to serve (the model zoo, or
the one model given), build the page and serve it behind a bounded queue. `main()` is what the Space's
app.py runs.

    python app.py [--model FOLDER_OR_HUB_ID] [--models-dir DIR] [--max-loaded-models N]
                  [--host 127.0.0.1] [--port 7860] [--device cpu] [--offline]
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial

import gradio as gr

from ..checks import number_problem, raise_problems
from .catalog import Catalog, load_translator
from .layout import CONCURRENCY_LIMIT, CSS, MAX_BATCH_SIZE, QUEUE_MAX_SIZE, THEME, build_demo
from .pool import MAX_LOADED_MODELS, DemoModels, ModelPool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the seq2seq-hub translation demo.")
    parser.add_argument(
        "--model",
        default=os.environ.get("SEQ2SEQ_MODEL") or None,
        help="serve only this model folder or Hub repo id (default: $SEQ2SEQ_MODEL, else every model of the zoo)",
    )
    parser.add_argument(
        "--models-dir",
        default=None,
        help="the model zoo's folder (default: $SEQ2SEQ_MODELS_DIR, else the checkout's models/)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "int8"],
        help="decoding precision; auto: int8 on a CPU (the fastest there at the same BLEU, see BENCHMARKS.md), "
        "float32 on a GPU; bfloat16 requests are decoded one at a time (bf16 rounds differently by batch)",
    )
    parser.add_argument(
        "--offline", action="store_true", help="use only local folders and the Hub cache (as HF_HUB_OFFLINE=1 does)"
    )
    serving = parser.add_argument_group("serving (defaults measured with benchmarks/load.py)")
    serving.add_argument(
        "--concurrency-limit",
        type=_positive,
        default=CONCURRENCY_LIMIT,
        help=f"translate requests in progress at once (default {CONCURRENCY_LIMIT})",
    )
    serving.add_argument(
        "--max-batch-size",
        type=_positive,
        default=MAX_BATCH_SIZE,
        help=f"most requests decoded in one model call (default {MAX_BATCH_SIZE})",
    )
    serving.add_argument(
        "--max-loaded-models",
        type=_positive,
        default=MAX_LOADED_MODELS,
        help=f"models kept loaded at once; the least recently used makes way (default {MAX_LOADED_MODELS})",
    )
    serving.add_argument(
        "--queue-size",
        type=_positive,
        default=QUEUE_MAX_SIZE,
        help=f"requests that may wait; more are turned away (default {QUEUE_MAX_SIZE})",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = text
    raise_problems([number_problem("the value", value, 1, integer=True)], error=argparse.ArgumentTypeError)
    return value


def serve(demo: gr.Blocks, host: str, port: int, queue_size: int = QUEUE_MAX_SIZE, **launch_kwargs):
    """Queue requests (limited concurrency, bounded queue) and start the server."""
    demo.queue(max_size=queue_size, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo.launch(server_name=host, server_port=port, theme=THEME, css=CSS, **launch_kwargs)


def load_models(args: argparse.Namespace) -> DemoModels:
    """The models to serve: the one given by --model, or the zoo (its default direction loaded now, the
    rest on their first request). Raises with a one-line reason when nothing can be served."""
    load = partial(load_translator, device=args.device, offline=args.offline, dtype=args.dtype)
    if args.model:
        return DemoModels.of(load(args.model), max_batch_size=args.max_batch_size, source=args.model)
    from ..zoo import MODELS_DIR, list_models

    entries = list_models(args.models_dir)  # None: $SEQ2SEQ_MODELS_DIR, else the checkout's models/
    if not entries:
        models_dir = args.models_dir or os.environ.get("SEQ2SEQ_MODELS_DIR") or MODELS_DIR
        raise FileNotFoundError(f"there are no models in {str(models_dir)!r}")
    catalog = Catalog.from_zoo(entries)
    pool = ModelPool(lambda choice: load(choice.source), args.max_loaded_models, args.max_batch_size)
    default = catalog.default_model(*catalog.default_direction)
    try:  # the page starts with this one: it must load
        pool.put(default, load(default.source))
    except Exception as err:
        raise RuntimeError(f"its default model {default.name!r}: {err}") from None
    return DemoModels(catalog, pool)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        models = load_models(args)
    except Exception as err:  # any failure to load is one line for the user, not a traceback
        message = " ".join(str(err).split()) or type(err).__name__
        what = f"the model {args.model!r}" if args.model else "the model zoo"
        hint = "" if args.model else " (pass --model FOLDER_OR_HUB_ID or set SEQ2SEQ_MODEL)"
        print(f"error: cannot load {what}: {message}{hint}", file=sys.stderr)
        return 2
    demo = build_demo(models, concurrency_limit=args.concurrency_limit, max_batch_size=args.max_batch_size)
    serve(demo, args.host, args.port, queue_size=args.queue_size)
    return 0
