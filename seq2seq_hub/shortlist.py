"""shortlist.py: a lexical shortlist, the target tokens a translation of a given source can plausibly contain:
for each source token the k target tokens most associated with it in the training data (Dice's coefficient),
the n most frequent target tokens, and the special tokens. Decoding with it (`DecodingOptions.shortlist`) computes the
output layer, its softmax and its top-k over a sentence's own list instead of the whole vocabulary.

Stored in a model repo as `shortlist.safetensors` (tensors `table` (V_src, k), -1 padded, and `frequent`
(n,)). Knows nothing of models or search: `batches.decode_ids` applies it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .files import atomic_write

SHORTLIST_FILE = "shortlist.safetensors"
FORMAT = "seq2seq-hub-shortlist"


@dataclass(frozen=True)
class Shortlist:
    """Per source token, its likely target tokens; plus the tokens every sentence may produce."""

    table: Tensor  # (V_src, k) int64 target ids, -1 where a source token has fewer than k
    frequent: Tensor  # (n,) int64 target ids every sentence's list holds (the most frequent, the specials)

    @classmethod
    def build(
        cls,
        src_ids: Sequence[Sequence[int]],
        tgt_ids: Sequence[Sequence[int]],
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        k: int = 30,
        frequent: int = 300,
        always: Sequence[int] = (0, 1, 2, 3),
    ) -> Shortlist:
        """From aligned token-id sequences: for each source token, the k target tokens most associated with it
        (Dice's coefficient over sentence pairs, 2 c(s, t) / (c(s) + c(t)): what co-occurs with it more than
        its frequency explains); the `frequent` target tokens found in the most sentences; and `always` (the
        special tokens)."""
        if len(src_ids) != len(tgt_ids):
            raise ValueError(f"got {len(src_ids)} source and {len(tgt_ids)} target sequences; they must be aligned")
        pairs, target_counts = [], np.zeros(tgt_vocab_size, dtype=np.int64)
        source_counts = np.zeros(src_vocab_size, dtype=np.int64)
        for src, tgt in zip(src_ids, tgt_ids):
            s, t = np.unique(np.asarray(src, dtype=np.int64)), np.unique(np.asarray(tgt, dtype=np.int64))
            target_counts[t] += 1
            source_counts[s] += 1
            pairs.append((s[:, None] * tgt_vocab_size + t[None, :]).ravel())  # each (s, t) once per pair
        keys, counts = np.unique(np.concatenate(pairs) if pairs else np.zeros(0, np.int64), return_counts=True)
        sources, targets = keys // tgt_vocab_size, keys % tgt_vocab_size
        dice = 2.0 * counts / (source_counts[sources] + target_counts[targets])
        # rank within each source: the strongest association first, then the more pairs, then the lower id
        order = np.lexsort((targets, -counts, -dice, sources))
        sources, targets = sources[order], targets[order]
        starts = np.searchsorted(sources, np.arange(src_vocab_size))
        rank = np.arange(len(sources)) - starts[sources]
        table = np.full((src_vocab_size, k), -1, dtype=np.int64)
        keep = rank < k
        table[sources[keep], rank[keep]] = targets[keep]
        most = np.argsort(-target_counts, kind="stable")[:frequent]
        common = np.union1d(most[target_counts[most] > 0], np.asarray(always, dtype=np.int64))
        return cls(torch.from_numpy(table), torch.from_numpy(common))

    def candidates(self, src_ids: Sequence[int], prefix_ids: Sequence[int] = ()) -> Tensor:
        """The sorted target ids one sentence may produce: its source tokens' lists, the frequent tokens, the
        specials, and the tokens of a forced prefix."""
        src = torch.as_tensor(list(src_ids), dtype=torch.long)
        src = src[(src >= 0) & (src < self.table.size(0))]
        rows = self.table.index_select(0, src).flatten()
        extra = torch.as_tensor(list(prefix_ids), dtype=torch.long)
        return torch.unique(torch.cat([self.frequent, rows[rows >= 0], extra]))  # sorted

    def save(self, directory: str | os.PathLike) -> Path:
        """Write `shortlist.safetensors` into a model folder (atomically)."""
        tensors = {"table": self.table.to(torch.int32).contiguous(), "frequent": self.frequent.to(torch.int32)}
        metadata = {"format": FORMAT, "k": str(self.table.size(1)), "frequent": str(self.frequent.numel())}
        return atomic_write(Path(directory) / SHORTLIST_FILE, lambda tmp: save_file(tensors, str(tmp), metadata))

    @classmethod
    def load(cls, path: str | os.PathLike, src_vocab_size: int, tgt_vocab_size: int) -> Shortlist:
        """Read a `shortlist.safetensors`, checked against the model's vocabulary sizes."""
        try:
            tensors = load_file(str(path))
        except Exception as err:  # safetensors' own parse errors
            raise ValueError(f"{Path(path).name} is not a readable shortlist: {str(err)[:200]}") from None
        table, frequent = tensors.get("table"), tensors.get("frequent")
        problems = []
        if table is None or frequent is None or table.dim() != 2 or frequent.dim() != 1:
            problems.append("it must hold a 2-D 'table' and a 1-D 'frequent'")
        else:
            if table.size(0) != src_vocab_size:
                problems.append(f"its table has {table.size(0)} rows, the source vocabulary {src_vocab_size}")
            ids = torch.cat([table.flatten(), frequent])
            if bool(((ids < -1) | (ids >= tgt_vocab_size)).any()) or bool((frequent < 0).any()):
                problems.append(f"it names target ids outside [0, {tgt_vocab_size})")
        if problems:
            raise ValueError(f"{Path(path).name} does not fit this model: " + "; ".join(problems))
        return cls(table.long(), frequent.long())


def shortlist_view(
    shortlist: Shortlist, sources: Sequence[Sequence[int]], prefixes: Sequence[Sequence[int]], specials: int
) -> tuple[Tensor, Tensor]:
    """The batch's union of the sentences' lists, vocab (U,) sorted, and each sentence's own list as a mask
    (B, U). The ids below `specials` (the special tokens) are always in, so they keep their ids as positions."""
    lists = [shortlist.candidates(src, prefix) for src, prefix in zip(sources, prefixes)]
    vocab = torch.unique(torch.cat([torch.arange(specials), *lists]))  # (U,)
    mask = torch.zeros(len(lists), vocab.numel(), dtype=torch.bool)  # (B, U)
    for row, ids in enumerate(lists):
        mask[row, torch.searchsorted(vocab, ids)] = True
    mask[:, :specials] = True
    return vocab, mask
