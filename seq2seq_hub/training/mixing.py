"""mixing.py: the training pairs of a run that adds synthetic data (back-translation, distillation) to the
real pairs: the real pairs repeated `real_upsample` times, the synthetic pairs (back-translated ones, whose
sources are marked with `synthetic_tag` when asked, and distilled ones) sampled down to at most
`synthetic_ratio` per real pair. Knows nothing of tokenizers or
models; `prepare.py` calls it between loading and tokenizing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data import load_parallel_files
from ..synthetic import tagged
from .config import TrainConfig


@dataclass
class Mix:
    """How many pairs of each kind a run trains on, per epoch."""

    real: int  # distinct real pairs
    real_upsample: int  # times each is repeated
    synthetic_available: int  # synthetic pairs in the files
    synthetic: int  # synthetic pairs used

    @property
    def total(self) -> int:
        return self.real * self.real_upsample + self.synthetic

    def summary(self) -> str:
        ratio = self.synthetic / max(self.real * self.real_upsample, 1)
        return (
            f"{self.real:,} real pairs x {self.real_upsample} + {self.synthetic:,} synthetic (of "
            f"{self.synthetic_available:,}) = {self.total:,} pairs per epoch; {ratio:.2f} synthetic per real"
        )


def file_specs(files: str) -> list[str]:
    """The file pairs of a `synthetic_files` / `distilled_files` setting ('a.de,a.en;b.de,b.en')."""
    return [spec.strip() for spec in files.split(";") if spec.strip()]


def load_synthetic(cfg: TrainConfig) -> Any | None:
    """All synthetic pairs of the run as one Dataset(src, tgt): the back-translated pairs (`synthetic_files`,
    their sources tagged when `synthetic_tag` is set), then the distilled ones (`distilled_files`, untagged:
    their sources are real text); None if there are none."""
    from datasets import concatenate_datasets

    def load(files: str, tag: str) -> list[Any]:
        parts = [load_parallel_files(spec, cfg.src_lang, cfg.tgt_lang) for spec in file_specs(files)]
        if tag:
            parts = [
                part.map(lambda batch: {"src": [tagged(s, tag) for s in batch["src"]]}, batched=True, desc="tagging")
                for part in parts
            ]
        return parts

    parts = load(cfg.synthetic_files, cfg.synthetic_tag) + load(cfg.distilled_files, "")
    if not parts:
        return None
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def mix_training_pairs(cfg: TrainConfig, real: Any, log: Callable[[str], None]) -> tuple[Any, Mix]:
    """`real` repeated `real_upsample` times plus the synthetic pairs (at most `synthetic_ratio` per real pair,
    a seeded sample, when the ratio is set), as one Dataset(src, tgt)."""
    from datasets import concatenate_datasets

    synthetic = load_synthetic(cfg)
    available = len(synthetic) if synthetic is not None else 0
    parts = [real] * cfg.real_upsample
    used = available
    if synthetic is not None:
        if cfg.synthetic_ratio:
            used = min(available, int(cfg.synthetic_ratio * len(real) * max(cfg.real_upsample, 1)))
            chosen = sorted(random.Random(cfg.seed).sample(range(available), used))
            synthetic = synthetic.select(chosen)
        parts.append(synthetic.select_columns(["src", "tgt"]))
    mix = Mix(len(real), cfg.real_upsample, available, used)
    if synthetic is not None or cfg.real_upsample != 1:
        log(f"training data: {mix.summary()}")
    if not parts:
        raise ValueError("real_upsample is 0 and there are no synthetic or distilled files: nothing to train on")
    return (concatenate_datasets(parts) if len(parts) > 1 else parts[0]), mix
