"""model.py: `Encoder`, `Decoder` and `Seq2SeqModel`, the attention-based recurrent encoder-decoder.

Owns the network: teacher-forced training (a fast whole-sequence path and a per-token scheduled
sampling path, sharing the same step code) and the `encode` / `decode_step` pair that every search
strategy drives. Knows nothing of tokenizers or text; Hub I/O is delegated to `hub.py`.

Shape legend: B batch, S source length, T target length, E embedding size, H hidden size,
C encoder output width (H, or 2H when bidirectional), A attention width, V vocabulary size,
L layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import BahdanauAttention, LuongAttention
from .config import Seq2SeqConfig

Hidden = Tensor | tuple[Tensor, Tensor]  # GRU: (L, B, H); LSTM: (h, c), each (L, B, H)

MODEL_CARD_TAGS = ["seq2seq", "rnn", "attention", "translation", "seq2seq-hub"]


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """lengths (B,) -> mask (B, S) with True on real tokens."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def _select_hidden(hidden: Hidden, index: Tensor) -> Hidden:
    if isinstance(hidden, tuple):
        return tuple(h.index_select(1, index) for h in hidden)  # type: ignore[return-value]
    return hidden.index_select(1, index)


def _top_layer(hidden: Hidden) -> Tensor:
    """Top layer's hidden state: (L, B, H) -> (B, H)."""
    h = hidden[0] if isinstance(hidden, tuple) else hidden
    return h[-1]


@dataclass
class DecoderState:
    """Everything the decoder needs between steps, for a batch of B rows."""

    hidden: Hidden  # (L, B, H), or an (h, c) pair of them
    memory: Tensor  # (B, S, C) encoder outputs
    keys: Tensor | None  # (B, S, A) projected once per batch; None without attention
    mask: Tensor  # (B, S) True on real source tokens

    def select(self, index: Tensor) -> DecoderState:
        """Reorder / repeat rows (beam search): index (B',) -> a state of B' rows."""
        return DecoderState(
            hidden=_select_hidden(self.hidden, index),
            memory=self.memory.index_select(0, index),
            keys=None if self.keys is None else self.keys.index_select(0, index),
            mask=self.mask.index_select(0, index),
        )


@dataclass
class Seq2SeqOutput:
    """What `Seq2SeqModel.forward` returns."""

    logits: Tensor  # (B, T, V)
    loss: Tensor | None = None  # mean cross-entropy over non-pad label tokens
    attention: Tensor | None = None  # (B, T, S); None for attention 'none'
    num_tokens: int = 0  # non-pad label tokens behind `loss`


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

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """src (B, S), src_lengths (B,) -> memory (B, S, C), final h (B, C), final c (B, C) or None.

        Batches need not be sorted by length; padding never reaches the RNN.
        """
        emb = self.dropout(self.embedding(src))  # (B, S) -> (B, S, E)
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

    def _map(self, proj: nn.Linear, state: Tensor) -> Tensor:
        out = torch.tanh(proj(state))  # (B, C) -> (B, L*H)
        return out.view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()  # (L, B, H)

    def forward(self, h: Tensor, c: Tensor | None) -> Hidden:
        if self.c is None:
            return self._map(self.h, h)
        return self._map(self.h, h), self._map(self.c, c if c is not None else h)


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

    # ------------------------------------------------------------------ pieces shared by every path
    def project_keys(self, memory: Tensor) -> Tensor | None:
        return None if self.attention is None else self.attention.project_keys(memory)

    def readout(self, rnn_out: Tensor, context: Tensor | None, emb: Tensor) -> Tensor:
        """(..., H), (..., C), (..., E) -> logits (..., V). Runs over all steps at once when it can."""
        if self.kind == "bahdanau":
            features = torch.cat([rnn_out, context, emb], dim=-1)
        elif self.kind == "luong":
            features = torch.cat([rnn_out, context], dim=-1)
        else:
            features = torch.cat([rnn_out, emb], dim=-1)
        pre = self.dropout(torch.tanh(self.pre_output(features)))  # (..., E)
        weight = self.embedding.weight if self.tied else self.output.weight  # (V, E)
        return F.linear(pre, weight, self.output_bias)  # (..., E) -> (..., V)

    def _bahdanau_rnn_step(self, emb: Tensor, state: DecoderState) -> tuple[Tensor, Tensor, Tensor, Hidden]:
        """emb (B, E) -> rnn_out (B, H), context (B, C), weights (B, S), new hidden."""
        query = _top_layer(state.hidden)  # previous decoder state (B, H)
        context, weights = self.attention(query, state.keys, state.memory, state.mask)
        rnn_in = torch.cat([emb, context], dim=-1).unsqueeze(1)  # (B, 1, E + C)
        out, hidden = self.rnn(rnn_in, state.hidden)
        return out.squeeze(1), context, weights, hidden

    # ------------------------------------------------------------------ one step (search, scheduled sampling)
    def step(self, prev_tokens: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None, DecoderState]:
        """prev_tokens (B,) -> logits (B, V), attention (B, S) or None, next state."""
        emb = self.dropout(self.embedding(prev_tokens))  # (B, E)
        if self.kind == "bahdanau":
            out, context, weights, hidden = self._bahdanau_rnn_step(emb, state)
        else:
            out, hidden = self.rnn(emb.unsqueeze(1), state.hidden)  # (B, 1, H)
            if self.kind == "luong":
                context, weights = self.attention(out, state.keys, state.memory, state.mask)
                context, weights = context.squeeze(1), weights.squeeze(1)  # (B, C), (B, S)
            else:
                context, weights = None, None
            out = out.squeeze(1)
        logits = self.readout(out, context, emb)
        return logits, weights, replace(state, hidden=hidden)

    # ------------------------------------------------------------------ whole target at once (teacher forcing)
    def forward_teacher(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None]:
        """tgt_in (B, T) -> logits (B, T, V), attention (B, T, S) or None. Same numbers as stepping."""
        emb = self.dropout(self.embedding(tgt_in))  # (B, T, E)
        if self.kind == "bahdanau":
            outs, contexts, weights = [], [], []
            for t in range(tgt_in.size(1)):
                out, context, w, hidden = self._bahdanau_rnn_step(emb[:, t], state)
                state = replace(state, hidden=hidden)
                outs.append(out)
                contexts.append(context)
                weights.append(w)
            rnn_out = torch.stack(outs, dim=1)  # T x (B, H) -> (B, T, H)
            context = torch.stack(contexts, dim=1)  # (B, T, C)
            attention = torch.stack(weights, dim=1)  # (B, T, S)
        else:
            rnn_out, _ = self.rnn(emb, state.hidden)  # one call over the whole target: (B, T, H)
            if self.kind == "luong":
                context, attention = self.attention(rnn_out, state.keys, state.memory, state.mask)
            else:
                context, attention = None, None
        return self.readout(rnn_out, context, emb), attention


