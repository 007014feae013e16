"""files.py: the one way this library writes a file: into a temporary file beside the target, fsynced, then
renamed over it (and the folder fsynced), so a reader or a crash sees the old file or the new one, never a
part; and a folder that must change as a whole (a model repo) is staged beside the old one and swapped in.
Knows nothing of what the files hold.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

RENAME_EXCHANGE = 2  # renameat2 flag: swap two paths in one step (Linux)
AT_FDCWD = -100


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` fills a temporary file beside `path`, which then replaces `path` in one rename. The file
    gets the permissions a new file gets (the umask's), as a plain write would give it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(tmp)  # a writer may replace the file with its own (safetensors does, readable by its owner only)
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step where the system can (Linux renameat2); False elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0


def staging_folder(target: str | os.PathLike, purpose: str = "saving") -> Path:
    """A new empty folder beside `target` to build its next version in (same file system, so it can be swapped
    in; the permissions a plain new folder gets)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = target.with_name(f".{target.name}.{purpose}-{uuid.uuid4().hex[:12]}")
        try:
            os.mkdir(folder, 0o777)
            return folder
        except FileExistsError:
            continue


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, destination)


def replace_folder(staged: str | os.PathLike, target: str | os.PathLike, keep: Callable[[str], bool] = bool) -> None:
    """Put the complete folder `staged` at `target` in one step (an atomic exchange where the system has one,
    else two renames) and remove the old folder. The old folder's entries for which `keep(name)` holds are
    hard-linked into the new one first, so they are in both until the swap. A reader or a crash sees the
    old folder or the new one, never a mix of their files."""
    staged, target = Path(staged), Path(target)
    for path in staged.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    if not target.exists():
        os.replace(staged, target)
        _fsync_folder(target.parent)
        return
    for entry in os.listdir(target):
        source, destination = target / entry, staged / entry
        if not keep(entry) or destination.exists():
            continue
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, destination, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(source), str(destination))
    if _exchange(staged, target):
        old = staged  # the exchange left the old folder where the staged one was
    else:
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
        os.replace(target, old)
        os.replace(staged, target)
    _fsync_folder(target.parent)
    shutil.rmtree(old, ignore_errors=True)
