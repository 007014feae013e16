"""card.py: model cards (README.md of a model repo), written and read through huggingface_hub's
`ModelCard` / `ModelCardData`.

Scores go into the card's `model-index` metadata (with their sacreBLEU signatures) and the training
facts into its `training` metadata, so readers (the demo's model panel) never parse Markdown.
Knows nothing of models or files beyond the config it describes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import EvalResult

from .config import Seq2SeqConfig

CARD_FILE = "README.md"
LANGUAGE_NAMES = {"de": "German", "en": "English", "fr": "French", "cs": "Czech"}
EXAMPLE_SENTENCES = {  # the usage snippet's source sentence, in the source language
    "de": "Ein Mann fährt Fahrrad.",
    "en": "A man is riding a bike.",
    "fr": "Un homme fait du vélo.",
    "cs": "Muž jede na kole.",
}
ATTENTION_NAMES = {"bahdanau": "Bahdanau (additive)", "luong": "Luong", "none": "no"}
# metrics dict key prefix -> (dataset split, default dataset name)
SPLITS = {
    "valid_": ("validation", "Multi30k val"),
    "test_": ("test", "Multi30k test_2016_flickr"),
}
METRICS = {"bleu": ("bleu", "sacreBLEU"), "chrf": ("chrf", "chrF")}


@dataclass
class Score:
    """One score from a card's model-index."""

    name: str  # e.g. 'sacreBLEU'
    value: float
    dataset: str = ""  # e.g. 'Multi30k test_2016_flickr'
    split: str = ""  # 'validation' | 'test' | ''
    signature: str = ""  # sacreBLEU signature, when the card gives it


@dataclass
class CardInfo:
    """What a model card says, read from its metadata."""

    metadata: dict[str, Any] = field(default_factory=dict)  # the whole YAML front matter
    scores: list[Score] = field(default_factory=list)
    training: dict[str, str] = field(default_factory=dict)  # facts: data, steps, time, hardware, command
    datasets: list[str] = field(default_factory=list)


def attention_name(config: Seq2SeqConfig) -> str:
    name = ATTENTION_NAMES[config.attention]
    return f"{name} ({config.luong_score})" if config.attention == "luong" else name


def _eval_results(metrics: dict[str, Any]) -> list[EvalResult]:
    results = []
    for prefix, (split, default_name) in SPLITS.items():
        for metric, (metric_type, metric_name) in METRICS.items():
            key = prefix + metric
            if not isinstance(metrics.get(key), (int, float)):
                continue
            signature = metrics.get(key + "_signature")
            results.append(
                EvalResult(
                    task_type="translation",
                    dataset_type=metrics.get("dataset_type", "multi30k"),
                    dataset_name=metrics.get(f"{prefix}dataset_name", default_name),
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_value=round(float(metrics[key]), 2),
                    metric_name=metric_name,
                    metric_args={"signature": str(signature)} if signature else None,
                )
            )
    return results


def build_model_card(
    config: Seq2SeqConfig,
    *,
    num_parameters: int,
    repo_id: str | None = None,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    datasets: list[str] | None = None,
    extra_sections: str = "",
    ensemble_size: int = 1,
    purpose: str = "",
) -> ModelCard:
    """A model card: metadata (language, license, datasets, metrics, tags, pipeline_tag, library_name,
    model-index with the scores and signatures, training facts), a usage snippet, scores and config."""
    src, tgt = config.src_lang, config.tgt_lang
    metrics = metrics or {}
    training = dict(training or {})
    training_config = training.pop("config", None)
    name = repo_id or f"seq2seq-hub-{src}-{tgt}"
    eval_results = _eval_results(metrics)
    purpose = " ".join(purpose.split())  # one line, in the metadata and as the paragraph after the summary
    data = ModelCardData(
        language=[src, tgt],
        license="mit",
        library_name="seq2seq-hub",
        pipeline_tag="translation",
        tags=["translation", "seq2seq", "rnn", config.cell, f"attention-{config.attention}", "seq2seq-hub"],
        datasets=datasets or [],
        metrics=["bleu", "chrf"],
        model_name=name if eval_results else None,
        eval_results=eval_results or None,
        training={str(k): str(v) for k, v in training.items()} or None,
        purpose=purpose or None,  # what the model is for (the demo and `seq2seq-hub models` show it)
    )
    body = _card_body(config, name, num_parameters, repo_id, metrics, training, training_config, ensemble_size, purpose)
    if extra_sections:
        body += [extra_sections.strip(), ""]
    return ModelCard("---\n" + data.to_yaml().strip() + "\n---\n\n" + "\n".join(body))


