"""output_lock.py: one run at a time in an output folder. The run's first process holds an OS lock
(`fcntl.flock`) on <output_dir>/.train.lock while it trains; the kernel drops the lock when that process
ends in any way (kill -9 included), so a killed run leaves nothing that blocks `--resume`.

A second run on a busy folder is refused at once. POSIX only. Knows nothing of what the folder holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .distributed import all_ranks_agree
from .errors import TrainingError

LOCK_FILE = ".train.lock"  # holds the owner's process id, for the message a refused run prints


@contextmanager
def own_output_dir(output_dir: Path, *, is_main: bool, world: int, device: torch.device) -> Iterator[None]:
    """Create `output_dir` and hold its lock for the block (rank 0 only); every rank raises TrainingError
    when rank 0 cannot have the folder."""
    fd, problem = _lock(output_dir) if is_main else (None, None)
    try:
        if not all_ranks_agree(world, problem is None, device):
            raise TrainingError(problem or f"the first process could not lock {output_dir}")
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock; the file stays (removing it would let two runs lock two files)


def _lock(output_dir: Path) -> tuple[int | None, str | None]:
    """(open descriptor holding the lock, None), or (None, why the folder cannot be had)."""
    import fcntl  # POSIX only

    if output_dir.exists() and not output_dir.is_dir():
        return None, f"output_dir {output_dir} is a file, not a folder"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(output_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        return None, f"cannot use output_dir {output_dir}: {err.strerror or err}"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        return None, (
            f"{output_dir} is in use by another training run" + (f" (process {owner})" if owner.isdigit() else "")
            + "; wait for it to end, or choose another --output_dir"
        )  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd, None
