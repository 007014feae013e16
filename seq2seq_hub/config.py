"""config.py: `Seq2SeqConfig`, every hyper-parameter of the model, validated with clear errors.

Owns the model's shape and special-token ids; knows nothing of files, tokenizers or training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .checks import bool_problem, choice_problem, number_problem, raise_problems, string_problem

CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong", "none")
LUONG_SCORES = ("dot", "general")
CHOICES = {"cell": CELLS, "attention": ATTENTIONS, "luong_score": LUONG_SCORES}

# Upper bounds that no honest model of this family reaches; a config beyond them is refused
# before anything is allocated (an untrusted repo cannot make us allocate terabytes).
MAX_VOCAB_SIZE = 1_000_000
MAX_DIM = 16_384
MAX_LAYERS = 16
MAX_LENGTH = 100_000
MAX_PARAMETERS = 2_000_000_000
INTEGER_RANGES = {
    "src_vocab_size": (5, MAX_VOCAB_SIZE),
    "tgt_vocab_size": (5, MAX_VOCAB_SIZE),
    "embedding_size": (1, MAX_DIM),
    "hidden_size": (1, MAX_DIM),
    "attention_size": (0, MAX_DIM),
    "encoder_layers": (1, MAX_LAYERS),
    "decoder_layers": (1, MAX_LAYERS),
    "max_source_length": (2, MAX_LENGTH),
    "max_target_length": (2, MAX_LENGTH),
}


@dataclass
class Seq2SeqConfig:
    """Hyper-parameters of an attention-based recurrent encoder-decoder.

    Construction validates every field and raises one `ValueError` listing each problem.
    """

    src_vocab_size: int = 8000  # source vocabulary size (rows of the source embedding)
    tgt_vocab_size: int = 8000  # target vocabulary size (rows of the target embedding / logits)
    pad_token_id: int = 0  # padding id, shared by source and target
    bos_token_id: int = 1  # start-of-sentence id, the decoder's first input
    eos_token_id: int = 2  # end-of-sentence id, appended to sources and targets
    unk_token_id: int = 3  # unknown-token id
    embedding_size: int = 256  # E: source and target embedding width
    hidden_size: int = 512  # H: RNN width (per direction in the encoder)
    encoder_layers: int = 1  # stacked encoder RNN layers
    decoder_layers: int = 1  # stacked decoder RNN layers
    cell: str = "lstm"  # recurrent cell: lstm | gru
    bidirectional: bool = True  # bidirectional encoder (outputs are 2H wide)
    attention: str = "bahdanau"  # bahdanau (additive) | luong (multiplicative) | none
    luong_score: str = "general"  # luong score function: dot | general
    attention_size: int = 0  # A: Bahdanau's hidden width; 0 means hidden_size
    dropout: float = 0.2  # dropout on embeddings, between RNN layers and before the output layer
    tie_embeddings: bool = True  # share the target embedding with the output projection
    max_source_length: int = 128  # longer sources (in tokens, </s> included) are truncated
    max_target_length: int = 160  # hard cap on generated tokens
    shared_vocab: bool = False  # source and target share one tokenizer (ids mean the same)
    src_lang: str = "de"  # source language code (metadata, model card)
    tgt_lang: str = "en"  # target language code (metadata, model card)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise one `ValueError` naming every field whose value is not allowed."""
        problems: list[str | None] = []

        problems += [
            number_problem(name, getattr(self, name), low, high, integer=True)
            for name, (low, high) in INTEGER_RANGES.items()
        ]
        problems += [choice_problem(name, getattr(self, name), choices) for name, choices in CHOICES.items()]
        problems += [
            bool_problem(name, getattr(self, name)) for name in ("bidirectional", "tie_embeddings", "shared_vocab")
        ]
        problems.append(number_problem("dropout", self.dropout, 0.0, 1.0, high_open=True))
        ids = {}
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
            problem = number_problem(name, getattr(self, name), 0, integer=True)
            problems.append(problem)
            if not problem:
                ids[name] = getattr(self, name)
        if len(set(ids.values())) < len(ids):
            problems.append(f"special token ids must be distinct, got {ids}")
        problems += [string_problem(name, getattr(self, name)) for name in ("src_lang", "tgt_lang")]
        problems = [p for p in problems if p]
        if not problems:
            smallest_vocab = min(self.src_vocab_size, self.tgt_vocab_size)
            for name, value in ids.items():
                if value >= smallest_vocab:
                    problems.append(f"{name} ({value}) must be below both vocabulary sizes")
            if self.shared_vocab and self.src_vocab_size != self.tgt_vocab_size:
                problems.append(
                    "shared_vocab requires src_vocab_size == tgt_vocab_size, got "
                    f"{self.src_vocab_size} and {self.tgt_vocab_size}"
                )
            if self.attention == "luong" and self.luong_score == "dot" and self.encoder_output_size != self.hidden_size:
                problems.append(
                    "luong_score 'dot' needs encoder outputs as wide as the decoder "
                    f"(hidden_size {self.hidden_size}), but the bidirectional encoder gives "
                    f"{self.encoder_output_size}: use luong_score 'general' or bidirectional false"
                )
            if not problems and self.estimated_parameters() > MAX_PARAMETERS:
                problems.append(
                    f"this config would have about {self.estimated_parameters():,} parameters, "
                    f"more than the {MAX_PARAMETERS:,} allowed"
                )
        raise_problems(problems, "Invalid Seq2SeqConfig: ")

    # ------------------------------------------------------------------ derived sizes
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def encoder_output_size(self) -> int:
        """Width of each encoder output vector (2H when bidirectional)."""
        return self.hidden_size * self.num_directions

    @property
    def attention_hidden_size(self) -> int:
        return self.attention_size or self.hidden_size

    def estimated_parameters(self) -> int:
        """An upper-bound estimate of the parameter count, computed without allocating."""
        gates = 4 if self.cell == "lstm" else 3
        e, h, d = self.embedding_size, self.hidden_size, self.num_directions
        enc = 0
        for layer in range(self.encoder_layers):
            inp = e if layer == 0 else h * d
            enc += d * gates * h * (inp + h + 2)
        ctx = self.encoder_output_size
        dec = 0
        for layer in range(self.decoder_layers):
            inp = (e + ctx) if layer == 0 else h
            dec += gates * h * (inp + h + 2)
        extra = ctx * h * 4 + (h + ctx + e) * e + self.attention_hidden_size * (h + ctx + 1)
        embeddings = (self.src_vocab_size + 2 * self.tgt_vocab_size) * e
        return enc + dec + extra + embeddings

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> Seq2SeqConfig:
        """Build a config from a dict, refusing keys this version does not know."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must hold a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source} has unknown keys {unknown}; known keys are {sorted(known)}")
        try:
            return cls(**data)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


__all__ = ["Seq2SeqConfig", "CELLS", "ATTENTIONS", "LUONG_SCORES"]
