"""distributed.py: which process this is (torchrun's environment), which device it trains on, the
process group's lifetime, what rank 0 tells the others after an evaluation, and decisions every rank
must take together (skipping a step whose loss is not finite on some rank). One process (no
torchrun) is a world of one, and then nothing here talks to torch.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist

from .errors import TrainingError


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (1 process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(want: str, precision: str, local_rank: int) -> tuple[torch.device, str]:
    """The device for `device` = auto | cpu | cuda and the precision it trains in ('auto' decided, see
    `resolve_precision`); refuses what this machine cannot do."""
    if want == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' was requested but no CUDA GPU is available")
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        return device, resolve_precision(precision, device)
    if precision == "fp16":
        raise TrainingError("precision 'fp16' needs a GPU; use 'bf16' or 'fp32' on the CPU")
    device = torch.device("cpu")
    return device, resolve_precision(precision, device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device multiplies bf16 natively (a CUDA GPU with bf16, a CPU with
    AVX512-BF16 or AMX units), else 'fp32'; any other value is returned as it is."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    cpu = torch.cpu
    native = any(
        getattr(cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )
    return "bf16" if native else "fp32"


@contextmanager
def process_group(world: int, device: torch.device) -> Iterator[None]:
    """Join the process group for the run (several processes only) and leave it at the end."""
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def all_ranks_agree(world: int, flag: bool, device: torch.device) -> bool:
    """True when `flag` is true on every rank (one all-reduce; `device` is where the backend reduces)."""
    if world == 1:
        return flag
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def share_decisions(world: int, stopped_early: bool, lr_scale: float) -> tuple[bool, float]:
    """Rank 0's early-stopping decision and plateau lr scale, on every rank."""
    if world == 1:
        return stopped_early, lr_scale
    flags = torch.tensor([float(stopped_early), lr_scale])
    dist.broadcast(flags, 0)
    return bool(flags[0]), float(flags[1])
