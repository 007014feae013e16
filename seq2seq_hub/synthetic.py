"""synthetic.py: synthetic parallel data made by a model from monolingual text: back-translation (a reverse
model's translations become the sources) and distillation / self-training (a teacher's translations become
the targets). Reads and cleans the monolingual lines, writes the pairs as two aligned text files, resumably.

Both files are named by language: `PREFIX.<model's source language>` holds the input lines and
`PREFIX.<model's target language>` their translations; `PREFIX.json` records how they were made. Knows
nothing of training: `training/prepare.py` mixes these files with the real pairs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .data import read_lines
from .files import atomic_write_text

CHUNK_LINES = 2048  # lines translated between two appends to the output files (what a stop can lose)


@dataclass
class MonolingualText:
    """Monolingual lines, cleaned: stripped, empty lines, repeats and excluded sentences left out."""

    lines: list[str]
    read: int  # lines in the input files
    empty: int  # left out: blank
    repeated: int  # left out: seen before in the inputs
    excluded: int  # left out: a sentence of the exclude files (the real training data, val, test)

    def summary(self) -> str:
        return (
            f"{len(self.lines):,} lines kept of {self.read:,} read ({self.repeated:,} repeats, "
            f"{self.excluded:,} in the excluded files, {self.empty:,} blank)"
        )


def monolingual_lines(
    paths: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = (), dedupe: bool = True
) -> MonolingualText:
    """The lines of `paths` in order, stripped; blank lines, repeats (with `dedupe`) and any sentence that
    occurs in an `exclude` file left out."""
    excluded_set = {line.strip() for path in exclude for line in read_lines(path)}
    kept, seen = [], set()
    read = empty = repeated = excluded = 0
    for path in paths:
        for line in read_lines(path):
            read += 1
            line = line.strip()
            if not line:
                empty += 1
            elif line in excluded_set:
                excluded += 1
            elif dedupe and line in seen:
                repeated += 1
            else:
                seen.add(line)
                kept.append(line)
    return MonolingualText(kept, read, empty, repeated, excluded)


@dataclass
class SyntheticRecipe:
    """How a synthetic file pair was made (`PREFIX.json`): enough to state it on a card and to resume it."""

    kind: str  # backtranslation | distillation
    model: str  # the model (or ensemble) that translated
    src_lang: str  # language of the input lines (the model's source)
    tgt_lang: str  # language of the translations (the model's target)
    inputs: list[str]
    excluded: list[str]
    dtype: str
    options: dict[str, Any] = field(default_factory=dict)  # the DecodingOptions used (set by write_synthetic)
    tag: str = ""  # prepended to every translation (back-translation: marks synthetic sources)
    lines: int = 0  # lines to translate
    chunk_lines: int = CHUNK_LINES  # lines translated together between two appends (a resume restarts at a chunk)
    written: int = 0  # pairs written so far
    cleaning: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.written == self.lines


def pair_paths(prefix: str | os.PathLike, src_lang: str, tgt_lang: str) -> tuple[Path, Path, Path]:
    """(input-side file, translation-side file, recipe file) of the synthetic pair at `prefix`."""
    prefix = Path(prefix)
    return (
        prefix.with_name(f"{prefix.name}.{src_lang}"),
        prefix.with_name(f"{prefix.name}.{tgt_lang}"),
        prefix.with_name(f"{prefix.name}.json"),
    )


def recipe_beside(path: str | os.PathLike) -> dict[str, Any] | None:
    """The recipe (`PREFIX.json`) of a synthetic file `PREFIX.<lang>[.gz]`, or None when there is none."""
    path = Path(path)
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0]
    recipe = path.with_name(f"{stem}.json")
    try:
        return json.loads(recipe.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_recipe(recipe: dict[str, Any]) -> str:
    """One sentence on how a synthetic file pair was made (for a model card)."""
    options = recipe.get("options") or {}
    search = options.get("strategy") or ("beam" if (options.get("num_beams") or 1) > 1 else "greedy")
    how = f"beam search ({options.get('num_beams')} beams)" if search == "beam" else search
    cleaning = recipe.get("cleaning") or {}
    return (
        f"{recipe.get('written', 0):,} {recipe.get('src_lang')} lines translated "
        f"into {recipe.get('tgt_lang')} by `{recipe.get('model')}` ({how}, {recipe.get('dtype')}"
        + (f", tagged {recipe['tag']!r}" if recipe.get("tag") else "")
        + f"), from {cleaning.get('read', 0):,} input lines ({cleaning.get('repeated', 0):,} repeats and "
        f"{cleaning.get('excluded', 0):,} lines of the excluded files left out)"
    )


def tagged(text: str, tag: str) -> str:
    """`text` marked with `tag` (once): the form a tagged synthetic source takes."""
    if not tag or text == tag or text.startswith(tag + " "):
        return text
    return f"{tag} {text}"


def _count_complete_lines(path: Path) -> int:
    """Newline-terminated lines of `path` (a partial last line, from a stop mid-write, is not counted)."""
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _truncate_to_lines(path: Path, count: int) -> None:
    """Keep the first `count` lines of `path`."""
    with open(path, "rb+") as f:
        size, seen = 0, 0
        for line in f:
            if seen == count:
                break
            size += len(line)
            seen += 1
        f.truncate(size)


def _resume_point(recipe: SyntheticRecipe, paths: tuple[Path, Path, Path], lines: list[str], resume: bool) -> int:
    """How many pairs are already written (0 for a fresh start); refuses to mix two different jobs."""
    source_path, target_path, recipe_path = paths
    existing = [p for p in paths if p.exists() and p.stat().st_size > 0]
    if not existing:
        return 0
    if not resume:
        raise FileExistsError(f"{existing[0]} already exists: pass --resume to continue it, or choose another --output")
    if recipe_path.exists():
        old = json.loads(recipe_path.read_text(encoding="utf-8"))
        fixed = ("model", "inputs", "excluded", "options", "tag", "lines", "chunk_lines")
        differs = [k for k in fixed if old.get(k) != getattr(recipe, k)]
        if differs:
            raise ValueError(
                f"--resume: {recipe_path} was made with other settings ({', '.join(differs)} differ); "
                "resume with the same ones, or choose another --output"
            )
    done = min(_count_complete_lines(source_path), _count_complete_lines(target_path))
    done -= done % recipe.chunk_lines  # whole chunks only: a chunk is translated (and sampled) as one
    for path in (source_path, target_path):
        if path.exists():
            _truncate_to_lines(path, done)
    written = read_lines(source_path) if done else []
    if written != lines[:done]:
        raise ValueError(f"--resume: {source_path} does not hold the first {done:,} input lines; it is another job's")
    return done


def _append(path: Path, texts: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(text.replace("\n", " ") + "\n" for text in texts))
        f.flush()
        os.fsync(f.fileno())


def write_synthetic(
    translator,
    lines: list[str],
    prefix: str | os.PathLike,
    recipe: SyntheticRecipe,
    options,
    *,
    resume: bool = False,
    batch_size: int = 64,
    chunk_lines: int = CHUNK_LINES,
    progress: bool = True,
) -> SyntheticRecipe:
    """Translate `lines` with `translator` and append the pairs to the files at `prefix`, `chunk_lines` at a
    time (a stop loses at most one chunk; `resume` continues after the last complete chunk).

    Sampling with a seed stays reproducible across a resume: line i samples with seed `options.seed + i`.
    """
    from tqdm.auto import tqdm

    paths = pair_paths(prefix, recipe.src_lang, recipe.tgt_lang)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    recipe.lines, recipe.options, recipe.chunk_lines = len(lines), asdict(options), chunk_lines
    done = _resume_point(recipe, paths, lines, resume)
    recipe.written = done
    atomic_write_text(paths[2], json.dumps(asdict(recipe), indent=2, ensure_ascii=False) + "\n")
    bar = tqdm(total=len(lines), initial=done, unit="line", disable=not progress, desc=recipe.kind)
    try:
        for start in range(done, len(lines), chunk_lines):
            chunk = lines[start : start + chunk_lines]
            if options.search == "sample" and options.seed is not None:  # line i samples with seed + i
                hyps = [translator.translate(line, options.merged(seed=options.seed + start + k))[0]
                        for k, line in enumerate(chunk)]  # fmt: skip
            else:
                hyps = translator.translate(chunk, options, batch_size=batch_size)
            _append(paths[0], chunk)
            _append(paths[1], [tagged(h.text, recipe.tag) for h in hyps])
            recipe.written = start + len(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
        atomic_write_text(paths[2], json.dumps(asdict(recipe), indent=2, ensure_ascii=False) + "\n")
    return recipe
