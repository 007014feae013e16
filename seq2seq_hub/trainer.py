"""trainer.py: `TrainConfig` and `Trainer`, the training loop behind `training/train.py`.

Owns: data preparation (via `data.py`), the optimisation loop with scheduled teacher forcing,
validation (loss, perplexity, sacreBLEU, chrF), early stopping, atomic resumable checkpoints,
logging (progress bar, JSONL, TensorBoard), data-parallel training over torch.distributed, the
final test evaluation and the Hub-format output folder with its model card.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .config import Seq2SeqConfig
from .data import (
    TokenBucketSampler,
    collate,
    filter_by_length,
    load_hub_dataset,
    load_multi30k,
    load_parallel_files,
    padding_ratio,
    tokenize_dataset,
)
from .metrics import corpus_scores, perplexity
from .model import Seq2SeqModel
from .schedules import LR_SCHEDULES, TF_SCHEDULES, learning_rate_scale, teacher_forcing_ratio
from .tokenizer import Seq2SeqTokenizer
from .translator import Translator

MODEL_DIR = "model"  # the best model, a Hub-format folder
CHECKPOINT_PREFIX = "checkpoint-"
LATEST_FILE = "latest"  # names the newest complete checkpoint (written atomically)
METRICS_FILE = "metrics.jsonl"
MULTI30K_CITATION = (
    "Elliott, D., Frank, S., Sima'an, K. and Specia, L. (2016). Multi30K: Multilingual English-German Image "
    "Descriptions. Proceedings of the 5th Workshop on Vision and Language, pp. 70-74."
)


# Seq2SeqConfig fields the trainer fills in from the data and the tokenizer (values given in `model` are replaced)
_FILLED_FROM_DATA = ("src_vocab_size", "tgt_vocab_size", "src_lang", "tgt_lang", "shared_vocab")


class TrainingError(RuntimeError):
    """A training failure with a message meant for the user (no stack trace needed)."""


@dataclass
class TrainConfig:
    """Everything a training run needs. Every key can be overridden on the command line."""

    # data
    dataset: str = "multi30k"  # multi30k | files | hub
    data_dir: str = "data/multi30k"  # Multi30k folder
    src_lang: str = "de"
    tgt_lang: str = "en"
    train_files: str = ""  # files: 'train.de,train.en' | train.tsv | train.jsonl
    valid_files: str = ""
    test_files: str = ""
    hub_dataset: str = ""  # hub: dataset id for datasets.load_dataset
    hub_config: str = ""  # hub: dataset config name (e.g. 'de-en')
    train_split: str = "train"
    valid_split: str = "validation"
    test_split: str = "test"
    max_train_examples: int = 0  # 0 = all
    max_valid_examples: int = 0  # 0 = all (validation BLEU decodes these)
    max_test_examples: int = 0
    # tokenizer
    vocab_size: int = 8000  # BPE vocabulary size (the source one when vocabularies are separate)
    tgt_vocab_size: int = 0  # target BPE vocabulary size when joint_vocab is false (0 = vocab_size)
    joint_vocab: bool = True  # one vocabulary for both languages
    min_frequency: int = 2
    # model (any Seq2SeqConfig field; vocab sizes and languages are filled in from the data)
    model: dict[str, Any] = field(default_factory=dict)
    src_embeddings: str = ""  # word2vec / GloVe text file for the source embedding
    tgt_embeddings: str = ""  # ... and for the target embedding
    # optimisation
    epochs: int = 10
    max_steps: int = 0  # 0 = epochs decide
    batch_tokens: int = 4000  # token budget per batch (rows x longest sentence)
    max_sentences: int = 0  # 0 = no cap on rows per batch
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)
    lr_schedule: str = "inverse_sqrt"  # constant | inverse_sqrt | linear | cosine | plateau
    warmup_steps: int = 500
    plateau_factor: float = 0.5  # plateau: multiply the lr by this after `plateau_patience` flat evals
    plateau_patience: int = 2
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    tf_schedule: str = "constant"  # constant | linear | exponential | inverse_sigmoid
    tf_start: float = 1.0
    tf_end: float = 1.0
    tf_steps: int = 0  # 0 = over the whole run
    nonfinite: str = "stop"  # stop | skip: what a NaN/inf loss does
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 needs a GPU)
    # evaluation and output
    eval_every: int = 0  # steps between validations; 0 = once per epoch
    eval_beam_size: int = 1  # decoding for validation BLEU (1 = greedy, fastest)
    patience: int = 5  # early stopping: evaluations without a better validation BLEU
    test_beam_size: int = 5
    test_length_penalty: float = 1.0
    average_last: int = 0  # average the weights of the best N evaluations for the final model (0 = off)
    save_dtype: str = "float32"  # float32 | float16 storage of the final weights
    log_every: int = 50
    checkpoint_every: int = 0  # steps; 0 = at every evaluation
    keep_checkpoints: int = 1
    output_dir: str = "runs/multi30k-de-en"
    seed: int = 1234
    device: str = "auto"  # auto | cpu | cuda
    num_threads: int = 0  # torch intra-op threads (0 = torch's default)
    progress: bool = True
    tensorboard: bool = True
    push_to_hub: str = ""  # org/name: push the final folder
    private: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)
        self.validate()

    def validate(self) -> None:
        problems = []

        def choice(name: str, options: tuple[str, ...]) -> None:
            if getattr(self, name) not in options:
                allowed = "{" + ", ".join(repr(o) for o in sorted(options)) + "}"
                problems.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

        types = {f.name: f.type for f in dataclasses.fields(self)}  # annotations are strings here

        def positive(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            kind = int if types[name] == "int" else (int, float)
            if (
                isinstance(value, bool)
                or not isinstance(value, kind)
                or not value >= 0  # NaN too
                or (value == 0 and not allow_zero)
            ):
                what = "an integer" if kind is int else "a number"
                problems.append(f"{name} must be {what} {'>= 0' if allow_zero else '> 0'}, got {value!r}")

        choice("dataset", ("multi30k", "files", "hub"))
        choice("optimizer", ("adam", "adamw"))
        choice("lr_schedule", LR_SCHEDULES)
        choice("tf_schedule", TF_SCHEDULES)
        choice("nonfinite", ("stop", "skip"))
        choice("precision", ("fp32", "bf16", "fp16"))
        choice("save_dtype", ("float32", "float16"))
        choice("device", ("auto", "cpu", "cuda"))
        for name in ("vocab_size", "batch_tokens", "lr", "test_beam_size", "eval_beam_size", "log_every", "seed"):
            positive(name, allow_zero=name == "seed")
        for name in (
            "epochs",
            "max_steps",
            "warmup_steps",
            "weight_decay",
            "clip_norm",
            "patience",
            "max_train_examples",
            "max_valid_examples",
            "max_test_examples",
            "eval_every",
            "average_last",
            "checkpoint_every",
            "num_threads",
            "tf_steps",
            "max_sentences",
            "tgt_vocab_size",
        ):
            positive(name, allow_zero=True)
        for name in ("tf_start", "tf_end", "label_smoothing"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {value!r}")
        if not self.epochs and not self.max_steps:
            problems.append("set epochs or max_steps above 0")
        if self.dataset == "files" and not (self.train_files and self.valid_files):
            problems.append("dataset 'files' needs train_files and valid_files")
        if self.dataset == "hub" and not self.hub_dataset:
            problems.append("dataset 'hub' needs hub_dataset (a Hub dataset id)")
        if not isinstance(self.model, dict):
            problems.append(f"model must be a mapping of Seq2SeqConfig fields, got {self.model!r}")
        else:
            known = {f.name for f in dataclasses.fields(Seq2SeqConfig)}
            unknown = sorted(set(self.model) - known)
            if unknown:
                problems.append(f"model has unknown keys {unknown}; known keys are {sorted(known)}")
            else:  # check the model's values now, not after the data and the tokenizer are prepared
                try:
                    Seq2SeqConfig(**{k: v for k, v in self.model.items() if k not in _FILLED_FROM_DATA})
                except ValueError as err:
                    problems.append("model: " + str(err).removeprefix("Invalid Seq2SeqConfig: "))
        if problems:
            raise ValueError("Invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; see `python training/train.py --help`")
        return cls(**data)


# ---------------------------------------------------------------------- distributed helpers
def _dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (1 process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Trainer:
    """One training run: `Trainer(config).run()` returns the output model folder."""

    def __init__(self, config: TrainConfig, resume: bool = False, command: str | None = None) -> None:
        self.cfg = config
        self.resume = resume
        self.command = command or " ".join(sys.argv)
        self.rank, self.world, self.local_rank = _dist_info()
        self.is_main = self.rank == 0
        self.output_dir = Path(config.output_dir)
        self.device = self._pick_device()
        if not config.progress:
            import datasets

            datasets.disable_progress_bars()
        if config.num_threads:
            torch.set_num_threads(config.num_threads)

    # ------------------------------------------------------------------ setup
    def _pick_device(self) -> torch.device:
        want = self.cfg.device
        if want == "cuda" and not torch.cuda.is_available():
            raise TrainingError("device 'cuda' was requested but no CUDA GPU is available")
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        if want == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        if self.cfg.precision == "fp16":
            raise TrainingError("precision 'fp16' needs a GPU; use 'bf16' or 'fp32' on the CPU")
        return torch.device("cpu")

    def _log(self, message: str) -> None:
        if self.is_main:
            print(message, file=sys.stderr, flush=True)

    def _load_split(self, split: str):
        cfg = self.cfg
        names = {"train": cfg.train_split, "validation": cfg.valid_split, "test": cfg.test_split}
        if cfg.dataset == "multi30k":
            return load_multi30k(cfg.data_dir, split, cfg.src_lang, cfg.tgt_lang)
        if cfg.dataset == "files":
            spec = {"train": cfg.train_files, "validation": cfg.valid_files, "test": cfg.test_files}[split]
            if not spec:
                return None
            return load_parallel_files(spec, cfg.src_lang, cfg.tgt_lang)
        return load_hub_dataset(cfg.hub_dataset, names[split], cfg.src_lang, cfg.tgt_lang, cfg.hub_config or None)

    def prepare_data(self) -> None:
        """Load splits, train (or reload) the tokenizer on the training split, tokenize, filter, bucket."""
        cfg = self.cfg
        train = self._load_split("train")
        valid = self._load_split("validation")
        test = self._load_split("test")
        if cfg.max_train_examples:
            train = train.select(range(min(cfg.max_train_examples, len(train))))
        if cfg.max_valid_examples:
            valid = valid.select(range(min(cfg.max_valid_examples, len(valid))))
        if test is not None and cfg.max_test_examples:
            test = test.select(range(min(cfg.max_test_examples, len(test))))
        if len(train) == 0 or len(valid) == 0:
            raise TrainingError("the training and validation data must not be empty")

        tok_dir = self.output_dir / "tokenizer"
        if (tok_dir / "tokenizer.json").is_file():
            self.tokenizer = Seq2SeqTokenizer.from_pretrained(tok_dir)
            self._log(f"tokenizer: reusing {tok_dir}")
        else:
            if not self.is_main:
                raise TrainingError("rank 0 must train the tokenizer first (internal ordering problem)")
            self.tokenizer = Seq2SeqTokenizer.train(
                train["src"],
                train["tgt"],
                vocab_size=cfg.vocab_size,
                joint=cfg.joint_vocab,
                target_vocab_size=cfg.tgt_vocab_size or None,
                min_frequency=cfg.min_frequency,
            )
            self.tokenizer.save(tok_dir)
            self._log(
                f"tokenizer: trained on {len(train):,} training pairs; vocab "
                f"{self.tokenizer.src_vocab_size:,} / {self.tokenizer.tgt_vocab_size:,}"
            )

        model_fields = dict(cfg.model)
        model_fields.update(
            src_vocab_size=self.tokenizer.src_vocab_size,
            tgt_vocab_size=self.tokenizer.tgt_vocab_size,
            src_lang=cfg.src_lang,
            tgt_lang=cfg.tgt_lang,
            shared_vocab=self.tokenizer.joint,
        )
        try:
            self.model_config = Seq2SeqConfig(**model_fields)
        except ValueError as err:
            raise TrainingError(str(err)) from None
        mc = self.model_config
        train = tokenize_dataset(train, self.tokenizer, mc.max_source_length, mc.max_target_length)
        kept = filter_by_length(train, mc.max_source_length, mc.max_target_length)
        self._log(f"data: {len(kept):,} of {len(train):,} training pairs kept after the length filter")
        self.train_data = kept
        self.valid_data = valid
        self.test_data = test
        self.sampler = TokenBucketSampler(
            [len(x) for x in kept["src_ids"]],
            [len(x) for x in kept["tgt_ids"]],
            max_tokens=cfg.batch_tokens,
            seed=cfg.seed,
            max_sentences=cfg.max_sentences,
            num_replicas=self.world,
            rank=self.rank,
        )
        self.train_src = kept["src_ids"]
        self.train_tgt = kept["tgt_ids"]
        epoch0 = self.sampler.batches(0)
        self.steps_per_epoch = len(epoch0)
        if self.steps_per_epoch == 0:
            raise TrainingError("no training batch could be formed (too few examples for this many processes?)")
        self._log(
            f"batches: {self.steps_per_epoch:,} per epoch per process, target padding "
            f"{padding_ratio(epoch0, [len(t) for t in self.train_tgt]):.1%}"
        )
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        if cfg.max_steps and cfg.epochs:
            self.total_steps = min(cfg.max_steps, cfg.epochs * self.steps_per_epoch)

    def build_model(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.model = Seq2SeqModel(self.model_config)
        if cfg.src_embeddings or cfg.tgt_embeddings:
            from .embeddings import load_pretrained_embeddings

            for side, path in (("source", cfg.src_embeddings), ("target", cfg.tgt_embeddings)):
                if path:
                    module = self.model.encoder.embedding if side == "source" else self.model.decoder.embedding
                    tok = self.tokenizer.source if side == "source" else self.tokenizer.target
                    found, total = load_pretrained_embeddings(module, tok, path)
                    self._log(
                        f"{side} embeddings: {found:,} of {total:,} vocabulary entries initialised "
                        f"from {path} ({found / max(total, 1):.1%} coverage)"
                    )
        self.model.to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optim(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.ddp = None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(
                self.model, device_ids=[self.local_rank] if self.device.type == "cuda" else None
            )
        self.scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" else None
        self._log(
            f"model: {self.model.num_parameters():,} parameters ({self.model_config.cell}, "
            f"{self.model_config.attention} attention) on {self.device}"
            + (f" x {self.world} processes" if self.world > 1 else "")
        )

    # ------------------------------------------------------------------ state
    def _fresh_state(self) -> dict[str, Any]:
        return {
            "step": 0,
            "epoch": 0,
            "batch_in_epoch": 0,
            "best_bleu": -1.0,
            "best_step": 0,
            "bad_evals": 0,
            "lr_scale": 1.0,
            "plateau_bad": 0,
            "skipped_steps": 0,
            "history": [],
            "train_seconds": 0.0,
            "stopped_early": False,
        }

    def _checkpoint_dir(self) -> Path | None:
        latest = self.output_dir / LATEST_FILE
        if not latest.is_file():
            return None
        path = self.output_dir / latest.read_text(encoding="utf-8").strip()
        return path if path.is_dir() else None

    def save_checkpoint(self) -> Path:
        """Write model, optimizer, RNG and loop state to checkpoint-<step>/, then point `latest` at it."""
        from safetensors.torch import save_file

        step = self.state["step"]
        final = self.output_dir / f"{CHECKPOINT_PREFIX}{step}"
        tmp = Path(tempfile.mkdtemp(dir=self.output_dir, prefix=f".{CHECKPOINT_PREFIX}{step}-"))
        try:
            tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            opt = self.optimizer.state_dict()
            for pid, pstate in opt["state"].items():
                for key, value in pstate.items():
                    t = value if torch.is_tensor(value) else torch.tensor(value)
                    tensors[f"optim.{pid}.{key}"] = t.detach().cpu().contiguous()
            tensors["rng.torch"] = torch.get_rng_state()
            if torch.cuda.is_available() and self.device.type == "cuda":
                tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
            save_file(tensors, str(tmp / "state.safetensors"))
            meta = {
                "state": self.state,
                "param_groups": opt["param_groups"],
                "train_config": self.cfg.to_dict(),
                "model_config": self.model_config.to_dict(),
            }
            (tmp / "trainer_state.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TrainingError(
                f"could not write checkpoint {final.name} ({err.strerror or err}); the previous checkpoint is "
                "intact; free some disk space and rerun with --resume"
            ) from None
        _atomic_write_text(self.output_dir / LATEST_FILE, final.name + "\n")
        checkpoints = sorted(self.output_dir.glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name.split("-")[1]))
        for old in checkpoints[: -self.cfg.keep_checkpoints]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.output_dir.glob(f".{CHECKPOINT_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        return final

    def load_checkpoint(self, path: Path) -> None:
        from safetensors.torch import load_file

        try:
            meta = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            tensors = load_file(str(path / "state.safetensors"))
        except (OSError, ValueError) as err:
            raise TrainingError(f"checkpoint {path} is unreadable: {err}") from None
        model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(model_state, strict=True)
        opt_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                opt_state.setdefault(int(pid), {})[name] = value.to(self.device) if name != "step" else value
        self.optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.state = meta["state"]

    # ------------------------------------------------------------------ the loop
    def run(self) -> Path:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        try:
            return self._run()
        finally:
            if self.world > 1 and dist.is_initialized():
                dist.destroy_process_group()

    def _run(self) -> Path:
        cfg = self.cfg
        checkpoint = self._checkpoint_dir()
        if checkpoint is None and not self.resume and self.is_main:
            # a fresh run: clear what a previous run left in this folder
            for stale in (METRICS_FILE, "tokenizer"):
                p = self.output_dir / stale
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        elif checkpoint is not None and not self.resume:
            raise TrainingError(
                f"{self.output_dir} already holds a run (checkpoint {checkpoint.name}); pass --resume to continue "
                "it, or choose another --output_dir"
            )
        if self.world > 1:
            # rank 0 trains the tokenizer; the others wait and reuse it
            if self.is_main:
                self.prepare_data()
            dist.barrier()
            if not self.is_main:
                self.prepare_data()
        else:
            self.prepare_data()
        self.build_model()
        self.state = self._fresh_state()
        if self.resume:
            if checkpoint is None:
                self._log(f"--resume: no checkpoint in {self.output_dir}; starting from scratch")
            else:
                self.load_checkpoint(checkpoint)
                self._log(f"resumed from {checkpoint.name} (step {self.state['step']}, epoch {self.state['epoch']})")
        self.metrics_file = self.output_dir / METRICS_FILE
        if self.resume and self.is_main and self.metrics_file.exists():
            self._drop_records_after(self.state["step"])
        self.writer = None
        if self.is_main and cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.output_dir / "tensorboard"))
            except ImportError:
                self._log("tensorboard is not installed: logging to metrics.jsonl only")
        try:
            self._train_loop()
        finally:
            if self.writer is not None:
                self.writer.close()
        if self.is_main:
            return self.finish()
        return self.output_dir / MODEL_DIR

    def _train_loop(self) -> None:
        cfg = self.cfg
        from tqdm.auto import tqdm

        module = self.ddp or self.model
        bar = tqdm(
            total=self.total_steps,
            initial=self.state["step"],
            disable=not (cfg.progress and self.is_main),
            dynamic_ncols=True,
            desc="training",
        )
        eval_every = cfg.eval_every or self.steps_per_epoch
        tf_steps = cfg.tf_steps or self.total_steps
        window_tokens, window_loss, window_start = 0, 0.0, time.perf_counter()
        run_start = time.perf_counter() - self.state["train_seconds"]
        autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
        while self.state["step"] < self.total_steps and not self.state["stopped_early"]:
            epoch = self.state["epoch"]
            batches = self.sampler.batches(epoch)
            for b_index in range(self.state["batch_in_epoch"], len(batches)):
                if self.state["step"] >= self.total_steps:
                    break
                self.model.train()
                idx = batches[b_index]
                batch = collate(
                    [self.train_src[i] for i in idx],
                    [self.train_tgt[i] for i in idx],
                    self.model_config.pad_token_id,
                    self.model_config.bos_token_id,
                ).to(self.device)
                step = self.state["step"] + 1
                lr = (
                    cfg.lr
                    * self.state["lr_scale"]
                    * learning_rate_scale(cfg.lr_schedule, step, cfg.warmup_steps, self.total_steps)
                )
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                ratio = teacher_forcing_ratio(cfg.tf_schedule, step - 1, cfg.tf_start, cfg.tf_end, tf_steps)
                with torch.autocast(self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    out = module(
                        batch.src,
                        batch.src_lengths,
                        batch.tgt_in,
                        labels=batch.labels,
                        teacher_forcing_ratio=ratio,
                        label_smoothing=cfg.label_smoothing,
                    )
                loss = out.loss
                self.optimizer.zero_grad(set_to_none=True)
                if not torch.isfinite(loss):
                    self._nonfinite(step, "loss")
                    self.state["batch_in_epoch"] = b_index + 1
                    continue
                (self.scaler.scale(loss) if self.scaler else loss).backward()
                if self.scaler:
                    self.scaler.unscale_(self.optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm or float("inf"))
                if not torch.isfinite(grad_norm) and self.scaler is None:
                    self.optimizer.zero_grad(set_to_none=True)
                    self._nonfinite(step, "gradient norm")
                    self.state["batch_in_epoch"] = b_index + 1
                    continue
                if self.scaler:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.state["step"] = step
                self.state["batch_in_epoch"] = b_index + 1
                window_tokens += batch.num_tokens
                window_loss += loss.item() * batch.num_tokens
                bar.update(1)
                if step % cfg.log_every == 0 or step == self.total_steps:
                    elapsed = time.perf_counter() - window_start
                    record = {
                        "step": step,
                        "epoch": epoch,
                        "loss": window_loss / max(window_tokens, 1),
                        "lr": lr,
                        "tf_ratio": ratio,
                        "tokens_per_s": window_tokens * self.world / max(elapsed, 1e-9),
                        "grad_norm": float(grad_norm),
                    }
                    self._record(record)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{record['tokens_per_s']:.0f}")
                    window_tokens, window_loss, window_start = 0, 0.0, time.perf_counter()
                self.state["train_seconds"] = time.perf_counter() - run_start
                at_epoch_end = b_index + 1 == len(batches)
                if step % eval_every == 0 or step == self.total_steps:
                    if at_epoch_end:
                        self.state["epoch"], self.state["batch_in_epoch"] = epoch + 1, 0
                    self._evaluate_and_checkpoint(step)
                    if self.state["stopped_early"]:
                        break
                elif cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    if at_epoch_end:
                        self.state["epoch"], self.state["batch_in_epoch"] = epoch + 1, 0
                    if self.is_main:
                        self.save_checkpoint()
            else:
                if self.state["epoch"] == epoch:  # not yet advanced by an end-of-epoch evaluation
                    self.state["epoch"], self.state["batch_in_epoch"] = epoch + 1, 0
                continue
            if self.state["stopped_early"] or self.state["step"] >= self.total_steps:
                break
        bar.close()

    def _drop_records_after(self, step: int) -> None:
        """After a resume, forget what was logged past the checkpoint: those steps run again."""
        lines = self.metrics_file.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        _atomic_write_text(self.metrics_file, "".join(line + "\n" for line in kept))

    def _nonfinite(self, step: int, what: str) -> None:
        if self.cfg.nonfinite == "stop":
            latest = self._checkpoint_dir()
            where = f"the last good checkpoint is {latest}" if latest else "no checkpoint was written yet"
            raise TrainingError(
                f"non-finite {what} at step {step}: training stopped and nothing bad was saved ({where}); "
                "try a lower lr, a smaller clip_norm, or nonfinite=skip"
            )
        self.state["skipped_steps"] += 1
        self._log(f"step {step}: non-finite {what}, update skipped ({self.state['skipped_steps']} so far)")

    def _record(self, record: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    # ------------------------------------------------------------------ evaluation
    def translator(self) -> Translator:
        return Translator(self.model, self.tokenizer)

    def validation_bleu(self, translator: Translator):
        """sacreBLEU / chrF of the validation set decoded with `eval_beam_size` (1: greedy)."""
        hyps = translator.translate(list(self.valid_data["src"]), beam_size=self.cfg.eval_beam_size, batch_size=128)
        return corpus_scores([h.text for h in hyps], list(self.valid_data["tgt"]))

    def _evaluate_and_checkpoint(self, step: int) -> None:
        cfg = self.cfg
        improved = False
        if self.is_main:
            translator = self.translator()
            # teacher-forced NLL without label smoothing
            nll, tokens = translator.score(list(self.valid_data["src"]), list(self.valid_data["tgt"]), batch_size=128)
            scores = self.validation_bleu(translator)
            record = {
                "step": step,
                "epoch": self.state["epoch"],
                "valid_loss": nll / max(tokens, 1),
                "valid_ppl": perplexity(nll, tokens),
                "valid_bleu": scores.bleu,
                "valid_chrf": scores.chrf,
                "train_seconds": self.state["train_seconds"],
            }
            improved = scores.bleu > self.state["best_bleu"]
            if improved:
                self.state.update(best_bleu=scores.bleu, best_step=step, bad_evals=0, plateau_bad=0)
                self._save_model_folder(self.output_dir / MODEL_DIR, translator)
            else:
                self.state["bad_evals"] += 1
                self.state["plateau_bad"] += 1
                if cfg.lr_schedule == "plateau" and self.state["plateau_bad"] >= cfg.plateau_patience:
                    self.state["lr_scale"] *= cfg.plateau_factor
                    self.state["plateau_bad"] = 0
            if cfg.average_last:
                self._keep_for_averaging(step, scores.bleu)
            self.state["history"].append({"step": step, "valid_bleu": scores.bleu})
            record["best_bleu"] = self.state["best_bleu"]
            self._record(record)
            self._log(
                f"step {step}: valid loss {record['valid_loss']:.3f} ppl {record['valid_ppl']:.2f} "
                f"BLEU {scores.bleu:.2f} chrF {scores.chrf:.2f}" + (" (best)" if improved else "")
            )
            if cfg.patience and self.state["bad_evals"] >= cfg.patience:
                self.state["stopped_early"] = True
                self._log(f"early stopping: no better validation BLEU for {cfg.patience} evaluations")
        if self.world > 1:
            flags = torch.tensor([float(self.state["stopped_early"]), self.state["lr_scale"]])
            dist.broadcast(flags, 0)
            self.state["stopped_early"], self.state["lr_scale"] = bool(flags[0]), float(flags[1])
        if self.is_main:
            self.save_checkpoint()
        if self.world > 1:
            dist.barrier()

    def _keep_for_averaging(self, step: int, bleu: float) -> None:
        """Keep the weights of the best `average_last` evaluations (for checkpoint averaging)."""
        from safetensors.torch import save_file

        folder = self.output_dir / "averaging"
        folder.mkdir(exist_ok=True)
        entries = json.loads((folder / "index.json").read_text()) if (folder / "index.json").exists() else []
        entries.append({"step": step, "bleu": bleu})
        entries.sort(key=lambda e: e["bleu"], reverse=True)
        keep, drop = entries[: self.cfg.average_last], entries[self.cfg.average_last :]
        if any(e["step"] == step for e in keep):
            state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            save_file(state, str(folder / f"step-{step}.safetensors"))
        for e in drop:
            (folder / f"step-{e['step']}.safetensors").unlink(missing_ok=True)
        _atomic_write_text(folder / "index.json", json.dumps(keep))

    def _save_model_folder(self, folder: Path, translator: Translator, metrics: dict | None = None) -> None:
        from .hub import render_model_card

        tmp = Path(tempfile.mkdtemp(dir=self.output_dir, prefix=".model-"))
        translator.save_dtype = torch.float16 if self.cfg.save_dtype == "float16" else None
        translator.card = render_model_card(
            self.model_config,
            num_parameters=self.model.num_parameters(),
            repo_id=self.cfg.push_to_hub or None,
            metrics=metrics,
            training=self._training_facts(),
            datasets=["bentrevett/multi30k"] if self.cfg.dataset == "multi30k" else [],
            extra_sections=self._card_sections(),
        )
        translator.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)

    def _training_facts(self) -> dict[str, Any]:
        import yaml

        cfg = self.cfg
        hours = self.state["train_seconds"] / 3600
        device = (
            torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else (f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
        )
        data = {
            "multi30k": f"Multi30k {cfg.src_lang}-{cfg.tgt_lang} (bundled, data/multi30k)",
            "files": f"local files {cfg.train_files}",
            "hub": f"Hub dataset {cfg.hub_dataset}",
        }[cfg.dataset]
        return {
            "data": data,
            "training pairs": f"{len(self.train_data):,}",
            "steps": f"{self.state['step']:,} (best at step {self.state['best_step']:,})",
            "training time": f"{self.state['train_seconds'] / 60:.1f} minutes ({hours:.2f} h)",
            "hardware": f"{device} x {self.world}" if self.world > 1 else device,
            "reproduce": f"`{self.command}`",
            "config": yaml.safe_dump(cfg.to_dict(), sort_keys=False),
        }

    def _card_sections(self) -> str:
        return "\n".join(
            [
                "## Intended use and limits",
                "",
                "Research and demonstration of recurrent attention models. Trained on image captions "
                "(Multi30k: short descriptive sentences about everyday scenes), it translates such sentences well and "
                "degrades on other domains, long or complex sentences, names and rare words. Do not rely on it for "
                "anything that matters without checking the output.",
                "",
                "## Data and citation",
                "",
                MULTI30K_CITATION if self.cfg.dataset == "multi30k" else f"Trained on {self.cfg.dataset} data.",
            ]
        )

    def _average_weights(self) -> bool:
        from safetensors.torch import load_file

        folder = self.output_dir / "averaging"
        if not (folder / "index.json").exists():
            return False
        entries = json.loads((folder / "index.json").read_text())
        files = [folder / f"step-{e['step']}.safetensors" for e in entries]
        files = [f for f in files if f.exists()]
        if len(files) < 2:
            return False
        states = [load_file(str(f)) for f in files]
        averaged = {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}
        self.model.load_state_dict({k: v.to(self.model.state_dict()[k].dtype) for k, v in averaged.items()})
        return True

    def finish(self) -> Path:
        """Load the best model (or an average), score it on the test set, write the final folder + card."""
        cfg = self.cfg
        folder = self.output_dir / MODEL_DIR
        if not (folder / "model.safetensors").exists():
            raise TrainingError("no model was saved (training ended before the first evaluation)")
        best = Translator.from_pretrained(folder, device=self.device)
        self.model.load_state_dict(best.model.state_dict())
        metrics: dict[str, Any] = {"valid_bleu": self.state["best_bleu"]}
        if cfg.average_last and self._average_weights():
            avg_bleu = self.validation_bleu(self.translator()).bleu
            self._log(
                f"checkpoint averaging: validation BLEU {avg_bleu:.2f} vs best single {self.state['best_bleu']:.2f}"
            )
            if avg_bleu > self.state["best_bleu"]:
                metrics["valid_bleu"] = avg_bleu
                metrics["averaged_checkpoints"] = cfg.average_last
            else:
                self.model.load_state_dict(best.model.state_dict())
        self.model.eval()
        translator = self.translator()
        if self.test_data is not None and len(self.test_data):
            hyps = translator.translate(
                list(self.test_data["src"]),
                beam_size=cfg.test_beam_size,
                length_penalty=cfg.test_length_penalty,
                batch_size=64,
            )
            scores = corpus_scores([h.text for h in hyps], list(self.test_data["tgt"]))
            metrics.update(
                test_bleu=scores.bleu,
                test_bleu_signature=scores.bleu_signature,
                test_bleu_lowercase=scores.bleu_lowercase,
                test_chrf=scores.chrf,
                test_chrf_signature=scores.chrf_signature,
                test_beam_size=cfg.test_beam_size,
            )
            self._log(
                f"test: BLEU {scores.bleu:.2f} (lowercased {scores.bleu_lowercase:.2f}) chrF {scores.chrf:.2f} "
                f"[{scores.bleu_signature}]"
            )
        self._save_model_folder(folder, translator, metrics)
        _atomic_write_text(self.output_dir / "final_metrics.json", json.dumps(metrics, indent=2))
        self._record({"step": self.state["step"], **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
        self._log(f"model folder: {folder}")
        if cfg.push_to_hub:
            url = push_folder(folder, cfg.push_to_hub, private=cfg.private)
            self._log(f"pushed to {url}")
        return folder


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload seq2seq-hub model",
) -> str:
    """Upload a finished model folder (only the files `from_pretrained` needs, plus the card)."""
    from huggingface_hub import HfApi

    from .hub import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, resolve_repo
    from .tokenizer import TARGET_TOKENIZER_FILE, TOKENIZER_FILE

    resolve_repo(folder)  # refuse to publish an incomplete folder
    api = HfApi(token=token)
    repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
    info = api.upload_folder(
        repo_id=repo,
        folder_path=str(folder),
        commit_message=commit_message,
        allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TARGET_TOKENIZER_FILE, CARD_FILE],
    )
    return str(getattr(info, "commit_url", info))
