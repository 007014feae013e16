"""batches.py: one batch of source id lists -> an n-best list per sentence: the padded source tensor, the
search `DecodingOptions` asks for, and shortlist decoding (the output layer over each sentence's lexical
shortlist, `shortlist.Shortlist`: token ids become positions in the batch's union of shortlists, and back).
The search itself is `search.py`.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from .decoding import DecodingOptions
from .modeling.quantize import int8_enabled
from .search import RawHypothesis, beam_search, greedy_or_sample
from .shortlist import Shortlist, shortlist_view

# In int8 decoding sources are padded to a multiple of this many positions: the attention's reductions over
# source positions (softmax, the context's sum) then run the same vector code for a sentence alone and in a
# batch padded to a longer one (padding adds exact zeros), so the int8 rounding downstream sees the same
# numbers and a sentence's result does not depend on its batch. Float32 differs by ~1e-6 without it and keeps
# the shorter padding (BENCHMARKS.md, "Batch invariance").
SOURCE_WIDTH_MULTIPLE = 8


class ShortlistView:
    """A model seen through its sentences' shortlists: `encode` restricts the output layer to `vocab` (U,)
    and each sentence to its own row of `mask` (B, U); token ids are positions in `vocab`. The special tokens
    have the lowest ids and are always in, so their ids are their positions: the search needs no change."""

    def __init__(self, model: Any, vocab: Tensor, mask: Tensor) -> None:
        self.model, self.vocab, self.mask = model, vocab, mask
        self.config = SimpleNamespace(**{**model.config.to_dict(), "tgt_vocab_size": vocab.numel()})
        self.device = model.device

    def rows(self, index: Tensor) -> ShortlistView:
        """The view for a batch whose row i is sentence index[i] (sampling's repeated sentences)."""
        return ShortlistView(self.model, self.vocab, self.mask.index_select(0, index))

    def encode(self, src: Tensor, src_lengths: Tensor):
        return self.model.encode(src, src_lengths, self.vocab, self.mask)

    def decode_step(self, prev_tokens: Tensor, state):
        return self.model.decode_step(prev_tokens, state)

    def target_ids(self, hyp: RawHypothesis) -> RawHypothesis:
        """A hypothesis of positions as one of target ids."""
        return replace(hyp, ids=self.vocab[torch.as_tensor(hyp.ids, dtype=torch.long)].tolist())


def _max_lengths(src_lengths: Tensor, prefixes: list[list[int]], max_length: int | None, cap: int) -> Tensor:
    """(B,) most target tokens per sentence: `max_length`, or 2 x source + 10 (+ prefix), within `cap`."""
    prefix_len = torch.tensor([len(p) for p in prefixes])
    if max_length is None:
        lengths = 2 * src_lengths + 10 + prefix_len
    else:
        lengths = torch.maximum(torch.full_like(src_lengths, max_length), prefix_len + 1)
    return lengths.clamp(max=cap)


def decode_ids(
    model,
    ids: list[list[int]],
    prefixes: list[list[int]],
    options: DecodingOptions,
    generator=None,
    shortlist: Shortlist | None = None,
) -> list[list[RawHypothesis]]:
    """Source id lists of one batch -> an n-best list per sentence, best first, by `options.search`; with a
    `shortlist`, each sentence's output is restricted to its own shortlist (log-probabilities normalised over
    it), the tokens of its forced prefix included."""
    if shortlist is None:
        return _decode(model, ids, prefixes, options, generator)
    config = model.config
    specials = max(config.pad_token_id, config.bos_token_id, config.eos_token_id, config.unk_token_id) + 1
    vocab, mask = shortlist_view(shortlist, ids, prefixes, specials)
    view = ShortlistView(model, vocab, mask)
    positions = [torch.searchsorted(vocab, torch.as_tensor(p, dtype=torch.long)).tolist() for p in prefixes]
    nbests = _decode(view, ids, positions, options, generator)
    return [[view.target_ids(h) for h in nbest] for nbest in nbests]


def _decode(
    model, ids: list[list[int]], prefixes: list[list[int]], options: DecodingOptions, generator=None
) -> list[list[RawHypothesis]]:
    config, device = model.config, model.device
    lengths = torch.tensor([len(x) for x in ids])
    multiple = SOURCE_WIDTH_MULTIPLE if int8_enabled() else 1
    width = -(-int(lengths.max()) // multiple) * multiple
    src = torch.full((len(ids), width), config.pad_token_id, dtype=torch.long)  # (B, S)
    for row, x in enumerate(ids):
        src[row, : len(x)] = torch.tensor(x)
    max_lengths = _max_lengths(lengths, prefixes, options.max_length, config.max_target_length)
    src, device_lengths = src.to(device), lengths.to(device)
    common = dict(min_length=options.min_length, prefixes=prefixes, length_penalty=options.length_penalty)
    if options.search == "beam":
        k, n = options.num_beams, options.num_return_sequences
        return beam_search(model, src, device_lengths, max_lengths, beam_size=k, num_return_sequences=n, **common)
    if options.search == "greedy":
        return [[h] for h in greedy_or_sample(model, src, device_lengths, max_lengths, **common)]
    n = options.num_return_sequences
    index = torch.arange(len(ids)).repeat_interleave(n)  # each sentence n times
    common["prefixes"] = [prefixes[i] for i in index.tolist()]
    sampling = dict(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p, generator=generator)
    raw = greedy_or_sample(
        model.rows(index) if isinstance(model, ShortlistView) else model,
        src[index.to(device)],
        device_lengths[index.to(device)],
        max_lengths[index],
        sample=True,
        **sampling,
        **common,
    )
    return [sorted(raw[i * n : (i + 1) * n], key=lambda h: h.score, reverse=True) for i in range(len(ids))]
