"""config.py: `TrainConfig`, every setting of a training run, validated; and the training command line
that builds it (a YAML file plus `--key value` overrides, model fields as `--model.<name> value`).

Values on the command line are parsed as YAML scalars (numbers, true/false, lists); every option's help
is the comment beside its field, marked [fixed on --resume] for the settings a resumed run must share with
its checkpoint (`RESUME_FIXED`). Knows nothing of data, models or the loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from ..checks import bool_problem, choice_problem, is_number, number_problem
from ..config import MAX_VOCAB_SIZE, Seq2SeqConfig
from ..decoding import DecodingOptions
from .schedules import LR_SCHEDULES, TF_SCHEDULES
from .shipped_recipes import find_recipe, recipe_names

# Seq2SeqConfig fields the trainer fills in from the data and the tokenizer (values given in `model` are replaced)
FILLED_FROM_DATA = ("src_vocab_size", "tgt_vocab_size", "src_lang", "tgt_lang", "shared_vocab")

# What `--resume` refuses to change (naming each difference): the settings that fix the model's shape, its
# tokenizer, the training data and its order (batching and seed), the optimizer whose state the checkpoint
# holds, and the validation set the best score so far was measured on. Every other setting may change on
# resume (epochs, max_steps, lr and its schedule, betas, weight_decay, teacher forcing, evaluation, patience,
# test decoding, logging, checkpointing, device, precision) and each change is logged.
RESUME_FIXED = (
    "dataset", "data_dir", "src_lang", "tgt_lang", "train_files", "valid_files", "hub_dataset", "hub_config",
    "train_split", "valid_split", "max_train_examples", "synthetic_files", "distilled_files", "synthetic_ratio",
    "real_upsample",
    "synthetic_tag", "init_from", "max_valid_examples", "vocab_size", "tgt_vocab_size",
    "joint_vocab", "min_frequency", "model", "src_embeddings", "tgt_embeddings", "batch_tokens", "max_sentences",
    "optimizer", "seed",
)  # fmt: skip


@dataclass
class TrainConfig:
    """Everything a training run needs. Every key can be overridden on the command line; a resumed run
    must keep the checkpoint's values of the keys in `RESUME_FIXED` and may change the others."""

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
    max_train_examples: int = 0  # 0 = all (of the real pairs)
    synthetic_files: str = ""  # back-translated pairs added to the training data: 'bt.de,bt.en' specs joined by ';'
    distilled_files: str = ""  # pairs with a teacher's translations as targets (never tagged), same form
    synthetic_ratio: float = 0.0  # at most this many synthetic (both kinds) per (upsampled) real pair; 0 = all
    real_upsample: int = 1  # each real training pair is seen this many times per epoch (0 = synthetic only)
    synthetic_tag: str = ""  # prepended to every back-translated source that lacks it (tagged back-translation)
    max_valid_examples: int = 0  # 0 = all (validation BLEU decodes these)
    max_test_examples: int = 0
    init_from: str = ""  # start from this model folder's weights and tokenizer (fine-tuning); model settings must match
    # tokenizer
    vocab_size: int = 8000  # BPE vocabulary size (the source one when vocabularies are separate)
    tgt_vocab_size: int = 0  # target BPE vocabulary size when joint_vocab is false (0 = vocab_size)
    joint_vocab: bool = True  # one vocabulary for both languages
    min_frequency: int = 2  # BPE: merges seen fewer times are not learnt
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
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.98)  # Adam's two moment decays, each in [0, 1)
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
    precision: str = "auto"  # auto (bf16 where the device has native bf16 units, else fp32) | fp32 | bf16 | fp16 (GPU)
    # evaluation and output
    eval_every: int = 0  # steps between validations; 0 = once per epoch
    eval_beam_size: int = 1  # decoding for validation BLEU (1 = greedy, fastest)
    patience: int = 5  # early stopping: evaluations without a better validation BLEU
    score_test: bool = True  # score the test set at the end (false while recipes are still chosen on val)
    test_beam_size: int = 5  # test-set decoding, saved as the model's default (generation_config.json)
    test_length_penalty: float = 1.0  # beam ranking: score / length ** penalty (test set and saved default)
    average_last: int = 0  # average the weights of the best N evaluations for the final model (0 = off)
    save_dtype: str = "float32"  # float32 | float16 storage of the final weights
    log_every: int = 50
    checkpoint_every: int = 0  # steps; 0 = at every evaluation
    keep_checkpoints: int = 2  # newest checkpoints kept: --resume falls back to an older one when the newest is damaged
    output_dir: str = "runs/multi30k-de-en"
    seed: int = 1234
    device: str = "auto"  # auto | cpu | cuda
    num_threads: int = 0  # torch intra-op threads (0 = torch's default)
    progress: bool = True
    tensorboard: bool = True
    push_to_hub: str = ""  # org/name: push the final folder
    purpose: str = ""  # what the model is for, in one sentence: its card's first paragraph and metadata
    private: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.betas, list | tuple):  # torch's Adam wants two floats (YAML may give ints)
            self.betas = tuple(float(b) if is_number(b) else b for b in self.betas)
        self.validate()

    def validate(self) -> None:
        """Raise one ValueError naming every bad field, its value and what is allowed."""
        problems = _choice_problems(self) + _number_problems(self) + _dependency_problems(self)
        problems += _decoding_problems(self, problems)
        if problems:
            raise ValueError("Invalid training config: " + "; ".join(problems))

    def validation_decoding(self) -> DecodingOptions:
        """How validation BLEU decodes: `eval_beam_size` beams (1: greedy)."""
        return DecodingOptions(num_beams=self.eval_beam_size)

    def test_decoding(self) -> DecodingOptions:
        """How the test set is decoded; also the final model's decoding defaults (generation_config.json)."""
        return DecodingOptions(num_beams=self.test_beam_size, length_penalty=self.test_length_penalty)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known, key=str)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; see `seq2seq-hub train --help`")
        return cls(**data)


