"""synthetic.py: a deterministic synthetic parallel corpus of any size for the data-scale benchmark,
made by recombining Multi30k train: each pair copies the length and most words of a randomly drawn
Multi30k pair, and a share of its words on each side is replaced by words drawn from that language's
running text (so word frequencies, and thus the BPE's work, stay Multi30k-like). Written as the
training pipeline reads parallel files: one gzipped text file per language, one sentence a line.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

MULTI30K = Path(__file__).resolve().parent.parent / "data" / "multi30k"
REPLACED = 0.3  # share of words replaced by a word drawn from the running text
CHUNK = 100_000  # pairs generated and written at a time


class WordTable:
    """One side of Multi30k train as word ids: the word list, every sentence's words end to end, offsets."""

    def __init__(self, path: Path) -> None:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            sentences = [line.split() for line in f]
        index: dict[str, int] = {}
        flat = [index.setdefault(w, len(index)) for words in sentences for w in words]
        self.words = np.array(list(index), dtype=object)
        self.flat = np.array(flat, dtype=np.int64)
        self.lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])

    def lines(self, templates: np.ndarray, rng: np.random.Generator) -> list[str]:
        """One line per template sentence: its words, a share REPLACED of them drawn from the running text."""
        lengths = self.lengths[templates]
        ends = np.cumsum(lengths)
        # position k of the output is word (k - start of its line) of its template sentence
        line_start = np.repeat(ends - lengths, lengths)
        ids = self.flat[np.repeat(self.starts[templates], lengths) + np.arange(ends[-1]) - line_start]
        swap = rng.random(len(ids)) < REPLACED
        ids[swap] = self.flat[rng.integers(0, len(self.flat), int(swap.sum()))]
        words = self.words[ids]
        return [" ".join(words[a:b]) for a, b in zip(ends - lengths, ends)]


def write_corpus(folder: Path, pairs: int, seed: int = 0, src_lang: str = "de", tgt_lang: str = "en") -> int:
    """Write folder/train.{src_lang,tgt_lang}.gz with `pairs` lines each; returns the text's size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {lang: WordTable(MULTI30K / f"train.{lang}.gz") for lang in (src_lang, tgt_lang)}
    rng = np.random.default_rng(seed)
    size = 0
    files = {lang: gzip.open(folder / f"train.{lang}.gz", "wt", encoding="utf-8", compresslevel=1) for lang in tables}
    try:
        for done in range(0, pairs, CHUNK):
            templates = rng.integers(0, len(tables[src_lang].lengths), min(CHUNK, pairs - done))
            for lang, table in tables.items():
                text = "\n".join(table.lines(templates, rng)) + "\n"
                files[lang].write(text)
                size += len(text.encode("utf-8"))
    finally:
        for f in files.values():
            f.close()
    return size
