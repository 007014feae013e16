"""embeddings.py: initialise embedding rows from a word2vec / GloVe text file.

Each vocabulary entry whose text (without its leading-space marker) appears in the file, exactly
or lowercased, gets that vector; other rows keep their random initialisation.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..tokenizer import SPECIAL_TOKENS, readable_tokens


def read_vectors(path: str | os.PathLike, dim: int) -> dict[str, list[float]]:
    """word -> vector from a text file ('word v1 ... vD' per line; a 'count dim' header is allowed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"embeddings file not found: {path}")
    vectors: dict[str, list[float]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if len(parts) - 1 != dim:
                raise ValueError(
                    f"{path}:{lineno}: vectors have {len(parts) - 1} dimensions but the model's embedding_size is {dim}"
                )
            try:
                vectors.setdefault(parts[0], [float(x) for x in parts[1:]])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: not a number in the vector of {parts[0]!r}") from None
    return vectors


def load_pretrained_embeddings(embedding: nn.Embedding, tokenizer, path: str | os.PathLike) -> tuple[int, int]:
    """Copy vectors into `embedding` rows; returns (rows initialised, vocabulary size without specials)."""
    vectors = read_vectors(path, embedding.embedding_dim)
    size = tokenizer.get_vocab_size()
    pieces = readable_tokens(tokenizer, list(range(size)))
    found = 0
    with torch.no_grad():
        for idx, piece in enumerate(pieces):
            if piece in SPECIAL_TOKENS:
                continue
            word = piece.lstrip("▁")
            vec = vectors.get(word) or vectors.get(word.lower())
            if vec is not None and word:
                embedding.weight[idx] = torch.tensor(vec, dtype=embedding.weight.dtype)
                found += 1
    return found, size - len(SPECIAL_TOKENS)
