"""tutorial.py: the training reference of the benchmarks, the tutorial's own model and loop.

The model, its initialisation and the training step are those of bentrevett/pytorch-seq2seq, notebook
"3 - Neural Machine Translation by Jointly Learning to Align and Translate" (the rewritten version on
the repository's main branch, commit b3cd54c): a bidirectional encoder whose last states go through
`fc` + tanh, an attention that concatenates the previous decoder state, repeated over the source, with
the encoder outputs at every step, a decoder called once per target position with the output layer
inside the step, a (trg len, batch, vocab) `outputs` buffer filled step by step, one
`random.random() < teacher_forcing_ratio` coin per step, CrossEntropyLoss(ignore_index=pad) over
`outputs[1:]`, Adam with its defaults, clip_grad_norm_ 1.0, N(0, 0.01) weights and zero biases,
batches of 128 sentences drawn at random (DataLoader shuffle=True) padded time-major to their longest.

What differs from the notebook, and nothing else:

* **Cell type.** nn.GRU -> nn.LSTM in the encoder and the decoder (the sizes the issue compares at:
  embedding 256, hidden 512, which are also the notebook's). The encoder's final *hidden* states go
  through `fc` + tanh as in the notebook; its final cell states are dropped, and the decoder's cell
  state starts at zeros. The decoder carries `(h, c)` and the attention reads `h`, where the GRU
  version carries `hidden`.
* **Word tokenization.** spaCy is not installed here: a lowercase regex word split
  (`\\w+|[^\\w\\s]`) stands in for spaCy's tokenizer + `lower`, over the same Multi30k train split read
  from data/multi30k (the notebook loads it from the Hub). The vocabularies are then built as the
  notebook's torchtext `build_vocab_from_iterator(min_freq=2, specials=[unk, pad, sos, eos])` builds
  them: 7,882 German / 5,898 English entries against the notebook's 7,853 / 5,893.
* **The loop's extent.** `train_step` is one iteration of the notebook's `train_fn` loop body; the
  benchmark runs it over a given list of batches instead of whole epochs.
"""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.data import BatchSampler, RandomSampler

UNK, PAD, SOS, EOS = "<unk>", "<pad>", "<sos>", "<eos>"
SPECIALS = [UNK, PAD, SOS, EOS]  # the notebook's order: unk 0, pad 1, sos 2, eos 3
WORD = re.compile(r"\w+|[^\w\s]")
BATCH_SIZE = 128
TEACHER_FORCING_RATIO = 0.5
CLIP = 1.0
DROPOUT = 0.5
MIN_FREQ = 2
MAX_LENGTH = 1_000


# ---------------------------------------------------------------------- data
def tokenize(text: str, max_length: int = MAX_LENGTH) -> list[str]:
    """Lowercased words and punctuation (stands in for spaCy's tokenizer + `lower`), framed by sos/eos."""
    return [SOS] + WORD.findall(text.lower())[:max_length] + [EOS]


def build_vocab(sentences: list[list[str]], min_freq: int = MIN_FREQ) -> dict[str, int]:
    """torchtext's build_vocab_from_iterator: specials first, then tokens seen >= min_freq times,
    by frequency (most frequent first), ties in alphabetical order."""
    counts = Counter(token for tokens in sentences for token in tokens)
    for special in SPECIALS:
        counts.pop(special, None)
    ordered = sorted(sorted(counts.items()), key=lambda item: item[1], reverse=True)
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for token, count in ordered:
        if count >= min_freq:
            vocab[token] = len(vocab)
    return vocab


def read_lines(path: Path, limit: int = 0) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:limit] if limit else lines


@dataclass
class WordData:
    """Multi30k train as the notebook holds it: id tensors per sentence (sos + words + eos), and vocabularies."""

    de_ids: list[torch.Tensor]
    en_ids: list[torch.Tensor]
    de_vocab: dict[str, int]
    en_vocab: dict[str, int]

    @property
    def pad_index(self) -> int:
        return self.en_vocab[PAD]

    def __len__(self) -> int:
        return len(self.de_ids)

    def collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The notebook's collate_fn: pad_sequence, time-major (T, B)."""
        return {
            "en_ids": nn.utils.rnn.pad_sequence([self.en_ids[i] for i in indices], padding_value=self.pad_index),
            "de_ids": nn.utils.rnn.pad_sequence([self.de_ids[i] for i in indices], padding_value=self.pad_index),
        }


