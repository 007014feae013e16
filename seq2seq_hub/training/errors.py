"""errors.py: `TrainingError`, the failure whose message training shows the user as it is (one line,
no stack trace), and `user_message`, which tells such failures (a bad setting, a missing or unwritable
file, no network, no memory) from bugs. Raised by data preparation, checkpoints and the loop;
`seq2seq-hub train` prints the message and exits with status 2.
"""

from __future__ import annotations

import torch


class TrainingError(RuntimeError):
    """A training failure with a message meant for the user (no stack trace needed)."""


def user_message(err: BaseException) -> str | None:
    """The one line to show for a failure the user can act on; None for anything else (a bug, whose
    traceback should show)."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        text = f"out of memory: {str(err).splitlines()[0]}; lower batch_tokens or max_sentences"
    elif isinstance(err, OSError) and err.strerror and err.filename:
        text = f"{err.strerror}: {err.filename}"
    elif isinstance(err, (TrainingError, ValueError, OSError)):  # OSError: FileNotFoundError, ConnectionError, ...
        text = str(err) or type(err).__name__
    else:
        return None
    return " ".join(text.split())  # one line, whatever a library put in its message