# ---------------------------------------------------------------------- validation
CHOICES = {
    "dataset": ("multi30k", "files", "hub"),
    "optimizer": ("adam", "adamw"),
    "lr_schedule": LR_SCHEDULES,
    "tf_schedule": TF_SCHEDULES,
    "nonfinite": ("stop", "skip"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "save_dtype": ("float32", "float16"),
    "device": ("auto", "cpu", "cuda"),
}
POSITIVE = ("vocab_size", "batch_tokens", "lr", "test_beam_size", "eval_beam_size", "log_every", "keep_checkpoints")
NON_NEGATIVE = (
    "epochs", "max_steps", "warmup_steps", "weight_decay", "clip_norm", "patience", "max_train_examples",
    "max_valid_examples", "max_test_examples", "eval_every", "average_last", "checkpoint_every", "num_threads",
    "tf_steps", "max_sentences", "tgt_vocab_size", "min_frequency", "plateau_patience", "seed", "real_upsample",
    "synthetic_ratio",
)  # fmt: skip
FRACTIONS = ("tf_start", "tf_end", "label_smoothing")  # in [0, 1]
BOOLEANS = ("joint_vocab", "progress", "tensorboard", "private", "score_test")
FLOAT32_MAX = 3.4028234663852886e38  # Adam turns lr, its steps and weight_decay into float32 scalars
MAXIMUM = {
    "weight_decay": FLOAT32_MAX,
    "vocab_size": MAX_VOCAB_SIZE,
    "tgt_vocab_size": MAX_VOCAB_SIZE,
    "seed": 2**64 - 1,  # torch.manual_seed's range
}


def _choice_problems(cfg: TrainConfig) -> list[str]:
    problems = [choice_problem(name, getattr(cfg, name), options) for name, options in CHOICES.items()]
    problems += [bool_problem(name, getattr(cfg, name)) for name in BOOLEANS]
    return [p for p in problems if p]


def _number_problems(cfg: TrainConfig) -> list[str]:
    types = {f.name: f.type for f in dataclasses.fields(cfg)}  # annotations are strings here
    problems = [
        number_problem(
            name, getattr(cfg, name), 0, MAXIMUM.get(name), integer=types[name] == "int", low_open=name in POSITIVE
        )
        for name in POSITIVE + NON_NEGATIVE
    ]
    problems += [number_problem(name, getattr(cfg, name), 0.0, 1.0) for name in FRACTIONS]
    problems.append(number_problem("plateau_factor", cfg.plateau_factor, 0.0, 1.0, low_open=True))
    betas = cfg.betas
    if not (isinstance(betas, tuple) and len(betas) == 2 and all(is_number(b) and 0.0 <= b < 1.0 for b in betas)):
        problems.append(f"betas must be two numbers in [0, 1), got {betas!r}")
    elif not any(p and p.startswith(("lr ", "weight_decay ")) for p in problems):
        problems += _float32_problems(cfg)
    return [p for p in problems if p]


def _float32_problems(cfg: TrainConfig) -> list[str]:
    """What torch's Adam cannot hold in a float32 scalar: its first step lr / (1 - betas[0]) (the bias
    correction makes it the largest) and AdamW's decay factor 1 - lr * weight_decay."""
    problems = []
    first_step = cfg.lr / (1.0 - cfg.betas[0])
    if not first_step <= FLOAT32_MAX:
        problems.append(
            f"lr {cfg.lr!r} is too large: Adam's first step, lr / (1 - betas[0]) = {first_step:.4g}, "
            f"must be at most {FLOAT32_MAX:.4g} (the largest float32)"
        )
    if cfg.optimizer == "adamw" and not cfg.lr * cfg.weight_decay <= FLOAT32_MAX:
        problems.append(
            f"lr * weight_decay = {cfg.lr * cfg.weight_decay:.4g} is too large for AdamW's decay: "
            f"it must be at most {FLOAT32_MAX:.4g} (the largest float32)"
        )
    return problems


def _dependency_problems(cfg: TrainConfig) -> list[str]:
    problems = []
    if not cfg.epochs and not cfg.max_steps:
        problems.append("set epochs or max_steps above 0")
    if cfg.dataset == "files" and not (cfg.train_files and cfg.valid_files):
        problems.append("dataset 'files' needs train_files and valid_files")
    if cfg.real_upsample == 0 and not (cfg.synthetic_files + cfg.distilled_files).strip(" ;"):
        problems.append("real_upsample 0 trains on synthetic pairs only: give synthetic_files or distilled_files")
    if cfg.dataset == "hub" and not cfg.hub_dataset:
        problems.append("dataset 'hub' needs hub_dataset (a Hub dataset id)")
    if not isinstance(cfg.model, dict):
        return problems + [f"model must be a mapping of Seq2SeqConfig fields, got {cfg.model!r}"]
    known = {f.name for f in dataclasses.fields(Seq2SeqConfig)}
    unknown = sorted(set(cfg.model) - known)
    if unknown:
        return problems + [f"model has unknown keys {unknown}; known keys are {sorted(known)}"]
    try:  # check the model's values now, not after the data and the tokenizer are prepared
        Seq2SeqConfig(**{k: v for k, v in cfg.model.items() if k not in FILLED_FROM_DATA})
    except ValueError as err:
        problems.append("model: " + str(err).removeprefix("Invalid Seq2SeqConfig: "))
    return problems


def _decoding_problems(cfg: TrainConfig, found: list[str]) -> list[str]:
    """What DecodingOptions refuses in the evaluation settings (once their basic checks passed)."""
    problems = []
    for fields, make in (
        (("eval_beam_size",), cfg.validation_decoding),
        (("test_beam_size", "test_length_penalty"), cfg.test_decoding),
    ):
        if any(p.startswith(fields) for p in found):
            continue
        try:
            make()
        except (TypeError, ValueError) as err:
            problems.append(f"{' / '.join(fields)}: {err}")
    return problems


# ---------------------------------------------------------------------- the command line
class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` (no dot) as a string; read it as the float everyone means."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


def _field_comments(cls) -> dict[str, str]:
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+): [^=]+=[^#]*#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


class _OneLineParser(argparse.ArgumentParser):
    """Command-line mistakes in one line (with the nearest known option for a typo), not a page of usage."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            known = [s for action in self._actions for s in action.option_strings]
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], known, n=1)
                if word.startswith("--") and close:
                    message += f" (did you mean {close[0]}?)"
                    break
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def build_train_parser(prog: str = "seq2seq-hub train") -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog=prog, description="Train an attention seq2seq translation model; writes a Hub-format model folder."
    )
    parser.add_argument("--config", help=f"a shipped recipe ({', '.join(recipe_names())}) or a YAML file")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest intact checkpoint in output_dir (damaged ones are skipped); settings marked "
        "[fixed on --resume] must match the checkpoint's, the others may change (each change is logged)",
    )
    group = parser.add_argument_group("settings (override the config file)")
    comments = _field_comments(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = comments.get(f.name, "") + (" [fixed on --resume]" if f.name in RESUME_FIXED else "")
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        group.add_argument(
            *flags, dest=f.name, default=None, metavar="V", help=f"{help_text} (default: {default!r})".strip()
        )
    model_group = parser.add_argument_group("model settings (Seq2SeqConfig fields, all fixed on --resume)")
    model_comments = _field_comments(Seq2SeqConfig)
    for f in dataclasses.fields(Seq2SeqConfig):
        model_group.add_argument(
            f"--model.{f.name}",
            dest=f"model.{f.name}",
            default=None,
            metavar="V",
            help=f"{model_comments.get(f.name, '')} (default: {f.default!r})",
        )
    return parser


def _parse_value(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{path} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of settings")
    return dict(data)


def load_train_config(args: argparse.Namespace) -> TrainConfig:
    """Merge the YAML file and the command-line overrides into a validated `TrainConfig`."""
    data = _read_yaml(find_recipe(args.config)) if args.config else {}
    model = dict(data.get("model") or {})
    string_fields = {f.name for f in dataclasses.fields(TrainConfig) if f.type in ("str", str)}
    for key, value in vars(args).items():
        if value is None or key in ("config", "resume"):
            continue
        if key.startswith("model."):
            model[key[len("model.") :]] = _parse_value(value)
        else:
            data[key] = value if key in string_fields else _parse_value(value)
    data["model"] = model
    return TrainConfig.from_dict(data)