class Seq2SeqModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="seq2seq-hub",
    pipeline_tag="translation",
    license="mit",
    tags=MODEL_CARD_TAGS,
    repo_url="https://github.com/seq2seq-hub/seq2seq-hub",
):
    """Attention-based recurrent encoder-decoder (see `Seq2SeqConfig` for the choices).

    `forward` trains; `encode` + `decode_step` drive search. Save / load with `save_pretrained` /
    `from_pretrained` (config.json + model.safetensors, loaded strictly, never from a pickle).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = Seq2SeqConfig.from_dict(config)
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"config must be a Seq2SeqConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = Encoder(config)
        self.bridge = Bridge(config)
        self.decoder = Decoder(config)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Embeddings ~ N(0, E^-1/2) (tied output logits start near unit scale); pad rows zero."""
        std = self.config.embedding_size**-0.5
        for emb in (self.encoder.embedding, self.decoder.embedding):
            nn.init.normal_(emb.weight, 0.0, std)
            with torch.no_grad():
                emb.weight[self.config.pad_token_id].zero_()

    @property
    def device(self) -> torch.device:
        return self.decoder.output_bias.device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ search interface
    def encode(self, src: Tensor, src_lengths: Tensor) -> DecoderState:
        """src (B, S), src_lengths (B,) -> the decoder's initial state."""
        memory, h, c = self.encoder(src, src_lengths)
        return DecoderState(
            hidden=self.bridge(h, c),
            memory=memory,
            keys=self.decoder.project_keys(memory),
            mask=lengths_to_mask(src_lengths.to(src.device), src.size(1)),
        )

    def decode_step(self, prev_tokens: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None, DecoderState]:
        """prev_tokens (B,) -> logits (B, V), attention (B, S) or None, next state."""
        return self.decoder.step(prev_tokens, state)

    # ------------------------------------------------------------------ training
    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        labels: Tensor | None = None,
        teacher_forcing_ratio: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> Seq2SeqOutput:
        """src (B, S), src_lengths (B,), tgt_in (B, T) = `<s>` + target, labels (B, T) = target + `</s>`.

        With `teacher_forcing_ratio` < 1, each position's input is, independently with probability
        1 - ratio, the model's own previous greedy prediction instead of the gold token.
        Returns logits (B, T, V), attention (B, T, S) and, given labels, the mean loss over non-pad tokens.
        """
        state = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            logits, attention = self.decoder.forward_teacher(tgt_in, state)
        else:
            logits, attention = self._scheduled_sampling(tgt_in, state, teacher_forcing_ratio)
        loss, num_tokens = None, 0
        if labels is not None:
            num_tokens = int((labels != self.config.pad_token_id).sum())
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(),
                labels.reshape(-1),
                ignore_index=self.config.pad_token_id,
                label_smoothing=label_smoothing,
            )
        return Seq2SeqOutput(logits=logits, loss=loss, attention=attention, num_tokens=num_tokens)

    def _scheduled_sampling(self, tgt_in: Tensor, state: DecoderState, ratio: float) -> tuple[Tensor, Tensor | None]:
        """Step through the target, feeding back the model's own prediction per token with prob 1 - ratio."""
        batch, steps = tgt_in.shape
        all_logits, all_weights = [], []
        inputs = predictions = tgt_in[:, 0]
        for t in range(steps):
            if t > 0:
                use_gold = torch.rand(batch, device=tgt_in.device) < ratio  # one draw per token
                inputs = torch.where(use_gold, tgt_in[:, t], predictions)
            logits, weights, state = self.decoder.step(inputs, state)
            predictions = logits.detach().argmax(-1)  # (B,)
            all_logits.append(logits)
            all_weights.append(weights)
        logits = torch.stack(all_logits, dim=1)  # (B, T, V)
        attention = None if all_weights[0] is None else torch.stack(all_weights, dim=1)
        return logits, attention

    # ------------------------------------------------------------------ Hub I/O (strict, safetensors only)
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> Seq2SeqModel:
        """Load a model from a local folder or a Hub repo id: config validated, weights strict."""
        from .hub import load_model, resolve_repo

        if kwargs:
            raise TypeError(f"unexpected arguments to from_pretrained: {sorted(kwargs)}")
        files = resolve_repo(
            pretrained_model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            force_download=force_download,
            local_files_only=local_files_only,
            need_tokenizer=False,
        )
        return load_model(files, device=device)

    def _save_pretrained(self, save_directory: Path) -> None:
        from .hub import save_weights

        save_weights(self, Path(save_directory))
