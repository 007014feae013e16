"""model_folder.py: the run's Hub-format model folder (written whole, then swapped in) and what its
card says about the training: short facts (data, pairs, steps, time, hardware, the command), intended
use and the data's citation; after the test evaluation, its BLEU by source length (bleu_by_length.json).
Cards are rendered by `seq2seq_hub.card`; publishing is `hub.push_folder`.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ..card import render_model_card
from ..data import MULTI30K_SPLITS
from ..files import replace_folder, staging_folder
from ..length_scores import split_name, write_length_scores
from ..translator import Translator
from .config import TrainConfig
from .state import TrainingState

MODEL_DIR = "model"  # the best model, a Hub-format folder
MULTI30K_CITATION = (
    "Elliott, D., Frank, S., Sima'an, K. and Specia, L. (2016). Multi30K: Multilingual English-German Image "
    "Descriptions. Proceedings of the 5th Workshop on Vision and Language, pp. 70-74."
)


@dataclass
class RunFacts:
    """What the card says about how a model was trained, besides the config."""

    command: str  # the command line that reproduces the run
    training_pairs: int  # after the length filter
    device: torch.device
    world: int  # processes
    mix: str = ""  # real and synthetic pairs per epoch (mixing.Mix.summary), when synthetic data was mixed in


def write_model_folder(
    folder: Path,
    translator: Translator,
    cfg: TrainConfig,
    state: TrainingState,
    facts: RunFacts,
    metrics: dict[str, Any] | None = None,
    length_scores: list[dict[str, Any]] | None = None,
) -> None:
    """Save `translator` with its card to `folder`, replacing what was there only once it is complete.

    length_scores: the test set's BLEU by source length (with `metrics`' test_bleu_signature), stored as
    bleu_by_length.json."""
    translator.save_dtype = torch.float16 if cfg.save_dtype == "float16" else None
    translator.card = render_model_card(
        translator.config,
        num_parameters=translator.model.num_parameters(),
        repo_id=cfg.push_to_hub or None,
        metrics=metrics,
        training=training_facts(cfg, state, facts),
        datasets=["bentrevett/multi30k"] if cfg.dataset == "multi30k" else [],
        extra_sections=card_sections(cfg),
        purpose=cfg.purpose,
    )
    tmp = staging_folder(folder)
    try:
        translator.save_pretrained(tmp)
        if length_scores:
            signature = str((metrics or {}).get("test_bleu_signature", ""))
            write_length_scores(tmp, test_split_name(cfg), length_scores, signature)
        replace_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_split_name(cfg: TrainConfig) -> str:
    """The test set's name: Multi30k's file stem, the test source file's stem, or the Hub split."""
    if cfg.dataset == "multi30k":
        return MULTI30K_SPLITS["test"]
    if cfg.dataset == "files":
        return split_name(cfg.test_files.split(",")[0])
    return cfg.test_split


def hardware(device: torch.device, world: int) -> str:
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    return f"{name} x {world}" if world > 1 else name


def training_facts(cfg: TrainConfig, state: TrainingState, facts: RunFacts) -> dict[str, str]:
    """The card's training facts (its metadata); 'config' becomes the card's YAML block."""
    data = {
        "multi30k": f"Multi30k {cfg.src_lang}-{cfg.tgt_lang} (bundled, data/multi30k)",
        "files": f"local files {cfg.train_files}",
        "hub": f"Hub dataset {cfg.hub_dataset}",
    }[cfg.dataset]
    if cfg.synthetic_files:
        data += f" + back-translated pairs {cfg.synthetic_files}" + (
            f" tagged {cfg.synthetic_tag!r}" if cfg.synthetic_tag else ""
        )
    if cfg.distilled_files:
        data += f" + distilled pairs {cfg.distilled_files}"
    if cfg.init_from:
        data += f"; fine-tuned from {cfg.init_from}"
    facts_out = {"data": data}
    if facts.mix:
        facts_out["data mix"] = facts.mix
    return {
        **facts_out,
        "training pairs": f"{facts.training_pairs:,}",
        "steps": f"{state.step:,} (best at step {state.best_step:,})",
        "training time": f"{state.train_seconds / 60:.1f} minutes ({state.train_seconds / 3600:.2f} h)",
        "hardware": hardware(facts.device, facts.world),
        "reproduce": f"`{facts.command}`",
        "config": yaml.safe_dump(cfg.to_dict(), sort_keys=False),
    }


def synthetic_section(cfg: TrainConfig) -> list[str]:
    """The card's account of the synthetic data: each file pair, and how it was made where its recipe is known."""
    from ..synthetic import describe_recipe, recipe_beside
    from .mixing import file_specs

    rows = []
    for kind, files in (("back-translated", cfg.synthetic_files), ("distilled", cfg.distilled_files)):
        for spec in file_specs(files):
            recipe = recipe_beside(spec.split(",")[0])
            rows.append(f"- {kind} `{spec}`" + (f": {describe_recipe(recipe)}" if recipe else ""))
    if not rows:
        return []
    mix = f"real pairs repeated {cfg.real_upsample}x per epoch"
    if cfg.synthetic_ratio:
        mix += f", at most {cfg.synthetic_ratio:g} synthetic pairs per real pair"
    if cfg.synthetic_tag:
        mix += f", back-translated sources tagged {cfg.synthetic_tag!r}"
    start = f"; fine-tuned from `{cfg.init_from}`" if cfg.init_from else ""
    return ["## Synthetic data", "", f"Mixed with the real pairs ({mix}){start}:", "", *rows, ""]


def card_sections(cfg: TrainConfig) -> str:
    return "\n".join(
        [
            *synthetic_section(cfg),
            "## Intended use and limits",
            "",
            "Research and demonstration of recurrent attention models. Trained on image captions "
            "(Multi30k: short descriptive sentences about everyday scenes), it translates such sentences well and "
            "degrades on other domains, long or complex sentences, names and rare words. Do not rely on it for "
            "anything that matters without checking the output.",
            "",
            "## Data and citation",
            "",
            MULTI30K_CITATION if cfg.dataset == "multi30k" else f"Trained on {cfg.dataset} data.",
        ]
    )
