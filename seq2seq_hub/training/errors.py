"""errors.py: `TrainingError`, the failure whose message training shows the user as it is (one line,
no stack trace). Raised by data preparation, checkpoints and the loop; `training/train.py` prints it.
"""

from __future__ import annotations


class TrainingError(RuntimeError):
    """A training failure with a message meant for the user (no stack trace needed)."""
