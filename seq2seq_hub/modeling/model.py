"""model.py: `Seq2SeqModel`, the attention-based recurrent encoder-decoder (`encoder.py` + `decoder.py`).

Owns the network: teacher-forced training (a fast whole-sequence path and a per-token scheduled
sampling path, sharing the decoder's step code) and the `encode` / `decode_step` pair that every
search strategy drives. Knows nothing of tokenizers or text; its Hub mixin hooks hand the file format
to `hub.py`.

Shape legend: B batch, S source length, T target length, E embedding size, H hidden size,
C encoder output width (H, or 2H when bidirectional), A attention width, V vocabulary size,
L layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Seq2SeqConfig
from ..hub import RepoFiles, StrictHubMixin
from ..repo_files import check_weights, load_config, load_weights, save_weights, write_config
from .decoder import Decoder, DecoderState
from .encoder import Bridge, Encoder, lengths_to_mask

MODEL_CARD_TAGS = ["seq2seq", "rnn", "attention", "translation", "seq2seq-hub"]


@dataclass
class Seq2SeqOutput:
    """What `Seq2SeqModel.forward` returns."""

    logits: Tensor  # (B, T, V)
    loss: Tensor | None = None  # mean cross-entropy over non-pad label tokens
    attention: Tensor | None = None  # (B, T, S); None for attention 'none'
    num_tokens: int = 0  # non-pad label tokens behind `loss`


class Seq2SeqModel(
    nn.Module,
    StrictHubMixin,
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

    def quantize_int8(self, enabled: bool = True) -> None:
        """Make (or drop) int8 copies of the encoder's and decoder's matrices (per output channel, symmetric), which
        CPU inference uses inside `quantize.int8_decoding()`. Parameters, state dict and training are unchanged."""
        self.encoder.quantize_int8(enabled)
        self.bridge.quantize_int8(enabled)
        self.decoder.quantize_int8(enabled)

    @property
    def is_int8(self) -> bool:
        """Whether `quantize_int8` made int8 copies for inference."""
        return self.decoder.int8_weights is not None

    # ------------------------------------------------------------------ search interface
    def encode(
        self, src: Tensor, src_lengths: Tensor, vocab: Tensor | None = None, vocab_mask: Tensor | None = None
    ) -> DecoderState:
        """src (B, S), src_lengths (B,) -> the decoder's initial state. With a shortlist, vocab (U,) the target
        ids the output layer computes and vocab_mask (B, U) each sentence's own (see `Decoder.step`)."""
        memory, h, c = self.encoder(src, src_lengths)
        memory, keys = self.decoder.prepare_memory(memory)
        weights = self.decoder.weights()
        return DecoderState(
            hidden=self.bridge(h, c),
            memory=memory,
            keys=keys,
            mask=lengths_to_mask(src_lengths.to(src.device), src.size(1)),
            weights=weights if vocab is None else weights.restricted(vocab.to(src.device)),
            vocab=None if vocab is None else vocab.to(src.device),
            vocab_mask=None if vocab_mask is None else vocab_mask.to(src.device),
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
        """Step through the target, feeding back the model's own prediction per token with prob 1 - ratio.

        The predictions come from a gradient-free readout at each step; the logits that train are
        computed once over all steps afterwards (one output-layer matmul and gradient, not T of them).
        """
        decoder, (batch, steps) = self.decoder, tgt_in.shape
        outs, contexts, embs, attentions = [], [], [], []
        inputs = predictions = tgt_in[:, 0]
        for t in range(steps):
            if t > 0:
                use_gold = torch.rand(batch, device=tgt_in.device) < ratio  # one draw per token
                inputs = torch.where(use_gold, tgt_in[:, t], predictions)
            out, context, emb, attention, state = decoder.advance(inputs, state)
            with torch.no_grad():
                predictions = decoder.readout(out, context, emb, state.weights).argmax(-1)  # (B,)
            outs.append(out)
            contexts.append(context)
            embs.append(emb)
            attentions.append(attention)

        def stack(xs: list[Tensor | None]) -> Tensor | None:
            return None if xs[0] is None else torch.stack(xs, dim=1)  # T x (B, ...) -> (B, T, ...)

        logits = decoder.readout(stack(outs), stack(contexts), stack(embs), state.weights)  # (B, T, V), at once
        return logits, stack(attentions)

    # ------------------------------------------------------------------ Hub I/O (strict, safetensors only)
    @classmethod
    def _from_repo(cls, files: RepoFiles, config: Seq2SeqConfig, *, device: str | torch.device) -> Seq2SeqModel:
        """`from_pretrained`'s last step (see `hub.StrictHubMixin`): the config was validated from config.json."""
        return cls.from_files(files, config).to(device)

    @classmethod
    def from_files(cls, files: RepoFiles, config: Seq2SeqConfig | None = None) -> Seq2SeqModel:
        """Build from a resolved repo: config.json validated (or `config`, already read), weights checked
        against the config before they are read, loaded strictly. Returns the model in eval mode on CPU."""
        config = config or load_config(files.config)
        check_weights(files.weights, cls.parameter_shapes(config))  # before any memory is allocated
        model = cls(config)
        model.load_state_dict(load_weights(files.weights, model.state_dict()), strict=True)
        return model.eval()

    @staticmethod
    def parameter_shapes(config: Seq2SeqConfig) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes of a model with this config, without allocating its memory."""
        with torch.device("meta"):
            model = Seq2SeqModel(config)
        return {name: tuple(t.shape) for name, t in model.state_dict().items()}

    def _save_pretrained(self, save_directory: Path) -> None:
        """config.json and model.safetensors (the mixin adds a generic card when there is none)."""
        write_config(self.config, Path(save_directory))
        save_weights(self.state_dict(), Path(save_directory))
