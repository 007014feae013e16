"""seq2seq_hub.cpu: the malloc tuning that training/train.py and the benchmark apply, and the short-lived
threads the demo loads its models in."""

import platform
import threading

import pytest
import torch

from seq2seq_hub.cpu import keep_freed_memory, release_freed_memory, run_in_new_thread


def test_keep_freed_memory_applies_on_glibc_and_tensors_still_work():
    applied = keep_freed_memory()
    assert applied is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    big = torch.ones(4096, 1024)  # 16 MiB: served from the heap now, not a fresh mapping
    assert float(big.sum()) == 4096 * 1024
    del big
    release_freed_memory()  # and handing memory back is harmless
    assert float(torch.ones(4096, 1024).sum()) == 4096 * 1024


def test_run_in_new_thread_returns_the_result_raises_the_error_and_the_thread_ends():
    seen = []

    def work(a, b=0):
        seen.append(threading.current_thread())
        return a + b

    assert run_in_new_thread(work, 2, b=3) == 5
    assert seen[0] is not threading.current_thread() and not seen[0].is_alive()
    with pytest.raises(ZeroDivisionError):
        run_in_new_thread(lambda: 1 / 0)
