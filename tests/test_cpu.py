"""seq2seq_hub.cpu: the malloc tuning that training/train.py and the benchmark apply."""

import platform

import torch

from seq2seq_hub.cpu import keep_freed_memory, release_freed_memory


def test_keep_freed_memory_applies_on_glibc_and_tensors_still_work():
    applied = keep_freed_memory()
    assert applied is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    big = torch.ones(4096, 1024)  # 16 MiB: served from the heap now, not a fresh mapping
    assert float(big.sum()) == 4096 * 1024
    del big
    release_freed_memory()  # and handing memory back is harmless
    assert float(torch.ones(4096, 1024).sum()) == 4096 * 1024
