"""int8_encoder.py: `Int8RNN`, the encoder's nn.LSTM / nn.GRU run with int8 weights over a padded batch
(for `quantize.int8_decoding()`): the input's share of the gates in one int8 product per layer and
direction, then the recurrence step by step through the decoder's cell. Inside `int8_decoding()` the
encoder always uses it, whatever the batch: a sentence is encoded the same alone or with others.

Shapes: B batch, S source length, E input size, H hidden size, D directions, L layers, G gates (4 LSTM, 3 GRU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .decoder import Decoder, Hidden
from .quantize import RNN_OUTPUT_BOUND, Int8Weight, linear


def _flip_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first `lengths` steps, leaving its padding in place: x (B, S, F) -> (B, S, F)."""
    steps = torch.arange(x.size(1), device=x.device)
    index = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)  # (B, S)
    return x.gather(1, index.unsqueeze(2).expand_as(x))


@dataclass(frozen=True)
class Int8Cell:
    """One layer and direction of an RNN, its matrices in int8. G is 4 for an LSTM, 3 for a GRU."""

    w_ih: Int8Weight  # (G*H, input size)
    w_hh: Int8Weight  # (G*H, H)
    x_bias: Tensor  # (G*H,): b_ih + b_hh for an LSTM, b_ih for a GRU
    b_hh: Tensor | None  # GRU: (G*H,), applied inside the reset gate


@dataclass(frozen=True)
class Int8RNN:
    """The encoder's nn.LSTM / nn.GRU for inference with int8 weights, over a padded batch: per layer and
    direction, the input's share of the gates for all steps in one int8 product, then the recurrent one
    step by step (the decoder's cell). A backward direction runs forward over each row reversed in place.
    """

    cells: list[Int8Cell]  # layer 0 forward, layer 0 backward (when bidirectional), layer 1 forward, ...
    lstm: bool
    num_directions: int

    @classmethod
    def from_rnn(cls, rnn: nn.LSTM | nn.GRU) -> Int8RNN:
        lstm, cells = rnn.mode == "LSTM", []
        directions = ["", "_reverse"][: 1 + rnn.bidirectional]
        for layer, name in ((i, f"l{i}{suffix}") for i in range(rnn.num_layers) for suffix in directions):
            b_ih, b_hh = (getattr(rnn, f"bias_{kind}_{name}").detach() for kind in ("ih", "hh"))
            # inputs: the embeddings (layer 0: unbounded) or the outputs of the layer below; the hidden state
            w_ih = Int8Weight.from_float(getattr(rnn, f"weight_ih_{name}"), RNN_OUTPUT_BOUND if layer else None)
            w_hh = Int8Weight.from_float(getattr(rnn, f"weight_hh_{name}"), RNN_OUTPUT_BOUND)
            cells.append(Int8Cell(w_ih, w_hh, b_ih + b_hh, None) if lstm else Int8Cell(w_ih, w_hh, b_ih, b_hh))
        return cls(cells, lstm, 2 if rnn.bidirectional else 1)

    def __call__(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Hidden]:
        """x (B, S, E), lengths (B,) -> outputs (B, S, D*H), zero past each length, and the final state as
        nn.LSTM / nn.GRU give it: (L*D, B, H), or an (h, c) pair of them."""
        valid = (torch.arange(x.size(1), device=x.device) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, S, 1)
        always = int(lengths.min())  # steps every row takes: no masking needed
        finals = []
        for layer in range(len(self.cells) // self.num_directions):
            outs = []
            for direction in range(self.num_directions):
                cell = self.cells[layer * self.num_directions + direction]
                seq = x if direction == 0 else _flip_within(x, lengths)
                out, final = self._run(linear(seq, cell.w_ih, cell.x_bias), valid, always, cell)  # gates (B, S, G*H)
                outs.append(out if direction == 0 else _flip_within(out, lengths))
                finals.append(final)
            x = torch.cat(outs, dim=2) * valid  # D x (B, S, H) -> (B, S, D*H)
        if self.lstm:
            return x, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        return x, torch.stack([h for h, _ in finals])

    def _run(
        self, gates: Tensor, valid: Tensor, always: int, cell: Int8Cell
    ) -> tuple[Tensor, tuple[Tensor, Tensor | None]]:
        """One direction over the input's gate shares (B, S, G*H) -> outputs (B, S, H), final (h, c)."""
        h = gates.new_zeros(gates.size(0), cell.w_hh.qweight.size(0))  # (B, H)
        c = torch.zeros_like(h) if self.lstm else None
        outs = []
        for t, x_t in enumerate(gates.unbind(1)):
            h_new, c_new = Decoder._cell(x_t, h, c, cell.w_hh, cell.b_hh)
            if t >= always:  # rows past their length keep their final state
                keep = valid[:, t]  # (B, 1)
                h_new = torch.where(keep, h_new, h)
                c_new = None if c is None else torch.where(keep, c_new, c)
            h, c = h_new, c_new
            outs.append(h)
        return torch.stack(outs, dim=1), (h, c)  # T x (B, H) -> (B, S, H)
