#!/usr/bin/env python
"""Train a seq2seq-hub translation model from a YAML config, with any key overridden on the command line.

    python training/train.py --config training/configs/multi30k_de_en.yaml [--key value ...] [--resume]

Writes <output_dir>/model/ (a Hub-format folder: config.json, model.safetensors, tokenizer.json,
README.md with the scores), metrics.jsonl, TensorBoard logs and resumable checkpoints.
Several processes: torchrun --nproc_per_node N training/train.py --config ...
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

# Without this, OpenMP threads spin while another process holds the cores and training slows by 10-50x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

try:
    from seq2seq_hub.cpu import keep_freed_memory
    from seq2seq_hub.training import Trainer, build_train_parser, load_train_config, user_message
except KeyboardInterrupt:  # Ctrl-C while torch loads: nothing started, nothing to say
    sys.exit(130)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser: argparse.ArgumentParser = build_train_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # no page faults for every step's activations (see seq2seq_hub/cpu.py)
    try:
        config = load_train_config(args)
        command = "python training/train.py " + " ".join(shlex.quote(a) for a in argv if a != "--resume")
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


if __name__ == "__main__":
    sys.exit(main())
