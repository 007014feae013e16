"""Measurement helpers shared by the benchmark sections: timing, medians of repeated runs, peak memory,
the machine's measured matmul peak and the matmul FLOP count of one training step.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import torch

from seq2seq_hub import Seq2SeqConfig
from seq2seq_hub.cpu import release_freed_memory


class PeakMemory:
    """Peak resident memory (CPU, sampled from /proc) or peak allocated CUDA memory, in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            release_freed_memory()  # else memory that malloc keeps from earlier runs hides the growth
            self.base = self._rss()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_mib = (torch.cuda.max_memory_allocated(self.device) - self.base) / 2**20
        else:
            self._stop.set()
            self.thread.join()
            self.peak_mib = max(self.peak - self.base, 0) / 2**20


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    """Seconds one call of `fn` takes, device work included."""
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def median_of(fn, repeats: int):
    """Median of `repeats` calls of `fn`; element-wise when `fn` returns a tuple."""
    results = [fn() for _ in range(repeats)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(r[i] for r in results) for i in range(len(results[0])))
    return statistics.median(results)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """Measured matmul throughput in GFLOP/s (the machine's practical peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def time_steps(step_fn, batches, device, warmup: int) -> tuple[float, float, float]:
    """Run warm-up steps, then time the rest; returns (target tokens/s, sentences/s, peak MiB over all steps).

    `step_fn(batch)` returns the batch's target tokens; a batch is a list of example indices. Memory is
    measured from the warm-up on (malloc's kept memory released first), so the first touches of new
    memory happen before the timed steps."""
    tokens = sentences = 0
    with PeakMemory(device) as mem:
        for b in batches[:warmup]:
            step_fn(b)
        sync(device)
        start = time.perf_counter()
        for b in batches[warmup:]:
            tokens += step_fn(b)
            sentences += len(b)
        sync(device)
        elapsed = time.perf_counter() - start
    return tokens / elapsed, sentences / elapsed, mem.peak_mib


def train_flops_per_target_token(cfg: Seq2SeqConfig, src_per_tgt: float, src_len: float) -> float:
    """Matmul FLOPs of one training step per target token (forward x 3 for forward + backward)."""
    e, h, c, v = cfg.embedding_size, cfg.hidden_size, cfg.encoder_output_size, cfg.tgt_vocab_size
    gates = 4 if cfg.cell == "lstm" else 3
    d = cfg.num_directions
    enc = 2 * d * gates * h * (e + h) * src_per_tgt
    if cfg.attention == "bahdanau":
        a = cfg.attention_hidden_size
        dec = 2 * gates * h * (e + c + h) + 2 * h * a + 2 * src_len * (a + c) + 2 * (h + c + e) * e
        keys = 2 * c * a * src_per_tgt
    elif cfg.attention == "luong":
        dec = 2 * gates * h * (e + h) + 2 * src_len * (h + c) + 2 * (h + c) * e
        keys = 2 * c * h * src_per_tgt if cfg.luong_score == "general" else 0
    else:
        dec, keys = 2 * gates * h * (e + h) + 2 * (h + e) * e, 0
    return 3 * (enc + keys + dec + 2 * e * v)