def load_word_data(data_dir: Path, limit: int = 0) -> WordData:
    """Tokenize Multi30k train (de -> en), build both vocabularies (min_freq 2) and numericalize."""
    de = [tokenize(s) for s in read_lines(Path(data_dir) / "train.de.gz", limit)]
    en = [tokenize(s) for s in read_lines(Path(data_dir) / "train.en.gz", limit)]
    de_vocab, en_vocab = build_vocab(de), build_vocab(en)

    def numericalize(tokens: list[str], vocab: dict[str, int]) -> torch.Tensor:
        return torch.tensor([vocab.get(t, vocab[UNK]) for t in tokens], dtype=torch.long)

    return WordData(
        [numericalize(t, de_vocab) for t in de], [numericalize(t, en_vocab) for t in en], de_vocab, en_vocab
    )


def random_batches(num_examples: int, batch_size: int = BATCH_SIZE, seed: int = 0) -> list[list[int]]:
    """The index batches of DataLoader(shuffle=True, batch_size=batch_size) for one epoch."""
    generator = torch.Generator().manual_seed(seed)
    return list(BatchSampler(RandomSampler(range(num_examples), generator=generator), batch_size, drop_last=False))


# ---------------------------------------------------------------------- model (shapes: time-major, as the notebook)
class Encoder(nn.Module):
    def __init__(self, input_dim, embedding_dim, encoder_hidden_dim, decoder_hidden_dim, dropout):
        super().__init__()
        self.embedding = nn.Embedding(input_dim, embedding_dim)
        self.rnn = nn.LSTM(embedding_dim, encoder_hidden_dim, bidirectional=True)  # notebook: nn.GRU
        self.fc = nn.Linear(encoder_hidden_dim * 2, decoder_hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, src):
        # src = [src length, batch size]
        embedded = self.dropout(self.embedding(src))
        # embedded = [src length, batch size, embedding dim]
        outputs, (hidden, _) = self.rnn(embedded)  # notebook (GRU): outputs, hidden
        # outputs = [src length, batch size, encoder hidden dim * 2]; hidden = [2, batch size, encoder hidden dim]
        hidden = torch.tanh(self.fc(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)))
        # hidden = [batch size, decoder hidden dim]
        return outputs, hidden


class Attention(nn.Module):
    def __init__(self, encoder_hidden_dim, decoder_hidden_dim):
        super().__init__()
        self.attn_fc = nn.Linear((encoder_hidden_dim * 2) + decoder_hidden_dim, decoder_hidden_dim)
        self.v_fc = nn.Linear(decoder_hidden_dim, 1, bias=False)

    def forward(self, hidden, encoder_outputs):
        # hidden = [batch size, decoder hidden dim]; encoder_outputs = [src length, batch size, encoder hidden dim * 2]
        src_length = encoder_outputs.shape[0]
        hidden = hidden.unsqueeze(1).repeat(1, src_length, 1)  # repeated every step
        encoder_outputs = encoder_outputs.permute(1, 0, 2)
        # hidden = [batch size, src length, decoder hidden dim]; encoder_outputs = [batch size, src length, enc * 2]
        energy = torch.tanh(self.attn_fc(torch.cat((hidden, encoder_outputs), dim=2)))
        attention = self.v_fc(energy).squeeze(2)
        # attention = [batch size, src length]
        return torch.softmax(attention, dim=1)


