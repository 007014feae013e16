"""encoder.py: `Encoder` (embeddings + a multi-layer, optionally bidirectional LSTM/GRU over packed sequences)
and `Bridge` (its final state -> the decoder's initial state). Knows nothing of attention or search.

Shapes: B batch, S source length, E embedding size, H hidden size, C encoder output width (H, or 2H when
bidirectional), L decoder layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..config import Seq2SeqConfig
from .decoder import Hidden
from .int8_encoder import Int8RNN
from .quantize import RNN_OUTPUT_BOUND, Int8Weight, int8_enabled, linear, weight_in_use


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """lengths (B,) -> mask (B, S) with True on real tokens."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class Encoder(nn.Module):
    """Embeddings + multi-layer (bi)LSTM/GRU over packed sequences."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.src_vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.encoder_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.encoder_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.num_directions = config.num_directions
        self.num_layers = config.encoder_layers
        self.int8_rnn: Int8RNN | None = None  # the RNN's int8 copy, used inside `int8_decoding()`

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) the RNN's int8 copy, which `int8_decoding()` uses for every batch."""
        self.int8_rnn = Int8RNN.from_rnn(self.rnn) if enabled else None

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """src (B, S), src_lengths (B,) -> memory (B, S, C), final h (B, C), final c (B, C) or None.

        Batches need not be sorted by length; padding never reaches the RNN.
        """
        emb = self.dropout(self.embedding(src))  # (B, S) -> (B, S, E)
        if self.int8_rnn is not None and int8_enabled():
            memory, hidden = self.int8_rnn(emb, src_lengths.to(src.device))  # (B, S, C)
        else:
            packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, hidden = self.rnn(packed)
            memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B, S, C)

        def top(h: Tensor) -> Tensor:
            h = h.view(self.num_layers, self.num_directions, h.size(1), h.size(2))[-1]  # (D, B, H)
            return h.transpose(0, 1).reshape(h.size(1), -1)  # (D, B, H) -> (B, D*H)

        if isinstance(hidden, tuple):
            return memory, top(hidden[0]), top(hidden[1])
        return memory, top(hidden), None


class Bridge(nn.Module):
    """Maps the encoder's final state to the decoder's initial state: (B, C) -> (L, B, H)."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.layers, self.hidden = config.decoder_layers, config.hidden_size
        self.h = nn.Linear(config.encoder_output_size, self.layers * self.hidden)
        self.c = nn.Linear(config.encoder_output_size, self.layers * self.hidden) if config.cell == "lstm" else None
        self.int8: dict[str, Int8Weight] | None = None  # int8 copies of h and c, used inside `int8_decoding()`

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) int8 copies of the two projections. The encoder's final h lies in [-1, 1]; its final c
        (an LSTM's cell state) does not, and is scaled row by row."""
        self.int8 = None
        if enabled:
            self.int8 = {"h": Int8Weight.from_float(self.h.weight, input_bound=RNN_OUTPUT_BOUND)}
            if self.c is not None:
                self.int8["c"] = Int8Weight.from_float(self.c.weight)

    def _map(self, name: str, state: Tensor) -> Tensor:
        proj = getattr(self, name)
        out = torch.tanh(linear(state, weight_in_use(proj.weight, self.int8, name), proj.bias))  # (B, C) -> (B, L*H)
        return out.view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()  # (L, B, H)

    def forward(self, h: Tensor, c: Tensor | None) -> Hidden:
        if self.c is None:
            return self._map("h", h)
        return self._map("h", h), self._map("c", c) if c is not None else self._map("c", h)
