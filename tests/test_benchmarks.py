"""The benchmark's naive reference decodes what the library decodes: the speed ratios in BENCHMARKS.md
compare two implementations of the same greedy search, not two different computations."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from naive import textbook_greedy  # noqa: E402

from seq2seq_hub.search import greedy_or_sample  # noqa: E402

ATTENTIONS = [
    dict(attention="bahdanau"),
    dict(attention="luong", luong_score="general"),
    dict(attention="none"),
]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: a["attention"])
def test_textbook_greedy_equals_batched_greedy(make_model, cell, attention):
    model = make_model(cell=cell, decoder_layers=2, **attention)
    g = torch.Generator().manual_seed(0)
    sources = [torch.randint(4, model.config.src_vocab_size, (n,), generator=g).tolist() + [2] for n in (3, 7, 1, 5)]
    lengths = torch.tensor([len(s) for s in sources])
    src = torch.zeros(len(sources), int(lengths.max()), dtype=torch.long)
    for row, ids in enumerate(sources):
        src[row, : len(ids)] = torch.tensor(ids)
    max_lengths = 2 * lengths + 10
    batched = greedy_or_sample(model, src, lengths, max_lengths)
    for ids, limit, hyp in zip(sources, max_lengths.tolist(), batched):
        assert textbook_greedy(model, ids, limit) == hyp.ids
