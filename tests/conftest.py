"""Shared tiny fixtures: Multi30k lines, a byte-level BPE trained on a few hundred of them, tiny seeded
models and a toy copy / reversal task built directly as id tensors.

Tests never touch the network: the Hub is switched off before `huggingface_hub` is first imported.
"""

import gzip
import os
from functools import cache
from pathlib import Path

import pytest
import torch

# Set before anything imports huggingface_hub, which reads these once.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from seq2seq_hub import Seq2SeqConfig, Seq2SeqModel, Seq2SeqTokenizer, Translator  # noqa: E402

# Tiny models: one thread is the fastest and does not stall when another job keeps the CPUs busy.
torch.set_num_threads(1)

DATA = Path(__file__).resolve().parent.parent / "data" / "multi30k"
PAD, BOS, EOS = 0, 1, 2
FIRST_SYMBOL = 4  # toy-task symbols are ids 4, 5, ...; 0-3 are <pad> <s> </s> <unk>


@cache
def _read_lines(split: str, lang: str) -> tuple[str, ...]:
    with gzip.open(DATA / f"{split}.{lang}.gz", "rt", encoding="utf-8") as f:
        return tuple(line.rstrip("\n") for line in f)


@pytest.fixture(scope="session")
def multi30k():
    """multi30k(split, lang, n) -> the first n lines of data/multi30k/{split}.{lang}.gz."""

    def lines(split: str, lang: str, n: int) -> list[str]:
        return list(_read_lines(split, lang)[:n])

    return lines


@pytest.fixture(scope="session")
def tokenizer(multi30k) -> Seq2SeqTokenizer:
    """A joint German-English byte-level BPE of 400 entries, trained on 300 sentence pairs."""
    return Seq2SeqTokenizer.train(multi30k("train", "de", 300), multi30k("train", "en", 300), vocab_size=400)


def tiny_config(**overrides) -> Seq2SeqConfig:
    values = dict(
        src_vocab_size=23,
        tgt_vocab_size=19,
        embedding_size=8,
        hidden_size=12,
        attention_size=10,
        encoder_layers=1,
        decoder_layers=1,
        dropout=0.1,
        tie_embeddings=True,
        max_source_length=24,
        max_target_length=30,
    )
    values.update(overrides)
    return Seq2SeqConfig(**values)


@pytest.fixture(scope="session")
def make_config():
    """make_config(**overrides) -> a tiny valid `Seq2SeqConfig`."""
    return tiny_config


@pytest.fixture(scope="session")
def make_model():
    """make_model(seed=0, **config_overrides) -> a tiny seeded `Seq2SeqModel` in eval mode."""

    def make(seed: int = 0, **overrides) -> Seq2SeqModel:
        torch.manual_seed(seed)
        return Seq2SeqModel(tiny_config(**overrides)).eval()

    return make


@pytest.fixture(scope="session")
def make_translator(tokenizer):
    """make_translator(seed=0, tokenizer=None, **config_overrides) -> an untrained tiny `Translator`."""

    def make(seed: int = 0, tokenizer: Seq2SeqTokenizer = tokenizer, **overrides) -> Translator:
        torch.manual_seed(seed)
        config = tiny_config(
            src_vocab_size=tokenizer.src_vocab_size,
            tgt_vocab_size=tokenizer.tgt_vocab_size,
            shared_vocab=tokenizer.joint,
            **overrides,
        )
        return Translator(Seq2SeqModel(config), tokenizer)

    return make


@pytest.fixture(scope="session")
def translator(make_translator) -> Translator:
    """One untrained tiny translator with Bahdanau attention (do not modify it in a test)."""
    return make_translator()


@pytest.fixture(scope="session")
def toy_batch():
    """toy_batch(generator, n, min_len, max_len, symbols, reverse) -> src, src_lengths, tgt_in, labels, targets.

    Sources are random symbol sequences + `</s>`; targets are the same sequence (copy) or its reverse.
    """

    def batch(generator: torch.Generator, n: int, min_len: int, max_len: int, symbols: int, reverse: bool):
        lengths = torch.randint(min_len, max_len + 1, (n,), generator=generator)
        width = int(lengths.max()) + 1
        src = torch.full((n, width), PAD, dtype=torch.long)
        tgt_in = torch.full((n, width), PAD, dtype=torch.long)
        labels = torch.full((n, width), PAD, dtype=torch.long)
        targets = []
        for row, length in enumerate(lengths.tolist()):
            seq = torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + symbols, (length,), generator=generator)
            target = seq.flip(0) if reverse else seq
            src[row, :length], src[row, length] = seq, EOS
            tgt_in[row, 0], tgt_in[row, 1 : length + 1] = BOS, target
            labels[row, :length], labels[row, length] = target, EOS
            targets.append(target.tolist() + [EOS])
        return src, lengths + 1, tgt_in, labels, targets

    return batch


@pytest.fixture(scope="session")
def train_toy(toy_batch):
    """train_toy(config, steps, ...) -> a model trained with Adam on the copy / reversal task, in eval mode."""

    def train(
        config: Seq2SeqConfig,
        steps: int,
        *,
        reverse: bool = True,
        min_len: int = 3,
        max_len: int = 6,
        symbols: int = 10,
        batch_size: int = 64,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> Seq2SeqModel:
        torch.manual_seed(seed)
        model = Seq2SeqModel(config).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            src, src_lengths, tgt_in, labels, _ = toy_batch(generator, batch_size, min_len, max_len, symbols, reverse)
            loss = model(src, src_lengths, tgt_in, labels).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        return model.eval()

    return train
