"""naive.py: the textbook reference the benchmarks compare against, written the slow, common way.

* Training: one decoder step per Python iteration; the attention key projection of every source
  position is recomputed at every step; the output projection runs inside the loop; one
  teacher-forcing coin per step for the whole batch; batches of 32 randomly drawn sentences padded
  to their longest (no packing, no length bucketing).
* Decoding: greedy, one sentence at a time, with the same per-step recomputation.

Same sizes as the library model it is compared with (embedding, hidden, vocabularies, cell).
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn


class NaiveSeq2Seq(nn.Module):
    """LSTM/GRU encoder-decoder with Bahdanau, Luong (general) or no attention, textbook style."""

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        emb: int,
        hidden: int,
        cell: str = "lstm",
        attention: str = "bahdanau",
        bidirectional: bool = False,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        cell_cls = nn.LSTMCell if cell == "lstm" else nn.GRUCell
        self.cell, self.attention, self.pad_id = cell, attention, pad_id
        directions = 2 if bidirectional else 1
        enc_out = hidden * directions
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=pad_id)
        self.encoder = rnn(emb, hidden, batch_first=True, bidirectional=bidirectional)
        self.bridge = nn.Linear(enc_out, hidden)
        self.W_k = nn.Linear(enc_out, hidden, bias=False)
        self.W_q = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)
        dec_in = emb + enc_out if attention == "bahdanau" else emb
        self.decoder = cell_cls(dec_in, hidden)
        out_in = {"bahdanau": hidden + enc_out + emb, "luong": hidden + enc_out, "none": hidden + emb}[attention]
        self.pre = nn.Linear(out_in, emb)
        self.out = nn.Linear(emb, tgt_vocab)

    def _attend(self, h, enc, mask):
        if self.attention == "bahdanau":
            keys = self.W_k(enc)  # recomputed every step
            scores = self.v(torch.tanh(keys + self.W_q(h).unsqueeze(1))).squeeze(-1)
        else:
            scores = torch.bmm(self.W_k(enc), h.unsqueeze(2)).squeeze(2)  # luong general, recomputed
        scores = scores.masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, -1)
        return torch.bmm(w.unsqueeze(1), enc).squeeze(1)

    def _init(self, src):
        enc, hidden = self.encoder(self.src_emb(src))
        h_last = hidden[0] if isinstance(hidden, tuple) else hidden
        h0 = torch.tanh(self.bridge(h_last.transpose(0, 1).reshape(src.size(0), -1)))
        state = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else h0
        return enc, state, src != self.pad_id

    def _step(self, tok, state, enc, mask):
        e = self.tgt_emb(tok)
        h_prev = state[0] if isinstance(state, tuple) else state
        if self.attention == "bahdanau":
            ctx = self._attend(h_prev, enc, mask)
            state = self.decoder(torch.cat([e, ctx], -1), state)
            h = state[0] if isinstance(state, tuple) else state
            logits = self.out(torch.tanh(self.pre(torch.cat([h, ctx, e], -1))))
        else:
            state = self.decoder(e, state)
            h = state[0] if isinstance(state, tuple) else state
            if self.attention == "luong":
                ctx = self._attend(h, enc, mask)
                logits = self.out(torch.tanh(self.pre(torch.cat([h, ctx], -1))))
            else:
                logits = self.out(torch.tanh(self.pre(torch.cat([h, e], -1))))
        return logits, state

    def forward(self, src, tgt_in, labels, teacher_forcing_ratio: float = 1.0):
        enc, state, mask = self._init(src)
        tok = tgt_in[:, 0]
        losses = []
        for t in range(tgt_in.size(1)):
            logits, state = self._step(tok, state, enc, mask)  # output projection inside the loop
            losses.append(F.cross_entropy(logits, labels[:, t], ignore_index=self.pad_id, reduction="sum"))
            if t + 1 < tgt_in.size(1):
                use_gold = random.random() < teacher_forcing_ratio  # one coin for the whole batch
                tok = tgt_in[:, t + 1] if use_gold else logits.argmax(-1)
        n = (labels != self.pad_id).sum()
        return torch.stack(losses).sum() / n

    @torch.no_grad()
    def greedy(self, src_ids: list[int], bos: int, eos: int, max_len: int) -> list[int]:
        src = torch.tensor([src_ids])
        enc, state, mask = self._init(src)
        tok, out = torch.tensor([bos]), []
        for _ in range(max_len):
            logits, state = self._step(tok, state, enc, mask)
            tok = logits.argmax(-1)
            out.append(int(tok))
            if out[-1] == eos:
                break
        return out


def naive_batches(num_examples: int, batch_size: int = 32, seed: int = 0) -> list[list[int]]:
    """Random batches of `batch_size` examples (the textbook DataLoader with shuffle=True)."""
    order = list(range(num_examples))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad(seqs: list[list[int]], pad_id: int = 0) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out


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
