"""cli_config.py: the training command line: a YAML config file plus `--key value` overrides.

Every `TrainConfig` field is an option (its help is the comment beside the field); model fields are
`--model.<name> value`. Values are parsed as YAML scalars (numbers, true/false, lists).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import yaml

from .config import Seq2SeqConfig
from .trainer import TrainConfig


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


def build_train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="training/train.py",
        description="Train an attention seq2seq translation model; writes a Hub-format model folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of training settings (see training/configs/)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    group = parser.add_argument_group("settings (override the config file)")
    comments = _field_comments(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = comments.get(f.name, "")
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        group.add_argument(*flags, dest=f.name, default=None, metavar="V",
                           help=f"{help_text} (default: {default!r})".strip())
    model_group = parser.add_argument_group("model settings (Seq2SeqConfig fields)")
    model_comments = _field_comments(Seq2SeqConfig)
    for f in dataclasses.fields(Seq2SeqConfig):
        model_group.add_argument(f"--model.{f.name}", dest=f"model.{f.name}", default=None, metavar="V",
                                 help=f"{model_comments.get(f.name, '')} (default: {f.default!r})")
    return parser


def _parse_value(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        return text


def load_train_config(args: argparse.Namespace) -> TrainConfig:
    """Merge the YAML file and the command-line overrides into a validated `TrainConfig`."""
    data: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a mapping of settings")
    data = dict(data)
    model = dict(data.get("model") or {})
    string_fields = {f.name for f in dataclasses.fields(TrainConfig) if f.type in ("str", str)}
    for key, value in vars(args).items():
        if value is None or key in ("config", "resume"):
            continue
        if key.startswith("model."):
            model[key[len("model."):]] = _parse_value(value)
        else:
            data[key] = value if key in string_fields else _parse_value(value)
    data["model"] = model
    return TrainConfig.from_dict(data)
