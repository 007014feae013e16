#!/usr/bin/env python
"""Train a seq2seq-hub translation model: the same command as `seq2seq-hub train`, runnable from a checkout
without installing.

    python training/train.py --config multi30k_de_en [--key value ...] [--resume]

--config takes a recipe's name (seq2seq_hub/training/recipes/) or a YAML file. Writes <output_dir>/model/ (a
Hub-format folder), metrics.jsonl, TensorBoard logs and resumable checkpoints. Several processes:
torchrun --nproc_per_node N training/train.py --config ...
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Without this, OpenMP threads spin while another process holds the cores and training slows by 10-50x; it
# must be set before torch loads (seq2seq_hub.training.command.WAIT_POLICY).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from seq2seq_hub.training.command import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="python training/train.py"))
