"""decoder.py: the `Decoder` (embedding, (attention,) RNN cell, readout) and the per-batch objects its
steps share: `DecoderWeights` (matrices taken once per batch) and `DecoderState` (hidden state, memory,
keys, mask). One step function serves teacher forcing and every search strategy.

Shape legend: B batch, S source length, T target length, E embedding size, H hidden size,
C encoder output width, A attention width, V vocabulary size, L layers, G gates (4 LSTM, 3 GRU).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Seq2SeqConfig
from .attention import BahdanauAttention, LuongAttention
from .quantize import RNN_OUTPUT_BOUND, Int8Weight, int8_enabled, linear

Hidden = Tensor | tuple[Tensor, Tensor]  # GRU: (L, B, H); LSTM: (h, c), each (L, B, H)


def _select_hidden(hidden: Hidden, index: Tensor) -> Hidden:
    if isinstance(hidden, tuple):
        return tuple(h.index_select(1, index) for h in hidden)  # type: ignore[return-value]
    return hidden.index_select(1, index)


def _top_layer(hidden: Hidden) -> Tensor:
    """Top layer's hidden state: (L, B, H) -> (B, H)."""
    h = hidden[0] if isinstance(hidden, tuple) else hidden
    return h[-1]


@dataclass
class DecoderWeights:
    """The decoder's matrices as its step-wise code uses them, taken once per batch by `encode`.

    Views of the nn.LSTM / nn.GRU and nn.Linear parameters, so autograd accumulates each gradient once
    per batch rather than once per step; under autocast they are cast once here instead of at every
    step. `Decoder.quantize_int8` keeps one whose matrices are `Int8Weight`s. G is 4 for an LSTM, 3 for a GRU.
    """

    emb: Tensor | Int8Weight  # (G*H, E) layer 0's input weights for the target embedding
    context: Tensor | Int8Weight | None  # (G*H, C) layer 0's input weights for the Bahdanau context
    w_ih: list[Tensor | Int8Weight]  # per layer (G*H, input size); layer 0's is split into the two above
    w_hh: list[Tensor | Int8Weight]  # per layer (G*H, H)
    x_bias: list[Tensor]  # per layer (G*H,): b_ih + b_hh for an LSTM, b_ih for a GRU
    b_hh: list[Tensor] | None  # GRU: per layer (G*H,), applied inside the reset gate
    pre_output: Tensor | Int8Weight  # (E, readout features)
    pre_output_bias: Tensor  # (E,)
    output: Tensor | Int8Weight  # (V, E), the target embedding when tied
    output_bias: Tensor  # (V,)

    def restricted(self, vocab: Tensor) -> DecoderWeights:
        """The output layer cut to the target ids `vocab` (U,): (V, E) -> (U, E), for shortlist decoding."""
        output = self.output.outputs(vocab) if isinstance(self.output, Int8Weight) else self.output[vocab]
        return replace(self, output=output, output_bias=self.output_bias[vocab])


@dataclass
class DecoderState:
    """Everything the decoder needs between steps, for a batch of N rows of M = N / beams sentences.

    Beam search's K beams of a sentence are K consecutive rows that share the sentence's memory, keys
    and mask (beams = K): they are stored once per sentence, not copied per beam.
    """

    hidden: Hidden  # (L, N, H), or an (h, c) pair of them
    memory: Tensor  # (M, S, C) encoder outputs
    keys: Tensor | None  # (M, S, A) projected once per batch; None without attention
    mask: Tensor  # (M, S) True on real source tokens
    weights: DecoderWeights  # shared by every row
    beams: int = 1  # rows per sentence
    vocab: Tensor | None = None  # (U,) shortlist decoding: the target ids the output layer computes, sorted
    vocab_mask: Tensor | None = None  # (M, U) which of them each sentence may produce (its own shortlist)

    def select(self, index: Tensor) -> DecoderState:
        """Reorder rows: index (N',) -> a state of N' rows. With beams > 1, each run of `beams` rows of the
        index comes from one sentence (beam search keeps beams within their sentence)."""
        sentences = index if self.beams == 1 else index.view(-1, self.beams)[:, 0] // self.beams  # (M',)
        return DecoderState(
            hidden=_select_hidden(self.hidden, index),
            memory=self.memory.index_select(0, sentences),
            keys=None if self.keys is None else self.keys.index_select(0, sentences),
            mask=self.mask.index_select(0, sentences),
            weights=self.weights,
            beams=self.beams,
            vocab=self.vocab,
            vocab_mask=None if self.vocab_mask is None else self.vocab_mask.index_select(0, sentences),
        )

    def expand_beams(self, beams: int) -> DecoderState:
        """Each sentence's row repeated `beams` times (beam search's start), the memory still stored once."""
        rows = torch.arange(self.mask.size(0), device=self.mask.device).repeat_interleave(beams)  # (M * beams,)
        return replace(self, hidden=_select_hidden(self.hidden, rows), beams=beams)

    def select_hidden(self, index: Tensor) -> DecoderState:
        """Reorder rows among copies of the same sentence (beam search): only the hidden state differs."""
        return replace(self, hidden=_select_hidden(self.hidden, index))


