"""tokenizer.py: `Seq2SeqTokenizer`, byte-level BPE over HF `tokenizers` for source and target.

Owns text <-> ids (special tokens, truncation, readable token strings, subwords merged into words for
heatmaps and alignments) and the tokenizer files of a model folder. Knows nothing of models or the Hub.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from .config import Seq2SeqConfig
from .files import atomic_write

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]  # ids 0, 1, 2, 3 in every tokenizer we train
TOKENIZER_FILE = "tokenizer.json"  # the source tokenizer, or the joint one
TARGET_TOKENIZER_FILE = "target_tokenizer.json"  # only present when vocabularies are separate


def _byte_level_table() -> dict[str, int]:
    """Map each byte-level alphabet character back to its byte (GPT-2's bytes_to_unicode)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


_BYTES = _byte_level_table()
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone UTF-16 surrogates: not encodable as UTF-8


def clean_text(text: str) -> str:
    """Make any Python string safe for the tokenizer: lone surrogates become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def new_byte_level_bpe() -> Tokenizer:
    """An untrained byte-level BPE tokenizer: lossless for any text after NFKC + space collapse."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    )
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE of at most `vocab_size` entries (specials at ids 0-3)."""
    tok = new_byte_level_bpe()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


@dataclass
class Encoded:
    """Ids of one text and whether it was cut to fit the maximum length."""

    ids: list[int]
    truncated: bool


class Seq2SeqTokenizer:
    """Source and target tokenizers (one joint tokenizer, or two separate ones).

    Sources and targets are encoded as subword ids followed by `</s>`; the decoder's input is
    `<s>` followed by the target ids (see `Seq2SeqModel`).
    """

    def __init__(self, source: Tokenizer, target: Tokenizer | None = None) -> None:
        self.source = source
        self.target = target if target is not None else source
        self.joint = target is None or target is source
        for side, tok in (("source", self.source), ("target", self.target)):
            for expected_id, token in enumerate(SPECIAL_TOKENS):
                if tok.token_to_id(token) != expected_id:
                    raise ValueError(
                        f"the {side} tokenizer must map {token!r} to id {expected_id}, got {tok.token_to_id(token)!r}"
                    )

    def check_fits(self, config: Seq2SeqConfig) -> None:
        """Refuse a model config whose vocabulary sizes or special ids are not this tokenizer's."""
        problems = []
        if self.src_vocab_size != config.src_vocab_size:
            problems.append(
                f"source vocabulary has {self.src_vocab_size} entries, config.json says {config.src_vocab_size}"
            )
        if self.tgt_vocab_size != config.tgt_vocab_size:
            problems.append(
                f"target vocabulary has {self.tgt_vocab_size} entries, config.json says {config.tgt_vocab_size}"
            )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
            if getattr(self, name) != getattr(config, name):
                problems.append(
                    f"{name} is {getattr(self, name)} in the tokenizer, {getattr(config, name)} in config.json"
                )
        if problems:
            raise ValueError("tokenizer.json does not match config.json: " + "; ".join(problems))

    def same_vocabularies(self, other: Seq2SeqTokenizer) -> bool:
        """True when `other` turns every text into the same ids, on both sides (models can be ensembled)."""
        return self.source.to_str() == other.source.to_str() and self.target.to_str() == other.target.to_str()

    # ------------------------------------------------------------------ training
    @classmethod
    def train(
        cls,
        source_texts: Iterable[str],
        target_texts: Iterable[str],
        vocab_size: int = 8000,
        joint: bool = True,
        target_vocab_size: int | None = None,
        min_frequency: int = 2,
    ) -> Seq2SeqTokenizer:
        """Train byte-level BPE: one joint vocabulary, or one per side.

        The texts may be any iterables (lists, or `data.iter_column` over a dataset); each is read
        once, in order, and not kept."""
        if vocab_size < 300:
            raise ValueError(f"vocab_size must be at least 300 (256 bytes + specials), got {vocab_size}")
        if joint:  # the texts stream through: iterators over a dataset are never held whole
            return cls(train_bpe(_chain(source_texts, target_texts), vocab_size, min_frequency))
        source = train_bpe(source_texts, vocab_size, min_frequency)
        target = train_bpe(target_texts, target_vocab_size or vocab_size, min_frequency)
        return cls(source, target)

    # ------------------------------------------------------------------ sizes and ids
    @property
    def src_vocab_size(self) -> int:
        return self.source.get_vocab_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self.target.get_vocab_size()

    pad_token_id, bos_token_id, eos_token_id, unk_token_id = 0, 1, 2, 3

    # ------------------------------------------------------------------ encoding
    def _encode(self, tok: Tokenizer, texts: Sequence[str], max_length: int | None) -> list[Encoded]:
        encodings = tok.encode_batch([clean_text(t) for t in texts], add_special_tokens=False)
        out = []
        for enc in encodings:
            ids = enc.ids
            truncated = max_length is not None and len(ids) + 1 > max_length
            if truncated:
                ids = ids[: max_length - 1]
            out.append(Encoded(ids + [self.eos_token_id], truncated))
        return out

    def encode_source(self, texts: Sequence[str], max_length: int | None = None) -> list[Encoded]:
        """Source ids with `</s>` appended, cut to `max_length` tokens (`</s>` included)."""
        return self._encode(self.source, texts, max_length)

    def encode_target(self, texts: Sequence[str], max_length: int | None = None) -> list[Encoded]:
        """Target ids with `</s>` appended, cut to `max_length` tokens (`</s>` included)."""
        return self._encode(self.target, texts, max_length)

    def encode_prefix(self, text: str) -> list[int]:
        """Target ids of a translation prefix, without `</s>`."""
        return self.target.encode(clean_text(text), add_special_tokens=False).ids

    # ------------------------------------------------------------------ decoding
    def decode(self, ids: Sequence[int]) -> str:
        """Target ids to text; special tokens are dropped."""
        return self.target.decode([int(i) for i in ids if i > self.unk_token_id])

    def decode_source(self, ids: Sequence[int]) -> str:
        return self.source.decode([int(i) for i in ids if i > self.unk_token_id])

    def source_tokens(self, ids: Sequence[int]) -> list[str]:
        """Readable source token strings (see `readable_tokens`)."""
        return _lookup(self._source_pieces, ids)

    def target_tokens(self, ids: Sequence[int]) -> list[str]:
        """Readable target token strings (see `readable_tokens`)."""
        return _lookup(self._target_pieces, ids)

    @cached_property
    def _source_pieces(self) -> list[str]:  # id -> readable string, built once on first use
        return readable_tokens(self.source, range(self.source.get_vocab_size()))

    @cached_property
    def _target_pieces(self) -> list[str]:
        return readable_tokens(self.target, range(self.target.get_vocab_size()))

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike) -> list[str]:
        """Write `tokenizer.json` (and `target_tokenizer.json` when separate); return file names."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / TOKENIZER_FILE, lambda tmp: self.source.save(str(tmp)))
        names = [TOKENIZER_FILE]
        target_path = directory / TARGET_TOKENIZER_FILE
        if not self.joint:
            atomic_write(target_path, lambda tmp: self.target.save(str(tmp)))
            names.append(TARGET_TOKENIZER_FILE)
        elif target_path.exists():
            target_path.unlink()
        return names

    @classmethod
    def from_files(cls, source_file: str | os.PathLike, target_file: str | os.PathLike | None = None):
        """Load tokenizer file(s); a malformed file raises `ValueError` naming it."""
        return cls(_load_tokenizer_file(source_file), _load_tokenizer_file(target_file) if target_file else None)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> Seq2SeqTokenizer:
        directory = Path(directory)
        source = directory / TOKENIZER_FILE
        if not source.is_file():
            raise FileNotFoundError(f"no {TOKENIZER_FILE} in {directory}")
        target = directory / TARGET_TOKENIZER_FILE
        return cls.from_files(source, target if target.is_file() else None)


def _load_tokenizer_file(path: str | os.PathLike) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return Tokenizer.from_file(str(path))
    except Exception as err:  # json errors, tokenizers' own parse errors
        raise ValueError(f"{path.name} is not a valid tokenizers file: {str(err)[:200]}") from None


def readable_tokens(tok: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Token strings for display: byte-level symbols turned back into text, a space shown as '▁'."""
    out = []
    for i in ids:
        piece = tok.id_to_token(int(i))
        if piece is None:
            out.append(UNK)
        elif piece in SPECIAL_TOKENS:
            out.append(piece)
        else:
            raw = bytes(_BYTES.get(ch, ord("?") if ord(ch) > 255 else ord(ch)) for ch in piece)
            text = raw.decode("utf-8", errors="replace")
            out.append(text.replace(" ", "▁"))
    return out