class Decoder(nn.Module):
    def __init__(self, output_dim, embedding_dim, encoder_hidden_dim, decoder_hidden_dim, dropout, attention):
        super().__init__()
        self.output_dim = output_dim
        self.attention = attention
        self.embedding = nn.Embedding(output_dim, embedding_dim)
        self.rnn = nn.LSTM((encoder_hidden_dim * 2) + embedding_dim, decoder_hidden_dim)  # notebook: nn.GRU
        self.fc_out = nn.Linear((encoder_hidden_dim * 2) + decoder_hidden_dim + embedding_dim, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input, hidden, encoder_outputs):
        # input = [batch size]; hidden = ([batch size, decoder hidden dim], same for the cell state)
        hidden, cell = hidden  # notebook (GRU): hidden only
        input = input.unsqueeze(0)
        embedded = self.dropout(self.embedding(input))
        # embedded = [1, batch size, embedding dim]
        a = self.attention(hidden, encoder_outputs).unsqueeze(1)
        # a = [batch size, 1, src length]
        encoder_outputs = encoder_outputs.permute(1, 0, 2)
        weighted = torch.bmm(a, encoder_outputs).permute(1, 0, 2)
        # weighted = [1, batch size, encoder hidden dim * 2]
        rnn_input = torch.cat((embedded, weighted), dim=2)
        output, (hidden, cell) = self.rnn(rnn_input, (hidden.unsqueeze(0), cell.unsqueeze(0)))
        # output = hidden = [1, batch size, decoder hidden dim]
        assert (output == hidden).all()
        embedded = embedded.squeeze(0)
        output = output.squeeze(0)
        weighted = weighted.squeeze(0)
        prediction = self.fc_out(torch.cat((output, weighted, embedded), dim=1))
        # prediction = [batch size, output dim]
        return prediction, (hidden.squeeze(0), cell.squeeze(0)), a.squeeze(1)


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder, device):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.device = device

    def forward(self, src, trg, teacher_forcing_ratio):
        # src = [src length, batch size]; trg = [trg length, batch size]
        batch_size = src.shape[1]
        trg_length = trg.shape[0]
        trg_vocab_size = self.decoder.output_dim
        outputs = torch.zeros(trg_length, batch_size, trg_vocab_size).to(self.device)
        encoder_outputs, hidden = self.encoder(src)
        hidden = (hidden, torch.zeros_like(hidden))  # notebook (GRU): no cell state
        input = trg[0, :]
        for t in range(1, trg_length):
            output, hidden, _ = self.decoder(input, hidden, encoder_outputs)
            outputs[t] = output
            teacher_force = random.random() < teacher_forcing_ratio
            top1 = output.argmax(1)
            input = trg[t] if teacher_force else top1
        return outputs


def init_weights(m):
    for name, param in m.named_parameters():
        if "weight" in name:
            nn.init.normal_(param.data, mean=0, std=0.01)
        else:
            nn.init.constant_(param.data, 0)


def build_model(
    input_dim: int,
    output_dim: int,
    device: torch.device,
    embedding_dim: int = 256,
    hidden_dim: int = 512,
    dropout: float = DROPOUT,
) -> Seq2Seq:
    """The notebook's model at the given sizes (encoder and decoder hidden sizes equal, as there), initialised."""
    attention = Attention(hidden_dim, hidden_dim)
    encoder = Encoder(input_dim, embedding_dim, hidden_dim, hidden_dim, dropout)
    decoder = Decoder(output_dim, embedding_dim, hidden_dim, hidden_dim, dropout, attention)
    model = Seq2Seq(encoder, decoder, device).to(device)
    model.apply(init_weights)
    return model


# ---------------------------------------------------------------------- training
def train_step(model, batch, optimizer, criterion, clip, teacher_forcing_ratio, device) -> float:
    """One iteration of the notebook's `train_fn` loop; returns the batch's loss."""
    src = batch["de_ids"].to(device)
    trg = batch["en_ids"].to(device)
    optimizer.zero_grad()
    output = model(src, trg, teacher_forcing_ratio)
    # output = [trg length, batch size, trg vocab size]
    output_dim = output.shape[-1]
    output = output[1:].view(-1, output_dim)
    trg = trg[1:].view(-1)
    loss = criterion(output, trg)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item()
