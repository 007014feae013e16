"""End to end: a tiny model trained inside the test learns a synthetic task to >= 95% exact match with beam
search, for each attention type. Marked slow (seconds each on a CPU), but run by default."""

import pytest
import torch

from seq2seq_hub.search import beam_search

# Reversal needs attention; without it the whole source must pass through the bridge, so 'none' gets the
# easier copy task over shorter sequences, a wider state and gentler steps.
TASKS = {
    "bahdanau": dict(cell="lstm", hidden_size=64, reverse=True, max_len=6, steps=300, batch_size=64, lr=1e-2),
    "luong": dict(cell="gru", hidden_size=64, reverse=True, max_len=6, steps=300, batch_size=64, lr=1e-2),
    "none": dict(cell="gru", hidden_size=128, reverse=False, max_len=5, steps=500, batch_size=128, lr=5e-3),
}


@pytest.mark.slow
@pytest.mark.parametrize("attention", TASKS)
def test_tiny_model_learns_a_synthetic_task(make_config, train_toy, toy_batch, attention):
    task = dict(TASKS[attention])
    config = make_config(
        src_vocab_size=14,
        tgt_vocab_size=14,
        embedding_size=32,
        hidden_size=task.pop("hidden_size"),
        attention_size=0,
        cell=task.pop("cell"),
        attention=attention,
        dropout=0.0,
    )
    model = train_toy(config, task.pop("steps"), min_len=3, symbols=10, **task)
    held_out = torch.Generator().manual_seed(1234)
    src, src_lengths, _, _, targets = toy_batch(held_out, 200, 3, task["max_len"], 10, task["reverse"])
    nbests = beam_search(model, src, src_lengths, src_lengths + 2, beam_size=5)
    exact = sum(nbest[0].ids == target for nbest, target in zip(nbests, targets)) / len(targets)
    assert exact >= 0.95, f"{attention}: {exact:.1%} exact match"
