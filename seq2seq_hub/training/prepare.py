"""prepare.py: the data a training run reads, made ready once: load the splits, train (or reuse) the
tokenizer, fill the model config in from it, mix in synthetic pairs, tokenize, filter by length and
bucket into batches.

The sources and the bucketing themselves live in `seq2seq_hub.data`; this module only wires them to a
`TrainConfig`. Knows nothing of models, optimizers or the loop.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Seq2SeqConfig
from ..data import (
    TokenBucketSampler,
    TokenIds,
    filter_by_length,
    iter_column,
    load_hub_dataset,
    load_multi30k,
    load_parallel_files,
    padding_ratio,
    tokenize_dataset,
)
from ..tokenizer import TOKENIZER_FILE, Seq2SeqTokenizer
from .config import TrainConfig
from .errors import TrainingError
from .mixing import Mix, mix_training_pairs

TOKENIZER_DIR = "tokenizer"  # in the output folder: trained once, reused by a resumed run


@dataclass
class PreparedData:
    """The splits, the tokenizer and model config made from them, and the training batches."""

    tokenizer: Seq2SeqTokenizer
    model_config: Seq2SeqConfig
    train: Any  # datasets.Dataset with src, tgt, src_ids, tgt_ids (after the length filter)
    valid: Any  # datasets.Dataset with src, tgt
    test: Any | None  # datasets.Dataset with src, tgt, or None (files without test_files)
    mix: Mix  # real and synthetic pairs per epoch
    train_src: TokenIds  # token ids of `train`, read once (indexing gives a list of ints)
    train_tgt: TokenIds
    sampler: TokenBucketSampler
    steps_per_epoch: int  # batches per epoch per process
    total_steps: int


def prepare_data(
    cfg: TrainConfig, output_dir: Path, *, rank: int, world: int, log: Callable[[str], None]
) -> PreparedData:
    """Everything the loop reads from the data. Only rank 0 may train the tokenizer; the others reuse it."""
    train = _limit(_load_split(cfg, "train"), cfg.max_train_examples)
    valid = _limit(_load_split(cfg, "validation"), cfg.max_valid_examples)
    test = _limit(_load_split(cfg, "test"), cfg.max_test_examples) if cfg.score_test else None
    if len(train) == 0 or len(valid) == 0:
        raise TrainingError("the training and validation data must not be empty")
    tokenizer = _tokenizer(cfg, train, output_dir / TOKENIZER_DIR, is_main=rank == 0, log=log)
    model_config = _model_config(cfg, tokenizer)
    try:
        train, mix = mix_training_pairs(cfg, train, log)
    except (ValueError, FileNotFoundError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as err:
        raise TrainingError(f"cannot read the synthetic data: {err}") from None
    kept, train_src, train_tgt = tokenize_train(train, tokenizer, model_config)
    log(f"data: {len(kept):,} of {len(train):,} training pairs kept after the length filter")
    sampler = bucket_sampler(cfg, train_src.lengths(), train_tgt.lengths(), rank=rank, world=world)
    epoch0 = sampler.batches(0)
    if not epoch0:
        raise TrainingError("no training batch could be formed (too few examples for this many processes?)")
    log(
        f"batches: {len(epoch0):,} per epoch per process, target padding "
        f"{padding_ratio(epoch0, train_tgt.lengths()):.1%}"
    )
    return PreparedData(
        tokenizer=tokenizer,
        model_config=model_config,
        train=kept,
        valid=valid,
        test=test,
        mix=mix,
        train_src=train_src,
        train_tgt=train_tgt,
        sampler=sampler,
        steps_per_epoch=len(epoch0),
        total_steps=total_steps(cfg, len(epoch0)),
    )


def train_tokenizer(cfg: TrainConfig, train: Any) -> Seq2SeqTokenizer:
    """The BPE tokenizer of `cfg` trained on the `src` / `tgt` texts of `train`, streamed from the dataset."""
    return Seq2SeqTokenizer.train(
        iter_column(train, "src"),
        iter_column(train, "tgt"),
        vocab_size=cfg.vocab_size,
        joint=cfg.joint_vocab,
        target_vocab_size=cfg.tgt_vocab_size or None,
        min_frequency=cfg.min_frequency,
    )


def tokenize_train(train: Any, tokenizer: Seq2SeqTokenizer, model_config: Seq2SeqConfig):
    """(`train` with src_ids / tgt_ids, filtered by the model's maximum lengths; its source ids; its target ids)."""
    train = tokenize_dataset(train, tokenizer, model_config.max_source_length, model_config.max_target_length)
    kept = filter_by_length(train, model_config.max_source_length, model_config.max_target_length)
    return kept, TokenIds(kept, "src_ids"), TokenIds(kept, "tgt_ids")


def bucket_sampler(cfg: TrainConfig, src_lengths: list[int], tgt_lengths: list[int], *, rank: int, world: int):
    """Length-bucketed batches under `cfg`'s token budget, this process's share of them."""
    return TokenBucketSampler(
        src_lengths,
        tgt_lengths,
        max_tokens=cfg.batch_tokens,
        seed=cfg.seed,
        max_sentences=cfg.max_sentences,
        num_replicas=world,
        rank=rank,
    )


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """max_steps, epochs x steps_per_epoch, or the smaller of the two when both are set."""
    if cfg.max_steps and cfg.epochs:
        return min(cfg.max_steps, cfg.epochs * steps_per_epoch)
    return cfg.max_steps or cfg.epochs * steps_per_epoch


def _limit(split: Any, count: int) -> Any:
    if split is None or not count:
        return split
    return split.select(range(min(count, len(split))))


def _load_split(cfg: TrainConfig, split: str) -> Any:
    try:
        return _read_split(cfg, split)
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as err:  # a binary, truncated or damaged file
        files = {"train": cfg.train_files, "validation": cfg.valid_files, "test": cfg.test_files}[split]
        source = {"multi30k": cfg.data_dir, "files": files, "hub": cfg.hub_dataset}[cfg.dataset]
        raise TrainingError(f"cannot read the {split} data from {source}: {str(err) or type(err).__name__}") from None


def _read_split(cfg: TrainConfig, split: str) -> Any:
    if cfg.dataset == "multi30k":
        return load_multi30k(cfg.data_dir, split, cfg.src_lang, cfg.tgt_lang)
    if cfg.dataset == "files":
        spec = {"train": cfg.train_files, "validation": cfg.valid_files, "test": cfg.test_files}[split]
        return load_parallel_files(spec, cfg.src_lang, cfg.tgt_lang) if spec else None
    name = {"train": cfg.train_split, "validation": cfg.valid_split, "test": cfg.test_split}[split]
    return load_hub_dataset(cfg.hub_dataset, name, cfg.src_lang, cfg.tgt_lang, cfg.hub_config or None)


def _tokenizer(cfg: TrainConfig, train: Any, folder: Path, *, is_main: bool, log: Callable[[str], None]):
    if cfg.init_from and not (folder / TOKENIZER_FILE).is_file() and is_main:
        Seq2SeqTokenizer.from_pretrained(_init_tokenizer_folder(cfg)).save(folder)
        log(f"tokenizer: the one of {cfg.init_from} (init_from)")
    if (folder / TOKENIZER_FILE).is_file():
        tokenizer = Seq2SeqTokenizer.from_pretrained(folder)
        log(f"tokenizer: reusing {folder}")
        return tokenizer
    if not is_main:
        raise TrainingError("rank 0 must train the tokenizer first (internal ordering problem)")
    tokenizer = train_tokenizer(cfg, train)
    tokenizer.save(folder)
    log(
        f"tokenizer: trained on {len(train):,} training pairs; vocab "
        f"{tokenizer.src_vocab_size:,} / {tokenizer.tgt_vocab_size:,}"
    )
    return tokenizer


def _init_folder(cfg: TrainConfig) -> Path:
    """The local model folder of `init_from` (a single model, not an ensemble)."""
    from ..repo_files import CONFIG_FILE, read_ensemble_members

    folder = Path(cfg.init_from)
    if not (folder / CONFIG_FILE).is_file():
        raise TrainingError(f"init_from: {folder} is not a model folder (no {CONFIG_FILE})")
    if read_ensemble_members(folder / CONFIG_FILE) is not None:
        raise TrainingError(f"init_from: {folder} is an ensemble; start from one of its members' folders")
    return folder


def _init_tokenizer_folder(cfg: TrainConfig) -> Path:
    """Where `init_from`'s tokenizer is: its own folder, or for an ensemble's member, the ensemble's folder."""
    from ..repo_files import CONFIG_FILE, read_ensemble_members

    folder = _init_folder(cfg)
    if (folder / TOKENIZER_FILE).is_file():
        return folder
    parent = folder.resolve().parent
    if (parent / CONFIG_FILE).is_file() and folder.name in (read_ensemble_members(parent / CONFIG_FILE) or []):
        return parent
    raise TrainingError(f"init_from: {folder} has no {TOKENIZER_FILE} (nor is it a member of an ensemble folder)")


def _init_config(cfg: TrainConfig, fields: dict[str, Any]) -> dict[str, Any]:
    """The model settings of `init_from`'s config; `cfg.model` may change only its dropout."""
    from ..repo_files import CONFIG_FILE, load_config

    own = load_config(_init_folder(cfg) / CONFIG_FILE).to_dict()
    differs = [
        f"{k}: {v!r} (init_from has {own.get(k)!r})" for k, v in fields.items() if k != "dropout" and own.get(k) != v
    ]
    if differs:
        raise TrainingError("init_from: the model settings must match the starting model's; " + "; ".join(differs))
    return {**own, **({"dropout": fields["dropout"]} if "dropout" in fields else {})}


def _model_config(cfg: TrainConfig, tokenizer: Seq2SeqTokenizer) -> Seq2SeqConfig:
    """`cfg.model` with the vocabulary sizes and languages of the data (see config.FILLED_FROM_DATA); with
    `init_from`, the starting model's settings."""
    fields = dict(cfg.model)
    fields.update(
        src_vocab_size=tokenizer.src_vocab_size,
        tgt_vocab_size=tokenizer.tgt_vocab_size,
        src_lang=cfg.src_lang,
        tgt_lang=cfg.tgt_lang,
        shared_vocab=tokenizer.joint,
    )
    if cfg.init_from:
        fields = _init_config(cfg, fields)
    try:
        return Seq2SeqConfig(**fields)
    except ValueError as err:
        raise TrainingError(str(err)) from None
