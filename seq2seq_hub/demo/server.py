"""server.py: the demo's command line: parse the arguments, load one `Translator`, build the page and
serve it behind a bounded queue. `main()` is what the Space's app.py runs.

    python app.py [--model FOLDER_OR_HUB_ID] [--host 127.0.0.1] [--port 7860] [--device cpu] [--offline]
"""

from __future__ import annotations

import argparse
import os
import sys

import gradio as gr

from ..translator import Translator
from .layout import CHECKOUT, CONCURRENCY_LIMIT, CSS, MAX_BATCH_SIZE, QUEUE_MAX_SIZE, THEME, build_demo

DEFAULT_MODEL = CHECKOUT / "models" / "multi30k-de-en"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the seq2seq-hub translation demo.")
    parser.add_argument(
        "--model",
        default=os.environ.get("SEQ2SEQ_MODEL") or str(DEFAULT_MODEL),
        help="model folder or Hub repo id (default: $SEQ2SEQ_MODEL, else the bundled models/multi30k-de-en)",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
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
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def load_translator(model: str, device: str | None = None, offline: bool = False) -> Translator:
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Translator.from_pretrained(model, device=device, local_files_only=offline)


def serve(demo: gr.Blocks, host: str, port: int, queue_size: int = QUEUE_MAX_SIZE, **launch_kwargs):
    """Queue requests (limited concurrency, bounded queue) and start the server."""
    demo.queue(max_size=queue_size, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo.launch(server_name=host, server_port=port, theme=THEME, css=CSS, **launch_kwargs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        translator = load_translator(args.model, args.device, args.offline)
    except Exception as err:  # any failure to load is one line for the user, not a traceback
        message = " ".join(str(err).split()) or type(err).__name__
        hint = " (pass --model FOLDER_OR_HUB_ID or set SEQ2SEQ_MODEL)" if args.model == str(DEFAULT_MODEL) else ""
        print(f"error: cannot load the model {args.model!r}: {message}{hint}", file=sys.stderr)
        return 2
    demo = build_demo(translator, concurrency_limit=args.concurrency_limit, max_batch_size=args.max_batch_size)
    serve(demo, args.host, args.port, queue_size=args.queue_size)
    return 0
