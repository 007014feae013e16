"""naive.py: the textbook decoding reference the decoding benchmarks compare against, written the slow,
common way, on a library model's own parameters: greedy, one sentence at a time, the attention keys
re-projected from the encoder outputs at every step and the RNN called once per token.

(The training reference is the tutorial's own loop, in tutorial.py.)
"""

from __future__ import annotations

import torch


def textbook_step(decoder, tok: torch.Tensor, hidden, memory: torch.Tensor, mask: torch.Tensor):
    """One decoder step the textbook way, on a library decoder's modules: the attention keys are
    re-projected from the encoder outputs, and nn.LSTM / nn.GRU is called once for this one token."""
    emb = decoder.embedding(tok)  # (1, E)
    memory, keys = decoder.prepare_memory(memory)  # keys recomputed every step
    top = (hidden[0] if isinstance(hidden, tuple) else hidden)[-1]  # (1, H)
    if decoder.kind == "bahdanau":
        context, _ = decoder.attention(top, keys, memory, mask)
        out, hidden = decoder.rnn(torch.cat([emb, context], -1).unsqueeze(1), hidden)
        features = torch.cat([out.squeeze(1), context, emb], -1)
    else:
        out, hidden = decoder.rnn(emb.unsqueeze(1), hidden)  # (1, 1, H)
        if decoder.kind == "luong":
            context, _ = decoder.attention(out, keys, memory, mask)
            features = torch.cat([out.squeeze(1), context.squeeze(1)], -1)
        else:
            features = torch.cat([out.squeeze(1), emb], -1)
    pre = torch.tanh(decoder.pre_output(features))
    weight = decoder.embedding.weight if decoder.tied else decoder.output.weight
    return pre @ weight.t() + decoder.output_bias, hidden


@torch.no_grad()
def textbook_greedy(model, src_ids: list[int], max_len: int) -> list[int]:
    """Greedy decoding of one sentence with a library model's parameters, the textbook way: batch of
    one, `textbook_step` per token, no inference mode."""
    cfg, device = model.config, model.device
    src = torch.tensor([src_ids], device=device)
    memory, h, c = model.encoder(src, torch.tensor([len(src_ids)]))
    hidden = model.bridge(h, c)
    mask = torch.ones(1, len(src_ids), dtype=torch.bool, device=device)
    tok, out = torch.tensor([cfg.bos_token_id], device=device), []
    for _ in range(max_len):
        logits, hidden = textbook_step(model.decoder, tok, hidden, memory, mask)
        tok = logits.argmax(-1)
        out.append(int(tok))
        if out[-1] == cfg.eos_token_id:
            break
    return out
