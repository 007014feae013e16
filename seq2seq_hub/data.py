"""data.py: parallel corpora as HF `datasets`, reading their columns (streamed texts, compact id lists),
tokenization, token-budget bucketing and collate.

Sources: the bundled Multi30k (any two of en, de, fr, cs), local parallel files (two aligned text
files, TSV or JSONL) and Hub datasets through `datasets.load_dataset` (column style
`{"de": ..., "en": ...}` or `translation` dict style). Knows nothing of models or training loops.
"""

from __future__ import annotations

import csv
import gzip
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

MULTI30K_LANGS = ("cs", "de", "en", "fr")
MULTI30K_SPLITS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}


def open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a text file (optionally gzipped), without their newline."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    with open_text(path) as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def _pairs_dataset(src: list[str], tgt: list[str], origin: str):
    from datasets import Dataset

    if len(src) != len(tgt):
        raise ValueError(f"{origin}: source has {len(src)} lines but target has {len(tgt)}; files must be aligned")
    return Dataset.from_dict({"src": src, "tgt": tgt})


def load_multi30k(data_dir: str | os.PathLike, split: str, src_lang: str, tgt_lang: str):
    """One split ('train', 'validation', 'test') of the bundled Multi30k as a Dataset(src, tgt)."""
    for lang in (src_lang, tgt_lang):
        if lang not in MULTI30K_LANGS:
            raise ValueError(f"Multi30k has languages {set(MULTI30K_LANGS)}, got {lang!r}")
    if src_lang == tgt_lang:
        raise ValueError(f"source and target language are both {src_lang!r}")
    if split not in MULTI30K_SPLITS:
        raise ValueError(f"Multi30k split must be one of {sorted(MULTI30K_SPLITS)}, got {split!r}")
    stem = Path(data_dir) / MULTI30K_SPLITS[split]
    src = read_lines(f"{stem}.{src_lang}.gz")
    tgt = read_lines(f"{stem}.{tgt_lang}.gz")
    return _pairs_dataset(src, tgt, f"Multi30k {split}")


def load_parallel_files(spec: str, src_lang: str, tgt_lang: str):
    """Local parallel data: 'a.de,a.en' (aligned text files), 'x.tsv' (src<TAB>tgt) or 'x.jsonl'.

    JSONL rows are `{"<src_lang>": ..., "<tgt_lang>": ...}` or `{"translation": {...}}`.
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if len(parts) == 2:
        return _pairs_dataset(read_lines(parts[0]), read_lines(parts[1]), spec)
    if len(parts) != 1:
        raise ValueError(f"data files must be 'source,target', a .tsv or a .jsonl file, got {spec!r}")
    path = Path(parts[0])
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    name = path.name.removesuffix(".gz")
    if name.endswith(".tsv"):
        src, tgt = [], []
        with open_text(path) as f:
            for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if not row:
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}:{lineno}: expected 'source<TAB>target', got {len(row)} column")
                src.append(row[0])
                tgt.append(row[1])
        return _pairs_dataset(src, tgt, str(path))
    if name.endswith((".jsonl", ".json")):
        from datasets import load_dataset

        ds = load_dataset("json", data_files=str(path), split="train")
        return select_pair_columns(ds, src_lang, tgt_lang, str(path))
    raise ValueError(f"unsupported data file {path}: use two aligned text files 'a,b', .tsv or .jsonl")


def select_pair_columns(ds, src_lang: str, tgt_lang: str, origin: str):
    """Turn a column-style or `translation`-style dataset into Dataset(src, tgt)."""
    columns = ds.column_names
    if "translation" in columns:
        first = ds[0]["translation"] if len(ds) else {}
        missing = [lang for lang in (src_lang, tgt_lang) if lang not in first]
        if missing:
            raise ValueError(f"{origin}: the translation dicts have no {missing} (keys: {sorted(first)})")
        return ds.map(
            lambda batch: {
                "src": [t[src_lang] for t in batch["translation"]],
                "tgt": [t[tgt_lang] for t in batch["translation"]],
            },
            batched=True,
            remove_columns=columns,
        )
    missing = [lang for lang in (src_lang, tgt_lang) if lang not in columns]
    if missing:
        raise ValueError(f"{origin}: no column {missing}; columns are {columns} (or use a 'translation' column)")
    ds = ds.select_columns([src_lang, tgt_lang])
    return ds.rename_columns({src_lang: "src", tgt_lang: "tgt"})


def load_hub_dataset(name: str, split: str, src_lang: str, tgt_lang: str, config_name: str | None = None):
    """A split of a Hub dataset (needs the network, or the datasets cache)."""
    from datasets import load_dataset

    try:
        ds = load_dataset(name, config_name, split=split)
    except ConnectionError as err:
        raise ConnectionError(f"cannot load Hub dataset '{name}' (offline, or not cached): {err}") from None
    return select_pair_columns(ds, src_lang, tgt_lang, f"Hub dataset '{name}'")


# ---------------------------------------------------------------------- reading columns
def iter_column(ds, column: str, batch_size: int = 10_000) -> Iterator[Any]:
    """The values of one column in order, read from Arrow `batch_size` rows at a time: the column is never
    held whole as Python objects (a corpus' texts can be streamed to the tokenizer trainer this way)."""
    for batch in ds.select_columns([column]).iter(batch_size=batch_size):
        yield from batch[column]


class TokenIds(Sequence[list[int]]):
    """The token-id lists of one dataset column, read once from Arrow into one flat int32 array and offsets.

    Indexing gives a list of ints, as a list of lists would, but the whole column costs four bytes per
    token instead of a Python object per token, and a lookup costs no Arrow row access.
    """

    def __init__(self, ds, column: str, batch_size: int = 10_000) -> None:
        import pyarrow.compute as pc

        ids, lengths = [np.zeros(0, dtype=np.int32)], [np.zeros(1, dtype=np.int64)]
        for batch in ds.select_columns([column]).with_format("arrow").iter(batch_size=batch_size):
            lists = batch.column(column)  # filters and selections applied
            lengths.append(pc.list_value_length(lists).to_numpy(zero_copy_only=False))
            ids.append(pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.int32))
        self._flat = np.concatenate(ids)
        self._offsets = np.cumsum(np.concatenate(lengths), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> list[int]:  # type: ignore[override]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} sequences")
        return self._flat[self._offsets[i] : self._offsets[i + 1]].tolist()

    def lengths(self) -> list[int]:
        """The length of every sequence."""
        return np.diff(self._offsets).tolist()


# ---------------------------------------------------------------------- tokenization
def tokenize_dataset(ds, tokenizer, max_source_length: int, max_target_length: int, num_proc: int | None = None):
    """Add `src_ids` / `tgt_ids` (each ending in `</s>`) with the fast tokenizer, batched."""

    def encode(batch):
        src = tokenizer.encode_source(batch["src"], max_length=None)
        tgt = tokenizer.encode_target(batch["tgt"], max_length=None)
        return {"src_ids": [e.ids for e in src], "tgt_ids": [e.ids for e in tgt]}

    return ds.map(encode, batched=True, batch_size=2000, num_proc=num_proc, desc="tokenizing")


def filter_by_length(ds, max_source_length: int, max_target_length: int, min_length: int = 1):
    """Drop pairs with an empty side or a side longer than the model's maxima (in tokens)."""
    return ds.filter(
        lambda batch: [
            min_length + 1 <= len(s) <= max_source_length and min_length + 1 <= len(t) <= max_target_length
            for s, t in zip(batch["src_ids"], batch["tgt_ids"])
        ],
        batched=True,
        desc="filtering by length",
    )


# ---------------------------------------------------------------------- batching
@dataclass
class Batch:
    src: Tensor  # (B, S) source ids, padded
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) `<s>` + target ids
    labels: Tensor  # (B, T) target ids + `</s>`, pad elsewhere
    num_tokens: int  # non-pad label tokens

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.src.to(device, non_blocking=True),
            self.src_lengths,
            self.tgt_in.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.num_tokens,
        )


