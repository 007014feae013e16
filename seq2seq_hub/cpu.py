"""cpu.py: process-wide CPU memory tuning for long training runs and the benchmark harness.

By default glibc gives every allocation above its mmap threshold (128 KiB, adapting up to 32 MiB)
fresh pages from the kernel and hands them back on free, so each training step page-faults its
activations and gradients in again: in a Bahdanau training step on the 2-core CPU that showed up as
`aten::fill_` taking about a fifth of the time. `keep_freed_memory` serves large tensors from the
heap and keeps freed memory for reuse (the effect of jemalloc / tcmalloc, which PyTorch's CPU tuning
guide recommends, without preloading a library). The process then holds on to its peak memory.
`run_in_new_thread` keeps torch's OpenMP helper threads from piling up in a server that decodes in a
thread of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Ask glibc to keep large allocations on the heap and not return freed memory; False if not glibc."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # musl, macOS, Windows: nothing to do
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mmap_ok = any(mallopt(M_MMAP_THRESHOLD, size) == 1 for size in (1 << 30, 32 << 20))
    trim_ok = mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    return mmap_ok and trim_ok


def release_freed_memory() -> None:
    """Hand memory that malloc keeps back to the system now (glibc `malloc_trim`); a no-op elsewhere."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(ctypes.c_size_t(0))


def run_in_new_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` run in a thread that ends with it: its result, or its exception raised here.

    For torch work (loading a model) in a process whose decoding runs in another thread: GNU OpenMP gives
    every thread that runs torch's parallel ops a team of helper threads that lives as long as the thread;
    once the process has more of them than cores, OpenMP stops spinning between parallel regions and a
    decoder's many small ops each pay to wake their helpers (BENCHMARKS.md, "One decoding thread"). A thread
    that ends takes its helpers with it.
    """
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as err:  # handed to the caller
            outcome["error"] = err

    thread = threading.Thread(target=call, name=getattr(fn, "__name__", "work"))
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