def _lookup(pieces: list[str], ids: Sequence[int]) -> list[str]:
    size = len(pieces)
    return [pieces[i] if 0 <= i < size else UNK for i in map(int, ids)]


def _chain(*iterables: Iterable[str]) -> Iterator[str]:
    for it in iterables:
        yield from it


def normalize(text: str) -> str:
    """What the tokenizer's normalizer does to text (NFKC, whitespace runs collapsed, stripped)."""
    return _NORMALIZER.normalize_str(clean_text(text))


_NORMALIZER = new_byte_level_bpe().normalizer


def merge_subwords(tokens: list[str], attention: list[list[float]], axis: int) -> tuple[list[str], list[list[float]]]:
    """Merge subword tokens into words ('▁' starts a word): attention rows (axis 0, target side) are
    averaged, columns (axis 1, source side) are summed, so rows still sum to 1."""
    specials = set(SPECIAL_TOKENS)
    groups: list[list[int]] = []
    for i, tok in enumerate(tokens):
        if not groups or tok.startswith("▁") or tok in specials or tokens[i - 1] in specials:
            groups.append([i])
        else:
            groups[-1].append(i)
    words = ["".join(tokens[i] for i in g).replace("▁", " ").strip() or "▁" for g in groups]
    if axis == 0:  # groups are runs of consecutive indices: sum their rows column by column, or their slices
        merged = [[sum(column) / len(g) for column in zip(*attention[g[0] : g[-1] + 1])] for g in groups]
    else:
        merged = [[sum(row[g[0] : g[-1] + 1]) for g in groups] for row in attention]
    return words, merged