def render_model_card(config: Seq2SeqConfig, **kwargs: Any) -> str:
    """The card of `build_model_card` as README.md text."""
    return str(build_model_card(config, **kwargs))


def _summary(config: Seq2SeqConfig, num_parameters: int, ensemble_size: int) -> str:
    """One sentence: what the model is."""
    encoder = f"{'bidirectional ' if config.bidirectional else ''}{config.cell.upper()}"
    sizes = f"{encoder}, {attention_name(config)} attention, {num_parameters / 1e6:.1f}M parameters"
    link = "[seq2seq-hub](https://github.com/seq2seq-hub/seq2seq-hub)"
    if ensemble_size > 1:
        return (
            f"An ensemble of {ensemble_size} recurrent encoder-decoders ({sizes} in all) trained with {link}; they "
            "decode together, averaging their log-probabilities at every step."
        )
    return f"A recurrent encoder-decoder ({sizes}) trained with {link}."


def _card_body(
    config, name, num_parameters, repo_id, metrics, training, training_config, ensemble_size, purpose
) -> list[str]:
    where = repo_id or "path/to/this/folder"
    src_name = LANGUAGE_NAMES.get(config.src_lang, config.src_lang)
    tgt_name = LANGUAGE_NAMES.get(config.tgt_lang, config.tgt_lang)
    example = EXAMPLE_SENTENCES.get(config.src_lang, EXAMPLE_SENTENCES["de"])
    lines = [
        f"# {name}: {src_name} to {tgt_name}",
        "",
        _summary(config, num_parameters, ensemble_size),
        "",
        *([purpose, ""] if purpose else []),
        "## Usage",
        "",
        "```python",
        "from seq2seq_hub import Translator",
        "",
        f'translator = Translator.from_pretrained("{where}")',
        f'result = translator.translate(["{example}"])[0]  # decoding defaults: generation_config.json',
        "print(result.text, result.score)",
        "```",
        "",
        f"or from the command line: `echo '{example}' | seq2seq-hub translate --model {where}`.",
        "",
    ]
    if metrics:
        lines += ["## Scores", "", "| metric | value | sacreBLEU signature |", "|---|---|---|"]
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.endswith("_signature"):
                signature = str(metrics.get(key + "_signature", "")).replace("|", "\\|")  # a '|' would end the cell
                lines.append(f"| {key} | {value:.2f} | {signature} |")
        lines.append("")
    if training or training_config:
        lines += ["## Training", ""]
        lines += [f"- **{key}**: {value}" for key, value in training.items()]
        lines.append("")
        if training_config:
            lines += ["Training configuration:", "", "```yaml", str(training_config).strip(), "```", ""]
    lines += [
        "## Model configuration",
        "",
        "```json",
        json.dumps(config.to_dict(), indent=2, sort_keys=True),
        "```",
        "",
    ]
    return lines


# ---------------------------------------------------------------------- reading
def read_model_card(text: str | None) -> CardInfo:
    """What a card's metadata says: scores (model-index), training facts, datasets.

    Anything malformed is skipped: a card is documentation, not configuration.
    """
    info = CardInfo()
    if not text:
        return info
    try:
        card = ModelCard(text, ignore_metadata_errors=True)
    except Exception:  # YAML errors of any kind: show the card as having no metadata
        return info
    info.metadata = card.data.to_dict()
    for result in card.data.eval_results or []:
        if isinstance(result.metric_value, (int, float)) and not isinstance(result.metric_value, bool):
            args = result.metric_args if isinstance(result.metric_args, dict) else {}
            info.scores.append(
                Score(
                    name=str(result.metric_name or result.metric_type or "metric"),
                    value=float(result.metric_value),
                    dataset=str(result.dataset_name or ""),
                    split=str(result.dataset_split or ""),
                    signature=str(args.get("signature", "")),
                )
            )
    training = info.metadata.get("training")
    if isinstance(training, dict):
        info.training = {str(k): str(v) for k, v in training.items()}
    datasets = info.metadata.get("datasets")
    if isinstance(datasets, list):
        info.datasets = [str(d) for d in datasets]
    return info


__all__ = ["CARD_FILE", "CardInfo", "Score", "build_model_card", "read_model_card", "render_model_card"]
