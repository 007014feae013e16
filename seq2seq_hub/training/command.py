"""command.py: the training command, `seq2seq-hub train` (and its shim `python training/train.py`): parse a
recipe (a YAML file, or the name of one of the recipes shipped in `seq2seq_hub/training/recipes/`) and
`--key value` overrides, train, and print the model folder; a user's mistake is one `error:` line, exit 2.
Without a passive OpenMP wait policy, OpenMP threads spin while another process holds the cores and training
slows by 10-50x; the policy must be set before torch loads, so the callers set it (`WAIT_POLICY`).
"""

from __future__ import annotations

import os
import shlex
import sys

WAIT_POLICY = ("OMP_WAIT_POLICY", "PASSIVE")  # set by the callers before torch loads: idle OpenMP threads sleep


def main(argv: list[str] | None = None, prog: str = "seq2seq-hub train") -> int:
    """Train from the command line `argv` (without the program name); returns the exit status."""
    try:
        from ..cpu import keep_freed_memory
        from . import Trainer, build_train_parser, load_train_config, user_message
    except KeyboardInterrupt:  # Ctrl-C while torch loads: nothing started, nothing to say
        return 130
    argv = sys.argv[1:] if argv is None else argv
    args = build_train_parser(prog).parse_args(argv)
    keep_freed_memory()  # no page faults for every step's activations (see seq2seq_hub/cpu.py)
    try:
        config = load_train_config(args)
        command = f"{prog} " + " ".join(shlex.quote(a) for a in argv if a != "--resume")
        folder = Trainer(config, resume=args.resume, command=command).run()
    except KeyboardInterrupt:
        print("interrupted: rerun the same command with --resume to continue from the last checkpoint", file=sys.stderr)
        return 130
    except Exception as err:
        message = user_message(err)  # None: a bug, whose traceback should show
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(folder)
    return 0
