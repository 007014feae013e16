"""ensemble.py: several `Seq2SeqModel`s decoding as one. `Ensemble` offers the model interface that
search and scoring use (`encode`, `decode_step`, `forward`, `config`), combining the members at every
step by the mean of their log-probabilities (renormalised by the search's softmax) and averaging their
attention for the heatmap. Knows nothing of files or tokenizers; `check_members` refuses members that
cannot share one tokenizer.

Shape legend: N rows being decoded, B batch, S source length, T target length, V target vocabulary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import Seq2SeqConfig
from .modeling.decoder import DecoderState
from .modeling.model import Seq2SeqModel, Seq2SeqOutput

MAX_MEMBERS = 16
# config fields every member must share: they fix what the ids mean and which languages are translated
SHARED_FIELDS = (
    "src_vocab_size",
    "tgt_vocab_size",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "unk_token_id",
    "shared_vocab",
    "src_lang",
    "tgt_lang",
)


def check_members(configs: list[Seq2SeqConfig]) -> None:
    """Refuse an empty or oversized ensemble, or members that disagree on vocabulary, ids or languages."""
    if not configs:
        raise ValueError("an ensemble needs at least one member")
    if len(configs) > MAX_MEMBERS:
        raise ValueError(f"an ensemble may have at most {MAX_MEMBERS} members, got {len(configs)}")
    problems = []
    for i, config in enumerate(configs[1:], start=2):
        for name in SHARED_FIELDS:
            if getattr(config, name) != getattr(configs[0], name):
                problems.append(
                    f"{name} is {getattr(configs[0], name)!r} in member 1, {getattr(config, name)!r} in member {i}"
                )
    if problems:
        raise ValueError("ensemble members must share one vocabulary and language pair: " + "; ".join(problems))


def combined_config(configs: list[Seq2SeqConfig]) -> Seq2SeqConfig:
    """The first member's config with the length limits every member can honour."""
    return dataclasses.replace(
        configs[0],
        max_source_length=min(c.max_source_length for c in configs),
        max_target_length=min(c.max_target_length for c in configs),
    )


@dataclass
class EnsembleState:
    """One `DecoderState` per member, reordered together."""

    states: list[DecoderState]

    def select(self, index: Tensor) -> EnsembleState:
        return EnsembleState([s.select(index) for s in self.states])

    def select_hidden(self, index: Tensor) -> EnsembleState:
        return EnsembleState([s.select_hidden(index) for s in self.states])

    def expand_beams(self, beams: int) -> EnsembleState:
        return EnsembleState([s.expand_beams(beams) for s in self.states])


def _mean_attention(attentions: list[Tensor | None]) -> Tensor | None:
    present = [a.float() for a in attentions if a is not None]  # members without attention have none
    return None if not present else torch.stack(present).mean(0)


class Ensemble(nn.Module):
    """Members decoding together: log-probabilities averaged at every step (a log-linear ensemble)."""

    def __init__(self, models: list[Seq2SeqModel]) -> None:
        super().__init__()
        check_members([m.config for m in models])
        self.members = nn.ModuleList(models)
        self.config = combined_config([m.config for m in models])

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    def num_parameters(self) -> int:
        return sum(m.num_parameters() for m in self.members)

    def encode(
        self, src: Tensor, src_lengths: Tensor, vocab: Tensor | None = None, vocab_mask: Tensor | None = None
    ) -> EnsembleState:
        """src (B, S), src_lengths (B,) -> every member's initial decoder state (a shortlist: see
        `Seq2SeqModel.encode`)."""
        return EnsembleState([m.encode(src, src_lengths, vocab, vocab_mask) for m in self.members])

    def decode_step(self, prev_tokens: Tensor, state: EnsembleState) -> tuple[Tensor, Tensor | None, EnsembleState]:
        """prev_tokens (N,) -> scores (N, V) (one member: its logits; else the mean log-probability),
        attention (N, S) averaged over the members that attend, next state."""
        outputs = [m.decode_step(prev_tokens, s) for m, s in zip(self.members, state.states)]
        states = EnsembleState([out[2] for out in outputs])
        if len(outputs) == 1:
            return outputs[0][0], outputs[0][1], states
        log_probs = torch.stack([torch.log_softmax(out[0].float(), dim=-1) for out in outputs]).mean(0)  # (N, V)
        return log_probs, _mean_attention([out[1] for out in outputs]), states

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, labels: Tensor | None = None) -> Seq2SeqOutput:
        """Teacher-forced scores of the ensemble: logits (B, T, V) are the members' mean log-probabilities,
        the loss is their renormalised cross-entropy over non-pad labels."""
        outputs = [m(src, src_lengths, tgt_in) for m in self.members]
        if len(outputs) == 1:
            logits = outputs[0].logits
        else:
            logits = torch.stack([torch.log_softmax(o.logits.float(), dim=-1) for o in outputs]).mean(0)
        loss, num_tokens = None, 0
        if labels is not None:
            num_tokens = int((labels != self.config.pad_token_id).sum())
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=self.config.pad_token_id
            )
        attention = _mean_attention([o.attention for o in outputs])
        return Seq2SeqOutput(logits=logits, loss=loss, attention=attention, num_tokens=num_tokens)


__all__ = ["Ensemble", "EnsembleState", "check_members", "combined_config"]