class Decoder(nn.Module):
    """Target embeddings, RNN, attention and the output layer.

    * bahdanau: the query is the previous decoder state; the context joins the RNN input.
    * luong: the RNN runs first; attention over its output; a combined output layer.
    * none: the RNN sees only the previous target token and its own state.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        e, h, c = config.embedding_size, config.hidden_size, config.encoder_output_size
        self.kind = config.attention
        self.embedding = nn.Embedding(config.tgt_vocab_size, e, padding_idx=config.pad_token_id)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            e + c if self.kind == "bahdanau" else e,
            h,
            num_layers=config.decoder_layers,
            batch_first=True,
            dropout=config.dropout if config.decoder_layers > 1 else 0.0,
        )
        if self.kind == "bahdanau":
            self.attention: nn.Module | None = BahdanauAttention(h, c, config.attention_hidden_size)
            readout_in = h + c + e
        elif self.kind == "luong":
            self.attention = LuongAttention(h, c, config.luong_score)
            readout_in = h + c
        else:
            self.attention = None
            readout_in = h + e
        self.pre_output = nn.Linear(readout_in, e)
        self.dropout = nn.Dropout(config.dropout)
        self.tied = config.tie_embeddings
        self.output = None if self.tied else nn.Linear(e, config.tgt_vocab_size, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(config.tgt_vocab_size))
        self.int8_weights: DecoderWeights | None = None  # int8 copies, used inside `int8_decoding()`

    # ------------------------------------------------------------------ pieces shared by every path
    def _dropout(self, x: Tensor) -> Tensor:
        """Dropout while training; at inference x itself, without a call per decoding step."""
        return self.dropout(x) if self.training else x

    def prepare_memory(self, memory: Tensor) -> tuple[Tensor, Tensor | None]:
        """memory (B, S, C) -> (memory, keys) as the attention takes them; keys None without attention."""
        return (memory, None) if self.attention is None else self.attention.prepare(memory)

    def weights(self) -> DecoderWeights:
        """The step-wise code's view of the parameters; cast once to the autocast dtype when autocast is on;
        the int8 copies (`quantize_int8`) inside `int8_decoding()`."""
        if self.int8_weights is not None and int8_enabled():
            return self.int8_weights
        rnn, e, layers = self.rnn, self.embedding.embedding_dim, self.rnn.num_layers
        lstm = rnn.mode == "LSTM"
        w_ih = [getattr(rnn, f"weight_ih_l{i}") for i in range(layers)]
        b_ih = [getattr(rnn, f"bias_ih_l{i}") for i in range(layers)]
        b_hh = [getattr(rnn, f"bias_hh_l{i}") for i in range(layers)]
        weights = DecoderWeights(
            emb=w_ih[0][:, :e],
            context=w_ih[0][:, e:] if self.kind == "bahdanau" else None,
            w_ih=w_ih,
            w_hh=[getattr(rnn, f"weight_hh_l{i}") for i in range(layers)],
            x_bias=[bi + bh for bi, bh in zip(b_ih, b_hh)] if lstm else b_ih,
            b_hh=None if lstm else b_hh,
            pre_output=self.pre_output.weight,
            pre_output_bias=self.pre_output.bias,
            output=self.embedding.weight if self.tied else self.output.weight,
            output_bias=self.output_bias,
        )
        device_type = self.output_bias.device.type
        if not torch.is_autocast_enabled(device_type):
            return weights
        dtype = torch.get_autocast_dtype(device_type)

        def cast(value):
            if isinstance(value, list):
                return [cast(v) for v in value]
            return None if value is None else value.to(dtype)

        return DecoderWeights(**{name: cast(value) for name, value in vars(weights).items()})

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) int8 copies of the step-wise matrices, for `int8_decoding()`; biases stay float."""
        self.int8_weights = None
        if self.attention is not None:
            self.attention.quantize_int8(enabled)
        if not enabled:
            return
        with torch.no_grad(), torch.autocast(self.output_bias.device.type, enabled=False):
            w = self.weights()
        q, bounded = Int8Weight.from_float, partial(Int8Weight.from_float, input_bound=RNN_OUTPUT_BOUND)
        self.int8_weights = replace(
            w,
            emb=q(w.emb),
            context=None if w.context is None else bounded(w.context),  # a mix of encoder RNN outputs
            w_ih=w.w_ih[:1] + [bounded(m) for m in w.w_ih[1:]],  # the layer below's output; layer 0's: emb / context
            w_hh=[bounded(m) for m in w.w_hh],  # the hidden state
            pre_output=q(w.pre_output),  # the embedding is among its inputs: unbounded
            output=bounded(w.output),  # a tanh
        )

    def readout(self, rnn_out: Tensor, context: Tensor | None, emb: Tensor, weights: DecoderWeights) -> Tensor:
        """(..., H), (..., C), (..., E) -> logits (..., V). Runs over all steps at once when it can."""
        if self.kind == "bahdanau":
            features = torch.cat([rnn_out, context, emb], dim=-1)
        elif self.kind == "luong":
            features = torch.cat([rnn_out, context], dim=-1)
        else:
            features = torch.cat([rnn_out, emb], dim=-1)
        pre = self._dropout(torch.tanh(linear(features, weights.pre_output, weights.pre_output_bias)))  # (..., E)
        return linear(pre, weights.output, weights.output_bias)  # (..., E) -> (..., V)

    # ------------------------------------------------------------------ the recurrent cell, one step at a time
    # The step-wise paths run the RNN's own parameters (self.rnn.weight_ih_l0, ...) through explicit cell
    # arithmetic instead of calling nn.LSTM / nn.GRU once per token: the embedding's share of layer 0's
    # input gates is then one matmul over the whole target (teacher forcing) and each step does only the
    # context and recurrent matmuls. Same numbers as nn.LSTM / nn.GRU up to float rounding (tested).
    @staticmethod
    def _cell(
        x_gates: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor | Int8Weight, b_hh: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """One LSTM / GRU cell step: input-side pre-activations (B, G*H), h (B, H), c (B, H) -> new h, c."""
        if c is not None:  # LSTM: gates i, f, g, o; both biases are already in x_gates
            i, f, g, o = linear(h, w_hh, x_gates).chunk(4, dim=1)  # x_gates + h @ w_hh^T
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            return torch.sigmoid(o) * torch.tanh(c), c
        xr, xz, xn = x_gates.chunk(3, dim=1)  # GRU: gates r, z, n; b_hh stays inside the reset gate
        hr, hz, hn = linear(h, w_hh, b_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return n + z * (h - n), None  # (1 - z) * n + z * h

    def rnn_step(self, x_gates: Tensor, hidden: Hidden, weights: DecoderWeights) -> tuple[Tensor, Hidden]:
        """One time step through every layer: layer 0's input pre-activations (B, G*H) -> top output (B, H), hidden."""
        lstm = isinstance(hidden, tuple)
        hs = (hidden[0] if lstm else hidden).unbind(0)  # L x (B, H)
        cs = hidden[1].unbind(0) if lstm else [None] * len(hs)
        new_h, new_c = [], []
        for layer, (h, c) in enumerate(zip(hs, cs)):
            if layer > 0:
                below = F.dropout(new_h[-1], self.rnn.dropout) if self.training else new_h[-1]  # as nn.LSTM
                x_gates = linear(below, weights.w_ih[layer], weights.x_bias[layer])
            h, c = self._cell(x_gates, h, c, weights.w_hh[layer], None if lstm else weights.b_hh[layer])
            new_h.append(h)
            new_c.append(c)
        h_all = torch.stack(new_h)  # (L, B, H)
        return new_h[-1], ((h_all, torch.stack(new_c)) if lstm else h_all)

    def _bahdanau_rnn_step(self, x_gates: Tensor, state: DecoderState) -> tuple[Tensor, Tensor, Tensor, Hidden]:
        """Embedding gates (B, G*H) -> rnn_out (B, H), context (B, C), attention (B, S), new hidden."""
        query = _top_layer(state.hidden)  # previous decoder state (B, H)
        context, attention = self.attention(query, state.keys, state.memory, state.mask)
        x_gates = linear(context, state.weights.context, x_gates)  # + the context's share: (B, G*H)
        out, hidden = self.rnn_step(x_gates, state.hidden, state.weights)
        return out, context, attention, hidden

    # ------------------------------------------------------------------ one step (search, scheduled sampling)
    def advance(
        self, prev_tokens: Tensor, state: DecoderState
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None, DecoderState]:
        """One step up to the readout: prev_tokens (B,) -> rnn_out (B, H), context (B, C) or None,
        emb (B, E), attention (B, S) or None, next state."""
        emb = self._dropout(self.embedding(prev_tokens))  # (B, E)
        x_gates = linear(emb, state.weights.emb, state.weights.x_bias[0])  # the embedding's share (B, G*H)
        if self.kind == "bahdanau":
            out, context, attention, hidden = self._bahdanau_rnn_step(x_gates, state)
        else:
            out, hidden = self.rnn_step(x_gates, state.hidden, state.weights)  # (B, H)
            if self.kind == "luong":  # a sentence's beams are its queries: (N, H) -> (M, beams, H)
                queries = out.view(state.mask.size(0), -1, out.size(-1))
                context, attention = self.attention(queries, state.keys, state.memory, state.mask)
                context, attention = context.flatten(0, 1), attention.flatten(0, 1)  # (N, C), (N, S)
            else:
                context, attention = None, None
        return out, context, emb, attention, replace(state, hidden=hidden)

    def step(self, prev_tokens: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None, DecoderState]:
        """prev_tokens (B,) -> logits (B, V), attention (B, S) or None, next state.

        Shortlist decoding (`state.vocab` set): tokens are positions in `state.vocab`, logits are (B, U), and
        each row's logits outside its sentence's own shortlist are -inf."""
        if state.vocab is not None:
            prev_tokens = state.vocab[prev_tokens]  # positions -> target ids
        out, context, emb, attention, state = self.advance(prev_tokens, state)
        logits = self.readout(out, context, emb, state.weights)  # (B, V), or (B, U) with a shortlist
        if state.vocab_mask is not None:
            rows = state.vocab_mask.repeat_interleave(state.beams, 0) if state.beams > 1 else state.vocab_mask
            logits = logits.masked_fill(~rows, float("-inf"))
        return logits, attention, state

    # ------------------------------------------------------------------ whole target at once (teacher forcing)
    def forward_teacher(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None]:
        """tgt_in (B, T) -> logits (B, T, V), attention (B, T, S) or None. Same numbers as stepping."""
        emb = self._dropout(self.embedding(tgt_in))  # (B, T, E)
        weights = state.weights
        if self.kind == "bahdanau":
            outs, contexts, attentions = [], [], []
            x_gates = linear(emb, weights.emb, weights.x_bias[0])  # the embedding's share, all T at once
            for x_t in x_gates.unbind(1):  # T x (B, G*H)
                out, context, attention, hidden = self._bahdanau_rnn_step(x_t, state)
                state = replace(state, hidden=hidden)
                outs.append(out)
                contexts.append(context)
                attentions.append(attention)
            rnn_out = torch.stack(outs, dim=1)  # T x (B, H) -> (B, T, H)
            context = torch.stack(contexts, dim=1)  # (B, T, C)
            attention = torch.stack(attentions, dim=1)  # (B, T, S)
        else:
            rnn_out, _ = self.rnn(emb, state.hidden)  # one call over the whole target: (B, T, H)
            if self.kind == "luong":
                context, attention = self.attention(rnn_out, state.keys, state.memory, state.mask)
            else:
                context, attention = None, None
        return self.readout(rnn_out, context, emb, weights), attention