def collate(src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]], pad_id: int, bos_id: int) -> Batch:
    """Dynamic padding to the longest sentence of this batch."""
    batch = len(src_ids)
    s_len = max(len(s) for s in src_ids)
    t_len = max(len(t) for t in tgt_ids)
    src = torch.full((batch, s_len), pad_id, dtype=torch.long)
    tgt_in = torch.full((batch, t_len), pad_id, dtype=torch.long)
    labels = torch.full((batch, t_len), pad_id, dtype=torch.long)
    for i, (s, t) in enumerate(zip(src_ids, tgt_ids)):
        src[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        labels[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        tgt_in[i, 0] = bos_id
        tgt_in[i, 1 : len(t)] = torch.tensor(t[:-1], dtype=torch.long)
    lengths = torch.tensor([len(s) for s in src_ids], dtype=torch.long)
    return Batch(src, lengths, tgt_in, labels, int(sum(len(t) for t in tgt_ids)))


class TokenBucketSampler:
    """Batches of example indices under a token budget, grouped by length, reshuffled per epoch.

    Examples are sorted by (target, source) length with a little per-epoch noise, cut into batches
    whose padded size (rows x longest target or source) stays within `max_tokens`, and the batches
    are shuffled. Every example appears exactly once per epoch. With `num_replicas` > 1 each rank
    takes every num_replicas-th batch (the last few are dropped so ranks stay in step).
    """

    def __init__(
        self,
        src_lengths: Sequence[int],
        tgt_lengths: Sequence[int],
        max_tokens: int,
        seed: int = 0,
        max_sentences: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if max_tokens < max(max(src_lengths, default=1), max(tgt_lengths, default=1)):
            raise ValueError(f"batch_tokens ({max_tokens}) is smaller than the longest example; raise it")
        self.src_lengths, self.tgt_lengths = list(src_lengths), list(tgt_lengths)
        self.max_tokens, self.max_sentences = max_tokens, max_sentences
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank

    def batches(self, epoch: int) -> list[list[int]]:
        """All batches of `epoch` for this rank, in training order (deterministic in seed, epoch)."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        keys = [(t + rng.random() * 2, s) for s, t in zip(self.src_lengths, self.tgt_lengths)]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        batches, current, longest = [], [], 0
        for idx in order:
            size = max(self.src_lengths[idx], self.tgt_lengths[idx])
            new_longest = max(longest, size)
            full = new_longest * (len(current) + 1) > self.max_tokens or (
                self.max_sentences and len(current) >= self.max_sentences
            )
            if current and full:
                batches.append(current)
                current, new_longest = [], size
            current.append(idx)
            longest = new_longest
        if current:
            batches.append(current)
        rng.shuffle(batches)
        if self.num_replicas > 1:
            usable = len(batches) - len(batches) % self.num_replicas
            batches = batches[self.rank : usable : self.num_replicas]
        return batches

    def __len__(self) -> int:
        return len(self.batches(0))

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches(0))


def padding_ratio(batches: list[list[int]], lengths: Sequence[int]) -> float:
    """Fraction of padded positions in the target side of these batches."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1.0 - real / padded if padded else 0.0
