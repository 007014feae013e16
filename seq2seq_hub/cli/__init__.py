"""cli: the `seq2seq-hub` command: translate (stdin -> stdout), evaluate, models, push, ensemble, average,
plot, train, shortlist, backtranslate, distill. One module per group of commands (`translating`, `folders`,
`synthetic`), the flags they share in `common`.

A thin client of `Translator`, `zoo`, `metrics`, `length_scores`, `hub.push_folder`, `compose` and `synthetic`;
errors become one line on stderr and exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import folders, synthetic, translating


def build_parser() -> argparse.ArgumentParser:
    """The command line; each command's parser knows its handler (`args.handler`)."""
    parser = argparse.ArgumentParser(prog="seq2seq-hub", description="Attention seq2seq translation models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (translating, folders, synthetic):
        for command, handler in group.register(sub).items():
            sub.choices[command].set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
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
