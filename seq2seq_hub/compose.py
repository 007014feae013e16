"""compose.py: new model folders made from existing ones: an ensemble of several models, or the
checkpoint average of one model's weight sets. Each result is a Hub-format folder of its own, loaded
with `Translator.from_pretrained` and pushed like any other.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .averaging import average_weights, run_weights
from .card import read_model_card, render_model_card
from .translator import Translator

MEMBER_FACTS = ("reproduce", "training time", "hardware", "steps")  # what an ensemble's card says of each member
SAVE_DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _save(translator: Translator, output: str | os.PathLike, dtype: str, facts: dict[str, str]) -> Path:
    if dtype not in SAVE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(SAVE_DTYPES)}, got {dtype!r}")
    translator.save_dtype = SAVE_DTYPES[dtype]
    translator.card = render_model_card(
        translator.config,
        num_parameters=translator.model.num_parameters(),
        training=facts,
        ensemble_size=len(translator.members),
    )
    translator.save_pretrained(output)
    return Path(output)


def build_ensemble(models: list[str | os.PathLike], output: str | os.PathLike, dtype: str = "float32") -> Path:
    """Save the models (folders or Hub ids, sharing one tokenizer) as one ensemble folder at `output`.

    Its decoding defaults are the first model's; tune them on validation data and set them with
    `Translator.generation_options` (or edit generation_config.json).
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least two models, got {len(models)}")
    members = [Translator.from_pretrained(m) for m in models]
    facts = {"made by": "seq2seq-hub ensemble of " + ", ".join(str(m) for m in models)}
    for i, (name, member) in enumerate(zip(models, members), start=1):
        told = read_model_card(member.card).training
        said = "; ".join(f"{key}: {told[key]}" for key in MEMBER_FACTS if key in told)
        facts[f"member {i}"] = f"{name}" + (f" ({said})" if said else "")
    return _save(Translator.ensemble(members), output, dtype, facts)


def build_average(
    template: str | os.PathLike,
    weights: list[str | os.PathLike],
    output: str | os.PathLike,
    dtype: str = "float32",
) -> Path:
    """Save `template` (a model folder: config, tokenizer, decoding defaults) with the mean of `weights`
    (model folders, training checkpoints or weight files of that same model) at `output`."""
    translator = Translator.from_pretrained(template)
    if len(translator.members) > 1:
        raise ValueError(f"{template} is an ensemble: average the weights of each member's run instead")
    translator.model.load_state_dict(average_weights(weights, translator.model.state_dict()), strict=True)
    facts = {"made by": f"seq2seq-hub average of {len(weights)} weight sets: " + ", ".join(str(w) for w in weights)}
    return _save(translator, output, dtype, facts)


def build_run_average(run_dir: str | os.PathLike, output: str | os.PathLike, dtype: str = "float32") -> Path:
    """The average of what a training run kept for averaging (else its checkpoints), on its model folder."""
    weights = run_weights(run_dir)
    if len(weights) < 2:
        raise ValueError(f"{run_dir} kept {len(weights)} weight set(s) for averaging; averaging needs two or more")
    return build_average(Path(run_dir) / "model", weights, output, dtype)


__all__ = ["build_average", "build_ensemble", "build_run_average"]
